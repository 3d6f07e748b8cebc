/* Linear-attention and state-space architectures whose per-sequence state
 * replaces a KV cache in some layers. Readers follow transformers 5.24
 * (configuration_<arch>.py defaults, modeling_<arch>.py modules). */
#include "arch_more_internal.h"

#include "error_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "layer_types" of linear_attention / full_attention, else every
 * `interval`-th layer full: out[i] true for linear attention. */
static gpumem_status linear_layout(cfg_ctx *c, uint32_t n, uint32_t interval, bool *out)
{
    json_t *types = json_object_get(c->root, "layer_types");
    if (!types || json_is_null(types)) {
        for (uint32_t i = 0; i < n; i++)
            out[i] = interval == 0 || (i + 1) % interval != 0;
        return GPUMEM_OK;
    }
    if (!json_is_array(types) || json_array_size(types) != n)
        return BADCFG("\"layer_types\" must be an array of %u strings (one per layer)", n);
    for (uint32_t i = 0; i < n; i++) {
        const char *t = json_string_value(json_array_get(types, i));
        if (!t)
            return BADCFG("\"layer_types\"[%u] is not a string", i);
        if (strcmp(t, "linear_attention") == 0)
            out[i] = true;
        else if (strcmp(t, "full_attention") == 0)
            out[i] = false;
        else
            return err_set_at(c->err, GPUMEM_ERR_UNSUPPORTED, c->file, -1, 0, 0,
                              "\"layer_types\"[%u] is '%s'; expected linear_attention or "
                              "full_attention",
                              i, t);
    }
    return GPUMEM_OK;
}

/* Whether layer i is listed in "mlp_only_layers". */
static gpumem_status listed(cfg_ctx *c, const char *key, uint32_t i, bool *out)
{
    json_t *a = json_object_get(c->root, key);
    *out = false;
    if (!a || json_is_null(a))
        return GPUMEM_OK;
    if (!json_is_array(a))
        return BADCFG("\"%s\" must be an array of layer indices", key);
    for (size_t k = 0; k < json_array_size(a); k++)
        if (json_integer_value(json_array_get(a, k)) == (json_int_t)i)
            *out = true;
    return GPUMEM_OK;
}

/* ------------------------------------------------------------ Qwen3-Next */

/* Qwen3-Next (modeling_qwen3_next.py, transformers 5.24): layers are gated
 * delta-net linear attention (Qwen3NextGatedDeltaNet) or gated full
 * attention (q_proj twice as wide: query and output gate; per-head q/k
 * RMSNorm) by "layer_types" (default: every full_attention_interval-th, 4,
 * full); MoE where num_experts > 0 and (i + 1) % decoder_sparse_step == 0
 * unless in mlp_only_layers: routed experts, one gated shared expert of
 * shared_expert_intermediate_size and its sigmoid gate Linear(hidden, 1).
 * The delta net: in_proj_qkvz (2 key_dim + 2 value_dim), in_proj_ba (2 v
 * heads), a depthwise conv1d without bias over 2 key_dim + value_dim,
 * dt_bias and A_log per v head, a gated RMSNorm of head_v_dim, out_proj.
 * Its cache (cache_utils.py LinearAttentionLayer) keeps conv_kernel
 * columns of the conv input in the model dtype and the recurrent state
 * v_heads x head_k x head_v in fp32 (torch_chunk_gated_delta_rule computes
 * in fp32 and the cache stores zeros_like of it). */
/* Class defaults of the Qwen3-Next family (configuration_qwen3_next.py,
 * configuration_qwen3_5.py, configuration_qwen3_5_moe.py). */
typedef struct {
    uint32_t vocab, hidden, layers, heads, kv_heads, ff, n_expert, n_used, moe_ff, shared_ff;
    bool experts;     /* reads num_experts (Qwen3.5 dense has none) */
    bool sparse_step; /* decoder_sparse_step and mlp_only_layers (Qwen3-Next) */
} next_defaults;

