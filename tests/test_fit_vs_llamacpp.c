/* gpumem fit against llama.cpp's own --fit: every row of
 * validation/measurements/llamacpp_fit.jsonl is what llama-fit-params of
 * llama.cpp de3ff81 (node-llama-cpp 3.22.1) printed for a generated GGUF on
 * one or two simulated devices (rpc-server reporting a chosen free memory;
 * validation/llamacpp/fit_matrix.py). gpumem plans the same case from the
 * file's header (validation/llamacpp/headers/) and must give the same
 * context, -ngl, -ts and layers with experts on the host.
 *
 * The same devices: llama.cpp's planner targets free - --fit-target per
 * device, where free is what the device reports (the RPC device: the size
 * given); gpumem targets budget - margin, so budget = the size given and
 * margin = --fit-target, with settings.rpc_devices: an RPC device holds no
 * CUDA context, takes no op offload and sizes its compute graph as the
 * CPU backend of rpc-server does.
 *
 * Rows listed in tests/data/fit_vs_llamacpp_deviations.tsv differ for a
 * reason written there; the test requires
 * them to still differ, so the list cannot go stale, and every other row to
 * match exactly. */
#include "test_helpers.h"

#include <jansson.h>
#include <stdbool.h>

static const uint64_t MiB = 1ull << 20;

typedef struct {
    uint64_t ctx;
    int ngl;
    int ts[GPUMEM_MAX_SPLIT];
    uint32_t nd;
    uint64_t host_exps[GPUMEM_MAX_MASK_LAYERS / 64]; /* layers whose experts are on the host */
    /* layers split by tensor, in layer order: which FFN part went where */
    uint32_t n_split;
    gpumem_ffn_move split[GPUMEM_MAX_FFN_MOVES];
} plan_t;

static void add_split(plan_t *p, uint32_t il, gpumem_ffn_part part, int device)
{
    if (p->n_split < GPUMEM_MAX_FFN_MOVES)
        p->split[p->n_split++] = (gpumem_ffn_move){il, part, device};
}

static bool masked(const uint64_t *mask, uint32_t il) { return mask[il / 64] >> (il % 64) & 1; }

/* Reasons by case id; NULL when the case must match. */
static char *deviation(const char *id)
{
    char path[1200], line[1024];
    snprintf(path, sizeof path, "%s/tests/data/fit_vs_llamacpp_deviations.tsv", GPUMEM_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *why = NULL;
    size_t n = strlen(id);
    while (!why && fgets(line, sizeof line, f))
        if (line[0] != '#' && !strncmp(line, id, n) && line[n] == '\t')
            why = strdup(line + n + 1);
    fclose(f);
    return why;
}

static void from_llamacpp(json_t *p, uint32_t n_layer, plan_t *out)
{
    memset(out, 0, sizeof *out);
    out->ctx = (uint64_t)json_integer_value(json_object_get(p, "n_ctx"));
    out->ngl = (int)json_integer_value(json_object_get(p, "ngl"));
    if (out->ngl < 0) /* -1: the default, every layer */
        out->ngl = (int)n_layer + 1;
    json_t *ts = json_object_get(p, "ts"), *v, *ot = json_object_get(p, "ot");
    size_t i;
    json_array_foreach(ts, i, v) out->ts[out->nd++] = (int)json_integer_value(v);
    json_array_foreach(ot, i, v)
    {
        uint32_t il = (uint32_t)json_integer_value(json_array_get(v, 0));
        const char *what = json_string_value(json_array_get(v, 1));
        if (il >= n_layer) /* the output layer's index: matches no tensor */
            continue;
        const char *where = json_string_value(json_array_get(v, 2));
        /* fit_matrix.py names the pattern by what leaves the layer's
         * device: ffn (ATTN stays), up (UP: attention and up stay), gate
         * (GATE: all but ffn_down stays); CPU or DEV<k> (the RPC device) */
        int dev = !strncmp(where, "DEV", 3) ? atoi(where + 3) : -1;
        if (!strcmp(what, "exps"))
            out->host_exps[il / 64] |= 1ull << (il % 64);
        else if (!strcmp(what, "ffn"))
            add_split(out, il, GPUMEM_FFN_ALL, dev);
        else if (!strcmp(what, "up"))
            add_split(out, il, GPUMEM_FFN_GATE_DOWN, dev);
        else if (!strcmp(what, "gate"))
            add_split(out, il, GPUMEM_FFN_DOWN, dev);
        else
            fail_msg("unknown -ot kind '%s'", what);
    }
}

static void from_gpumem(const gpumem_fit_plan *p, plan_t *out)
{
    memset(out, 0, sizeof *out);
    out->ctx = p->context;
    out->ngl = p->n_gpu_layers;
    for (uint32_t d = 0; p->n_devices > 1 && p->n_gpu_layers > 0 && d < p->n_devices; d++)
        out->ts[out->nd++] = p->layers[d];
    /* as llama-fit-params prints -ts (tools/fit-params/fit-params.cpp):
     * trailing zeros dropped, none when one device is left */
    while (out->nd > 1 && out->ts[out->nd - 1] == 0)
        out->nd--;
    if (out->nd == 1)
        out->nd = out->ts[0] = 0;
    /* the flags' -ot, read back as llama.cpp would get it */
    const char *ot = strstr(p->flags, "-ot '");
    if (!ot)
        return;
    char text[1024];
    snprintf(text, sizeof text, "%s", ot + 5);
    char *q = strchr(text, '\'');
    assert_non_null(q);
    *q = '\0';
    gpumem_settings s;
    gpumem_error err;
    gpumem_settings_init(&s);
    assert_int_equal(gpumem_expert_override_parse(text, &s, &err), GPUMEM_OK);
    memcpy(out->host_exps, s.cpu_moe_mask, sizeof out->host_exps);
    for (uint32_t k = 0; k < s.n_ffn_moves; k++)
        add_split(out, s.ffn_moves[k].layer, s.ffn_moves[k].part, s.ffn_moves[k].device);
}

static void describe(const plan_t *p, uint32_t n_layer, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "-c %llu -ngl %d", (unsigned long long)p->ctx, p->ngl);
    for (uint32_t d = 0; d < p->nd && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, d ? ",%d" : " -ts %d", p->ts[d]);
    bool first = true;
    for (uint32_t il = 0; il < n_layer && n < cap; il++)
        if (masked(p->host_exps, il)) {
            n += (size_t)snprintf(buf + n, cap - n, first ? " experts on host: %u" : ",%u", il);
            first = false;
        }
    static const char *const part[] = {"", "ffn_down", "ffn_gate+down", "ffn"};
    for (uint32_t k = 0; k < p->n_split && n < cap; k++) {
        const gpumem_ffn_move *mv = &p->split[k];
        if (mv->device < 0)
            n += (size_t)snprintf(buf + n, cap - n, " split: layer %u's %s on the host", mv->layer,
                                  part[mv->part]);
        else
            n += (size_t)snprintf(buf + n, cap - n, " split: layer %u's %s on GPU %d", mv->layer,
                                  part[mv->part], mv->device);
    }
}

