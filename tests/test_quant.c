/* Stored bytes of pre-quantised checkpoints (src/quant.c), each against a
 * hand calculation written out below, tensor by tensor. The MXFP4 layouts
 * vLLM builds from them are checked against real startup logs in
 * test_vllm.c (tests/data/engine_logs/vllm.tsv, gpt-oss rows). */
#include "test_helpers.h"

#include "model_internal.h"
#include "quant_internal.h"

/* A small Llama: hidden 256, 2 layers, 4 heads of 64, 2 KV heads, MLP 512,
 * vocab 1000, untied. `quant` is spliced in as the quantization_config. */
static gpumem_model *tiny_llama(const char *dtype, const char *quant)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"model_type\": \"llama\", \"hidden_size\": 256, \"num_hidden_layers\": 2,"
             " \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"intermediate_size\": 512,"
             " \"vocab_size\": 1000, \"tie_word_embeddings\": false, \"torch_dtype\": \"%s\","
             " \"quantization_config\": %s}",
             dtype, quant);
    gpumem_model *m = NULL;
    gpumem_error err;
    if (gpumem_model_load_config_json(text, strlen(text), "tiny.json", &m, &err) != GPUMEM_OK)
        fail_msg("tiny llama: %s", err.message);
    return m;
}

/* GPTQ 4-bit, group 128 (AutoGPTQ layout, g_idx always written):
 *   q  256->256: qweight 256*4/32=32 x 256 x 4 = 32768, qzeros 2 groups x 32 x 4 = 256,
 *                scales 2 x 256 x 2 = 1024, g_idx 256 x 4 = 1024          -> 35072
 *   k, v 256->128: 16384 + 2x16x4=128 + 2x128x2=512 + 1024               -> 18048 each
 *   o  256->256                                                            -> 35072
 *   gate, up 256->512: 65536 + 2x64x4=512 + 2x512x2=2048 + 1024          -> 69120 each
 *   down 512->256: 64x256x4=65536 + 4x32x4=512 + 4x256x2=2048 + 2048    -> 70144
 *   layer: 314624 + 2 RMSNorms x 256 x 2 = 315648; 2 layers = 631296
 *   embed + lm_head 2 x 1000 x 256 x 2 = 1024000; final norm 512
 *   total 1655808 bytes. */
static void test_gptq_hand(void **state)
{
    (void)state;
    gpumem_model *m = tiny_llama("float16", "{\"quant_method\": \"gptq\", \"bits\": 4,"
                                            " \"group_size\": 128, \"desc_act\": false}");
    assert_true(m->has_storage);
    assert_int_equal(m->layers[0].bytes_linear, 314624);
    assert_int_equal(m->bytes_total, 1655808);
    gpumem_model_free(m);
}

/* AWQ GEMM 4-bit g128: the same without g_idx (6 x 1024 + 2048 = 8192 per
 * layer): layer 306432 + 512 + ... total 1655808 - 2 x 8192 = 1639424. */
static void test_awq_hand(void **state)
{
    (void)state;
    gpumem_model *m = tiny_llama("float16", "{\"quant_method\": \"awq\", \"bits\": 4,"
                                            " \"group_size\": 128, \"version\": \"gemm\"}");
    assert_int_equal(m->layers[0].bytes_linear, 306432);
    assert_int_equal(m->bytes_total, 1639424);
    gpumem_model_free(m);
}

/* GPTQ group_size -1 (one group per input row): q 256->256 is
 * 32768 + 1 x 32 x 4 + 1 x 256 x 2 + 1024 = 34432. */
static void test_gptq_per_channel(void **state)
{
    (void)state;
    gpumem_model *m = tiny_llama("float16", "{\"quant_method\": \"gptq\", \"bits\": 4,"
                                            " \"group_size\": -1}");
    uint64_t b;
    assert_true(quant_matrix_bytes(&m->quant, 256, 256, &b));
    assert_int_equal(b, 34432);
    gpumem_model_free(m);
}

/* Fine-grained FP8, blocks of 128 x 128, fp32 weight_scale_inv:
 *   q 256->256: 65536 + 2 x 2 x 4 = 65552; k, v 256->128: 32768 + 1 x 2 x 4 = 32776
 *   gate, up 256->512: 131072 + 4 x 2 x 4 = 131104; down 512->256: 131072 + 2 x 4 x 4
 *   = 131104; layer 589968 + 1024 (bf16 norms) = 590992; x 2 = 1181984
 *   + bf16 embed/lm_head 1024000 + norm 512 = 2206496. */
