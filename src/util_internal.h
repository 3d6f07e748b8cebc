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
/* Is `name` one of the comma-separated entries of `list` (case-insensitive)? */
bool str_in_list(const char *name, const char *list);
/* Edit distance, case-insensitive, capped at 255. */
unsigned str_distance(const char *a, const char *b);

/* Reads a whole file (at most `max` bytes) into a NUL-terminated buffer the
 * caller frees. Returns 0, or an errno-like value: ENOENT, EFBIG, EISDIR... */
int file_read_all(const char *path, size_t max, char **out, size_t *len);

#endif