static bool same(const plan_t *a, const plan_t *b)
{
    return a->ctx == b->ctx && a->ngl == b->ngl && a->nd == b->nd &&
           !memcmp(a->ts, b->ts, sizeof a->ts) && a->n_split == b->n_split &&
           !memcmp(a->split, b->split, a->n_split * sizeof a->split[0]) &&
           !memcmp(a->host_exps, b->host_exps, sizeof a->host_exps);
}

/* The plan's flags (-c, -ngl, -ts, -ot), parsed as a user would pass them
 * to `gpumem estimate`, give the plan's own estimate on every device: the
 * -ot patterns of split layers included. */
static void flags_reproduce_plan(const gpumem_model *m, const gpumem_settings *given,
                                 const gpumem_fit_plan *p, const char *id)
{
    gpumem_settings t = *given;
    gpumem_error err;
    char flags[sizeof p->flags], *q;
    snprintf(flags, sizeof flags, "%s", p->flags);
    assert_non_null(q = strstr(flags, "-c "));
    t.context = strtoull(q + 3, NULL, 10);
    assert_non_null(q = strstr(flags, "-ngl "));
    t.n_gpu_layers = atoi(q + 5);
    if ((q = strstr(flags, "-ts "))) {
        char ts[64];
        sscanf(q + 4, "%63s", ts);
        assert_int_equal(gpumem_tensor_split_parse(ts, &t, &err), GPUMEM_OK);
    }
    if ((q = strstr(flags, "-ot '"))) {
        char *end = strchr(q + 5, '\'');
        assert_non_null(end);
        *end = '\0';
        assert_int_equal(gpumem_expert_override_parse(q + 5, &t, &err), GPUMEM_OK);
    }
    gpumem_estimate *e = estimate_or_fail(m, &t);
    assert_int_equal(e->n_devices, p->estimate.n_devices);
    for (uint32_t d = 0; d < e->n_devices; d++)
        if (e->devices[d].bytes != p->estimate.devices[d].bytes)
            fail_msg("%s: '%s' gives %s %llu B, the plan %llu B", id, p->flags, e->devices[d].name,
                     (unsigned long long)e->devices[d].bytes,
                     (unsigned long long)p->estimate.devices[d].bytes);
    free(e);
}

/* One device: llama.cpp's first dry run (default parameters: every layer,
 * the given or trained context) printed the RPC device's model, context
 * and compute buffers in MiB, rounded down; a dry run on one device is
 * what a load allocates, so gpumem's estimate with rpc_devices must give
 * the same MiB for each. */
