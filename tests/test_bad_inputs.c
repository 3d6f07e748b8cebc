/* The bad-input corpus: every file in tests/bad/cases.tsv must be rejected
 * with its expected status, a message containing the expected text, and
 * (where given) the expected line:column. Never a crash, never a model. */
#include "test_helpers.h"

#include <string.h>

static const char *const status_names[GPUMEM_ERR_COUNT] = {
    "GPUMEM_OK",          "GPUMEM_ERR_USAGE",       "GPUMEM_ERR_IO",
    "GPUMEM_ERR_PARSE",   "GPUMEM_ERR_INVALID",     "GPUMEM_ERR_UNSUPPORTED",
    "GPUMEM_ERR_NOT_FOUND", "GPUMEM_ERR_OVERFLOW",  "GPUMEM_ERR_NOMEM",
};

typedef gpumem_status (*loader)(const char *path, gpumem_model **out, gpumem_error *err);

static void check_case(const char *dir, loader load, const char *file, const char *status,
                       const char *msg, const char *pos)
{
    char path[2048 + 1024];
    snprintf(path, sizeof path, "%s/tests/%s/%s", GPUMEM_SOURCE_DIR, dir, file);
    gpumem_model *m = NULL;
    gpumem_error err;
    memset(&err, 0, sizeof err);
    gpumem_status st = load(path, &m, &err);
    printf("  %-40s %-24s %s\n", file, gpumem_strerror(st), err.message);
    if (st == GPUMEM_OK)
        fail_msg("%s: accepted", file);
    assert_null(m);
    if (strcmp(status_names[st], status) != 0)
        fail_msg("%s: status %s, expected %s (%s)", file, status_names[st], status, err.message);
    if (!strstr(err.message, msg))
        fail_msg("%s: message '%s' lacks '%s'", file, err.message, msg);
    if (!strstr(err.file, file))
        fail_msg("%s: error names file '%s'", file, err.file);
    if (pos && *pos) {
        char got[32];
        snprintf(got, sizeof got, "%d:%d", err.line, err.column);
        if (strncmp(got, pos, strlen(pos)) != 0)
            fail_msg("%s: position %s, expected %s", file, got, pos);
    }
}

static int run_corpus(const char *dir, loader load)
{
    char path[1024], line[1024];
    snprintf(path, sizeof path, "%s/tests/%s/cases.tsv", GPUMEM_SOURCE_DIR, dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        line[strcspn(line, "\n")] = '\0';
        char *fields[4] = {line, "", "", ""};
        for (int i = 1; i < 4; i++) {
            char *tab = strchr(fields[i - 1], '\t');
            if (!tab)
                break;
            *tab = '\0';
            fields[i] = tab + 1;
        }
        check_case(dir, load, fields[0], fields[1], fields[2], fields[3]);
        n++;
    }
    fclose(f);
    printf("  %d bad inputs in tests/%s rejected as expected\n", n, dir);
    return n;
}

static void test_config_corpus(void **state)
{
    (void)state;
    assert_true(run_corpus("bad", gpumem_model_load_config_file) >= 20);
}

static void test_gguf_corpus(void **state)
{
    (void)state;
    assert_true(run_corpus("bad_gguf", gpumem_model_load_gguf) >= 30);
}

static void test_safetensors_corpus(void **state)
{
    (void)state;
    assert_true(run_corpus("bad_safetensors", gpumem_model_load_safetensors) >= 10);
}

static void test_missing_paths(void **state)
{
    (void)state;
    gpumem_model *m = NULL;
    gpumem_error err;
    assert_int_equal(gpumem_model_load_config_file("/nonexistent/config.json", &m, &err),
                     GPUMEM_ERR_IO);
    assert_non_null(strstr(err.message, "No such file"));
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests", GPUMEM_SOURCE_DIR);
    assert_int_equal(gpumem_model_load_config_file(dir, &m, &err), GPUMEM_ERR_IO);
    assert_non_null(strstr(err.message, "no config.json"));
    assert_int_equal(gpumem_model_load("./no/such/config.json", &m, &err), GPUMEM_ERR_IO);
}

static void test_unknown_names_suggest(void **state)
{
    (void)state;
    gpumem_model *m = NULL;
    gpumem_error err;
    assert_int_equal(gpumem_model_load("llama-3.1-8", &m, &err), GPUMEM_ERR_NOT_FOUND);
    assert_non_null(strstr(err.message, "did you mean"));
    assert_non_null(strstr(err.message, "llama-3.1-8b"));
    const gpumem_gpu *g;
    assert_int_equal(gpumem_gpu_find("rtx-4900", &g, &err), GPUMEM_ERR_NOT_FOUND);
    assert_non_null(strstr(err.message, "rtx-4090"));
    gpumem_dtype d;
    assert_int_equal(gpumem_dtype_parse("fp12", &d, &err), GPUMEM_ERR_NOT_FOUND);
}

static void test_absurd_settings(void **state)
{
    (void)state;
    gpumem_model *m = load_or_fail("gpt2-large");
    gpumem_settings s;
    gpumem_estimate *e = malloc(sizeof *e);
    gpumem_error err;
    gpumem_settings_init(&s);
    s.batch = 0;
    assert_int_equal(gpumem_estimate_inference(m, &s, e, &err), GPUMEM_ERR_USAGE);
    gpumem_settings_init(&s);
    s.context = 4096; /* GPT-2 has 1024 learned positions */
    assert_int_equal(gpumem_estimate_inference(m, &s, e, &err), GPUMEM_ERR_USAGE);
    assert_non_null(strstr(err.message, "learned position"));
    gpumem_settings_init(&s);
    s.gpus = 7; /* 20 heads do not split over 7 GPUs */
    assert_int_equal(gpumem_estimate_inference(m, &s, e, &err), GPUMEM_ERR_USAGE);
    gpumem_settings_init(&s);
    s.gpus = 0;
    assert_int_equal(gpumem_estimate_inference(m, &s, e, &err), GPUMEM_ERR_USAGE);
    double p;
    assert_int_equal(gpumem_params_parse("1e30", &p, &err), GPUMEM_ERR_USAGE);
    assert_int_equal(gpumem_params_parse("-5", &p, &err), GPUMEM_ERR_USAGE);
    assert_int_equal(gpumem_params_parse("7Q", &p, &err), GPUMEM_ERR_USAGE);
    assert_int_equal(gpumem_params_parse("0", &p, &err), GPUMEM_ERR_USAGE);
    assert_int_equal(gpumem_params_parse("1.5b", &p, &err), GPUMEM_OK);
    assert_true(p == 1.5e9);
    free(e);
    gpumem_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_corpus),
        cmocka_unit_test(test_gguf_corpus),
        cmocka_unit_test(test_safetensors_corpus),
        cmocka_unit_test(test_missing_paths),
        cmocka_unit_test(test_unknown_names_suggest),
        cmocka_unit_test(test_absurd_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
