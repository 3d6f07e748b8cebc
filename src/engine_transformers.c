/* PyTorch + transformers inference, as `model.generate` runs it: weights in
 * their storage dtype, a DynamicCache, the transient peak of the prefill
 * forward pass, the logits of the last position, the CUDA context and the
 * cuBLAS workspace. Modelled version: transformers 5.24 with torch 2.15
 * (modeling_llama.py and siblings, cache_utils.py, generation/utils.py). */
#include "dtype_internal.h"
#include "estimate_internal.h"
#include "util_internal.h"

#include <string.h>

/* CUDA context of a torch process on CUDA 12 with lazy module loading:
 * 300-600 MiB depending on GPU and driver (REFERENCE.md); the upper half is
 * taken so the fit verdict errs on the safe side. */
static const uint64_t cuda_context_bytes = 512ull << 20;
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

/* ---------------------------------------------------------------- weights */

/* Weight bytes of the quantisable matrices under the storage dtype:
 * bitsandbytes NF4 keeps 4 bits plus one fp32 absmax per 64 weights
 * (4.5 bits, no double quantisation by default); LLM.int8 keeps 8 bits plus
 * an fp32 scale per output row; fine-grained FP8 keeps an fp32 scale per
 * 128x128 block. */
static uint64_t linear_bytes(gpumem_dtype d, uint64_t params, uint32_t n_embd, acc *a)
{
    switch (d) {
    case GPUMEM_DTYPE_INT4:
        return nbytes(d, params, a) + div_up(params, 64) * 4;
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
                      "%llu params as stored (%s)%s", (unsigned long long)m->params_total,
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
    acc lin = {0, false}, small = {0, false}, a = {0, false}, experts = {0, false};
    for (uint32_t i = 0; i < m->n_layer; i++) {
        acc_add(&lin, m->layers[i].params_linear);
        acc_add(dequant ? &experts : &lin, m->layers[i].params_expert);
        acc_add(&small, m->layers[i].params_small);
    }
    /* Embeddings, lm_head, norms and biases stay in the compute dtype when
     * the matrices are quantised (bitsandbytes skips lm_head by default). */
    const dtype_traits *t = dtype_get(r->dtype);
    bool matrices_only = t->quantized || r->dtype == GPUMEM_DTYPE_FP8;
    gpumem_dtype keep = matrices_only ? r->compute : r->dtype;
    uint64_t bytes = div_up(linear_bytes(r->dtype, lin.sum, m->n_embd, &a), r->tp);
    bytes += div_up(nbytes(keep, m->params_embed + m->params_output, &a), r->tp);
    bytes += nbytes(keep, small.sum + m->params_other, &a);
    if (dequant) {
        bytes += div_up(nbytes(GPUMEM_DTYPE_BF16, experts.sum, &a), r->tp);
        if (lin.overflow || small.overflow || experts.overflow || a.overflow)
            return err_set(err, GPUMEM_ERR_OVERFLOW, "weights do not fit in 64 bits");
        return device_add(gpu, "weights", bytes, err,
                          "%llu params; mxfp4 experts dequantised to bf16 (no `kernels` "
                          "package), rest %s%s",
                          (unsigned long long)m->params_total, t->name,
                          r->tp > 1 ? ", split over GPUs" : "");
    }
    if (lin.overflow || small.overflow || a.overflow)
        return err_set(err, GPUMEM_ERR_OVERFLOW, "weights do not fit in 64 bits");
    if (matrices_only)
        return device_add(gpu, "weights", bytes, err,
                          "%llu params; matrices %s, embeddings and norms %s%s",
                          (unsigned long long)m->params_total, t->name,
                          dtype_get(r->compute)->name, r->tp > 1 ? ", split over GPUs" : "");
    return device_add(gpu, "weights", bytes, err, "%llu params x %s%s",
                      (unsigned long long)m->params_total, t->name,
                      r->tp > 1 ? ", split over GPUs" : "");
}

/* --------------------------------------------------------------- KV cache */

/* Elements one sequence caches in layer l at `ctx` tokens. transformers'
 * DynamicCache stores K and V per KV head; sliding layers keep at most the
 * window; MLA layers store the compressed latent (kv_lora_rank) and the
 * shared rope key, one "head", replicated on every tensor-parallel rank
 * ("Cache read / write is performed while latent KV is still compressed",
 * modeling_deepseek_v3.py, transformers 5.24); Mamba keeps a conv and an
 * SSM state. */
static void layer_kv(const model_layer *l, uint64_t ctx, uint32_t tp, acc *elems)
{
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
        tokens = l->window;
    uint64_t heads = div_up(l->n_head_kv, tp);
    acc_mul(elems, 3, (uint64_t[]){tokens, heads, (uint64_t)l->head_dim_k + l->head_dim_v});
}

static gpumem_status kv_cache(const gpumem_model *m, const engine_req *r, gpumem_device *gpu,
                              gpumem_error *err)
{
    if (m->is_encoder)
        return GPUMEM_OK;
    acc elems = {0, false}, a = {0, false};
    uint32_t sliding = 0;
    /* After n new tokens the cache holds the prompt and n - 1 generated
     * tokens (the last one is sampled, never fed back); a StaticCache
     * allocates that many at once: max_cache_len = max_length - 1
     * (generation/utils.py, transformers 5.24). */
    uint64_t tokens = r->context + r->new_tokens - (r->new_tokens > 0);
    for (uint32_t i = 0; i < m->n_layer; i++) {
        layer_kv(&m->layers[i], tokens, r->tp, &elems);
        sliding += m->layers[i].attn == ATTN_KIND_SLIDING;
    }
    uint64_t total;
    if (elems.overflow || !u64_mul(elems.sum, r->batch, &total))
        return err_set(err, GPUMEM_ERR_OVERFLOW, "KV cache does not fit in 64 bits");
    uint64_t bytes = nbytes(r->kv_dtype, total, &a);
    if (a.overflow)
        return err_set(err, GPUMEM_ERR_OVERFLOW, "KV cache does not fit in 64 bits");
    const char *kind = m->layers[0].ssm                    ? "SSM state per sequence"
                       : m->layers[0].attn == ATTN_KIND_MLA ? "MLA latent + rope key"
                       : sliding                           ? "sliding-window layers capped"
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
static uint64_t layer_peak_per_token(const gpumem_model *m, const model_layer *l, uint32_t tp,
                                     gpumem_dtype compute)
{
    uint64_t h = m->n_embd, base = 4 * h;
    uint64_t attn = 0, ff = 0;
    if (l->ssm) {
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
        if (l->attn == ATTN_KIND_MLA)
            attn += l->kv_lora_rank + l->qk_rope_dim;
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
        uint64_t f32 = dtype_get(compute)->bytes_num < 4 ? 2 : 1;
        uint64_t phase_a = h + 4 * ie, phase_b = 2 * h + 2 * f32 * h;
        uint64_t per_row = phase_a > phase_b ? phase_a : phase_b;
        uint64_t routed = k * per_row + 3ull * l->n_expert + 12 * k + h;
        uint64_t shared = l->n_ff_shared ? mats * div_up(l->n_ff_shared, tp) + h : 0;
        uint64_t moe = routed > shared ? routed : shared;
        if (l->params_expert > (uint64_t)l->n_expert * mats * h * l->n_ff_expert)
            moe += k * 2 * ie; /* per-row expert biases gathered (gpt-oss) */
        ff = ff > moe ? ff : moe;
    }
    return base + (attn > ff ? attn : ff);
}

static gpumem_status activations(const gpumem_model *m, const engine_req *r, gpumem_device *gpu,
                                 gpumem_error *err)
{
    uint64_t per_token = 0, eager = 0;
    bool sliding_short = false, full_layers = false;
    acc a = {0, false}, bytes = {0, false};
    for (uint32_t i = 0; i < m->n_layer; i++) {
        const model_layer *l = &m->layers[i];
        if (l->attn == ATTN_KIND_SLIDING && l->window < r->context)
            sliding_short = true;
        if (l->attn == ATTN_KIND_FULL || l->attn == ATTN_KIND_MLA ||
            (l->attn == ATTN_KIND_SLIDING && l->window >= r->context))
            full_layers = true;
        uint64_t p = layer_peak_per_token(m, l, r->tp, r->compute);
        per_token = p > per_token ? p : per_token;
        if (r->attn == GPUMEM_ATTN_EAGER && l->attn != ATTN_KIND_NONE && !l->ssm)
            eager = div_up(l->n_head, r->tp) > eager ? div_up(l->n_head, r->tp) : eager;
    }
    uint64_t tokens;
    if (!u64_mul(r->batch, r->context, &tokens))
        return err_set(err, GPUMEM_ERR_OVERFLOW, "batch x context does not fit in 64 bits");
    acc elems = {0, false};
    acc_mul(&elems, 2, (uint64_t[]){tokens, per_token});
    acc_add(&bytes, nbytes(r->compute, elems.sum, &a));
    /* Attention masks [batch, 1, q, k] in the compute dtype: eager always
     * builds them; SDPA only when some layer slides over a window shorter
     * than the context (a causal-only model passes is_causal instead). A
     * model with both full and sliding layers builds one of each
     * (masking_utils.py, transformers 5.24). */
    uint64_t masks = 0;
    if (sliding_short && full_layers)
        masks = 2;
    else if (sliding_short || r->attn == GPUMEM_ATTN_EAGER)
        masks = 1;
    uint64_t d = dtype_get(r->compute)->bytes_num, s2;
    if (!u64_mul(r->context, r->context, &s2))
        a.overflow = true;
    acc sc = {0, false};
    if (eager) {
        /* Eager attention at its softmax holds the [batch, heads, q, k]
         * scores plus mask in the compute dtype, softmax's fp32 upcast of
         * them (none when already fp32) and the fp32 result
         * (eager_attention_forward; measured peak op: _softmax). */
        uint64_t per_score = d + 4 + (d < 4 ? 4 : 0);
        acc_mul(&sc, 3, (uint64_t[]){r->batch * eager, s2, per_score});
    }
    if (r->attn == GPUMEM_ATTN_EAGER || sliding_short)
        acc_mul(&sc, 4, (uint64_t[]){r->batch, s2, d, masks});
    acc_add(&bytes, sc.sum);
    if (sc.overflow)
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
    if (a.overflow || elems.overflow || bytes.overflow)
        return err_set(err, GPUMEM_ERR_OVERFLOW, "activations do not fit in 64 bits");
    return device_add(gpu, "activations", bytes.sum, err,
                      "prefill peak of one layer over %llu tokens, %s attention",
                      (unsigned long long)tokens, gpumem_attn_name(r->attn));
}

/* ----------------------------------------------------------------- logits */

static gpumem_status logits(const gpumem_model *m, const engine_req *r, gpumem_device *gpu,
                            gpumem_error *err)
{
    if (m->is_encoder)
        return GPUMEM_OK;
    /* generate() asks for the last position only (logits_to_keep=1), copies
     * it to fp32, and the sampler's softmax makes one more fp32 copy. */
    acc a = {0, false};
    uint64_t n;
    if (!u64_mul(r->batch, m->n_vocab, &n))
        return err_set(err, GPUMEM_ERR_OVERFLOW, "logits do not fit in 64 bits");
    uint64_t bytes = nbytes(r->compute, n, &a) + 2 * nbytes(GPUMEM_DTYPE_FP32, n, &a);
    if (a.overflow)
        return err_set(err, GPUMEM_ERR_OVERFLOW, "logits do not fit in 64 bits");
    return device_add(gpu, "logits", bytes, err,
                      "last position x %u vocab: %s + 2 fp32 copies", m->n_vocab,
                      dtype_get(r->compute)->name);
}

gpumem_status engine_transformers(const gpumem_model *m, const engine_req *r,
                                  gpumem_device *gpu, gpumem_error *err)
{
    gpumem_status st;
    if (!m->layers) /* weights file without an architecture: weights only */
        st = weights(m, r, gpu, err);
    else if ((st = weights(m, r, gpu, err)) != GPUMEM_OK || (st = kv_cache(m, r, gpu, err)) != GPUMEM_OK ||
        (st = activations(m, r, gpu, err)) != GPUMEM_OK || (st = logits(m, r, gpu, err)) != GPUMEM_OK)
        return st;
    st = device_add(gpu, "cuda_context", cuda_context_bytes, err,
                    "CUDA 12 context with torch (modelled, not allocator-visible)");
    if (st != GPUMEM_OK)
        return st;
    return device_add(gpu, "workspace", workspace_bytes, err, "cuBLAS/cuBLASLt workspace");
}
