/* Inference estimates: weights worked out by hand, the JSON contract, the
 * fit verdict and the multi-GPU split. */
#include "test_helpers.h"

#include <jansson.h>
#include <string.h>

/* Llama-3.1-8B from its config: embed and lm_head 128256 x 4096 each
 * (untied), 32 layers of q,o 4096x4096 + k,v 4096x1024 + 3 x 4096x14336
 * = 218,103,808 matrix weights, 2 RMSNorms of 4096, and a final norm. */
static const uint64_t l31_vocab = 2ull * 128256 * 4096;
static const uint64_t l31_linear = 32ull * 218103808;
static const uint64_t l31_small = 32ull * 2 * 4096 + 4096;

static gpumem_estimate *run(const char *model, gpumem_dtype d, uint32_t gpus)
{
    gpumem_model *m = load_or_fail(model);
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.dtype = d;
    s.dtype_set = 1;
    s.gpus = gpus;
    gpumem_estimate *e = estimate_or_fail(m, &s);
    gpumem_model_free(m);
    return e;
}

static void test_weights_by_hand(void **state)
{
    (void)state;
    assert_int_equal(l31_vocab + l31_linear + l31_small, 8030261248ull);
    gpumem_estimate *e = run("llama-3.1-8b", GPUMEM_DTYPE_BF16, 1);
    assert_int_equal(component(e, "weights"), 2 * 8030261248ull);
    free(e);
    e = run("llama-3.1-8b", GPUMEM_DTYPE_FP32, 1);
    assert_int_equal(component(e, "weights"), 4 * 8030261248ull);
    free(e);
    /* NF4 (bitsandbytes): 4 bits per matrix weight plus one fp32 absmax per
     * 64 weights; embeddings, lm_head and norms stay fp16. */
    e = run("llama-3.1-8b", GPUMEM_DTYPE_INT4, 1);
    assert_int_equal(component(e, "weights"),
                     l31_linear / 2 + l31_linear / 64 * 4 + 2 * l31_vocab + 2 * l31_small);
    free(e);
    /* LLM.int8: one byte per matrix weight and an fp32 scale per row. */
    e = run("llama-3.1-8b", GPUMEM_DTYPE_INT8, 1);
    uint64_t w = component(e, "weights");
    assert_true(w >= l31_linear + 2 * l31_vocab + 2 * l31_small);
    assert_true(w <= l31_linear + l31_linear / 4096 * 4 + 2 * l31_vocab + 2 * l31_small);
    free(e);
}

/* A multimodal model: the vision tower and projector are their own
 * component, in the checkpoint's dtype. Qwen2.5-VL-7B, from transformers'
 * own counts (validation/measurements/param_counts.jsonl): whole model
 * 8,292,166,656, bare text model 7,070,619,136 plus its untied lm_head
 * 544,997,376, so the vision side holds 676,550,144. */
static void test_vision_tower_is_its_own_component(void **state)
{
    (void)state;
    assert_int_equal(8292166656ull - 7070619136ull - 544997376ull, 676550144ull);
    gpumem_estimate *e = run("qwen2.5-vl-7b", GPUMEM_DTYPE_BF16, 1);
    assert_int_equal(component(e, "vision_weights"), 2 * 676550144ull);
    assert_int_equal(component(e, "weights"), 2 * (8292166656ull - 676550144ull));
    free(e);
    /* vLLM builds Mistral 3's language model from text_config, which
     * leaves lm_head untied (MistralConfig's default), although
     * transformers 5.24 ties it by the top-level default: its weights
     * carry a 131072 x 5120 lm_head on top of the tied count. */
    gpumem_model *m = load_or_fail("mistral-small-3.2-24b");
    gpumem_settings s;
    gpumem_error err;
    gpumem_settings_init(&s);
    s.engine = GPUMEM_ENGINE_VLLM;
    assert_int_equal(gpumem_gpu_find("h100-80gb", &s.gpu, &err), GPUMEM_OK);
    gpumem_estimate *v = estimate_or_fail(m, &s);
    gpumem_model_info info;
    gpumem_model_get_info(m, &info);
    uint64_t text = info.params - info.vision_params;
    assert_true(component(v, "weights") >= 2 * (text + 131072ull * 5120));
    assert_int_equal(component(v, "vision_weights"), 2 * info.vision_params);
    free(v);
    gpumem_model_free(m);
}

