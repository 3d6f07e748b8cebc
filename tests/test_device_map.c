/* transformers' device_map placement against transformers itself: every
 * case of validation/measurements/device_map.jsonl (transformers 5.24.0's
 * _get_device_map over accelerate 1.15.0, run on the meta device by
 * validation/device_map_reference.py, with bitsandbytes 0.50.2's quantizer
 * for the "quant" cases) must put every decoder layer, the embedding, the
 * final norm, lm_head, a vision tower and a projector on the same device as
 * transformers did, give infer_auto_device_map the same max_memory, and
 * size each device's modules as accelerate did, to the byte. Where
 * transformers refused the placement (bitsandbytes weights on the CPU)
 * gpumem must refuse too, and where accelerate split a vision tower gpumem
 * must say it does not model that. The runtime parts are checked by hand. */
#include "test_helpers.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>

static int dev_of(json_t *v)
{
    if (json_is_integer(v))
        return (int)json_integer_value(v);
    if (json_is_string(v) && !strcmp(json_string_value(v), "cpu"))
        return -1;
    fail_msg("unexpected device %s", json_is_string(v) ? json_string_value(v) : "?");
    return -2;
}

static const gpumem_gpu *gpu_or_fail(const char *id)
{
    const gpumem_gpu *g;
    gpumem_error err;
    if (gpumem_gpu_find(id, &g, &err) != GPUMEM_OK)
        fail_msg("%s", err.message);
    return g;
}

/* Settings as the case ran: derived (GPUs, no max_memory) or explicit. */
static void case_settings(json_t *row, gpumem_settings *s)
{
    gpumem_settings_init(s);
    const char *strategy = json_string_value(json_object_get(row, "strategy"));
    gpumem_error err;
    if (gpumem_device_map_parse(strategy, &s->device_map, &err) != GPUMEM_OK)
        fail_msg("%s", err.message);
    json_t *gpus = json_object_get(row, "gpus");
    if (json_is_array(gpus)) {
        size_t n = json_array_size(gpus);
        bool same = true;
        for (size_t i = 1; i < n; i++)
            same &= !strcmp(json_string_value(json_array_get(gpus, i)),
                            json_string_value(json_array_get(gpus, 0)));
        s->gpu = gpu_or_fail(json_string_value(json_array_get(gpus, 0)));
        s->gpus = (uint32_t)n;
        if (!same) { /* a list of different GPUs */
            for (size_t i = 0; i < n; i++)
                s->targets[i].gpu = gpu_or_fail(json_string_value(json_array_get(gpus, i)));
            s->n_targets = (uint32_t)n;
        }
        return;
    }
    json_t *mem = json_object_get(row, "max_memory_in");
    for (uint32_t d = 0;; d++) {
        char key[8];
        snprintf(key, sizeof key, "%u", d);
        json_t *v = json_object_get(mem, key);
        if (!v)
            break;
        s->max_memory[d] = (uint64_t)json_integer_value(v);
        s->n_max_memory = d + 1;
    }
}

/* A row whose placement transformers refused, or gpumem does not model:
 * gpumem must fail with that status. */
static bool check_refused(json_t *row, gpumem_model *m, const gpumem_settings *s)
{
    const char *name = json_string_value(json_object_get(row, "case"));
    json_t *error = json_object_get(row, "error");
    json_t *vision = json_object_get(row, "vision");
    bool refused = json_is_string(error);
    bool split = json_is_string(vision) && !strcmp(json_string_value(vision), "split");
    if (!refused && !split)
        return false;
    gpumem_estimate *e = malloc(sizeof *e);
    assert_non_null(e);
    gpumem_error err;
    gpumem_status st = gpumem_estimate_inference(m, s, e, &err);
    if (st != (refused ? GPUMEM_ERR_USAGE : GPUMEM_ERR_UNSUPPORTED))
        fail_msg("%s: status %d, want a refusal (%s)", name, (int)st,
                 refused ? json_string_value(error) : "vision tower split");
    printf("  %-38s refused as transformers does: %s\n", name, err.message);
    free(e);
    return true;
}

