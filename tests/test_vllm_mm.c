/* vLLM's multimodal profiling pass for Qwen2-VL / Qwen2.5-VL, LLaVA-NeXT
 * and Llama 4.
 *
 * validation/measurements/vllm_qwen_vl_profile.jsonl holds what vLLM 0.11.0
 * and 0.33.0 computed themselves (validation/vllm/qwen_vl_profile_
 * reference.py: their Qwen2VLProcessingInfo / Qwen2_5_VLProcessingInfo on
 * the vision config and transformers' Qwen2VLImageProcessor, then
 * compute_mm_encoder_budget and MultiModalBudget's item count) for pixel
 * bounds, max_num_batched_tokens, max_model_len, max_num_seqs and
 * limit_mm_per_prompt. Every row must give the same profiled modality,
 * tokens per item, encoder budget and item count. The bytes are checked by
 * hand below. */
#include "test_helpers.h"

#include "engine_vllm_internal.h"
#include "model_internal.h"

#include <jansson.h>

#define DATA GPUMEM_SOURCE_DIR "/validation/measurements/vllm_qwen_vl_profile.jsonl"
#define TILED GPUMEM_SOURCE_DIR "/validation/measurements/vllm_tiled_vision_profile.jsonl"
#define LLAVA_NEXT GPUMEM_SOURCE_DIR "/validation/configs/llava-v1.6-mistral-7b.json"

/* Qwen/Qwen2-VL-7B-Instruct's config.json (flat text keys), trimmed to
 * the keys gpumem reads; the catalog has no Qwen2-VL. */
static const char qwen2_vl_7b[] =
    "{\"architectures\":[\"Qwen2VLForConditionalGeneration\"],\"hidden_act\":\"silu\","
    "\"hidden_size\":3584,\"intermediate_size\":18944,\"max_position_embeddings\":32768,"
    "\"model_type\":\"qwen2_vl\",\"num_attention_heads\":28,\"num_hidden_layers\":28,"
    "\"num_key_value_heads\":4,\"rms_norm_eps\":1e-06,\"rope_theta\":1000000.0,"
    "\"tie_word_embeddings\":false,\"torch_dtype\":\"bfloat16\",\"vision_config\":{\"depth\":32,"
    "\"embed_dim\":1280,\"mlp_ratio\":4,\"num_heads\":16,\"in_chans\":3,\"hidden_size\":3584,"
    "\"patch_size\":14,\"spatial_merge_size\":2,\"temporal_patch_size\":2},"
    "\"rope_scaling\":{\"type\":\"mrope\",\"mrope_section\":[16,24,24]},\"vocab_size\":152064}";

static const gpumem_gpu *gpu_or_fail(const char *id)
{
    const gpumem_gpu *g;
    gpumem_error err;
    if (gpumem_gpu_find(id, &g, &err) != GPUMEM_OK)
        fail_msg("%s", err.message);
    return g;
}

static uint64_t num(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v))
        fail_msg("field %s missing", k);
    return (uint64_t)json_integer_value(v);
}

static int32_t limit(json_t *row, const char *modality)
{
    json_t *v = json_object_get(json_object_get(row, "limit_mm_per_prompt"), modality);
    return v ? (int32_t)json_integer_value(v) : -1;
}

