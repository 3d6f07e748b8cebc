/* safetensors reader against files written by the reference writer
 * (safetensors.torch.save_file) and described by its reader (safe_open):
 * tensor count, byte sizes and element counts must agree; a directory with
 * config.json takes its architecture from the config and its weights from
 * the shards, to the byte. */
#include "test_helpers.h"

#include "read_safetensors_internal.h"

#include <jansson.h>
#include <string.h>

static json_t *expected(const char *name)
{
    char path[1024];
    json_error_t jerr;
    snprintf(path, sizeof path, "%s/tests/fixtures/safetensors/%s.expected.json",
             GPUMEM_SOURCE_DIR, name);
    json_t *x = json_load_file(path, 0, &jerr);
    assert_non_null(x);
    return x;
}

static void compare(const st_set *set, json_t *x)
{
    json_t *ts = json_object_get(x, "tensors");
    assert_int_equal(set->n, json_array_size(ts));
    for (size_t i = 0; i < json_array_size(ts); i++) {
        json_t *t = json_array_get(ts, i);
        const char *name = json_string_value(json_object_get(t, "name"));
        const st_tensor *g = NULL;
        for (size_t k = 0; k < set->n; k++)
            if (strcmp(set->tensors[k].name, name) == 0)
                g = &set->tensors[k];
        if (!g)
            fail_msg("gpumem did not read tensor %s", name);
        assert_string_equal(g->dtype, json_string_value(json_object_get(t, "dtype")));
        assert_int_equal(g->n_elems, json_integer_value(json_object_get(t, "n_elements")));
        assert_int_equal(g->bytes, json_integer_value(json_object_get(t, "n_bytes")));
    }
    assert_int_equal(set->data_bytes, json_integer_value(json_object_get(x, "total_bytes")));
}

static void test_single_and_quantised_files(void **state)
{
    (void)state;
    const char *names[] = {"tiny-llama", "quantised-mix"};
    for (size_t i = 0; i < 2; i++) {
        char path[1024];
        byte_source src;
        st_set set;
        gpumem_error err;
        memset(&set, 0, sizeof set);
        snprintf(path, sizeof path, "%s/tests/fixtures/safetensors/%s.safetensors",
                 GPUMEM_SOURCE_DIR, names[i]);
        assert_int_equal(source_open_file(&src, path, &err), GPUMEM_OK);
        if (st_read_file(&src, &set, &err) != GPUMEM_OK)
            fail_msg("%s: %s", names[i], err.message);
        source_close(&src);
        json_t *x = expected(names[i]);
        compare(&set, x);
        printf("  %-14s %zu tensors, %llu bytes: equal to safe_open\n", names[i], set.n,
               (unsigned long long)set.data_bytes);
        json_decref(x);
        st_free(&set);
    }
}

static void test_sharded_directory(void **state)
{
    (void)state;
    char path[1024];
    gpumem_model *m;
    gpumem_error err;
    snprintf(path, sizeof path, "%s/tests/fixtures/safetensors/tiny-llama-sharded/",
             GPUMEM_SOURCE_DIR);
    if (gpumem_model_load(path, &m, &err) != GPUMEM_OK)
        fail_msg("%s", err.message);
    gpumem_model_info info;
    gpumem_model_get_info(m, &info);
    assert_string_equal(info.name, "tiny-llama-sharded");
    assert_string_equal(info.architecture, "llama");
    json_t *x = expected("tiny-llama-sharded");
    /* The config's count (transformers' rule) equals the files' elements. */
    assert_int_equal(info.params, json_integer_value(json_object_get(x, "total_elements")));
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.context = 100;
    gpumem_estimate *e = estimate_or_fail(m, &s);
    assert_int_equal(component(e, "weights"), json_integer_value(json_object_get(x, "total_bytes")));
    /* KV from the config: 2 layers x 2 KV heads x 16 x (K+V) x bf16 x 100. */
    assert_int_equal(component(e, "kv_cache"), 2ull * 2 * 16 * 2 * 2 * 100);
    free(e);
    json_decref(x);
    gpumem_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_and_quantised_files),
        cmocka_unit_test(test_sharded_directory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
