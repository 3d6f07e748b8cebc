/* llama.cpp de3ff81's recurrent state (Mamba-2, the granitehybrid,
 * qwen3next, lfm2, lfm2moe, falcon-h1, nemotron_h and nemotron_h_moe
 * hybrids): every row of
 * validation/measurements/llamacpp_ssm.jsonl and llamacpp_hybrid.jsonl is what
 * llama-completion (or llama-batched-bench for -kvu) of de3ff81
 * (node-llama-cpp 3.22.1) printed at load on the CPU for a generated GGUF
 * (validation/llamacpp/make_gguf.py --ssm, make_hybrid.py, run_ssm.py; headers in
 * validation/llamacpp/headers).
 *
 * Asserted per run: model, output, KV (the hybrid's attention layers) and
 * the RS buffer (R + S rows of llama-memory-recurrent.cpp) equal to the
 * printed 0.01 MiB; compute within max(1%, 16 MiB) and never under by more
 * than 5%. A hand calculation for one row anchors the state formula. */
#include "test_measured.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>

/* Counts over the rows of one measurement file. */
typedef struct {
    int rows, hybrid, c_exact, bad;
    double worst_over, worst_under; /* MiB */
    double worst_over_pct, worst_under_pct;
} tally;

static void exact(tally *t, const char *id, const char *what, double printed, uint64_t got)
{
    if (fabs(printed - (double)got / MiB) > 0.011) {
        printf("  %s %s: printed %.2f MiB, gpumem %.4f\n", id, what, printed, (double)got / MiB);
        t->bad++;
    }
}

/* slack_rows: f32 rows of n_embd per ubatch token gpumem may add on top of
 * the usual tolerance (an upper bound where the layout moves, Jamba). */
static void check_row(tally *t, json_t *row, int slack_rows)
{
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
    gpumem_error err;
    assert_int_equal(gpumem_cache_type_parse(json_string_value(json_object_get(st, "ctk")),
                                             &s.cache_type_k, &err),
                     GPUMEM_OK);
    assert_int_equal(gpumem_cache_type_parse(json_string_value(json_object_get(st, "ctv")),
                                             &s.cache_type_v, &err),
                     GPUMEM_OK);
    gpumem_estimate *e = estimate_or_fail(m, &s);
    exact(t, id, "model", json_sum(json_object_get(p, "model")), last_component(e, "weights"));
    exact(t, id, "output", json_sum(json_object_get(p, "output")), last_component(e, "output"));
    double kv = json_number_value(json_object_get(p, "kv_total"));
    exact(t, id, "KV", kv, last_component(e, "kv_cache"));
    t->hybrid += kv > 0;
    json_t *rs = json_object_get(p, "rs");
    assert_non_null(rs);
    exact(t, id, "RS", json_sum(json_object_get(rs, "buffers")), last_component(e, "recurrent_state"));
    double want = json_sum(json_object_get(p, "compute"));
    double got = (double)last_component(e, "compute") / MiB, diff = got - want;
    double n_embd = (double)json_integer_value(
        json_object_get(json_object_get(json_object_get(row, "gguf"), "spec"), "n_embd"));
    double slack = slack_rows * n_embd * (double)s.n_ubatch * 4 / MiB;
    if (diff > fmax(0.01 * want, 16.0) + slack || diff < -0.05 * want) {
        printf("  %s compute: printed %.2f MiB, gpumem %.2f\n", id, want, got);
        t->bad++;
    }
    t->c_exact += fabs(diff) <= 0.011;
    t->worst_over = fmax(t->worst_over, diff);
    t->worst_under = fmin(t->worst_under, diff);
    t->worst_over_pct = fmax(t->worst_over_pct, 100 * diff / want);
    t->worst_under_pct = fmin(t->worst_under_pct, 100 * diff / want);
    t->rows++;
    free(e);
    gpumem_model_free(m);
}

