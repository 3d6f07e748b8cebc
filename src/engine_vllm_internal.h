/* vLLM (V1 engine) profile: what one GPU holds after `vllm serve` starts,
 * and what vLLM prints about its KV-cache pool. Versions are rows of a
 * table (engine_vllm.c); the KV-cache planner (engine_vllm_kv.c) mirrors
 * vllm/v1/core/kv_cache_utils.py. */
#ifndef GPUMEM_ENGINE_VLLM_INTERNAL_H
#define GPUMEM_ENGINE_VLLM_INTERNAL_H

#include "estimate_internal.h"

/* How a version turns blocks into the printed "GPU KV cache size". */
typedef enum {
    VLLM_TOKENS_BLOCKS = 0,   /* num_blocks // n_groups * min_block_size (<= 0.11) */
    VLLM_TOKENS_CONCURRENCY,  /* int(max_concurrency * max_model_len) (0.2x+) */
    VLLM_TOKENS_COUNT
} vllm_tokens_rule;

/* How a version lays out hybrid (attention + Mamba) models, if gpumem
 * models it for that version. */
typedef enum {
    VLLM_HYBRID_UNMODELLED = 0,
    /* Prefix caching off (0.11.0 MambaModelConfig): one state page per
     * request, Mamba block = max_model_len, attention block raised to
     * 16 x cdiv(state page, 16 x per-token page)
     * (HybridAttentionMambaModelConfig, models/config.py). The 0.11.0 row;
     * checked against 0.11.0's own planning on Jamba, Nemotron-H and
     * Granite 4.0-H configs (vllm_kv_utils.jsonl). */
    VLLM_HYBRID_ONE_STATE,
    /* 0.33.0: prefix caching on, mamba_cache_mode "align": two state pages
     * per request, Mamba block = attention block, raised to a multiple of
     * max(16, block size) rounded to the backends' 16
     * (platforms/interface.py _align_hybrid_block_size). */
    VLLM_HYBRID_ALIGN,
    VLLM_HYBRID_COUNT
} vllm_hybrid_rule;