static void test_profile_matches_vllm(void **state)
{
    (void)state;
    gpumem_model *q25 = load_or_fail("qwen2.5-vl-7b"), *q2 = NULL;
    assert_int_equal(gpumem_model_load_config_json(qwen2_vl_7b, sizeof qwen2_vl_7b - 1, "q2vl",
                                                   &q2, NULL),
                     GPUMEM_OK);
    FILE *f = fopen(DATA, "r");
    assert_non_null(f);
    char line[4096];
    size_t n = 0, per_version[2] = {0, 0};
    while (fgets(line, sizeof line, f)) {
        json_t *r = json_loads(line, 0, NULL);
        assert_non_null(r);
        const char *ver = json_string_value(json_object_get(r, "vllm"));
        const char *model = json_string_value(json_object_get(r, "model"));
        const vllm_version *v = vllm_version_find(ver);
        assert_non_null(v);
        json_t *kw = json_object_get(json_object_get(r, "mm_processor_kwargs"), "max_pixels");
        bool class_default = strcmp(json_string_value(json_object_get(r, "pixels")), "class") == 0;
        vllm_mm_args a = {num(r, "max_num_batched_tokens"), num(r, "max_model_len"),
                          num(r, "max_num_seqs"), 1, 2,
                          kw ? (uint64_t)json_integer_value(kw) : class_default ? 1003520 : 0,
                          limit(r, "image"), limit(r, "video")};
        vllm_mm_profile p;
        const gpumem_model *m = strcmp(model, "qwen2-vl-7b") == 0 ? q2 : q25;
        assert_int_equal(vllm_mm_profile_for(m, v, &a, &p, NULL), GPUMEM_OK);
        bool video = strcmp(json_string_value(json_object_get(r, "modality")), "video") == 0;
        uint64_t tok = num(r, video ? "video_tokens" : "image_tokens");
        if (p.video != video || p.tokens != tok || p.budget != num(r, "encoder_budget") ||
            p.items != num(r, "items"))
            fail_msg("%s %s row %zu: gpumem %s %llu tokens, budget %llu, %llu items; vLLM %s "
                     "%llu, %llu, %llu",
                     ver, model, n + 1, p.video ? "video" : "image", (unsigned long long)p.tokens,
                     (unsigned long long)p.budget, (unsigned long long)p.items,
                     video ? "video" : "image", (unsigned long long)tok,
                     (unsigned long long)num(r, "encoder_budget"),
                     (unsigned long long)num(r, "items"));
        per_version[strcmp(ver, "0.11.0") != 0]++;
        n++;
        json_decref(r);
    }
    fclose(f);
    assert_true(per_version[0] >= 100 && per_version[1] >= 100);
    gpumem_model_free(q25);
    gpumem_model_free(q2);
}

/* By hand, Qwen2.5-VL-7B (vision: hidden 1280, gated MLP of 3420, patch
 * 14, merge 2, temporal 2; text hidden 3584) on an H100 at vLLM 0.33.0's
 * defaults (8192 batched tokens, 1024 seqs).
 *  - max_model_len 128000: the largest image is 3584 x 3584 pixels =
 *    256 x 256 patches = 16384 tokens; a video holds 2 x (128000 / 16384)
 *    = 14 frames (the cap) = 7 x 16384 = 114688 tokens, more than an
 *    image, so one dummy video: 114688 x 4 = 458752 patches.
 *    Per patch 4 x 1280 + max(8 x 1280, 3 x 3420) = 15380 elements x 2 B =
 *    30760 B; pixels 3 x 2 x 14 x 14 = 1176 per patch, fp32 plus a bf16
 *    copy = 7056 B. Peak 458752 x (30760 + 7056) = 17,348,165,632 B.
 *  - --limit-mm-per-prompt '{"video": 0}' at max_model_len 8192: one
 *    image, 65536 patches: 65536 x 37816 = 2,478,309,376 B.
 *  - --mm-processor-kwargs '{"max_pixels": 1003520}' as well: 1280 tokens
 *    (1120 x 896 pixels), 8192 / 1280 = 6 images of 5120 patches:
 *    6 x 5120 x 37816 = 1,161,707,520 B, under the text pass; what stays
 *    through the text forward: 6 x 1280 x 3584 x 2 B of outputs +
 *    6 x 5120 x 1176 x 4 B of pixels = 55,050,240 + 144,506,880 =
 *    199,557,120 B over the text model's peak.
 *  - vLLM 0.11.0 rotates q and k in fp32 (apply_rotary_pos_emb_vision:
 *    t.float() and an fp32 result, 8 more widths in bf16): the image-only
 *    case above at 0.11.0 (also 16384 tokens) holds per patch
 *    4 x 1280 + (8 + 8) x 1280 = 25600 elements x 2 B + 7056 B of pixels:
 *    65536 x (51200 + 7056) = 3,817,865,216 B. */
