/* Hybrid architectures: state-space (Mamba) layers beside attention
 * layers. Each reader states the keys it reads, the class defaults of
 * transformers 5.24 (configuration_<arch>.py) and which modules hold
 * parameters (modeling_<arch>.py); the model description gets one layer
 * per block, either a Mamba mixer (ssm) or attention, and its MLP or MoE. */
#include "read_config_internal.h"

#include "error_internal.h"

#include <stdlib.h>
#include <string.h>

void arch_mamba2_params(const model_layer *l, uint64_t hidden, uint64_t *lin, uint64_t *small)
{
    /* Mamba2 mixer (modeling_granitemoehybrid.py / modeling_nemotron_h.py):
     * in_proj to gate (d_inner), conv input (conv_dim) and dt (heads);
     * depthwise conv1d over conv_dim; dt_bias, A_log, D per head; gated
     * RMSNorm over d_inner; out_proj back to hidden. */
    uint64_t d = (uint64_t)l->ssm_heads * l->ssm_head_dim;
    uint64_t conv = d + 2ull * l->ssm_groups * l->ssm_d_state;
    uint64_t proj = d + conv + l->ssm_heads;
    *lin = hidden * proj + d * hidden;
    *small = conv * l->ssm_d_conv + 3ull * l->ssm_heads + d;
    if (l->ssm_conv_bias)
        *small += conv;
    if (l->ssm_proj_bias)
        *small += proj + hidden;
}

/* Marks layer l a Mamba-2 mixer with the given shape. */
void arch_set_mamba2(model_layer *l, uint32_t heads, uint32_t head_dim, uint32_t groups,
                       uint32_t state, uint32_t conv, uint32_t chunk)
{
    l->attn = ATTN_KIND_NONE;
    l->ssm = true;
    l->ssm_heads = heads;
    l->ssm_head_dim = head_dim;
    l->ssm_groups = groups;
    l->ssm_d_state = state;
    l->ssm_d_conv = conv;
    l->ssm_d_inner = heads * head_dim;
    l->ssm_chunk = chunk;
    l->ssm_state_f32 = true;
}

static gpumem_status check_mamba2(cfg_ctx *c, uint32_t heads, uint32_t head_dim, uint32_t groups,
                                  uint32_t state, uint32_t conv, uint32_t chunk)
{
    if (!heads || !head_dim || !groups || !state || !conv || !chunk)
        return BADCFG("Mamba heads, head dim, groups, state size, conv kernel and chunk size "
                      "must be non-zero");
    if (heads % groups != 0)
        return BADCFG("Mamba groups (%u) must divide the Mamba heads (%u)", groups, heads);
    if ((uint64_t)heads * head_dim > MAX_WIDTH)
        return BADCFG("Mamba heads x head dim (%u x %u) is implausibly large", heads, head_dim);
    return GPUMEM_OK;
}

static gpumem_status read_tie(cfg_ctx *c, bool def, bool *out)
{
    return cfg_bool(c, "tie_word_embeddings", def, out);
}

/* One entry of a per-layer type list: 1 Mamba, 0 attention. */
static gpumem_status layer_kind(cfg_ctx *c, const char *key, json_t *v, uint32_t i, bool *mamba)
{
    const char *t = json_string_value(v);
    if (!t)
        return BADCFG("\"%s\"[%u] is not a string", key, i);
    if (strcmp(t, "mamba") == 0 || strcmp(t, "linear_attention") == 0)
        *mamba = true;
    else if (strcmp(t, "attention") == 0 || strcmp(t, "full_attention") == 0)
        *mamba = false;
    else
        return err_set_at(c->err, GPUMEM_ERR_UNSUPPORTED, c->file, -1, 0, 0,
                          "\"%s\"[%u] is '%s'; gpumem models mamba and attention layers", key,
                          i, t);
    return GPUMEM_OK;
}

/* ------------------------------------------------------ GraniteMoeHybrid */

/* IBM Granite 4.0-H (modeling_granitemoehybrid.py): layer_types picks a
 * Mamba-2 mixer or attention per layer (absent: all Mamba); every layer
 * has the gated shared_mlp of shared_intermediate_size, plus
 * num_local_experts routed experts (none when 0) of intermediate_size;
 * two RMSNorms per layer; multipliers hold no parameters. */