static void test_tensor_parallel_split(void **state)
{
    (void)state;
    gpumem_estimate *one = run("llama-3.1-70b", GPUMEM_DTYPE_BF16, 1);
    gpumem_estimate *four = run("llama-3.1-70b", GPUMEM_DTYPE_BF16, 4);
    uint64_t w1 = component(one, "weights"), w4 = component(four, "weights");
    /* Matrices and embeddings split four ways; the norms (80 layers x 2 x
     * 8192 + a final 8192, bf16) are replicated on every GPU. */
    uint64_t norms = (80ull * 2 * 8192 + 8192) * 2;
    assert_int_equal(w4, (w1 - norms) / 4 + norms);
    assert_int_equal(four->n_devices, 4);
    assert_int_equal(four->total_bytes, 4 * four->per_gpu_bytes);
    free(one);
    free(four);
}

static void test_components_sum_and_fit(void **state)
{
    (void)state;
    gpumem_model *m = load_or_fail("llama-3.1-8b");
    gpumem_settings s;
    gpumem_settings_init(&s);
    gpumem_error err;
    assert_int_equal(gpumem_gpu_find("rtx-4090", &s.gpu, &err), GPUMEM_OK);
    gpumem_estimate *e = estimate_or_fail(m, &s);
    uint64_t sum = 0;
    for (size_t i = 0; i < e->n_components; i++)
        sum += e->components[i].bytes;
    assert_int_equal(sum, e->per_gpu_bytes);
    assert_int_equal(e->headroom_bytes, (int64_t)s.gpu->memory_bytes - (int64_t)sum);
    assert_int_equal(e->fits, 1); /* 16 GB of bf16 weights fit 23.6 GiB */
    free(e);
    s.batch = 64;
    s.context = 8192; /* 64 x 8192 x 128 KiB of KV: 64 GiB */
    e = estimate_or_fail(m, &s);
    assert_int_equal(e->fits, 0);
    assert_true(e->headroom_bytes < 0);
    free(e);
    gpumem_model_free(m);
}

static void test_eager_materialises_scores(void **state)
{
    (void)state;
    gpumem_model *m = load_or_fail("llama-3.1-8b");
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.context = 4096;
    s.attn = GPUMEM_ATTN_EAGER;
    gpumem_estimate *eager = estimate_or_fail(m, &s);
    /* 32 heads x 4096^2 scores at eager's softmax: the bf16 scores, their
     * fp32 upcast and the fp32 softmax (2 + 4 + 4 bytes), plus one bf16
     * causal mask of 4096^2 -- the three tensors and the mask the harness
     * saw live at the peak (validation/measurements/torch_inference.jsonl,
     * llama-3.1-8b|prefill|bf16|b1|s4096|eager: _to_copy, _softmax, add,
     * where). Beside them, per token in bf16: four hidden-sized tensors
     * (inputs_embeds, layer input, residual, normed input: 4 x 4096), q, k
     * and v once (4096 + 2 x 8 x 128) and K, V repeated to 32 heads
     * (2 x 32 x 128) -- but not the MLP's tensors, which come after the
     * scores are freed. */
    uint64_t scores = 32ull * 4096 * 4096 * 10 + 4096ull * 4096 * 2;
    uint64_t beside = 4096ull * (4 * 4096 + (4096 + 2 * 8 * 128) + 2 * 32 * 128) * 2;
    assert_int_equal(component(eager, "activations"), scores + beside);
    /* The harness measured 5,605,818,392 bytes of activations there. */
    assert_true(component(eager, "activations") >= 5605818392ull);
    free(eager);
    gpumem_model_free(m);
}

/* transformers 5.24 runs eager attention where a model class has no SDPA
 * (Gemma2ForCausalLM._supports_sdpa is False; the harness measured Gemma 2
 * eager): the default settings size that, not SDPA. */
static void test_default_attention_is_the_models(void **state)
{
    (void)state;
    gpumem_model *m = load_or_fail("gemma-2-9b-it");
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.context = 8192;
    gpumem_estimate *def = estimate_or_fail(m, &s);
    s.attn = GPUMEM_ATTN_EAGER;
    gpumem_estimate *eager = estimate_or_fail(m, &s);
    assert_int_equal(def->attn, GPUMEM_ATTN_EAGER);
    assert_int_equal(component(def, "activations"), component(eager, "activations"));
    free(def);
    free(eager);
    gpumem_model_free(m);
}