static void test_fp8_block_hand(void **state)
{
    (void)state;
    gpumem_model *m = tiny_llama("bfloat16", "{\"quant_method\": \"fp8\", \"activation_scheme\":"
                                             " \"dynamic\", \"weight_block_size\": [128, 128],"
                                             " \"modules_to_not_convert\": [\"lm_head\"]}");
    assert_int_equal(m->dtype, GPUMEM_DTYPE_FP8);
    assert_int_equal(m->bytes_total, 2206496);
    /* Per-tensor, static activations: one fp32 weight scale and one fp32
     * input scale per matrix: 256 x 256 + 8. */
    model_quant q = {.method = QUANT_FP8, .input_scale = true};
    uint64_t b;
    assert_true(quant_matrix_bytes(&q, 256, 256, &b));
    assert_int_equal(b, 65544);
    gpumem_model_free(m);
}

/* A small gpt-oss: hidden 64, 1 layer, 2 heads of 32, 1 KV head, 4 experts
 * of 64, vocab 100, MXFP4 as openai/gpt-oss ships it:
 *   experts gate_up [4, 128, 64]: blocks 128 x 2 x 16 = 4096 + scales 128 x 2 = 256
 *   down [4, 64, 64]: 64 x 2 x 16 = 2048 + 128; (4352 + 2176) x 4 = 26112
 *   expert biases (4 x 128 + 4 x 64) x 2 = 1536                 -> experts 27648
 *   attention bf16 (64x64 + 64x32 x 2 + 64x64) x 2 = 24576, router 64 x 4 x 2 = 512
 *   small bf16: biases 64+32+32+64 + sinks 2 + router bias 4 + 2 norms x 64 = 326 x 2 = 652
 *   layer 53388; embed + lm_head 2 x 100 x 64 x 2 = 25600; norm 128; total 79116. */
static const char tiny_oss[] =
    "{\"model_type\": \"gpt_oss\", \"hidden_size\": 64, \"num_hidden_layers\": 1,"
    " \"num_attention_heads\": 2, \"num_key_value_heads\": 1, \"head_dim\": 32,"
    " \"intermediate_size\": 64, \"num_local_experts\": 4, \"num_experts_per_tok\": 2,"
    " \"vocab_size\": 100, \"sliding_window\": 8, \"tie_word_embeddings\": false,"
    " \"quantization_config\": {\"quant_method\": \"mxfp4\", \"modules_to_not_convert\":"
    " [\"model.layers.*.self_attn\", \"model.layers.*.mlp.router\", \"model.embed_tokens\","
    " \"lm_head\"]}}";

static void test_mxfp4_hand(void **state)
{
    (void)state;
    gpumem_model *m = NULL;
    gpumem_error err;
    assert_int_equal(gpumem_model_load_config_json(tiny_oss, strlen(tiny_oss), "oss.json", &m,
                                                   &err),
                     GPUMEM_OK);
    assert_int_equal(m->layers[0].bytes_expert, 27648);
    assert_int_equal(m->layers[0].bytes_linear, 24576 + 512);
    assert_int_equal(m->layers[0].bytes_small, 652);
    assert_int_equal(m->bytes_total, 79116);
    /* transformers 5.24 without the `kernels` package dequantises the
     * experts to bf16: (4 x (128 x 64 + 64 x 64) + 768) x 2 = 99840 bytes,
     * beside the rest in the model dtype (fp32 here, the config names none):
     * attention 12288 + router 256 + small 326 + embeddings 12800 + norm 64
     * = 25734 params x 4 = 102936 bytes. */
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.context = 16;
    gpumem_estimate *e = estimate_or_fail(m, &s);
    uint64_t rest = (uint64_t)(12288 + 256 + 326) * 4 + 2 * 6400 * 4 + 64 * 4;
    assert_int_equal(component(e, "weights"), 99840 + rest);
    free(e);
    gpumem_model_free(m);
}

static void test_quant_config_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"quant_method\": \"gptq\", \"bits\": 0}",
        "{\"quant_method\": \"fp8\", \"weight_block_size\": [128]}",
        "{\"quant_method\": \"fp8\", \"weight_block_size\": [0, 128]}",
        "{\"bits\": 4}",
        "[1]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[1024];
        snprintf(text, sizeof text,
                 "{\"model_type\": \"llama\", \"hidden_size\": 256, \"num_hidden_layers\": 2,"
                 " \"num_attention_heads\": 4, \"intermediate_size\": 512, \"vocab_size\": 1000,"
                 " \"quantization_config\": %s}",
                 bad[i]);
        gpumem_model *m = NULL;
        gpumem_error err;
        assert_int_equal(gpumem_model_load_config_json(text, strlen(text), "q.json", &m, &err),
                         GPUMEM_ERR_INVALID);
        assert_null(m);
        assert_non_null(strstr(err.message, "quant"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gptq_hand),        cmocka_unit_test(test_awq_hand),
        cmocka_unit_test(test_gptq_per_channel), cmocka_unit_test(test_fp8_block_hand),
        cmocka_unit_test(test_mxfp4_hand),       cmocka_unit_test(test_quant_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
