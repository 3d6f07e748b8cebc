/* PyTorch + transformers inference, as `model.generate` runs it: weights in
 * their storage dtype, a DynamicCache, the transient peak of the prefill
 * forward pass, the logits of the last position, the CUDA context and the
 * cuBLAS workspace. Modelled version: transformers 5.24 with torch 2.15
 * (modeling_llama.py and siblings, cache_utils.py, generation/utils.py). */
#include "dtype_internal.h"
#include "device_map_internal.h"
#include "estimate_internal.h"
#include "quant_internal.h"
#include "util_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* CUDA context of a torch process on CUDA 12 with lazy module loading:
 * 300-600 MiB depending on GPU and driver (REFERENCE.md); the upper half is
 * taken so the fit verdict errs on the safe side. */
const uint64_t transformers_cuda_context_bytes = 512ull << 20;
#define cuda_context_bytes transformers_cuda_context_bytes
/* cuBLAS workspace torch allocates through its caching allocator: on Hopper
 * CUBLAS_WORKSPACE_CONFIG defaults to :4096:8 (32 MiB), and cuBLASLt keeps
 * its own; 32 MiB per stream covers both on earlier GPUs too. */
static const uint64_t workspace_bytes = 32ull << 20;

typedef struct {
    uint64_t sum;
    bool overflow;
} acc;

static void acc_add(acc *a, uint64_t x)
{
    if (!u64_add(a->sum, x, &a->sum))
        a->overflow = true;
}

static void acc_mul(acc *a, size_t n, const uint64_t *f)
{
    uint64_t p;
    if (!u64_mul_n(&p, n, f))
        a->overflow = true;
    else
        acc_add(a, p);
}

/* bytes of n elements of dtype d */
static uint64_t nbytes(gpumem_dtype d, uint64_t n, acc *a)
{
    uint64_t b;
    if (!dtype_bytes(d, n, &b)) {
        a->overflow = true;
        return 0;
    }
    return b;
}

/* The CUDA context (nvidia-smi counts it, torch.cuda.memory_allocated does
 * not) and the cuBLAS workspace (allocated through the caching allocator). */
static gpumem_status runtime(gpumem_device *gpu, const char *context_note, gpumem_error *err)
{
    gpumem_status st = device_add(gpu, "cuda_context", cuda_context_bytes, err, "%s", context_note);
    if (st != GPUMEM_OK)
        return st;
    return device_add(gpu, "workspace", workspace_bytes, err, "cuBLAS/cuBLASLt workspace");
}

/* ---------------------------------------------------------------- weights */

/* bitsandbytes NF4's block scales for `elems` weights: one fp32 absmax per
 * 64 (4.5 bits a weight, the default), or with double quantisation one
 * uint8 absmax per 64 and an fp32 scale per 256 of those (4.127 bits;
 * bitsandbytes 0.50 quantize_4bit compress_statistics, QLoRA paper §3). */
static uint64_t nf4_scales(uint64_t elems, bool double_quant)
{
    uint64_t blocks = div_up(elems, 64);
    return double_quant ? blocks + div_up(blocks, 256) * 4 : blocks * 4;
}

/* Weight bytes of the quantisable matrices under the storage dtype:
 * bitsandbytes NF4 keeps 4 bits plus its block scales (nf4_scales);
 * LLM.int8 keeps 8 bits plus an fp32 scale per output row; fine-grained
 * FP8 keeps an fp32 scale per 128x128 block. */
static uint64_t linear_bytes(gpumem_dtype d, bool double_quant, uint64_t params, uint32_t n_embd,
                             acc *a)
{
    switch (d) {
    case GPUMEM_DTYPE_INT4:
        return nbytes(d, params, a) + nf4_scales(params, double_quant);
    case GPUMEM_DTYPE_INT8:
        return params + div_up(params, n_embd) * 4;
    case GPUMEM_DTYPE_FP8:
        return params + div_up(params, 128 * 128) * 4;
    default:
        return nbytes(d, params, a);
    }
}

/* A weights file (GGUF, safetensors) says its storage to the byte: matrices
 * and embeddings split over tensor-parallel ranks, small tensors copied. */
static gpumem_status stored_weights(const gpumem_model *m, const engine_req *r,
                                    gpumem_device *gpu, gpumem_error *err)
{
    uint64_t split = m->bytes_embed + m->bytes_output, copied = m->bytes_other;
    for (uint32_t i = 0; i < m->n_layer; i++) {
        split += m->layers[i].bytes_linear + m->layers[i].bytes_expert;
        copied += m->layers[i].bytes_small;
    }
    return device_add(gpu, "weights", div_up(split, r->tp) + copied, err,
                      "%llu params as stored (%s)%s", (unsigned long long)(m->params_total - m->params_vision),
                      m->storage_desc, r->tp > 1 ? ", split over GPUs" : "");
}

static gpumem_status weights(const gpumem_model *m, const engine_req *r, gpumem_device *gpu,
                             gpumem_error *err)
{
    /* MXFP4 (gpt-oss): transformers 5.24 keeps the experts quantised only
     * with the optional `kernels` package and triton >= 3.4; a default
     * install dequantises them to bf16 on load (quantizer_mxfp4.py
     * validate_environment), which is what is modelled here. */
    bool dequant = m->quant.method == QUANT_MXFP4 && !r->dtype_given;
    if (m->has_storage && !r->dtype_given && !dequant)
        return stored_weights(m, r, gpu, err);
    const dtype_traits *t = dtype_get(r->dtype);
    /* bitsandbytes replaces nn.Linear only: fused MoE experts (3-D
     * parameters) stay in the compute dtype (transformers 5.24
     * integrations/bitsandbytes.py replace_with_bnb_linear). */
    bool bnb_experts = t->quantized;
    acc lin = {0, false}, small = {0, false}, a = {0, false}, experts = {0, false};
    for (uint32_t i = 0; i < m->n_layer; i++) {
        acc_add(&lin, m->layers[i].params_linear);
        acc_add(dequant || bnb_experts ? &experts : &lin, m->layers[i].params_expert);
        acc_add(&small, m->layers[i].params_small);
    }
    /* Embeddings, lm_head, norms and biases stay in the compute dtype when
     * the matrices are quantised (bitsandbytes skips lm_head by default). */
    bool matrices_only = t->quantized || r->dtype == GPUMEM_DTYPE_FP8;
    gpumem_dtype keep = matrices_only ? r->compute : r->dtype;
    uint64_t bytes = div_up(linear_bytes(r->dtype, r->double_quant, lin.sum, m->n_embd, &a), r->tp);
    bytes += div_up(nbytes(keep, m->params_embed + m->params_output, &a), r->tp);
    bytes += nbytes(keep, small.sum + m->params_other, &a);
    if (bnb_experts)
        bytes += div_up(nbytes(keep, experts.sum, &a), r->tp);
    if (dequant) {
        bytes += div_up(nbytes(GPUMEM_DTYPE_BF16, experts.sum, &a), r->tp);
        if (lin.overflow || small.overflow || experts.overflow || a.overflow)
            return err_set(err, GPUMEM_ERR_OVERFLOW, "weights do not fit in 64 bits");
        return device_add(gpu, "weights", bytes, err,
                          "%llu params; mxfp4 experts dequantised to bf16 (no `kernels` "
                          "package), rest %s%s",
                          (unsigned long long)(m->params_total - m->params_vision), t->name,
                          r->tp > 1 ? ", split over GPUs" : "");
    }
    if (lin.overflow || small.overflow || a.overflow)
        return err_set(err, GPUMEM_ERR_OVERFLOW, "weights do not fit in 64 bits");
    if (matrices_only)
        return device_add(gpu, "weights", bytes, err,
                          "%llu params; matrices %s%s, embeddings and norms %s%s",
                          (unsigned long long)(m->params_total - m->params_vision), t->name,
                          r->double_quant ? " (double quant)" : "", dtype_get(r->compute)->name,
                          r->tp > 1 ? ", split over GPUs" : "");
    return device_add(gpu, "weights", bytes, err, "%llu params x %s%s",
                      (unsigned long long)(m->params_total - m->params_vision), t->name,
                      r->tp > 1 ? ", split over GPUs" : "");
}

