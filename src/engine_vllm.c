/* vLLM V1 serving (`vllm serve`) on one GPU, the most loaded rank: weights
 * as the model loader keeps them, the profiled activation peak of a
 * max_num_batched_tokens forward pass, memory outside torch, the CUDA-graph
 * estimate, and the KV-cache pool vLLM carves from the rest
 * (vllm/v1/worker/gpu_worker.py determine_available_memory):
 *   pool = total x gpu_memory_utilization - weights - activation peak
 *          - non-torch increase [- CUDA-graph estimate, 0.21+]
 * Sources read: the vllm 0.11.0 and 0.33.0 wheels from PyPI. */
#include "dtype_internal.h"
#include "engine_vllm_internal.h"
#include "util_internal.h"

#include <stdio.h>
#include <string.h>

static const uint64_t MiB = 1ull << 20;
static const uint64_t GiB = 1ull << 30;

/* One row per modelled release (vllm/config/cache.py, envs.py,
 * engine/arg_utils.py _set_default_max_num_seqs_and_batched_tokens_args,
 * v1/core/kv_cache_utils.py). Oldest first; the last row is the newest. */
static const vllm_version versions[] = {
    /* Up to 0.19.0 a sliding-window layer keeps one max_num_batched_tokens
     * batch in flight and the start check counts every block
     * (kv_cache_interface.py max_memory_usage_bytes, kv_cache_utils.py
     * check_enough_kv_cache_memory); 0.33.0 changed both. */
    /* 0.10.1 pins torch 2.7.1: _should_use_marlin picks Marlin on Hopper
     * (triton_kernels needs torch >= 2.8). */
    {"0.10.1", 0.90, false, VLLM_TOKENS_BLOCKS, 512, 70, 8192, 1024, 0, 0, 0, 2048, 256, 0, 0,
     true, false, false, false, false, false, VLLM_HYBRID_UNMODELLED, false, true, false, false,
     false, 16, false, true, true},
    {"0.11.0", 0.90, false, VLLM_TOKENS_BLOCKS, 512, 70, 8192, 1024, 0, 0, 0, 2048, 256, 9, 255,
     true, false, false, false, false, false, VLLM_HYBRID_ONE_STATE, false, true, false, true,
     false, 14, false, true, true},
    /* 0.14.1: Triton only on SM90-SM10x; flashinfer-python a dependency. */
    {"0.14.1", 0.90, false, VLLM_TOKENS_BLOCKS, 512, 70, 8192, 1024, 0, 0, 0, 2048, 256, 9, 11,
     true, true, false, false, false, false, VLLM_HYBRID_UNMODELLED, false, false, true, false,
     true, 14, false, false, false},
    /* 0.19.0: the MoE oracle replaces the loaded scales (replace_parameter). */
    {"0.19.0", 0.90, false, VLLM_TOKENS_BLOCKS, 512, 70, 8192, 1024, 0, 0, 0, 2048, 256, 9, 11,
     false, true, false, false, false, true, VLLM_HYBRID_UNMODELLED, false, false, true, false,
     true, 14, true, false, false},
    {"0.33.0", 0.92, true, VLLM_TOKENS_CONCURRENCY, 512, 70, 8192, 1024, 160, 16384, 1024, 2048,
     256, 9, 11, false, true, true, true, true, true, VLLM_HYBRID_ALIGN, true, false, true, false,
     true, 14, true, false, false},
};
enum { N_VERSIONS = sizeof versions / sizeof versions[0] };

size_t vllm_version_count(void) { return N_VERSIONS; }
const vllm_version *vllm_version_at(size_t i) { return i < N_VERSIONS ? &versions[i] : NULL; }

const vllm_version *vllm_version_find(const char *v)
{
    if (!v || !*v || str_ieq(v, "latest"))
        return &versions[N_VERSIONS - 1];
    if (v[0] == 'v' || v[0] == 'V')
        v++;
    for (size_t i = 0; i < N_VERSIONS; i++)
        if (str_ieq(v, versions[i].version))
            return &versions[i];
    return NULL;
}

