/* More Hugging Face architectures: dense decoders, MoE decoders and
 * encoders. Each reader names the keys it reads with the class defaults of
 * transformers 5.24 (configuration_<arch>.py) and the modules that hold
 * parameters (modeling_<arch>.py); the parameter counts are checked
 * against transformers' own num_parameters() (param_counts_arch.jsonl). */
#include "arch_more_internal.h"

#include "error_internal.h"

#include <stdlib.h>
#include <string.h>

/* Class defaults of the common keys; each field names its config keys. */
typedef struct {
    uint32_t vocab, hidden, layers, heads, kv_heads, head_dim, ff, maxpos;
    bool tie;
} dims;

typedef struct {
    const char *hidden, *layers, *heads, *ff, *maxpos;
} dim_keys;

static const dim_keys hf_keys = {"hidden_size", "num_hidden_layers", "num_attention_heads",
                                 "intermediate_size", "max_position_embeddings"};

static gpumem_status read_dims_keys(cfg_ctx *c, arch_spec *s, dims d, const dim_keys *k)
{
    TRY(cfg_u32(c, "vocab_size", d.vocab, MAX_WIDTH, &s->vocab));
    TRY(cfg_u32(c, k->hidden, d.hidden, MAX_DIM, &s->hidden));
    TRY(cfg_u32(c, k->layers, d.layers, 1u << 31, &s->layers));
    TRY(cfg_u32(c, k->heads, d.heads, MAX_COUNT, &s->heads));
    TRY(cfg_u32(c, "num_key_value_heads", d.kv_heads, MAX_COUNT, &s->kv_heads));
    TRY(cfg_u32(c, "head_dim", d.head_dim, MAX_DIM, &s->head_dim));
    TRY(cfg_u32(c, k->ff, d.ff, MAX_WIDTH, &s->ff));
    TRY(cfg_u32(c, k->maxpos, d.maxpos, MAX_CTX, &s->maxpos));
    return cfg_bool(c, "tie_word_embeddings", d.tie, &s->tie);
}

static gpumem_status read_dims(cfg_ctx *c, arch_spec *s, dims d)
{
    return read_dims_keys(c, s, d, &hf_keys);
}

static gpumem_status finish(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    TRY(arch_read_common(c, m, s));
    return arch_alloc_layers(c, m, s);
}

/* Sliding from "layer_types", else on every layer but each pattern-th
 * (configuration_olmo3.py's default layer_types). */
static gpumem_status sliding_pattern(cfg_ctx *c, gpumem_model *m, uint32_t def_window,
                                     uint32_t pattern)
{
    uint32_t window;
    TRY(cfg_u32(c, "sliding_window", def_window, MAX_CTX, &window));
    return arch_sliding_every(c, m, window, pattern);
}

/* The per-layer parameters beside the shared counter's rules. */
static void add_small(gpumem_model *m, uint64_t n)
{
    for (uint32_t i = 0; i < m->n_layer; i++)
        m->layers[i].arch_small += n;
}

/* ------------------------------------------------------- dense decoders */

/* OPT (modeling_opt.py): learned positions with an offset of 2 rows;
 * q/k/v/out_proj and fc1/fc2 with enable_bias; LayerNorms affine unless
 * layer_norm_elementwise_affine is false; a final LayerNorm only with
 * do_layer_norm_before and not _remove_final_layer_norm; tokens embedded
 * in word_embed_proj_dim and projected in and out (bias-free) when it
 * differs from hidden_size; lm_head tied by default. */
