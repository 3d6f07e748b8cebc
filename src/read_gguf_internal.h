/* GGUF (v2, v3) header reader: metadata and tensor infos, never tensor
 * data. Format: ggml docs/gguf.md and ggml/src/gguf.cpp. */
#ifndef GPUMEM_READ_GGUF_INTERNAL_H
#define GPUMEM_READ_GGUF_INTERNAL_H

#include "source_internal.h"

#include <stdbool.h>

typedef enum {
    GV_U8 = 0, GV_I8, GV_U16, GV_I16, GV_U32, GV_I32, GV_F32, GV_BOOL, GV_STRING, GV_ARRAY,
    GV_U64, GV_I64, GV_F64, GV_COUNT
} gguf_vtype;

enum { GGUF_MAX_DIMS = 4, GGUF_KEEP_ARRAY = 1 << 16, GGUF_KEEP_STRING = 256 };

typedef struct {
    char *key;
    gguf_vtype type;
    union {
        uint64_t u;
        int64_t i;
        double f;
    } v;               /* scalar value (bool as u) */
    char *str;         /* string value, first GGUF_KEEP_STRING bytes */
    uint64_t str_len;  /* its full length */
    gguf_vtype arr_type;
    uint64_t arr_len;
    double *arr;       /* numeric array values when arr_len <= GGUF_KEEP_ARRAY */
    uint64_t offset;   /* byte offset of the key */
} gguf_kv;

typedef struct {
    char *name;
    uint32_t n_dims;
    uint64_t ne[GGUF_MAX_DIMS];
    uint32_t type;
    uint64_t offset; /* relative to the data section */
    uint64_t n_elems;
    uint64_t bytes;
} gguf_tensor;

typedef struct {
    uint32_t version;
    uint64_t n_kv, n_tensors;
    gguf_kv *kv;
    gguf_tensor *tensors;
    uint32_t alignment;
    uint64_t data_offset; /* where tensor data starts */
    uint64_t file_size;
    uint64_t bytes_read;  /* header bytes actually read */
    uint64_t data_bytes;  /* sum of tensor sizes */
} gguf_file;

gpumem_status model_from_gguf(const gguf_file *f, const char *path, gpumem_model **out,
                              gpumem_error *err);

/* A multimodal projector or LoRA adapter GGUF, read by
 * model_from_gguf_extra (model_gguf_extra.c) into a model of that kind. */
bool model_gguf_is_extra(const gguf_file *f);
gpumem_status model_from_gguf_extra(const gguf_file *f, const char *path, gpumem_model **out,
                                    gpumem_error *err);

gpumem_status gguf_read(byte_source *src, gguf_file *out, gpumem_error *err);
void gguf_free(gguf_file *f);

const gguf_kv *gguf_find(const gguf_file *f, const char *key);
/* Scalar integer value (any integer type, or bool); false if absent or not
 * an integer. */
bool gguf_get_uint(const gguf_file *f, const char *key, uint64_t *out);
const char *gguf_get_str(const gguf_file *f, const char *key);
const char *gguf_vtype_name(gguf_vtype t);

#endif
