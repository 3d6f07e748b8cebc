/* Hugging Face config.json → model description. */
#ifndef GPUMEM_READ_CONFIG_INTERNAL_H
#define GPUMEM_READ_CONFIG_INTERNAL_H

#include "model_internal.h"
#include "util_internal.h"

#include <jansson.h>
#include <stdbool.h>

/* A sum of products, overflow-checked: parameter counts add factor pairs. */
typedef struct {
    uint64_t sum;
    bool overflow;
} acc64;

static inline void acc64_add(acc64 *a, uint64_t x, uint64_t y)
{
    uint64_t p;
    if (!u64_mul(x, y, &p) || !u64_add(a->sum, p, &a->sum))
        a->overflow = true;
}

/* Caps on what a config may say (readers name the key they check). */
enum {
    MAX_DIM = 1 << 20,   /* hidden size, head dim */
    MAX_WIDTH = 1 << 24, /* vocab, MLP width */
    MAX_COUNT = 1 << 16, /* heads, experts */
    MAX_CTX = 1 << 30,   /* positions, windows */
};

/* An invalid-config error naming the reader's file (needs a cfg_ctx *c). */
#define BADCFG(...) err_set_at(c->err, GPUMEM_ERR_INVALID, c->file, -1, 0, 0, __VA_ARGS__)

/* Everything an architecture function reads from a config, in one place.
 * compute_params() turns it (plus the per-layer attention/MoE choices the
 * architecture function wrote into the model's layers) into counts. */
typedef struct {
    uint32_t vocab, hidden, layers, heads, kv_heads, head_dim, ff, maxpos;
    bool tie;
    bool qkv_bias, o_bias;
    uint8_t qk_norm;      /* 0 none, 1 one norm of head_dim each, 2 full width */
    bool sinks;           /* one learned sink logit per head (gpt-oss) */
    bool gated, mlp_bias;
    uint8_t ff_live;      /* see model_layer.ff_live */
    uint8_t norm_w;       /* params per norm element: 1 RMSNorm, 2 LayerNorm */
    uint8_t norms_per_layer;
    bool lm_head_bias;
    uint64_t extra_embed; /* position / token-type embeddings */
    uint64_t extra_other; /* beyond the final norm: pooler, embedding norm */
    /* Token embedding (and lm_head) width when it is not hidden (OPT's
     * word_embed_proj_dim, projected in and out); 0: hidden. */
    uint32_t embed_dim;
    bool no_final_norm;   /* no norm after the last layer (OPT post-LN) */
    /* MoE */
    uint32_t n_expert, n_expert_used, ff_expert, ff_shared;
    bool shared_gate, router_bias, expert_bias;
    bool shared_bias;     /* the shared expert's projections carry mlp_bias */
    bool router_compute;  /* see model_layer.moe_weights_compute */
    /* MLA */
    uint32_t q_lora_rank, kv_lora_rank, qk_rope_dim, qk_nope_dim, v_head_dim;
    bool learned_pos, encoder;
    bool softmax_native; /* see gpumem_model.softmax_native */
    bool qkv_fused;      /* see gpumem_model.qkv_fused */
    bool no_sdpa;        /* see gpumem_model.no_sdpa */
} arch_spec;

/* Reader context for one config object; errors name `file` and the key. */
typedef struct {
    json_t *root;       /* the (text) config object being read */
    json_t *top;        /* the whole file (holds torch_dtype, tie, ...) */
    const char *file;
    gpumem_error *err;
} cfg_ctx;

/* Reads a non-negative integer from the first present, non-null key of a
 * comma-separated list; `def` when absent. Fails on wrong type, negative,
 * fractional or > max values. */
gpumem_status cfg_u32(cfg_ctx *c, const char *keys, uint32_t def, uint32_t max, uint32_t *out);
gpumem_status cfg_bool(cfg_ctx *c, const char *keys, bool def, bool *out);
/* A string value, or NULL when absent/null; fails when of another type. */
gpumem_status cfg_str(cfg_ctx *c, const char *key, const char **out);

