/* gpumem against llama.cpp startup logs published in public issues (CUDA,
 * one and two GPUs, MoE with experts on the host, quantised KV, Gemma 3
 * sliding-window layers before PR #13194, one Vulkan log):
 * tests/data/engine_logs/llamacpp_cases.json, made by
 * validation/llamacpp/public_log_headers.py from llamacpp.tsv (each row's
 * source link is there). The headers carry the printed architecture; their
 * tensor types are not the files' mixes, so model buffers are not compared.
 * KV, output and the host's compute buffer (its graph inputs) must equal
 * the printed 0.01 MiB; each compute graph (a GPU's, or the CPU backend's
 * where a case maps it) must be within 1% or 16 MiB of the printed size,
 * either way, and the test prints every error with the median and worst.
 * A case's "compare" map can leave a buffer out (null, with the reason in
 * public_log_headers.py) or hold it to the graph tolerance. Each case runs
 * with the rule set of its build (--llamacpp-version: b5050 for builds
 * 4192..5331 and 2024, b6699 for 5466..6699); rows of llamacpp.tsv marked
 * NOT ASSERTED have no case here. */
#include "test_helpers.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>

static const double MiB = 1048576.0;

/* "CUDA1 KV" -> ("gpu1", "kv_cache"); "CUDA_Host compute" -> ("host",
 * "compute"); false for buffers not compared (model). */
static bool map_buffer(const char *key, char *dev, size_t dev_len, const char **comp)
{
    char where[32], kind[16];
    if (sscanf(key, "%31s %15s", where, kind) != 2)
        return false;
    if (!strcmp(kind, "KV"))
        *comp = "kv_cache";
    else if (!strcmp(kind, "output"))
        *comp = "output";
    else if (!strcmp(kind, "compute"))
        *comp = "compute";
    else
        return false;
    /* Vulkan's buffers (Vulkan0, Vulkan_Host) as CUDA's: KV, output and
     * the graph allocator's sizes do not depend on the backend */
    unsigned n;
    if ((sscanf(where, "CUDA%u", &n) == 1 || sscanf(where, "Vulkan%u", &n) == 1) &&
        !strchr(where, '_'))
        snprintf(dev, dev_len, "gpu%u", n);
    else if (!strcmp(where, "CUDA_Host") || !strcmp(where, "Vulkan_Host") ||
             (!strcmp(where, "CPU") && strcmp(kind, "compute")))
        snprintf(dev, dev_len, "host");
    /* "CPU compute" beside "CUDA_Host compute": the CPU backend's own ops
     * (router, small copies) when experts stay on the host; not modelled. */
    else
        return false;
    return true;
}

static int by_abs(const void *a, const void *b)
{
    double x = fabs(*(const double *)a), y = fabs(*(const double *)b);
    return x < y ? -1 : x > y;
}

