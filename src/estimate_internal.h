/* What every engine profile receives and how it reports. */
#ifndef GPUMEM_ESTIMATE_INTERNAL_H
#define GPUMEM_ESTIMATE_INTERNAL_H

#include "device_map_internal.h"
#include "error_internal.h"
#include "model_internal.h"

#include <stdbool.h>

/* Settings after defaults and checks. */
typedef struct {
    gpumem_dtype dtype;    /* weight storage */
    bool dtype_given;      /* set by the user: overrides a file's own storage */
    gpumem_dtype compute;  /* activations */
    gpumem_dtype kv_dtype;
    uint64_t batch, context, new_tokens;
    uint32_t images; /* per sequence: the vision tower's pass in the prefill */
    bool double_quant; /* NF4 with bitsandbytes' double quantisation */
    gpumem_attn attn;
    gpumem_cache cache;
    uint32_t tp; /* tensor-parallel ranks */
} engine_req;

/* Builds one GPU's components (rank 0, the most loaded) into `gpu`. */
typedef gpumem_status (*engine_fn)(const gpumem_model *m, const engine_req *r,
                                   gpumem_device *gpu, gpumem_error *err);

typedef struct {
    const char *name;
    const char *version; /* the engine version whose behaviour is modelled */
    engine_fn run;
} engine_profile;

const engine_profile *engine_get(gpumem_engine engine);

/* Appends a component; fails on overflow of the device total or on too
 * many components. */
gpumem_status device_add(gpumem_device *d, const char *name, uint64_t bytes, gpumem_error *err,
                         const char *note_fmt, ...) GPUMEM_PRINTF(5, 6);

gpumem_status engine_transformers(const gpumem_model *m, const engine_req *r,
                                  gpumem_device *gpu, gpumem_error *err);
gpumem_status engine_simple(const gpumem_model *m, const engine_req *r, gpumem_device *gpu,
                            gpumem_error *err);

/* transformers under a device_map: places the modules (device_map.c) and
 * fills every GPU, and the host when modules are offloaded there. */
gpumem_status engine_transformers_device_map(const gpumem_model *m, const engine_req *r,
                                             const dm_request *rq, gpumem_estimate *out,
                                             gpumem_error *err);

/* llama.cpp fills every device of `out` itself (GPU and host). */
gpumem_status engine_llamacpp(const gpumem_model *m, const engine_req *r,
                              const gpumem_settings *s, gpumem_estimate *out, gpumem_error *err);

/* The CUDA context transformers' engine models per GPU (engine_transformers.c). */
extern const uint64_t transformers_cuda_context_bytes;

/* A listed GPU's budget: its own, or the GPU's memory. */
uint64_t target_budget(const gpumem_device_target *t);

/* Layer i's experts are on the host by -ot (settings cpu_moe_mask). */
static inline bool cpu_moe_masked(const uint64_t *mask, uint32_t i)
{
    return i < GPUMEM_MAX_MASK_LAYERS && (mask[i / 64] >> (i % 64) & 1);
}

/* llama.cpp -ot split layers (expert_override.c): the pattern tail of a
 * part ("ffn_down.*"), the bytes of layer l it moves (of them routed
 * experts: *exps), and the move of layer il in s (the first listed, as
 * llama.cpp's first matching item wins), NULL when none. */
const char *ffn_part_pattern(gpumem_ffn_part part);
uint64_t ffn_part_bytes(const model_layer *l, gpumem_ffn_part part, uint64_t *exps);
const gpumem_ffn_move *ffn_move_of(const gpumem_settings *s, uint32_t il);

/* Ceil division, for per-rank shares. */
static inline uint64_t div_up(uint64_t a, uint64_t b) { return a / b + (a % b != 0); }

#endif