/* bitsandbytes NF4 with double quantisation (QLoRA, §3: 4 + 8/64 +
 * 32/(64 x 256) bits a weight), Llama-3.1-8B: 32 layers x (2 x 4096^2 +
 * 2 x 4096 x 1024 + 3 x 4096 x 14336) = 6,979,321,856 matrix weights:
 * 3,489,660,928 B of 4-bit codes + 109,051,904 uint8 absmax (one per 64) +
 * 425,984 fp32 second-level scales (one per 256 absmax) = 1,703,936 B;
 * embeddings and lm_head in bf16 (2 x 128256 x 4096 x 2 B) and 65 norms
 * of 4096 in bf16. Without double quantisation the absmax are fp32. */
static void test_nf4_double_quant_by_hand(void **state)
{
    (void)state;
    gpumem_model *m = load_or_fail("llama-3.1-8b");
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.dtype_set = 1;
    s.dtype = GPUMEM_DTYPE_INT4;
    s.bnb_double_quant = 1;
    gpumem_estimate *e = estimate_or_fail(m, &s);
    uint64_t rest = 2ull * 128256 * 4096 * 2 + 65ull * 4096 * 2;
    assert_int_equal(component(e, "weights"),
                     3489660928ull + 109051904ull + 425984ull * 4 + rest);
    free(e);
    s.bnb_double_quant = 0;
    e = estimate_or_fail(m, &s);
    assert_int_equal(component(e, "weights"), 3489660928ull + 109051904ull * 4 + rest);
    free(e);
    s.dtype = GPUMEM_DTYPE_INT8; /* double quantisation is NF4's */
    s.bnb_double_quant = 1;
    gpumem_error err;
    e = malloc(sizeof *e);
    assert_int_equal(gpumem_estimate_inference(m, &s, e, &err), GPUMEM_ERR_USAGE);
    free(e);
    gpumem_model_free(m);
}

/* flash_attention_2 (transformers 5.24's source; not measurable without a
 * CUDA GPU): Mistral-7B-v0.1 at 8192 tokens slides over a 4096 window, so
 * SDPA builds one bool mask of 1 x 8192 x 8192 bytes that flash_attn (its
 * window_size argument) does not; the MLP phase (4 x 4096 + 3 x 14336 +
 * 4096 per token) stays the peak, above either attention phase. fp32 is
 * refused, as transformers refuses it. */
static void test_flash_attention_drops_the_mask(void **state)
{
    (void)state;
    gpumem_model *m = load_or_fail("mistral-7b-v0.1");
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.context = 8192;
    gpumem_estimate *sdpa = estimate_or_fail(m, &s);
    s.attn = GPUMEM_ATTN_FLASH;
    gpumem_estimate *flash = estimate_or_fail(m, &s);
    assert_int_equal(component(sdpa, "activations") - component(flash, "activations"),
                     8192ull * 8192);
    assert_int_equal(component(flash, "activations"),
                     8192ull * (4 * 4096 + 3 * 14336 + 4096) * 2);
    free(sdpa);
    free(flash);
    s.dtype_set = 1;
    s.dtype = GPUMEM_DTYPE_FP32;
    gpumem_estimate *e = malloc(sizeof *e);
    gpumem_error err;
    assert_int_equal(gpumem_estimate_inference(m, &s, e, &err), GPUMEM_ERR_USAGE);
    assert_non_null(strstr(err.message, "fp16 or bf16"));
    free(e);
    gpumem_model_free(m);
}

/* torch.cuda.max_memory_allocated counts what the caching allocator hands
 * out: every component but the CUDA context (validation/measure_torch.py
 * compares its peak with the same parts). Engines other than transformers
 * leave it 0. */
static void test_allocated_excludes_the_cuda_context(void **state)
{
    (void)state;
    gpumem_model *m = load_or_fail("llama-3.1-8b");
    gpumem_settings s;
    gpumem_settings_init(&s);
    gpumem_estimate *e = estimate_or_fail(m, &s);
    assert_true(component(e, "cuda_context") > 0);
    assert_int_equal(e->allocated_bytes,
                     component(e, "weights") + component(e, "kv_cache") +
                         component(e, "activations") + component(e, "logits") +
                         component(e, "workspace"));
    assert_int_equal(e->allocated_bytes, e->per_gpu_bytes - component(e, "cuda_context"));
    free(e);
    gpumem_error err;
    assert_int_equal(gpumem_gpu_find("h100-80gb", &s.gpu, &err), GPUMEM_OK);
    s.engine = GPUMEM_ENGINE_VLLM;
    e = estimate_or_fail(m, &s);
    assert_int_equal(e->allocated_bytes, 0);
    free(e);
    gpumem_model_free(m);
}

