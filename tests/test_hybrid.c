/* Hybrid (attention + Mamba) models on transformers 5.24: the cache holds
 * K/V of the attention layers only plus, per sequence and Mamba layer, the
 * conv state (conv_kernel columns, model dtype) and the SSM state (fp32)
 * of cache_utils.py's LinearAttentionLayer; the prefill peak of a Mamba-2
 * layer is its chunked scan. Every figure is worked by hand from the
 * catalog config.json. */
#include "test_helpers.h"
#include "gguf_write.h"

#include <unistd.h>

static gpumem_estimate *run(const char *model, uint64_t batch, uint64_t ctx)
{
    gpumem_model *m = load_or_fail(model);
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.batch = batch;
    s.context = ctx;
    gpumem_estimate *e = estimate_or_fail(m, &s);
    gpumem_model_free(m);
    return e;
}

static uint64_t kv(const char *model, uint64_t batch, uint64_t ctx)
{
    gpumem_estimate *e = run(model, batch, ctx);
    uint64_t b = component(e, "kv_cache");
    free(e);
    return b;
}

/* Nemotron-3-Nano-30B-A3B, bf16: pattern MEMEM*E... has 6 attention layers
 * (2 KV heads of 128): 6 x 2 x 2 x 128 x 2 B = 6144 B per token. 23 Mamba
 * layers of 64 heads x 64 (d_inner 4096), 8 groups, d_state 128: conv
 * 4096 + 2 x 8 x 128 = 6144 channels x 4 columns x 2 B = 49152 B, SSM
 * state 64 x 64 x 128 x 4 B = 2097152 B; 23 x 2146304 = 49364992 B per
 * sequence, whatever the context. */
static void test_nemotron3_nano_cache(void **state)
{
    (void)state;
    assert_int_equal(kv("nemotron-3-nano-30b-a3b", 1, 4096), 6144ull * 4096 + 49364992ull);
    assert_int_equal(kv("nemotron-3-nano-30b-a3b", 2, 1000),
                     2 * (6144ull * 1000 + 49364992ull));
}

/* Jamba-1.5-Mini, bf16: attention on layers i % 8 == 4 (4 layers, 8 KV
 * heads of 128): 4 x 2 x 8 x 128 x 2 B = 16384 B per token. 28 Mamba-1
 * layers, d_inner 8192, d_state 16, conv 4: 8192 x 4 x 2 B = 65536 B of
 * conv state and 8192 x 16 x 4 B = 524288 B of SSM state each:
 * 28 x 589824 = 16515072 B per sequence. */
static void test_jamba_cache(void **state)
{
    (void)state;
    assert_int_equal(kv("jamba-1.5-mini", 1, 8192), 16384ull * 8192 + 16515072ull);
}

/* Nemotron-H-56B prefill peak, bf16, 4096 tokens: the Mamba-2 layer
 * dominates. hidden 8192, 256 heads x 64 (d_inner 16384), 8 groups x
 * d_state 256 (conv 16384 + 4096 = 20480), chunk 128. Per token: 4 x 8192
 * hidden-sized tensors; in_proj output 16384 + 20480 + 256, conv output
 * 20480; fp32 (2 elements each): 2 x 16384 (input, input x dt), 2 x 256 x
 * 256 (B, C per head), 3 x 256 x 128 (L, G, M). 32768 + 57600 + 2 x 262144
 * = 614656 elements x 2 B x 4096 tokens. (MLP layers: 2 x 32768 + 8192;
 * attention layers: 53248; both smaller.) */
static void test_nemotron_h_mamba2_peak(void **state)
{
    (void)state;
    gpumem_estimate *e = run("nemotron-h-56b", 1, 4096);
    assert_int_equal(component(e, "activations"), 614656ull * 2 * 4096);
    free(e);
}

/* Jamba-1.5-Mini prefill peak, bf16, 1024 tokens: the Mamba-1 slow path
 * holds per token in_proj output 2 x 8192, conv output 8192, x_proj output
 * 256 + 2 x 16, dt 8192 and, in fp32, softplus(dt) 8192 and discrete_A,
 * discrete_B, deltaB_u 3 x 8192 x 16, beside 4 x 4096 hidden-sized
 * tensors: 16384 + 33056 + 2 x 401408 = 852256 elements x 2 B x 1024.
 * (The MoE layer: 2 of 16 experts of 14336, smaller.) */
static void test_jamba_mamba1_peak(void **state)
{
    (void)state;
    gpumem_estimate *e = run("jamba-1.5-mini", 1, 1024);
    assert_int_equal(component(e, "activations"), 852256ull * 2 * 1024);
    free(e);
}

static gpumem_status load_text(const char *text, gpumem_error *err)
{
    gpumem_model *m = NULL;
    gpumem_status st = gpumem_model_load_config_json(text, strlen(text), "c.json", &m, err);
    gpumem_model_free(m);
    return st;
}