/* A multimodal model's vision tower and projector: transformers 5.24
 * loads the whole ForConditionalGeneration model in the top-level config
 * dtype (modeling_utils.py _get_dtype sets it on every sub-config). Under
 * a quantised dtype the tower is taken at the compute dtype (an upper
 * bound: bitsandbytes may quantise its linears too); with tensor
 * parallelism it is counted whole on every GPU (an upper bound). The
 * encoder's activations for an image are not modelled: the prompts sized
 * here are text. */
static gpumem_status vision_weights(const gpumem_model *m, const engine_req *r, gpumem_device *gpu,
                                    gpumem_error *err)
{
    if (!m->params_vision)
        return GPUMEM_OK;
    acc a = {0, false};
    const dtype_traits *t = dtype_get(r->dtype);
    gpumem_dtype d = t->quantized || r->dtype == GPUMEM_DTYPE_FP8 ? r->compute : r->dtype;
    bool stored = m->has_storage && !r->dtype_given && m->bytes_vision;
    uint64_t bytes = stored ? m->bytes_vision : nbytes(d, m->params_vision, &a);
    if (a.overflow)
        return err_set(err, GPUMEM_ERR_OVERFLOW, "weights do not fit in 64 bits");
    return device_add(gpu, "vision_weights", bytes, err,
                      "%llu params: vision tower + projector, %s; image activations not modelled",
                      (unsigned long long)m->params_vision,
                      stored ? "as stored" : dtype_get(d)->name);
}

/* --------------------------------------------------------------- KV cache */

/* Elements one sequence caches in layer l at `ctx` tokens. transformers'
 * DynamicCache stores K and V per KV head; sliding layers keep at most the
 * window; MLA layers store the compressed latent (kv_lora_rank) and the
 * shared rope key, one "head", replicated on every tensor-parallel rank
 * ("Cache read / write is performed while latent KV is still compressed",
 * modeling_deepseek_v3.py, transformers 5.24); Mamba keeps a conv and an
 * SSM state. */
static void layer_kv(const model_layer *l, uint64_t ctx, uint64_t held, uint32_t tp, acc *elems,
                     acc *f32)
{
    if (l->ssm && (l->ssm_heads || l->ssm_state_f32)) {
        /* Hybrids (cache_utils.py LinearAttentionLayer, transformers 5.24):
         * the conv state keeps conv_kernel columns of the conv input in
         * the model dtype; the SSM state is the scan's final state, fp32
         * from the torch scan. Mamba-2: conv over d_inner + 2 groups x
         * d_state, state heads x head_dim x d_state; Jamba's Mamba-1: conv
         * over d_inner, state d_inner x d_state. */
        uint64_t d = div_up(l->ssm_d_inner, tp);
        uint64_t conv = d + (l->ssm_heads ? 2ull * l->ssm_groups * l->ssm_d_state : 0);
        acc_mul(elems, 2, (uint64_t[]){conv, l->ssm_d_conv});
        acc_mul(l->ssm_state_f32 ? f32 : elems, 2, (uint64_t[]){d, l->ssm_d_state});
        return;
    }
    if (l->ssm) {
        uint64_t d = div_up(l->ssm_d_inner, tp);
        acc_mul(elems, 2, (uint64_t[]){d, (uint64_t)l->ssm_d_conv + l->ssm_d_state});
        return;
    }
    if (l->attn == ATTN_KIND_NONE)
        return;
    if (l->attn == ATTN_KIND_MLA) {
        acc_mul(elems, 2, (uint64_t[]){ctx, (uint64_t)l->kv_lora_rank + l->qk_rope_dim});
        return;
    }
    uint64_t tokens = ctx;
    if (l->attn == ATTN_KIND_SLIDING && l->window < tokens)
        tokens = l->window > held ? l->window : held;
    uint64_t heads = div_up(l->n_head_kv, tp);
    acc_mul(elems, 3, (uint64_t[]){tokens, heads, (uint64_t)l->head_dim_k + l->head_dim_v});
}