gpumem_status arch_read_granitemoehybrid(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    uint32_t heads, head_dim, groups, state, conv, expand, chunk;
    TRY(cfg_u32(c, "vocab_size", 32000, MAX_WIDTH, &s->vocab));
    TRY(cfg_u32(c, "hidden_size", 4096, MAX_DIM, &s->hidden));
    TRY(cfg_u32(c, "num_hidden_layers", 32, 1u << 31, &s->layers));
    TRY(cfg_u32(c, "num_attention_heads", 32, MAX_COUNT, &s->heads));
    TRY(cfg_u32(c, "num_key_value_heads", 0, MAX_COUNT, &s->kv_heads));
    TRY(cfg_u32(c, "intermediate_size", 11008, MAX_WIDTH, &s->ff_expert));
    TRY(cfg_u32(c, "shared_intermediate_size", 1024, MAX_WIDTH, &s->ff_shared));
    TRY(cfg_u32(c, "max_position_embeddings", 2048, MAX_CTX, &s->maxpos));
    TRY(cfg_u32(c, "num_local_experts", 8, MAX_COUNT, &s->n_expert));
    TRY(cfg_u32(c, "num_experts_per_tok", 2, MAX_COUNT, &s->n_expert_used));
    TRY(read_tie(c, false, &s->tie));
    TRY(cfg_bool(c, "attention_bias", false, &s->qkv_bias));
    s->o_bias = s->qkv_bias;
    TRY(cfg_u32(c, "mamba_n_heads", 128, MAX_COUNT, &heads));
    TRY(cfg_u32(c, "mamba_n_groups", 1, MAX_COUNT, &groups));
    TRY(cfg_u32(c, "mamba_d_state", 256, MAX_DIM, &state));
    TRY(cfg_u32(c, "mamba_d_conv", 4, 1024, &conv));
    TRY(cfg_u32(c, "mamba_expand", 2, 64, &expand));
    TRY(cfg_u32(c, "mamba_chunk_size", 256, MAX_CTX, &chunk));
    bool conv_bias, proj_bias;
    TRY(cfg_bool(c, "mamba_conv_bias", true, &conv_bias));
    TRY(cfg_bool(c, "mamba_proj_bias", false, &proj_bias));
    uint64_t inner = (uint64_t)expand * s->hidden;
    /* mamba_d_head "auto" (the default) is d_inner / heads. */
    json_t *dh = json_object_get(c->root, "mamba_d_head");
    if (dh && json_is_integer(dh))
        TRY(cfg_u32(c, "mamba_d_head", 0, MAX_DIM, &head_dim));
    else if (dh && !json_is_null(dh) && !(json_is_string(dh) &&
                                          strcmp(json_string_value(dh), "auto") == 0))
        return BADCFG("\"mamba_d_head\" must be an integer or \"auto\"");
    else
        head_dim = heads ? (uint32_t)(inner / heads) : 0;
    TRY(arch_check_base(c, s));
    if (heads == 0 || inner % heads != 0 || (uint64_t)heads * head_dim != inner)
        return BADCFG("mamba_n_heads (%u) x mamba_d_head (%u) must equal mamba_expand x "
                      "hidden_size (%llu)",
                      heads, head_dim, (unsigned long long)inner);
    TRY(check_mamba2(c, heads, head_dim, groups, state, conv, chunk));
    if (s->n_expert) {
        s->shared_gate = false;
        TRY(arch_check_moe(c, s, NULL, NULL));
    }
    s->ff = 0;
    TRY(arch_read_common(c, m, s));
    TRY(arch_alloc_layers(c, m, s));
    json_t *types = json_object_get(c->root, "layer_types");
    if (types && !json_is_null(types) &&
        (!json_is_array(types) || json_array_size(types) != m->n_layer))
        return BADCFG("\"layer_types\" must be an array of %u strings (one per layer)",
                      m->n_layer);
    for (uint32_t i = 0; i < m->n_layer; i++) {
        model_layer *l = &m->layers[i];
        bool mamba = true;
        if (types && !json_is_null(types))
            TRY(layer_kind(c, "layer_types", json_array_get(types, i), i, &mamba));
        if (mamba) {
            arch_set_mamba2(l, heads, head_dim, groups, state, conv, chunk);
            l->ssm_conv_bias = conv_bias;
            l->ssm_proj_bias = proj_bias;
        }
        l->n_ff = s->n_expert ? 0 : s->ff_shared;
        l->gated_ff = true;
        if (s->n_expert) {
            l->n_expert = s->n_expert;
            l->n_expert_used = s->n_expert_used;
            l->n_ff_expert = s->ff_expert;
            l->n_ff_shared = s->ff_shared;
            l->moe_weights_compute = true; /* type_as(hidden_states) */
        }
    }
    return GPUMEM_OK;
}