/* Runtime memory outside torch's allocator (modelled, not read from a
 * source): the CUDA context exists before vLLM's first memory snapshot,
 * so it lives in the 1 - utilisation slack; cuBLAS workspaces and, with
 * TP > 1, NCCL and custom all-reduce buffers grow after it and are taken
 * from the pool. */
static const uint64_t cuda_context_bytes = 512ull << 20;
static const uint64_t non_torch_base = 96ull << 20;
static const uint64_t non_torch_tp = 256ull << 20;      /* NCCL communicator, TP > 1 */
static const uint64_t non_torch_per_rank = 16ull << 20; /* custom all-reduce buffers */
/* CUDA-graph pool (modelled): each captured graph keeps its kernel nodes
 * and a little private memory; the largest capture's activations are
 * shared by all. */
static const uint64_t graph_bytes = 2ull << 20;

typedef struct {
    const vllm_version *v;
    const gpumem_gpu *gpu;
    double util;
    uint64_t max_model_len, max_num_seqs, batched;
    uint32_t block_size, tp, pp, layers; /* layers on the most loaded rank */
    uint32_t cb;                          /* compute dtype bytes */
} vctx;

/* ---------------------------------------------------------------- weights */

/* Bytes vLLM keeps for `params` quantised matrix elements: FP8 one byte
 * (per-tensor or per-channel scales are negligible), AWQ/GPTQ 4-bit with
 * group 128 an fp16 scale and a packed 4-bit zero per group, W8A8 int8 an
 * fp32 scale per output row. */
static uint64_t matrix_bytes(gpumem_dtype d, uint64_t params, uint32_t n_embd)
{
    uint64_t b = 0;
    switch (d) {
    case GPUMEM_DTYPE_INT4:
        return params / 2 + div_up(params, 128) * 5 / 2;
    case GPUMEM_DTYPE_INT8:
        return params + div_up(params, n_embd ? n_embd : 1) * 4;
    case GPUMEM_DTYPE_FP8:
        return params;
    default:
        (void)dtype_bytes(d, params, &b);
        return b;
    }
}

/* Compute-capability major of a GPU (data/gpus.tsv); 0 for GPUs vLLM does
 * not run with CUDA. */
static uint32_t gpu_sm(const gpumem_gpu *g) { return g ? g->compute_capability / 10 : 0; }

typedef enum { MXFP4_MARLIN, MXFP4_TRITON, MXFP4_FLASHINFER } mxfp4_backend;

static const char *const mxfp4_names[] = {"Marlin", "Triton", "FlashInfer"};

static mxfp4_backend mxfp4_pick(const vctx *c)
{
    uint32_t sm = gpu_sm(c->gpu);
    if (sm == 10 && c->v->mxfp4_flashinfer_sm100)
        return MXFP4_FLASHINFER;
    if (c->v->mxfp4_triton_sm_min == 0)
        return sm == 10 ? MXFP4_TRITON : MXFP4_MARLIN;
    if (sm >= c->v->mxfp4_triton_sm_min && sm < c->v->mxfp4_triton_sm_max)
        return MXFP4_TRITON;
    return MXFP4_MARLIN;
}

static uint64_t round_up(uint64_t x, uint64_t m) { return div_up(x, m) * m; }

/* Bytes one rank keeps for layer l's MXFP4 experts, as Mxfp4MoEMethod
 * (quantization/mxfp4.py) creates and then converts them: w13 [E, 2I, H]
 * and w2 [E, H, I] at 4 bits with one scale byte per 32, plus biases.
 *  - Marlin pads I to 128 and H to 256, repacks in place (4 bits, e8m0
 *    scales) and keeps bf16 biases (marlin_utils_fp4.py).
 *  - Triton pads I to 64; triton_kernels' Hopper scale layout pads the
 *    swizzled scales' rows to 256 (2 x num_warps 8 x 2 x 8); biases become
 *    fp32; until 0.19 the loaded scales stay registered beside the copy.
 *  - FlashInfer (SM100) pads I and H to 256; biases fp32. */
