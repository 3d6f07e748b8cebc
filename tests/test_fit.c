/* gpumem fit: the plan fits the budget minus the margin, and is the edge
 * of the search it describes (one more layer, or the full context, does not
 * fit); the flags reproduce the plan through a plain estimate. */
#include "test_helpers.h"

#include <string.h>

static gpumem_model *fixture(void)
{
    char path[1024];
    gpumem_model *m;
    gpumem_error err;
    snprintf(path, sizeof path, "%s/tests/fixtures/gguf/tiny-llama-f16.gguf", GPUMEM_SOURCE_DIR);
    if (gpumem_model_load(path, &m, &err) != GPUMEM_OK)
        fail_msg("%s", err.message);
    return m;
}

static uint64_t gpu_bytes(const gpumem_model *m, gpumem_settings s)
{
    gpumem_estimate *e = estimate_or_fail(m, &s);
    uint64_t b = e->per_gpu_bytes;
    free(e);
    return b;
}

/* llama.cpp's defaults on an RTX 4090. */
static gpumem_settings llamacpp_rtx_4090(void)
{
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.engine = GPUMEM_ENGINE_LLAMACPP;
    assert_int_equal(gpumem_gpu_find("rtx-4090", &s.gpu, NULL), GPUMEM_OK);
    return s;
}

static void test_fit_steps(void **state)
{
    (void)state;
    gpumem_model *m = fixture();
    gpumem_settings s = llamacpp_rtx_4090();
    gpumem_error err;
    gpumem_fit_request req;
    memset(&req, 0, sizeof req);
    req.margin = 1ull << 20;
    req.min_context = 256;
    gpumem_fit_plan *p = malloc(sizeof *p);

    /* 1. Plenty of memory: the trained context (2048), every layer. */
    assert_int_equal(gpumem_fit(m, &s, &req, p, &err), GPUMEM_OK);
    assert_true(p->fits);
    assert_int_equal(p->context, 2048);
    assert_int_equal(p->n_gpu_layers, 3);
    assert_string_equal(p->flags, "-c 2048 -ngl 3");

    /* 2. A budget between the minimum and the full context: full offload,
     * the context shrunk to a multiple of 256 that fits. */
    gpumem_settings t = s;
    t.n_gpu_layers = -1;
    t.context = 1024;
    req.budget = gpu_bytes(m, t) + req.margin;
    assert_int_equal(gpumem_fit(m, &s, &req, p, &err), GPUMEM_OK);
    assert_true(p->fits);
    assert_int_equal(p->n_gpu_layers, 3);
    assert_int_equal(p->context % 256, 0);
    assert_true(p->context >= 256 && p->context < 2048);
    t.context = p->context;
    assert_true(gpu_bytes(m, t) <= req.budget - req.margin);

    /* 3. Not even the minimum context with every layer: fewer layers, and
     * the next layer would not fit. */
    t.context = 256;
    req.budget = gpu_bytes(m, t) + req.margin - 1;
    assert_int_equal(gpumem_fit(m, &s, &req, p, &err), GPUMEM_OK);
    if (p->fits) {
        assert_true(p->n_gpu_layers < 3);
        t.n_gpu_layers = p->n_gpu_layers;
        assert_true(gpu_bytes(m, t) <= req.budget - req.margin);
        t.n_gpu_layers = p->n_gpu_layers + 1;
        assert_true(gpu_bytes(m, t) > req.budget - req.margin);
    } else {
        assert_true(strstr(p->advice, "nothing fits") != NULL);
    }
    printf("  budget %llu B -> %s (%s)\n", (unsigned long long)req.budget, p->flags,
           p->fits ? "fits" : "does not fit");

    /* 4. A budget below the CUDA context: nothing fits, with advice. */
    req.budget = 200ull << 20;
    req.margin = 100ull << 20;
    assert_int_equal(gpumem_fit(m, &s, &req, p, &err), GPUMEM_OK);
    assert_false(p->fits);
    assert_non_null(strstr(p->advice, "-ctk q8_0"));
    free(p);
    gpumem_model_free(m);
}

/* The largest -np: a budget made for exactly 5 sequences of 512 cells
 * (the estimate of -c 2560 -np 5 plus the margin) gives 5, and that is the
 * edge: -np 6 at 512 cells each does not fit the same budget in a plain
 * estimate. */
static void test_max_parallel(void **state)
{
    (void)state;
    gpumem_model *m = fixture();
    gpumem_settings s = llamacpp_rtx_4090();
    gpumem_error err;
    gpumem_settings t = s;
    t.n_gpu_layers = -1;
    t.n_parallel = 5;
    t.context = 5 * 512;
    gpumem_fit_request req;
    memset(&req, 0, sizeof req);
    req.margin = 1ull << 20;
    req.budget = gpu_bytes(m, t) + req.margin;
    req.context_set = 1;
    s.context = 512;
    gpumem_fit_plan *p = malloc(sizeof *p);
    assert_int_equal(gpumem_fit(m, &s, &req, p, &err), GPUMEM_OK);
    assert_true(p->fits);
    assert_int_equal(p->parallel_context, 512);
    assert_int_equal(p->max_parallel, 5);
    t.n_parallel = 6;
    t.context = 6 * 512;
    assert_true(gpu_bytes(m, t) + req.margin > req.budget);
    /* With a whole RTX 4090 for this tiny model the search stops at its
     * cap of 256. */
    req.budget = 0;
    req.context_set = 0;
    assert_int_equal(gpumem_fit(m, &s, &req, p, &err), GPUMEM_OK);
    assert_int_equal(p->max_parallel, 256);
    free(p);
    gpumem_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_fit_steps),
                                       cmocka_unit_test(test_max_parallel)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
