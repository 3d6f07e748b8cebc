/* KV-cache bytes against hand calculations from each model's config.json:
 * per token = layers x 2 (K and V) x kv_heads x head_dim x bytes. */
#include "test_helpers.h"

static uint64_t kv_bytes_cache(const char *model, uint64_t batch, uint64_t ctx, int kv_fp8,
                               uint32_t gpus, gpumem_cache cache)
{
    gpumem_model *m = load_or_fail(model);
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.cache = cache;
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

static uint64_t kv_bytes(const char *model, uint64_t batch, uint64_t ctx, int kv_fp8,
                         uint32_t gpus)
{
    return kv_bytes_cache(model, batch, ctx, kv_fp8, gpus, GPUMEM_CACHE_DYNAMIC);
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
 * A static cache at 8192 tokens: 21 full layers x 8192 + 21 sliding layers
 * x 4096 tokens. A dynamic cache's sliding layers keep their window as a
 * view of the whole prompt after the prefill (cache_utils.py,
 * DynamicSlidingWindowLayer.update, transformers 5.24): 42 x 8192. */
static void test_sliding_gemma2(void **state)
{
    (void)state;
    assert_int_equal(kv_bytes_cache("gemma-2-9b-it", 1, 8192, 0, 1, GPUMEM_CACHE_STATIC),
                     21ull * 8192 * 8192 + 21ull * 4096 * 8192);
    assert_int_equal(kv_bytes("gemma-2-9b-it", 1, 8192, 0, 1), 42ull * 8192 * 8192);
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

/* KV bytes of a config under validation/configs/arch/ (fp32 when the file
 * names no dtype), default settings at `ctx` tokens. */
static uint64_t kv_bytes_config(const char *file, uint64_t ctx, gpumem_cache cache)
{
    char path[1024];
    gpumem_model *m;
    gpumem_error err;
    snprintf(path, sizeof path, "%s/validation/configs/arch/%s", GPUMEM_SOURCE_DIR, file);
    if (gpumem_model_load_config_file(path, &m, &err) != GPUMEM_OK)
        fail_msg("%s: %s", path, err.message);
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.context = ctx;
    s.cache = cache;
    gpumem_estimate *e = estimate_or_fail(m, &s);
    uint64_t kv = component(e, "kv_cache");
    free(e);
    gpumem_model_free(m);
    return kv;
}

/* Llama-4 Scout (chunked attention): 48 layers, 8 KV heads of 128, bf16:
 * 2 x 8 x 128 x 2 B = 4096 B per layer and token. no_rope_layer_interval 4
 * leaves layers 3, 7, ..., 47 (12) without RoPE and with full attention;
 * the other 36 attend within 8192-token chunks and transformers caches
 * them as 8192-token sliding windows (cache_utils.py, chunked_attention).
 * A static cache at 16384 tokens: 12 x 16384 x 4096 + 36 x 8192 x 4096; a
 * dynamic one holds the whole prompt after the prefill: 48 x 16384 x 4096. */
static void test_chunked_llama4_scout(void **state)
{
    (void)state;
    assert_int_equal(kv_bytes_cache("llama-4-scout", 1, 16384, 0, 1, GPUMEM_CACHE_STATIC),
                     12ull * 16384 * 4096 + 36ull * 8192 * 4096);
    assert_int_equal(kv_bytes("llama-4-scout", 1, 16384, 0, 1), 48ull * 16384 * 4096);
    assert_int_equal(kv_bytes("llama-4-scout", 1, 4000, 0, 1), 48ull * 4000 * 4096);
    /* Maverick: the same attention (48 layers, 8 x 128, chunk 8192). */
    assert_int_equal(kv_bytes_cache("llama-4-maverick", 1, 16384, 0, 1, GPUMEM_CACHE_STATIC),
                     12ull * 16384 * 4096 + 36ull * 8192 * 4096);
}

/* MoE models cache as their attention says, whatever the experts:
 * OLMoE-1B-7B: 16 layers x 2 x 16 KV heads x 128 (2048 / 16) x 2 B =
 * 131072 B per token; Granite-3.1-1B-A400M: 24 layers x 2 x 8 x 64
 * (1024 / 16) x 2 B = 49152 B per token. */
static void test_moe_olmoe_granitemoe(void **state)
{
    (void)state;
    assert_int_equal(kv_bytes("olmoe-1b-7b-0125", 1, 1000, 0, 1), 131072ull * 1000);
    assert_int_equal(kv_bytes("granite-3.1-1b-a400m", 2, 1000, 0, 1), 2 * 49152ull * 1000);
}

/* Sliding patterns from class defaults, fp32 (4 B):
 * cohere2-defaults: 8 layers, 2 KV heads of 32 (the file's head_dim),
 * sliding_window_pattern 4: layers 3 and 7 full, 6 slide over the default
 * 4096: 512 B per layer and token; at 8192 tokens 2 x 8192 x 512 +
 * 6 x 4096 x 512.
 * exaone4-small: 8 layers, 2 x 64, window 128, pattern 4: 1024 B per layer
 * and token; at 1000 tokens 2 x 1000 x 1024 + 6 x 128 x 1024.
 * smollm3-sliding: 8 layers, 2 x 64 (512 / 8), window 256 on the layers
 * without RoPE (3 and 7, interval 4): 6 x 1000 x 1024 + 2 x 256 x 1024.
 * (A static cache; a dynamic one holds every layer's prompt: 8 x 1000 x 1024
 * for exaone4-small.) */
static void test_sliding_patterns(void **state)
{
    (void)state;
    assert_int_equal(kv_bytes_config("cohere2-defaults.json", 8192, GPUMEM_CACHE_STATIC),
                     2ull * 8192 * 512 + 6ull * 4096 * 512);
    assert_int_equal(kv_bytes_config("exaone4-small.json", 1000, GPUMEM_CACHE_STATIC),
                     2ull * 1000 * 1024 + 6ull * 128 * 1024);
    assert_int_equal(kv_bytes_config("smollm3-sliding.json", 1000, GPUMEM_CACHE_STATIC),
                     6ull * 1000 * 1024 + 2ull * 256 * 1024);
    assert_int_equal(kv_bytes_config("exaone4-small.json", 1000, GPUMEM_CACHE_DYNAMIC),
                     8ull * 1000 * 1024);
}

/* GLM-4.5-style MoE with an explicit head_dim: glm4-moe-qk-norm has 4
 * layers, 2 KV heads of 128 (not 512 / 8 = 64), fp32:
 * 4 x 2 x 2 x 128 x 4 B = 8192 B per token. */
static void test_head_dim_glm4_moe(void **state)
{
    (void)state;
    assert_int_equal(kv_bytes_config("glm4-moe-qk-norm.json", 1000, GPUMEM_CACHE_DYNAMIC), 8192ull * 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gqa_llama31_8b),      cmocka_unit_test(test_gqa_tensor_parallel),
        cmocka_unit_test(test_sliding_gemma2),      cmocka_unit_test(test_mla_deepseek_v3),
        cmocka_unit_test(test_encoder_has_no_cache),
        cmocka_unit_test(test_chunked_llama4_scout), cmocka_unit_test(test_moe_olmoe_granitemoe),
        cmocka_unit_test(test_sliding_patterns),    cmocka_unit_test(test_head_dim_glm4_moe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