static uint64_t mxfp4_expert_bytes(const model_layer *l, uint64_t h, const vctx *c,
                                   mxfp4_backend be)
{
    uint64_t e = l->n_expert, i = div_up(l->n_ff_expert, c->tp), b;
    if (be == MXFP4_MARLIN)
        i = round_up(i, 128), h = round_up(h, 256);
    else if (be == MXFP4_FLASHINFER)
        i = round_up(i, 256), h = round_up(h, 256);
    else
        i = round_up(i, 64);
    uint64_t w = e * (2 * i * h + h * i) / 2;            /* e2m1 values */
    uint64_t sc = e * (2 * i * (h / 32) + h * (i / 32)); /* e8m0 scales */
    uint64_t bias_b = be == MXFP4_MARLIN ? 2 : 4;
    b = w + sc + e * (2 * i + h) * bias_b;
    if (be == MXFP4_TRITON) {
        b += e * (round_up(2 * i, 256) * (h / 32) + round_up(h, 256) * (i / 32)) - sc;
        if (c->v->mxfp4_triton_keeps_scales)
            b += sc;
    }
    return b;
}

/* K/V projections are replicated when TP exceeds the KV heads: each rank
 * keeps a whole head (QKVParallelLinear), not a 1/tp share. */
static uint64_t kv_replica_params(const gpumem_model *m, const model_layer *l, uint32_t tp)
{
    if (l->attn == ATTN_KIND_NONE || l->attn == ATTN_KIND_MLA || l->ssm || !l->n_head_kv ||
        l->n_head_kv >= tp)
        return 0;
    uint64_t head = (uint64_t)m->n_embd * (l->head_dim_k + l->head_dim_v);
    return head - head * l->n_head_kv / tp;
}

static gpumem_status weights(const gpumem_model *m, const engine_req *r, const vctx *c,
                             gpumem_device *gpu, uint64_t *out, gpumem_error *err)
{
    bool stored = m->has_storage && !r->dtype_given;
    /* Embedding and lm_head rows padded to a multiple of 64
     * (vocab_parallel_embedding.py pad_vocab_size), then split over TP. */
    uint64_t vocab = m->n_vocab ? m->n_vocab : 1, padded = div_up(vocab, 64) * 64;
    uint64_t embed_p = m->params_embed, out_p = m->params_output;
    if (m->text_untied) /* the language model is built from text_config */
        out_p = (uint64_t)m->n_vocab * m->n_embd;
    uint64_t keep_b = dtype_get(r->compute)->bytes_num;
    uint64_t embed = stored ? m->bytes_embed : embed_p * keep_b;
    uint64_t output = stored ? m->bytes_output : out_p * keep_b;
    uint64_t bytes = div_up(div_up(embed * padded, vocab), c->tp);
    /* Pipeline stage 0 holds the embedding, the last stage lm_head; with
     * pp = 1 both sit on the one rank. */
    if (c->pp == 1 || div_up(output * padded, vocab) > div_up(embed * padded, vocab))
        bytes = c->pp == 1 ? bytes + div_up(div_up(output * padded, vocab), c->tp)
                           : div_up(div_up(output * padded, vocab), c->tp);
    bytes += stored ? m->bytes_other : m->params_other * keep_b;
    gpumem_dtype wd = r->dtype;
    bool quant = dtype_get(wd)->quantized || wd == GPUMEM_DTYPE_FP8;
    bool mx = stored && m->quant.method == QUANT_MXFP4;
    mxfp4_backend be = mx ? mxfp4_pick(c) : MXFP4_MARLIN;
    for (uint32_t i = 0; i < c->layers; i++) {
        const model_layer *l = &m->layers[i];
        uint64_t rep = kv_replica_params(m, l, c->tp), lin, small;
        if (mx && l->n_expert) {
            /* already per rank: added after the split below */
            lin = l->bytes_linear;
            bytes += mxfp4_expert_bytes(l, m->n_embd, c, be);
            rep = l->params_linear ? rep * l->bytes_linear / l->params_linear : 0;
            small = l->bytes_small;
        } else if (stored) {
            lin = l->bytes_linear + l->bytes_expert;
            rep = l->params_linear ? rep * l->bytes_linear / l->params_linear : 0;
            small = l->bytes_small;
        } else {
            lin = matrix_bytes(wd, l->params_linear + l->params_expert, m->n_embd);
            rep = matrix_bytes(wd, rep, m->n_embd);
            small = l->params_small * (quant ? keep_b : dtype_get(wd)->bytes_num);
        }
        bytes += div_up(lin, c->tp) + rep + small;
    }
    /* One rotary cos/sin cache shared by all layers (get_rope caches it):
     * max_position x rotary dim in the model dtype (rotary_embedding/base.py). */
    const model_layer *l0 = m->layers ? &m->layers[0] : NULL;
    uint64_t rope = 0;
    if (l0 && l0->attn != ATTN_KIND_NONE && !l0->ssm && m->max_ctx && !m->learned_positions) {
        uint32_t rot = l0->attn == ATTN_KIND_MLA ? l0->qk_rope_dim : l0->head_dim_k;
        rope = (uint64_t)m->max_ctx * rot * keep_b;
    }
    *out = bytes + rope;
    if (mx)
        return device_add(gpu, "weights", *out, err,
                          "\"Model loading took\": mxfp4 experts in %s layout%s, vocab padded to %llu",
                          mxfp4_names[be], c->tp > 1 ? ", TP-sharded" : "",
                          (unsigned long long)padded);
    return device_add(gpu, "weights", *out, err, "\"Model loading took\": %s%s%s, vocab padded to %llu",
                      stored ? m->storage_desc : dtype_get(wd)->name,
                      c->tp > 1 ? ", TP-sharded" : "", c->pp > 1 ? ", PP stage" : "",
                      (unsigned long long)padded);
}