static tally check_file(const char *name, int slack_rows)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/validation/measurements/%s", GPUMEM_SOURCE_DIR, name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    tally t = {0};
    while (getline(&line, &cap, f) > 0) {
        json_error_t je;
        json_t *row = json_loads(line, 0, &je);
        assert_non_null(row);
        check_row(&t, row, slack_rows);
        json_decref(row);
    }
    free(line);
    fclose(f);
    printf("  %s: %d runs (%d with a KV cache beside the state): model, output, KV, RS "
           "exact; compute %d exact, worst %+.2f / %+.2f MiB (%+.1f%% / %+.1f%%)\n",
           name, t.rows, t.hybrid, t.c_exact, t.worst_over, t.worst_under, t.worst_over_pct,
           t.worst_under_pct);
    assert_int_equal(t.bad, 0);
    return t;
}

static void state_matches_every_measured_run(void **state)
{
    (void)state;
    tally t = check_file("llamacpp_ssm.jsonl", 0);
    assert_true(t.rows >= 40);
    assert_true(t.hybrid >= 10);
}

/* qwen3next (gated delta-net + full attention every 3rd/4th layer, MoE),
 * lfm2 and lfm2moe (short conv + attention), falcon-h1 (attention beside
 * Mamba-2 in every layer), nemotron_h and nemotron_h_moe (Mamba-2,
 * attention and MLP / MoE blocks): the GGUFs of
 * validation/llamacpp/make_hybrid.py, run_ssm.py --hybrid. */
static void hybrid_matches_every_measured_run(void **state)
{
    (void)state;
    tally t = check_file("llamacpp_hybrid.jsonl", 0);
    assert_true(t.rows >= 190);
    assert_true(t.hybrid == t.rows);
}

/* Jamba (Mamba-1 layers, attention on one, MoE every other): model,
 * output, KV and RS exact; de3ff81's compute moves by up to 4 rows of
 * n_embd with ggml-alloc's layout, so gpumem adds them (an upper bound):
 * never under by more than 5%, over by at most 8 such rows beyond the
 * usual tolerance (the 4 added, and up to 4 more where the layout gives
 * the smaller peak; validation/measurements/llamacpp_jamba.jsonl). */
static void jamba_bounded_on_every_measured_run(void **state)
{
    (void)state;
    tally t = check_file("llamacpp_jamba.jsonl", 8);
    assert_true(t.rows >= 48);
    assert_true(t.hybrid == t.rows);
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
    assert_int_equal(last_component(e, "recurrent_state"), 516096 + 18874368);
    assert_int_equal(last_component(e, "kv_cache"), 0);
    /* the state does not grow with the context */
    s.context = 65536;
    gpumem_estimate *e2 = estimate_or_fail(m, &s);
    assert_int_equal(last_component(e2, "recurrent_state"), 516096 + 18874368);
    free(e);
    free(e2);
    gpumem_model_free(m);
}

/* qwen3next-s (validation/llamacpp/make_hybrid.py) at -np 2, 4096 cells:
 * 8 layers, full attention on layers 3 and 7 (interval 4), the other 6
 * gated delta-net layers of d_conv 4, d_inner 16 x 64 = 1024, 8 groups of
 * d_state 64: R = 3 x (1024 + 2 x 8 x 64) x 4 B x 2 cells x 6 = 294912 B,
 * S = 64 x 1024 x 4 B x 2 x 6 = 3145728 B (printed at -np 1: R 0.14,
 * S 1.50 MiB); KV = 2 layers x 2 streams x 2048 cells x 2 x 2 x 128 x 2 B
 * = 8 MiB x 2. lfm2-s: 5 short-conv layers (attention on 2, 5, 7) of
 * l_cache 3 over n_embd 1024: R = 2 x 1024 x 4 B x 2 cells x 5 = 81920 B,
 * no S (printed at -np 1: 0.04 MiB). falcon-h1-s at -np 1: every one of
 * its 6 layers keeps both a Mamba-2 state (d_conv 4, d_inner 1536, 1
 * group of d_state 128: R = 3 x 1792 x 4 B x 6 = 129024 B, S = 128 x 1536 x
 * 4 B x 6 = 4718592 B; printed 0.12 and 4.50 MiB) and K/V of 2 heads of 64
 * (6 x 4096 x 2 x 128 x 2 B = 12 MiB, printed 12.00). nemotron-h-s at
 * -np 1 ("M-M*M-M*"): 4 Mamba-2 layers of d_inner 2048, 8 groups of
 * d_state 64: R = 3 x (2048 + 1024) x 4 B x 4 = 147456 B, S = 64 x 2048 x
 * 4 B x 4 = 2097152 B (printed 0.14 and 2.00 MiB); 2 attention layers of
 * 2 KV heads of 128: 2 x 4096 x 2 x 256 x 2 B = 8 MiB (printed 8.00); the
 * MLP blocks hold neither. */
