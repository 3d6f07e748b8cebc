/* safetensors header reader (single files and sharded index): tensor
 * dtypes, shapes and byte ranges, never tensor data. Format:
 * https://github.com/huggingface/safetensors (8-byte little-endian header
 * length, then a JSON object). */
#ifndef GPUMEM_READ_SAFETENSORS_INTERNAL_H
#define GPUMEM_READ_SAFETENSORS_INTERNAL_H

#include "model_internal.h"
#include "source_internal.h"

typedef struct {
    char *name;
    char dtype[12];
    uint64_t n_elems;
    uint64_t bytes;
} st_tensor;

typedef struct {
    st_tensor *tensors;
    size_t n, cap;
    uint64_t data_bytes;  /* sum over tensors */
    uint64_t bytes_read;  /* header bytes read from all files */
    unsigned n_files;
    char quant[32];       /* "gptq", "awq", "bitsandbytes", ... when recognised */
} st_set;

/* Adds one .safetensors file's tensors to `set`. */
gpumem_status st_read_file(byte_source *src, st_set *set, gpumem_error *err);
/* Reads every file of a directory (an index.json's weight_map, or all
 * *.safetensors); returns GPUMEM_ERR_NOT_FOUND when there is none. */
gpumem_status st_read_dir(const char *dir, st_set *set, gpumem_error *err);
void st_free(st_set *set);

/* Adds storage (and, when the model has no architecture, parameter counts)
 * from the tensors to the model description. */
gpumem_status st_attach(gpumem_model *m, const st_set *set, gpumem_error *err);

#endif