static void buffers_equal_breakdown(const gpumem_model *m, const gpumem_settings *given,
                                    json_t *row, const char *id)
{
    json_t *dev = json_array_get(json_object_get(row, "breakdown"), 0);
    gpumem_settings t = *given;
    t.n_gpu_layers = -1;
    if (!t.context)
        t.context = 1u << 30; /* clamped below */
    gpumem_model_info info;
    gpumem_model_get_info(m, &info);
    if (t.context > info.max_context)
        t.context = info.max_context;
    gpumem_estimate *e = estimate_or_fail(m, &t);
    static const char *const name[] = {"weights", "kv_cache", "compute"};
    for (size_t k = 0; k < 3; k++) {
        uint64_t want = (uint64_t)json_integer_value(json_array_get(dev, k + 1));
        uint64_t got = device_component(e, "gpu0", name[k]) / MiB;
        if (got != want)
            fail_msg("%s: %s %llu MiB, llama.cpp's dry run %llu MiB", id, name[k],
                     (unsigned long long)got, (unsigned long long)want);
    }
    free(e);
}

/* 1 match, 0 differ; prints both plans. */
static int one_case(json_t *row, const gpumem_gpu *gpu)
{
    const char *id = json_string_value(json_object_get(row, "id"));
    json_t *g = json_object_get(row, "gguf");
    char base[256];
    snprintf(base, sizeof base, "%s-%s", json_string_value(json_object_get(g, "name")),
             json_string_value(json_object_get(g, "quant")));
    gpumem_model *m = measured_header(base);
    gpumem_error err;
    gpumem_model_info info;
    gpumem_model_get_info(m, &info);
    uint32_t n_layer = info.n_layers;

    gpumem_settings s;
    gpumem_settings_init(&s);
    s.engine = GPUMEM_ENGINE_LLAMACPP;
    s.rpc_devices = 1; /* what the harness runs on */
    gpumem_fit_request req;
    memset(&req, 0, sizeof req);
    uint64_t margin = (uint64_t)json_integer_value(json_object_get(row, "fit_target_mib")) * MiB;
    json_t *devs = json_object_get(row, "devices_mib"), *v;
    size_t i;
    json_array_foreach(devs, i, v)
    {
        s.targets[i].gpu = gpu;
        s.targets[i].budget = (uint64_t)json_integer_value(v) * MiB;
        s.targets[i].margin = margin;
        s.n_targets++;
    }
    json_t *ctx = json_object_get(row, "ctx");
    if (json_is_integer(ctx)) {
        s.context = (uint64_t)json_integer_value(ctx);
        req.context_set = 1;
    }
    gpumem_fit_plan *p = malloc(sizeof *p);
    assert_non_null(p);
    if (gpumem_fit(m, &s, &req, p, &err) != GPUMEM_OK)
        fail_msg("%s: %s", id, err.message);
    plan_t want, got;
    from_llamacpp(json_object_get(row, "plan"), n_layer, &want);
    from_gpumem(p, &got);
    char a[512], b[512];
    describe(&want, n_layer, a, sizeof a);
    describe(&got, n_layer, b, sizeof b);
    int ok = same(&want, &got);
    flags_reproduce_plan(m, &s, p, id);
    if (s.n_targets == 1)
        buffers_equal_breakdown(m, &s, row, id);
    printf("  %-5s %-28s llama.cpp: %s\n  %-34s gpumem:    %s\n", ok ? "same" : "DIFF", id, a, "",
           b);
    free(p);
    gpumem_model_free(m);
    return ok;
}

static void test_plans_equal_llamacpp_fit(void **state)
{
    (void)state;
    char path[1200], line[65536];
    snprintf(path, sizeof path, "%s/validation/measurements/llamacpp_fit.jsonl", GPUMEM_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    const gpumem_gpu *gpu;
    gpumem_error err;
    /* any catalog GPU: its memory is replaced by the budget */
    assert_int_equal(gpumem_gpu_find("rtx-4090", &gpu, &err), GPUMEM_OK);
    int n = 0, match = 0, listed = 0, listed_differ = 0, unexpected = 0;
    while (fgets(line, sizeof line, f)) {
        json_error_t je;
        json_t *row = json_loads(line, 0, &je);
        if (!row)
            fail_msg("%s line %d: %s", path, n + 1, je.text);
        if (json_integer_value(json_object_get(row, "rc")) != 0) { /* llama.cpp could not fit */
            json_decref(row);
            continue;
        }
        const char *id = json_string_value(json_object_get(row, "id"));
        char *why = deviation(id);
        int ok = one_case(row, gpu);
        n++;
        match += ok;
        if (why) {
            listed++;
            listed_differ += !ok;
            printf("  %-34s listed: %s", "", why);
            if (ok)
                printf("  ^ listed as a deviation but now matches: remove it from the list\n");
        } else if (!ok) {
            unexpected++;
        }
        free(why);
        json_decref(row);
    }
    fclose(f);
    printf("gpumem fit vs llama-fit-params (de3ff81): %d of %d plans equal; %d listed deviations "
           "(%d still differ), %d unexplained\n",
           match, n, listed, listed_differ, unexpected);
    assert_true(n >= 20);
    assert_int_equal(unexpected, 0);
    assert_int_equal(listed_differ, listed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_plans_equal_llamacpp_fit)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