gpumem_status arch_read_opt(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    static const dim_keys k = {"hidden_size", "num_hidden_layers", "num_attention_heads",
                               "ffn_dim", "max_position_embeddings"};
    bool bias, affine, pre_ln, remove_final;
    uint32_t proj;
    TRY(read_dims_keys(c, s, (dims){50272, 768, 12, 12, 0, 0, 3072, 2048, true}, &k));
    TRY(cfg_bool(c, "enable_bias", true, &bias));
    TRY(cfg_bool(c, "layer_norm_elementwise_affine", true, &affine));
    TRY(cfg_bool(c, "do_layer_norm_before", true, &pre_ln));
    TRY(cfg_bool(c, "_remove_final_layer_norm", false, &remove_final));
    TRY(cfg_u32(c, "word_embed_proj_dim", s->hidden, MAX_DIM, &proj));
    s->kv_heads = s->head_dim = 0; /* OPTAttention: plain MHA */
    s->qkv_bias = s->o_bias = s->mlp_bias = bias;
    s->gated = false;
    s->norm_w = affine ? 2 : 0;
    s->no_final_norm = !pre_ln || remove_final;
    s->learned_pos = true;
    s->extra_embed = ((uint64_t)s->maxpos + 2) * s->hidden;
    if (proj != s->hidden) {
        s->embed_dim = proj;
        s->extra_other = 2ull * proj * s->hidden; /* project_in, project_out */
    }
    if (proj == 0)
        return BADCFG("\"word_embed_proj_dim\" is zero");
    return finish(c, m, s);
}

/* BLOOM (modeling_bloom.py): ALiBi (no position embeddings), a LayerNorm
 * after the word embeddings, fused query_key_value, biases everywhere,
 * 4 x hidden MLP; n_embed overrides hidden_size (configuration_bloom.py). */
gpumem_status arch_read_bloom(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    s->no_sdpa = true;
    s->qkv_fused = true;
    static const dim_keys k = {"n_embed,hidden_size", "n_layer,num_hidden_layers",
                               "n_head,num_attention_heads", "intermediate_size_unused",
                               "max_position_embeddings_unused"};
    TRY(read_dims_keys(c, s, (dims){250880, 64, 2, 8, 0, 0, 0, 0, true}, &k));
    s->kv_heads = s->head_dim = 0;
    s->ff = 4 * s->hidden;
    s->qkv_bias = s->o_bias = s->mlp_bias = true;
    s->gated = false;
    s->norm_w = 2;
    s->extra_other = 2ull * s->hidden; /* word_embeddings_layernorm */
    m->eager_extra_scores = 2;         /* measured: tiny-bloom eager */
    return finish(c, m, s);
}

/* GPT-J (modeling_gptj.py): attention and MLP in parallel after one ln_1;
 * q/k/v/out without bias, fc_in/fc_out with bias, lm_head with bias;
 * n_inner null means 4 x n_embd. */
gpumem_status arch_read_gptj(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    static const dim_keys k = {"n_embd,hidden_size", "n_layer,num_hidden_layers",
                               "n_head,num_attention_heads", "n_inner", "n_positions"};
    TRY(read_dims_keys(c, s, (dims){50400, 4096, 28, 16, 0, 0, 0, 2048, false}, &k));
    s->kv_heads = s->head_dim = 0;
    if (s->ff == 0)
        s->ff = 4 * s->hidden;
    s->mlp_bias = true;
    s->gated = false;
    s->norm_w = 2;
    s->norms_per_layer = 1;
    s->lm_head_bias = true;
    return finish(c, m, s);
}

/* MPT (modeling_mpt.py): ALiBi, fused Wqkv, every Linear bias-free and
 * every LayerNorm's bias set to None whatever no_bias says; the MLP is 4 x
 * d_model whatever expansion_ratio says (MptMLP). */
gpumem_status arch_read_mpt(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    s->no_sdpa = true;
    s->qkv_fused = true;
    static const dim_keys k = {"d_model", "n_layers", "n_heads", "intermediate_size_unused",
                               "max_seq_len"};
    TRY(read_dims_keys(c, s, (dims){50368, 2048, 24, 16, 0, 0, 0, 2048, true}, &k));
    s->kv_heads = s->head_dim = 0;
    s->ff = 4 * s->hidden;
    s->gated = false;
    s->maxpos = 0; /* ALiBi: no learned cap */
    return finish(c, m, s);
}

/* StableLM (modeling_stablelm.py): LayerNorms with bias; use_qkv_bias on
 * q/k/v; qk_layernorm adds a bias-free LayerNorm of head_dim per head
 * (StableLmLayerNormPerHead) for q and k; use_parallel_residual drops
 * post_attention_layernorm. */