/* A multimodal model's vision tower and projector: "Model loading took"
 * includes them (the ForConditionalGeneration classes of
 * model_executor/models/, 0.10.1 to 0.33.0, build the tower beside the
 * language model), in the model dtype. Counted whole on every rank (an
 * upper bound where vLLM shards the tower's linears), and with every
 * encoder layer (vLLM stops LLaVA's tower at vision_feature_layer: one
 * layer less for -2, an upper bound). The profiling run's image pass is
 * in activations (engine_vllm_mm.c). */
static gpumem_status vision_weights(const gpumem_model *m, const engine_req *r, gpumem_device *gpu,
                                    uint64_t *out, gpumem_error *err)
{
    *out = 0;
    if (!m->params_vision)
        return GPUMEM_OK;
    bool stored = m->has_storage && !r->dtype_given && m->bytes_vision;
    uint64_t keep_b = dtype_get(r->compute)->bytes_num;
    *out = stored ? m->bytes_vision : m->params_vision * keep_b;
    return device_add(gpu, "vision_weights", *out, err,
                      "\"Model loading took\": %llu params, vision tower + projector (%s)%s",
                      (unsigned long long)m->params_vision,
                      stored ? "as stored" : dtype_get(r->compute)->name,
                      m->vision_tokens || m->vision_dynamic
                          ? ""
                          : "; profiling's image pass not modelled");
}

/* ------------------------------------------------------------ activations */

/* Live elements per token at the peak of one layer's forward (no grad,
 * fused kernels): residual and normed input, then the larger of the
 * attention projections and the MLP's gate_up + activation output; MoE
 * via fused_moe's three intermediate caches over top-k copies of each
 * token plus fp32 router logits. */
static uint64_t per_token_elems(const gpumem_model *m, const model_layer *l, uint32_t tp)
{
    uint64_t h = m->n_embd, attn = 0, ff = 0;
    if (l->ssm) {
        uint64_t d = div_up(l->ssm_d_inner, tp);
        attn = 4 * d + 2 * (uint64_t)l->ssm_d_state + l->ssm_dt_rank;
    } else if (l->attn != ATTN_KIND_NONE) {
        uint64_t nh = div_up(l->n_head, tp), nkv = l->n_head_kv >= tp ? l->n_head_kv / tp : 1;
        attn = nh * l->head_dim_k + nkv * ((uint64_t)l->head_dim_k + l->head_dim_v) +
               nh * l->head_dim_v + l->kv_lora_rank;
    }
    if (l->n_ff)
        ff = 3 * div_up(l->n_ff, tp);
    if (l->n_expert) {
        uint64_t k = l->n_expert_used ? l->n_expert_used : 1;
        uint64_t moe = k * (3 * div_up(l->n_ff_expert, tp) + h) + 2ull * l->n_expert +
                       3 * div_up(l->n_ff_shared, tp);
        ff = moe > ff ? moe : ff;
    }
    return 2 * h + (attn > ff ? attn : ff);
}