static void hybrid_state_by_hand(void **state)
{
    (void)state;
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.engine = GPUMEM_ENGINE_LLAMACPP;
    s.context = 4096;
    s.n_parallel = 2;
    gpumem_model *m = measured_header("qwen3next-s-F16");
    gpumem_estimate *e = estimate_or_fail(m, &s);
    assert_int_equal(last_component(e, "recurrent_state"), 294912 + 3145728);
    assert_int_equal(last_component(e, "kv_cache"), 2ull * 2 * 2048 * 2 * 2 * 128 * 2);
    free(e);
    gpumem_model_free(m);
    m = measured_header("lfm2-s-F16");
    e = estimate_or_fail(m, &s);
    assert_int_equal(last_component(e, "recurrent_state"), 81920);
    free(e);
    gpumem_model_free(m);
    m = measured_header("falcon-h1-s-F16");
    s.n_parallel = 1;
    e = estimate_or_fail(m, &s);
    assert_int_equal(last_component(e, "recurrent_state"), 129024 + 4718592);
    assert_int_equal(last_component(e, "kv_cache"), 6ull * 4096 * 2 * 128 * 2);
    free(e);
    gpumem_model_free(m);
    m = measured_header("nemotron-h-s-F16");
    e = estimate_or_fail(m, &s);
    assert_int_equal(last_component(e, "recurrent_state"), 147456 + 2097152);
    assert_int_equal(last_component(e, "kv_cache"), 2ull * 4096 * 2 * 256 * 2);
    free(e);
    gpumem_model_free(m);
}

/* Falcon-H1's layers (attention beside Mamba-2) are described for llama.cpp
 * only: transformers, vLLM and training would keep the state and drop the
 * KV cache, so they refuse it with the reason. */
static void falcon_h1_other_engines_refused(void **state)
{
    (void)state;
    gpumem_model *m = measured_header("falcon-h1-s-F16");
    gpumem_estimate *e = malloc(sizeof *e);
    assert_non_null(e);
    gpumem_error err;
    const gpumem_engine engines[] = {GPUMEM_ENGINE_TRANSFORMERS, GPUMEM_ENGINE_VLLM};
    for (size_t i = 0; i < 2; i++) {
        gpumem_settings s;
        gpumem_settings_init(&s);
        s.engine = engines[i];
        assert_int_equal(gpumem_gpu_find("h100-80gb", &s.gpu, &err), GPUMEM_OK);
        assert_int_equal(gpumem_estimate_inference(m, &s, e, &err), GPUMEM_ERR_UNSUPPORTED);
        assert_non_null(strstr(err.message, "falcon-h1"));
    }
    gpumem_train_settings ts;
    gpumem_train_settings_init(&ts);
    assert_int_equal(gpumem_estimate_training(m, &ts, e, &err), GPUMEM_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.message, "llama.cpp inference only"));
    free(e);
    gpumem_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(state_matches_every_measured_run),
        cmocka_unit_test(hybrid_matches_every_measured_run),
        cmocka_unit_test(jamba_bounded_on_every_measured_run),
        cmocka_unit_test(state_by_hand),
        cmocka_unit_test(hybrid_state_by_hand),
        cmocka_unit_test(falcon_h1_other_engines_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
