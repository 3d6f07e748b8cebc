/* transformers' device_map placement (accelerate's infer_auto_device_map as
 * transformers 5.24.0 runs it): the model as accelerate sees it, a small
 * module tree with sizes, and where each module lands. */
#ifndef GPUMEM_DEVICE_MAP_INTERNAL_H
#define GPUMEM_DEVICE_MAP_INTERNAL_H

#include "error_internal.h"

#include <stdbool.h>
#include <stdint.h>

enum { DM_HOST = -1, DM_ABSENT = -2 };

/* Sizes by accelerate's compute_module_sizes: parameters and buffers, a
 * tied lm_head counted 0 (it follows the embedding). */
typedef struct {
    uint32_t n_layer;
    const uint64_t *layer; /* each decoder layer (a no-split module) */
    uint64_t embed, norm, rotary, lm_head;
    bool tied; /* lm_head.weight is model.embed_tokens.weight */
    /* A multimodal model: model's children are the vision tower, the
     * projector (0: none, the tower holds it) and language_model, which
     * holds embed_tokens, layers, norm and rotary_emb. */
    bool multimodal;
    uint64_t vision, projector;
} dm_sizes;

typedef struct {
    gpumem_device_map strategy;
    uint32_t n_gpus;
    bool user_set;                          /* max_memory given by the user */
    bool quantizer_margin;                  /* bitsandbytes' adjust_max_memory: x 0.9 */
    uint64_t max_memory[GPUMEM_MAX_SPLIT];  /* user's, or each GPU's free memory */
} dm_request;

typedef struct {
    uint64_t max_memory[GPUMEM_MAX_SPLIT]; /* what infer_auto_device_map receives */
    int16_t *layer_dev;                    /* n_layer entries, caller's */
    int16_t embed, norm, rotary, lm_head;
    int16_t vision, projector;             /* DM_ABSENT when the model has none */
    uint64_t bytes[GPUMEM_MAX_SPLIT + 1];  /* per GPU, then the host (index n_gpus) */
} dm_placement;

/* get_balanced_memory / get_max_memory, then infer_auto_device_map. The
 * host ("cpu") is taken as large enough for the rest (no "disk").
 * GPUMEM_ERR_UNSUPPORTED where accelerate would split the vision tower or
 * the projector over two devices (their inner modules are not modelled). */
gpumem_status dm_place(const dm_sizes *sz, const dm_request *rq, dm_placement *out,
                       gpumem_error *err);

#endif