static void check_case(json_t *row, int *layers_checked)
{
    const char *name = json_string_value(json_object_get(row, "case"));
    gpumem_model *m = load_or_fail(json_string_value(json_object_get(row, "model")));
    gpumem_settings s;
    case_settings(row, &s);
    json_t *quant = json_object_get(row, "quant");
    if (json_is_string(quant)) {
        gpumem_error err;
        s.dtype_set = 1;
        if (gpumem_dtype_parse(json_string_value(quant), &s.dtype, &err) != GPUMEM_OK)
            fail_msg("%s", err.message);
    }
    if (check_refused(row, m, &s)) {
        gpumem_model_free(m);
        return;
    }
    gpumem_estimate *e = estimate_or_fail(m, &s);
    const gpumem_device_map_info *dm = &e->device_map;
    assert_int_equal(dm->present, 1);

    json_t *used = json_object_get(row, "max_memory_used");
    for (uint32_t d = 0; d < dm->n_gpus; d++) {
        char key[8];
        snprintf(key, sizeof key, "%u", d);
        uint64_t want = (uint64_t)json_integer_value(json_object_get(used, key));
        if (dm->max_memory[d] != want)
            fail_msg("%s: max_memory[%u] %llu, transformers %llu", name, d,
                     (unsigned long long)dm->max_memory[d], (unsigned long long)want);
    }
    json_t *layers = json_object_get(row, "layers");
    assert_int_equal(json_array_size(layers), dm->n_layers);
    for (uint32_t i = 0; i < dm->n_layers; i++)
        if (dm->layer_device[i] != dev_of(json_array_get(layers, i)))
            fail_msg("%s: layer %u on %d, transformers %d", name, i, dm->layer_device[i],
                     dev_of(json_array_get(layers, i)));
    *layers_checked += (int)dm->n_layers;
    assert_int_equal(dm->embed_device, dev_of(json_object_get(row, "embed")));
    assert_int_equal(dm->norm_device, dev_of(json_object_get(row, "norm")));
    assert_int_equal(dm->lm_head_device, dev_of(json_object_get(row, "lm_head")));
    json_t *vision = json_object_get(row, "vision"), *proj = json_object_get(row, "projector");
    assert_int_equal(dm->vision_device, vision ? dev_of(vision) : -2);
    assert_int_equal(dm->projector_device, proj ? dev_of(proj) : -2);

    json_t *bytes = json_object_get(row, "device_bytes");
    for (uint32_t d = 0; d <= dm->n_gpus; d++) {
        char key[8];
        if (d == dm->n_gpus)
            snprintf(key, sizeof key, "cpu");
        else
            snprintf(key, sizeof key, "%u", d);
        uint64_t want = (uint64_t)json_integer_value(json_object_get(bytes, key));
        uint64_t got = dm->sized_bytes[d];
        if (dm->weight_bytes[d] < got) /* loaded never less than accelerate's sizing */
            fail_msg("%s: %s loads %llu bytes, sized %llu", name, key,
                     (unsigned long long)dm->weight_bytes[d], (unsigned long long)got);
        if (!want && !got)
            continue;
        if (got != want)
            fail_msg("%s: %s holds %llu bytes, transformers %llu", name, key,
                     (unsigned long long)got, (unsigned long long)want);
    }
    printf("  %-38s placement equal, sizes per device equal\n", name);
    free(e);
    gpumem_model_free(m);
}

static void test_placement_matches_transformers(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/validation/measurements/device_map.jsonl", GPUMEM_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("missing %s", path);
    char line[16384];
    int rows = 0, layers = 0;
    while (fgets(line, sizeof line, f)) {
        json_error_t jerr;
        json_t *row = json_loads(line, 0, &jerr);
        if (!row)
            fail_msg("%s: %s", path, jerr.text);
        check_case(row, &layers);
        json_decref(row);
        rows++;
    }
    fclose(f);
    printf("  %d cases, %d layer placements equal to transformers'\n", rows, layers);
    assert_true(rows >= 15);
}

/* get_balanced_memory by hand, Llama-3.1-8B bf16 on two RTX 4090s
 * (23.64 GiB = 25383256719 bytes each; 512 MiB CUDA context):
 * free = 25383256719 - 536870912 = 24846385807 per GPU; the model weighs
 * 8030261248 params x 2 + 512 bytes of rotary buffers = 16060523008;
 * the largest leaf is the embedding, 128256 x 4096 x 2 = 1050673152;
 * GPU 0 is capped at 16060523008 / 2 + 1.25 x 1050673152 = 9343602944,
 * the last GPU keeps its free memory. On one GPU: 90% of the free memory,
 * floor(24846385807 x 0.9) = 22361747226. */
