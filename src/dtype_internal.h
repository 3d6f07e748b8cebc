#ifndef GPUMEM_DTYPE_INTERNAL_H
#define GPUMEM_DTYPE_INTERNAL_H

#include "gpumem.h"

#include <stdbool.h>

/* One row per dtype: the single place its properties live (like ggml's
 * type_traits). Sizes are rational so 4-bit types stay exact. */
typedef struct {
    const char *name;    /* canonical */
    const char *aliases; /* comma-separated */
    uint32_t bytes_num;  /* bytes per element = bytes_num / bytes_den */
    uint32_t bytes_den;
    bool quantized;      /* weight-only quantisation with a 16-bit compute dtype */
    gpumem_dtype compute; /* dtype activations and KV use with these weights */
} dtype_traits;

const dtype_traits *dtype_get(gpumem_dtype dtype);
/* Bytes of n elements, rounded up; false on overflow. */
bool dtype_bytes(gpumem_dtype dtype, uint64_t n, uint64_t *out);
/* Maps a config.json "torch_dtype" string; false when unknown. */
bool dtype_from_torch(const char *name, gpumem_dtype *out);

#endif