static gpumem_status read_next_family(cfg_ctx *c, gpumem_model *m, arch_spec *s,
                                      const next_defaults *d)
{
    uint32_t nk, nv, dk, dv, conv, interval, step = 1;
    TRY(cfg_u32(c, "vocab_size", d->vocab, MAX_WIDTH, &s->vocab));
    TRY(cfg_u32(c, "hidden_size", d->hidden, MAX_DIM, &s->hidden));
    TRY(cfg_u32(c, "num_hidden_layers", d->layers, 1u << 31, &s->layers));
    TRY(cfg_u32(c, "num_attention_heads", d->heads, MAX_COUNT, &s->heads));
    TRY(cfg_u32(c, "num_key_value_heads", d->kv_heads, MAX_COUNT, &s->kv_heads));
    TRY(cfg_u32(c, "head_dim", 256, MAX_DIM, &s->head_dim));
    TRY(cfg_u32(c, "intermediate_size", d->ff, MAX_WIDTH, &s->ff));
    TRY(cfg_u32(c, "max_position_embeddings", 32768, MAX_CTX, &s->maxpos));
    TRY(cfg_bool(c, "tie_word_embeddings", false, &s->tie));
    TRY(cfg_bool(c, "attention_bias", false, &s->qkv_bias));
    TRY(cfg_u32(c, "linear_num_key_heads", 16, MAX_COUNT, &nk));
    TRY(cfg_u32(c, "linear_num_value_heads", 32, MAX_COUNT, &nv));
    TRY(cfg_u32(c, "linear_key_head_dim", 128, MAX_DIM, &dk));
    TRY(cfg_u32(c, "linear_value_head_dim", 128, MAX_DIM, &dv));
    TRY(cfg_u32(c, "linear_conv_kernel_dim", 4, 1024, &conv));
    TRY(cfg_u32(c, "full_attention_interval", 4, MAX_COUNT, &interval));
    if (d->sparse_step)
        TRY(cfg_u32(c, "decoder_sparse_step", 1, MAX_COUNT, &step));
    if (d->experts) {
        TRY(cfg_u32(c, "num_experts", d->n_expert, MAX_COUNT, &s->n_expert));
        TRY(cfg_u32(c, "num_experts_per_tok", d->n_used, MAX_COUNT, &s->n_expert_used));
        TRY(cfg_u32(c, "moe_intermediate_size", d->moe_ff, MAX_WIDTH, &s->ff_expert));
        TRY(cfg_u32(c, "shared_expert_intermediate_size", d->shared_ff, MAX_WIDTH,
                    &s->ff_shared));
    }
    s->o_bias = s->qkv_bias;
    s->qk_norm = 1;
    s->shared_gate = true;
    s->router_compute = true; /* router_top_value.to(router_logits.dtype) */
    if (!nk || !nv || !dk || !dv || !conv)
        return BADCFG("linear_num_key_heads, linear_num_value_heads, the linear head dims and "
                      "linear_conv_kernel_dim must be non-zero");
    if (nv % nk != 0)
        return BADCFG("linear_num_key_heads (%u) must divide linear_num_value_heads (%u)", nk,
                      nv);
    if ((uint64_t)nv * dv > MAX_WIDTH || (uint64_t)nk * dk > MAX_WIDTH)
        return BADCFG("linear heads x head dims (%u x %u, %u x %u) are implausibly large", nk,
                      dk, nv, dv);
    if (s->n_expert)
        TRY(arch_check_moe(c, s, "num_experts_per_tok", "moe_intermediate_size"));
    TRY(arch_read_common(c, m, s));
    TRY(arch_alloc_layers(c, m, s));
    bool *lin = calloc(m->n_layer, sizeof *lin);
    if (!lin)
        return err_set(c->err, GPUMEM_ERR_NOMEM, "out of memory");
    gpumem_status st = linear_layout(c, m->n_layer, interval, lin);
    uint64_t h = s->hidden, kd = (uint64_t)nk * dk, vd = (uint64_t)nv * dv;
    for (uint32_t i = 0; st == GPUMEM_OK && i < m->n_layer; i++) {
        model_layer *l = &m->layers[i];
        bool dense = false;
        if (d->sparse_step)
            st = listed(c, "mlp_only_layers", i, &dense);
        if (!dense && s->n_expert && step && (i + 1) % step == 0) {
            l->n_ff = 0;
            l->n_expert = s->n_expert;
            l->n_expert_used = s->n_expert_used;
            l->n_ff_expert = s->ff_expert;
            l->n_ff_shared = s->ff_shared;
            l->moe_weights_compute = true;
        }
        if (!lin[i]) { /* the output gate half of q_proj (with its bias) */
            uint64_t q = (uint64_t)s->heads * s->head_dim;
            l->arch_linear = h * q;
            l->arch_small = s->qkv_bias ? q : 0;
            continue;
        }
        l->attn = ATTN_KIND_NONE;
        l->ssm = true;
        l->ssm_delta = true;
        l->ssm_heads = nv;
        l->ssm_head_dim = dv;
        l->ssm_groups = nk;
        l->ssm_d_state = dk;
        l->ssm_d_conv = conv;
        l->ssm_d_inner = nv * dv;
        l->ssm_chunk = 64; /* torch_chunk_gated_delta_rule's chunk_size */
        l->ssm_state_f32 = true;
        l->qk_norm = false;
        l->arch_linear = h * (2 * kd + 2 * vd) + h * 2 * nv + vd * h;
        l->arch_small = (2 * kd + vd) * conv + 2ull * nv + dv;
    }
    free(lin);
    return st;
}