/* One row per modelled vLLM release. */
typedef struct {
    const char *version;
    double default_utilization;   /* CacheConfig.gpu_memory_utilization */
    bool graphs_in_profile;       /* VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS default */
    vllm_tokens_rule tokens_rule;
    uint32_t max_capture_size;    /* cap of max_cudagraph_capture_size */
    /* `vllm serve` defaults (EngineArgs._set_default_args), by GPU memory:
     * >= big_gib (and not an A100), else small. 0 big_gib: no tier. */
    uint32_t big_gib, big_batched_tokens, big_num_seqs;
    uint32_t huge_gib, huge_batched_tokens, huge_num_seqs;
    uint32_t small_batched_tokens, small_num_seqs;
    /* MXFP4 MoE backend (model_executor/layers/quantization/mxfp4.py):
     * Triton (triton_kernels) on compute capability majors
     * [triton_sm_min, triton_sm_max), Marlin below and above;
     * triton_sm_min 0: Marlin everywhere but Blackwell (torch too old). */
    uint8_t mxfp4_triton_sm_min, mxfp4_triton_sm_max;
    bool mxfp4_triton_keeps_scales; /* loaded scales stay beside the swizzled copy */
    bool mxfp4_flashinfer_sm100;    /* flashinfer a dependency: Blackwell uses it */
    /* Async scheduling on by default (VllmConfig: 0.33.0, V2 model runner):
     * pp + 1 batches are in flight, each of max_num_batched_tokens, and
     * sliding-window layers keep their tokens (max_in_flight_tokens). */
    bool async_in_flight;
    /* The memory check and the max_model_len estimate leave out the null
     * block BlockPool holds back (0.33.0 get_kv_cache_configs). */
    bool null_block_reserved;
    /* The start check counts whole blocks per group, times the pool's bytes
     * per block (0.33.0 _max_memory_usage_bytes_from_groups), instead of
     * every layer's bytes (0.11.0 max_memory_usage_bytes). */
    bool check_by_groups;
    /* Group size = the largest layer count when it is under 1.5 x the
     * smallest (_get_kv_cache_groups_uniform_page_size, 0.19.0 on). */
    bool group_max_if_close;
    vllm_hybrid_rule hybrid;
    /* NemotronH's SSM state in the config's mamba_ssm_cache_dtype, fp32 by
     * default (NemotronHForCausalLMConfig, 0.33.0); 0.11.0 uses the model
     * dtype. */
    bool ssm_dtype_per_model;
    /* A model with chunked local attention (Llama 4) turns the hybrid
     * KV-cache manager off: VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE
     * defaults to 0 (envs.py, 0.10.1 and 0.11.0; VllmConfig.__post_init__),
     * so unify_hybrid_kv_cache_specs pools chunked layers as full ones. From
     * 0.14.1 it defaults to 1 and chunked layers get their own groups. */
    bool chunked_as_full;
    /* A block that is only an MoE, beside Mamba and attention blocks
     * (nemotron_h.py "E": NemotronHMoEDecoderLayer, from 0.14.1); 0.10.1 and
     * 0.11.0 know only M, - and * and cannot build Nemotron 3 Nano. */
    bool moe_only_blocks;
    /* The profiling run pads each dummy image's encoder output to the whole
     * encoder budget before caching it (0.11.0 profile_run:
     * output.new_zeros((encoder_budget, hidden))); other rows cache the
     * outputs as they are. */
    bool mm_outputs_padded;
    /* Qwen2-VL / Qwen2.5-VL (model_executor/models/qwen2_vl.py): the
     * largest image factors max_pixels / (patch x merge)^2 tokens into a
     * height x width pair (get_image_size_with_most_features, 0.14.1 on)
     * instead of resizing a 9999999-pixel square; a video holds at most
     * mm_video_frames_max frames (_MAX_FRAMES_PER_VIDEO: 16 in 0.10.1,
     * then 14); the profiled modality on a tie of tokens per item is video
     * (get_modality_with_max_tokens keyed by (tokens, name), 0.19.0 on),
     * else image. */
    bool mm_image_factor_pair;
    uint8_t mm_video_frames_max;
    bool mm_video_wins_ties;
    /* Qwen2-VL / Qwen2.5-VL towers rotate q and k in fp32
     * (apply_rotary_pos_emb_vision: t.float(), an fp32 result, then
     * type_as; qwen2_vl.py of 0.10.1 and 0.11.0): 4 widths of the tower's
     * hidden in fp32 (8 in its dtype) more in attention. 0.14.1 on use
     * ApplyRotaryEmb in the model dtype. */
    bool mm_rope_fp32;
    /* The encoder budget counts an item's whole placeholder, separators
     * included (MultiModalProfiler.get_mm_max_contiguous_tokens, 0.10.1
     * and 0.11.0); 0.14.1 on its embeddings only (get_mm_max_tokens,
     * PlaceholderRange.get_num_embeds). */
    bool mm_budget_contiguous;
} vllm_version;

/* The row for "0.11.0" etc.; NULL (the newest) gives the newest row. */
const vllm_version *vllm_version_find(const char *version);

/* `vllm serve`'s max_num_seqs and max_num_batched_tokens for `gpu` when
 * neither is given (arg_utils.py, by the GPU's memory). */
void vllm_batching_defaults(const vllm_version *v, const gpumem_gpu *gpu, uint64_t *max_num_seqs,
                            uint64_t *batched);
size_t vllm_version_count(void);
const vllm_version *vllm_version_at(size_t i);

/* ------------------------------------------------------------ KV planning */

typedef enum {
    VLLM_SPEC_FULL = 0, /* FullAttentionSpec */
    VLLM_SPEC_SLIDING,  /* SlidingWindowSpec */
    VLLM_SPEC_MLA,      /* MLAAttentionSpec: one latent "head" */
    VLLM_SPEC_MAMBA,    /* MambaSpec: one state per request */
    VLLM_SPEC_CHUNKED,  /* ChunkedLocalAttentionSpec (Llama 4): window = chunk */
    VLLM_SPEC_COUNT
} vllm_spec_kind;