static void test_profile_bytes_by_hand(void **state)
{
    (void)state;
    gpumem_model *m = load_or_fail("qwen2.5-vl-7b"), *text = load_or_fail("qwen2.5-7b");
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.engine = GPUMEM_ENGINE_VLLM;
    s.gpu = gpu_or_fail("h100-sxm");
    s.max_model_len = 128000;
    gpumem_estimate *e = estimate_or_fail(m, &s);
    assert_int_equal(component(e, "activations"), 17348165632ull);
    free(e);
    s.max_model_len = 8192;
    s.limit_mm_video = 0;
    e = estimate_or_fail(m, &s);
    assert_int_equal(component(e, "activations"), 2478309376ull);
    free(e);
    s.vllm_version = "0.11.0";
    e = estimate_or_fail(m, &s);
    assert_int_equal(component(e, "activations"), 3817865216ull);
    free(e);
    s.vllm_version = NULL;
    s.mm_max_pixels = 1003520;
    e = estimate_or_fail(m, &s);
    gpumem_estimate *t = estimate_or_fail(text, &s);
    assert_int_equal(component(e, "activations") - component(t, "activations"), 199557120ull);
    free(e);
    free(t);
    /* Both modalities off: no encoder pass, the text model's peak. */
    s.limit_mm_image = 0;
    e = estimate_or_fail(m, &s);
    t = estimate_or_fail(text, &s);
    assert_int_equal(component(e, "activations"), component(t, "activations"));
    free(e);
    free(t);
    gpumem_model_free(m);
    gpumem_model_free(text);
}

/* max_pixels is Qwen-VL's image processor option, and needs at least one
 * merged patch (28 x 28) and min_pixels (56 x 56). */
static void test_max_pixels_checked(void **state)
{
    (void)state;
    gpumem_model *m = load_or_fail("qwen2.5-vl-7b"), *llava = load_or_fail("llava-1.5-7b");
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.engine = GPUMEM_ENGINE_VLLM;
    s.gpu = gpu_or_fail("h100-sxm");
    s.max_model_len = 8192;
    s.mm_max_pixels = 3135;
    gpumem_estimate e;
    gpumem_error err;
    assert_int_equal(gpumem_estimate_inference(m, &s, &e, &err), GPUMEM_ERR_USAGE);
    s.mm_max_pixels = 1003520;
    assert_int_equal(gpumem_estimate_inference(llava, &s, &e, &err), GPUMEM_ERR_USAGE);
    gpumem_model_free(m);
    gpumem_model_free(llava);
}

static gpumem_model *load_file_or_fail(const char *path)
{
    gpumem_model *m = NULL;
    gpumem_error err;
    if (gpumem_model_load_config_file(path, &m, &err) != GPUMEM_OK)
        fail_msg("%s: %s", path, err.message);
    return m;
}

/* LLaVA-NeXT and Llama 4 tile their images:
 * validation/measurements/vllm_tiled_vision_profile.jsonl holds what vLLM
 * 0.11.0 and 0.33.0 computed (validation/vllm/tiled_vision_profile_
 * reference.py: get_image_size_with_most_features, get_num_image_tokens /
 * _prompt_split_image, the tiles of _postprocess_hf_mm_data /
 * get_anyres_image_grid_shape, compute_mm_encoder_budget and the item
 * count). Every row must give the same tokens per item, budget, items, and
 * tiles x patches per tile for the patches the tower encodes. */