/* A Python-written Infinity loads (Nemotron-H configs carry one); NaN where
 * an integer is read is an error naming the key; a hybrid layout of the
 * wrong length or with an unknown block is refused. */
static void test_hybrid_config_errors(void **state)
{
    (void)state;
    gpumem_error err;
    const char *base = "{\"model_type\": \"nemotron_h\", \"hidden_size\": 64, "
                       "\"num_attention_heads\": 2, \"num_key_value_heads\": 1, "
                       "\"head_dim\": 32, \"mamba_num_heads\": 4, \"mamba_head_dim\": 16, "
                       "\"n_groups\": 1, \"time_step_limit\": [0.0, Infinity], "
                       "\"vocab_size\": 100, ";
    char text[1024];
    snprintf(text, sizeof text, "%s\"num_hidden_layers\": 3, \"hybrid_override_pattern\": "
                                "\"M*-\"}",
             base);
    assert_int_equal(load_text(text, &err), GPUMEM_OK);
    snprintf(text, sizeof text, "%s\"num_hidden_layers\": 3, \"hybrid_override_pattern\": "
                                "\"M*\"}",
             base);
    assert_int_equal(load_text(text, &err), GPUMEM_ERR_INVALID);
    assert_non_null(strstr(err.message, "hybrid_override_pattern"));
    snprintf(text, sizeof text, "%s\"num_hidden_layers\": 3, \"hybrid_override_pattern\": "
                                "\"M*X\"}",
             base);
    assert_int_equal(load_text(text, &err), GPUMEM_ERR_UNSUPPORTED);
    snprintf(text, sizeof text, "%s\"num_hidden_layers\": NaN, \"hybrid_override_pattern\": "
                                "\"M*-\"}",
             base);
    assert_int_not_equal(load_text(text, &err), GPUMEM_OK);
    assert_non_null(strstr(err.message, "num_hidden_layers"));
    /* Granite: heads x head dim must equal expand x hidden. */
    assert_int_equal(load_text("{\"model_type\": \"granitemoehybrid\", \"hidden_size\": 64, "
                               "\"num_attention_heads\": 2, \"vocab_size\": 100, "
                               "\"num_hidden_layers\": 2, \"mamba_n_heads\": 4, "
                               "\"mamba_d_head\": 16}",
                               &err),
                     GPUMEM_ERR_INVALID);
}

/* A GGUF header of architecture `arch` (no tensors), with one more u32
 * key `<arch>.<extra>` = value when extra is not NULL. */
static gpumem_status load_gguf_with(const char *arch, const char *extra, uint32_t value,
                                    gpumem_error *err)
{
    char path[] = "/tmp/gpumem-hybrid-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "wb");
    char key[64];
    fwrite("GGUF", 1, 4, f);
    put_u32(f, 3);
    put_u64(f, 0);
    put_u64(f, extra ? 4 : 3);
    put_str(f, "general.architecture");
    put_u32(f, 8);
    put_str(f, arch);
    snprintf(key, sizeof key, "%s.block_count", arch);
    kv_u32(f, key, 4);
    snprintf(key, sizeof key, "%s.embedding_length", arch);
    kv_u32(f, key, 256);
    if (extra) {
        snprintf(key, sizeof key, "%s.%s", arch, extra);
        kv_u32(f, key, value);
    }
    fclose(f);
    gpumem_model *m = NULL;
    gpumem_status st = gpumem_model_load_gguf(path, &m, err);
    gpumem_model_free(m);
    unlink(path);
    return st;
}

static gpumem_status load_gguf(const char *arch, gpumem_error *err)
{
    return load_gguf_with(arch, NULL, 0, err);
}

/* llama.cpp GGUFs of hybrid and linear-attention architectures whose R/S
 * state is not modelled are refused with the reason (read as attention or
 * Mamba they would be under-counted); an attention GGUF loads, and mamba2,
 * granitehybrid, qwen3next, lfm2, falcon-h1 and nemotron_h (sized since de3ff81's state was
 * measured, tests/test_llamacpp_ssm.c) are read but need their ssm.* or
 * shortconv keys, as llama.cpp does. Their variants with another memory
 * layout (LFM2 with a sliding window, Qwen3-Next or Nemotron-H with MTP
 * layers) are
 * refused with the key that makes them so. */