static void test_json_contract(void **state)
{
    (void)state;
    gpumem_model *m = load_or_fail("qwen3-30b-a3b");
    gpumem_settings s;
    gpumem_settings_init(&s);
    gpumem_error err;
    s.gpus = 2;
    assert_int_equal(gpumem_gpu_find("h100-80gb", &s.gpu, &err), GPUMEM_OK);
    gpumem_estimate *e = estimate_or_fail(m, &s);
    char *text = gpumem_report_json(m, e);
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    assert_non_null(root);
    const char *keys[] = {"model", "mode", "engine", "settings", "components", "devices",
                          "total_bytes", "per_gpu_bytes", "gpu", "fits", "headroom_bytes"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!json_object_get(root, keys[i]))
            fail_msg("JSON lacks %s", keys[i]);
    json_t *model = json_object_get(root, "model");
    assert_string_equal(json_string_value(json_object_get(model, "source")), "catalog");
    assert_int_equal(json_integer_value(json_object_get(model, "params")), 30532122624ll);
    assert_true(json_integer_value(json_object_get(model, "active_params")) < 3400000000ll);
    json_t *devices = json_object_get(root, "devices");
    assert_int_equal(json_array_size(devices), 2);
    json_int_t total = 0;
    for (size_t i = 0; i < json_array_size(devices); i++)
        total += json_integer_value(json_object_get(json_array_get(devices, i), "bytes"));
    assert_int_equal(total, json_integer_value(json_object_get(root, "total_bytes")));
    json_int_t sum = 0;
    json_t *comps = json_object_get(root, "components");
    for (size_t i = 0; i < json_array_size(comps); i++)
        sum += json_integer_value(json_object_get(json_array_get(comps, i), "bytes"));
    assert_int_equal(sum, json_integer_value(json_object_get(root, "per_gpu_bytes")));
    assert_true(json_is_true(json_object_get(root, "fits")));
    json_decref(root);
    free(text);
    free(e);
    gpumem_model_free(m);
}

/* The largest context fits, one more token does not (any engine). */
static void test_max_context_is_the_edge(void **state)
{
    (void)state;
    gpumem_model *m = load_or_fail("llama-3.1-8b");
    gpumem_error err;
    const gpumem_engine engines[] = {GPUMEM_ENGINE_TRANSFORMERS, GPUMEM_ENGINE_VLLM};
    for (size_t i = 0; i < 2; i++) {
        gpumem_settings s;
        gpumem_settings_init(&s);
        s.engine = engines[i];
        assert_int_equal(gpumem_gpu_find("rtx-4090", &s.gpu, &err), GPUMEM_OK);
        uint64_t best;
        assert_int_equal(gpumem_max_context(m, &s, &best, &err), GPUMEM_OK);
        assert_true(best > 1000);
        s.context = s.max_model_len = best;
        gpumem_estimate *e = estimate_or_fail(m, &s);
        assert_int_equal(e->fits, 1);
        free(e);
        s.context = s.max_model_len = best + 1;
        e = estimate_or_fail(m, &s);
        assert_int_equal(e->fits, 0);
        free(e);
        printf("  %s: largest context on an RTX 4090: %llu\n", gpumem_engine_name(engines[i]),
               (unsigned long long)best);
    }
    gpumem_settings s;
    gpumem_settings_init(&s);
    assert_int_equal(gpumem_max_context(m, &s, &(uint64_t){0}, &err), GPUMEM_ERR_USAGE);
    gpumem_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_weights_by_hand),
        cmocka_unit_test(test_tensor_parallel_split),
        cmocka_unit_test(test_components_sum_and_fit),
        cmocka_unit_test(test_eager_materialises_scores),
        cmocka_unit_test(test_default_attention_is_the_models),
        cmocka_unit_test(test_nf4_double_quant_by_hand),
        cmocka_unit_test(test_flash_attention_drops_the_mask),
        cmocka_unit_test(test_allocated_excludes_the_cuda_context),
        cmocka_unit_test(test_json_contract),
        cmocka_unit_test(test_max_context_is_the_edge),
        cmocka_unit_test(test_vision_tower_is_its_own_component),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
