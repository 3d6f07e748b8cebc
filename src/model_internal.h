/* The model description: the one shared language between readers
 * (config.json, later GGUF/safetensors) and engines. Engines read only this;
 * they never look at a file format or a model_type string. */
#ifndef GPUMEM_MODEL_INTERNAL_H
#define GPUMEM_MODEL_INTERNAL_H

#include "gpumem.h"

#include <stdbool.h>

typedef enum {
    ATTN_KIND_NONE = 0, /* no attention in this layer (pure SSM) */
    ATTN_KIND_FULL,     /* causal or bidirectional over the whole context */
    ATTN_KIND_SLIDING,  /* attends to the last `window` tokens */
    ATTN_KIND_MLA,      /* multi-head latent attention (DeepSeek-V2/V3) */
    ATTN_KIND_COUNT
} attn_kind;

enum { MODEL_FFN_UP, MODEL_FFN_GATE, MODEL_FFN_DOWN };

typedef struct {
    attn_kind attn;
    uint32_t window;      /* sliding window in tokens (ATTN_KIND_SLIDING) */
    /* The window is a chunk (Llama 4 chunked attention: tokens see only
     * their own attention_chunk_size block). transformers and llama.cpp
     * cache it as a sliding window of that size; vLLM has its own spec. */
    bool chunked;
    uint32_t n_head;      /* query heads */
    uint32_t n_head_kv;   /* key/value heads (GQA/MQA) */
    uint32_t head_dim_k;  /* per-head K (and Q) dim as the engine caches it */
    uint32_t head_dim_v;  /* per-head V dim */
    /* MLA (DeepSeek): the latent an engine may cache instead of K/V. */
    uint32_t kv_lora_rank, qk_rope_dim;
    bool qk_norm;         /* RMSNorm on Q and K (per head or full width) */
    /* SSM (Mamba): a fixed state per sequence instead of a KV cache. */
    bool ssm;
    uint32_t ssm_d_inner, ssm_d_state, ssm_d_conv, ssm_dt_rank;
    /* Mamba-2 (hybrids, arch_hybrid.c): ssm_heads heads of ssm_head_dim
     * channels (d_inner = heads x head_dim), B and C in ssm_groups groups,
     * so the conv runs over d_inner + 2 groups x d_state channels and the
     * state is heads x head_dim x d_state. 0 heads: Mamba-1 (d_inner x
     * d_state state, conv over d_inner). */
    uint32_t ssm_heads, ssm_head_dim, ssm_groups;
    uint32_t ssm_chunk;      /* chunk length of the chunked scan (Mamba-2) */
    /* Falcon-H1: the layer runs attention (with its KV cache) beside the
     * recurrent mixer; `attn` and the heads describe it. Otherwise a
     * recurrent layer has no attention. */
    bool ssm_with_attn;
    bool ssm_conv_bias;      /* Mamba-2 / Jamba: conv1d has a bias */
    bool ssm_proj_bias;      /* in_proj and out_proj have biases */
    bool ssm_bc_norms;       /* Jamba: RMSNorms on dt, B and C */
    /* transformers keeps this layer's SSM state in fp32 (the torch scan
     * returns its final state in fp32: modeling_jamba.py,
     * mamba2_chunk_scan in modeling_mamba2.py, transformers 5.24). */
    bool ssm_state_f32;
    /* vLLM keeps the SSM state in fp32 whatever the model dtype
     * (NemotronH: mamba_ssm_cache_dtype, models/config.py). */
    bool ssm_vllm_state_f32;
    /* Gated delta-net linear attention (Qwen3-Next, modeling_qwen3_next.py,
     * transformers 5.24) described in the Mamba-2 fields: ssm_heads value
     * heads of ssm_head_dim (head_v_dim), ssm_groups key heads of
     * ssm_d_state (head_k_dim), so the conv runs over 2 key_dim +
     * value_dim channels and the state is v_heads x head_v x head_k, as
     * for Mamba-2; ssm_chunk is the delta rule's chunk (64). Its
     * parameters and activations are its own. */
    bool ssm_delta;
    /* Mamba-2 run by Mamba2Mixer.torch_forward (modeling_mamba2.py,
     * transformers 5.24), which pads and repeats more in fp32 than the
     * hybrids' mamba2_chunk_scan. */
    bool ssm_torch_mamba2;
    /* LFM2's gated short convolution (Lfm2ShortConv): only a conv state of
     * ssm_d_conv columns over ssm_d_inner (= hidden) channels, no SSM
     * state; parameters counted by its reader. */
    bool ssm_short_conv;
    /* MiniMax lightning attention (MiniMaxLightningAttention): a state of
     * ssm_heads x ssm_head_dim x ssm_d_state (= head_dim) per sequence, no
     * conv; computed in blocks of ssm_chunk tokens. Parameters counted by
     * its reader. */
    bool ssm_lightning;
    /* A Mamba-2 mixer whose parameters its reader counted (Falcon-H1: its
     * gated norm optional, in_proj and out_proj biases apart). */
    bool ssm_own_params;
    /* Feed-forward: dense width, or MoE experts. */
    uint32_t n_ff;          /* dense MLP width (0 when MoE only) */
    bool gated_ff;          /* gate+up+down (3 matrices) vs up+down */
    uint8_t ff_live;        /* MLP-wide tensors live at the MLP's peak (0: 2, or 3 if gated) */
    uint32_t n_expert;      /* routed experts (0 when dense) */
    uint32_t n_expert_used; /* experts per token */
    uint32_t n_ff_expert;   /* width of one routed expert */
    uint32_t n_ff_shared;   /* total width of the shared expert(s), 0 if none */
    /* Nemotron-H: experts run in a latent of this width between two
     * projections (moe_latent_size); 0: experts read the hidden state. */
    uint32_t moe_latent;
    /* transformers runs every routed expert over every token (Llama 4's
     * Llama4TextMoe: input repeated per expert, bmm over all experts)
     * instead of grouped_mm over the chosen ones. */
    bool experts_all_tokens;
    /* The router hands the experts its weights in the compute dtype
     * (Qwen2/3-MoE, OLMoE, GraniteMoE, Jamba, gpt-oss: cast back or
     * type_as); otherwise fp32 (Mixtral, DeepSeek, GLM-4-MoE, Nemotron-H),
     * and the weighted expert rows become fp32 (transformers 5.24). */
    bool moe_weights_compute;
    /* Parameters an architecture reader counted itself for modules the
     * shared counter has no rule for (compute_params adds them). */
    uint64_t arch_linear, arch_small;
    /* Parameters of this layer, split as quantisers and engines need. */
    uint64_t params_linear; /* 2-D matrices outside routed experts */
    uint64_t params_expert; /* routed expert matrices (and their biases) */
    uint64_t params_small;  /* norms, biases, sinks: kept in 16/32-bit */
    /* of params_small: biases of the attention and dense / shared-expert
     * MLP nn.Linear modules (bitsandbytes rebuilds those modules: fp32) */
    uint64_t params_linear_bias;
    /* Storage bytes of the same three parts, when a file says (GGUF,
     * safetensors); 0 otherwise. */
    uint64_t bytes_linear, bytes_expert, bytes_small;
    uint64_t bytes_expert_max; /* the largest single expert tensor (GGUF) */
    uint64_t bytes_linear_max; /* the largest single other matrix (GGUF) */
    /* GGUF: the FFN tensors (any part above) by llama.cpp's name groups,
     * which its -ot patterns select: [MODEL_FFN_UP] ffn_up*, [_GATE]
     * ffn_gate* (gates, gate_up, the router ffn_gate_inp), [_DOWN]
     * ffn_down*; in all, and of them routed experts (_exps). */
    uint64_t bytes_ffn[3], bytes_ffn_exps[3];
    /* A LoRA adapter's tensors adapting this layer, each padded to the
     * buffer alignment: [0] the host's 32 B, [1] CUDA's 128 B. */
    uint64_t bytes_lora[2];
} model_layer;

