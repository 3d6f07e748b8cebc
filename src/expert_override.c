/* llama.cpp's -ot / --override-tensor, the part gpumem models: MoE expert
 * tensors of chosen layers on the host. llama.cpp de3ff81 matches each
 * PATTERN as a regular expression against tensor names ("blk.7.ffn_up_exps
 * .weight") and its --fit writes one "blk\.N\.ffn_(up|down|gate_up|gate)_
 * (ch|)exps" per layer (common/fit.cpp); `gpumem fit` prints the same
 * layers as one alternation. Only those shapes are read here: a layer
 * number or an alternation of numbers after "blk\.", or "\d+" / no blk
 * prefix for every layer, then an ffn_ name ending in "exps"; the buffer
 * type must be CPU. */
#include "estimate_internal.h"

#include <stdio.h>
#include <string.h>

static void mark(uint64_t *mask, uint32_t il) { mask[il / 64] |= 1ull << (il % 64); }

/* A layer number at *p into mask: 0, or -1 when there is none, -2 when it
 * is GPUMEM_MAX_MASK_LAYERS or more. */
static int layer_number(const char **p, uint64_t *mask)
{
    uint32_t v = 0;
    const char *q = *p;
    if (*q < '0' || *q > '9')
        return -1;
    for (; *q >= '0' && *q <= '9'; q++) {
        v = v * 10 + (uint32_t)(*q - '0');
        if (v >= GPUMEM_MAX_MASK_LAYERS)
            return -2;
    }
    *p = q;
    mark(mask, v);
    return 0;
}

/* The layers after "blk\.": N, (N|M|...) or \d+; then "\.ffn_" must follow. */
static int layer_list(const char *p, uint64_t *mask)
{
    int r = 0;
    if (!strncmp(p, "\\d+", 3)) {
        memset(mask, 0xff, GPUMEM_MAX_MASK_LAYERS / 8);
        p += 3;
    } else if (*p == '(') {
        do {
            p++;
            if ((r = layer_number(&p, mask)) < 0)
                return r;
        } while (*p == '|');
        if (*p++ != ')')
            return -1;
    } else if ((r = layer_number(&p, mask)) < 0) {
        return r;
    }
    return strncmp(p, "\\.ffn_", 6) ? -1 : 0;
}

/* One PATTERN (without "=CPU") of length n into mask. */
static gpumem_status parse_pattern(const char *pat, size_t n, uint64_t *mask, gpumem_error *err)
{
    char buf[4096];
    if (n >= sizeof buf)
        return err_set(err, GPUMEM_ERR_USAGE, "-ot pattern is longer than %zu characters",
                       sizeof buf - 1);
    memcpy(buf, pat, n);
    buf[n] = '\0';
    const char *ffn = strstr(buf, "ffn_");
    const char *exps = strstr(buf, "exps");
    if (!ffn || !exps || exps < ffn)
        return err_set(err, GPUMEM_ERR_UNSUPPORTED,
                       "-ot '%s': gpumem models only MoE expert tensors (ffn_..._exps) moved to "
                       "the CPU",
                       buf);
    uint64_t layers[GPUMEM_MAX_MASK_LAYERS / 64] = {0};
    int r = 0;
    if (strncmp(buf, "blk\\.", 5) == 0)
        r = layer_list(buf + 5, layers);
    else if (ffn == buf || ffn[-1] == '.') /* "\.ffn_.*_exps": every layer */
        memset(layers, 0xff, sizeof layers);
    else
        r = -1;
    if (r == -2)
        return err_set(err, GPUMEM_ERR_USAGE, "-ot '%s': a layer number is %d or more", buf,
                       GPUMEM_MAX_MASK_LAYERS);
    if (r < 0)
        return err_set(err, GPUMEM_ERR_USAGE,
                       "-ot '%s': expected blk\\.N\\.ffn_..._exps or "
                       "blk\\.(N|M|...)\\.ffn_..._exps",
                       buf);
    for (size_t w = 0; w < GPUMEM_MAX_MASK_LAYERS / 64; w++)
        mask[w] |= layers[w];
    return GPUMEM_OK;
}

gpumem_status gpumem_expert_override_parse(const char *text, gpumem_settings *s, gpumem_error *err)
{
    uint64_t mask[GPUMEM_MAX_MASK_LAYERS / 64] = {0};
    const char *p = text ? text : "";
    if (!*p)
        return err_set(err, GPUMEM_ERR_USAGE, "-ot: empty override");
    for (;;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        if (!n || !eq || eq == p)
            return err_set(err, GPUMEM_ERR_USAGE, "-ot '%s': expected PATTERN=CPU items",
                           text ? text : "");
        size_t bn = n - (size_t)(eq + 1 - p);
        if (bn != 3 || strncmp(eq + 1, "CPU", 3) != 0)
            return err_set(err, GPUMEM_ERR_UNSUPPORTED,
                           "-ot '%.*s': gpumem models overrides to the CPU buffer only", (int)n, p);
        gpumem_status st = parse_pattern(p, (size_t)(eq - p), mask, err);
        if (st != GPUMEM_OK)
            return st;
        if (!end)
            break;
        p = end + 1;
    }
    for (size_t w = 0; w < GPUMEM_MAX_MASK_LAYERS / 64; w++)
        s->cpu_moe_mask[w] |= mask[w];
    return GPUMEM_OK;
}