gpumem_status arch_read_qwen3_next(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    static const next_defaults d = {151936, 2048, 48, 16, 2, 5632, 512, 10, 512, 512, true, true};
    return read_next_family(c, m, s, &d);
}

/* Qwen3.5 (modeling_qwen3_5.py): Qwen3-Next's layers with the delta net's
 * input split into in_proj_qkv, in_proj_z, in_proj_b and in_proj_a (the
 * same sizes) and a dense gated MLP in every layer. */
gpumem_status arch_read_qwen3_5_text(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    static const next_defaults d = {248320, 4096, 32, 16, 4, 12288, 0, 0, 0, 0, false, false};
    return read_next_family(c, m, s, &d);
}

/* Qwen3.5-MoE (modeling_qwen3_5_moe.py): every layer MoE with a gated
 * shared expert (no decoder_sparse_step or mlp_only_layers). */
gpumem_status arch_read_qwen3_5_moe_text(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    static const next_defaults d = {248320, 2048, 40, 16, 2, 0, 256, 8, 512, 512, true, false};
    return read_next_family(c, m, s, &d);
}

/* --------------------------------------------------------- pure Mamba */

/* Mamba-2 (modeling_mamba2.py, configuration_mamba2.py): a norm and a
 * Mamba-2 mixer per layer (in_proj to gate, conv input and dt; depthwise
 * conv1d over d_inner + 2 n_groups x state_size with use_conv_bias; dt_bias,
 * A_log, D per head; gated RMSNorm over d_inner; out_proj; use_bias on the
 * projections), d_inner = expand x hidden_size = num_heads x head_dim. */
