/* One function per Hugging Face model_type: which keys it reads, the class
 * defaults transformers (5.x, configuration_<arch>.py) applies to absent
 * keys, and which parameters its modules hold (modeling_<arch>.py). Adding
 * an architecture is one function and one table row. */
#include "read_config_internal.h"
#include "arch_more_internal.h"

#include "error_internal.h"

#include <stdlib.h>
#include <string.h>


/* Class defaults of the common keys. */
typedef struct {
    uint32_t vocab, hidden, layers, heads, kv_heads, head_dim, ff, maxpos;
    bool tie;
} dims;

static gpumem_status read_dims(cfg_ctx *c, arch_spec *s, dims d)
{
    TRY(cfg_u32(c, "vocab_size", d.vocab, MAX_WIDTH, &s->vocab));
    TRY(cfg_u32(c, "hidden_size,n_embd,d_model", d.hidden, MAX_DIM, &s->hidden));
    TRY(cfg_u32(c, "num_hidden_layers,n_layer", d.layers, 1u << 31, &s->layers));
    TRY(cfg_u32(c, "num_attention_heads,n_head", d.heads, MAX_COUNT, &s->heads));
    TRY(cfg_u32(c, "num_key_value_heads,num_kv_heads", d.kv_heads, MAX_COUNT, &s->kv_heads));
    TRY(cfg_u32(c, "head_dim", d.head_dim, MAX_DIM, &s->head_dim));
    TRY(cfg_u32(c, "intermediate_size,n_inner,ffn_hidden_size", d.ff, MAX_WIDTH, &s->ff));
    TRY(cfg_u32(c, "max_position_embeddings,n_positions", d.maxpos, MAX_CTX, &s->maxpos));
    /* Multimodal configs keep tie_word_embeddings beside text_config. */
    json_t *root = c->root;
    if (!json_object_get(root, "tie_word_embeddings"))
        c->root = c->top;
    gpumem_status st = cfg_bool(c, "tie_word_embeddings", d.tie, &s->tie);
    c->root = root;
    return st;
}

static gpumem_status finish_dense(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    TRY(arch_read_common(c, m, s));
    return arch_alloc_layers(c, m, s);
}

/* Every layer slides over `sliding_window` when the config sets one (Mistral,
 * Mixtral, Starcoder2, Phi-3: transformers' DynamicCache gives each layer a
 * sliding-window layer then), unless "layer_types" says otherwise. */
static gpumem_status sliding_all(cfg_ctx *c, gpumem_model *m)
{
    uint32_t window;
    bool found;
    TRY(cfg_u32(c, "sliding_window", 0, MAX_CTX, &window));
    TRY(arch_layer_types(c, m, window, &found));
    for (uint32_t i = 0; !found && window && i < m->n_layer; i++) {
        m->layers[i].attn = ATTN_KIND_SLIDING;
        m->layers[i].window = window;
    }
    return GPUMEM_OK;
}

/* Sliding on layers where (i + 1) % pattern != 0 (Gemma 2: pattern 2,
 * Gemma 3: sliding_window_pattern, default 6), unless "layer_types" says. */
static gpumem_status sliding_pattern(cfg_ctx *c, gpumem_model *m, uint32_t def_window,
                                     uint32_t def_pattern)
{
    uint32_t window, pattern;
    TRY(cfg_u32(c, "sliding_window", def_window, MAX_CTX, &window));
    TRY(cfg_u32(c, "sliding_window_pattern", def_pattern, MAX_COUNT, &pattern));
    return arch_sliding_every(c, m, window, pattern);
}

gpumem_status arch_sliding_every(cfg_ctx *c, gpumem_model *m, uint32_t window, uint32_t pattern)
{
    bool found;
    TRY(arch_layer_types(c, m, window, &found));
    for (uint32_t i = 0; !found && window && pattern && i < m->n_layer; i++) {
        if ((i + 1) % pattern != 0) {
            m->layers[i].attn = ATTN_KIND_SLIDING;
            m->layers[i].window = window;
        }
    }
    return GPUMEM_OK;
}

/* Qwen2/Qwen3: use_sliding_window applies the window from layer
 * max_window_layers on (modeling_qwen2.py). */
static gpumem_status sliding_qwen(cfg_ctx *c, gpumem_model *m)
{
    bool use;
    uint32_t window, from;
    bool found;
    TRY(cfg_bool(c, "use_sliding_window", false, &use));
    TRY(cfg_u32(c, "sliding_window", 4096, MAX_CTX, &window));
    TRY(cfg_u32(c, "max_window_layers", 28, 1u << 31, &from));
    TRY(arch_layer_types(c, m, use ? window : 0, &found));
    for (uint32_t i = from; !found && use && window && i < m->n_layer; i++) {
        m->layers[i].attn = ATTN_KIND_SLIDING;
        m->layers[i].window = window;
    }
    return GPUMEM_OK;
}


/* A per-layer list of integers (Llama 4 / SmolLM3 "no_rope_layers": 1
 * where the layer uses RoPE): out[i] = value != 0. *present is false when
 * the key is absent or null. */
static gpumem_status layer_flags(cfg_ctx *c, const char *key, uint32_t n, bool *out,
                                 bool *present)
{
    json_t *a = json_object_get(c->root, key);
    *present = a && !json_is_null(a);
    if (!*present)
        return GPUMEM_OK;
    if (!json_is_array(a) || json_array_size(a) != n)
        return err_set_at(c->err, GPUMEM_ERR_INVALID, c->file, -1, 0, 0,
                          "\"%s\" must be an array of %u integers (one per layer)", key, n);
    for (uint32_t i = 0; i < n; i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_integer(v) && !json_is_boolean(v))
            return err_set_at(c->err, GPUMEM_ERR_INVALID, c->file, -1, 0, 0,
                              "\"%s\"[%u] is not an integer", key, i);
        out[i] = json_is_boolean(v) ? json_is_true(v) : json_integer_value(v) != 0;
    }
    return GPUMEM_OK;
}