/* A multimodal projector's vision tower (CLIP GGUF, clip.vision.* keys as
 * tools/mtmd/clip.cpp of llama.cpp de3ff81 reads them). */
typedef struct {
    char projector[32];   /* clip.projector_type, e.g. "mlp" */
    uint32_t image_size, patch_size, n_embd, n_ff, n_head, n_layer, proj_dim;
    uint64_t bytes[2];    /* tensor bytes padded to 32 (host) and 128 (CUDA) */
    uint64_t n_tensors;
} model_clip;

/* A pre-quantised checkpoint, as its config.json "quantization_config"
 * describes it (read_config.c); the stored bytes follow in quant.c. */
typedef enum {
    QUANT_NONE = 0,
    QUANT_GPTQ,  /* qweight/qzeros int32-packed, fp16 scales per group, g_idx */
    QUANT_AWQ,   /* qweight/qzeros int32-packed along the output, fp16 scales */
    QUANT_FP8,   /* e4m3 weights, fp32 scales per tensor or per block */
    QUANT_MXFP4, /* experts: 4-bit e2m1 blocks of 32 with one e8m0 scale byte */
    QUANT_BNB,   /* bitsandbytes: sized by the int8/int4 dtype rows */
    QUANT_COUNT
} quant_method;

typedef struct {
    quant_method method;
    uint32_t bits;             /* GPTQ/AWQ weight bits */
    uint32_t group;            /* GPTQ/AWQ group_size; 0: one group per input row */
    bool desc_act;             /* GPTQ act-order (g_idx is stored either way) */
    uint32_t block_n, block_k; /* FP8 weight_block_size; 0: one scale per tensor */
    bool input_scale;          /* FP8 activation_scheme "static": fp32 input scale */
    bool keep_attn;            /* attention left in 16 bits (modules_to_not_convert) */
    gpumem_dtype keep;         /* dtype of everything left unquantised */
} model_quant;

