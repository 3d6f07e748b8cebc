/* Every catalog model's parameter count equals what transformers itself
 * reports (model.num_parameters() of the class AutoModelForCausalLM builds,
 * AutoModel for encoders, on the meta device; for a multimodal config the
 * whole model AutoModelForImageTextToText builds, "full_params": text
 * tower, vision tower and projector). The figures come from
 * validation/param_counts.py and are committed as data in
 * validation/measurements/param_counts.jsonl, so this test needs no Python. */
#include "test_helpers.h"

#include <jansson.h>
#include <string.h>

/* Rows of `file`; `config_dir` NULL: catalog ids, else configs in that
 * directory named by the row's id. Returns the rows that matched. */
static int check_file(const char *file, const char *config_dir)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/validation/measurements/%s", GPUMEM_SOURCE_DIR, file);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("missing %s", path);
    char line[8192];
    int rows = 0, errors = 0, multimodal = 0;
    while (fgets(line, sizeof line, f)) {
        json_error_t jerr;
        json_t *row = json_loads(line, 0, &jerr);
        if (!row)
            fail_msg("%s: %s", path, jerr.text);
        const char *id = json_string_value(json_object_get(row, "id"));
        assert_non_null(id);
        if (json_object_get(row, "error")) {
            printf("  %-22s transformers could not build it: %s\n", id,
                   json_string_value(json_object_get(row, "error")));
            errors++;
            json_decref(row);
            continue;
        }
        json_t *full = json_object_get(row, "full_params");
        uint64_t want = (uint64_t)json_integer_value(full ? full : json_object_get(row, "params"));
        gpumem_model *m;
        if (config_dir) {
            char cfg[1024];
            gpumem_error err;
            snprintf(cfg, sizeof cfg, "%s/%s/%s.json", GPUMEM_SOURCE_DIR, config_dir, id);
            if (gpumem_model_load_config_file(cfg, &m, &err) != GPUMEM_OK)
                fail_msg("%s: %s", cfg, err.message);
        } else {
            m = load_or_fail(id);
        }
        gpumem_model_info info;
        gpumem_model_get_info(m, &info);
        printf("  %-22s transformers %15llu  gpumem %15llu  %s\n", id,
               (unsigned long long)want, (unsigned long long)info.params,
               want == info.params ? "equal" : "DIFFERENT");
        if (want != info.params)
            fail_msg("%s: gpumem counts %llu, transformers %llu", id,
                     (unsigned long long)info.params, (unsigned long long)want);
        /* A multimodal model's vision part is reported apart, and is
         * what the full model holds beyond a text tower: at least the
         * difference to the text-only class when both tie alike. */
        if (full && info.vision_params == 0)
            fail_msg("%s: multimodal, but no vision parameters counted", id);
        if (!full && info.vision_params != 0)
            fail_msg("%s: text-only, but %llu vision parameters counted", id,
                     (unsigned long long)info.vision_params);
        if (full && json_is_integer(json_object_get(row, "lm_head_params"))) {
            uint64_t text = (uint64_t)json_integer_value(json_object_get(row, "params"));
            uint64_t head = (uint64_t)json_integer_value(json_object_get(row, "embed_params"));
            uint64_t text_here = info.params - info.vision_params;
            if (text_here != text && text_here != text + head && text_here + head != text)
                fail_msg("%s: text tower %llu, transformers' text-only class %llu (tie aside)",
                         id, (unsigned long long)text_here, (unsigned long long)text);
        }
        multimodal += full != NULL;
        gpumem_model_free(m);
        json_decref(row);
        rows++;
    }
    fclose(f);
    printf("  %s: %d models equal to transformers (%d multimodal, whole model), %d not "
           "buildable there\n",
           file, rows, multimodal, errors);
    return rows;
}

static void test_counts_match_transformers(void **state)
{
    (void)state;
    assert_true(check_file("param_counts.jsonl", NULL) >= 12);
}

/* Architectures the catalog has no genuine config for yet (gemma,
 * qwen2_moe, gpt_bigcode, old falcon, Qwen2-VL, LLaVA-NeXT), class defaults
 * for absent keys, and every multimodal family's lm_head tie rule: small
 * configs in validation/configs/arch/. */
static void test_arch_configs_match_transformers(void **state)
{
    (void)state;
    assert_true(check_file("param_counts_arch.jsonl", "validation/configs/arch") >= 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_counts_match_transformers),
                                       cmocka_unit_test(test_arch_configs_match_transformers)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