gpumem_status arch_read_stablelm(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    bool qk_ln, parallel;
    TRY(read_dims(c, s, (dims){50304, 2560, 32, 32, 32, 0, 6912, 4096, false}));
    TRY(cfg_bool(c, "use_qkv_bias", false, &s->qkv_bias));
    TRY(cfg_bool(c, "qk_layernorm", false, &qk_ln));
    TRY(cfg_bool(c, "use_parallel_residual", false, &parallel));
    s->head_dim = 0;
    s->norm_w = 2;
    s->norms_per_layer = parallel ? 1 : 2;
    TRY(finish(c, m, s));
    for (uint32_t i = 0; qk_ln && i < m->n_layer; i++) {
        m->layers[i].qk_norm = true;
        m->layers[i].arch_small = ((uint64_t)s->heads + s->kv_heads) * s->head_dim;
    }
    return GPUMEM_OK;
}

/* Nemotron-4 / Minitron (modeling_nemotron.py): relu2 MLP up/down,
 * LayerNorm1P with bias, attention_bias on q/k/v/o, mlp_bias; head_dim
 * defaults to 128 in the class, null meaning hidden / heads. */
gpumem_status arch_read_nemotron(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    TRY(read_dims(c, s, (dims){256000, 6144, 32, 48, 0, 128, 24576, 4096, false}));
    json_t *hd = json_object_get(c->root, "head_dim");
    if (hd && json_is_null(hd))
        s->head_dim = 0;
    TRY(cfg_bool(c, "attention_bias", false, &s->qkv_bias));
    TRY(cfg_bool(c, "mlp_bias", false, &s->mlp_bias));
    s->o_bias = s->qkv_bias;
    s->gated = false;
    s->norm_w = 2;
    return finish(c, m, s);
}

/* OLMo 3 (modeling_olmo3.py): OLMo 2's layer (q/k RMSNorm over all heads,
 * norms after attention and MLP), sliding_window (4096) on every layer but
 * each fourth unless "layer_types" says (configuration_olmo3.py). */
gpumem_status arch_read_olmo3(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    TRY(read_dims(c, s, (dims){50304, 4096, 32, 32, 0, 0, 11008, 2048, false}));
    TRY(cfg_bool(c, "attention_bias", false, &s->qkv_bias));
    s->o_bias = s->qkv_bias;
    s->qk_norm = 2;
    TRY(finish(c, m, s));
    return sliding_pattern(c, m, 4096, 4);
}

/* Seed-OSS (modeling_seed_oss.py): attention_bias on q/k/v (default true),
 * attention_out_bias on o_proj, mlp_bias. */
gpumem_status arch_read_seed_oss(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    TRY(read_dims(c, s, (dims){155136, 4096, 64, 80, 8, 128, 27648, 524288, false}));
    TRY(cfg_bool(c, "attention_bias", true, &s->qkv_bias));
    TRY(cfg_bool(c, "attention_out_bias", false, &s->o_bias));
    TRY(cfg_bool(c, "mlp_bias", false, &s->mlp_bias));
    return finish(c, m, s);
}

/* Hunyuan dense (modeling_hunyuan_v1_dense.py): per-head q/k RMSNorms
 * (query_layernorm, key_layernorm), attention_bias on q/k/v/o, bias-free
 * MLP. transformers needs head_dim in the file; absent, hidden / heads. */
gpumem_status arch_read_hunyuan_dense(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    TRY(read_dims(c, s, (dims){290943, 4096, 32, 32, 0, 0, 11008, 2048, false}));
    TRY(cfg_bool(c, "attention_bias", false, &s->qkv_bias));
    s->o_bias = s->qkv_bias;
    s->qk_norm = 1;
    return finish(c, m, s);
}

/* Apertus (modeling_apertus.py): per-head q/k RMSNorms, an up/down MLP
 * without bias whose xIELU activation holds alpha_p and alpha_n. */
gpumem_status arch_read_apertus(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    const char *act;
    TRY(read_dims(c, s, (dims){131072, 4096, 32, 32, 0, 0, 14336, 65536, false}));
    TRY(cfg_bool(c, "attention_bias", false, &s->qkv_bias));
    TRY(cfg_str(c, "hidden_act", &act));
    s->o_bias = s->qkv_bias;
    s->qk_norm = 1;
    s->gated = false;
    TRY(finish(c, m, s));
    if (!act || strcmp(act, "xielu") == 0)
        add_small(m, 2);
    return GPUMEM_OK;
}