gpumem_status arch_read_mamba2(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    uint32_t heads, head_dim, groups, state, conv, expand, chunk;
    bool conv_bias, bias;
    TRY(cfg_u32(c, "vocab_size", 32768, MAX_WIDTH, &s->vocab));
    TRY(cfg_u32(c, "hidden_size", 4096, MAX_DIM, &s->hidden));
    TRY(cfg_u32(c, "num_hidden_layers", 64, 1u << 31, &s->layers));
    TRY(cfg_u32(c, "num_heads", 128, MAX_COUNT, &heads));
    TRY(cfg_u32(c, "head_dim", 64, MAX_DIM, &head_dim));
    TRY(cfg_u32(c, "n_groups", 8, MAX_COUNT, &groups));
    TRY(cfg_u32(c, "state_size", 128, MAX_DIM, &state));
    TRY(cfg_u32(c, "conv_kernel", 4, 1024, &conv));
    TRY(cfg_u32(c, "expand", 2, 64, &expand));
    TRY(cfg_u32(c, "chunk_size", 256, MAX_CTX, &chunk));
    TRY(cfg_bool(c, "use_bias", false, &bias));
    TRY(cfg_bool(c, "use_conv_bias", true, &conv_bias));
    TRY(cfg_bool(c, "tie_word_embeddings", false, &s->tie));
    TRY(arch_check_base(c, s));
    if ((uint64_t)heads * head_dim != (uint64_t)expand * s->hidden)
        return BADCFG("num_heads x head_dim (%u x %u) must equal expand x hidden_size (%u x %u)",
                      heads, head_dim, expand, s->hidden);
    if (!heads || !groups || heads % groups || !state || !conv || !chunk)
        return BADCFG("num_heads, n_groups (dividing num_heads), state_size, conv_kernel and "
                      "chunk_size must be non-zero");
    s->norms_per_layer = 1;
    s->heads = s->kv_heads = 0;
    s->ff = 0;
    TRY(arch_alloc_layers(c, m, s));
    for (uint32_t i = 0; i < m->n_layer; i++) {
        model_layer *l = &m->layers[i];
        arch_set_mamba2(l, heads, head_dim, groups, state, conv, chunk);
        l->ssm_conv_bias = conv_bias;
        l->ssm_proj_bias = bias;
        l->ssm_torch_mamba2 = true;
    }
    return GPUMEM_OK;
}

/* Falcon-Mamba (modeling_falcon_mamba.py): Mamba-1 layers whose B, C and
 * dt RMS norms hold no weights; d_inner is intermediate_size, which
 * __post_init__ sets to expand x hidden_size but a key in the file
 * overrides (measured: falcon-mamba-small); time_step_rank "auto" is
 * ceil(hidden / 16). */
gpumem_status arch_read_falcon_mamba(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    uint32_t state, expand, conv, dt_rank;
    bool conv_bias;
    TRY(cfg_u32(c, "vocab_size", 50280, MAX_WIDTH, &s->vocab));
    TRY(cfg_u32(c, "hidden_size", 768, MAX_DIM, &s->hidden));
    TRY(cfg_u32(c, "num_hidden_layers", 32, 1u << 31, &s->layers));
    TRY(cfg_u32(c, "state_size", 16, MAX_DIM, &state));
    TRY(cfg_u32(c, "expand", 2, 64, &expand));
    TRY(cfg_u32(c, "conv_kernel", 4, 1024, &conv));
    TRY(cfg_bool(c, "use_bias", false, &s->qkv_bias));
    TRY(cfg_bool(c, "use_conv_bias", true, &conv_bias));
    TRY(cfg_bool(c, "tie_word_embeddings", true, &s->tie));
    json_t *tr = json_object_get(c->root, "time_step_rank");
    if (tr && json_is_integer(tr))
        TRY(cfg_u32(c, "time_step_rank", 0, MAX_DIM, &dt_rank));
    else
        dt_rank = (s->hidden + 15) / 16;
    TRY(cfg_u32(c, "intermediate_size", expand * s->hidden, MAX_WIDTH, &s->ff));
    TRY(arch_check_base(c, s));
    if (!conv_bias)
        return err_set_at(c->err, GPUMEM_ERR_UNSUPPORTED, c->file, -1, 0, 0,
                          "use_conv_bias false is not modelled");
    if (!state || !conv || !dt_rank || !s->ff)
        return BADCFG("state_size, conv_kernel, time_step_rank and intermediate_size must be "
                      "non-zero");
    uint32_t inner = s->ff;
    s->norms_per_layer = 1;
    s->heads = s->kv_heads = 0;
    s->ff = 0;
    TRY(arch_alloc_layers(c, m, s));
    for (uint32_t i = 0; i < m->n_layer; i++) {
        model_layer *l = &m->layers[i];
        l->attn = ATTN_KIND_NONE;
        l->ssm = true;
        l->ssm_d_inner = inner;
        l->ssm_state_f32 = true; /* the slow scan's final state is fp32 */
        l->ssm_d_state = state;
        l->ssm_d_conv = conv;
        l->ssm_dt_rank = dt_rank;
    }
    return GPUMEM_OK;
}