typedef gpumem_status (*arch_fn)(cfg_ctx *c, gpumem_model *m, arch_spec *s);

typedef struct {
    const char *model_type;
    arch_fn read;
} arch_row;

const arch_row *arch_find(const char *model_type);
/* Comma-separated list of supported model types, for messages. */
const char *arch_supported(void);

/* Shared steps architecture functions build on. */
/* hidden, layers and vocab are non-zero and layers plausible. */
gpumem_status arch_check_base(cfg_ctx *c, const arch_spec *s);
/* arch_check_base, plus heads: defaults kv heads and head_dim, checks they divide. */
gpumem_status arch_read_common(cfg_ctx *c, gpumem_model *m, arch_spec *s);
gpumem_status arch_alloc_layers(cfg_ctx *c, gpumem_model *m, arch_spec *s);
/* Marks layers sliding from "layer_types" when present; returns whether it was. */
gpumem_status arch_layer_types(cfg_ctx *c, gpumem_model *m, uint32_t window, bool *found);
/* The same, also accepting "chunked_attention" layers of `chunk` tokens
 * (0: not an architecture with chunked attention). */
gpumem_status arch_layer_types_chunked(cfg_ctx *c, gpumem_model *m, uint32_t window,
                                       uint32_t chunk, bool *found);
gpumem_status compute_params(cfg_ctx *c, gpumem_model *m, const arch_spec *s);

/* Hybrid attention / state-space architectures (arch_hybrid.c). */
gpumem_status arch_read_granitemoehybrid(cfg_ctx *c, gpumem_model *m, arch_spec *s);
/* Sliding windows from "layer_types", else on every layer but each
 * pattern-th ((i + 1) % pattern == 0 stays full); window 0: none. */
gpumem_status arch_sliding_every(cfg_ctx *c, gpumem_model *m, uint32_t window, uint32_t pattern);
/* Checks the spec's experts: 1 <= experts per token <= experts, a
 * non-zero expert width; the errors name used_key / ff_key when given. */
gpumem_status arch_check_moe(cfg_ctx *c, const arch_spec *s, const char *used_key,
                             const char *ff_key);
/* Marks a layer MoE with the spec's expert shape (no dense MLP). */
void arch_set_moe(model_layer *l, const arch_spec *s);
/* Marks a layer a Mamba-2 mixer (heads x head_dim, groups of d_state, a
 * conv of `conv`, scan chunks of `chunk`; fp32 state under transformers). */
void arch_set_mamba2(model_layer *l, uint32_t heads, uint32_t head_dim, uint32_t groups,
                     uint32_t state, uint32_t conv, uint32_t chunk);
gpumem_status arch_read_nemotron_h(cfg_ctx *c, gpumem_model *m, arch_spec *s);
gpumem_status arch_read_jamba(cfg_ctx *c, gpumem_model *m, arch_spec *s);
/* Parameters of a Mamba-2 mixer (in_proj, conv1d, dt_bias, A_log, D,
 * gated norm, out_proj): matrices into *lin, the rest into *small. */
void arch_mamba2_params(const model_layer *l, uint64_t hidden, uint64_t *lin, uint64_t *small);
/* Multimodal configs (arch_vision.c). vision_known: `model_type` is a
 * top-level multimodal type whose vision tower is counted.
 * vision_flat_text_type: the text model_type of a config of that type that
 * keeps its text keys at the top level (Qwen2-VL), else NULL.
 * vision_read: counts the vision tower and projector of the top-level
 * config into m->params_vision (the text tower is read first: the
 * projector maps into its width) and sets the lm_head tie by the
 * family's rule. */
bool vision_known(const char *model_type);
const char *vision_flat_text_type(const char *model_type);
gpumem_status vision_read(cfg_ctx *c, const char *outer_type, gpumem_model *m,
                          arch_spec *s);
/* The text tower of Qwen2-VL / Qwen2.5-VL ("qwen2_vl_text", "qwen2_5_vl_text"). */
gpumem_status arch_read_qwen_vl_text(cfg_ctx *c, gpumem_model *m, arch_spec *s);

#endif