/* GLM-4-9B "glm" (modeling_glm.py): fused gate_up_proj, q/k/v bias
 * (attention_bias, default true) without o bias, two norms per layer. */
gpumem_status arch_read_glm(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    TRY(read_dims(c, s, (dims){151552, 4096, 40, 32, 2, 128, 13696, 131072, false}));
    TRY(cfg_bool(c, "attention_bias", true, &s->qkv_bias));
    return finish(c, m, s);
}

/* Arcee AFM (modeling_arcee.py): Llama with a relu2 up/down MLP. */
gpumem_status arch_read_arcee(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    TRY(read_dims(c, s, (dims){32000, 2560, 32, 32, 0, 0, 18432, 4096, false}));
    TRY(cfg_bool(c, "attention_bias", false, &s->qkv_bias));
    TRY(cfg_bool(c, "mlp_bias", false, &s->mlp_bias));
    s->o_bias = s->qkv_bias;
    s->gated = false;
    return finish(c, m, s);
}

/* Helium (modeling_helium.py): attention_bias on q/k/v only; o_proj maps
 * hidden_size to hidden_size, so heads x head_dim must equal it. */
gpumem_status arch_read_helium(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    TRY(read_dims(c, s, (dims){48000, 2560, 24, 20, 20, 128, 7040, 4096, false}));
    TRY(cfg_bool(c, "attention_bias", false, &s->qkv_bias));
    TRY(cfg_bool(c, "mlp_bias", false, &s->mlp_bias));
    TRY(arch_read_common(c, m, s));
    if ((uint64_t)s->heads * s->head_dim != s->hidden)
        return BADCFG("num_attention_heads x head_dim (%u x %u) must equal hidden_size (%u): "
                      "Helium's o_proj maps hidden_size to hidden_size",
                      s->heads, s->head_dim, s->hidden);
    return arch_alloc_layers(c, m, s);
}

/* -------------------------------------------------------------- encoders */

/* BERT-shaped encoders built by AutoModel (RobertaModel, XLMRobertaModel:
 * modeling_roberta.py): word, position and token-type embeddings and
 * their LayerNorm, post-LN layers with biases everywhere, the pooler. */
static gpumem_status read_bert_like(cfg_ctx *c, gpumem_model *m, arch_spec *s, uint32_t vocab)
{
    uint32_t types;
    TRY(read_dims(c, s, (dims){vocab, 768, 12, 12, 0, 0, 3072, 512, true}));
    TRY(cfg_u32(c, "type_vocab_size", 2, MAX_WIDTH, &types));
    s->kv_heads = s->head_dim = 0;
    s->qkv_bias = s->o_bias = s->mlp_bias = true;
    s->gated = false;
    s->norm_w = 2;
    s->encoder = true;
    s->softmax_native = true; /* eager softmax without upcast */
    s->learned_pos = true;
    /* The norm after the last layer is the embeddings' LayerNorm here. */
    s->extra_embed = ((uint64_t)s->maxpos + types) * s->hidden;
    s->extra_other = (uint64_t)s->hidden * s->hidden + s->hidden;
    return finish(c, m, s);
}

gpumem_status arch_read_roberta(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    return read_bert_like(c, m, s, 50265);
}

gpumem_status arch_read_xlm_roberta(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    return read_bert_like(c, m, s, 30522);
}

/* DistilBERT (modeling_distilbert.py): keys dim, n_layers, n_heads,
 * hidden_dim; word and position embeddings with a LayerNorm, no token
 * types and no pooler; post-LN layers with biases everywhere. */
gpumem_status arch_read_distilbert(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    static const dim_keys k = {"dim", "n_layers", "n_heads", "hidden_dim",
                               "max_position_embeddings"};
    TRY(read_dims_keys(c, s, (dims){30522, 768, 6, 12, 0, 0, 3072, 512, true}, &k));
    s->kv_heads = s->head_dim = 0;
    s->qkv_bias = s->o_bias = s->mlp_bias = true;
    s->gated = false;
    s->norm_w = 2;
    s->encoder = true;
    s->softmax_native = true;
    s->learned_pos = true;
    s->extra_embed = (uint64_t)s->maxpos * s->hidden;
    return finish(c, m, s);
}