/* A list of layer indices (Llama 4 "moe_layers"): out[i] = listed. */
static gpumem_status layer_indices(cfg_ctx *c, const char *key, uint32_t n, bool *out,
                                   bool *present)
{
    json_t *a = json_object_get(c->root, key);
    *present = a && !json_is_null(a);
    if (!*present)
        return GPUMEM_OK;
    if (!json_is_array(a))
        return err_set_at(c->err, GPUMEM_ERR_INVALID, c->file, -1, 0, 0,
                          "\"%s\" must be an array of layer indices", key);
    for (size_t k = 0; k < json_array_size(a); k++) {
        json_t *v = json_array_get(a, k);
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) >= (json_int_t)n)
            return err_set_at(c->err, GPUMEM_ERR_INVALID, c->file, -1, 0, 0,
                              "\"%s\"[%zu] is not a layer index below %u", key, k, n);
        out[json_integer_value(v)] = true;
    }
    return GPUMEM_OK;
}

/* ---------------------------------------------------------- dense decoders */

static gpumem_status read_llama(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    TRY(read_dims(c, s, (dims){32000, 4096, 32, 32, 0, 0, 11008, 2048, false}));
    TRY(cfg_bool(c, "attention_bias", false, &s->qkv_bias));
    s->o_bias = s->qkv_bias;
    TRY(cfg_bool(c, "mlp_bias", false, &s->mlp_bias));
    return finish_dense(c, m, s);
}

static gpumem_status read_mistral(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    TRY(read_dims(c, s, (dims){32000, 4096, 32, 32, 8, 0, 14336, 4096 * 32, false}));
    TRY(finish_dense(c, m, s));
    return sliding_all(c, m);
}

static gpumem_status read_qwen2(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    TRY(read_dims(c, s, (dims){151936, 4096, 32, 32, 32, 0, 22016, 32768, false}));
    s->qkv_bias = true; /* Qwen2Attention: q/k/v with bias, o without */
    TRY(finish_dense(c, m, s));
    return sliding_qwen(c, m);
}

static gpumem_status read_qwen3(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    TRY(read_dims(c, s, (dims){151936, 4096, 32, 32, 32, 128, 22016, 32768, false}));
    TRY(cfg_bool(c, "attention_bias", false, &s->qkv_bias));
    s->o_bias = s->qkv_bias;
    s->qk_norm = 1; /* q_norm, k_norm: RMSNorm(head_dim) */
    TRY(finish_dense(c, m, s));
    return sliding_qwen(c, m);
}

static gpumem_status read_gemma(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    m->embed_scale_buffer = true; /* GemmaTextScaledWordEmbedding (transformers 5.24) */
    TRY(read_dims(c, s, (dims){256000, 3072, 28, 16, 16, 256, 24576, 8192, true}));
    TRY(cfg_bool(c, "attention_bias", false, &s->qkv_bias));
    s->o_bias = s->qkv_bias;
    return finish_dense(c, m, s);
}

static gpumem_status read_gemma2(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    s->no_sdpa = true;
    m->embed_scale_buffer = true; /* GemmaTextScaledWordEmbedding (transformers 5.24) */
    TRY(read_dims(c, s, (dims){256000, 2304, 26, 8, 4, 256, 9216, 8192, true}));
    TRY(cfg_bool(c, "attention_bias", false, &s->qkv_bias));
    s->o_bias = s->qkv_bias;
    s->norms_per_layer = 4; /* input, post_attention, pre_ and post_feedforward */
    TRY(finish_dense(c, m, s));
    return sliding_pattern(c, m, 4096, 2);
}

static gpumem_status read_gemma3(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    m->embed_scale_buffer = true; /* GemmaTextScaledWordEmbedding (transformers 5.24) */
    /* Gemma3RotaryEmbedding: {full,sliding}_attention_{,original_}inv_freq */
    m->rope_per_layer_type = true;
    TRY(read_dims(c, s, (dims){262208, 2304, 26, 8, 4, 256, 9216, 131072, true}));
    TRY(cfg_bool(c, "attention_bias", false, &s->qkv_bias));
    s->o_bias = s->qkv_bias;
    s->norms_per_layer = 4;
    s->qk_norm = 1;
    TRY(finish_dense(c, m, s));
    return sliding_pattern(c, m, 4096, 6);
}

static gpumem_status read_olmo2(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    TRY(read_dims(c, s, (dims){50304, 4096, 32, 32, 0, 0, 11008, 2048, false}));
    TRY(cfg_bool(c, "attention_bias", false, &s->qkv_bias));
    s->o_bias = s->qkv_bias;
    s->qk_norm = 2; /* q_norm/k_norm over all heads: RMSNorm(heads * head_dim) */
    return finish_dense(c, m, s);
}

/* Granite (modeling_granite.py): Llama's modules; the embedding, attention,
 * residual and logit multipliers hold no parameters. */
static gpumem_status read_granite(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    TRY(read_dims(c, s, (dims){32000, 4096, 32, 32, 0, 0, 11008, 2048, false}));
    TRY(cfg_bool(c, "attention_bias", false, &s->qkv_bias));
    s->o_bias = s->qkv_bias;
    TRY(cfg_bool(c, "mlp_bias", false, &s->mlp_bias));
    return finish_dense(c, m, s);
}

/* OLMo (modeling_olmo.py): OlmoLayerNorm has neither weight nor bias. */
static gpumem_status read_olmo(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    TRY(read_dims(c, s, (dims){50304, 4096, 32, 32, 0, 0, 11008, 2048, false}));
    TRY(cfg_bool(c, "attention_bias", false, &s->qkv_bias));
    s->o_bias = s->qkv_bias;
    s->norm_w = 0;
    return finish_dense(c, m, s);
}

/* SmolLM3 (configuration_smollm3.py): with use_sliding_window, the layers
 * without RoPE (no_rope_layers[i] == 0, by default every
 * no_rope_layer_interval-th) slide, unless "layer_types" says. */