static void test_tiled_profile_matches_vllm(void **state)
{
    (void)state;
    gpumem_model *next = load_file_or_fail(LLAVA_NEXT), *scout = load_or_fail("llama-4-scout"),
                 *maverick = load_or_fail("llama-4-maverick");
    FILE *f = fopen(TILED, "r");
    assert_non_null(f);
    char line[4096];
    size_t n = 0, per_model[3] = {0, 0, 0};
    while (fgets(line, sizeof line, f)) {
        json_t *r = json_loads(line, 0, NULL);
        assert_non_null(r);
        const char *ver = json_string_value(json_object_get(r, "vllm"));
        const char *model = json_string_value(json_object_get(r, "model"));
        const vllm_version *v = vllm_version_find(ver);
        assert_non_null(v);
        size_t k = strcmp(model, "llava-v1.6-mistral-7b") == 0 ? 0
                   : strcmp(model, "llama-4-scout") == 0   ? 1
                                                           : 2;
        const gpumem_model *m = k == 0 ? next : k == 1 ? scout : maverick;
        vllm_mm_args a = {num(r, "max_num_batched_tokens"), num(r, "max_model_len"),
                          num(r, "max_num_seqs"), 1, 2, 0, limit(r, "image"), -1};
        vllm_mm_profile p;
        assert_int_equal(vllm_mm_profile_for(m, v, &a, &p, NULL), GPUMEM_OK);
        if (p.video || p.tokens != num(r, "image_tokens") || p.budget != num(r, "encoder_budget") ||
            p.items != num(r, "items") ||
            m->vision_patches != num(r, "tiles") * num(r, "patches_per_tile") ||
            m->vision_tokens != num(r, "image_embeds"))
            fail_msg("%s %s row %zu: gpumem %llu tokens (%llu embeds), budget %llu, %llu items, "
                     "%llu patches; vLLM %llu (%llu), %llu, %llu, %llu x %llu",
                     ver, model, n + 1, (unsigned long long)p.tokens,
                     (unsigned long long)m->vision_tokens, (unsigned long long)p.budget,
                     (unsigned long long)p.items, (unsigned long long)m->vision_patches,
                     (unsigned long long)num(r, "image_tokens"),
                     (unsigned long long)num(r, "image_embeds"),
                     (unsigned long long)num(r, "encoder_budget"),
                     (unsigned long long)num(r, "items"), (unsigned long long)num(r, "tiles"),
                     (unsigned long long)num(r, "patches_per_tile"));
        per_model[k]++;
        n++;
        json_decref(r);
    }
    fclose(f);
    assert_true(per_model[0] >= 100 && per_model[1] >= 100 && per_model[2] >= 100);
    gpumem_model_free(next);
    gpumem_model_free(scout);
    gpumem_model_free(maverick);
}

/* By hand, vLLM 0.33.0's defaults on one GPU (8192 batched tokens, 1024
 * seqs), max_model_len 32768.
 *  - LLaVA-v1.6-Mistral-7B (CLIP 336/14: 577 patches a tile with the class
 *    token; hidden 1024, MLP 4096; fp16; text hidden 4096): the 672 x 672
 *    pinpoint wins: 2 x 2 tiles + the base = 5 tiles; tokens 576 (base)
 *    + 48 x 48 (unpadded grid) + 48 (newlines) = 2928; 8192 / 2928 = 2
 *    images of 5 x 577 = 2885 patches. Per patch 2 x 1024 + max(4 x 1024,
 *    2 x 4096) = 10240 elements x 2 B = 20480 B; pixels 5 x 3 x 336 x 336
 *    = 1,693,440 per image, fp32 + an fp16 copy = 6 B each. Peak
 *    2 x 2885 x 20480 + 2 x 1,693,440 x 6 = 118,169,600 + 20,321,280 =
 *    138,490,880 B; held: 2 x 2928 x 4096 x 2 + 2 x 1,693,440 x 4 =
 *    47,972,352 + 13,547,520 = 61,519,872 B.
 *  - Llama 4 Scout from the catalog (its vision_config: image 336, patch
 *    14, hidden 1408, MLP 5632, pixel_shuffle_ratio 0.5; bf16; text hidden
 *    5120): 17 tiles of 576 x 0.25 = 144 tokens = 2448 tokens, 3 images
 *    (8192 / 2448), each 17 x 577 = 9809 patches. Per patch 2 x 1408 +
 *    max((4 + 8) x 1408, 2 x 5632) = 19712 elements x 2 B = 39424 B;
 *    pixels 17 x 3 x 336 x 336 = 5,757,696 an image. Peak 3 x 9809 x 39424
 *    + 3 x 5,757,696 x 6 = 1,160,130,048 + 103,638,528 = 1,263,768,576 B;
 *    held 3 x 2448 x 5120 x 2 + 3 x 5,757,696 x 4 = 75,202,560 +
 *    69,092,352 = 144,294,912 B.
 *  - Scout at 0.11.0: 2448 + 19 (16 row separators, image start/end,
 *    <|image|>) = 2467 tokens budgeted, still 3 images, each output padded
 *    to the 8192-token budget: 3 x 8192 x 5120 x 2 + 69,092,352 =
 *    320,750,592 B held. */