/* `sel` (NULL: every layer) picks the layers a device runs. */
static gpumem_status kv_cache(const gpumem_model *m, const engine_req *r, const bool *sel,
                              gpumem_device *gpu, gpumem_error *err)
{
    if (m->is_encoder)
        return GPUMEM_OK;
    acc elems = {0, false}, f32 = {0, false}, a = {0, false};
    uint32_t sliding = 0, ssm = 0, attn = 0;
    /* After n new tokens the cache holds the prompt and n - 1 generated
     * tokens (the last one is sampled, never fed back); a StaticCache
     * allocates that many at once: max_cache_len = max_length - 1
     * (generation/utils.py, transformers 5.24). */
    uint64_t tokens = r->context + r->new_tokens - (r->new_tokens > 0);
    /* A dynamic sliding-window layer keeps its last window - 1 tokens as a
     * view of the whole concatenation (DynamicSlidingWindowLayer.update,
     * cache_utils.py, transformers 5.24), so after the prefill it still
     * holds the whole prompt's storage until the next step (measured:
     * tiny-mistral-swa s1024, window 256: the full 1024 tokens). */
    uint64_t held = r->cache == GPUMEM_CACHE_DYNAMIC ? r->context : 0;
    for (uint32_t i = 0; i < m->n_layer; i++) {
        if (sel && !sel[i])
            continue;
        layer_kv(&m->layers[i], tokens, held, r->tp, &elems, &f32);
        sliding += m->layers[i].attn == ATTN_KIND_SLIDING;
        ssm += m->layers[i].ssm;
        attn += !m->layers[i].ssm && m->layers[i].attn != ATTN_KIND_NONE;
    }
    uint64_t total, total32;
    if (elems.overflow || f32.overflow || !u64_mul(elems.sum, r->batch, &total) ||
        !u64_mul(f32.sum, r->batch, &total32))
        return err_set(err, GPUMEM_ERR_OVERFLOW, "KV cache does not fit in 64 bits");
    uint64_t bytes = nbytes(r->kv_dtype, total, &a);
    acc_mul(&a, 2, (uint64_t[]){total32, 4});
    acc_add(&a, bytes);
    bytes = a.sum;
    if (a.overflow)
        return err_set(err, GPUMEM_ERR_OVERFLOW, "KV cache does not fit in 64 bits");
    if (ssm && attn)
        return device_add(gpu, "kv_cache", bytes, err,
                          "%llu x %llu tokens, %s %s, K/V of %u attention layers + conv "
                          "and fp32 SSM state of %u Mamba layers",
                          (unsigned long long)r->batch, (unsigned long long)tokens,
                          dtype_get(r->kv_dtype)->name, gpumem_cache_name(r->cache), attn, ssm);
    const char *kind = m->layers[0].ssm                    ? "SSM state per sequence"
                       : m->layers[0].attn == ATTN_KIND_MLA ? "MLA latent + rope key"
                       : sliding && held ? "sliding-window layers hold the prompt after prefill"
                       : sliding         ? "sliding-window layers capped"
                                                           : "K and V per KV head";
    return device_add(gpu, "kv_cache", bytes, err, "%llu x %llu tokens, %s %s, %s",
                      (unsigned long long)r->batch, (unsigned long long)tokens,
                      dtype_get(r->kv_dtype)->name, gpumem_cache_name(r->cache), kind);
}

/* ------------------------------------------------------------ activations */

/* Peak of live intermediate elements per token inside one layer (no grad).
 * Four hidden-sized tensors stay live through a layer: the model's
 * inputs_embeds (held by the model's forward for the whole loop), the
 * layer's input (held by the caller), the residual and the normed input
 * (measured: validation/measurements/torch_inference.jsonl "top"). */
typedef struct {
    uint64_t scores; /* beside eager attention's scores: q, k, v and copies */
    uint64_t attn;   /* through the attention (or mixer) block */
    uint64_t ff;     /* through the MLP or MoE block */
} layer_peak;