/* ------------------------------------------------------------------ LFM2 */

/* LFM2 (modeling_lfm2.py, configuration_lfm2.py): "layer_types" (else
 * full_attn_idxs, else every layer) picks full attention (per-head q/k
 * RMSNorms, bias-free out_proj) or a gated short convolution
 * (Lfm2ShortConv: in_proj to 3 x hidden, a depthwise conv of conv_L_cache
 * taps, out_proj, conv_bias on all three); a SwiGLU MLP (w1, w3, w2) whose
 * width, with block_auto_adjust_ff_dim, is 2/3 of intermediate_size times
 * block_ffn_dim_multiplier rounded up to block_multiple_of; operator_norm
 * and ffn_norm per layer, embedding_norm after the last layer. The conv
 * layer caches conv_L_cache columns of hidden channels per sequence. */
gpumem_status arch_read_lfm2(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    uint32_t taps, multiple;
    bool bias, adjust;
    TRY(cfg_u32(c, "vocab_size", 65536, MAX_WIDTH, &s->vocab));
    TRY(cfg_u32(c, "hidden_size", 2560, MAX_DIM, &s->hidden));
    TRY(cfg_u32(c, "num_hidden_layers", 32, 1u << 31, &s->layers));
    TRY(cfg_u32(c, "num_attention_heads", 32, MAX_COUNT, &s->heads));
    TRY(cfg_u32(c, "num_key_value_heads", 8, MAX_COUNT, &s->kv_heads));
    TRY(cfg_u32(c, "intermediate_size", 12288, MAX_WIDTH, &s->ff));
    TRY(cfg_u32(c, "max_position_embeddings", 128000, MAX_CTX, &s->maxpos));
    TRY(cfg_bool(c, "tie_word_embeddings,tie_embedding", true, &s->tie));
    TRY(cfg_u32(c, "conv_L_cache", 3, 1024, &taps));
    TRY(cfg_bool(c, "conv_bias", false, &bias));
    TRY(cfg_bool(c, "block_auto_adjust_ff_dim", true, &adjust));
    TRY(cfg_u32(c, "block_multiple_of", 256, MAX_WIDTH, &multiple));
    json_t *mult = json_object_get(c->root, "block_ffn_dim_multiplier");
    if (mult && !json_is_null(mult) && !json_is_number(mult))
        return BADCFG("\"block_ffn_dim_multiplier\" must be a number or null");
    if (adjust) {
        uint64_t ff = 2ull * s->ff / 3;
        if (!mult || !json_is_null(mult)) {
            double f = mult ? json_number_value(mult) : 1.0;
            if (f <= 0 || f > 64 || multiple == 0)
                return BADCFG("\"block_ffn_dim_multiplier\" and \"block_multiple_of\" must be "
                              "positive");
            ff = (uint64_t)(f * (double)ff);
            ff = (ff + multiple - 1) / multiple * multiple;
        }
        if (ff > MAX_WIDTH)
            return BADCFG("the adjusted MLP width %llu is implausibly large",
                          (unsigned long long)ff);
        s->ff = (uint32_t)ff;
    }
    if (taps == 0)
        return BADCFG("\"conv_L_cache\" is zero");
    s->qk_norm = 1;
    TRY(arch_read_common(c, m, s));
    TRY(arch_alloc_layers(c, m, s));
    json_t *types = json_object_get(c->root, "layer_types");
    json_t *idx = json_object_get(c->root, "full_attn_idxs");
    bool have_types = types && !json_is_null(types), have_idx = idx && !json_is_null(idx);
    if (have_types && (!json_is_array(types) || json_array_size(types) != m->n_layer))
        return BADCFG("\"layer_types\" must be an array of %u strings (one per layer)",
                      m->n_layer);
    if (!have_types && have_idx && !json_is_array(idx))
        return BADCFG("\"full_attn_idxs\" must be an array of layer indices");
    uint64_t h = s->hidden;
    for (uint32_t i = 0; i < m->n_layer; i++) {
        bool conv = false;
        if (have_types) {
            const char *t = json_string_value(json_array_get(types, i));
            if (!t || (strcmp(t, "conv") != 0 && strcmp(t, "full_attention") != 0))
                return err_set_at(c->err, GPUMEM_ERR_UNSUPPORTED, c->file, -1, 0, 0,
                                  "\"layer_types\"[%u] must be \"conv\" or \"full_attention\"", i);
            conv = strcmp(t, "conv") == 0;
        } else if (have_idx) {
            conv = true;
            for (size_t k = 0; k < json_array_size(idx); k++)
                if (json_integer_value(json_array_get(idx, k)) == (json_int_t)i)
                    conv = false;
        }
        if (!conv)
            continue;
        model_layer *l = &m->layers[i];
        l->attn = ATTN_KIND_NONE;
        l->qk_norm = false;
        l->ssm = true;
        l->ssm_short_conv = true;
        l->ssm_d_inner = s->hidden;
        l->ssm_d_conv = taps;
        l->arch_linear = 4 * h * h;
        l->arch_small = h * taps + (bias ? 3 * h + h + h : 0);
    }
    return GPUMEM_OK;
}