/* ModernBERT (modeling_modernbert.py): rotary (no position embeddings),
 * an embedding norm, fused Wqkv and Wo (attention_bias), a GLU MLP Wi to
 * 2 x intermediate_size and Wo (mlp_bias), LayerNorms with bias only if
 * norm_bias; layer 0 has no attn_norm (Identity); a final norm. Layers
 * where i % global_attn_every_n_layers != 0 attend within local_attention
 * tokens. */
gpumem_status arch_read_modernbert(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    s->qkv_fused = true;
    bool norm_bias;
    uint32_t every, local;
    TRY(read_dims(c, s, (dims){50368, 768, 22, 12, 0, 0, 1152, 8192, true}));
    TRY(cfg_bool(c, "attention_bias", false, &s->qkv_bias));
    TRY(cfg_bool(c, "mlp_bias", false, &s->mlp_bias));
    TRY(cfg_bool(c, "norm_bias", false, &norm_bias));
    TRY(cfg_u32(c, "global_attn_every_n_layers", 3, MAX_COUNT, &every));
    TRY(cfg_u32(c, "local_attention", 128, MAX_CTX, &local));
    s->kv_heads = s->head_dim = 0;
    s->o_bias = s->qkv_bias;
    s->norm_w = norm_bias ? 2 : 1;
    s->norms_per_layer = 1; /* mlp_norm; attn_norm below from layer 1 */
    s->encoder = true;
    s->extra_other = (uint64_t)s->hidden * s->norm_w; /* embeddings.norm */
    m->rope_f32 = true;
    TRY(finish(c, m, s));
    for (uint32_t i = 0; i < m->n_layer; i++) {
        if (i > 0)
            m->layers[i].arch_small = (uint64_t)s->hidden * s->norm_w;
        if (every && local && i % every != 0) {
            m->layers[i].attn = ATTN_KIND_SLIDING;
            m->layers[i].window = local;
        }
    }
    return GPUMEM_OK;
}

/* ------------------------------------------------------------------- MoE */

/* Reads `key` of the nested object `obj` (DBRX's attn_config/ffn_config). */
static gpumem_status nested_u32(cfg_ctx *c, const char *obj, const char *key, uint32_t def,
                                uint32_t max, uint32_t *out)
{
    json_t *o = json_object_get(c->root, obj);
    if (!o || json_is_null(o)) {
        *out = def;
        return GPUMEM_OK;
    }
    if (!json_is_object(o))
        return BADCFG("\"%s\" must be an object", obj);
    json_t *root = c->root;
    c->root = o;
    gpumem_status st = cfg_u32(c, key, def, max, out);
    c->root = root;
    return st;
}

/* DBRX (modeling_dbrx.py): fused Wqkv (kv heads from attn_config.kv_n_heads,
 * default 1), bias-free; LayerNorms without bias; every layer MoE with
 * ffn_config's moe_num_experts (4) experts of ffn_hidden_size (3584), gated
 * (w1, v1, w2), moe_top_k (1) per token, a bias-free router whose softmax
 * stays in the compute dtype. */
gpumem_status arch_read_dbrx(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    s->qkv_fused = true;
    static const dim_keys k = {"d_model", "n_layers", "n_heads", "intermediate_size_unused",
                               "max_seq_len"};
    TRY(read_dims_keys(c, s, (dims){32000, 2048, 24, 16, 0, 0, 0, 2048, false}, &k));
    TRY(nested_u32(c, "attn_config", "kv_n_heads", 1, MAX_COUNT, &s->kv_heads));
    TRY(nested_u32(c, "ffn_config", "ffn_hidden_size", 3584, MAX_WIDTH, &s->ff_expert));
    TRY(nested_u32(c, "ffn_config", "moe_num_experts", 4, MAX_COUNT, &s->n_expert));
    TRY(nested_u32(c, "ffn_config", "moe_top_k", 1, MAX_COUNT, &s->n_expert_used));
    s->head_dim = 0;
    s->router_compute = true;
    TRY(arch_check_moe(c, s, "ffn_config.moe_top_k", NULL));
    TRY(finish(c, m, s));
    for (uint32_t i = 0; i < m->n_layer; i++)
        arch_set_moe(&m->layers[i], s);
    return GPUMEM_OK;
}