static layer_peak layer_peak_per_token(const gpumem_model *m, const model_layer *l, uint32_t tp,
                                       gpumem_dtype compute, gpumem_attn impl)
{
    /* An encoder (BERT: LayerNorm after the residual) holds two: the
     * embedding output and the layer's input (measured: bert-base). */
    uint64_t h = m->n_embd, base = (m->is_encoder ? 2 * h : 4 * h) + m->layer_extra_live;
    uint64_t attn = 0, ff = 0, scores = 0;
    /* fp32 intermediates count twice in 16-bit compute. */
    uint64_t f32 = dtype_get(compute)->bytes_num < 4 ? 2 : 1;
    if (l->ssm && l->ssm_delta) {
        /* Gated delta net on the torch path (Qwen3NextGatedDeltaNet with
         * torch_chunk_gated_delta_rule, transformers 5.24), live in the
         * chunk loop: in_proj_qkvz's output, z's copy and the conv output
         * in the compute dtype; in fp32 per value head (q and k repeated
         * to every value head): the padded v, k_beta, v_beta, decayed
         * k_beta, the two triangular solves, the decayed q and k, the
         * output and one more copy (5 head_k + 5 head_v), and three
         * chunk-wide tensors (pairwise decay, UT system, intra-chunk
         * attention). Measured: tiny-qwen3-next, torch_inference.jsonl. */
        uint64_t nv = div_up(l->ssm_heads, tp), nk = div_up(l->ssm_groups, tp);
        uint64_t kd = nk * l->ssm_d_state, vd = nv * l->ssm_head_dim;
        attn = 2 * kd + 2 * vd + 2 * nv + vd + 2 * kd + vd + nv +
               f32 * (nv * (5ull * l->ssm_d_state + 5ull * l->ssm_head_dim +
                            3ull * l->ssm_chunk) + 3 * nv);
    } else if (l->ssm && l->ssm_lightning) {
        /* MiniMax lightning attention (MiniMaxLightningAttention,
         * transformers 5.24) at its RMSNorm: the activated qkv (3 d), the
         * reshaped output (d), the norm's fp32 input copy and product (2 d
         * in fp32), and one block's [heads, block, block] products, at
         * most heads x block per token once the prompt fills a block.
         * Measured: tiny-minimax-wide s512 and s2048. */
        uint64_t d = div_up(l->ssm_d_inner, tp), nh = div_up(l->ssm_heads, tp);
        attn = 4 * d + f32 * 2 * d + nh * (uint64_t)l->ssm_chunk;
    } else if (l->ssm && l->ssm_torch_mamba2) {
        /* Mamba2Mixer.torch_forward (modeling_mamba2.py, transformers
         * 5.24): in_proj's output and the conv output in the compute
         * dtype; in fp32 the padded input, B and C (repeated to every
         * head: heads x state each) and one more heads x state product,
         * six d_inner-wide tensors (D's residual, input x dt, the chunk
         * products) and, per chunk, L, G and M (3 heads x chunk).
         * Measured: tiny-mamba2, tiny-mamba2-s32, tiny-falcon-h1 (heads x
         * state twice d_inner there). */
        uint64_t d = div_up(l->ssm_d_inner, tp), nh = div_up(l->ssm_heads, tp);
        uint64_t conv = d + 2ull * l->ssm_groups * l->ssm_d_state;
        uint64_t bc = nh * l->ssm_d_state;
        attn = d + 2 * conv + nh + f32 * (7 * d + 3 * bc + 3 * nh * (uint64_t)l->ssm_chunk);
    } else if (l->ssm && l->ssm_heads) {
        /* Mamba-2 on the torch path (GraniteMoeHybridMambaLayer,
         * NemotronHMamba2Mixer with mamba2_chunk_scan, transformers 5.24):
         * in_proj's output (gate, conv input, dt) and the conv output in
         * the compute dtype; inside the chunked scan, fp32: the input and
         * input x dt (2 d_inner), B and C repeated to every head (2 heads x
         * d_state) and, per chunk, the decay L, scores G and masked M
         * (3 heads x chunk_size per token). */
        uint64_t d = div_up(l->ssm_d_inner, tp), nh = div_up(l->ssm_heads, tp);
        uint64_t conv = d + 2ull * l->ssm_groups * l->ssm_d_state;
        attn = d + 2 * conv + nh +
               f32 * (2 * d + 2 * nh * l->ssm_d_state + 3 * nh * (uint64_t)l->ssm_chunk);
    } else if (l->ssm && l->ssm_bc_norms) {
        /* Jamba's Mamba-1 slow path (modeling_jamba.py): in_proj output
         * (2 d_inner), conv output, x_proj output (dt_rank + 2 d_state), dt
         * (d_inner); fp32 in the scan: softplus(dt) and, per token,
         * discrete_A, discrete_B and deltaB_u (3 d_inner x d_state). */
        uint64_t d = div_up(l->ssm_d_inner, tp);
        attn = 4 * d + l->ssm_dt_rank + 2ull * l->ssm_d_state +
               f32 * (d + 3 * d * l->ssm_d_state);
    } else if (l->ssm && l->ssm_state_f32) {
        /* Falcon-Mamba's slow path (FalconMambaMixer.slow_forward,
         * transformers 5.24): in_proj output (2 d_inner), conv output,
         * its copy, softplus(dt) and the stacked scan outputs in the
         * compute dtype, x_proj's output; in fp32 two d_inner-wide
         * tensors and discrete_A, discrete_B, deltaB_u (3 d_inner x
         * d_state). Measured: tiny-falcon-mamba. */
        uint64_t d = div_up(l->ssm_d_inner, tp);
        attn = 6 * d + l->ssm_dt_rank + 2ull * l->ssm_d_state +
               f32 * (2 * d + 3 * d * l->ssm_d_state);
    } else if (l->ssm) {
        /* in_proj output (2 d), conv output, x_proj, dt, gated output. */
        uint64_t d = div_up(l->ssm_d_inner, tp);
        attn = 2 * d + 3 * d + l->ssm_dt_rank + 2 * (uint64_t)l->ssm_d_state;
    } else if (l->attn != ATTN_KIND_NONE) {
        uint64_t nh = div_up(l->n_head, tp), nkv = div_up(l->n_head_kv, tp);
        uint64_t q = nh * l->head_dim_k, kv = nkv * (l->head_dim_k + (uint64_t)l->head_dim_v);
        /* q, k, v; their rotary copies; K/V repeated to all heads for the
         * kernel; the attention output and o_proj's output. */
        attn = 2 * (q + kv) + nh * (l->head_dim_k + (uint64_t)l->head_dim_v) +
               nh * l->head_dim_v + h;
        /* flash_attention_2 reads GQA's K/V as they are (no repeat_kv) and
         * returns an fp32 log-sum-exp per head and token (2 elements of
         * 16-bit compute; integrations/flash_attention.py, 5.24). */
        if (impl == GPUMEM_ATTN_FLASH)
            attn = attn - nh * (l->head_dim_k + (uint64_t)l->head_dim_v) + 2 * nh;
        /* Eager's scores come before the attention output and o_proj,
         * beside q, k and v once (separate projections: the rotary results
         * replace them), twice where a fused projection's output stays
         * whole beside rotated copies, and K/V repeated to all heads where
         * GQA repeats them (measured: bert-base eager q, k, v; llama-3.1-8b
         * eager q and two clones; tiny-llava q beside the cache;
         * tiny-modernbert Wqkv beside rotated q and k). */
        scores = (q + kv) * (m->qkv_fused && !m->learned_positions ? 2 : 1) +
                 (nkv < nh ? nh * (l->head_dim_k + (uint64_t)l->head_dim_v) : 0);
        if (m->rope_f32) {
            /* ModernBERT (transformers 5.24) rotates q, then k, in fp32:
             * at k's rotate_half the fused qkv output, the rotated q and
             * k's fp32 copy, its cos product, negated half and cat (q +
             * 3.5 k in fp32) beside the pre-norm input. Measured:
             * tiny-modernbert sdpa. */
            uint64_t kd = nkv * l->head_dim_k;
            uint64_t rope = h + q + kv + f32 * (q + (7 * kd + 1) / 2);
            attn = rope > attn ? rope : attn;
        }
        if (l->attn == ATTN_KIND_MLA) {
            attn += l->kv_lora_rank + l->qk_rope_dim;
            scores += l->kv_lora_rank + l->qk_rope_dim;
        }
    }
    uint64_t mats = l->gated_ff ? 3 : 2, live = l->ff_live ? l->ff_live : mats;
    if (l->n_ff)
        ff = live * div_up(l->n_ff, tp) + h;
    if (l->n_expert) {
        /* transformers 5.24 runs experts with grouped_mm by default
         * (integrations/moe.py grouped_mm_experts_forward): every token is
         * copied once per chosen expert (S = k x tokens rows), then
         * the expert projections run over those rows.
         * Router logits with their fp32 softmax (3E), the int64 top-k
         * indices, sort order and permutation (k x 24 bytes), and the
         * shared expert's output beside them. */
        uint64_t k = l->n_expert_used, ie = div_up(l->n_ff_expert, tp);
        /* Two phases: gathered input + gate_up + act + product (H + 4I),
         * then gathered input + down output + the weighted and reordered
         * rows, which are fp32 when the router keeps fp32 weights
         * (DeepSeek; measured), i.e. 2 elements each in 16-bit compute. */
        uint64_t f32 = dtype_get(compute)->bytes_num < 4 && !l->moe_weights_compute ? 2 : 1;
        uint64_t phase_a = h + 4 * ie, phase_b = 2 * h + 2 * f32 * h;
        uint64_t per_row = phase_a > phase_b ? phase_a : phase_b;
        uint64_t routed = k * per_row + 3ull * l->n_expert + 12 * k + h;
        uint64_t shared = l->n_ff_shared ? mats * div_up(l->n_ff_shared, tp) + h : 0;
        uint64_t moe = routed > shared ? routed : shared;
        if (l->experts_all_tokens) {
            /* Llama4TextMoe (modeling_llama4.py, transformers 5.24): the
             * input repeated once per expert and scaled by the router
             * scores (2 E H), then bmm over all E experts: gate_up (2 I),
             * the activation and product (2 I) per expert row beside the
             * scaled input, or later the product and the output (I + H)
             * beside the scaled input and gate_up; router logits and
             * scores (2 E). */
            uint64_t e = l->n_expert;
            uint64_t a = h + 4 * ie, b = 2 * h + 3 * ie, rows = a > b ? a : b;
            uint64_t all = e * rows + 2 * e + h;
            moe = all > shared ? all : shared;
        }
        if (l->params_expert > (uint64_t)l->n_expert * mats * h * l->n_ff_expert)
            moe += k * 2 * ie; /* per-row expert biases gathered (gpt-oss) */
        ff = ff > moe ? ff : moe;
    }
    return (layer_peak){base + scores, base + attn, base + ff};
}