static gpumem_status read_smollm3(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    bool use, found, listed;
    uint32_t window, interval;
    TRY(read_dims(c, s, (dims){128256, 2048, 36, 16, 4, 0, 11008, 32768, true}));
    TRY(cfg_bool(c, "attention_bias", false, &s->qkv_bias));
    s->o_bias = s->qkv_bias;
    TRY(cfg_bool(c, "mlp_bias", false, &s->mlp_bias));
    TRY(cfg_bool(c, "use_sliding_window", false, &use));
    TRY(cfg_u32(c, "sliding_window", 0, MAX_CTX, &window));
    TRY(cfg_u32(c, "no_rope_layer_interval", 4, MAX_COUNT, &interval));
    TRY(finish_dense(c, m, s));
    TRY(arch_layer_types(c, m, window, &found));
    if (found || !use || !window)
        return GPUMEM_OK;
    bool *rope = calloc(m->n_layer, sizeof *rope);
    if (!rope)
        return err_set(c->err, GPUMEM_ERR_NOMEM, "out of memory");
    gpumem_status st = layer_flags(c, "no_rope_layers", m->n_layer, rope, &listed);
    for (uint32_t i = 0; st == GPUMEM_OK && i < m->n_layer; i++) {
        bool has_rope = listed ? rope[i] : interval == 0 || (i + 1) % interval != 0;
        if (!has_rope) {
            m->layers[i].attn = ATTN_KIND_SLIDING;
            m->layers[i].window = window;
        }
    }
    free(rope);
    return st;
}

/* Cohere (modeling_cohere.py): attention and MLP in parallel after one
 * input_layernorm; CohereLayerNorm holds a weight only; use_qk_norm adds
 * per-head norms over (heads, head_dim) and (kv heads, head_dim). */
static gpumem_status read_cohere(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    bool qk;
    TRY(read_dims(c, s, (dims){256000, 8192, 40, 64, 0, 0, 22528, 8192, true}));
    TRY(cfg_bool(c, "attention_bias", false, &s->qkv_bias));
    s->o_bias = s->qkv_bias;
    TRY(cfg_bool(c, "use_qk_norm", false, &qk));
    s->qk_norm = qk ? 2 : 0;
    s->norms_per_layer = 1;
    return finish_dense(c, m, s);
}

/* Cohere2 (configuration_cohere2.py): head_dim defaults to hidden / heads
 * (a head_dim in the file wins: measured, param_counts_arch.jsonl); layers
 * slide unless (i + 1) % sliding_window_pattern == 0 (default 4),
 * unless "layer_types" says. */
static gpumem_status read_cohere2(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    TRY(read_dims(c, s, (dims){256000, 8192, 40, 64, 0, 0, 22528, 8192, true}));
    TRY(cfg_bool(c, "attention_bias", false, &s->qkv_bias));
    s->o_bias = s->qkv_bias;
    s->norms_per_layer = 1;
    TRY(finish_dense(c, m, s));
    return sliding_pattern(c, m, 4096, 4);
}

/* GLM-4 (modeling_glm4.py): fused gate_up_proj, q/k/v bias without o bias
 * (attention_bias, default true), four norms per layer. */
static gpumem_status read_glm4(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    TRY(read_dims(c, s, (dims){151552, 4096, 40, 32, 2, 128, 13696, 131072, false}));
    TRY(cfg_bool(c, "attention_bias", true, &s->qkv_bias));
    s->norms_per_layer = 4; /* input, post_self_attn, post_attention, post_mlp */
    return finish_dense(c, m, s);
}

/* EXAONE 4 (modeling_exaone4.py): per-head q/k norms, norms after
 * attention and MLP only; sliding layers from "layer_types", else every
 * layer but each sliding_window_pattern-th (configuration_exaone4.py). */
static gpumem_status read_exaone4(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    TRY(read_dims(c, s, (dims){102400, 4096, 32, 32, 32, 0, 16384, 2048, false}));
    s->qk_norm = 1;
    TRY(finish_dense(c, m, s));
    /* Hub configs may carry the pattern as a string ("LLLG") beside
     * "layer_types", which then decides alone. */
    json_t *w = json_object_get(c->root, "sliding_window");
    json_t *types = json_object_get(c->root, "layer_types");
    if ((w && json_is_null(w)) || (types && !json_is_null(types))) {
        uint32_t window;
        bool found;
        TRY(cfg_u32(c, "sliding_window", 0, MAX_CTX, &window));
        return arch_layer_types(c, m, window, &found);
    }
    return sliding_pattern(c, m, 4096, 4);
}

/* ERNIE 4.5 (modeling_ernie4_5.py): use_bias on every projection. */
static gpumem_status read_ernie4_5(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    TRY(read_dims(c, s, (dims){103424, 1024, 18, 16, 2, 128, 3072, 131072, true}));
    TRY(cfg_bool(c, "use_bias", false, &s->qkv_bias));
    s->o_bias = s->mlp_bias = s->qkv_bias;
    return finish_dense(c, m, s);
}

static gpumem_status read_phi3(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    s->qkv_fused = true;
    TRY(read_dims(c, s, (dims){32064, 3072, 32, 32, 0, 0, 8192, 4096, false}));
    TRY(finish_dense(c, m, s));
    return sliding_all(c, m);
}

static gpumem_status read_starcoder2(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    TRY(read_dims(c, s, (dims){49152, 3072, 30, 24, 2, 0, 12288, 4096, true}));
    TRY(cfg_bool(c, "use_bias", true, &s->qkv_bias));
    s->o_bias = s->mlp_bias = s->qkv_bias;
    s->gated = false; /* c_fc, c_proj */
    s->norm_w = 2;    /* LayerNorm with bias */
    TRY(finish_dense(c, m, s));
    return sliding_all(c, m);
}