static void test_balanced_memory_by_hand(void **state)
{
    (void)state;
    gpumem_model *m = load_or_fail("llama-3.1-8b");
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.device_map = GPUMEM_DEVICE_MAP_AUTO;
    s.gpu = gpu_or_fail("rtx-4090");
    s.gpus = 2;
    gpumem_estimate *e = estimate_or_fail(m, &s);
    assert_int_equal(e->device_map.max_memory[0], 9343602944ull);
    assert_int_equal(e->device_map.max_memory[1], 24846385807ull);
    assert_int_equal(e->device_map.weight_bytes[0] + e->device_map.weight_bytes[1],
                     16060523008ull);
    free(e);
    s.gpus = 1;
    e = estimate_or_fail(m, &s);
    assert_int_equal(e->device_map.max_memory[0], 22361747226ull);
    free(e);
    gpumem_model_free(m);
}

/* Offloaded layers run on GPU 0: their KV cache is there. Llama-3.1-8B on
 * an 8 GB card keeps layers 0-10 (reference case llama8b-auto-1x4060ti8-cpu)
 * and the cache of all 32 layers, 2 (K, V) x 32 x 8 KV heads x 128 x 4096
 * tokens x 2 bytes = 536870912; the host holds the other 21 layers, the
 * norm and lm_head: 21 x 436224000 + 8192 + 1050673152 = 10211385856, and
 * nothing else. GPU 0 also stages the largest offloaded leaf, lm_head
 * (1050673152), and makes the logits: 128256 x (2 + 4 + 4) = 1282560. */
static void test_offloaded_layers_run_on_gpu0(void **state)
{
    (void)state;
    gpumem_model *m = load_or_fail("llama-3.1-8b");
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.device_map = GPUMEM_DEVICE_MAP_AUTO;
    s.gpu = gpu_or_fail("rtx-4060-ti-8gb");
    s.context = 4096;
    gpumem_estimate *e = estimate_or_fail(m, &s);
    assert_int_equal(e->n_devices, 2);
    assert_string_equal(e->devices[1].name, "host");
    assert_int_equal(e->devices[1].bytes, 10211385856ull);
    assert_int_equal(device_component(e, "gpu0", "kv_cache"), 536870912ull);
    assert_int_equal(device_component(e, "gpu0", "offload_staging"), 1050673152ull);
    assert_int_equal(device_component(e, "gpu0", "logits"), 1282560ull);
    assert_int_equal(device_component(e, "gpu0", "cuda_context"), 512ull << 20);
    free(e);
    gpumem_model_free(m);
}

/* Over two GPUs each keeps its own layers' cache: 16 layers each,
 * 2 x 16 x 8 x 128 x 4096 x 2 = 268435456; lm_head on GPU 1 makes its
 * bf16 output there (128256 x 2) and GPU 0, the inputs' device, the bf16
 * copy and the two fp32 copies (128256 x 10). */
static void test_two_gpus_split_cache_and_logits(void **state)
{
    (void)state;
    gpumem_model *m = load_or_fail("llama-3.1-8b");
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.device_map = GPUMEM_DEVICE_MAP_AUTO;
    s.gpu = gpu_or_fail("rtx-4090");
    s.gpus = 2;
    s.context = 4096;
    gpumem_estimate *e = estimate_or_fail(m, &s);
    assert_int_equal(e->n_devices, 2);
    assert_int_equal(device_component(e, "gpu0", "kv_cache"), 268435456ull);
    assert_int_equal(device_component(e, "gpu1", "kv_cache"), 268435456ull);
    assert_int_equal(device_component(e, "gpu0", "logits"), 1282560ull);
    assert_int_equal(device_component(e, "gpu1", "logits"), 256512ull);
    assert_int_equal(e->fits, 1);
    free(e);
    gpumem_model_free(m);
}

/* bitsandbytes NF4 on load, Llama-3.1-8B on one RTX 4060 Ti 8GB
 * (8589934592 bytes): free 8589934592 - 536870912 = 8053063680; x 0.9 for
 * one GPU (get_balanced_memory), x 0.9 again (quantizer adjust_max_memory):
 * floor(6522981580.8) = 6522981580. accelerate sizes each layer's seven
 * linears at 0.5 byte per weight: q, o 4096 x 4096, k, v 4096 x 1024,
 * gate, up, down 4096 x 14336: 218103808 weights -> 109051904 bytes, plus
 * two bf16 RMSNorms (16384): 109068288; embed_tokens and lm_head stay bf16
 * (128256 x 4096 x 2 = 1050673152 each), the norm 8192, rotary 512:
 * 32 x 109068288 + 2 x 1050673152 + 8192 + 512 = 5591540224. Loaded, each
 * 64-weight block adds an fp32 absmax: 32 x 218103808 / 64 x 4 = 436207616. */