static gpumem_status activations(const gpumem_model *m, const engine_req *r, const bool *sel,
                                 gpumem_device *gpu, gpumem_error *err)
{
    uint64_t per_scores = 0, per_attn = 0, per_ff = 0, eager = 0;
    bool sliding_short = false, full_layers = false;
    if (r->attn == GPUMEM_ATTN_FLASH && dtype_get(r->compute)->bytes_num > 2)
        return err_set(err, GPUMEM_ERR_USAGE,
                       "flash attention (flash_attention_2) runs in fp16 or bf16, not %s: give "
                       "--dtype bf16 or another --attn",
                       dtype_get(r->compute)->name);
    acc a = {0, false}, bytes = {0, false};
    for (uint32_t i = 0; i < m->n_layer; i++) {
        const model_layer *l = &m->layers[i];
        if (sel && !sel[i])
            continue;
        if (l->attn == ATTN_KIND_SLIDING && l->window < r->context)
            sliding_short = true;
        if (l->attn == ATTN_KIND_FULL || l->attn == ATTN_KIND_MLA ||
            (l->attn == ATTN_KIND_SLIDING && l->window >= r->context))
            full_layers = true;
        layer_peak p = layer_peak_per_token(m, l, r->tp, r->compute, r->attn);
        per_scores = p.scores > per_scores ? p.scores : per_scores;
        per_attn = p.attn > per_attn ? p.attn : per_attn;
        per_ff = p.ff > per_ff ? p.ff : per_ff;
        if (r->attn == GPUMEM_ATTN_EAGER && l->attn != ATTN_KIND_NONE && !l->ssm)
            eager = div_up(l->n_head, r->tp) > eager ? div_up(l->n_head, r->tp) : eager;
    }
    uint64_t tokens;
    if (!u64_mul(r->batch, r->context, &tokens))
        return err_set(err, GPUMEM_ERR_OVERFLOW, "batch x context does not fit in 64 bits");
    /* Three phases of a layer: eager attention at its softmax (q, k, v
     * beside the scores); the rest of the attention block; the MLP. The
     * scores of one phase are freed before the next, except eager's
     * attention weights in the compute dtype: the decoder layer binds
     * them (`hidden_states, _ = self.self_attn(...)`), so they stay live
     * through the MLP (measured: _softmax beside the experts' peak in
     * tiny-mixtral fp32 eager). */
    uint64_t d = dtype_get(r->compute)->bytes_num, s2 = 0, probs = 0;
    if (!u64_mul(r->context, r->context, &s2) || !u64_mul(r->batch * eager, s2, &probs))
        a.overflow = true;
    acc ph_scores = {0, false}, ph_rest = {0, false};
    acc_mul(&ph_scores, 3, (uint64_t[]){tokens, per_scores, d});
    acc_mul(&ph_rest, 3, (uint64_t[]){tokens, per_attn > per_ff ? per_attn : per_ff, d});
    if (eager) {
        /* At the softmax: the scores and their masked sum in the compute
         * dtype, or, where softmax upcasts (eager_attention_forward of most
         * decoders), the scores plus softmax's fp32 input copy and fp32
         * result (none extra when already fp32; measured peak op on the
         * CPU: _softmax; CUDA's kernel converts in place and needs less). */
        uint64_t per_score = m->softmax_native ? 2 * d : d + 4 + (d < 4 ? 4 : 0);
        per_score += m->eager_extra_scores * d;
        acc_mul(&ph_scores, 2, (uint64_t[]){probs, per_score});
        acc_mul(&ph_rest, 2, (uint64_t[]){probs, d});
    }
    acc_add(&bytes, ph_scores.sum > ph_rest.sum ? ph_scores.sum : ph_rest.sum);
    /* Attention masks [batch, 1, q, k], live through the whole forward:
     * eager always builds them, in the compute dtype; SDPA only when some
     * layer slides over a window shorter than the context (a causal-only
     * model passes is_causal instead), as bool (measured: bitwise_and,
     * [1, 1, q, k] without padding; the batch is counted for padded
     * prompts). A model with both full and sliding layers builds one of
     * each (masking_utils.py, transformers 5.24). */
    uint64_t masks = 0;
    if (r->attn == GPUMEM_ATTN_FLASH)
        masks = 0; /* flash_attn takes window_size and is_causal, no mask */
    else if (sliding_short && full_layers)
        masks = 2;
    else if (sliding_short || r->attn == GPUMEM_ATTN_EAGER)
        masks = 1;
    acc_mul(&bytes, 4, (uint64_t[]){r->batch, s2, r->attn == GPUMEM_ATTN_EAGER ? d : 1, masks});
    if (ph_scores.overflow || ph_rest.overflow)
        a.overflow = true;
    /* bitsandbytes dequantises a whole weight matrix into the compute dtype
     * for every multi-token matmul (MatMul4Bit / int8 outlier handling):
     * the largest matrix of a layer is live beside the activations. */
    if (dtype_get(r->dtype)->quantized) {
        uint64_t widest = 0;
        for (uint32_t i = 0; i < m->n_layer; i++) {
            const model_layer *l = &m->layers[i];
            uint64_t w = l->n_ff > l->n_ff_expert ? l->n_ff : l->n_ff_expert;
            uint64_t q = (uint64_t)l->n_head * l->head_dim_k;
            widest = w > widest ? w : widest;
            widest = q > widest ? q : widest;
        }
        acc_add(&bytes, nbytes(r->compute, (uint64_t)m->n_embd * div_up(widest, r->tp), &a));
    }
    if (a.overflow || bytes.overflow)
        return err_set(err, GPUMEM_ERR_OVERFLOW, "activations do not fit in 64 bits");
    bool ssm = false;
    for (uint32_t i = 0; i < m->n_layer; i++)
        ssm |= m->layers[i].ssm;
    return device_add(gpu, "activations", bytes.sum, err,
                      "prefill peak of one layer over %llu tokens, %s attention%s",
                      (unsigned long long)tokens, gpumem_attn_name(r->attn),
                      ssm ? "; Mamba layers on transformers' torch path (the mamba-ssm "
                            "kernels need less)"
                          : "");
}

/* ----------------------------------------------------------------- logits */

/* `head_only`: the device of a device_map's lm_head when the inputs live
 * elsewhere: only lm_head's output in the compute dtype (accelerate moves
 * it to the inputs' device, where the fp32 copies are made). */
static gpumem_status logits(const gpumem_model *m, const engine_req *r, bool head_only,
                            gpumem_device *gpu, gpumem_error *err)
{
    if (m->is_encoder)
        return GPUMEM_OK;
    /* generate() asks for the last position only (logits_to_keep=1), copies
     * it to fp32, and the sampler's softmax makes one more fp32 copy. */
    acc a = {0, false};
    uint64_t n;
    if (!u64_mul(r->batch, m->n_vocab, &n))
        return err_set(err, GPUMEM_ERR_OVERFLOW, "logits do not fit in 64 bits");
    uint64_t bytes = nbytes(r->compute, n, &a);
    if (head_only) {
        if (a.overflow)
            return err_set(err, GPUMEM_ERR_OVERFLOW, "logits do not fit in 64 bits");
        return device_add(gpu, "logits", bytes, err, "lm_head output, last position x %u vocab, %s",
                          m->n_vocab, dtype_get(r->compute)->name);
    }
    bytes += 2 * nbytes(GPUMEM_DTYPE_FP32, n, &a);
    if (a.overflow)
        return err_set(err, GPUMEM_ERR_OVERFLOW, "logits do not fit in 64 bits");
    return device_add(gpu, "logits", bytes, err,
                      "last position x %u vocab: %s + 2 fp32 copies", m->n_vocab,
                      dtype_get(r->compute)->name);
}