/* ------------------------------------------------------------ Nemotron-H */

/* NVIDIA Nemotron-H (modeling_nemotron_h.py): one mixer per block after
 * one RMSNorm: Mamba-2 (M), attention (*), a relu2 MLP up/down (-) or MoE
 * (E: routed up/down experts, optionally in a moe_latent_size latent, one
 * shared MLP, fp32 router). The layout comes from layers_block_type or the
 * older hybrid_override_pattern string. Attention has no biases and
 * head_dim (default 128); lm_head is never tied (_tied_weights_keys is
 * empty). */
static gpumem_status nemotron_kinds(cfg_ctx *c, uint32_t n, char *kinds)
{
    json_t *list = json_object_get(c->root, "layers_block_type");
    if (list && !json_is_null(list)) {
        if (!json_is_array(list) || json_array_size(list) != n)
            return BADCFG("\"layers_block_type\" must be an array of %u strings", n);
        static const struct {
            const char *name;
            char kind;
        } names[] = {{"mamba", 'M'}, {"linear_attention", 'M'}, {"attention", '*'},
                     {"full_attention", '*'}, {"mlp", '-'}, {"moe", 'E'}};
        for (uint32_t i = 0; i < n; i++) {
            const char *t = json_string_value(json_array_get(list, i));
            kinds[i] = 0;
            for (size_t k = 0; t && k < sizeof names / sizeof names[0]; k++)
                if (strcmp(t, names[k].name) == 0)
                    kinds[i] = names[k].kind;
            if (!kinds[i])
                return err_set_at(c->err, GPUMEM_ERR_UNSUPPORTED, c->file, -1, 0, 0,
                                  "\"layers_block_type\"[%u] is not one of mamba, attention, "
                                  "mlp, moe",
                                  i);
        }
        return GPUMEM_OK;
    }
    const char *pat;
    TRY(cfg_str(c, "hybrid_override_pattern", &pat));
    if (!pat)
        return BADCFG("a nemotron_h config needs \"layers_block_type\" or "
                      "\"hybrid_override_pattern\"");
    if (strlen(pat) != n)
        return BADCFG("\"hybrid_override_pattern\" has %zu layers, num_hidden_layers is %u",
                      strlen(pat), n);
    for (uint32_t i = 0; i < n; i++) {
        if (!strchr("M*-E", pat[i]) || !pat[i])
            return err_set_at(c->err, GPUMEM_ERR_UNSUPPORTED, c->file, -1, 0, 0,
                              "\"hybrid_override_pattern\"[%u] is '%c'; expected M, *, - or E",
                              i, pat[i]);
        kinds[i] = pat[i];
    }
    return GPUMEM_OK;
}

