/* Stored bytes of pre-quantised checkpoints (GPTQ, AWQ, FP8, MXFP4), tensor
 * by tensor, from the model description and its quantisation scheme. */
#ifndef GPUMEM_QUANT_INTERNAL_H
#define GPUMEM_QUANT_INTERNAL_H

#include "model_internal.h"

/* One weight matrix of `k` inputs and `n` outputs, `count` times. */
typedef struct {
    uint64_t k, n, count;
} quant_matrix;

enum { QUANT_MAX_MATRICES = 8 };

/* The quantisable matrices of layer l: dense and shared MLP, then
 * attention, in `mats`; routed experts in `experts`. Returns how many
 * attention entries end `mats`: 4 (q, k, v, o), or 1 for layers whose
 * matrices are not enumerated (MLA, SSM: the rest of params_linear as one
 * matrix of n_embd inputs), 0 without attention. Routers stay outside. */
size_t quant_layer_matrices(const gpumem_model *m, const model_layer *l, quant_matrix *mats,
                            size_t *n_mats, quant_matrix *experts, size_t *n_experts);

/* Bytes the checkpoint stores for one k x n matrix under q (the weight and
 * its scales, zeros and index tensors); false on overflow. */
bool quant_matrix_bytes(const model_quant *q, uint64_t k, uint64_t n, uint64_t *out);

/* Fills the model's storage fields (has_storage, bytes_*, storage_desc)
 * with what the checkpoint described by m->quant stores. */
gpumem_status quant_attach_storage(gpumem_model *m, gpumem_error *err);

/* Short name: "gptq", "awq", "fp8", "mxfp4", "bitsandbytes". */
const char *quant_method_name(quant_method q);

#endif
