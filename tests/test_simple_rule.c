/* The seed rule, M = P x Q x 1.2, for Llama-2-7B counted as 7e9 parameters
 * (shared/REFERENCE.md): weights 7e9 x 4 / 2^30 = 26.08 GiB fp32, 13.04 fp16,
 * 6.52 int8, 3.26 int4; with 20% overhead 31.29 / 15.65 / 7.82 / 3.91 GiB. */
#include "test_helpers.h"

#include <string.h>

static void check(gpumem_dtype d, uint64_t weights, const char *gib, const char *total_gib)
{
    gpumem_model *m;
    gpumem_error err;
    assert_int_equal(gpumem_model_from_params(7e9, &m, &err), GPUMEM_OK);
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.engine = GPUMEM_ENGINE_SIMPLE;
    s.dtype = d;
    s.dtype_set = 1;
    gpumem_estimate *e = estimate_or_fail(m, &s);
    assert_int_equal(e->n_components, 2);
    assert_int_equal(component(e, "weights"), weights);
    assert_int_equal(component(e, "overhead"), weights / 5);
    char buf[32];
    snprintf(buf, sizeof buf, "%.2f", weights / 1073741824.0);
    assert_string_equal(buf, gib);
    snprintf(buf, sizeof buf, "%.2f", e->per_gpu_bytes / 1073741824.0);
    assert_string_equal(buf, total_gib);
    char *text = gpumem_report_text(m, e, GPUMEM_UNIT_GIB, 0);
    assert_non_null(strstr(text, gib));
    free(text);
    free(e);
    gpumem_model_free(m);
}

static void test_seed_figures(void **state)
{
    (void)state;
    check(GPUMEM_DTYPE_FP32, 28000000000ull, "26.08", "31.29");
    check(GPUMEM_DTYPE_FP16, 14000000000ull, "13.04", "15.65");
    check(GPUMEM_DTYPE_BF16, 14000000000ull, "13.04", "15.65");
    check(GPUMEM_DTYPE_INT8, 7000000000ull, "6.52", "7.82");
    check(GPUMEM_DTYPE_INT4, 3500000000ull, "3.26", "3.91");
}

/* "7B", "7e9", "7000M" and "7,000,000,000" are the same count. */
static void test_param_spellings(void **state)
{
    (void)state;
    const char *forms[] = {"7B", "7b", "7e9", "7000M", "7,000,000,000", "7_000_000_000", "0.007T"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        double p;
        gpumem_error err;
        assert_int_equal(gpumem_params_parse(forms[i], &p, &err), GPUMEM_OK);
        assert_true(p > 6999999999.0 && p < 7000000001.0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_figures),
        cmocka_unit_test(test_param_spellings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