static gpumem_status read_phi(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    bool qk_ln;
    TRY(read_dims(c, s, (dims){51200, 2048, 24, 32, 0, 0, 8192, 2048, false}));
    TRY(cfg_bool(c, "qk_layernorm", false, &qk_ln));
    s->qkv_bias = s->o_bias = s->mlp_bias = true;
    s->qk_norm = qk_ln ? 1 : 0;
    s->gated = false;
    s->norm_w = 2;
    s->norms_per_layer = 1; /* parallel attention and MLP share input_layernorm */
    s->lm_head_bias = true;
    return finish_dense(c, m, s);
}

static gpumem_status read_gpt_neox(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    s->qkv_fused = true;
    TRY(read_dims(c, s, (dims){50432, 6144, 44, 64, 0, 0, 24576, 2048, false}));
    TRY(cfg_bool(c, "attention_bias", true, &s->qkv_bias));
    s->o_bias = s->qkv_bias;
    s->mlp_bias = true;
    s->gated = false;
    s->norm_w = 2;
    return finish_dense(c, m, s);
}

/* GPT-2 and GPT-BigCode: learned positions, biases everywhere, LayerNorm;
 * n_inner null means 4 * n_embd. */
static gpumem_status read_gpt2_like(cfg_ctx *c, gpumem_model *m, arch_spec *s, bool mqa)
{
    s->qkv_fused = true;
    TRY(read_dims(c, s, (dims){50257, 768, 12, 12, 0, 0, 0, 1024, true}));
    if (s->ff == 0)
        s->ff = 4 * s->hidden;
    if (mqa) {
        bool multi_query;
        TRY(cfg_bool(c, "multi_query", true, &multi_query));
        s->kv_heads = multi_query ? 1 : 0;
    }
    s->qkv_bias = s->o_bias = s->mlp_bias = true;
    s->gated = false;
    s->norm_w = 2;
    s->learned_pos = true;
    s->softmax_native = !mqa; /* GPTBigCode upcasts (attention_softmax_in_fp32) */
    s->extra_embed = (uint64_t)s->maxpos * s->hidden;
    return finish_dense(c, m, s);
}

static gpumem_status read_gpt2(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    return read_gpt2_like(c, m, s, false);
}

static gpumem_status read_gpt_bigcode(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    return read_gpt2_like(c, m, s, true);
}

static gpumem_status read_falcon(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    s->qkv_fused = true;
    bool new_arch, multi_query, parallel;
    uint32_t n_ln;
    TRY(read_dims(c, s, (dims){65024, 4544, 32, 71, 0, 0, 0, 2048, true}));
    TRY(cfg_bool(c, "new_decoder_architecture", false, &new_arch));
    TRY(cfg_bool(c, "multi_query", true, &multi_query));
    TRY(cfg_bool(c, "parallel_attn", true, &parallel));
    s->softmax_native = true;
    TRY(cfg_bool(c, "bias", false, &s->qkv_bias));
    TRY(cfg_u32(c, "num_ln_in_parallel_attn", new_arch ? 2 : 1, 2, &n_ln));
    if (s->ff == 0)
        s->ff = 4 * s->hidden;
    /* FalconAttention: new architecture uses num_kv_heads, else one KV head
     * with multi_query or one per head without. */
    if (!new_arch)
        s->kv_heads = multi_query ? 1 : s->heads;
    s->o_bias = s->mlp_bias = s->qkv_bias;
    s->gated = false;
    s->norm_w = 2;
    s->norms_per_layer = (new_arch || parallel) ? (uint8_t)(new_arch ? n_ln : 1) : 2;
    return finish_dense(c, m, s);
}

/* ------------------------------------------------------------- encoders */

static gpumem_status read_bert(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    uint32_t types;
    TRY(read_dims(c, s, (dims){30522, 768, 12, 12, 0, 0, 3072, 512, true}));
    TRY(cfg_u32(c, "type_vocab_size", 2, MAX_WIDTH, &types));
    s->qkv_bias = s->o_bias = s->mlp_bias = true;
    s->gated = false;
    s->norm_w = 2;
    s->encoder = true;
    s->softmax_native = true;
    s->learned_pos = true;
    /* AutoModel builds BertModel: position and token-type embeddings, the
     * embedding LayerNorm, and the pooler (dense with bias). */
    s->extra_embed = ((uint64_t)s->maxpos + types) * s->hidden;
    s->extra_other = (uint64_t)s->hidden * s->hidden + s->hidden;
    TRY(finish_dense(c, m, s));
    return GPUMEM_OK;
}

/* ---------------------------------------------------------------- MoE */

void arch_set_moe(model_layer *l, const arch_spec *s)
{
    l->n_ff = 0;
    l->n_expert = s->n_expert;
    l->n_expert_used = s->n_expert_used;
    l->n_ff_expert = s->ff_expert;
    l->n_ff_shared = s->ff_shared;
    l->moe_weights_compute = s->router_compute;
}

gpumem_status arch_check_moe(cfg_ctx *c, const arch_spec *s, const char *used_key,
                             const char *ff_key)
{
    if (s->n_expert == 0 || s->n_expert_used == 0 || s->n_expert_used > s->n_expert) {
        if (used_key)
            return BADCFG("\"%s\" (%u) must be between 1 and the number of experts (%u)",
                          used_key, s->n_expert_used, s->n_expert);
        return BADCFG("experts per token (%u) must be between 1 and the number of experts (%u)",
                      s->n_expert_used, s->n_expert);
    }
    if (s->ff_expert == 0)
        return ff_key ? BADCFG("\"%s\" is zero", ff_key)
                      : BADCFG("expert intermediate size is zero");
    return GPUMEM_OK;
}

static gpumem_status read_mixtral(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    TRY(read_dims(c, s, (dims){32000, 4096, 32, 32, 8, 0, 14336, 4096 * 32, false}));
    TRY(cfg_u32(c, "num_local_experts", 8, MAX_COUNT, &s->n_expert));
    TRY(cfg_u32(c, "num_experts_per_tok", 2, MAX_COUNT, &s->n_expert_used));
    s->ff_expert = s->ff;
    TRY(arch_check_moe(c, s, NULL, NULL));
    TRY(finish_dense(c, m, s));
    for (uint32_t i = 0; i < m->n_layer; i++)
        arch_set_moe(&m->layers[i], s);
    return sliding_all(c, m);
}

