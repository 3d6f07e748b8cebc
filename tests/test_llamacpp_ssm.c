/* llama.cpp de3ff81's recurrent state (Mamba-2, the granitehybrid hybrid):
 * every row of validation/measurements/llamacpp_ssm.jsonl is what
 * llama-completion (or llama-batched-bench for -kvu) of de3ff81
 * (node-llama-cpp 3.22.1) printed at load on the CPU for a generated GGUF
 * (validation/llamacpp/make_gguf.py --ssm, run_ssm.py; headers in
 * validation/llamacpp/headers).
 *
 * Asserted per run: model, output, KV (the hybrid's attention layers) and
 * the RS buffer (R + S rows of llama-memory-recurrent.cpp) equal to the
 * printed 0.01 MiB; compute within max(1%, 16 MiB) and never under by more
 * than 5%. A hand calculation for one row anchors the state formula. */
#include "test_helpers.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>

static const double MiB = 1048576.0;

static uint64_t comp(const gpumem_estimate *e, const char *name)
{
    const gpumem_device *d = &e->devices[e->n_devices - 1];
    for (size_t k = 0; k < d->n_components; k++)
        if (!strcmp(d->components[k].name, name))
            return d->components[k].bytes;
    return 0;
}

/* Sum of a {buffer: MiB} object. */
static double sum_obj(json_t *o)
{
    const char *k;
    json_t *v;
    double s = 0;
    json_object_foreach(o, k, v) s += json_number_value(v);
    return s;
}

static void exact(const char *id, const char *what, double printed, uint64_t got)
{
    if (fabs(printed - (double)got / MiB) > 0.011)
        fail_msg("%s %s: printed %.2f MiB, gpumem %.4f", id, what, printed, (double)got / MiB);
}

static void state_matches_every_measured_run(void **state)
{
    (void)state;
    char path[1200];
    snprintf(path, sizeof path, "%s/validation/measurements/llamacpp_ssm.jsonl", GPUMEM_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    int rows = 0, hybrid = 0, c_exact = 0;
    double worst_over = 0, worst_under = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t je;
        json_t *row = json_loads(line, 0, &je);
        assert_non_null(row);
        assert_true(json_is_true(json_object_get(row, "ok")));
        const char *id = json_string_value(json_object_get(row, "case"));
        json_t *st = json_object_get(row, "settings"), *p = json_object_get(row, "printed");
        char base[300];
        snprintf(base, sizeof base, "%s-F16",
                 json_string_value(json_object_get(json_object_get(row, "gguf"), "name")));
        gpumem_model *m = measured_header(base);
        gpumem_settings s;
        gpumem_settings_init(&s);
        s.engine = GPUMEM_ENGINE_LLAMACPP;
        s.context = (uint64_t)json_integer_value(json_object_get(st, "ctx"));
        s.batch = (uint64_t)json_integer_value(json_object_get(st, "batch"));
        s.n_ubatch = (uint64_t)json_integer_value(json_object_get(st, "ubatch"));
        s.n_parallel = (uint32_t)json_integer_value(json_object_get(st, "n_seq"));
        s.kv_unified = json_is_true(json_object_get(st, "kv_unified"));
        s.flash_attn = strcmp(json_string_value(json_object_get(st, "flash_attn")), "on") ? 2 : 1;
        gpumem_estimate *e = estimate_or_fail(m, &s);
        exact(id, "model", sum_obj(json_object_get(p, "model")), comp(e, "weights"));
        exact(id, "output", sum_obj(json_object_get(p, "output")), comp(e, "output"));
        double kv = json_number_value(json_object_get(p, "kv_total"));
        exact(id, "KV", kv, comp(e, "kv_cache"));
        hybrid += kv > 0;
        json_t *rs = json_object_get(p, "rs");
        assert_non_null(rs);
        exact(id, "RS", sum_obj(json_object_get(rs, "buffers")), comp(e, "recurrent_state"));
        double want = sum_obj(json_object_get(p, "compute"));
        double got = (double)comp(e, "compute") / MiB, diff = got - want;
        if (diff > fmax(0.01 * want, 16.0) || diff < -0.05 * want)
            fail_msg("%s compute: printed %.2f MiB, gpumem %.2f", id, want, got);
        c_exact += fabs(diff) <= 0.011;
        worst_over = fmax(worst_over, diff);
        worst_under = fmin(worst_under, diff);
        rows++;
        free(e);
        gpumem_model_free(m);
        json_decref(row);
    }
    free(line);
    fclose(f);
    printf("  %d runs (%d with a KV cache beside the state): model, output, KV, RS exact; "
           "compute %d exact, worst %+.2f / %+.2f MiB\n",
           rows, hybrid, c_exact, worst_over, worst_under);
    assert_true(rows >= 40);
    assert_true(hybrid >= 10);
}

/* mamba2-370m at -np 2 (printed R 0.49, S 18.00 MiB): 12 layers, d_conv 4,
 * d_inner 1536, 1 group, d_state 128, 2 cells:
 * R = 3 x (1536 + 2 x 128) x 4 B x 2 x 12 = 516096 B,
 * S = 128 x 1536 x 4 B x 2 x 12 = 18874368 B. */
static void state_by_hand(void **state)
{
    (void)state;
    gpumem_model *m = measured_header("mamba2-370m-F16");
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.engine = GPUMEM_ENGINE_LLAMACPP;
    s.context = 4096;
    s.n_parallel = 2;
    gpumem_estimate *e = estimate_or_fail(m, &s);
    assert_int_equal(comp(e, "recurrent_state"), 516096 + 18874368);
    assert_int_equal(comp(e, "kv_cache"), 0);
    /* the state does not grow with the context */
    s.context = 65536;
    gpumem_estimate *e2 = estimate_or_fail(m, &s);
    assert_int_equal(comp(e2, "recurrent_state"), 516096 + 18874368);
    free(e);
    free(e2);
    gpumem_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(state_matches_every_measured_run),
        cmocka_unit_test(state_by_hand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