/* ----------------------------------------------------------------- images */

static uint64_t component_bytes(const gpumem_device *gpu, const char *name)
{
    for (size_t i = 0; i < gpu->n_components; i++)
        if (strcmp(gpu->components[i].name, name) == 0)
            return gpu->components[i].bytes;
    return 0;
}

/* A prompt with images (transformers 5.24, modeling_llava.py /
 * modeling_gemma3.py get_image_features; modeling_clip.py,
 * modeling_siglip.py): the tower runs over all batch x images images before
 * the text layers, so the prefill has two peaks. In the tower's layer k >= 1
 * (traced on the meta device, validation/measure_torch.py --images) live
 * [T, hidden] tensors are the encoder's input (its caller holds it), the
 * layer's input, the attention residual sum and the second LayerNorm's
 * output; the MLP adds fc1's [T, ff] output and the activation's (two for
 * quick_gelu: sigmoid, mul). Before the MLP the attention holds the first
 * LayerNorm, q, k, v and its output instead. Eager attention at its softmax
 * holds six [T, hidden] tensors and the [heads, T, T] scores, their fp32
 * upcast and the fp32 softmax. With them: pixel_values and the prompt's
 * input_ids, attention mask and its masked copy (int64). The KV cache and
 * the logits do not exist yet. After the tower, the text layers run with
 * pixel_values, the projected features (llava: also their concatenation),
 * the tower's outputs the model kept (llava: the last two hidden states;
 * gemma3: last_hidden_state) and the image-token mask still live. The
 * component is what the images add to the text prefill's peak. */
static gpumem_status image_peak(const gpumem_model *m, const engine_req *r, gpumem_device *gpu,
                                gpumem_error *err)
{
    const model_vision_act *v = &m->vision_act;
    if (!v->tokens)
        return err_set(err, GPUMEM_ERR_UNSUPPORTED,
                       "images: the vision tower's activations are modelled for llava (CLIP "
                       "tower) and gemma3 only");
    uint64_t need = (uint64_t)r->images * v->text_tokens;
    if (need >= r->context)
        return err_set(err, GPUMEM_ERR_USAGE,
                       "context %llu cannot hold %u images of %u image tokens and a text token",
                       (unsigned long long)r->context, r->images, v->text_tokens);
    acc a = {0, false}, tower = {0, false}, scores = {0, false};
    uint64_t d = dtype_get(r->compute)->bytes_num, n = r->batch * r->images;
    uint64_t t = v->tokens, h = v->hidden, f = v->ff;
    if (r->attn == GPUMEM_ATTN_EAGER) {
        acc_mul(&tower, 2, (uint64_t[]){6 * t, h});
        acc_mul(&scores, 4, (uint64_t[]){v->heads, t, t, d + 4 + (d < 4 ? 4 : 0)});
    } else {
        uint64_t mlp = 4 * h + (1 + (uint64_t)v->act_tensors) * f, attn = 7 * h;
        acc_mul(&tower, 2, (uint64_t[]){t, mlp > attn ? mlp : attn});
    }
    uint64_t per_image = nbytes(r->compute, tower.sum + v->pixels, &a) + scores.sum;
    acc vision = {0, false}, text = {0, false};
    acc_mul(&vision, 2, (uint64_t[]){n, per_image});
    acc_mul(&vision, 3, (uint64_t[]){3 * 8, r->batch, r->context});
    uint64_t held = v->pixels + (uint64_t)v->feature_copies * v->text_tokens * m->n_embd +
                    (uint64_t)v->held_states * t * h;
    acc_mul(&text, 2, (uint64_t[]){n, nbytes(r->compute, held, &a)});
    acc_mul(&text, 2, (uint64_t[]){r->batch, r->context}); /* the image-token mask, bool */
    if (a.overflow || tower.overflow || scores.overflow || vision.overflow || text.overflow)
        return err_set(err, GPUMEM_ERR_OVERFLOW, "image activations do not fit in 64 bits");
    uint64_t text_peak = component_bytes(gpu, "kv_cache") + component_bytes(gpu, "activations") +
                         component_bytes(gpu, "logits");
    uint64_t over = vision.sum > text_peak ? vision.sum - text_peak : 0;
    bool tower_peak = over > text.sum;
    return device_add(gpu, "images", tower_peak ? over : text.sum, err,
                      "%llu image(s) of %llu patches: %s", (unsigned long long)n,
                      (unsigned long long)t,
                      tower_peak ? "the vision tower's peak, over the text prefill's"
                                 : "pixel_values and image features held through the text prefill");
}

gpumem_status engine_transformers(const gpumem_model *m, const engine_req *r,
                                  gpumem_device *gpu, gpumem_error *err)
{
    gpumem_status st;
    if (!m->layers) /* weights file without an architecture: weights only */
        st = weights(m, r, gpu, err);
    else if ((st = weights(m, r, gpu, err)) != GPUMEM_OK ||
             (st = vision_weights(m, r, gpu, err)) != GPUMEM_OK ||
             (st = kv_cache(m, r, NULL, gpu, err)) != GPUMEM_OK ||
        (st = activations(m, r, NULL, gpu, err)) != GPUMEM_OK ||
        (st = logits(m, r, false, gpu, err)) != GPUMEM_OK ||
        (r->images && (st = image_peak(m, r, gpu, err)) != GPUMEM_OK))
        return st;
    return runtime(gpu, "CUDA 12 context with torch (modelled, not allocator-visible)", err);
}

/* ------------------------------------------------------------ device_map */

/* bitsandbytes quantised on load (transformers 5.24 quantizer_bnb_*bit.py,
 * bitsandbytes 0.50): replace_with_bnb_linear swaps every nn.Linear but
 * lm_head for Linear4bit / Linear8bitLt; fused MoE experts (3-D
 * parameters), routers, norms and biases stay in the compute dtype.
 * accelerate sizes a quantised weight at quantized_element_size per
 * element (0.5 nf4, 1 int8) and nothing else; loaded, nf4 adds its block
 * scales (nf4_scales) and int8 one fp32 SCB per output row. */