/* Qwen2-MoE / Qwen3-MoE: layer i is sparse unless listed in mlp_only_layers
 * or (i + 1) % decoder_sparse_step != 0 (modeling_qwen2_moe.py). */
static gpumem_status qwen_moe_layers(cfg_ctx *c, gpumem_model *m, const arch_spec *s)
{
    uint32_t step;
    TRY(cfg_u32(c, "decoder_sparse_step", 1, MAX_COUNT, &step));
    json_t *only = json_object_get(c->root, "mlp_only_layers");
    if (only && !json_is_null(only) && !json_is_array(only))
        return err_set_at(c->err, GPUMEM_ERR_INVALID, c->file, -1, 0, 0,
                          "\"mlp_only_layers\" must be an array of layer indices");
    for (uint32_t i = 0; i < m->n_layer; i++) {
        bool dense = step == 0 || (i + 1) % step != 0;
        for (size_t k = 0; only && k < json_array_size(only); k++) {
            json_t *v = json_array_get(only, k);
            if (json_is_integer(v) && json_integer_value(v) == (json_int_t)i)
                dense = true;
        }
        if (!dense)
            arch_set_moe(&m->layers[i], s);
    }
    return GPUMEM_OK;
}

static gpumem_status read_qwen2_moe(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    TRY(read_dims(c, s, (dims){151936, 2048, 24, 16, 16, 0, 5632, 32768, false}));
    TRY(cfg_u32(c, "num_experts", 60, MAX_COUNT, &s->n_expert));
    TRY(cfg_u32(c, "num_experts_per_tok", 4, MAX_COUNT, &s->n_expert_used));
    TRY(cfg_u32(c, "moe_intermediate_size", 1408, MAX_WIDTH, &s->ff_expert));
    TRY(cfg_u32(c, "shared_expert_intermediate_size", 5632, MAX_WIDTH, &s->ff_shared));
    s->qkv_bias = true;
    s->shared_gate = s->ff_shared != 0; /* shared_expert_gate: Linear(hidden, 1) */
    s->router_compute = true;
    TRY(arch_check_moe(c, s, NULL, NULL));
    TRY(finish_dense(c, m, s));
    TRY(qwen_moe_layers(c, m, s));
    return sliding_qwen(c, m);
}

static gpumem_status read_qwen3_moe(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    TRY(read_dims(c, s, (dims){151936, 2048, 24, 32, 4, 0, 6144, 32768, false}));
    TRY(cfg_u32(c, "num_experts", 128, MAX_COUNT, &s->n_expert));
    TRY(cfg_u32(c, "num_experts_per_tok", 8, MAX_COUNT, &s->n_expert_used));
    TRY(cfg_u32(c, "moe_intermediate_size", 768, MAX_WIDTH, &s->ff_expert));
    TRY(cfg_bool(c, "attention_bias", false, &s->qkv_bias));
    s->o_bias = s->qkv_bias;
    s->qk_norm = 1;
    s->router_compute = true;
    TRY(arch_check_moe(c, s, NULL, NULL));
    TRY(finish_dense(c, m, s));
    TRY(qwen_moe_layers(c, m, s));
    return sliding_qwen(c, m);
}

/* GraniteMoE (modeling_granitemoe.py): every layer MoE, fused experts of
 * intermediate_size, router without bias, no shared expert. */
static gpumem_status read_granitemoe(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    TRY(read_dims(c, s, (dims){32000, 4096, 32, 32, 0, 0, 11008, 2048, false}));
    TRY(cfg_u32(c, "num_local_experts", 8, MAX_COUNT, &s->n_expert));
    TRY(cfg_u32(c, "num_experts_per_tok", 2, MAX_COUNT, &s->n_expert_used));
    TRY(cfg_bool(c, "attention_bias", false, &s->qkv_bias));
    s->o_bias = s->qkv_bias;
    s->ff_expert = s->ff;
    s->router_compute = true;
    TRY(arch_check_moe(c, s, NULL, NULL));
    TRY(finish_dense(c, m, s));
    for (uint32_t i = 0; i < m->n_layer; i++)
        arch_set_moe(&m->layers[i], s);
    return GPUMEM_OK;
}

/* OLMoE (modeling_olmoe.py): q_norm/k_norm over all heads, every layer MoE. */
static gpumem_status read_olmoe(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    TRY(read_dims(c, s, (dims){50304, 2048, 16, 16, 0, 0, 2048, 4096, false}));
    TRY(cfg_u32(c, "num_experts", 64, MAX_COUNT, &s->n_expert));
    TRY(cfg_u32(c, "num_experts_per_tok", 8, MAX_COUNT, &s->n_expert_used));
    TRY(cfg_bool(c, "attention_bias", false, &s->qkv_bias));
    s->o_bias = s->qkv_bias;
    s->ff_expert = s->ff;
    s->qk_norm = 2;
    s->router_compute = true;
    TRY(arch_check_moe(c, s, NULL, NULL));
    TRY(finish_dense(c, m, s));
    for (uint32_t i = 0; i < m->n_layer; i++)
        arch_set_moe(&m->layers[i], s);
    return GPUMEM_OK;
}

/* PhiMoE (modeling_phimoe.py): LayerNorms with bias, attention_bias on
 * q/k/v/o, optional lm_head bias, every layer MoE. */