/* --------------------------------------------------------------- MiniMax */

/* MiniMax-Text-01 (modeling_minimax.py, configuration_minimax.py):
 * "layer_types" (default: full attention on even layers, lightning
 * attention on odd ones; transformers 5.24 ignores the Hub's
 * attn_type_list) picks GQA attention without biases or lightning
 * attention (qkv_proj to 3 x heads x head_dim, output_gate, an RMSNorm over
 * heads x head_dim, out_proj; its K^T V state heads x head_dim x head_dim
 * per sequence, computed in block_size blocks); every layer MoE with
 * num_local_experts experts, num_experts_per_tok per token and an fp32
 * router; head_dim null means hidden / heads. */
gpumem_status arch_read_minimax(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    uint32_t block;
    TRY(cfg_u32(c, "vocab_size", 32000, MAX_WIDTH, &s->vocab));
    TRY(cfg_u32(c, "hidden_size", 4096, MAX_DIM, &s->hidden));
    TRY(cfg_u32(c, "num_hidden_layers", 32, 1u << 31, &s->layers));
    TRY(cfg_u32(c, "num_attention_heads", 32, MAX_COUNT, &s->heads));
    TRY(cfg_u32(c, "num_key_value_heads", 8, MAX_COUNT, &s->kv_heads));
    TRY(cfg_u32(c, "head_dim", 0, MAX_DIM, &s->head_dim));
    TRY(cfg_u32(c, "intermediate_size", 14336, MAX_WIDTH, &s->ff));
    TRY(cfg_u32(c, "max_position_embeddings", 131072, MAX_CTX, &s->maxpos));
    TRY(cfg_bool(c, "tie_word_embeddings", false, &s->tie));
    TRY(cfg_u32(c, "num_local_experts", 8, MAX_COUNT, &s->n_expert));
    TRY(cfg_u32(c, "num_experts_per_tok", 2, MAX_COUNT, &s->n_expert_used));
    TRY(cfg_u32(c, "block_size", 256, MAX_CTX, &block));
    s->ff_expert = s->ff;
    if (block == 0)
        return BADCFG("\"block_size\" is zero");
    TRY(arch_check_moe(c, s, "num_experts_per_tok", "moe_intermediate_size"));
    TRY(arch_read_common(c, m, s));
    TRY(arch_alloc_layers(c, m, s));
    bool *lin = calloc(m->n_layer, sizeof *lin);
    if (!lin)
        return err_set(c->err, GPUMEM_ERR_NOMEM, "out of memory");
    /* Default: (i + 1) % 2 != 0 is full attention, i.e. odd layers linear. */
    gpumem_status st = linear_layout(c, m->n_layer, 2, lin);
    uint64_t h = s->hidden, d = (uint64_t)s->heads * s->head_dim;
    for (uint32_t i = 0; st == GPUMEM_OK && i < m->n_layer; i++) {
        model_layer *l = &m->layers[i];
        l->n_ff = 0;
        l->n_expert = s->n_expert;
        l->n_expert_used = s->n_expert_used;
        l->n_ff_expert = s->ff_expert;
        bool linear = json_object_get(c->root, "layer_types") ? lin[i] : i % 2 == 1;
        if (!linear)
            continue;
        l->attn = ATTN_KIND_NONE;
        l->ssm = true;
        l->ssm_lightning = true;
        l->ssm_heads = s->heads;
        l->ssm_head_dim = s->head_dim;
        l->ssm_d_state = s->head_dim;
        l->ssm_d_inner = (uint32_t)d;
        l->ssm_chunk = block;
        l->arch_linear = 3 * h * d + d * h + h * d; /* qkv_proj, out_proj, output_gate */
        l->arch_small = d;                           /* norm */
    }
    free(lin);
    return st;
}

