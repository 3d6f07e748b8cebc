/* llama.cpp de3ff81's pipeline parallelism (issue #6): every row of
 * validation/measurements/llamacpp_pipeline.jsonl is what llama-completion
 * of de3ff81 (node-llama-cpp 3.22.1) printed at load for a generated GGUF
 * (validation/llamacpp/make_gguf.py; headers in validation/llamacpp/
 * headers) on 2 or 3 simulated devices: rpc-server instances running the
 * CPU backend (validation/llamacpp/pipeline_matrix.py). With every layer
 * and the output offloaded llama.cpp prints "pipeline parallelism enabled"
 * and its scheduler keeps 4 copies of each graph and split input; the
 * controls (-ngl = the layer count: the output on the host) do not.
 *
 * Asserted per device: model and KV buffers equal to the printed 0.01 MiB;
 * with pipeline parallelism every compute buffer (each device's and the
 * host's) within max(1%, 16 MiB) and never under by more than 1 MiB; for
 * the controls, that gpumem does not apply the copy rule. The controls'
 * compute is gpumem's CUDA rule, not the CPU backend's, and is not
 * compared here (tests/data/fit_vs_llamacpp_deviations.tsv). */
#include "test_helpers.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>

static const double MiB = 1048576.0;

static gpumem_model *measured(json_t *row)
{
    json_t *g = json_object_get(row, "gguf");
    char base[256];
    snprintf(base, sizeof base, "%s-%s", json_string_value(json_object_get(g, "name")),
             json_string_value(json_object_get(g, "quant")));
    return measured_header(base);
}

static double printed(json_t *real, const char *what, size_t d)
{
    return json_number_value(json_array_get(json_object_get(real, what), d));
}

static const gpumem_component *find(const gpumem_device *dv, const char *name)
{
    for (size_t k = 0; k < dv->n_components; k++)
        if (!strcmp(dv->components[k].name, name))
            return &dv->components[k];
    fail_msg("no %s on %s", name, dv->name);
    return NULL;
}

typedef struct {
    int rows, buffers, exact, within, bad;
    double worst_over, worst_under; /* MiB */
} tally;

/* Compares one compute buffer; prints it when outside the tolerance. */
static void compute_check(tally *t, const char *id, const char *dev, double want, uint64_t got)
{
    double g = (double)got / MiB, diff = g - want;
    double tol = fmax(0.01 * want, 16.0);
    t->buffers++;
    if (fabs(diff) <= 0.01)
        t->exact++;
    if (diff <= tol && diff >= -1.0)
        t->within++;
    else {
        t->bad++;
        printf("  OUT %-46s %-5s printed %9.2f gpumem %9.2f (%+.2f MiB)\n", id, dev, want, g, diff);
    }
    t->worst_over = fmax(t->worst_over, diff);
    t->worst_under = fmin(t->worst_under, diff);
}

static void one_row(json_t *row, const gpumem_gpu *gpu, tally *t)
{
    const char *id = json_string_value(json_object_get(row, "id"));
    json_t *st = json_object_get(row, "settings"), *real = json_object_get(row, "real");
    bool pp = json_is_true(json_object_get(row, "pipeline"));
    uint32_t nd = (uint32_t)json_integer_value(json_object_get(row, "devices"));
    gpumem_model *m = measured(row);
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.engine = GPUMEM_ENGINE_LLAMACPP;
    s.gpu = gpu;
    s.gpus = nd;
    s.context = (uint64_t)json_integer_value(json_object_get(st, "ctx"));
    s.n_ubatch = (uint64_t)json_integer_value(json_object_get(st, "ubatch"));
    s.n_gpu_layers = (int)json_integer_value(json_object_get(st, "ngl"));
    s.flash_attn = strcmp(json_string_value(json_object_get(st, "fa")), "on") ? 2 : 1;
    gpumem_estimate *e = estimate_or_fail(m, &s);
    assert_int_equal(e->n_devices, nd + 1);
    t->rows++;
    for (uint32_t d = 0; d <= nd; d++) {
        const gpumem_device *dv = &e->devices[d];
        /* model and KV: printed to 0.01 MiB */
        double w = (double)find(dv, "weights")->bytes / MiB;
        if (fabs(w - printed(real, "model", d)) > 0.03)
            fail_msg("%s %s weights: printed %.2f, gpumem %.2f", id, dv->name,
                     printed(real, "model", d), w);
        if (d < nd) {
            double kv = (double)find(dv, "kv_cache")->bytes / MiB;
            if (fabs(kv - printed(real, "kv", d)) > 0.03)
                fail_msg("%s %s KV: printed %.2f, gpumem %.2f", id, dv->name,
                         printed(real, "kv", d), kv);
        } else {
            double out = (double)find(dv, "output")->bytes / MiB;
            double want = json_number_value(json_object_get(real, "output"));
            if (fabs(out - want) > 0.03)
                fail_msg("%s output: printed %.2f, gpumem %.2f", id, want, out);
        }
        const gpumem_component *c = find(dv, "compute");
        if (pp)
            compute_check(t, id, dv->name, printed(real, "compute", d), c->bytes);
        else if (d < nd && strstr(c->note, "pipeline"))
            fail_msg("%s %s: pipeline parallelism is off in llama.cpp (-ngl %d), gpumem applied "
                     "it",
                     id, dv->name, s.n_gpu_layers);
    }
    free(e);
    gpumem_model_free(m);
}

static void test_pipeline_buffers_match_llamacpp(void **state)
{
    (void)state;
    char path[1200], line[65536];
    snprintf(path, sizeof path, "%s/validation/measurements/llamacpp_pipeline.jsonl",
             GPUMEM_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    const gpumem_gpu *gpu;
    gpumem_error err;
    /* any catalog GPU: llama.cpp split by the devices' equal free memory */
    assert_int_equal(gpumem_gpu_find("rtx-4090", &gpu, &err), GPUMEM_OK);
    tally t = {0};
    int pp_rows = 0, n = 0;
    while (fgets(line, sizeof line, f)) {
        json_error_t je;
        json_t *row = json_loads(line, 0, &je);
        if (!row)
            fail_msg("%s line %d: %s", path, n + 1, je.text);
        n++;
        assert_int_equal(json_integer_value(json_object_get(row, "rc")), 0);
        pp_rows += json_is_true(json_object_get(row, "pipeline"));
        one_row(row, gpu, &t);
        json_decref(row);
    }
    fclose(f);
    printf("llama.cpp de3ff81 pipeline parallelism: %d runs (%d with it on); %d compute buffers: "
           "%d exact (0.01 MiB), %d within max(1%%, 16 MiB) and not under by > 1 MiB; "
           "worst %+.2f / %+.2f MiB\n",
           t.rows, pp_rows, t.buffers, t.exact, t.within, t.worst_over, t.worst_under);
    assert_true(pp_rows >= 40);
    assert_true(t.rows > pp_rows); /* controls present */
    assert_int_equal(t.bad, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_pipeline_buffers_match_llamacpp)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