static uint64_t forward_peak(const gpumem_model *m, const vctx *c, uint64_t tokens)
{
    uint64_t pt = 0;
    for (uint32_t i = 0; i < c->layers; i++) {
        uint64_t p = per_token_elems(m, &m->layers[i], c->tp);
        pt = p > pt ? p : pt;
    }
    return tokens * pt * c->cb;
}

static gpumem_status activations(const gpumem_model *m, const gpumem_settings *s, const vctx *c,
                                 gpumem_device *gpu, uint64_t *out, gpumem_error *err)
{
    /* profile_run: the multimodal pass (engine_vllm_mm.c), a dummy forward
     * of max_num_batched_tokens, then the sampler over max_num_seqs rows
     * of fp32 logits (logits, probabilities and the top-p sort's values). */
    vllm_mm_args a = {c->batched, c->max_model_len, c->max_num_seqs, c->tp, c->cb,
                      s->mm_max_pixels, s->limit_mm_image, s->limit_mm_video};
    vllm_mm_profile mm;
    gpumem_status st = vllm_mm_profile_for(m, c->v, &a, &mm, err);
    if (st != GPUMEM_OK)
        return st;
    uint64_t fwd = forward_peak(m, c, c->batched) + mm.held;
    uint64_t sampler = c->max_num_seqs * m->n_vocab * 12ull + mm.held;
    *out = fwd > sampler ? fwd : sampler;
    *out = mm.encoder_peak > *out ? mm.encoder_peak : *out;
    if (mm.items)
        return device_add(gpu, "activations", *out, err,
                          "profiled peak: %llu dummy %s (%llu tokens each), encoder budget "
                          "%llu, %llu-token forward, sampler over %llu seqs",
                          (unsigned long long)mm.items, mm.video ? "videos" : "images",
                          (unsigned long long)mm.tokens, (unsigned long long)mm.budget,
                          (unsigned long long)c->batched, (unsigned long long)c->max_num_seqs);
    return device_add(gpu, "activations", *out, err,
                      "profiled peak: %llu-token forward vs sampler over %llu seqs",
                      (unsigned long long)c->batched, (unsigned long long)c->max_num_seqs);
}

/* ----------------------------------------------------------- CUDA graphs */

/* cudagraph_capture_sizes: 1, 2, 4, then steps of 8 to 256, then 16, up to
 * min(2 x max_num_seqs, max capture size) (config/compilation.py). */
static uint32_t capture_sizes(uint64_t max_size, uint32_t *largest)
{
    static const uint32_t small[] = {1, 2, 4};
    uint32_t n = 0, s = 0;
    for (size_t i = 0; i < 3 && small[i] <= max_size; i++, n++)
        s = small[i];
    for (uint32_t x = 8; x <= max_size; x += x < 256 ? 8 : 16, n++)
        s = x;
    *largest = s;
    return n;
}

static gpumem_status cuda_graphs(const gpumem_model *m, const engine_req *r, const gpumem_settings *s,
                                 const vctx *c, gpumem_device *gpu, uint64_t *out, gpumem_error *err)
{
    (void)r;
    *out = 0;
    if (s->enforce_eager)
        return device_add(gpu, "cuda_graphs", 0, err, "--enforce-eager: no graphs");
    uint64_t cap = 2 * c->max_num_seqs;
    cap = cap < c->v->max_capture_size ? cap : c->v->max_capture_size;
    uint32_t largest = 0, n = capture_sizes(cap, &largest);
    /* FULL_AND_PIECEWISE: piecewise graphs for every size, full graphs for
     * the decode sizes up to max_num_seqs. */
    uint32_t full = 0, l2 = 0;
    full = capture_sizes(c->max_num_seqs < cap ? c->max_num_seqs : cap, &l2);
    uint64_t graphs = (uint64_t)n + full;
    *out = graphs * graph_bytes + forward_peak(m, c, largest);
    return device_add(gpu, "cuda_graphs", *out, err,
                      "%llu graphs (sizes up to %u)%s", (unsigned long long)graphs, largest,
                      c->v->graphs_in_profile ? ", counted before the KV pool"
                                              : ", taken after the KV pool is sized");
}