gpumem_status arch_read_nemotron_h(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    uint32_t heads, head_dim, groups, state, conv, chunk, latent;
    bool conv_bias, mlp_bias, use_bias;
    TRY(cfg_u32(c, "vocab_size", 131072, MAX_WIDTH, &s->vocab));
    TRY(cfg_u32(c, "hidden_size", 4096, MAX_DIM, &s->hidden));
    TRY(cfg_u32(c, "num_attention_heads", 32, MAX_COUNT, &s->heads));
    TRY(cfg_u32(c, "num_key_value_heads", 8, MAX_COUNT, &s->kv_heads));
    TRY(cfg_u32(c, "head_dim", 128, MAX_DIM, &s->head_dim));
    TRY(cfg_u32(c, "intermediate_size", 21504, MAX_WIDTH, &s->ff));
    TRY(cfg_u32(c, "max_position_embeddings", 4096, MAX_CTX, &s->maxpos));
    TRY(cfg_u32(c, "n_routed_experts,num_local_experts", 8, MAX_COUNT, &s->n_expert));
    TRY(cfg_u32(c, "num_experts_per_tok", 2, MAX_COUNT, &s->n_expert_used));
    TRY(cfg_u32(c, "moe_intermediate_size", 7688, MAX_WIDTH, &s->ff_expert));
    TRY(cfg_u32(c, "moe_shared_expert_intermediate_size", 7688, MAX_WIDTH, &s->ff_shared));
    TRY(cfg_u32(c, "moe_latent_size", 0, MAX_WIDTH, &latent));
    TRY(cfg_u32(c, "mamba_num_heads", 128, MAX_COUNT, &heads));
    TRY(cfg_u32(c, "mamba_head_dim", 64, MAX_DIM, &head_dim));
    TRY(cfg_u32(c, "n_groups,mamba_n_groups", 8, MAX_COUNT, &groups));
    TRY(cfg_u32(c, "ssm_state_size", 128, MAX_DIM, &state));
    TRY(cfg_u32(c, "conv_kernel,mamba_d_conv", 4, 1024, &conv));
    TRY(cfg_u32(c, "chunk_size,mamba_chunk_size", 128, MAX_CTX, &chunk));
    TRY(cfg_bool(c, "use_conv_bias,mamba_conv_bias", true, &conv_bias));
    TRY(cfg_bool(c, "use_bias", false, &use_bias));
    TRY(cfg_bool(c, "mlp_bias", false, &mlp_bias));
    const char *ssm_dtype;
    TRY(cfg_str(c, "mamba_ssm_cache_dtype", &ssm_dtype));
    s->tie = false;
    s->norms_per_layer = 1;
    s->gated = false;
    s->mlp_bias = mlp_bias;
    s->shared_bias = mlp_bias;
    /* The layer count is the layout's length (num_hidden_layers is ignored
     * when layers_block_type is given). */
    json_t *list = json_object_get(c->root, "layers_block_type");
    if (list && json_is_array(list))
        s->layers = (uint32_t)json_array_size(list);
    else
        TRY(cfg_u32(c, "num_hidden_layers", 52, 1u << 16, &s->layers));
    TRY(arch_read_common(c, m, s));
    TRY(check_mamba2(c, heads, head_dim, groups, state, conv, chunk));
    char *kinds = calloc(s->layers + 1, 1);
    if (!kinds)
        return err_set(c->err, GPUMEM_ERR_NOMEM, "out of memory for %u layers", s->layers);
    gpumem_status st = nemotron_kinds(c, s->layers, kinds);
    bool any_moe = st == GPUMEM_OK && strchr(kinds, 'E');
    if (st == GPUMEM_OK && any_moe)
        st = arch_check_moe(c, s, NULL, NULL);
    if (st == GPUMEM_OK)
        st = arch_alloc_layers(c, m, s);
    for (uint32_t i = 0; st == GPUMEM_OK && i < m->n_layer; i++) {
        model_layer *l = &m->layers[i];
        l->n_ff = 0;
        l->gated_ff = false;
        if (kinds[i] != '*')
            l->attn = ATTN_KIND_NONE;
        if (kinds[i] == 'M') {
            arch_set_mamba2(l, heads, head_dim, groups, state, conv, chunk);
            l->ssm_conv_bias = conv_bias;
            l->ssm_proj_bias = use_bias;
            l->ssm_vllm_state_f32 = !ssm_dtype || strcmp(ssm_dtype, "float32") == 0;
        } else if (kinds[i] == '-') {
            l->n_ff = s->ff;
        } else if (kinds[i] == 'E') {
            l->n_expert = s->n_expert;
            l->n_expert_used = s->n_expert_used;
            l->n_ff_expert = s->ff_expert;
            l->n_ff_shared = s->ff_shared;
            l->moe_latent = latent;
        }
    }
    free(kinds);
    return st;
}

/* ----------------------------------------------------------------- Jamba */

/* AI21 Jamba (modeling_jamba.py): attention where i % attn_layer_period ==
 * attn_layer_offset, Mamba-1 elsewhere (in_proj, conv1d, x_proj, dt_proj,
 * A_log, D, out_proj and RMSNorms on dt, B and C); routed experts where
 * i % expert_layer_period == expert_layer_offset, a gated MLP elsewhere;
 * two RMSNorms per layer. */