/* Hunyuan MoE (modeling_hunyuan_v1_moe.py): the dense model's attention;
 * every layer MoE: an fp32 router wg, num_experts experts of
 * intermediate_size (gated, fused gate_up), moe_topk per token (an integer
 * or one per layer), and a gated shared_mlp of intermediate_size. The
 * router weights stay fp32. */
gpumem_status arch_read_hunyuan_moe(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    TRY(read_dims(c, s, (dims){290943, 4096, 32, 32, 0, 0, 11008, 2048, false}));
    TRY(cfg_bool(c, "attention_bias", false, &s->qkv_bias));
    json_t *ne = json_object_get(c->root, "num_experts");
    if (ne && json_is_array(ne))
        return err_set_at(c->err, GPUMEM_ERR_UNSUPPORTED, c->file, -1, 0, 0,
                          "\"num_experts\" as a per-layer list is not modelled (transformers "
                          "5.24 builds one expert count for every layer)");
    TRY(cfg_u32(c, "num_experts", 1, MAX_COUNT, &s->n_expert));
    s->o_bias = s->qkv_bias;
    s->qk_norm = 1;
    s->ff_expert = s->ff_shared = s->ff;
    json_t *topk = json_object_get(c->root, "moe_topk");
    if (!topk || !json_is_array(topk)) {
        TRY(cfg_u32(c, "moe_topk", 1, MAX_COUNT, &s->n_expert_used));
        TRY(arch_check_moe(c, s, "moe_topk", NULL));
    }
    TRY(finish(c, m, s));
    for (uint32_t i = 0; i < m->n_layer; i++) {
        if (topk && json_is_array(topk)) {
            json_t *v = json_array_get(topk, i);
            if (json_array_size(topk) != m->n_layer || !json_is_integer(v))
                return BADCFG("\"moe_topk\" must be an integer or %u integers (one per layer)",
                              m->n_layer);
            s->n_expert_used = (uint32_t)json_integer_value(v);
            if (json_integer_value(v) < 1 || s->n_expert_used > s->n_expert)
                return BADCFG("\"moe_topk\"[%u] must be between 1 and num_experts (%u)", i,
                              s->n_expert);
        }
        arch_set_moe(&m->layers[i], s);
    }
    return GPUMEM_OK;
}

/* dots.llm1 (modeling_dots1.py): per-head q/k RMSNorms; the first
 * first_k_dense_replace layers dense, the rest MoE with n_routed_experts
 * of moe_intermediate_size, a gated shared expert of n_shared_experts x
 * moe_intermediate_size and an fp32 router (its e_score_correction_bias a
 * buffer); sliding_window on layers from max_window_layers (62) on,
 * unless "layer_types" says. */
gpumem_status arch_read_dots1(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    uint32_t first_dense, n_shared, window, from;
    bool found;
    TRY(read_dims(c, s, (dims){152064, 4608, 62, 32, 32, 0, 10944, 2048, false}));
    TRY(cfg_bool(c, "attention_bias", false, &s->qkv_bias));
    TRY(cfg_u32(c, "n_routed_experts", 0, MAX_COUNT, &s->n_expert));
    TRY(cfg_u32(c, "num_experts_per_tok", 0, MAX_COUNT, &s->n_expert_used));
    TRY(cfg_u32(c, "moe_intermediate_size", 1408, MAX_WIDTH, &s->ff_expert));
    TRY(cfg_u32(c, "n_shared_experts", 0, MAX_COUNT, &n_shared));
    TRY(cfg_u32(c, "first_k_dense_replace", 0, 1u << 31, &first_dense));
    TRY(cfg_u32(c, "sliding_window", 4096, MAX_CTX, &window));
    TRY(cfg_u32(c, "max_window_layers", 62, 1u << 31, &from));
    json_t *w = json_object_get(c->root, "sliding_window");
    if (w && json_is_null(w))
        window = 0;
    s->o_bias = s->qkv_bias;
    s->qk_norm = 1;
    s->ff_shared = n_shared * s->ff_expert;
    if (s->n_expert)
        TRY(arch_check_moe(c, s, "num_experts_per_tok", NULL));
    TRY(finish(c, m, s));
    for (uint32_t i = first_dense; s->n_expert && i < m->n_layer; i++)
        arch_set_moe(&m->layers[i], s);
    TRY(arch_layer_types(c, m, window, &found));
    for (uint32_t i = from; !found && window && i < m->n_layer; i++) {
        m->layers[i].attn = ATTN_KIND_SLIDING;
        m->layers[i].window = window;
    }
    return GPUMEM_OK;
}