/* ------------------------------------------------------------------ setup */

static gpumem_status resolve(const gpumem_model *m, const engine_req *r, const gpumem_settings *s,
                             vctx *c, gpumem_error *err)
{
    memset(c, 0, sizeof *c);
    if (!s->gpu)
        return err_set(err, GPUMEM_ERR_USAGE, "vLLM sizes its KV pool from the GPU: give --gpu");
    if (!m->layers)
        return err_set(err, GPUMEM_ERR_USAGE,
                       "vLLM needs the architecture: give a model name, config.json or weights "
                       "with a config");
    c->v = vllm_version_find(s->vllm_version);
    if (!c->v)
        return err_set(err, GPUMEM_ERR_NOT_FOUND, "vLLM version '%s' is not modelled (have %s, %s)",
                       s->vllm_version, versions[0].version, versions[N_VERSIONS - 1].version);
    if (m->is_encoder)
        /* vLLM (0.10.1 to 0.33.0) runs encoder-only models as pooling
         * models whose attention keeps no KV cache (EncoderOnlyAttention):
         * no pool to size, which this engine model assumes. */
        return err_set(err, GPUMEM_ERR_UNSUPPORTED,
                       "%s is an encoder-only (%s) model: vLLM runs it as a pooling model "
                       "without a KV cache, which gpumem does not model for vLLM; use --engine "
                       "transformers",
                       m->name, m->architecture);
    uint32_t ssm = 0, attn = 0, mamba2 = 0, moe_only = 0;
    for (uint32_t i = 0; i < m->n_layer; i++)
        if (m->layers[i].ssm_short_conv || m->layers[i].ssm_lightning ||
            m->layers[i].ssm_own_params)
            /* vLLM's ShortConvSpec (LFM2), MiniMax's linear-attention
             * state and Falcon-H1's Mamba state are not checked. */
            return err_set(err, GPUMEM_ERR_UNSUPPORTED,
                           "vLLM: layer %u is an LFM2 short convolution, MiniMax lightning "
                           "attention or a Falcon-H1 Mamba half, whose state pages gpumem does "
                           "not check against vLLM; use --engine transformers",
                           i);
    for (uint32_t i = 0; i < m->n_layer; i++)
        if (m->layers[i].ssm_delta)
            /* vLLM gives gated delta-net layers their own state spec
             * (GDN: conv and recurrent state, own dtype rules), not
             * checked against its planner. */
            return err_set(err, GPUMEM_ERR_UNSUPPORTED,
                           "vLLM: layer %u is gated delta-net linear attention (Qwen3-Next), "
                           "whose state pages gpumem does not model for vLLM; use --engine "
                           "transformers",
                           i);
    for (uint32_t i = 0; i < m->n_layer; i++) {
        const model_layer *l = &m->layers[i];
        ssm += l->ssm;
        mamba2 += l->ssm_heads != 0;
        attn += !l->ssm && l->attn != ATTN_KIND_NONE;
        moe_only += !l->ssm && l->attn == ATTN_KIND_NONE && l->n_expert;
    }
    if (ssm && moe_only && !c->v->moe_only_blocks)
        return err_set(err, GPUMEM_ERR_UNSUPPORTED,
                       "vLLM %s cannot build this hybrid: %u blocks hold only an MoE "
                       "(Nemotron-H \"E\"), which its nemotron_h.py lacks (added in 0.14.1)",
                       c->v->version, moe_only);
    if (mamba2 && !attn)
        /* Attention-free Mamba-2: its state shapes are modelled
         * (engine_vllm_kv.c) but no vLLM planning run checks them. */
        return err_set(err, GPUMEM_ERR_UNSUPPORTED,
                       "vLLM: Mamba-2 models without attention are not checked against "
                       "vLLM's planner; use --engine transformers");
    if (ssm && attn && c->v->hybrid == VLLM_HYBRID_UNMODELLED)
        /* Hybrids are checked against vLLM 0.11.0 (one state page, the
         * Mamba block = max_model_len) and 0.33.0 (align mode, two state
         * pages, an attention block raised to hold a state). */
        return err_set(err, GPUMEM_ERR_UNSUPPORTED,
                       "vLLM %s: this model mixes attention and Mamba layers (%u of %u Mamba); "
                       "hybrid KV-cache layouts are checked for vLLM 0.11.0 and 0.33.0 only",
                       c->v->version, ssm, m->n_layer);
    c->gpu = s->gpu;
    c->util = s->gpu_memory_utilization > 0 ? s->gpu_memory_utilization : c->v->default_utilization;
    if (c->util > 1.0)
        return err_set(err, GPUMEM_ERR_USAGE, "--gpu-memory-utilization must be in (0, 1]");
    if (s->vllm_hybrid_kv_cache_manager < 0 || s->vllm_hybrid_kv_cache_manager > 2)
        return err_set(err, GPUMEM_ERR_USAGE,
                       "vllm_hybrid_kv_cache_manager must be 0 (default), 1 (on) or 2 (off), got %d",
                       s->vllm_hybrid_kv_cache_manager);
    c->tp = r->tp ? r->tp : 1;
    c->pp = s->pipeline_parallel ? s->pipeline_parallel : 1;
    if (c->pp > m->n_layer)
        return err_set(err, GPUMEM_ERR_USAGE, "pipeline parallel %u exceeds the %u layers", c->pp,
                       m->n_layer);
    c->layers = (uint32_t)div_up(m->n_layer, c->pp);
    c->block_size = s->block_size ? s->block_size : 16;
    c->max_model_len = s->max_model_len ? s->max_model_len : m->max_ctx;
    if (!c->max_model_len)
        return err_set(err, GPUMEM_ERR_USAGE,
                       "the model states no context length: give --max-model-len");
    uint64_t seqs, batched;
    vllm_batching_defaults(c->v, s->gpu, &seqs, &batched);
    c->max_num_seqs = s->max_num_seqs ? s->max_num_seqs : seqs;
    c->batched = s->max_num_batched_tokens ? s->max_num_batched_tokens : batched;
    c->cb = dtype_get(r->compute)->bytes_num;
    return GPUMEM_OK;
}