/* A vision tower's sizes for its activation peak (CLIP / SigLIP). */
typedef struct {
    uint32_t tokens;      /* sequence per image (CLIP: patches + 1 CLS) */
    uint32_t hidden, ff, heads;
    uint32_t act_tensors; /* MLP activation outputs: 1 (gelu), 2 (quick_gelu) */
    uint64_t pixels;      /* pixel_values elements per image */
    uint32_t text_tokens; /* image tokens in the prompt per image */
    /* held through the text layers, per image: copies of the projected
     * features [text_tokens, text hidden] and tower outputs [tokens, hidden] */
    uint32_t feature_copies, held_states;
} model_vision_act;

struct gpumem_model {
    char name[128];
    char architecture[48];
    char note[128];
    gpumem_source source;
    bool architecture_known;
    bool is_encoder;
    /* GGUF: <arch>.pooling_type as llama.h numbers it (0 none, 1 mean, 2
     * cls, 3 last, 4 rank), -1 when absent; n_cls_out: classifier labels
     * (a reranker's head) */
    int8_t gguf_pooling;
    uint32_t n_cls_out;
    bool mlm_head; /* encoder whose config names a masked-LM head (training sizes its logits) */
    bool tied;
    bool learned_positions; /* absolute position embeddings cap the context */
    /* Eager attention's softmax runs in the compute dtype (BERT, GPT-2,
     * Falcon in transformers 5.24) instead of upcasting to fp32. */
    bool softmax_native;
    /* One fused q/k/v projection (GPT-2's c_attn, GPT-NeoX/Falcon/BLOOM's
     * query_key_value, Phi-3's qkv_proj, MPT/DBRX/ModernBERT's Wqkv): its
     * output stays whole while q, k, v (views of it) live, beside rotary
     * copies (transformers 5.24). */
    bool qkv_fused;
    /* transformers 5.24 has no SDPA path for this model class
     * (_supports_sdpa False: Gemma 2, gpt-oss, BLOOM, MPT): by default it
     * runs eager attention. */
    bool no_sdpa;
    /* Extra compute-dtype score tensors live at eager's softmax (BLOOM,
     * transformers 5.24: the masked sum beside baddbmm's scores, and the
     * previous block's attention probabilities, which BloomModel's loop
     * still holds). */
    uint8_t eager_extra_scores;
    /* Rotary embedding applied in fp32 (ModernBERT's apply_rotary_pos_emb
     * upcasts q and k, transformers 5.24). */
    bool rope_f32;
    /* Per-token elements live through every layer beside the usual
     * hidden-sized tensors (Gemma 3n, transformers 5.24: the AltUp
     * stacks, AltUp/LAuReL intermediates and the per-layer inputs). */
    uint64_t layer_extra_live;
    bool embed_scale_buffer; /* the input embedding keeps a scalar buffer (Gemma's embed_scale) */
    bool rope_per_layer_type; /* rotary_emb keeps inv_freq per layer type (Gemma 3: 2 sets) */
    gpumem_dtype dtype;
    uint32_t n_layer, n_embd, n_vocab, max_ctx;
    uint64_t params_embed;  /* token (+ position, type) embeddings */
    uint64_t params_output; /* lm_head (0 when tied) incl. its bias */
    uint64_t params_other;  /* final norm, pooler, embedding norm */
    /* A multimodal model's vision tower and projector (0 for text-only
     * models); part of params_total, never of the layers above. */
    uint64_t params_vision;
    /* For transformers' device_map (arch_vision.c, transformers 5.24): the
     * part of params_vision in a multi_modal_projector module beside the
     * tower (0 when the tower holds it), the tower's buffers accelerate
     * weighs (position_ids int64, rotary inv_freq fp32), and whether the
     * module tree is known: model.{vision tower, projector, language_model}. */
    uint64_t params_projector;
    uint64_t vision_buffer_bytes;
    bool vision_tree;
    /* The tower's forward over one image, where its peak is modelled
     * (engine_transformers.c image_peak; tokens 0 otherwise). */
    model_vision_act vision_act;
    /* The image path vLLM's profiling run encodes (arch_vision.c): tower
     * width, MLP width (gated: a SwiGLU MLP), patches the tower encodes
     * and placeholder tokens in the language model per image of the
     * largest size, and that image's pixels x channels. vision_tokens is
     * 0 where config.json alone does not fix them (Qwen-VL sizes images
     * dynamically, see vision_dynamic). Tiled models (LLaVA-NeXT, Llama 4)
     * count every tile's patches and pixels. */
    uint32_t vision_hidden, vision_ff;
    bool vision_gated;
    uint64_t vision_patches, vision_tokens, vision_pixels;
    /* Widths (in vision_hidden) alive per patch at the tower's peak beside
     * the MLP's intermediates (resident) and in the attention branch
     * (attn); engine_vllm_mm.c. */
    uint32_t vision_resident, vision_attn;
    /* Placeholder tokens per image beyond its embeddings (Llama 4's tile
     * separators, image start/end), which 0.10.1 / 0.11.0's encoder budget
     * counts (engine_vllm_mm.c). */
    uint32_t vision_token_extra;
    /* Qwen2-VL / Qwen2.5-VL dynamic resolution: patches of patch x patch
     * pixels over `temporal` frames, merged merge x merge into one token;
     * the image processor's pixel bounds (preprocessor_config.json, which
     * gpumem does not read: the official checkpoints' values, see
     * arch_vision.c); pixels per patch in vision_pixels. */
    bool vision_dynamic;
    uint32_t vision_patch, vision_merge, vision_temporal;
    uint64_t vision_min_pixels, vision_max_pixels;
    /* transformers ties lm_head by the top-level config, but text_config
     * alone leaves it untied (Mistral 3): vLLM, which builds the language
     * model from text_config, loads an lm_head of its own. */
    bool text_untied;
    uint64_t params_total;
    uint64_t params_active;
    /* Real storage from a weights file: has_storage says the bytes_* fields
     * (here and per layer) hold the file's tensor bytes. */
    bool has_storage;
    uint64_t bytes_embed, bytes_output, bytes_other, bytes_total;
    uint64_t bytes_vision; /* the vision tower's tensors in a weights file */
    /* GGUF without output.weight: llama.cpp de3ff81 loads token_embd a second
     * time as the output layer (TENSOR_DUPLICATED, llama-model-loader.cpp
     * create_tensor) when that layer sits on another device than the
     * embeddings, i.e. on a GPU; these are its bytes (0 when not tied). */
    uint64_t bytes_output_dup;
    char storage_desc[64]; /* e.g. "Q4_K_M, 4.89 bits/weight" */
    model_quant quant;     /* QUANT_NONE unless config.json says otherwise */
    model_layer *layers; /* n_layer entries; NULL for a bare param count */
    gpumem_model_kind kind;
    model_clip clip;          /* GPUMEM_KIND_MMPROJ */
    /* GPUMEM_KIND_LORA: adapter tensors of the output layer, of the token
     * embeddings and of anything else (padded as bytes_lora). */
    uint64_t lora_output[2], lora_embed[2], lora_other[2];
};

gpumem_model *model_alloc(uint32_t n_layer);
/* Sums parameters from the parts into params_total/params_active; fails on
 * overflow. */
gpumem_status model_finish(gpumem_model *m, gpumem_error *err);

/* Adds the storage of a directory's *.safetensors files, if any, to a model
 * read from the directory's config.json (model.c). */
gpumem_status model_attach_dir_weights(gpumem_model *m, const char *dir, gpumem_error *err);

#endif
