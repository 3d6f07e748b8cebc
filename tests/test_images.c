/* Images in a transformers prompt (settings.images) against the tensor-level
 * traces of transformers 5.24 itself: every row of
 * validation/measurements/torch_inference.jsonl with "images" (generate
 * with pixel_values, validation/measure_torch.py --images, on the CPU and on
 * the meta device) is compared by its peak. Where the vision tower sets the
 * peak (gpumem's "images" component says so) the bytes beyond the weights
 * must be within 1% of the trace; every case must be under by no more than
 * 3% in total, and the catalog models' cases within 5%. One case by hand. */
#include "test_helpers.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>

static const char *const predicted[] = {"weights",    "vision_weights", "kv_cache",
                                        "activations", "logits",         "images"};

static uint64_t maybe_component(const gpumem_estimate *e, const char *name)
{
    for (size_t i = 0; i < e->n_components; i++)
        if (!strcmp(e->components[i].name, name))
            return e->components[i].bytes;
    return 0;
}

static const gpumem_component *find_component(const gpumem_estimate *e, const char *name)
{
    for (size_t i = 0; i < e->n_components; i++)
        if (!strcmp(e->components[i].name, name))
            return &e->components[i];
    return NULL;
}

static gpumem_model *row_model(json_t *row)
{
    gpumem_model *m = NULL;
    gpumem_error err;
    const char *id = json_string_value(json_object_get(row, "model"));
    if (id)
        return load_or_fail(id);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", GPUMEM_SOURCE_DIR,
             json_string_value(json_object_get(row, "config")));
    if (gpumem_model_load(path, &m, &err) != GPUMEM_OK)
        fail_msg("%s: %s", path, err.message);
    return m;
}

typedef struct {
    int rows, tower_rows;
    double worst_under, worst_tower;
} tally;

static void check_row(json_t *row, tally *t)
{
    const char *name = json_string_value(json_object_get(row, "case"));
    gpumem_model *m = row_model(row);
    gpumem_settings s;
    gpumem_error err;
    gpumem_settings_init(&s);
    s.dtype_set = 1;
    if (gpumem_dtype_parse(json_string_value(json_object_get(row, "dtype")), &s.dtype, &err) ||
        gpumem_attn_parse(json_string_value(json_object_get(row, "attn")), &s.attn, &err))
        fail_msg("%s: %s", name, err.message);
    s.batch = (uint64_t)json_integer_value(json_object_get(row, "batch"));
    s.context = (uint64_t)json_integer_value(json_object_get(row, "context"));
    s.images = (uint32_t)json_integer_value(json_object_get(row, "images"));
    gpumem_estimate *e = estimate_or_fail(m, &s);
    json_t *meas = json_object_get(row, "measured");
    double peak = (double)json_integer_value(json_object_get(meas, "peak_bytes"));
    double weights = (double)json_integer_value(json_object_get(meas, "weights"));
    double total = 0;
    for (size_t k = 0; k < sizeof predicted / sizeof predicted[0]; k++)
        total += (double)maybe_component(e, predicted[k]);
    double rel = (total - peak) / peak;
    if (rel < -0.03)
        fail_msg("%s: gpumem %.0f bytes, measured %.0f (%.2f%%)", name, total, peak, 100 * rel);
    if (json_object_get(row, "model") && rel > 0.05)
        fail_msg("%s: gpumem %.0f bytes, measured %.0f (+%.2f%%)", name, total, peak, 100 * rel);
    t->worst_under = rel < t->worst_under ? rel : t->worst_under;
    const gpumem_component *img = find_component(e, "images");
    assert_non_null(img);
    if (!strncmp(img->note + strcspn(img->note, ":") + 2, "the vision tower", 16)) {
        double w = (double)(maybe_component(e, "weights") + maybe_component(e, "vision_weights"));
        double act = (total - w - (peak - weights)) / (peak - weights);
        if (fabs(act) > 0.01)
            fail_msg("%s: beyond the weights gpumem %.0f, measured %.0f (%+.2f%%)", name, total - w,
                     peak - weights, 100 * act);
        t->worst_tower = fabs(act) > t->worst_tower ? fabs(act) : t->worst_tower;
        t->tower_rows++;
    }
    t->rows++;
    free(e);
    gpumem_model_free(m);
}

