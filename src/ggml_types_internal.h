/* ggml tensor types: one table of block size and bytes per block, as
 * ggml's type_traits (ggml/src/ggml.c). */
#ifndef GPUMEM_GGML_TYPES_INTERNAL_H
#define GPUMEM_GGML_TYPES_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

enum { GGML_TYPE_SLOTS = 48 };

typedef struct {
    const char *name;     /* NULL: removed or unknown id */
    uint32_t block_size;  /* elements per block */
    uint32_t type_size;   /* bytes per block */
} ggml_type_traits;

/* NULL when the id names no type this table knows. */
const ggml_type_traits *ggml_type_get(uint32_t id);
/* Bytes of a row-major tensor of `n` elements whose first dimension is
 * `ne0`; false when ne0 is not a multiple of the block or on overflow. */
bool ggml_tensor_bytes(uint32_t id, uint64_t ne0, uint64_t n, uint64_t *out);
/* Looks up a type by name ("Q4_K", "q8_0", ...); -1 if unknown. */
int ggml_type_by_name(const char *name);

#endif
