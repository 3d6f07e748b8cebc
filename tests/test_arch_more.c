/* Architectures of arch_more.c and arch_linear.c: cache layouts worked by
 * hand from the configs in validation/configs/arch/, and bad configs
 * refused with the key named. Parameter counts are checked against
 * transformers in test_params_transformers.c. */
#include "test_helpers.h"

#include <string.h>

static gpumem_model *load_arch(const char *id)
{
    char path[1024];
    gpumem_model *m = NULL;
    gpumem_error err;
    snprintf(path, sizeof path, "%s/validation/configs/arch/%s.json", GPUMEM_SOURCE_DIR, id);
    if (gpumem_model_load_config_file(path, &m, &err) != GPUMEM_OK)
        fail_msg("%s: %s", path, err.message);
    return m;
}

static uint64_t arch_component(const char *id, const char *what, uint64_t batch, uint64_t ctx)
{
    gpumem_model *m = load_arch(id);
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.batch = batch;
    s.context = ctx;
    gpumem_estimate *e = estimate_or_fail(m, &s);
    uint64_t b = component(e, what);
    free(e);
    gpumem_model_free(m);
    return b;
}

static gpumem_status load_text(const char *text, gpumem_error *err)
{
    gpumem_model *m = NULL;
    gpumem_status st = gpumem_model_load_config_json(text, strlen(text), "c.json", &m, err);
    gpumem_model_free(m);
    return st;
}

/* qwen3-next-small, bf16: full_attention_interval 2 makes layers 1 and 3
 * full attention (2 KV heads of 64: 2 x 2 x 64 x 2 B = 512 B per token
 * each, 1024 B), layers 0, 2, 4 gated delta nets with 2 key heads of 32
 * and 4 value heads of 48: conv over 2 x 64 + 192 = 320 channels x 4
 * columns x 2 B = 2560 B, recurrent state 4 x 48 x 32 x 4 B (fp32) =
 * 24576 B: 3 x 27136 = 81408 B per sequence, whatever the context. */
static void test_qwen3_next_cache(void **state)
{
    (void)state;
    assert_int_equal(arch_component("qwen3-next-small", "kv_cache", 1, 4096),
                     1024ull * 4096 + 81408);
    assert_int_equal(arch_component("qwen3-next-small", "kv_cache", 3, 100),
                     3 * (1024ull * 100 + 81408));
}

/* The delta-net layout is checked: heads that do not divide, and layer
 * types it does not know, are refused naming the key. */
static void test_qwen3_next_errors(void **state)
{
    (void)state;
    gpumem_error err;
    assert_int_equal(load_text("{\"model_type\": \"qwen3_next\", \"linear_num_key_heads\": 3}",
                               &err),
                     GPUMEM_ERR_INVALID);
    assert_non_null(strstr(err.message, "linear_num_key_heads"));
    assert_int_equal(load_text("{\"model_type\": \"qwen3_next\", \"num_hidden_layers\": 2, "
                               "\"layer_types\": [\"full_attention\", \"mamba\"]}",
                               &err),
                     GPUMEM_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.message, "layer_types"));
    assert_int_equal(load_text("{\"model_type\": \"qwen3_next\", \"num_experts_per_tok\": 0}",
                               &err),
                     GPUMEM_ERR_INVALID);
    assert_non_null(strstr(err.message, "num_experts_per_tok"));
}

/* gemma3n-text-small, bf16: 6 layers alternating sliding (window 64) and
 * full, 2 KV heads of 32; num_kv_shared_layers 2 makes layers 4 and 5
 * reuse earlier K/V and cache nothing. Per token and layer 2 x 2 x 32 x
 * 2 B = 256 B. At 1000 tokens (+1 generated, dynamic cache): full layers 1
 * and 3 hold 1000 tokens, sliding layers 0 and 2 hold the prompt after
 * prefill too (1000): 4 x 256 x 1000 = 1024000 B. */
static void test_gemma3n_shared_kv(void **state)
{
    (void)state;
    assert_int_equal(arch_component("gemma3n-text-small", "kv_cache", 1, 1000), 4 * 256ull * 1000);
}

/* mamba2-small-bias, fp32 (no dtype): 3 layers of 8 heads x 64 (d_inner
 * 512), 2 groups x state 32: conv over 512 + 128 = 640 channels x 4
 * columns x 4 B = 10240 B, SSM state 8 x 64 x 32 x 4 B = 65536 B:
 * 3 x 75776 = 227328 B per sequence. falcon-mamba-small: 3 Mamba-1 layers
 * of d_inner 999 (the file's intermediate_size), state 8, conv 4, fp32:
 * 999 x 4 x 4 + 999 x 8 x 4 = 47952 B each, 143856 B. */
static void test_mamba_variants_state(void **state)
{
    (void)state;
    assert_int_equal(arch_component("mamba2-small-bias", "kv_cache", 1, 4096), 227328);
    assert_int_equal(arch_component("mamba2-small-bias", "kv_cache", 2, 10), 2 * 227328);
    assert_int_equal(arch_component("falcon-mamba-small", "kv_cache", 1, 4096), 143856);
}

