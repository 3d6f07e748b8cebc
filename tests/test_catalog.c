/* The embedded catalogs: sizes, names, and that every model's genuine
 * config.json reads through the same reader as user input. */
#include "test_helpers.h"

#include <string.h>

static void test_every_model_loads(void **state)
{
    (void)state;
    size_t n = gpumem_catalog_model_count();
    printf("  %zu catalog models\n", n);
    assert_true(n >= 40);
    for (size_t i = 0; i < n; i++) {
        const gpumem_catalog_model *c = gpumem_catalog_model_at(i);
        gpumem_model *m = load_or_fail(c->id);
        gpumem_model_info info;
        gpumem_model_get_info(m, &info);
        assert_true(info.params > 1000000);
        assert_true(info.active_params <= info.params);
        assert_true(strlen(c->source) > 10);
        gpumem_model_free(m);
        /* The Hub id finds the same catalog entry (hf: would fetch it). */
        m = load_or_fail(c->hf_id);
        gpumem_model_free(m);
    }
    assert_null(gpumem_catalog_model_at(n));
}

static void test_gpus(void **state)
{
    (void)state;
    size_t n = gpumem_gpu_count();
    printf("  %zu GPUs\n", n);
    assert_true(n >= 30);
    for (size_t i = 0; i < n; i++) {
        const gpumem_gpu *g = gpumem_gpu_at(i);
        assert_true(g->memory_bytes >= (1ull << 30));
        const gpumem_gpu *found;
        gpumem_error err;
        assert_int_equal(gpumem_gpu_find(g->id, &found, &err), GPUMEM_OK);
        assert_ptr_equal(found, g);
    }
    /* The RTX 4090 shows 23.64 GiB to PyTorch ("total capacity of 23.64 GiB"
     * in out-of-memory messages), not the nominal 24. */
    const gpumem_gpu *g;
    gpumem_error err;
    assert_int_equal(gpumem_gpu_find("RTX-4090", &g, &err), GPUMEM_OK);
    char buf[16];
    snprintf(buf, sizeof buf, "%.2f", g->memory_bytes / 1073741824.0);
    assert_string_equal(buf, "23.64");
}

/* Compute capabilities from NVIDIA's CUDA GPU list (developer.nvidia.com/
 * cuda-gpus): H100 9.0, B200 10.0, RTX 5090 12.0, RTX 4090 8.9, A100 8.0,
 * A10G 8.6, T4 7.5, V100 7.0; none for AMD and Apple. */
static void test_compute_capability(void **state)
{
    (void)state;
    static const struct {
        const char *id;
        unsigned cc;
    } want[] = {{"h100-sxm", 90}, {"b200", 100}, {"rtx-5090", 120}, {"rtx-4090", 89},
                {"a100-sxm4-80gb", 80}, {"a10g", 86}, {"t4", 75}, {"v100-16gb", 70},
                {"mi300x", 0}, {"m2-ultra-192gb", 0}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const gpumem_gpu *g = NULL;
        gpumem_error err;
        assert_int_equal(gpumem_gpu_find(want[i].id, &g, &err), GPUMEM_OK);
        assert_int_equal(g->compute_capability, want[i].cc);
    }
    for (size_t i = 0; i < gpumem_gpu_count(); i++) {
        const gpumem_gpu *g = gpumem_gpu_at(i);
        assert_int_equal(strcmp(g->vendor, "nvidia") == 0, g->compute_capability != 0);
    }
}

static void test_aliases(void **state)
{
    (void)state;
    gpumem_model *a = load_or_fail("meta-llama/Llama-2-7b-hf");
    gpumem_model *b = load_or_fail("LLAMA2-7B");
    gpumem_model_info ia, ib;
    gpumem_model_get_info(a, &ia);
    gpumem_model_get_info(b, &ib);
    assert_int_equal(ia.params, ib.params);
    assert_string_equal(ia.name, "llama-2-7b");
    gpumem_model_free(a);
    gpumem_model_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_model_loads),
        cmocka_unit_test(test_gpus),
        cmocka_unit_test(test_aliases),
        cmocka_unit_test(test_compute_capability),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
