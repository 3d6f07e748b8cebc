/* Hugging Face config.json reader: JSON plumbing, the steps every
 * architecture shares, and the parameter counter. The per-architecture
 * rules live in arch.c. Counts follow the modules transformers builds
 * (modeling_<arch>.py, transformers 5.x): every nn.Parameter once, buffers
 * never. */
#include "read_config_internal.h"

#include "dtype_internal.h"
#include "error_internal.h"
#include "quant_internal.h"
#include "util_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_CONFIG_BYTES = 16 << 20, MAX_LAYERS = 100000 };

/* ------------------------------------------------------------ JSON access */

static json_t *lookup(json_t *obj, const char *keys, char *found, size_t found_len)
{
    const char *p = keys;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char key[64];
        if (len >= sizeof key)
            len = sizeof key - 1;
        memcpy(key, p, len);
        key[len] = '\0';
        json_t *v = json_object_get(obj, key);
        if (v && !json_is_null(v)) {
            snprintf(found, found_len, "%s", key);
            return v;
        }
        if (!end)
            break;
        p = end + 1;
    }
    return NULL;
}

gpumem_status cfg_u32(cfg_ctx *c, const char *keys, uint32_t def, uint32_t max, uint32_t *out)
{
    char key[64];
    json_t *v = lookup(c->root, keys, key, sizeof key);
    if (!v) {
        *out = def;
        return GPUMEM_OK;
    }
    double d;
    if (json_is_integer(v))
        d = (double)json_integer_value(v);
    else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)))
        d = json_real_value(v);
    else
        return err_set_at(c->err, GPUMEM_ERR_INVALID, c->file, -1, 0, 0,
                          "\"%s\" must be a non-negative integer", key);
    if (d < 0)
        return err_set_at(c->err, GPUMEM_ERR_INVALID, c->file, -1, 0, 0,
                          "\"%s\" is negative (%.0f)", key, d);
    if (d > max)
        return err_set_at(c->err, GPUMEM_ERR_INVALID, c->file, -1, 0, 0,
                          "\"%s\" is %.0f, more than the plausible maximum %u", key, d, max);
    *out = (uint32_t)d;
    return GPUMEM_OK;
}

gpumem_status cfg_bool(cfg_ctx *c, const char *keys, bool def, bool *out)
{
    char key[64];
    json_t *v = lookup(c->root, keys, key, sizeof key);
    if (!v) {
        *out = def;
        return GPUMEM_OK;
    }
    if (!json_is_boolean(v))
        return err_set_at(c->err, GPUMEM_ERR_INVALID, c->file, -1, 0, 0,
                          "\"%s\" must be true or false", key);
    *out = json_is_true(v);
    return GPUMEM_OK;
}