static uint32_t kv_bytes(const engine_req *r)
{
    return r->kv_dtype == GPUMEM_DTYPE_FP8 ? 1 : dtype_get(r->kv_dtype)->bytes_num;
}

static void fill_info(const vctx *c, const vllm_kv_plan *plan, gpumem_vllm_info *info)
{
    memset(info, 0, sizeof *info);
    info->present = 1;
    snprintf(info->version, sizeof info->version, "%s", c->v->version);
    info->gpu_memory_utilization = c->util;
    info->max_model_len = c->max_model_len;
    info->kv_cache_tokens = plan->tokens;
    info->max_concurrency = plan->max_concurrency;
    info->starts = plan->starts;
    info->max_model_len_limit = plan->max_model_len_limit;
    if (plan->starts)
        return;
    if (plan->max_model_len_limit == 0 && plan->needed_bytes > 0 && plan->num_blocks == 0)
        snprintf(info->reason, sizeof info->reason,
                 "No available memory for the cache blocks. Try increasing "
                 "`gpu_memory_utilization`");
    else
        snprintf(info->reason, sizeof info->reason,
                 "max seq len (%llu) needs %.2f GiB KV cache, more than the available %.2f GiB",
                 (unsigned long long)c->max_model_len, (double)plan->needed_bytes / (double)GiB,
                 (double)(plan->num_blocks * plan->bytes_per_block) / (double)GiB);
}