static gpumem_status read_phimoe(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    TRY(read_dims(c, s, (dims){32064, 4096, 32, 32, 8, 0, 6400, 4096 * 32, false}));
    TRY(cfg_u32(c, "num_local_experts", 16, MAX_COUNT, &s->n_expert));
    TRY(cfg_u32(c, "num_experts_per_tok", 2, MAX_COUNT, &s->n_expert_used));
    TRY(cfg_bool(c, "attention_bias", false, &s->qkv_bias));
    TRY(cfg_bool(c, "lm_head_bias", false, &s->lm_head_bias));
    s->o_bias = s->qkv_bias;
    s->ff_expert = s->ff;
    s->norm_w = 2;
    TRY(arch_check_moe(c, s, NULL, NULL));
    TRY(finish_dense(c, m, s));
    for (uint32_t i = 0; i < m->n_layer; i++)
        arch_set_moe(&m->layers[i], s);
    return sliding_all(c, m);
}

/* GLM-4.5 / GLM-4.6 (modeling_glm4_moe.py): the first
 * first_k_dense_replace layers dense, the rest MoE with
 * n_shared_experts x moe_intermediate_size shared; q/k/v bias only;
 * optional per-head q/k norms. The router's e_score_correction_bias is a
 * buffer; the MTP layers are not built. */
static gpumem_status read_glm4_moe(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    uint32_t first_dense, n_shared;
    bool qk;
    TRY(read_dims(c, s, (dims){151552, 4096, 46, 96, 8, 0, 10944, 131072, false}));
    TRY(cfg_u32(c, "n_routed_experts", 128, MAX_COUNT, &s->n_expert));
    TRY(cfg_u32(c, "num_experts_per_tok", 8, MAX_COUNT, &s->n_expert_used));
    TRY(cfg_u32(c, "moe_intermediate_size", 1408, MAX_WIDTH, &s->ff_expert));
    TRY(cfg_u32(c, "n_shared_experts", 1, MAX_COUNT, &n_shared));
    TRY(cfg_u32(c, "first_k_dense_replace", 1, 1u << 31, &first_dense));
    TRY(cfg_bool(c, "attention_bias", false, &s->qkv_bias));
    TRY(cfg_bool(c, "use_qk_norm", false, &qk));
    s->qk_norm = qk ? 1 : 0;
    s->ff_shared = n_shared * s->ff_expert;
    TRY(arch_check_moe(c, s, NULL, NULL));
    TRY(finish_dense(c, m, s));
    for (uint32_t i = first_dense; i < m->n_layer; i++)
        arch_set_moe(&m->layers[i], s);
    return GPUMEM_OK;
}

/* Llama 4 text model (modeling_llama4.py, configuration_llama4.py): MoE
 * layers from moe_layers (default every interleave_moe_layer_step-th)
 * with one shared expert of intermediate_size, dense layers of
 * intermediate_size_mlp; the L2 q/k norm has no weight. Layers with RoPE
 * (no_rope_layers[i] != 0; by default all but every
 * no_rope_layer_interval-th) attend within attention_chunk_size chunks. */
static gpumem_status llama4_layers(cfg_ctx *c, gpumem_model *m, const arch_spec *s,
                                   bool *flags)
{
    uint32_t step, interval, chunk;
    bool listed, found;
    TRY(cfg_u32(c, "interleave_moe_layer_step", 1, MAX_COUNT, &step));
    TRY(cfg_u32(c, "no_rope_layer_interval", 4, MAX_COUNT, &interval));
    TRY(cfg_u32(c, "attention_chunk_size", 8192, MAX_CTX, &chunk));
    json_t *cj = json_object_get(c->root, "attention_chunk_size");
    if (cj && json_is_null(cj))
        chunk = 0;
    TRY(layer_indices(c, "moe_layers", m->n_layer, flags, &listed));
    for (uint32_t i = 0; i < m->n_layer; i++) {
        bool moe = listed ? flags[i] : step && (i + 1) % step == 0;
        if (moe) {
            arch_set_moe(&m->layers[i], s);
            m->layers[i].experts_all_tokens = true;
        }
    }
    TRY(arch_layer_types_chunked(c, m, 0, chunk, &found));
    if (found || !chunk)
        return GPUMEM_OK;
    memset(flags, 0, m->n_layer * sizeof *flags);
    TRY(layer_flags(c, "no_rope_layers", m->n_layer, flags, &listed));
    for (uint32_t i = 0; i < m->n_layer; i++) {
        bool rope = listed ? flags[i] : interval == 0 || (i + 1) % interval != 0;
        if (rope) {
            m->layers[i].attn = ATTN_KIND_SLIDING;
            m->layers[i].window = chunk;
            m->layers[i].chunked = true;
        }
    }
    return GPUMEM_OK;
}

static gpumem_status read_llama4_text(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    uint32_t ff_mlp;
    TRY(read_dims(c, s, (dims){202048, 5120, 48, 40, 8, 128, 8192, 4096 * 32, false}));
    TRY(cfg_u32(c, "intermediate_size_mlp", 16384, MAX_WIDTH, &ff_mlp));
    TRY(cfg_u32(c, "num_local_experts", 16, MAX_COUNT, &s->n_expert));
    TRY(cfg_u32(c, "num_experts_per_tok", 1, MAX_COUNT, &s->n_expert_used));
    TRY(cfg_bool(c, "attention_bias", false, &s->qkv_bias));
    s->o_bias = s->qkv_bias;
    s->ff_expert = s->ff_shared = s->ff;
    s->ff = ff_mlp;
    s->softmax_native = true; /* eager_attention_forward without fp32 upcast */
    TRY(arch_check_moe(c, s, NULL, NULL));
    TRY(finish_dense(c, m, s));
    bool *flags = calloc(m->n_layer, sizeof *flags);
    if (!flags)
        return err_set(c->err, GPUMEM_ERR_NOMEM, "out of memory");
    gpumem_status st = llama4_layers(c, m, s, flags);
    free(flags);
    return st;
}

