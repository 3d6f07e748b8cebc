#ifndef GPUMEM_ERROR_INTERNAL_H
#define GPUMEM_ERROR_INTERNAL_H

#include "gpumem.h"

#if defined(__GNUC__)
#define GPUMEM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define GPUMEM_PRINTF(a, b)
#endif

/* Returns from the calling function when `expr` is not GPUMEM_OK. */
#define TRY(expr)                                                                             \
    do {                                                                                      \
        gpumem_status st_ = (expr);                                                           \
        if (st_ != GPUMEM_OK)                                                                 \
            return st_;                                                                       \
    } while (0)

/* Fills `err` (if non-NULL) and returns `code`, so callers can write
 * `return err_set(err, GPUMEM_ERR_USAGE, "batch must be >= 1");`. */
gpumem_status err_set(gpumem_error *err, gpumem_status code, const char *fmt, ...)
    GPUMEM_PRINTF(3, 4);
/* Same, with a position: file (may be NULL), byte offset (-1 if unknown),
 * line and column (0 if unknown). */
gpumem_status err_set_at(gpumem_error *err, gpumem_status code, const char *file,
                         int64_t offset, int line, int column, const char *fmt, ...)
    GPUMEM_PRINTF(7, 8);
/* Sets the file of an error already filled, keeping its position. */
void err_set_file(gpumem_error *err, const char *file);

#endif
