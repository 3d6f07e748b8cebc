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