static gpumem_status read_gpt_oss(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    s->no_sdpa = true;
    TRY(read_dims(c, s, (dims){201088, 2880, 36, 64, 8, 64, 2880, 131072, false}));
    TRY(cfg_u32(c, "num_local_experts", 128, MAX_COUNT, &s->n_expert));
    TRY(cfg_u32(c, "num_experts_per_tok,experts_per_token", 4, MAX_COUNT, &s->n_expert_used));
    TRY(cfg_bool(c, "attention_bias", true, &s->qkv_bias));
    s->o_bias = s->qkv_bias;
    s->ff_expert = s->ff;
    s->sinks = true;
    s->router_bias = s->expert_bias = true; /* GptOssTopKRouter, GptOssExperts */
    s->router_compute = true;
    TRY(arch_check_moe(c, s, NULL, NULL));
    TRY(finish_dense(c, m, s));
    for (uint32_t i = 0; i < m->n_layer; i++)
        arch_set_moe(&m->layers[i], s);
    bool found;
    uint32_t window;
    TRY(cfg_u32(c, "sliding_window", 128, MAX_CTX, &window));
    TRY(arch_layer_types(c, m, window, &found));
    for (uint32_t i = 0; !found && i < m->n_layer; i += 2) { /* default: even layers slide */
        m->layers[i].attn = ATTN_KIND_SLIDING;
        m->layers[i].window = window;
    }
    return GPUMEM_OK;
}

/* DeepSeek-V2/V3: MLA attention; the first first_k_dense_replace layers are
 * dense, the rest MoE every moe_layer_freq layers, with shared experts of
 * n_shared_experts * moe_intermediate_size (modeling_deepseek_v3.py). */
static gpumem_status read_deepseek(cfg_ctx *c, gpumem_model *m, arch_spec *s, bool v3)
{
    uint32_t first_dense, freq, n_shared;
    dims d = v3 ? (dims){129280, 7168, 61, 128, 128, 0, 18432, 4096, false}
                : (dims){102400, 4096, 30, 32, 32, 0, 11008, 2048, false};
    TRY(read_dims(c, s, d));
    TRY(cfg_u32(c, "n_routed_experts", v3 ? 256 : 0, MAX_COUNT, &s->n_expert));
    TRY(cfg_u32(c, "num_experts_per_tok", v3 ? 8 : 0, MAX_COUNT, &s->n_expert_used));
    TRY(cfg_u32(c, "moe_intermediate_size", v3 ? 2048 : 1407, MAX_WIDTH, &s->ff_expert));
    TRY(cfg_u32(c, "n_shared_experts", v3 ? 1 : 0, MAX_COUNT, &n_shared));
    TRY(cfg_u32(c, "first_k_dense_replace", v3 ? 3 : 0, 1u << 31, &first_dense));
    TRY(cfg_u32(c, "moe_layer_freq", 1, MAX_COUNT, &freq));
    TRY(cfg_u32(c, "q_lora_rank", v3 ? 1536 : 1536, MAX_DIM, &s->q_lora_rank));
    TRY(cfg_u32(c, "kv_lora_rank", 512, MAX_DIM, &s->kv_lora_rank));
    TRY(cfg_u32(c, "qk_rope_head_dim", 64, MAX_DIM, &s->qk_rope_dim));
    TRY(cfg_u32(c, "qk_nope_head_dim", 128, MAX_DIM, &s->qk_nope_dim));
    TRY(cfg_u32(c, "v_head_dim", 128, MAX_DIM, &s->v_head_dim));
    TRY(cfg_bool(c, "attention_bias", false, &s->qkv_bias));
    /* q_lora_rank: null means a plain q_proj. cfg_u32 treats null as absent,
     * so look at the key itself. */
    json_t *ql = json_object_get(c->root, "q_lora_rank");
    if (ql && json_is_null(ql))
        s->q_lora_rank = 0;
    s->ff_shared = n_shared * s->ff_expert;
    s->head_dim = s->qk_nope_dim + s->qk_rope_dim;
    if (s->kv_lora_rank == 0 || s->head_dim == 0 || s->v_head_dim == 0)
        return err_set_at(c->err, GPUMEM_ERR_INVALID, c->file, -1, 0, 0,
                          "MLA needs non-zero kv_lora_rank, qk head dims and v_head_dim");
    if (s->n_expert)
        TRY(arch_check_moe(c, s, NULL, NULL));
    TRY(finish_dense(c, m, s));
    for (uint32_t i = 0; i < m->n_layer; i++) {
        model_layer *l = &m->layers[i];
        l->attn = ATTN_KIND_MLA;
        l->n_head_kv = l->n_head;
        l->head_dim_v = s->v_head_dim;
        l->kv_lora_rank = s->kv_lora_rank;
        l->qk_rope_dim = s->qk_rope_dim;
        if (s->n_expert && i >= first_dense && freq && i % freq == 0)
            arch_set_moe(l, s);
    }
    return GPUMEM_OK;
}

static gpumem_status read_deepseek_v2(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    return read_deepseek(c, m, s, false);
}

static gpumem_status read_deepseek_v3(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    return read_deepseek(c, m, s, true);
}

/* ---------------------------------------------------------------- SSM */

static gpumem_status read_mamba(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    uint32_t state, expand, conv, dt_rank;
    bool conv_bias;
    TRY(read_dims(c, s, (dims){50280, 768, 32, 0, 0, 0, 0, 0, true}));
    TRY(cfg_u32(c, "state_size", 16, MAX_DIM, &state));
    TRY(cfg_u32(c, "expand", 2, 64, &expand));
    TRY(cfg_u32(c, "conv_kernel", 4, 1024, &conv));
    TRY(cfg_bool(c, "use_bias", false, &s->qkv_bias));
    TRY(cfg_bool(c, "use_conv_bias", true, &conv_bias));
    if (s->ff == 0)
        s->ff = expand * s->hidden;
    /* time_step_rank "auto" (or absent) is ceil(hidden / 16). */
    json_t *tr = json_object_get(c->root, "time_step_rank");
    if (tr && json_is_integer(tr))
        TRY(cfg_u32(c, "time_step_rank", 0, MAX_DIM, &dt_rank));
    else
        dt_rank = (s->hidden + 15) / 16;
    TRY(arch_check_base(c, s));
    if (!conv_bias)
        return err_set_at(c->err, GPUMEM_ERR_UNSUPPORTED, c->file, -1, 0, 0,
                          "use_conv_bias false is not modelled");
    s->norms_per_layer = 1;
    s->heads = s->kv_heads = 0;
    TRY(arch_alloc_layers(c, m, s));
    for (uint32_t i = 0; i < m->n_layer; i++) {
        model_layer *l = &m->layers[i];
        l->attn = ATTN_KIND_NONE;
        l->ssm = true;
        l->n_ff = 0;
        l->ssm_d_inner = s->ff;
        l->ssm_d_state = state;
        l->ssm_d_conv = conv;
        l->ssm_dt_rank = dt_rank;
    }
    return GPUMEM_OK;
}