static void test_public_logs(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/engine_logs/llamacpp_cases.json",
             GPUMEM_SOURCE_DIR);
    json_error_t jerr;
    json_t *cases = json_load_file(path, 0, &jerr);
    assert_non_null(cases);
    double gpu_err[64];
    size_t n_gpu = 0, exact = 0, compared = 0, cases_run = 0;
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const char *id = json_string_value(json_object_get(c, "id"));
        snprintf(path, sizeof path, "%s/tests/data/engine_logs/%s", GPUMEM_SOURCE_DIR,
                 json_string_value(json_object_get(c, "header")));
        gpumem_model *m;
        gpumem_error err;
        if (gpumem_model_load_gguf_header(
                path, (uint64_t)json_integer_value(json_object_get(c, "file_size")), &m, &err))
            fail_msg("%s: %s", id, err.message);
        json_t *st = json_object_get(c, "settings");
        gpumem_settings s;
        gpumem_settings_init(&s);
        s.engine = GPUMEM_ENGINE_LLAMACPP;
        s.context = (uint64_t)json_integer_value(json_object_get(st, "n_ctx"));
        s.batch = (uint64_t)json_integer_value(json_object_get(st, "n_batch"));
        s.n_ubatch = (uint64_t)json_integer_value(json_object_get(st, "n_ubatch"));
        s.flash_attn = strcmp(json_string_value(json_object_get(st, "flash_attn")), "on") ? 2 : 1;
        assert_int_equal(gpumem_cache_type_parse(json_string_value(json_object_get(st, "ctk")),
                                                 &s.cache_type_k, &err), GPUMEM_OK);
        assert_int_equal(gpumem_cache_type_parse(json_string_value(json_object_get(st, "ctv")),
                                                 &s.cache_type_v, &err), GPUMEM_OK);
        s.gpus = (uint32_t)json_integer_value(json_object_get(st, "gpus"));
        s.n_cpu_moe = (int)json_integer_value(json_object_get(st, "n_cpu_moe"));
        /* -ts, or the free memory llama.cpp splits by when no -ts is given */
        json_t *ts = json_object_get(st, "tensor_split");
        for (size_t k = 0; k < json_array_size(ts) && k < GPUMEM_MAX_SPLIT; k++)
            s.tensor_split[k] = json_number_value(json_array_get(ts, k));
        json_t *ngl = json_object_get(st, "n_gpu_layers");
        s.n_gpu_layers = ngl ? (int)json_integer_value(ngl) : -1;
        /* the rule set of the log's build (public_log_headers.py rule_for) */
        s.llamacpp_version = json_string_value(json_object_get(st, "llamacpp_version"));
        assert_non_null(s.llamacpp_version);
        if (s.gpus) /* gpus 0: a CPU build, no GPU given */
            assert_int_equal(gpumem_gpu_find("rtx-3090", &s.gpu, &err), GPUMEM_OK);
        else
            s.gpus = 1;
        gpumem_estimate *e = estimate_or_fail(m, &s);
        if (!strstr(e->description, s.llamacpp_version))
            fail_msg("%s: description '%s' does not name %s", id, e->description,
                     s.llamacpp_version);
        cases_run++;
        const char *key;
        json_t *v;
        json_t *compare = json_object_get(c, "compare");
        json_object_foreach(json_object_get(c, "printed_mib"), key, v) {
            char dev[16];
            const char *comp;
            /* a case's own mapping: "CPU compute": "host compute", or null */
            json_t *as = json_object_get(compare, key);
            if (as && json_is_null(as))
                continue;
            if (as) {
                char d[16], k[16];
                if (sscanf(json_string_value(as), "%15s %15s", d, k) != 2)
                    fail_msg("%s: bad mapping for %s", id, key);
                snprintf(dev, sizeof dev, "%s", d);
                comp = !strcmp(k, "compute") ? "compute" : !strcmp(k, "KV") ? "kv_cache" : "output";
            } else if (!map_buffer(key, dev, sizeof dev, &comp)) {
                continue;
            }
            /* a device printed twice (iSWA: the full and the sliding-window
             * cache each print their KV buffer) is compared as the sum */
            double want = json_number_value(v);
            if (json_is_array(v)) {
                size_t k;
                json_t *part;
                want = 0;
                json_array_foreach(v, k, part) want += json_number_value(part);
            }
            double got = device_component(e, dev, comp) / MiB;
            double rel = (got - want) / want;
            compared++;
            printf("  %-36s %-18s printed %9.2f MiB  gpumem %9.2f MiB  %+6.1f%%\n", id, key, want,
                   got, 100 * rel);
            /* a compute graph (any GPU's, or the CPU backend's when a case
             * maps it) is held to the tolerance; the rest to the 0.01 MiB */
            bool graph = !strcmp(comp, "compute") && (strcmp(dev, "host") || as);
            if (!graph) {
                /* KV, output, the host's inputs: to the printed 0.01 MiB */
                if (fabs(got - want) > 0.01)
                    fail_msg("%s %s: printed %.2f MiB, gpumem %.2f", id, key, want, got);
                exact++;
            } else {
                gpu_err[n_gpu++] = rel;
                /* max(1%, 16 MiB) either way: an over-estimate past it is a
                 * wrong rule too, not only an under-estimate */
                if (fabs(got - want) > fmax(0.01 * want, 16))
                    fail_msg("%s %s: printed %.2f MiB, gpumem %.2f (outside 1%% or 16 MiB)", id,
                             key, want, got);
            }
        }
        free(e);
        gpumem_model_free(m);
    }
    json_decref(cases);
    qsort(gpu_err, n_gpu, sizeof gpu_err[0], by_abs);
    size_t within1 = 0;
    for (size_t k = 0; k < n_gpu; k++)
        within1 += fabs(gpu_err[k]) <= 0.01;
    printf("  %zu logs, %zu buffers: %zu KV/output/host equal to the printed 0.01 MiB; "
           "%zu compute graphs (%zu within 1%%, the rest within 16 MiB), median |error| %.1f%%, "
           "worst %+.1f%%\n",
           cases_run, compared, exact, n_gpu, within1, 100 * fabs(gpu_err[n_gpu / 2]),
           100 * gpu_err[n_gpu - 1]);
    assert_true(cases_run >= 20 && n_gpu >= 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_public_logs)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