static void bnb_layer(const gpumem_model *m, const engine_req *r, const model_layer *l,
                      uint64_t *sized, uint64_t *extra, acc *a)
{
    quant_matrix mats[QUANT_MAX_MATRICES], ex[2];
    size_t nm, ne;
    quant_layer_matrices(m, l, mats, &nm, ex, &ne);
    uint64_t q = 0, scales = 0;
    bool nf4 = r->dtype == GPUMEM_DTYPE_INT4;
    for (size_t i = 0; i < nm; i++) {
        uint64_t elems = mats[i].k * mats[i].n;
        q += elems * mats[i].count;
        scales += (nf4 ? nf4_scales(elems, r->double_quant) : mats[i].n * 4) * mats[i].count;
    }
    /* the swapped modules' biases are made in torch's default dtype, fp32,
     * and sized so (kept as an upper bound once loaded) */
    uint64_t bias = l->params_linear_bias;
    uint64_t all = l->params_linear + l->params_expert + l->params_small;
    uint64_t rest = all > q + bias ? all - q - bias : 0;
    *sized = (nf4 ? q / 2 : q) + 4 * bias + nbytes(r->compute, rest, a);
    *extra = scales;
}

/* Sizes as accelerate's compute_module_sizes sees them: parameters in the
 * storage dtype (bitsandbytes: bnb_layer), and rotary_emb's two fp32
 * buffers (inv_freq and original_inv_freq, head_dim / 2 each:
 * modeling_llama.py, 5.24; Gemma 3 one pair per layer type) and Gemma's
 * embed_scale scalar. A multimodal
 * model's tower and projector in the weights dtype, with the tower's
 * buffers. `extra`: the bytes loading adds to each layer (bnb scales). */
static gpumem_status dm_module_sizes(const gpumem_model *m, const engine_req *r, uint64_t *layer,
                                     uint64_t *extra, dm_sizes *sz, gpumem_error *err)
{
    acc a = {0, false};
    bool bnb = dtype_get(r->dtype)->quantized;
    bool stored = m->has_storage && !r->dtype_given && !bnb;
    gpumem_dtype keep = bnb ? r->compute : r->dtype;
    bool rope = !m->learned_positions;
    uint32_t rot = 0;
    for (uint32_t i = 0; i < m->n_layer; i++) {
        const model_layer *l = &m->layers[i];
        extra[i] = 0;
        if (bnb)
            bnb_layer(m, r, l, &layer[i], &extra[i], &a);
        else
            layer[i] = stored ? l->bytes_linear + l->bytes_expert + l->bytes_small
                              : nbytes(r->dtype,
                                       l->params_linear + l->params_expert + l->params_small, &a);
        if (!rot && !l->ssm && l->attn != ATTN_KIND_NONE)
            rot = l->attn == ATTN_KIND_MLA ? l->qk_rope_dim : l->head_dim_k;
    }
    *sz = (dm_sizes){m->n_layer, layer, 0, 0, 0, 0, m->tied, false, 0, 0};
    sz->embed = stored ? m->bytes_embed : nbytes(keep, m->params_embed, &a);
    if (m->embed_scale_buffer) /* one scalar in the default dtype the model was built in */
        sz->embed += nbytes(keep, 1, &a);
    sz->norm = stored ? m->bytes_other : nbytes(keep, m->params_other, &a);
    sz->lm_head = stored ? m->bytes_output : nbytes(keep, m->params_output, &a);
    sz->rotary = rope ? 4ull * rot * (m->rope_per_layer_type ? 2 : 1) : 0;
    if (m->params_vision) {
        sz->multimodal = true;
        sz->vision = nbytes(keep, m->params_vision - m->params_projector, &a) +
                     m->vision_buffer_bytes;
        sz->projector = nbytes(keep, m->params_projector, &a);
    }
    if (a.overflow)
        return err_set(err, GPUMEM_ERR_OVERFLOW, "weights do not fit in 64 bits");
    return GPUMEM_OK;
}

/* The largest tensor module of an offloaded layer: accelerate's hooks copy
 * an offloaded module's weights to the main GPU one leaf module at a time
 * (attach_align_device_hook), i.e. one projection, or all of a layer's
 * fused experts (transformers 5 MoE). A gated MLP counts gate and up
 * together (fused in some architectures). */
static uint64_t dm_leaf_bytes(const gpumem_model *m, const engine_req *r, const model_layer *l,
                              uint64_t layer_bytes, acc *a)
{
    uint64_t h = m->n_embd, w = l->n_ff > l->n_ff_shared ? l->n_ff : l->n_ff_shared;
    uint64_t q = (uint64_t)l->n_head * l->head_dim_k;
    uint64_t e = l->n_expert ? l->params_expert : 0;
    uint64_t x = h * (l->gated_ff ? 2 * w : w);
    x = q * h > x ? q * h : x;
    x = e > x ? e : x;
    uint64_t b = nbytes(r->dtype, x, a);
    return b < layer_bytes ? b : layer_bytes;
}

static void dm_describe(char *buf, size_t cap, const dm_placement *p, uint32_t n_layer, int dev)
{
    int first = -1, last = -1;
    for (uint32_t i = 0; i < n_layer; i++)
        if (p->layer_dev[i] == dev) {
            first = first < 0 ? (int)i : first;
            last = (int)i;
        }
    size_t n = 0;
    buf[0] = '\0';
    if (first >= 0)
        n += (size_t)snprintf(buf, cap, first == last ? "layer %d" : "layers %d-%d", first, last);
    const char *names[5] = {"vision tower", "projector", "embed_tokens", "norm", "lm_head"};
    const int16_t devs[5] = {p->vision, p->projector, p->embed, p->norm, p->lm_head};
    for (int k = 0; k < 5 && n < cap; k++)
        if (devs[k] == dev)
            n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? ", " : "", names[k]);
}

/* A placement and where things run. */
typedef struct {
    const dm_placement *p;
    const dm_sizes *sz;
    const uint64_t *layer; /* each layer's bytes */
    const uint64_t *loaded; /* per device: weights once loaded (p->bytes + bnb scales) */
    uint32_t n_gpus;
    int main_dev, input_dev;
    bool *sel; /* scratch: the layers a device runs */
} dm_run;