static void test_bnb_nf4_by_hand(void **state)
{
    (void)state;
    gpumem_model *m = load_or_fail("llama-3.1-8b");
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.device_map = GPUMEM_DEVICE_MAP_AUTO;
    s.gpu = gpu_or_fail("rtx-4060-ti-8gb");
    s.dtype_set = 1;
    s.dtype = GPUMEM_DTYPE_INT4;
    gpumem_estimate *e = estimate_or_fail(m, &s);
    assert_int_equal(e->device_map.max_memory[0], 6522981580ull);
    assert_int_equal(e->device_map.sized_bytes[0], 5591540224ull);
    assert_int_equal(e->device_map.weight_bytes[0], 5591540224ull + 436207616ull);
    assert_int_equal(device_component(e, "gpu0", "weights"), 5591540224ull + 436207616ull);
    free(e);
    gpumem_model_free(m);
}

/* bitsandbytes leaves fused MoE experts alone: transformers 5.24 sized
 * Mixtral-8x7B under nf4 (reference case mixtral-nf4-auto-2xa6000) at
 * 91392320000 bytes, of which the bf16 experts alone are
 * 32 x 8 x 3 x 4096 x 14336 x 2 = 90194313216. Without a device_map the
 * weights must be at least that, and at most 0.5% more (the absmax of the
 * attention matrices: 32 x 41943040 / 64 x 4 = 83886080). */
static void test_bnb_keeps_moe_experts_16bit(void **state)
{
    (void)state;
    gpumem_model *m = load_or_fail("mixtral-8x7b");
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.dtype_set = 1;
    s.dtype = GPUMEM_DTYPE_INT4;
    gpumem_estimate *e = estimate_or_fail(m, &s);
    uint64_t w = device_component(e, "gpu0", "weights");
    assert_true(w >= 91392320000ull);
    assert_true(w <= 91392320000ull + 91392320000ull / 200);
    free(e);
    gpumem_model_free(m);
}

static void test_bad_settings(void **state)
{
    (void)state;
    gpumem_model *m = load_or_fail("llama-3.1-8b");
    gpumem_settings s;
    gpumem_error err;
    gpumem_estimate *e = malloc(sizeof *e);
    assert_non_null(e);
    gpumem_device_map dm;
    assert_int_equal(gpumem_device_map_parse("greedy", &dm, &err), GPUMEM_ERR_NOT_FOUND);
    assert_int_equal(gpumem_device_map_parse("balanced_low_0", &dm, &err), GPUMEM_OK);
    assert_int_equal(dm, GPUMEM_DEVICE_MAP_BALANCED_LOW_0);

    gpumem_settings_init(&s);
    s.device_map = GPUMEM_DEVICE_MAP_AUTO;
    assert_int_equal(gpumem_estimate_inference(m, &s, e, &err), GPUMEM_ERR_USAGE);
    assert_non_null(strstr(err.message, "needs GPUs"));

    s.gpu = gpu_or_fail("rtx-4090");
    s.engine = GPUMEM_ENGINE_VLLM;
    assert_int_equal(gpumem_estimate_inference(m, &s, e, &err), GPUMEM_ERR_USAGE);
    s.engine = GPUMEM_ENGINE_TRANSFORMERS;
    s.dtype_set = 1;
    s.dtype = GPUMEM_DTYPE_FP8;
    assert_int_equal(gpumem_estimate_inference(m, &s, e, &err), GPUMEM_ERR_UNSUPPORTED);
    s.dtype_set = 0;
    s.gpus = 2;
    s.n_max_memory = 3;
    assert_int_equal(gpumem_estimate_inference(m, &s, e, &err), GPUMEM_ERR_USAGE);
    free(e);
    gpumem_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_placement_matches_transformers),
        cmocka_unit_test(test_balanced_memory_by_hand),
        cmocka_unit_test(test_offloaded_layers_run_on_gpu0),
        cmocka_unit_test(test_two_gpus_split_cache_and_logits),
        cmocka_unit_test(test_bnb_nf4_by_hand),
        cmocka_unit_test(test_bnb_keeps_moe_experts_16bit),
        cmocka_unit_test(test_bad_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