static void test_hybrid_gguf_refused(void **state)
{
    (void)state;
    gpumem_error err;
    const char *refused[] = {"plamo2", "rwkv6", "rwkv6qwen2", "rwkv7", "arwkv7"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        assert_int_equal(load_gguf(refused[i], &err), GPUMEM_ERR_UNSUPPORTED);
        assert_non_null(strstr(err.message, "R/S"));
        assert_non_null(strstr(err.message, refused[i]));
    }
    assert_int_equal(load_gguf("llama", &err), GPUMEM_OK);
    assert_int_equal(load_gguf("mamba2", &err), GPUMEM_ERR_INVALID);
    assert_non_null(strstr(err.message, "ssm.state_size"));
    assert_int_equal(load_gguf("granitehybrid", &err), GPUMEM_ERR_INVALID);
    assert_int_equal(load_gguf("qwen3next", &err), GPUMEM_ERR_INVALID);
    assert_non_null(strstr(err.message, "ssm.state_size"));
    assert_int_equal(load_gguf_with("qwen3next", "full_attention_interval", 0, &err),
                     GPUMEM_ERR_INVALID);
    assert_non_null(strstr(err.message, "full_attention_interval"));
    assert_int_equal(load_gguf("lfm2", &err), GPUMEM_ERR_INVALID);
    assert_non_null(strstr(err.message, "lfm2.shortconv.l_cache"));
    assert_int_equal(load_gguf("lfm2moe", &err), GPUMEM_ERR_INVALID);
    assert_int_equal(load_gguf("falcon-h1", &err), GPUMEM_ERR_INVALID);
    assert_non_null(strstr(err.message, "ssm.state_size"));
    assert_int_equal(load_gguf("nemotron_h", &err), GPUMEM_ERR_INVALID);
    assert_non_null(strstr(err.message, "ssm.state_size"));
    assert_int_equal(load_gguf("nemotron_h_moe", &err), GPUMEM_ERR_INVALID);
    assert_int_equal(load_gguf("jamba", &err), GPUMEM_ERR_INVALID);
    assert_non_null(strstr(err.message, "ssm.state_size"));
    /* Nemotron-H: a layer with feed_forward_length > 0 is an MLP block,
     * neither recurrent nor attending: read without ssm keys */
    assert_int_equal(load_gguf_with("nemotron_h", "feed_forward_length", 1024, &err), GPUMEM_OK);
    assert_int_equal(load_gguf_with("nemotron_h", "nextn_predict_layers", 1, &err),
                     GPUMEM_ERR_UNSUPPORTED);
    assert_int_equal(load_gguf_with("lfm2", "attention.sliding_window", 512, &err),
                     GPUMEM_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.message, "sliding_window"));
    assert_int_equal(load_gguf_with("qwen3next", "nextn_predict_layers", 1, &err),
                     GPUMEM_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.message, "nextn_predict_layers"));
    /* a short conv of l_cache 4 without other keys: every layer recurrent,
     * read */
    assert_int_equal(load_gguf_with("lfm2", "shortconv.l_cache", 4, &err), GPUMEM_OK);
}

/* vLLM's hybrid layout is checked for 0.11.0 and 0.33.0
 * (test_vllm_kvutils checks them against vLLM's planner): other versions
 * refuse hybrids with the reason, not planned as attention or Mamba-1.
 * 0.11.0's nemotron_h.py has no MoE block ("E", NemotronHMoEDecoderLayer
 * came with 0.14.1), so Nemotron 3 Nano is refused there. */
static void test_vllm_refuses_unmodelled_hybrid_versions(void **state)
{
    (void)state;
    const char *models[] = {"nemotron-3-nano-30b-a3b", "jamba-1.5-mini", "nemotron-h-56b"};
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        gpumem_model *m = load_or_fail(models[i]);
        gpumem_settings s;
        gpumem_settings_init(&s);
        s.engine = GPUMEM_ENGINE_VLLM;
        s.vllm_version = "0.14.1";
        gpumem_error err;
        assert_int_equal(gpumem_gpu_find("h100-80gb", &s.gpu, &err), GPUMEM_OK);
        s.max_model_len = 8192;
        gpumem_estimate *e = malloc(sizeof *e);
        assert_non_null(e);
        assert_int_equal(gpumem_estimate_inference(m, &s, e, &err), GPUMEM_ERR_UNSUPPORTED);
        assert_non_null(strstr(err.message, "checked for vLLM 0.11.0 and 0.33.0 only"));
        s.vllm_version = "0.33.0";
        assert_int_equal(gpumem_estimate_inference(m, &s, e, &err), GPUMEM_OK);
        assert_true(e->vllm.present);
        s.vllm_version = "0.11.0";
        gpumem_status st = gpumem_estimate_inference(m, &s, e, &err);
        if (i == 0) {
            assert_int_equal(st, GPUMEM_ERR_UNSUPPORTED);
            assert_non_null(strstr(err.message, "hold only an MoE"));
        } else {
            assert_int_equal(st, GPUMEM_OK);
            assert_true(e->vllm.present);
        }
        free(e);
        gpumem_model_free(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nemotron3_nano_cache), cmocka_unit_test(test_jamba_cache),
        cmocka_unit_test(test_nemotron_h_mamba2_peak), cmocka_unit_test(test_jamba_mamba1_peak),
        cmocka_unit_test(test_hybrid_config_errors), cmocka_unit_test(test_hybrid_gguf_refused),
        cmocka_unit_test(test_vllm_refuses_unmodelled_hybrid_versions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
