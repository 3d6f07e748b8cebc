/* llama.cpp's -ot / --override-tensor, the part gpumem models. llama.cpp
 * de3ff81 matches each PATTERN as a regular expression (regex_search)
 * against tensor names ("blk.7.ffn_up_exps.weight"), the first matching
 * item wins (llama-model-loader.cpp); its --fit (common/fit.cpp) writes
 *  - "blk\.N\.ffn_(up|down|gate_up|gate)_(ch|)exps=CPU" per layer whose
 *    experts stay on the host; `gpumem fit` prints those layers as one
 *    alternation;
 *  - for the one layer per device it splits by tensor (get_overflow_
 *    pattern): "blk\.N\.ffn_(gate|up|gate_up|down).*" (ATTN: only the
 *    attention stays), "blk\.N\.ffn_(gate|gate_up|down).*" (UP: attention
 *    and up stay) or "blk\.N\.ffn_down.*" (GATE), to the host or to the
 *    next device's buffer ("CUDA1").
 * Only those shapes are read here: for experts, a layer number or an
 * alternation of numbers after "blk\.", or "\d+" / no blk prefix for
 * every layer, then an ffn_ name ending in "exps", to the CPU; for the
 * split layer, the three patterns exactly, to CPU or CUDA<k>. */
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

/* The FFN part of a split layer's pattern after "blk\.N\.". */
static const struct {
    const char *tail;
    gpumem_ffn_part part;
} ffn_tails[] = {
    {"ffn_down.*", GPUMEM_FFN_DOWN},
    {"ffn_(gate|gate_up|down).*", GPUMEM_FFN_GATE_DOWN},
    {"ffn_(gate|up|gate_up|down).*", GPUMEM_FFN_ALL},
};

/* "blk\.N\.<tail>" of length n: 1 and *mv filled, 0 when it is not one
 * of the split-layer patterns. */
static int split_pattern(const char *pat, size_t n, gpumem_ffn_move *mv)
{
    if (n < 5 || strncmp(pat, "blk\\.", 5))
        return 0;
    size_t i = 5;
    uint32_t v = 0;
    for (; i < n && pat[i] >= '0' && pat[i] <= '9' && i < 10; i++)
        v = v * 10 + (uint32_t)(pat[i] - '0');
    if (i == 5 || n - i < 2 || strncmp(pat + i, "\\.", 2))
        return 0;
    i += 2;
    for (size_t k = 0; k < sizeof ffn_tails / sizeof ffn_tails[0]; k++)
        if (strlen(ffn_tails[k].tail) == n - i && !strncmp(pat + i, ffn_tails[k].tail, n - i)) {
            mv->layer = v;
            mv->part = ffn_tails[k].part;
            return 1;
        }
    return 0;
}

/* "CPU" (-1) or "CUDA<k>" of length n into *dev; false otherwise. */
static bool buffer_name(const char *b, size_t n, int *dev)
{
    if (n == 3 && !strncmp(b, "CPU", 3)) {
        *dev = -1;
        return true;
    }
    if (n < 5 || n > 8 || strncmp(b, "CUDA", 4))
        return false;
    int v = 0;
    for (size_t i = 4; i < n; i++) {
        if (b[i] < '0' || b[i] > '9')
            return false;
        v = v * 10 + (b[i] - '0');
    }
    *dev = v;
    return true;
}

const char *ffn_part_pattern(gpumem_ffn_part part)
{
    for (size_t k = 0; k < sizeof ffn_tails / sizeof ffn_tails[0]; k++)
        if (ffn_tails[k].part == part)
            return ffn_tails[k].tail;
    return "";
}

uint64_t ffn_part_bytes(const model_layer *l, gpumem_ffn_part part, uint64_t *exps)
{
    /* DOWN: the down group; GATE_DOWN: gate and down; ALL: all three */
    int from = part == GPUMEM_FFN_DOWN ? MODEL_FFN_DOWN
               : part == GPUMEM_FFN_GATE_DOWN ? MODEL_FFN_GATE
                                              : MODEL_FFN_UP;
    uint64_t b = 0, x = 0;
    for (int g = from; g <= MODEL_FFN_DOWN; g++) {
        b += l->bytes_ffn[g];
        x += l->bytes_ffn_exps[g];
    }
    *exps = x;
    return b;
}

const gpumem_ffn_move *ffn_move_of(const gpumem_settings *s, uint32_t il)
{
    for (uint32_t k = 0; k < s->n_ffn_moves && k < GPUMEM_MAX_FFN_MOVES; k++)
        if (s->ffn_moves[k].layer == il)
            return &s->ffn_moves[k];
    return NULL;
}

gpumem_status gpumem_expert_override_parse(const char *text, gpumem_settings *s, gpumem_error *err)
{
    gpumem_ffn_move moves[GPUMEM_MAX_FFN_MOVES];
    uint32_t n_moves = s->n_ffn_moves;
    if (n_moves > GPUMEM_MAX_FFN_MOVES)
        n_moves = GPUMEM_MAX_FFN_MOVES;
    memcpy(moves, s->ffn_moves, sizeof moves);
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
        gpumem_ffn_move mv;
        if (split_pattern(p, (size_t)(eq - p), &mv)) {
            if (!buffer_name(eq + 1, bn, &mv.device))
                return err_set(err, GPUMEM_ERR_UNSUPPORTED,
                               "-ot '%.*s': gpumem models the buffers CPU and CUDA<k> only",
                               (int)n, p);
            if (mv.layer >= GPUMEM_MAX_MASK_LAYERS)
                return err_set(err, GPUMEM_ERR_USAGE, "-ot '%.*s': a layer number is %d or more",
                               (int)n, p, GPUMEM_MAX_MASK_LAYERS);
            if (n_moves == GPUMEM_MAX_FFN_MOVES)
                return err_set(err, GPUMEM_ERR_USAGE, "-ot: more than %d split layers",
                               GPUMEM_MAX_FFN_MOVES);
            moves[n_moves++] = mv;
        } else {
            if (bn != 3 || strncmp(eq + 1, "CPU", 3) != 0)
                return err_set(err, GPUMEM_ERR_UNSUPPORTED,
                               "-ot '%.*s': gpumem models expert overrides to the CPU buffer only",
                               (int)n, p);
            gpumem_status st = parse_pattern(p, (size_t)(eq - p), mask, err);
            if (st != GPUMEM_OK)
                return st;
        }
        if (!end)
            break;
        p = end + 1;
    }
    for (size_t w = 0; w < GPUMEM_MAX_MASK_LAYERS / 64; w++)
        s->cpu_moe_mask[w] |= mask[w];
    memcpy(s->ffn_moves, moves, sizeof moves);
    s->n_ffn_moves = n_moves;
    return GPUMEM_OK;
}