static void test_tiled_bytes_by_hand(void **state)
{
    (void)state;
    gpumem_model *next = load_file_or_fail(LLAVA_NEXT), *scout = load_or_fail("llama-4-scout");
    vllm_mm_args a = {8192, 32768, 1024, 1, 2, 0, -1, -1};
    vllm_mm_profile p;
    assert_int_equal(vllm_mm_profile_for(next, vllm_version_find("0.33.0"), &a, &p, NULL),
                     GPUMEM_OK);
    assert_int_equal(p.tokens, 2928);
    assert_int_equal(p.items, 2);
    assert_int_equal(p.encoder_peak, 138490880ull);
    assert_int_equal(p.held, 61519872ull);
    assert_int_equal(vllm_mm_profile_for(scout, vllm_version_find("0.33.0"), &a, &p, NULL),
                     GPUMEM_OK);
    assert_int_equal(p.tokens, 2448);
    assert_int_equal(p.items, 3);
    assert_int_equal(p.encoder_peak, 1263768576ull);
    assert_int_equal(p.held, 144294912ull);
    assert_int_equal(vllm_mm_profile_for(scout, vllm_version_find("0.11.0"), &a, &p, NULL),
                     GPUMEM_OK);
    assert_int_equal(p.tokens, 2467);
    assert_int_equal(p.items, 3);
    assert_int_equal(p.held, 320750592ull);
    /* The estimate counts the pass: its activations note names the dummy
     * images, the vision_weights note no longer says "not modelled". */
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.engine = GPUMEM_ENGINE_VLLM;
    s.gpu = gpu_or_fail("h100-sxm");
    s.max_model_len = 32768;
    gpumem_estimate *e = estimate_or_fail(next, &s);
    for (size_t i = 0; i < e->n_components; i++) {
        if (!strcmp(e->components[i].name, "activations"))
            assert_non_null(strstr(e->components[i].note, "2 dummy images (2928 tokens each)"));
        if (!strcmp(e->components[i].name, "vision_weights"))
            assert_null(strstr(e->components[i].note, "not modelled"));
    }
    free(e);
    gpumem_model_free(next);
    gpumem_model_free(scout);
}

/* image_grid_pinpoints must be [height, width] pairs of at least one tile
 * (image_size 336): anything else is refused with the key's name. */
static void test_pinpoints_checked(void **state)
{
    (void)state;
    static const char *const bad[] = {"[]", "[[100, 100]]", "[[336]]", "[[336, \"672\"]]",
                                      "{\"a\": 1}"};
    json_t *cfg = json_load_file(LLAVA_NEXT, 0, NULL);
    assert_non_null(cfg);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_object_set_new(cfg, "image_grid_pinpoints", json_loads(bad[i], JSON_DECODE_ANY, NULL));
        char *text = json_dumps(cfg, 0);
        gpumem_model *m = NULL;
        gpumem_error err;
        assert_int_equal(gpumem_model_load_config_json(text, strlen(text), "next", &m, &err),
                         GPUMEM_ERR_INVALID);
        assert_non_null(strstr(err.message, "image_grid_pinpoints"));
        free(text);
    }
    json_decref(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_profile_matches_vllm),
        cmocka_unit_test(test_profile_bytes_by_hand),
        cmocka_unit_test(test_max_pixels_checked),
        cmocka_unit_test(test_tiled_profile_matches_vllm),
        cmocka_unit_test(test_tiled_bytes_by_hand),
        cmocka_unit_test(test_pinpoints_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
