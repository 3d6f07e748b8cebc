#include "error_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const status_text[GPUMEM_ERR_COUNT] = {
    [GPUMEM_OK] = "success",
    [GPUMEM_ERR_USAGE] = "invalid setting",
    [GPUMEM_ERR_IO] = "input/output error",
    [GPUMEM_ERR_PARSE] = "malformed input",
    [GPUMEM_ERR_INVALID] = "invalid model description",
    [GPUMEM_ERR_UNSUPPORTED] = "unsupported input",
    [GPUMEM_ERR_NOT_FOUND] = "not found",
    [GPUMEM_ERR_OVERFLOW] = "size overflow",
    [GPUMEM_ERR_NOMEM] = "out of memory",
};

const char *gpumem_strerror(gpumem_status code)
{
    if ((int)code < 0 || code >= GPUMEM_ERR_COUNT)
        return "unknown error";
    return status_text[code];
}

const char *gpumem_version(void) { return GPUMEM_VERSION; }

size_t gpumem_struct_size(const char *name)
{
    static const struct {
        const char *name;
        size_t size;
    } sizes[] = {
        {"error", sizeof(gpumem_error)},
        {"model_info", sizeof(gpumem_model_info)},
        {"catalog_model", sizeof(gpumem_catalog_model)},
        {"gpu", sizeof(gpumem_gpu)},
        {"local_gpu", sizeof(gpumem_local_gpu)},
        {"device_target", sizeof(gpumem_device_target)},
        {"settings", sizeof(gpumem_settings)},
        {"component", sizeof(gpumem_component)},
        {"device", sizeof(gpumem_device)},
        {"vllm_info", sizeof(gpumem_vllm_info)},
        {"device_map_info", sizeof(gpumem_device_map_info)},
        {"estimate", sizeof(gpumem_estimate)},
        {"train_settings", sizeof(gpumem_train_settings)},
        {"fit_request", sizeof(gpumem_fit_request)},
        {"fit_plan", sizeof(gpumem_fit_plan)},
    };
    for (size_t i = 0; name && i < sizeof sizes / sizeof sizes[0]; i++)
        if (strcmp(sizes[i].name, name) == 0)
            return sizes[i].size;
    return 0;
}

static void fill(gpumem_error *err, gpumem_status code, const char *file, int64_t offset,
                 int line, int column, const char *fmt, va_list ap)
{
    err->code = code;
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    snprintf(err->file, sizeof err->file, "%s", file ? file : "");
    err->offset = offset;
    err->line = line;
    err->column = column;
}

gpumem_status err_set(gpumem_error *err, gpumem_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        fill(err, code, NULL, -1, 0, 0, fmt, ap);
        va_end(ap);
    }
    return code;
}

gpumem_status err_set_at(gpumem_error *err, gpumem_status code, const char *file,
                         int64_t offset, int line, int column, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        fill(err, code, file, offset, line, column, fmt, ap);
        va_end(ap);
    }
    return code;
}

void err_set_file(gpumem_error *err, const char *file)
{
    if (err && file)
        snprintf(err->file, sizeof err->file, "%s", file);
}