void vllm_batching_defaults(const vllm_version *v, const gpumem_gpu *gpu, uint64_t *max_num_seqs,
                            uint64_t *batched)
{
    /* `vllm serve` defaults by GPU memory; A100s keep the small tier. */
    uint64_t gib = gpu->memory_bytes / GiB;
    bool a100 = strstr(gpu->id, "a100") != NULL;
    *max_num_seqs = v->small_num_seqs, *batched = v->small_batched_tokens;
    if (v->huge_gib && gib >= v->huge_gib)
        *max_num_seqs = v->huge_num_seqs, *batched = v->huge_batched_tokens;
    else if (v->big_gib && gib >= v->big_gib && !a100)
        *max_num_seqs = v->big_num_seqs, *batched = v->big_batched_tokens;
}

engine_req vllm_auto_dtype(const gpumem_model *m, const engine_req *r, const gpumem_settings *s)
{
    engine_req a = *r;
    if (r->dtype_given || r->dtype != GPUMEM_DTYPE_FP32)
        return a;
    a.dtype = a.compute = GPUMEM_DTYPE_BF16;
    /* The fp32 file bytes are cast, not kept; a quantised checkpoint's
     * storage (16-bit outside its quantised tensors) is kept. */
    a.dtype_given = m->quant.method == QUANT_NONE || m->quant.method == QUANT_BNB;
    if (!s->kv_dtype_set)
        a.kv_dtype = GPUMEM_DTYPE_BF16;
    return a;
}

gpumem_status engine_vllm(const gpumem_model *m, const engine_req *req, const gpumem_settings *s,
                          gpumem_device *gpu, gpumem_vllm_info *info, gpumem_error *err)
{
    engine_req ra = vllm_auto_dtype(m, req, s);
    const engine_req *r = &ra;
    vctx c;
    gpumem_status st = resolve(m, r, s, &c, err);
    if (st != GPUMEM_OK)
        return st;
    uint64_t w, vw, act, graphs;
    if ((st = weights(m, r, &c, gpu, &w, err)) != GPUMEM_OK ||
        (st = vision_weights(m, r, gpu, &vw, err)) != GPUMEM_OK ||
        (st = activations(m, s, &c, gpu, &act, err)) != GPUMEM_OK)
        return st;
    uint64_t increase = non_torch_base + (c.tp > 1 ? non_torch_tp + non_torch_per_rank * c.tp : 0);
    st = device_add(gpu, "non_torch", cuda_context_bytes + increase, err,
                    "CUDA context %llu MiB + cuBLAS/NCCL %llu MiB (modelled)",
                    (unsigned long long)(cuda_context_bytes / MiB),
                    (unsigned long long)(increase / MiB));
    if (st != GPUMEM_OK || (st = cuda_graphs(m, r, s, &c, gpu, &graphs, err)) != GPUMEM_OK)
        return st;

    /* requested_memory = ceil(total x utilisation) (v1/worker/utils.py). */
    double req_d = (double)c.gpu->memory_bytes * c.util;
    uint64_t requested = (uint64_t)req_d + ((double)(uint64_t)req_d < req_d);
    uint64_t taken = w + vw + act + increase + (c.v->graphs_in_profile ? graphs : 0);
    uint64_t pool = requested > taken ? requested - taken : 0;
    bool manual = s->kv_cache_memory != 0;
    if (manual)
        pool = s->kv_cache_memory;

    vllm_kv_params p = vllm_kv_params_for(c.v, c.block_size, kv_bytes(r), c.cb, c.tp, c.pp,
                                          c.max_model_len, c.batched);
    p.hma = s->vllm_hybrid_kv_cache_manager;
    vllm_kv_plan plan;
    if ((st = vllm_plan_kv(m, &p, pool, &plan, err)) != GPUMEM_OK)
        return st;
    fill_info(&c, &plan, info);
    /* The hybrid KV-cache manager off (0.10.1/0.11.0 with chunked local
     * attention, or --disable-hybrid-kv-cache-manager): local layers cache
     * every token. */
    const char *how = plan.local_as_full
                          ? "; local layers cached as full (hybrid KV manager off)"
                          : "";
    if (manual)
        return device_add(gpu, "kv_cache", pool, err, "--kv-cache-memory: %llu tokens%s",
                          (unsigned long long)plan.tokens, how);
    return device_add(gpu, "kv_cache", pool, err,
                      "\"Available KV cache memory\" at utilisation %.2f: %llu tokens%s", c.util,
                      (unsigned long long)plan.tokens, how);
}