/* One device's components: d a GPU index or DM_HOST. */
static gpumem_status dm_device(const gpumem_model *m, const engine_req *r, const dm_run *x, int d,
                               gpumem_device *dev, gpumem_error *err)
{
    char what[96];
    gpumem_status st;
    const dm_placement *p = x->p;
    int main_dev = x->main_dev, input_dev = x->input_dev;
    bool *sel = x->sel;
    dm_describe(what, sizeof what, p, m->n_layer, d);
    uint64_t wb = x->loaded[d == DM_HOST ? x->n_gpus : (uint32_t)d];
    if (wb && (st = device_add(dev, "weights", wb, err, "%s%s", what[0] ? what : "buffers",
                               d == DM_HOST ? " (offloaded to the CPU)" : "")) != GPUMEM_OK)
        return st;
    bool any = false;
    for (uint32_t i = 0; i < m->n_layer; i++) {
        int exec = p->layer_dev[i] == DM_HOST ? main_dev : p->layer_dev[i];
        sel[i] = exec == d;
        any |= sel[i];
    }
    if (d == main_dev && d != DM_HOST) {
        acc a = {0, false};
        uint64_t staging = 0;
        for (uint32_t i = 0; i < m->n_layer; i++)
            if (p->layer_dev[i] == DM_HOST) {
                uint64_t lb = dm_leaf_bytes(m, r, &m->layers[i], x->layer[i], &a);
                staging = lb > staging ? lb : staging;
            }
        if (p->lm_head == DM_HOST)
            staging = x->sz->lm_head > staging ? x->sz->lm_head : staging;
        if (p->embed == DM_HOST)
            staging = x->sz->embed > staging ? x->sz->embed : staging;
        if (staging && (st = device_add(dev, "offload_staging", staging, err,
                                        "largest CPU-offloaded module, copied in for its forward "
                                        "(accelerate hook)")) != GPUMEM_OK)
            return st;
    }
    if (any && ((st = kv_cache(m, r, sel, dev, err)) != GPUMEM_OK ||
                (st = activations(m, r, sel, dev, err)) != GPUMEM_OK))
        return st;
    int head_dev = p->lm_head == DM_HOST ? main_dev : p->lm_head;
    if (d == input_dev && (st = logits(m, r, false, dev, err)) != GPUMEM_OK)
        return st;
    if (d == head_dev && d != input_dev && (st = logits(m, r, true, dev, err)) != GPUMEM_OK)
        return st;
    if (d == DM_HOST)
        return GPUMEM_OK;
    return runtime(dev, "CUDA 12 context with torch (modelled): nvidia-smi shows it, "
                        "memory_allocated does not", err);
}

gpumem_status engine_transformers_device_map(const gpumem_model *m, const engine_req *r,
                                             const dm_request *rq, gpumem_estimate *out,
                                             gpumem_error *err)
{
    if (!m->layers)
        return err_set(err, GPUMEM_ERR_USAGE,
                       "a device_map places decoder layers: give a model name, config.json or "
                       "model directory");
    if (m->n_layer > GPUMEM_MAX_MASK_LAYERS)
        return err_set(err, GPUMEM_ERR_UNSUPPORTED, "a device_map over more than %d layers",
                       GPUMEM_MAX_MASK_LAYERS);
    const dtype_traits *t = dtype_get(r->dtype);
    bool bnb = t->quantized;
    if (m->params_vision && !m->vision_tree)
        return err_set(err, GPUMEM_ERR_UNSUPPORTED,
                       "a device_map of this multimodal model is not modelled (where accelerate "
                       "puts its vision modules is known for llava, gemma3, qwen2_vl and "
                       "qwen2_5_vl); run without --device-map");
    if (m->params_vision && bnb)
        return err_set(err, GPUMEM_ERR_UNSUPPORTED,
                       "a device_map of a multimodal model quantised by bitsandbytes is not "
                       "modelled (which vision linears it quantises); use fp16 or bf16");
    if (r->dtype == GPUMEM_DTYPE_FP8 || (m->quant.method != QUANT_NONE && !r->dtype_given))
        return err_set(err, GPUMEM_ERR_UNSUPPORTED,
                       "a device_map with %s weights is not modelled (only bitsandbytes "
                       "quantisation on load: --dtype nf4 or int8); use fp32, fp16 or bf16",
                       m->quant.method != QUANT_NONE ? quant_method_name(m->quant.method)
                                                     : t->name);
    gpumem_device_map_info *info = &out->device_map;
    uint64_t *layer = malloc((size_t)m->n_layer * sizeof *layer);
    uint64_t *extra = malloc((size_t)m->n_layer * sizeof *extra);
    bool *sel = malloc((size_t)m->n_layer * sizeof *sel);
    gpumem_status st = GPUMEM_OK;
    if (!layer || !extra || !sel) {
        st = err_set(err, GPUMEM_ERR_NOMEM, "out of memory");
        goto done;
    }
    dm_sizes sz;
    dm_placement p = {.layer_dev = info->layer_device};
    dm_request req = *rq;
    req.quantizer_margin = bnb; /* adjust_max_memory: "need more space for buffers" */
    if ((st = dm_module_sizes(m, r, layer, extra, &sz, err)) != GPUMEM_OK ||
        (st = dm_place(&sz, &req, &p, err)) != GPUMEM_OK)
        goto done;
    if (bnb && p.bytes[rq->n_gpus]) {
        /* quantizer_bnb_*bit.py validate_environment (5.24) */
        st = err_set(err, GPUMEM_ERR_USAGE,
                     "transformers refuses to load: %s weights would put %llu bytes on the CPU "
                     "(\"Some modules are dispatched on the CPU or the disk\"); give more GPUs "
                     "or more max_memory",
                     t->name, (unsigned long long)p.bytes[rq->n_gpus]);
        goto done;
    }
    uint64_t loaded[GPUMEM_MAX_SPLIT + 1];
    memcpy(loaded, p.bytes, sizeof loaded);
    for (uint32_t i = 0; i < m->n_layer; i++)
        loaded[p.layer_dev[i] == DM_HOST ? rq->n_gpus : (uint32_t)p.layer_dev[i]] += extra[i];
    /* dispatch_model's main device: the first GPU holding a module; it runs
     * the offloaded ones. The inputs follow model.device, the embedding's. */
    int main_dev = DM_HOST;
    for (uint32_t d = 0; d < rq->n_gpus && main_dev == DM_HOST; d++)
        if (p.bytes[d])
            main_dev = (int)d;
    int input_dev = p.embed == DM_HOST ? main_dev : p.embed;
    info->present = 1;
    info->strategy = rq->strategy;
    info->n_gpus = rq->n_gpus;
    memcpy(info->max_memory, p.max_memory, sizeof info->max_memory);
    info->n_layers = m->n_layer;
    info->embed_device = p.embed;
    info->norm_device = p.norm;
    info->lm_head_device = p.lm_head;
    info->main_device = (int16_t)main_dev;
    info->vision_device = p.vision;
    info->projector_device = p.projector;
    memcpy(info->sized_bytes, p.bytes, sizeof info->sized_bytes);
    memcpy(info->weight_bytes, loaded, sizeof info->weight_bytes);
    dm_run run = {&p, &sz, layer, loaded, rq->n_gpus, main_dev, input_dev, sel};
    for (uint32_t d = 0; d < rq->n_gpus; d++) {
        gpumem_device *dev = &out->devices[d];
        snprintf(dev->name, sizeof dev->name, "gpu%u", d);
        if ((st = dm_device(m, r, &run, (int)d, dev, err)) != GPUMEM_OK)
            goto done;
    }
    out->n_devices = rq->n_gpus;
    if (p.bytes[rq->n_gpus] || main_dev == DM_HOST) {
        gpumem_device *host = &out->devices[out->n_devices++];
        snprintf(host->name, sizeof host->name, "host");
        host->is_host = 1;
        st = dm_device(m, r, &run, DM_HOST, host, err);
    }
done:
    free(layer);
    free(extra);
    free(sel);
    return st;
}