gpumem_status cfg_str(cfg_ctx *c, const char *key, const char **out)
{
    json_t *v = json_object_get(c->root, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return GPUMEM_OK;
    if (!json_is_string(v))
        return err_set_at(c->err, GPUMEM_ERR_INVALID, c->file, -1, 0, 0,
                          "\"%s\" must be a string", key);
    *out = json_string_value(v);
    return GPUMEM_OK;
}

/* ------------------------------------------------------- shared arch steps */


#define BAD(...) err_set_at(c->err, GPUMEM_ERR_INVALID, c->file, -1, 0, 0, __VA_ARGS__)

/* Checks the dimensions every transformer needs; fills head_dim and kv
 * heads from their usual defaults. */
gpumem_status arch_check_base(cfg_ctx *c, const arch_spec *s)
{
    if (s->hidden == 0)
        return BAD("hidden size is zero");
    if (s->layers == 0)
        return BAD("number of layers is zero: a model needs at least one layer");
    if (s->layers > MAX_LAYERS)
        return BAD("number of layers is %u, more than %u", s->layers, MAX_LAYERS);
    if (s->vocab == 0)
        return BAD("vocab_size is zero");
    return GPUMEM_OK;
}

gpumem_status arch_read_common(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    (void)m;
    TRY(arch_check_base(c, s));
    if (s->heads == 0)
        return BAD("number of attention heads is zero");
    if (s->kv_heads == 0)
        s->kv_heads = s->heads;
    if (s->head_dim == 0) {
        if (s->hidden % s->heads != 0)
            return BAD("num_attention_heads (%u) does not divide hidden_size (%u) and no "
                       "head_dim is given",
                       s->heads, s->hidden);
        s->head_dim = s->hidden / s->heads;
    }
    if (s->kv_heads > s->heads || s->heads % s->kv_heads != 0)
        return BAD("num_key_value_heads (%u) must divide num_attention_heads (%u)", s->kv_heads,
                   s->heads);
    return GPUMEM_OK;
}

gpumem_status arch_alloc_layers(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    m->layers = calloc(s->layers, sizeof *m->layers);
    if (!m->layers)
        return err_set(c->err, GPUMEM_ERR_NOMEM, "out of memory for %u layers", s->layers);
    m->n_layer = s->layers;
    m->n_embd = s->hidden;
    m->n_vocab = s->vocab;
    m->max_ctx = s->maxpos;
    m->tied = s->tie;
    m->learned_positions = s->learned_pos;
    m->is_encoder = s->encoder;
    m->softmax_native = s->softmax_native;
    m->qkv_fused = s->qkv_fused;
    m->no_sdpa = s->no_sdpa;
    for (uint32_t i = 0; i < s->layers; i++) {
        model_layer *l = &m->layers[i];
        l->attn = ATTN_KIND_FULL;
        l->n_head = s->heads;
        l->n_head_kv = s->kv_heads;
        l->head_dim_k = s->head_dim;
        l->head_dim_v = s->head_dim;
        l->n_ff = s->ff;
        l->gated_ff = s->gated;
        l->ff_live = s->ff_live;
        l->qk_norm = s->qk_norm != 0;
    }
    return GPUMEM_OK;
}

gpumem_status arch_layer_types(cfg_ctx *c, gpumem_model *m, uint32_t window, bool *found)
{
    return arch_layer_types_chunked(c, m, window, 0, found);
}

gpumem_status arch_layer_types_chunked(cfg_ctx *c, gpumem_model *m, uint32_t window,
                                       uint32_t chunk, bool *found)
{
    json_t *types = json_object_get(c->root, "layer_types");
    *found = false;
    if (!types || json_is_null(types))
        return GPUMEM_OK;
    if (!json_is_array(types) || json_array_size(types) != m->n_layer)
        return err_set_at(c->err, GPUMEM_ERR_INVALID, c->file, -1, 0, 0,
                          "\"layer_types\" must be an array of %u strings (one per layer)",
                          m->n_layer);
    for (uint32_t i = 0; i < m->n_layer; i++) {
        const char *t = json_string_value(json_array_get(types, i));
        if (!t)
            return err_set_at(c->err, GPUMEM_ERR_INVALID, c->file, -1, 0, 0,
                              "\"layer_types\"[%u] is not a string", i);
        if (strcmp(t, "sliding_attention") == 0) {
            if (window == 0)
                return err_set_at(c->err, GPUMEM_ERR_INVALID, c->file, -1, 0, 0,
                                  "layer %u is sliding_attention but \"sliding_window\" is absent",
                                  i);
            m->layers[i].attn = ATTN_KIND_SLIDING;
            m->layers[i].window = window;
        } else if (strcmp(t, "chunked_attention") == 0 && chunk) {
            /* cache_utils.py (transformers 5.24): a chunked layer caches
             * like a sliding one of attention_chunk_size tokens. */
            m->layers[i].attn = ATTN_KIND_SLIDING;
            m->layers[i].window = chunk;
            m->layers[i].chunked = true;
        } else if (strcmp(t, "full_attention") != 0) {
            return err_set_at(c->err, GPUMEM_ERR_UNSUPPORTED, c->file, -1, 0, 0,
                              "\"layer_types\"[%u] is '%s'; gpumem models full_attention, "
                              "sliding_attention%s layers",
                              i, t, chunk ? " and chunked_attention" : "");
        }
    }
    *found = true;
    return GPUMEM_OK;
}

/* ------------------------------------------------------ parameter counter */

static void attn_params(const arch_spec *s, const model_layer *l, acc64 *lin, acc64 *small)
{
    uint64_t h = s->hidden, nh = l->n_head, nkv = l->n_head_kv;
    if (l->ssm || l->attn == ATTN_KIND_NONE)
        return;
    if (l->attn == ATTN_KIND_MLA) {
        /* DeepSeek-V2/V3 (modeling_deepseek_v3.py): q (optionally through a
         * LoRA-like bottleneck with its norm), kv_a with the shared rope key,
         * kv_a_layernorm, kv_b to per-head nope-K and V, o_proj. */
        uint64_t qhd = (uint64_t)s->qk_nope_dim + s->qk_rope_dim;
        if (s->q_lora_rank) {
            acc64_add(lin, h, s->q_lora_rank);
            acc64_add(small, s->q_lora_rank, 1);
            acc64_add(lin, s->q_lora_rank, nh * qhd);
        } else {
            acc64_add(lin, h, nh * qhd);
        }
        acc64_add(lin, h, (uint64_t)s->kv_lora_rank + s->qk_rope_dim);
        acc64_add(small, s->kv_lora_rank, 1);
        acc64_add(lin, s->kv_lora_rank, nh * ((uint64_t)s->qk_nope_dim + s->v_head_dim));
        acc64_add(lin, nh * s->v_head_dim, h);
        if (s->qkv_bias) /* attention_bias: q_a (or none), kv_a, o */
            acc64_add(small, (s->q_lora_rank ? s->q_lora_rank : 0) + s->kv_lora_rank +
                           s->qk_rope_dim + h, 1);
        return;
    }
    uint64_t qd = nh * l->head_dim_k, kd = nkv * l->head_dim_k, vd = nkv * l->head_dim_v;
    acc64_add(lin, h, qd + kd + vd);
    acc64_add(lin, nh * l->head_dim_v, h);
    if (s->qkv_bias)
        acc64_add(small, qd + kd + vd, 1);
    if (s->o_bias)
        acc64_add(small, h, 1);
    if (s->qk_norm == 1)
        acc64_add(small, 2ull * l->head_dim_k, s->norm_w);
    else if (s->qk_norm == 2)
        acc64_add(small, qd + kd, s->norm_w);
    if (s->sinks)
        acc64_add(small, nh, 1);
}

static void ssm_params(const arch_spec *s, const model_layer *l, acc64 *lin, acc64 *small)
{
    if (l->ssm_delta || l->ssm_short_conv || l->ssm_lightning || l->ssm_own_params)
        /* the reader counted them */
        return;
    if (l->ssm_heads) {
        uint64_t ml, ms;
        arch_mamba2_params(l, s->hidden, &ml, &ms);
        acc64_add(lin, ml, 1);
        acc64_add(small, ms, 1);
        return;
    }
    /* MambaMixer (modeling_mamba.py): in_proj, depthwise conv1d with bias,
     * x_proj, dt_proj with bias, A_log, D, out_proj. */
    uint64_t h = s->hidden, d = l->ssm_d_inner, n = l->ssm_d_state, r = l->ssm_dt_rank;
    acc64_add(lin, h, 2 * d);
    acc64_add(small, d, l->ssm_d_conv);
    acc64_add(small, d, 1);
    acc64_add(lin, d, r + 2 * n);
    acc64_add(lin, r, d);
    acc64_add(small, d, 1);
    acc64_add(small, d, n);
    acc64_add(small, d, 1);
    acc64_add(lin, d, h);
    if (s->qkv_bias || l->ssm_proj_bias) /* use_bias: in_proj and out_proj */
        acc64_add(small, 2 * d + h, 1);
    if (l->ssm_bc_norms) /* Jamba: dt_layernorm, b_layernorm, c_layernorm */
        acc64_add(small, r + 2 * n, 1);
}

static void ff_params(const arch_spec *s, const model_layer *l, acc64 *lin, acc64 *small,
                      acc64 *expert)
{
    uint64_t h = s->hidden, mats = l->gated_ff ? 3 : 2;
    if (l->n_ff) {
        acc64_add(lin, mats * h, l->n_ff);
        if (s->mlp_bias)
            acc64_add(small, (mats - 1) * (uint64_t)l->n_ff + h, 1);
    }
    if (l->n_expert) {
        acc64_add(lin, h, l->n_expert); /* router */
        if (s->router_bias)
            acc64_add(small, l->n_expert, 1);
        uint64_t ein = l->moe_latent ? l->moe_latent : h;
        acc64_add(expert, (uint64_t)l->n_expert * mats * ein, l->n_ff_expert);
        if (s->expert_bias)
            acc64_add(expert, l->n_expert, (mats - 1) * (uint64_t)l->n_ff_expert + h);
        if (l->moe_latent) { /* fc1/fc2_latent_proj, with mlp_bias */
            acc64_add(lin, 2 * h, l->moe_latent);
            if (s->mlp_bias)
                acc64_add(small, (uint64_t)l->moe_latent + h, 1);
        }
        if (l->n_ff_shared)
            acc64_add(lin, mats * h, l->n_ff_shared);
        if (l->n_ff_shared && s->shared_bias)
            acc64_add(small, (mats - 1) * (uint64_t)l->n_ff_shared + h, 1);
        if (s->shared_gate)
            acc64_add(lin, h, 1);
    }
}

/* The biases attn_params and ff_params count for q/k/v/o and the dense and
 * shared-expert MLP matrices (not MLA's, Mamba's or routers'). */
static uint64_t linear_biases(const arch_spec *s, const model_layer *l)
{
    uint64_t b = 0, h = s->hidden, mats = l->gated_ff ? 3 : 2;
    if (!l->ssm && l->attn != ATTN_KIND_MLA) {
        uint64_t nh = l->n_head, nkv = l->n_head_kv;
        if (s->qkv_bias)
            b += nh * l->head_dim_k + nkv * l->head_dim_k + nkv * l->head_dim_v;
        if (s->o_bias)
            b += h;
    }
    if (l->n_ff && s->mlp_bias)
        b += (mats - 1) * (uint64_t)l->n_ff + h;
    if (l->n_expert && l->n_ff_shared && s->shared_bias)
        b += (mats - 1) * (uint64_t)l->n_ff_shared + h;
    return b;
}

gpumem_status compute_params(cfg_ctx *c, gpumem_model *m, const arch_spec *s)
{
    uint64_t h = s->hidden;
    uint64_t e = s->embed_dim ? s->embed_dim : h;
    acc64 top = {0, false};
    acc64_add(&top, s->vocab, e);
    m->params_embed = top.sum;
    if (!u64_add(m->params_embed, s->extra_embed, &m->params_embed))
        top.overflow = true;
    m->params_output = 0;
    if (!s->encoder && !s->tie)
        m->params_output = (uint64_t)s->vocab * e + (s->lm_head_bias ? s->vocab : 0);
    m->params_other = (s->no_final_norm ? 0 : h * s->norm_w) + s->extra_other;

    for (uint32_t i = 0; i < m->n_layer; i++) {
        model_layer *l = &m->layers[i];
        acc64 lin = {0, false}, small = {0, false}, expert = {0, false};
        if (l->ssm)
            ssm_params(s, l, &lin, &small);
        else
            attn_params(s, l, &lin, &small);
        ff_params(s, l, &lin, &small, &expert);
        acc64_add(&lin, l->arch_linear, 1);
        acc64_add(&small, l->arch_small, 1);
        acc64_add(&small, (uint64_t)s->norms_per_layer * h, s->norm_w);
        if (lin.overflow || small.overflow || expert.overflow)
            top.overflow = true;
        l->params_linear = lin.sum;
        l->params_small = small.sum;
        l->params_expert = expert.sum;
        l->params_linear_bias = linear_biases(s, l);
    }
    if (top.overflow)
        return err_set_at(c->err, GPUMEM_ERR_OVERFLOW, c->file, -1, 0, 0,
                          "parameter count of this configuration does not fit in 64 bits");
    return model_finish(m, c->err);
}

/* ------------------------------------------------------------ entry points */

static gpumem_status read_dtype(cfg_ctx *c, gpumem_model *m)
{
    const char *keys[] = {"torch_dtype", "dtype"};
    /* The top level first: transformers 5.24 loads a composite model in its
     * top-level config.dtype and sets it on every sub-config
     * (modeling_utils.py _get_dtype), whatever text_config says. */
    json_t *objs[] = {c->top, c->root};
    m->dtype = GPUMEM_DTYPE_FP32; /* transformers' default when unspecified */
    for (size_t o = 0; o < 2; o++) {
        for (size_t k = 0; k < 2; k++) {
            json_t *v = json_object_get(objs[o], keys[k]);
            if (!v || json_is_null(v))
                continue;
            const char *name = json_string_value(v);
            if (!name)
                return err_set_at(c->err, GPUMEM_ERR_INVALID, c->file, -1, 0, 0,
                                  "\"%s\" must be a string", keys[k]);
            if (!dtype_from_torch(name, &m->dtype))
                return err_set_at(c->err, GPUMEM_ERR_UNSUPPORTED, c->file, -1, 0, 0,
                                  "\"%s\" is '%s'; expected float32, float16 or bfloat16",
                                  keys[k], name);
            return GPUMEM_OK;
        }
    }
    return GPUMEM_OK;
}

/* ------------------------------------------------- quantization_config */

#define QBAD(...) err_set_at(c->err, GPUMEM_ERR_INVALID, c->file, -1, 0, 0, __VA_ARGS__)

/* Whether a list of module names (modules_to_not_convert, ignore) names
 * the attention projections of every layer. */
static bool names_attention(json_t *list)
{
    size_t i;
    json_t *v;
    if (!json_is_array(list))
        return false;
    json_array_foreach(list, i, v) {
        const char *s = json_string_value(v);
        if (s && (strstr(s, "self_attn") || strstr(s, ".attn")))
            return true;
    }
    return false;
}

static gpumem_status quant_u32(cfg_ctx *c, json_t *q, const char *key, uint32_t def, uint32_t *out)
{
    json_t *root = c->root;
    c->root = q;
    gpumem_status st = cfg_u32(c, key, def, 1u << 20, out);
    c->root = root;
    return st;
}

/* GPTQ/AWQ: bits, group_size (-1: one group per input row), desc_act. */
static gpumem_status read_int_quant(cfg_ctx *c, json_t *q, model_quant *mq)
{
    TRY(quant_u32(c, q, "bits,w_bit", 4, &mq->bits));
    if (mq->bits == 0 || mq->bits > 8)
        return QBAD("quantization_config \"bits\" is %u; GPTQ/AWQ use 2 to 8", mq->bits);
    json_t *g = json_object_get(q, "group_size");
    if (!g)
        g = json_object_get(q, "q_group_size");
    if (g && json_is_integer(g) && json_integer_value(g) == -1)
        mq->group = 0;
    else
        TRY(quant_u32(c, q, "group_size,q_group_size", 128, &mq->group));
    mq->desc_act = json_is_true(json_object_get(q, "desc_act"));
    return GPUMEM_OK;
}

/* FP8: weight_block_size [n, k] (absent: one scale per tensor) and
 * activation_scheme. */
static gpumem_status read_fp8_quant(cfg_ctx *c, json_t *q, model_quant *mq)
{
    json_t *b = json_object_get(q, "weight_block_size");
    if (b && !json_is_null(b)) {
        json_t *n = json_array_get(b, 0), *k = json_array_get(b, 1);
        if (!json_is_array(b) || json_array_size(b) != 2 || !json_is_integer(n) ||
            !json_is_integer(k) || json_integer_value(n) <= 0 || json_integer_value(k) <= 0 ||
            json_integer_value(n) > (1 << 20) || json_integer_value(k) > (1 << 20))
            return QBAD("quantization_config \"weight_block_size\" must be two positive "
                        "integers");
        mq->block_n = (uint32_t)json_integer_value(n);
        mq->block_k = (uint32_t)json_integer_value(k);
    }
    const char *scheme = json_string_value(json_object_get(q, "activation_scheme"));
    mq->input_scale = scheme && strcmp(scheme, "static") == 0;
    return GPUMEM_OK;
}

/* Reads "quantization_config": GPTQ, AWQ, FP8 and MXFP4 checkpoints get
 * their stored bytes (quant.c); bitsandbytes ones the int8/int4 dtype
 * rows; other methods are sized at the torch_dtype, an upper bound. */
static gpumem_status read_quant(cfg_ctx *c, gpumem_model *m)
{
    json_t *q = json_object_get(c->top, "quantization_config");
    if (!q || json_is_null(q))
        return GPUMEM_OK;
    if (!json_is_object(q))
        return QBAD("\"quantization_config\" must be an object");
    const char *method = json_string_value(json_object_get(q, "quant_method"));
    model_quant *mq = &m->quant;
    memset(mq, 0, sizeof *mq);
    mq->keep = m->dtype == GPUMEM_DTYPE_FP32 ? GPUMEM_DTYPE_BF16 : m->dtype;
    mq->keep_attn = names_attention(json_object_get(q, "modules_to_not_convert"));
    if (!method) {
        return QBAD("\"quantization_config\" has no \"quant_method\"");
    } else if (strcmp(method, "gptq") == 0 || strcmp(method, "awq") == 0) {
        mq->method = method[0] == 'g' ? QUANT_GPTQ : QUANT_AWQ;
        if (m->dtype == GPUMEM_DTYPE_FP32) /* both pack with fp16 scales */
            mq->keep = GPUMEM_DTYPE_FP16;
        TRY(read_int_quant(c, q, mq));
    } else if (strcmp(method, "fp8") == 0) {
        mq->method = QUANT_FP8;
        TRY(read_fp8_quant(c, q, mq));
        m->dtype = GPUMEM_DTYPE_FP8; /* matrices FP8, compute bf16 */
    } else if (strcmp(method, "mxfp4") == 0) {
        mq->method = QUANT_MXFP4;
        mq->keep = GPUMEM_DTYPE_BF16;
    } else if (strcmp(method, "bitsandbytes") == 0) {
        mq->method = QUANT_BNB;
        bool four, eight;
        json_t *root = c->root;
        c->root = q;
        gpumem_status st = cfg_bool(c, "load_in_4bit", false, &four);
        if (st == GPUMEM_OK)
            st = cfg_bool(c, "load_in_8bit", false, &eight);
        c->root = root;
        TRY(st);
        if (four || eight)
            m->dtype = four ? GPUMEM_DTYPE_INT4 : GPUMEM_DTYPE_INT8;
    }
    if (mq->method == QUANT_NONE) {
        snprintf(m->note, sizeof m->note,
                 "checkpoint quantised with %s: sized at its torch_dtype (an upper bound)",
                 method);
        return GPUMEM_OK;
    }
    snprintf(m->note, sizeof m->note, "checkpoint quantised with %s (quantization_config)",
             method);
    return GPUMEM_OK;
}

/* Whether "architectures" names a masked-LM head (BertForMaskedLM,
 * BertForPreTraining, ...): training such a model computes vocabulary-wide
 * logits. Anything malformed here just means no. */
static bool names_mlm_head(json_t *top)
{
    json_t *list = json_object_get(top, "architectures"), *v;
    size_t i;
    if (!json_is_array(list))
        return false;
    json_array_foreach(list, i, v) {
        const char *s = json_string_value(v);
        if (s && (strstr(s, "ForMaskedLM") || strstr(s, "ForPreTraining")))
            return true;
    }
    return false;
}

/* Bare Infinity, -Infinity and NaN outside strings (Python's json.dumps
 * of non-finite floats). */
static const char *const py_literals[] = {"-Infinity", "Infinity", "NaN"};

static size_t python_literal_at(const char *t, size_t i, size_t len)
{
    for (size_t k = 0; k < sizeof py_literals / sizeof py_literals[0]; k++) {
        size_t n = strlen(py_literals[k]);
        if (len - i >= n && memcmp(t + i, py_literals[k], n) == 0)
            return n;
    }
    return 0;
}

/* Walks the text outside strings; with `blank`, overwrites each literal
 * with "null" padded by spaces. Returns whether one was seen. */
static bool walk_python_literals(char *t, const char *ro, size_t len, bool blank)
{
    bool in_str = false, seen = false;
    for (size_t i = 0; i < len; i++) {
        char ch = ro[i];
        if (in_str) {
            if (ch == '\\')
                i++;
            else if (ch == '"')
                in_str = false;
            continue;
        }
        if (ch == '"') {
            in_str = true;
            continue;
        }
        size_t n = python_literal_at(ro, i, len);
        if (!n)
            continue;
        seen = true;
        if (blank && n >= 4) {
            memcpy(t + i, "null", 4);
            memset(t + i + 4, ' ', n - 4);
        } else if (blank) { /* NaN: a fraction, refused where an integer is read */
            memcpy(t + i, "0.5", 3);
        }
        i += n - 1;
    }
    return seen;
}

static bool has_python_literals(const char *t, size_t len)
{
    return walk_python_literals(NULL, t, len, false);
}

static void blank_python_literals(char *t, size_t len)
{
    walk_python_literals(t, t, len, true);
}

/* Picks the text tower of a multimodal config ("text_config", or the top
 * level where a type keeps its text keys there, as Qwen2-VL does);
 * *outer is the top-level model_type when it is a multimodal one. */
static gpumem_status pick_tower(cfg_ctx *c, gpumem_model *m, const char **model_type,
                                const char **outer)
{
    json_t *text = json_object_get(c->top, "text_config");
    *outer = NULL;
    TRY(cfg_str(c, "model_type", model_type));
    if (!*model_type || arch_find(*model_type))
        return GPUMEM_OK;
    if (vision_known(*model_type))
        *outer = *model_type;
    const char *flat = vision_flat_text_type(*model_type);
    if ((!text || json_is_null(text)) && flat) {
        *model_type = flat;
    } else if (text && !json_is_null(text)) {
        if (!json_is_object(text))
            return err_set_at(c->err, GPUMEM_ERR_INVALID, c->file, -1, 0, 0,
                              "\"text_config\" must be an object");
        c->root = text;
        TRY(cfg_str(c, "model_type", model_type));
        if (!*model_type)
            return err_set_at(c->err, GPUMEM_ERR_INVALID, c->file, -1, 0, 0,
                              "\"text_config\" has no \"model_type\"");
    } else {
        return GPUMEM_OK;
    }
    if (!*outer)
        return err_set_at(c->err, GPUMEM_ERR_UNSUPPORTED, c->file, -1, 0, 0,
                          "multimodal model_type '%s' is not supported: its vision tower is "
                          "not modelled (supported: gemma3, llama4, llava, llava_next, "
                          "mistral3, qwen2_vl, qwen2_5_vl, qwen3_vl, qwen3_vl_moe, qwen3_5, "
                          "qwen3_5_moe)",
                          json_string_value(json_object_get(c->top, "model_type")));
    snprintf(m->note, sizeof m->note, "multimodal '%s': text tower '%s' + vision tower", *outer,
             *model_type);
    return GPUMEM_OK;
}

gpumem_status gpumem_model_load_config_json(const char *text, size_t len, const char *name,
                                            gpumem_model **out, gpumem_error *err)
{
    *out = NULL;
    if (len > MAX_CONFIG_BYTES)
        return err_set_at(err, GPUMEM_ERR_INVALID, name, -1, 0, 0,
                          "config is %zu bytes; a config.json over %d MiB is not a config",
                          len, MAX_CONFIG_BYTES >> 20);
    json_error_t jerr;
    /* Python's json writes float('inf') as a bare Infinity, and Hub configs
     * carry it (Nemotron-H "time_step_limit": [0.0, Infinity]); JSON and
     * jansson do not. A copy with those literals blanked to null (same
     * length, so positions in errors stay right) is parsed instead. */
    char *clean = NULL;
    if (has_python_literals(text, len)) {
        clean = malloc(len ? len : 1);
        if (!clean)
            return err_set(err, GPUMEM_ERR_NOMEM, "out of memory for a %zu-byte config", len);
        memcpy(clean, text, len);
        blank_python_literals(clean, len);
        text = clean;
    }
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    free(clean);
    if (!root)
        return err_set_at(err, GPUMEM_ERR_PARSE, name, jerr.position, jerr.line, jerr.column,
                          "malformed JSON: %s", jerr.text);
    gpumem_status st = GPUMEM_OK;
    gpumem_model *m = NULL;
    cfg_ctx c = {root, root, name, err};
    if (!json_is_object(root)) {
        st = err_set_at(err, GPUMEM_ERR_INVALID, name, -1, 1, 1,
                        "a config.json must hold a JSON object at its top level");
        goto done;
    }
    m = model_alloc(0);
    if (!m) {
        st = err_set(err, GPUMEM_ERR_NOMEM, "out of memory");
        goto done;
    }
    snprintf(m->name, sizeof m->name, "%s", name ? name : "config.json");
    m->source = GPUMEM_SOURCE_CONFIG;
    m->architecture_known = true;
    const char *model_type = NULL, *outer = NULL;
    if ((st = pick_tower(&c, m, &model_type, &outer)) != GPUMEM_OK)
        goto done;
    if (!model_type) {
        st = err_set_at(err, GPUMEM_ERR_INVALID, name, -1, 0, 0,
                        "config has no \"model_type\"; is this a Hugging Face config.json?");
        goto done;
    }
    const arch_row *row = arch_find(model_type);
    if (!row) {
        st = err_set_at(err, GPUMEM_ERR_UNSUPPORTED, name, -1, 0, 0,
                        "unsupported model_type '%s' (supported: %s)", model_type,
                        arch_supported());
        goto done;
    }
    snprintf(m->architecture, sizeof m->architecture, "%s", row->model_type);
    if ((st = read_dtype(&c, m)) != GPUMEM_OK)
        goto done;
    arch_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.norm_w = 1;
    spec.norms_per_layer = 2;
    spec.gated = true;
    /* GPT-2's gelu_new is composed in Python (activations.py NewGELU):
     * fc output, pow, and two products are live together (measured). */
    const char *act = NULL;
    if ((st = cfg_str(&c, "activation_function", &act)) != GPUMEM_OK ||
        (!act && (st = cfg_str(&c, "hidden_act", &act)) != GPUMEM_OK))
        goto done;
    if (act && strcmp(act, "gelu_new") == 0)
        spec.ff_live = 4;
    if ((st = row->read(&c, m, &spec)) != GPUMEM_OK)
        goto done;
    if (m->is_encoder)
        m->mlm_head = names_mlm_head(c.top);
    if (outer && (st = vision_read(&c, outer, m, &spec)) != GPUMEM_OK)
        goto done;
    if ((st = compute_params(&c, m, &spec)) != GPUMEM_OK || (st = read_quant(&c, m)) != GPUMEM_OK)
        goto done;
    st = quant_attach_storage(m, err);
done:
    json_decref(root);
    if (st != GPUMEM_OK) {
        if (err && !err->file[0])
            err_set_file(err, name);
        gpumem_model_free(m);
        return st;
    }
    *out = m;
    return GPUMEM_OK;
}

gpumem_status gpumem_model_load_config_file(const char *path, gpumem_model **out,
                                            gpumem_error *err)
{
    char buf[4096];
    const char *file = path;
    char *text = NULL;
    size_t len = 0;
    *out = NULL;
    int rc = file_read_all(path, MAX_CONFIG_BYTES, &text, &len);
    if (rc == EISDIR) {
        snprintf(buf, sizeof buf, "%s/config.json", path);
        file = buf;
        rc = file_read_all(file, MAX_CONFIG_BYTES, &text, &len);
        if (rc == ENOENT)
            return err_set_at(err, GPUMEM_ERR_IO, path, -1, 0, 0,
                              "directory has no config.json");
    }
    if (rc == EFBIG)
        return err_set_at(err, GPUMEM_ERR_INVALID, file, -1, 0, 0,
                          "file is larger than %d MiB; a config.json is a few KiB",
                          MAX_CONFIG_BYTES >> 20);
    if (rc != 0)
        return err_set_at(err, GPUMEM_ERR_IO, file, -1, 0, 0, "cannot read: %s",
                          strerror(rc));
    gpumem_status st = gpumem_model_load_config_json(text, len, file, out, err);
    free(text);
    if (st == GPUMEM_OK && file == buf) {
        /* Name the model after its directory ("./Qwen2.5-7B/" -> "Qwen2.5-7B"). */
        char dir[sizeof buf];
        snprintf(dir, sizeof dir, "%s", path);
        size_t n = strlen(dir);
        while (n > 1 && dir[n - 1] == '/')
            dir[--n] = '\0';
        const char *base = strrchr(dir, '/');
        snprintf((*out)->name, sizeof (*out)->name, "%s", base ? base + 1 : dir);
        st = model_attach_dir_weights(*out, path, err);
        if (st != GPUMEM_OK) {
            gpumem_model_free(*out);
            *out = NULL;
        }
    }
    return st;
}