typedef struct {
    uint32_t block_size;        /* tokens per block (16 by default) */
    uint32_t kv_bytes;          /* bytes per cached element (2, or 1 for fp8) */
    uint32_t state_bytes;       /* bytes per Mamba state element */
    uint32_t tp, pp;
    uint64_t max_model_len;
    uint64_t max_num_batched_tokens;
    vllm_tokens_rule tokens_rule;
    uint32_t in_flight_batches; /* batches a sliding window keeps; 0 counts as 1 */
    bool null_block_reserved;
    bool check_by_groups;
    bool group_max_if_close;
    vllm_hybrid_rule hybrid;
    bool ssm_dtype_per_model;
    bool chunked_as_full;
    /* The hybrid KV-cache manager as the user set it (settings'
     * vllm_hybrid_kv_cache_manager): 0 the version's default, 1 on, 2 off. */
    int hma;
} vllm_kv_params;

/* The planner's parameters for version v; kv_bytes and state_bytes are the
 * cache and Mamba state element sizes. */
vllm_kv_params vllm_kv_params_for(const vllm_version *v, uint32_t block_size, uint32_t kv_bytes,
                                  uint32_t state_bytes, uint32_t tp, uint32_t pp,
                                  uint64_t max_model_len, uint64_t max_num_batched_tokens);

typedef struct {
    vllm_spec_kind kind;
    uint32_t window;
    uint64_t page_bytes; /* bytes of one block of one layer */
    uint32_t n_layers;   /* layers of this spec on the rank */
    uint32_t n_groups;   /* KV-cache groups it is split into */
} vllm_kv_type;

typedef struct {
    size_t n_types;
    vllm_kv_type types[4];
    uint32_t n_groups;        /* KV-cache groups in all */
    uint32_t group_size;      /* layers per group (one block = page x this) */
    uint32_t attn_block_size; /* block size after the hybrid (Mamba) raise */
    uint64_t bytes_per_block; /* pool bytes one block index costs */
    uint64_t num_blocks;
    uint64_t tokens;          /* "GPU KV cache size: N tokens" */
    uint64_t blocks_per_request; /* at max_model_len, over all groups */
    double max_concurrency;
    uint64_t needed_bytes;    /* check_enough_kv_cache_memory's need */
    bool starts;
    uint64_t max_model_len_limit;
    bool local_as_full;       /* sliding/chunked layers pooled as full attention */
} vllm_kv_plan;

/* Plans the pool of `pool_bytes` on the most loaded rank. A model without
 * any cached layer gets n_groups 0, starts and no limit. */
gpumem_status vllm_plan_kv(const gpumem_model *m, const vllm_kv_params *p, uint64_t pool_bytes,
                           vllm_kv_plan *out, gpumem_error *err);

/* ------------------------------------------------------ multimodal pass */

typedef struct {
    uint64_t batched, max_model_len, max_num_seqs;
    uint32_t tp, cb; /* cb: compute dtype bytes */
    uint64_t mm_max_pixels;            /* settings: 0 the model's */
    int32_t limit_image, limit_video;  /* settings: -1 vLLM's default */
} vllm_mm_args;

typedef struct {
    uint64_t items;        /* dummy items encoded in one batch; 0: no pass */
    bool video;            /* the profiled modality is video (else image) */
    uint64_t tokens;       /* tokens per item (its largest size) */
    uint64_t budget;       /* the encoder budget, tokens */
    uint64_t encoder_peak; /* bytes at the tower's peak */
    uint64_t held;         /* bytes kept through the text forward */
} vllm_mm_profile;

/* What profile_run's image/video pass adds for a multimodal model
 * (engine_vllm_mm.c); items 0 for text-only models, models whose image
 * size config.json does not fix, or every modality limited to 0. */
gpumem_status vllm_mm_profile_for(const gpumem_model *m, const vllm_version *v,
                                  const vllm_mm_args *a, vllm_mm_profile *p, gpumem_error *err);

/* ----------------------------------------------------------------- engine */

/* `--dtype auto` (vllm/config/model.py _resolve_auto_dtype, 0.11.0 and
 * 0.33.0): a float32 checkpoint, or a config that names no torch_dtype,
 * runs in the platform's first 16-bit type (bf16 from Ampere on, fp16
 * before; two bytes either way), weights and KV cache alike. Other
 * requests come back unchanged. */
engine_req vllm_auto_dtype(const gpumem_model *m, const engine_req *r, const gpumem_settings *s);

gpumem_status engine_vllm(const gpumem_model *m, const engine_req *r, const gpumem_settings *s,
                          gpumem_device *gpu, gpumem_vllm_info *info, gpumem_error *err);

#endif
