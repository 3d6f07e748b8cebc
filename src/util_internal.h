#ifndef GPUMEM_UTIL_INTERNAL_H
#define GPUMEM_UTIL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gpumem.h"

/* Overflow-checked arithmetic: return false (and leave *out unspecified)
 * when the exact result does not fit in 64 bits. */
static inline bool u64_add(uint64_t a, uint64_t b, uint64_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}
static inline bool u64_mul(uint64_t a, uint64_t b, uint64_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}
/* a*b*c... for n factors. */
bool u64_mul_n(uint64_t *out, size_t n, const uint64_t *factors);

/* Case-insensitive ASCII comparison (locale independent). */
int str_ieq(const char *a, const char *b);
/* Index of `name` in names[0..n) (case-insensitive), or -1. */
int str_index(const char *name, const char *const *names, size_t n);
/* str_index, or GPUMEM_ERR_NOT_FOUND "unknown <what> 'x' (expected a, b, c)". */
gpumem_status name_parse(const char *const *names, int count, const char *what, const char *name,
                         int *out, gpumem_error *err);
/* names[i], or "unknown" out of range. */
static inline const char *name_at(const char *const *names, int count, int i)
{
    return i >= 0 && i < count ? names[i] : "unknown";
}
/* Defines gpumem_<fn>_name() and gpumem_<fn>_parse() of one public settings
 * enum T from its name table. */
#define NAMED_ENUM(T, fn, names, count, what)                                                   \
    const char *gpumem_##fn##_name(T v) { return name_at(names, count, (int)v); }               \
    gpumem_status gpumem_##fn##_parse(const char *name, T *out, gpumem_error *err)              \
    {                                                                                           \
        int i = 0;                                                                              \
        gpumem_status st = name_parse(names, count, what, name, &i, err);                       \
        if (st == GPUMEM_OK)                                                                    \
            *out = (T)i;                                                                        \
        return st;                                                                              \
    }
/* Is `name` one of the comma-separated entries of `list` (case-insensitive)? */
bool str_in_list(const char *name, const char *list);
/* Edit distance, case-insensitive, capped at 255. */
unsigned str_distance(const char *a, const char *b);

/* Reads a whole file (at most `max` bytes) into a NUL-terminated buffer the
 * caller frees. Returns 0, or an errno-like value: ENOENT, EFBIG, EISDIR... */
int file_read_all(const char *path, size_t max, char **out, size_t *len);

/* dlopen(name, RTLD_NOW | RTLD_LOCAL), or NULL in the WebAssembly build (web/),
 * where a browser has no shared libraries: callers report it as not found. */
void *shared_lib_open(const char *name);

#endif