/* lfm2-small, bf16: layers 2 and 4 full attention (2 KV heads of 64:
 * 2 x 2 x 64 x 2 B = 512 B per token each), layers 0, 1, 3 short
 * convolutions caching conv_L_cache 3 columns of 256 channels: 1536 B per
 * sequence each. */
static void test_lfm2_conv_state(void **state)
{
    (void)state;
    assert_int_equal(arch_component("lfm2-small", "kv_cache", 1, 2048), 1024ull * 2048 + 4608);
    assert_int_equal(arch_component("lfm2-small", "kv_cache", 4, 7), 4 * (1024ull * 7 + 4608));
}

/* minimax-small, bf16: layer 2 full attention (2 KV heads of 48: 2 x 2 x
 * 48 x 2 B = 384 B per token), layers 0, 1, 3 lightning attention keeping
 * K^T V per head in the model dtype (measured: bf16 in tiny-minimax):
 * 4 x 48 x 48 x 2 B = 18432 B per sequence each. */
static void test_minimax_lightning_state(void **state)
{
    (void)state;
    assert_int_equal(arch_component("minimax-small", "kv_cache", 1, 1000), 384ull * 1000 + 55296);
}

/* Each reader refuses an inconsistent config with an error naming the
 * key, never a crash or a silent default. */
static void test_bad_configs_name_the_key(void **state)
{
    (void)state;
    static const struct {
        const char *json, *key;
        gpumem_status st;
    } cases[] = {
        {"{\"model_type\": \"helium\", \"head_dim\": 100}", "hidden_size", GPUMEM_ERR_INVALID},
        {"{\"model_type\": \"lfm2\", \"num_hidden_layers\": 2, \"layer_types\": [\"conv\", "
         "\"mamba\"]}",
         "layer_types", GPUMEM_ERR_UNSUPPORTED},
        {"{\"model_type\": \"dbrx\", \"attn_config\": 3}", "attn_config", GPUMEM_ERR_INVALID},
        {"{\"model_type\": \"dbrx\", \"ffn_config\": {\"moe_top_k\": 9}}", "moe_top_k",
         GPUMEM_ERR_INVALID},
        {"{\"model_type\": \"hunyuan_v1_moe\", \"num_experts\": [4, 4]}", "num_experts",
         GPUMEM_ERR_UNSUPPORTED},
        {"{\"model_type\": \"hunyuan_v1_moe\", \"num_experts\": 4, \"num_hidden_layers\": 2, "
         "\"moe_topk\": [1]}",
         "moe_topk", GPUMEM_ERR_INVALID},
        {"{\"model_type\": \"mamba2\", \"num_heads\": 7}", "num_heads", GPUMEM_ERR_INVALID},
        {"{\"model_type\": \"gemma3n_text\", \"num_hidden_layers\": 4, "
         "\"num_kv_shared_layers\": 4, "
         "\"layer_types\": null}",
         "num_kv_shared_layers", GPUMEM_ERR_INVALID},
        {"{\"model_type\": \"gemma3n_text\", \"num_hidden_layers\": 2, "
         "\"num_kv_shared_layers\": 0, \"intermediate_size\": [1, 2, 3]}",
         "intermediate_size", GPUMEM_ERR_INVALID},
        {"{\"model_type\": \"minimax\", \"block_size\": 0}", "block_size", GPUMEM_ERR_INVALID},
        {"{\"model_type\": \"opt\", \"word_embed_proj_dim\": 0}", "word_embed_proj_dim",
         GPUMEM_ERR_INVALID},
        {"{\"model_type\": \"qwen3_vl\", \"text_config\": {\"model_type\": \"qwen3_vl_text\"}, "
         "\"vision_config\": {\"deepstack_visual_indexes\": 5}}",
         "deepstack_visual_indexes", GPUMEM_ERR_INVALID},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gpumem_error err;
        memset(&err, 0, sizeof err);
        gpumem_status st = load_text(cases[i].json, &err);
        if (st != cases[i].st || !strstr(err.message, cases[i].key))
            fail_msg("case %zu: status %d, message '%s' (want %d naming %s)", i, (int)st,
                     err.message, (int)cases[i].st, cases[i].key);
    }
}

/* falcon-h1-small-bias, bf16: 3 layers, each both attention (2 KV heads
 * of 256 / 4 = 64: 512 B per token) and a Mamba-2 mixer (d_ssm 384, 2
 * groups x state 16: conv over 384 + 64 = 448 channels x 4 columns x 2 B
 * = 3584 B, state 12 heads x 32 x 16 x 4 B = 24576 B per sequence); the
 * description holds each as two layers. */
static void test_falcon_h1_both_caches(void **state)
{
    (void)state;
    assert_int_equal(arch_component("falcon-h1-small-bias", "kv_cache", 1, 3000),
                     1536ull * 3000 + 3 * 28160);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qwen3_next_cache),
        cmocka_unit_test(test_qwen3_next_errors),
        cmocka_unit_test(test_gemma3n_shared_kv),
        cmocka_unit_test(test_mamba_variants_state),
        cmocka_unit_test(test_lfm2_conv_state),
        cmocka_unit_test(test_minimax_lightning_state),
        cmocka_unit_test(test_bad_configs_name_the_key),
        cmocka_unit_test(test_falcon_h1_both_caches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
