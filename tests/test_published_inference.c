/* transformers inference against published measurements: the Hugging Face
 * LLM-optimisation guide (docs/source/en/llm_tutorial_optimization.md)
 * measured torch.cuda.max_memory_allocated() for OctoCoder (the StarCoder
 * architecture, 15.5B) generating 60 tokens from a short prompt: bf16
 * 29.026 GiB, load_in_8bit 15.219 GiB, load_in_4bit 9.544 GiB. The model is
 * given by the shape the StarCoder paper publishes (tests/data/). gpumem's
 * allocator-visible part is weights + KV + activations + logits + the cuBLAS
 * workspace (allocated through torch's allocator). */
#include "test_helpers.h"

#include <math.h>

static double visible_gib(gpumem_dtype d)
{
    char path[1024];
    gpumem_model *m;
    gpumem_error err;
    snprintf(path, sizeof path, "%s/tests/data/starcoder-15b-paper.json", GPUMEM_SOURCE_DIR);
    if (gpumem_model_load_config_file(path, &m, &err) != GPUMEM_OK)
        fail_msg("%s", err.message);
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.dtype = d;
    s.dtype_set = 1;
    s.context = 25; /* the guide's prompt, about 25 tokens */
    s.new_tokens = 60;
    gpumem_estimate *e = estimate_or_fail(m, &s);
    uint64_t b = component(e, "weights") + component(e, "kv_cache") +
                 component(e, "activations") + component(e, "logits") +
                 component(e, "workspace");
    free(e);
    gpumem_model_free(m);
    return b / 1073741824.0;
}

static void test_octocoder(void **state)
{
    (void)state;
    static const struct {
        gpumem_dtype d;
        double published, under, over;
    } rows[] = {
        {GPUMEM_DTYPE_BF16, 29.0260648727417, 0.03, 0.05},
        /* The guide ran a transformers 4.3x that cast non-quantised modules
         * to fp16 for 8-bit; transformers 5.24 keeps the checkpoint's fp32
         * (quantizers/quantizer_bnb_8bit.py has no dtype override), so
         * gpumem sits above the old figure, on the safe side. */
        {GPUMEM_DTYPE_INT8, 15.219234466552734, 0.03, 0.06},
        {GPUMEM_DTYPE_INT4, 9.543574333190918, 0.03, 0.05},
    };
    double worst = 0;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        double got = visible_gib(rows[i].d), e = (got - rows[i].published) / rows[i].published;
        printf("  octocoder %-5s gpumem %.3f GiB, published %.3f GiB, error %+.2f%%\n",
               gpumem_dtype_name(rows[i].d), got, rows[i].published, 100 * e);
        if (e < -rows[i].under || e > rows[i].over)
            fail_msg("%s: %+.2f%% outside [-%.0f%%, +%.0f%%]", gpumem_dtype_name(rows[i].d),
                     100 * e, 100 * rows[i].under, 100 * rows[i].over);
        worst = fabs(e) > fabs(worst) ? e : worst;
    }
    printf("  worst %+.2f%%\n", 100 * worst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_octocoder)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
