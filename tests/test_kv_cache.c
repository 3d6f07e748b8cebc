/* KV-cache bytes against hand calculations from each model's config.json:
 * per token = layers x 2 (K and V) x kv_heads x head_dim x bytes. */
#include "test_helpers.h"

static uint64_t kv_bytes(const char *model, uint64_t batch, uint64_t ctx, int kv_fp8,
                         uint32_t gpus)
{
    gpumem_model *m = load_or_fail(model);
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.batch = batch;
    s.context = ctx;
    s.gpus = gpus;
    if (kv_fp8) {
        s.kv_dtype_set = 1;
        s.kv_dtype = GPUMEM_DTYPE_FP8;
    }
    gpumem_estimate *e = estimate_or_fail(m, &s);
    uint64_t kv = component(e, "kv_cache");
    free(e);
    gpumem_model_free(m);
    return kv;
}

/* Llama-3.1-8B (GQA): 32 layers, 8 KV heads of 128, bf16:
 * 32 x 2 x 8 x 128 x 2 B = 131072 B per token. */
static void test_gqa_llama31_8b(void **state)
{
    (void)state;
    assert_int_equal(kv_bytes("llama-3.1-8b", 1, 1000, 0, 1), 131072ull * 1000);
    assert_int_equal(kv_bytes("llama-3.1-8b", 3, 1000, 0, 1), 3 * 131072ull * 1000);
    /* fp8 KV: one byte per element, half of it. */
    assert_int_equal(kv_bytes("llama-3.1-8b", 1, 1000, 1, 1), 65536ull * 1000);
}

/* Llama-3.1-70B over 8 GPUs: 8 KV heads, one per GPU:
 * 80 layers x 2 x 1 x 128 x 2 B = 40960 B per token per GPU. */
static void test_gqa_tensor_parallel(void **state)
{
    (void)state;
    assert_int_equal(kv_bytes("llama-3.1-70b", 1, 4096, 0, 8), 40960ull * 4096);
}

/* Gemma-2-9B (sliding window on alternate layers): 42 layers, 8 KV heads of
 * 256, bf16, window 4096: 2 x 8 x 256 x 2 B = 8192 B per layer and token.
 * At 8192 tokens: 21 full layers x 8192 + 21 sliding layers x 4096 tokens. */
static void test_sliding_gemma2(void **state)
{
    (void)state;
    assert_int_equal(kv_bytes("gemma-2-9b-it", 1, 8192, 0, 1),
                     21ull * 8192 * 8192 + 21ull * 4096 * 8192);
    /* Below the window every layer holds the whole context. */
    assert_int_equal(kv_bytes("gemma-2-9b-it", 1, 2000, 0, 1), 42ull * 2000 * 8192);
}

/* DeepSeek-V3 (MLA): transformers 5.24 caches the compressed latent
 * (kv_lora_rank 512) and the shared rope key (64), not per-head K and V:
 * 61 layers x (512 + 64) x 2 B = 70,272 B per token, the same on every
 * tensor-parallel rank. */
static void test_mla_deepseek_v3(void **state)
{
    (void)state;
    assert_int_equal(kv_bytes("deepseek-v3", 1, 1000, 0, 1), 70272ull * 1000);
    assert_int_equal(kv_bytes("deepseek-v3", 1, 1000, 0, 8), 70272ull * 1000);
}

/* Encoders cache nothing. */
static void test_encoder_has_no_cache(void **state)
{
    (void)state;
    gpumem_model *m = load_or_fail("bert-base-uncased");
    gpumem_settings s;
    gpumem_settings_init(&s);
    gpumem_estimate *e = estimate_or_fail(m, &s);
    for (size_t i = 0; i < e->n_components; i++)
        assert_string_not_equal(e->components[i].name, "kv_cache");
    free(e);
    gpumem_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gqa_llama31_8b),      cmocka_unit_test(test_gqa_tensor_parallel),
        cmocka_unit_test(test_sliding_gemma2),      cmocka_unit_test(test_mla_deepseek_v3),
        cmocka_unit_test(test_encoder_has_no_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