/* ----------------------------------------------- Qwen3-VL text towers */

/* Qwen3-VL text model (modeling_qwen3_vl.py): Qwen3's layer (per-head q/k
 * RMSNorm, attention_bias on q/k/v/o) under M-RoPE, which holds no
 * parameters. */
gpumem_status arch_read_qwen3_vl_text(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    TRY(read_dims(c, s, (dims){151936, 4096, 32, 32, 32, 128, 22016, 128000, false}));
    TRY(cfg_bool(c, "attention_bias", false, &s->qkv_bias));
    s->o_bias = s->qkv_bias;
    s->qk_norm = 1;
    return finish(c, m, s);
}

/* Qwen3-VL-MoE text model (modeling_qwen3_vl_moe.py): the same attention;
 * MoE where num_experts > 0 and (i + 1) % decoder_sparse_step == 0 unless
 * in mlp_only_layers: a router and num_experts experts of
 * moe_intermediate_size, no shared expert, routing weights cast back to
 * the compute dtype. */
gpumem_status arch_read_qwen3_vl_moe_text(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    uint32_t step;
    TRY(read_dims(c, s, (dims){151936, 2048, 24, 16, 16, 128, 5632, 128000, false}));
    TRY(cfg_bool(c, "attention_bias", false, &s->qkv_bias));
    TRY(cfg_u32(c, "num_experts,num_local_experts", 60, MAX_COUNT, &s->n_expert));
    TRY(cfg_u32(c, "num_experts_per_tok", 4, MAX_COUNT, &s->n_expert_used));
    TRY(cfg_u32(c, "moe_intermediate_size", 1408, MAX_WIDTH, &s->ff_expert));
    TRY(cfg_u32(c, "decoder_sparse_step", 1, MAX_COUNT, &step));
    s->o_bias = s->qkv_bias;
    s->qk_norm = 1;
    s->router_compute = true;
    if (s->n_expert)
        TRY(arch_check_moe(c, s, "num_experts_per_tok", NULL));
    TRY(finish(c, m, s));
    json_t *only = json_object_get(c->root, "mlp_only_layers");
    if (only && !json_is_null(only) && !json_is_array(only))
        return BADCFG("\"mlp_only_layers\" must be an array of layer indices");
    for (uint32_t i = 0; s->n_expert && i < m->n_layer; i++) {
        bool dense = step == 0 || (i + 1) % step != 0;
        for (size_t k = 0; only && k < json_array_size(only); k++)
            if (json_integer_value(json_array_get(only, k)) == (json_int_t)i)
                dense = true;
        if (!dense)
            arch_set_moe(&m->layers[i], s);
    }
    return GPUMEM_OK;
}

/* ------------------------------------------------------- Gemma 3n text */

/* Per-layer widths from an integer or a list of one per layer. */
static gpumem_status u32_per_layer(cfg_ctx *c, const char *key, uint32_t def, uint32_t i,
                                   uint32_t n, uint32_t *out)
{
    json_t *a = json_object_get(c->root, key);
    if (!a || !json_is_array(a))
        return cfg_u32(c, key, def, MAX_WIDTH, out);
    json_t *v = json_array_get(a, i);
    if (json_array_size(a) != n || !json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > MAX_WIDTH)
        return BADCFG("\"%s\" must be an integer or %u integers (one per layer)", key, n);
    *out = (uint32_t)json_integer_value(v);
    return GPUMEM_OK;
}

/* Gemma 3n text model (modeling_gemma3n.py, configuration_gemma3n.py):
 * Gemma 3's attention (per-head q/k norms, a scale-free v norm) and four
 * norms per layer, a gated MLP of intermediate_size (one per layer or
 * one for all); per layer also AltUp (altup_num_inputs n: router n x
 * hidden, coefficients n x n and n^2 x n, an output scale and the
 * router's norm), LAuReL (rank laurel_rank, its norm) and the per-layer
 * input gate and projection (hidden_size_per_layer_input, its norm).
 * Model-wide: embed_tokens_per_layer (vocab_size_per_layer_input x layers x
 * per-layer width), its projection and norm, n - 1 AltUp projections and
 * as many unembedding projections. The last num_kv_shared_layers layers
 * reuse an earlier layer's K/V (kv_sharing_modes "reuse"): they hold
 * only q_proj, q_norm and o_proj and cache nothing, so they are described
 * without attention (those projections counted here). Layers slide over
 * sliding_window (512) but every fifth, unless "layer_types" says. */
