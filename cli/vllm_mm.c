#include "vllm_mm.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

enum { MAX_ITEMS = 1 << 20 };
static const json_int_t max_pixels_cap = 1ll << 40;

static int fail(char *msg, size_t n, const char *what, json_t *root)
{
    snprintf(msg, n, "%s", what);
    json_decref(root);
    return -1;
}

static json_t *load_object(const char *text, const char *opt, char *msg, size_t n)
{
    json_error_t e;
    json_t *root = json_loads(text, 0, &e);
    if (!root || !json_is_object(root)) {
        snprintf(msg, n, "--%s wants a JSON object such as %s, got '%s'", opt,
                 strcmp(opt, "limit-mm-per-prompt") == 0 ? "'{\"image\": 2, \"video\": 0}'"
                                                         : "'{\"max_pixels\": 1003520}'",
                 text);
        json_decref(root);
        return NULL;
    }
    return root;
}

int vllm_mm_parse_limits(const char *text, gpumem_settings *s, char *msg, size_t n)
{
    json_t *root = load_object(text, "limit-mm-per-prompt", msg, n);
    if (!root)
        return -1;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        json_t *count = json_is_object(val) ? json_object_get(val, "count") : val;
        if (!json_is_integer(count) || json_integer_value(count) < 0 ||
            json_integer_value(count) > MAX_ITEMS)
            return fail(msg, n, "--limit-mm-per-prompt: each count must be an integer >= 0", root);
        int32_t c = (int32_t)json_integer_value(count);
        if (strcmp(key, "image") == 0)
            s->limit_mm_image = c;
        else if (strcmp(key, "video") == 0)
            s->limit_mm_video = c;
    }
    json_decref(root);
    return 0;
}

int vllm_mm_parse_kwargs(const char *text, gpumem_settings *s, char *msg, size_t n)
{
    json_t *root = load_object(text, "mm-processor-kwargs", msg, n);
    if (!root)
        return -1;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        bool max = strcmp(key, "max_pixels") == 0, min = strcmp(key, "min_pixels") == 0;
        if (!max && !min) {
            snprintf(msg, n,
                     "--mm-processor-kwargs: '%s' is not modelled (max_pixels, min_pixels)", key);
            json_decref(root);
            return -1;
        }
        if (!json_is_integer(val) || json_integer_value(val) <= 0 ||
            json_integer_value(val) > max_pixels_cap)
            return fail(msg, n, "--mm-processor-kwargs: pixel bounds must be positive integers",
                        root);
        if (min && json_integer_value(val) > 56 * 56)
            return fail(msg, n,
                        "--mm-processor-kwargs: only min_pixels up to 3136 (56 x 56) is modelled",
                        root);
        if (max)
            s->mm_max_pixels = (uint64_t)json_integer_value(val);
    }
    json_decref(root);
    return 0;
}