/* -------------------------------------------------------------- Falcon-H1 */

/* Falcon-H1 (modeling_falcon_h1.py, configuration_falcon_h1.py): every
 * layer runs a Mamba-2 mixer and attention side by side on the same
 * normed input, then a gated MLP. The description holds each layer as two:
 * the Mamba-2 half (with input_layernorm) and the attention + MLP half
 * (with pre_ff_layernorm), so both caches, all parameters and each half's
 * peak are counted. Mamba: d_ssm = mamba_d_ssm (default 1024; null:
 * mamba_expand x hidden) = mamba_n_heads x mamba_d_head ("auto": d_ssm / heads); in_proj
 * with mamba_proj_bias, conv1d with mamba_conv_bias, dt_bias/A_log/D per
 * head, a gated RMSNorm only with mamba_rms_norm, out_proj with
 * projectors_bias. Attention: q/k/v/o with attention_bias, head_dim
 * hidden / heads unless given. lm_head never tied unless
 * tie_word_embeddings. The multipliers and mup_vector are buffers. */
gpumem_status arch_read_falcon_h1(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    uint32_t heads, head_dim, groups, state, conv, chunk, expand, d_ssm, layers;
    bool conv_bias, proj_bias, out_bias, rms_norm;
    TRY(cfg_u32(c, "vocab_size", 128000, MAX_WIDTH, &s->vocab));
    TRY(cfg_u32(c, "hidden_size", 4096, MAX_DIM, &s->hidden));
    TRY(cfg_u32(c, "num_hidden_layers", 32, 1u << 30, &layers));
    TRY(cfg_u32(c, "num_attention_heads", 32, MAX_COUNT, &s->heads));
    TRY(cfg_u32(c, "num_key_value_heads", 8, MAX_COUNT, &s->kv_heads));
    TRY(cfg_u32(c, "head_dim", 0, MAX_DIM, &s->head_dim));
    TRY(cfg_u32(c, "intermediate_size", 14336, MAX_WIDTH, &s->ff));
    TRY(cfg_u32(c, "max_position_embeddings", 8192, MAX_CTX, &s->maxpos));
    TRY(cfg_bool(c, "tie_word_embeddings", false, &s->tie));
    TRY(cfg_bool(c, "attention_bias", false, &s->qkv_bias));
    TRY(cfg_bool(c, "mlp_bias", false, &s->mlp_bias));
    TRY(cfg_u32(c, "mamba_expand", 2, 64, &expand));
    TRY(cfg_u32(c, "mamba_d_ssm", 1024, MAX_WIDTH, &d_ssm));
    json_t *dj = json_object_get(c->root, "mamba_d_ssm");
    if (dj && json_is_null(dj))
        d_ssm = expand * s->hidden;
    TRY(cfg_u32(c, "mamba_n_heads", 128, MAX_COUNT, &heads));
    TRY(cfg_u32(c, "mamba_n_groups", 1, MAX_COUNT, &groups));
    TRY(cfg_u32(c, "mamba_d_state", 256, MAX_DIM, &state));
    TRY(cfg_u32(c, "mamba_d_conv", 4, 1024, &conv));
    TRY(cfg_u32(c, "mamba_chunk_size", 256, MAX_CTX, &chunk));
    TRY(cfg_bool(c, "mamba_conv_bias", true, &conv_bias));
    TRY(cfg_bool(c, "mamba_proj_bias", false, &proj_bias));
    TRY(cfg_bool(c, "projectors_bias", false, &out_bias));
    TRY(cfg_bool(c, "mamba_rms_norm", false, &rms_norm));
    json_t *dh = json_object_get(c->root, "mamba_d_head");
    if (dh && json_is_integer(dh))
        TRY(cfg_u32(c, "mamba_d_head", 0, MAX_DIM, &head_dim));
    else if (dh && !json_is_null(dh) &&
             !(json_is_string(dh) && strcmp(json_string_value(dh), "auto") == 0))
        return BADCFG("\"mamba_d_head\" must be an integer or \"auto\"");
    else
        head_dim = heads ? d_ssm / heads : 0;
    if (!heads || !groups || heads % groups || !state || !conv || !chunk ||
        (uint64_t)heads * head_dim != d_ssm)
        return BADCFG("mamba_n_heads x mamba_d_head (%u x %u) must equal mamba_d_ssm (%u), with "
                      "mamba_n_groups dividing the heads and non-zero state, conv and chunk",
                      heads, head_dim, d_ssm);
    if (layers > (1u << 30) / 2)
        return BADCFG("\"num_hidden_layers\" is implausibly large");
    s->layers = 2 * layers;
    s->norms_per_layer = 1;
    TRY(arch_read_common(c, m, s));
    TRY(arch_alloc_layers(c, m, s));
    snprintf(m->note, sizeof m->note,
             "Falcon-H1: each of its %u layers described as a Mamba-2 half and an attention + "
             "MLP half",
             layers);
    uint64_t h = s->hidden, conv_dim = d_ssm + 2ull * groups * state;
    uint64_t proj = d_ssm + conv_dim + heads;
    for (uint32_t i = 0; i < m->n_layer; i += 2) {
        model_layer *l = &m->layers[i];
        l->attn = ATTN_KIND_NONE;
        l->qk_norm = false;
        l->n_ff = 0;
        l->ssm = true;
        l->ssm_own_params = true;
        l->ssm_torch_mamba2 = true; /* the same fp32 pads and repeats (measured) */
        l->ssm_heads = heads;
        l->ssm_head_dim = head_dim;
        l->ssm_groups = groups;
        l->ssm_d_state = state;
        l->ssm_d_conv = conv;
        l->ssm_d_inner = d_ssm;
        l->ssm_chunk = chunk;
        l->ssm_state_f32 = true;
        l->ssm_conv_bias = conv_bias;
        l->arch_linear = h * proj + (uint64_t)d_ssm * h;
        l->arch_small = conv_dim * conv + (conv_bias ? conv_dim : 0) + 3ull * heads +
                        (rms_norm ? d_ssm : 0) + (proj_bias ? proj : 0) + (out_bias ? h : 0);
    }
    s->o_bias = s->qkv_bias;
    return GPUMEM_OK;
}