static void test_image_prompts_match_traces(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/validation/measurements/torch_inference.jsonl",
             GPUMEM_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("missing %s", path);
    static char line[1 << 16];
    tally t = {0, 0, 0, 0};
    while (fgets(line, sizeof line, f)) {
        if (!strstr(line, "\"images\": "))
            continue;
        json_error_t jerr;
        json_t *row = json_loads(line, 0, &jerr);
        if (!row)
            fail_msg("%s: %s", path, jerr.text);
        if (json_object_get(row, "measured"))
            check_row(row, &t);
        json_decref(row);
    }
    fclose(f);
    printf("  %d image cases: worst total %.2f%%; %d set by the vision tower, within %.3f%%\n",
           t.rows, 100 * t.worst_under, t.tower_rows, 100 * t.worst_tower);
    assert_true(t.rows >= 60);
    assert_true(t.tower_rows >= 20);
}

/* Gemma 3 4B, one 896 x 896 image, eager attention, bf16, 600 tokens: the
 * SigLIP tower (4096 patches, hidden 1152, 16 heads) peaks at a layer's
 * softmax with pixel_values 3 x 896 x 896 x 2 = 4816896, six [4096, 1152]
 * bf16 tensors 6 x 9437184 = 56623104, the scores 16 x 4096^2 in bf16, fp32
 * upcast and fp32 softmax 268435456 x 10 = 2684354560, and the int64
 * input_ids, attention mask and its masked copy 3 x 600 x 8 = 14400:
 * 2745808960 bytes beyond the weights, before any KV cache exists (the
 * trace, gemma-3-4b-it|prefill|bf16|b1|s600|i1|eager|...|meta: 2745808976). */
static void test_gemma3_eager_tower_by_hand(void **state)
{
    (void)state;
    gpumem_model *m = load_or_fail("gemma-3-4b-it");
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.context = 600;
    s.images = 1;
    s.attn = GPUMEM_ATTN_EAGER;
    gpumem_estimate *e = estimate_or_fail(m, &s);
    uint64_t beyond = component(e, "kv_cache") + component(e, "activations") +
                      component(e, "logits") + component(e, "images");
    assert_int_equal(beyond, 2745808960ull);
    free(e);
    gpumem_model_free(m);
}

static void test_images_refused_where_not_modelled(void **state)
{
    (void)state;
    gpumem_estimate *e = malloc(sizeof *e);
    assert_non_null(e);
    gpumem_error err;
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.images = 1;
    s.context = 1024;
    gpumem_model *m = load_or_fail("llama-3.1-8b"); /* no vision tower */
    assert_int_equal(gpumem_estimate_inference(m, &s, e, &err), GPUMEM_ERR_UNSUPPORTED);
    gpumem_model_free(m);
    m = load_or_fail("qwen2.5-vl-7b"); /* dynamic resolution: not modelled */
    assert_int_equal(gpumem_estimate_inference(m, &s, e, &err), GPUMEM_ERR_UNSUPPORTED);
    gpumem_model_free(m);
    m = load_or_fail("gemma-3-4b-it");
    s.context = 256; /* 256 image tokens and no text token */
    assert_int_equal(gpumem_estimate_inference(m, &s, e, &err), GPUMEM_ERR_USAGE);
    assert_non_null(strstr(err.message, "cannot hold"));
    s.context = 1024;
    s.engine = GPUMEM_ENGINE_VLLM;
    assert_int_equal(gpumem_estimate_inference(m, &s, e, &err), GPUMEM_ERR_USAGE);
    gpumem_model_free(m);
    free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_image_prompts_match_traces),
        cmocka_unit_test(test_gemma3_eager_tower_by_hand),
        cmocka_unit_test(test_images_refused_where_not_modelled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