/* ---------------------------------------------------------------- table */

static const arch_row rows[] = {
    {"llama", read_llama},
    {"mistral", read_mistral},
    {"mixtral", read_mixtral},
    {"qwen2", read_qwen2},
    {"qwen2_moe", read_qwen2_moe},
    {"qwen3", read_qwen3},
    {"qwen3_moe", read_qwen3_moe},
    {"gemma", read_gemma},
    {"gemma2", read_gemma2},
    {"gemma3_text", read_gemma3},
    {"phi", read_phi},
    {"phi3", read_phi3},
    {"gpt2", read_gpt2},
    {"gpt_neox", read_gpt_neox},
    {"gpt_bigcode", read_gpt_bigcode},
    {"falcon", read_falcon},
    {"bert", read_bert},
    {"deepseek_v2", read_deepseek_v2},
    {"deepseek_v3", read_deepseek_v3},
    {"gpt_oss", read_gpt_oss},
    {"olmo2", read_olmo2},
    {"starcoder2", read_starcoder2},
    {"mamba", read_mamba},
    {"llama4_text", read_llama4_text},
    {"granite", read_granite},
    {"granitemoe", read_granitemoe},
    {"cohere", read_cohere},
    {"cohere2", read_cohere2},
    {"glm4", read_glm4},
    {"glm4_moe", read_glm4_moe},
    {"olmo", read_olmo},
    {"olmoe", read_olmoe},
    {"smollm3", read_smollm3},
    {"exaone4", read_exaone4},
    {"ernie4_5", read_ernie4_5},
    {"phimoe", read_phimoe},
    {"granitemoehybrid", arch_read_granitemoehybrid},
    {"nemotron_h", arch_read_nemotron_h},
    {"jamba", arch_read_jamba},
    {"qwen2_5_vl_text", arch_read_qwen_vl_text},
    {"qwen2_vl_text", arch_read_qwen_vl_text},
    /* arch_more.c, arch_linear.c */
    {"qwen3_next", arch_read_qwen3_next},
    {"qwen3_5_text", arch_read_qwen3_5_text},
    {"qwen3_5_moe_text", arch_read_qwen3_5_moe_text},
    {"opt", arch_read_opt},
    {"bloom", arch_read_bloom},
    {"gptj", arch_read_gptj},
    {"mpt", arch_read_mpt},
    {"stablelm", arch_read_stablelm},
    {"nemotron", arch_read_nemotron},
    {"olmo3", arch_read_olmo3},
    {"seed_oss", arch_read_seed_oss},
    {"hunyuan_v1_dense", arch_read_hunyuan_dense},
    {"apertus", arch_read_apertus},
    {"glm", arch_read_glm},
    {"arcee", arch_read_arcee},
    {"helium", arch_read_helium},
    {"roberta", arch_read_roberta},
    {"xlm-roberta", arch_read_xlm_roberta},
    {"distilbert", arch_read_distilbert},
    {"modernbert", arch_read_modernbert},
    {"dbrx", arch_read_dbrx},
    {"hunyuan_v1_moe", arch_read_hunyuan_moe},
    {"dots1", arch_read_dots1},
    {"mamba2", arch_read_mamba2},
    {"falcon_mamba", arch_read_falcon_mamba},
    {"qwen3_vl_text", arch_read_qwen3_vl_text},
    {"qwen3_vl_moe_text", arch_read_qwen3_vl_moe_text},
    {"gemma3n_text", arch_read_gemma3n_text},
    {"lfm2", arch_read_lfm2},
    {"minimax", arch_read_minimax},
    {"falcon_h1", arch_read_falcon_h1},
};

const arch_row *arch_find(const char *model_type)
{
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (strcmp(rows[i].model_type, model_type) == 0)
            return &rows[i];
    return NULL;
}

const char *arch_supported(void)
{
    return "llama, mistral, mixtral, qwen2, qwen2_moe, qwen3, qwen3_moe, gemma, gemma2, "
           "gemma3 (text + vision), gemma3_text, phi, phi3, gpt2, gpt_neox, gpt_bigcode, falcon, "
           "bert, deepseek_v2, deepseek_v3, gpt_oss, olmo2, starcoder2, mamba, llama4 (text + vision), "
           "llama4_text, granite, granitemoe, cohere, cohere2, glm4, glm4_moe, olmo, olmoe, "
           "smollm3, exaone4, ernie4_5, phimoe, granitemoehybrid, nemotron_h, jamba, opt, bloom, "
           "gptj, mpt, stablelm, nemotron, olmo3, seed_oss, hunyuan_v1_dense, hunyuan_v1_moe, "
           "apertus, glm, arcee, helium, dbrx, dots1, gemma3n_text, roberta, xlm-roberta, "
           "distilbert, modernbert, mamba2, falcon_mamba, falcon_h1, lfm2, minimax, qwen3_next, "
           "qwen3_5_text, qwen3_5_moe_text, multimodal llava, llava_next, mistral3, qwen2_vl, "
           "qwen2_5_vl, qwen3_vl, qwen3_vl_moe, qwen3_5, qwen3_5_moe (text + vision towers)";
}