gpumem_status arch_read_gemma3n_text(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    uint32_t pl_vocab, pl_width, n_alt, rank, shared;
    json_t *ffj = json_object_get(c->root, "intermediate_size");
    json_t *saved = ffj ? json_incref(ffj) : NULL;
    if (ffj && json_is_array(ffj))
        json_object_del(c->root, "intermediate_size"); /* read per layer below */
    gpumem_status st = read_dims(c, s, (dims){262400, 2048, 35, 8, 2, 256, 16384, 32768, true});
    if (saved && json_is_array(saved))
        json_object_set(c->root, "intermediate_size", saved);
    json_decref(saved);
    TRY(st);
    TRY(cfg_bool(c, "attention_bias", false, &s->qkv_bias));
    TRY(cfg_u32(c, "vocab_size_per_layer_input", 262144, MAX_WIDTH, &pl_vocab));
    TRY(cfg_u32(c, "hidden_size_per_layer_input", 256, MAX_DIM, &pl_width));
    TRY(cfg_u32(c, "altup_num_inputs", 4, 64, &n_alt));
    TRY(cfg_u32(c, "laurel_rank", 64, MAX_DIM, &rank));
    TRY(cfg_u32(c, "num_kv_shared_layers", 15, 1u << 31, &shared));
    if (n_alt == 0)
        return BADCFG("\"altup_num_inputs\" is zero");
    s->o_bias = s->qkv_bias;
    s->qk_norm = 1;
    s->norms_per_layer = 4;
    m->embed_scale_buffer = true;
    TRY(finish(c, m, s));
    if (shared >= m->n_layer)
        return BADCFG("\"num_kv_shared_layers\" (%u) must be below num_hidden_layers (%u)", shared,
                      m->n_layer);
    uint64_t h = s->hidden, L = m->n_layer, n = n_alt;
    /* Measured (tiny-gemma3n): the AltUp stacks of the previous and this
     * layer (2 n hidden), eight more hidden-sized intermediates (AltUp
     * projections and norms, LAuReL) and the per-layer inputs (layers x
     * per-layer width) stay live beside the usual four; the MLP's gate,
     * activation, up and product are live together. */
    m->layer_extra_live = 2 * n * h + 8 * h + L * pl_width;
    s->extra_embed = (uint64_t)pl_vocab * L * pl_width;
    s->extra_other = h * L * pl_width + pl_width + 2 * (n - 1) * h * h;
    for (uint32_t i = 0; i < m->n_layer; i++) {
        model_layer *l = &m->layers[i];
        TRY(u32_per_layer(c, "intermediate_size", 16384, i, m->n_layer, &l->n_ff));
        l->ff_live = 4;
        l->arch_linear = 2 * rank * h + 2ull * pl_width * h + n * h;
        l->arch_small = h + n * n + n * n * n + 3 * h;
    }
    uint32_t window;
    bool found;
    TRY(cfg_u32(c, "sliding_window", 512, MAX_CTX, &window));
    TRY(arch_layer_types(c, m, window, &found));
    for (uint32_t i = 0; !found && window && i < m->n_layer; i++) {
        if ((i + 1) % 5 != 0) {
            m->layers[i].attn = ATTN_KIND_SLIDING;
            m->layers[i].window = window;
        }
    }
    for (uint32_t i = m->n_layer - shared; i < m->n_layer; i++) {
        model_layer *l = &m->layers[i];
        uint64_t q = (uint64_t)l->n_head * l->head_dim_k;
        l->arch_linear += 2 * h * q; /* q_proj and o_proj; no k/v_proj, no k_norm */
        l->arch_small += l->head_dim_k + (s->qkv_bias ? q + h : 0);
        l->attn = ATTN_KIND_NONE;
        l->window = 0;
    }
    return GPUMEM_OK;
}