gpumem_status arch_read_jamba(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    uint32_t attn_period, attn_offset, exp_period, exp_offset, state, conv, expand, dt_rank;
    bool conv_bias, proj_bias;
    TRY(cfg_u32(c, "vocab_size", 65536, MAX_WIDTH, &s->vocab));
    TRY(cfg_u32(c, "hidden_size", 4096, MAX_DIM, &s->hidden));
    TRY(cfg_u32(c, "num_hidden_layers", 32, 1u << 31, &s->layers));
    TRY(cfg_u32(c, "num_attention_heads", 32, MAX_COUNT, &s->heads));
    TRY(cfg_u32(c, "num_key_value_heads", 8, MAX_COUNT, &s->kv_heads));
    TRY(cfg_u32(c, "intermediate_size", 14336, MAX_WIDTH, &s->ff));
    TRY(cfg_u32(c, "max_position_embeddings", 262144, MAX_CTX, &s->maxpos));
    TRY(cfg_u32(c, "num_experts", 16, MAX_COUNT, &s->n_expert));
    TRY(cfg_u32(c, "num_experts_per_tok", 2, MAX_COUNT, &s->n_expert_used));
    TRY(cfg_u32(c, "attn_layer_period", 8, MAX_COUNT, &attn_period));
    TRY(cfg_u32(c, "attn_layer_offset", 4, MAX_COUNT, &attn_offset));
    TRY(cfg_u32(c, "expert_layer_period", 2, MAX_COUNT, &exp_period));
    TRY(cfg_u32(c, "expert_layer_offset", 1, MAX_COUNT, &exp_offset));
    TRY(cfg_u32(c, "mamba_d_state", 16, MAX_DIM, &state));
    TRY(cfg_u32(c, "mamba_d_conv", 4, 1024, &conv));
    TRY(cfg_u32(c, "mamba_expand", 2, 64, &expand));
    TRY(cfg_bool(c, "mamba_conv_bias", true, &conv_bias));
    TRY(cfg_bool(c, "mamba_proj_bias", false, &proj_bias));
    TRY(read_tie(c, false, &s->tie));
    /* mamba_dt_rank "auto" (the default) is ceil(hidden / 16). */
    json_t *tr = json_object_get(c->root, "mamba_dt_rank");
    if (tr && json_is_integer(tr))
        TRY(cfg_u32(c, "mamba_dt_rank", 0, MAX_DIM, &dt_rank));
    else
        dt_rank = (s->hidden + 15) / 16;
    if (attn_period == 0 || attn_offset >= attn_period)
        return BADCFG("attn_layer_offset (%u) must be below attn_layer_period (%u)",
                      attn_offset, attn_period);
    if (exp_period == 0 || exp_offset >= exp_period)
        return BADCFG("expert_layer_offset (%u) must be below expert_layer_period (%u)",
                      exp_offset, exp_period);
    if (!conv_bias)
        return err_set_at(c->err, GPUMEM_ERR_UNSUPPORTED, c->file, -1, 0, 0,
                          "mamba_conv_bias false is not modelled");
    if (state == 0 || conv == 0 || dt_rank == 0)
        return BADCFG("mamba_d_state, mamba_d_conv and mamba_dt_rank must be non-zero");
    s->ff_expert = s->ff;
    if (s->n_expert > 1)
        TRY(arch_check_moe(c, s, NULL, NULL));
    TRY(arch_read_common(c, m, s));
    TRY(arch_alloc_layers(c, m, s));
    for (uint32_t i = 0; i < m->n_layer; i++) {
        model_layer *l = &m->layers[i];
        if (i % attn_period != attn_offset) {
            l->attn = ATTN_KIND_NONE;
            l->ssm = true;
            l->ssm_d_inner = expand * s->hidden;
            l->ssm_d_state = state;
            l->ssm_d_conv = conv;
            l->ssm_dt_rank = dt_rank;
            l->ssm_conv_bias = true;
            l->ssm_proj_bias = proj_bias;
            l->ssm_bc_norms = true;
            l->ssm_state_f32 = true;
        }
        /* JambaSparseMoeBlock when the layer has more than one expert. */
        if (i % exp_period == exp_offset && s->n_expert > 1) {
            l->n_ff = 0;
            l->n_expert = s->n_expert;
            l->n_expert_used = s->n_expert_used;
            l->n_ff_expert = s->ff_expert;
            l->moe_weights_compute = true; /* JambaTopKRouter casts back */
        }
    }
    return GPUMEM_OK;
}
