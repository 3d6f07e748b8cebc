/* GGUF header → model description. Architecture facts come from the
 * `<arch>.*` keys llama.cpp writes (llama-arch.cpp, llama-model.cpp of
 * llama.cpp de3ff81); storage comes from the tensor infos, to the byte. */
#include "model_internal.h"
#include "read_gguf_internal.h"

#include "error_internal.h"
#include "ggml_types_internal.h"
#include "read_gguf_internal.h"
#include "util_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sliding-window layer patterns llama.cpp sets per architecture
 * (hparams.set_swa_pattern): layer il slides when il % n < n - 1. */
static const struct {
    const char *arch;
    uint32_t pattern;
} swa_patterns[] = {
    {"gemma2", 2}, {"gemma3", 6}, {"gpt-oss", 2}, {"cohere2", 4}, {"gemma3n", 5},
};

/* Architectures llama.cpp de3ff81 runs with no memory module at all
 * (llama-model.cpp create_memory returns nullptr; decode() falls back to
 * encode()): embedding encoders. Sized by the llama.cpp engine as
 * embedding models; nomic-bert-moe (an MoE encoder) is refused as
 * unmeasured. The diffusion LMs of that list (dream, llada, rnd1) are not
 * encoders and stay out. */
static const char *const encoder_archs[] = {
    "bert",       "nomic-bert",  "jina-bert-v2", "jina-bert-v3",
    "neo-bert",   "modern-bert", "eurobert",     "gemma-embedding",
};

static bool is_encoder_arch(const char *arch)
{
    for (size_t i = 0; i < sizeof encoder_archs / sizeof encoder_archs[0]; i++)
        if (strcmp(arch, encoder_archs[i]) == 0)
            return true;
    return false;
}

/* llama_ftype names (llama.h), for the file type line. */
static const char *ftype_name(uint64_t t)
{
    static const char *const names[] = {
        [0] = "F32",      [1] = "F16",      [2] = "Q4_0",     [3] = "Q4_1",
        [7] = "Q8_0",     [8] = "Q5_0",     [9] = "Q5_1",     [10] = "Q2_K",
        [11] = "Q3_K_S",  [12] = "Q3_K_M",  [13] = "Q3_K_L",  [14] = "Q4_K_S",
        [15] = "Q4_K_M",  [16] = "Q5_K_S",  [17] = "Q5_K_M",  [18] = "Q6_K",
        [19] = "IQ2_XXS", [20] = "IQ2_XS",  [21] = "Q2_K_S",  [22] = "IQ3_XS",
        [23] = "IQ3_XXS", [24] = "IQ1_S",   [25] = "IQ4_NL",  [26] = "IQ3_S",
        [27] = "IQ3_M",   [28] = "IQ2_S",   [29] = "IQ2_M",   [30] = "IQ4_XS",
        [31] = "IQ1_M",   [32] = "BF16",    [36] = "TQ1_0",   [37] = "TQ2_0",
        [38] = "MXFP4_MOE",
    };
    if (t < sizeof names / sizeof names[0] && names[t])
        return names[t];
    return "mixed";
}

typedef struct {
    const gguf_file *f;
    const char *arch;
    gpumem_error *err;
    const char *file;
} gctx;

static bool key_uint(gctx *g, const char *suffix, uint64_t *out)
{
    char key[160];
    snprintf(key, sizeof key, "%s.%s", g->arch, suffix);
    return gguf_get_uint(g->f, key, out);
}

/* A per-layer value: a scalar, or element il of an array; `def` if absent. */
static uint64_t layer_uint(gctx *g, const char *suffix, uint32_t il, uint64_t def)
{
    char key[160];
    snprintf(key, sizeof key, "%s.%s", g->arch, suffix);
    const gguf_kv *kv = gguf_find(g->f, key);
    uint64_t v;
    if (kv && kv->type == GV_ARRAY)
        return (kv->arr && il < kv->arr_len && kv->arr[il] >= 0) ? (uint64_t)kv->arr[il] : def;
    return gguf_get_uint(g->f, key, &v) ? v : def;
}

static const gguf_tensor *tensor(const gguf_file *f, const char *name)
{
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0)
            return &f->tensors[i];
    return NULL;
}

static const gguf_tensor *layer_tensor(const gguf_file *f, uint32_t il, const char *suffix)
{
    char name[128];
    snprintf(name, sizeof name, "blk.%u.%s", il, suffix);
    return tensor(f, name);
}

/* Adds each tensor's elements and bytes to the part it belongs to. */
static gpumem_status classify(gctx *g, gpumem_model *m, uint64_t *hist_bytes)
{
    for (uint64_t i = 0; i < g->f->n_tensors; i++) {
        const gguf_tensor *t = &g->f->tensors[i];
        uint64_t *params, *bytes;
        unsigned il;
        int used = 0;
        if (sscanf(t->name, "blk.%u.%n", &il, &used) == 1 && used > 0) {
            if (il >= m->n_layer)
                return err_set_at(g->err, GPUMEM_ERR_INVALID, g->file, -1, 0, 0,
                                  "tensor '%s' names layer %u but block_count is %u", t->name,
                                  il, m->n_layer);
            model_layer *l = &m->layers[il];
            /* llama.cpp's -ot name groups (regex_search of blk\.N\.ffn_up
             * and so on, common/fit.cpp de3ff81) */
            const char *rest = t->name + used;
            int grp = !strncmp(rest, "ffn_up", 6)     ? MODEL_FFN_UP
                      : !strncmp(rest, "ffn_gate", 8) ? MODEL_FFN_GATE
                      : !strncmp(rest, "ffn_down", 8) ? MODEL_FFN_DOWN
                                                      : -1;
            bool exps = strstr(t->name, "_exps") != NULL;
            if (grp >= 0 && (!u64_add(l->bytes_ffn[grp], t->bytes, &l->bytes_ffn[grp]) ||
                             (exps && !u64_add(l->bytes_ffn_exps[grp], t->bytes,
                                               &l->bytes_ffn_exps[grp]))))
                return err_set(g->err, GPUMEM_ERR_OVERFLOW, "tensor sizes overflow");
            if (exps) {
                params = &l->params_expert;
                bytes = &l->bytes_expert;
                if (t->bytes > l->bytes_expert_max)
                    l->bytes_expert_max = t->bytes;
            } else if (t->n_dims >= 2) {
                params = &l->params_linear;
                bytes = &l->bytes_linear;
                if (t->bytes > l->bytes_linear_max)
                    l->bytes_linear_max = t->bytes;
            } else {
                params = &l->params_small;
                bytes = &l->bytes_small;
            }
        } else if (!strncmp(t->name, "token_embd.", 11) || !strncmp(t->name, "position_embd.", 14) ||
                   !strncmp(t->name, "token_types.", 12)) {
            params = &m->params_embed;
            bytes = &m->bytes_embed;
        } else if (!strncmp(t->name, "output.", 7)) {
            params = &m->params_output;
            bytes = &m->bytes_output;
        } else {
            params = &m->params_other;
            bytes = &m->bytes_other;
        }
        if (!u64_add(*params, t->n_elems, params) || !u64_add(*bytes, t->bytes, bytes))
            return err_set(g->err, GPUMEM_ERR_OVERFLOW, "tensor sizes overflow");
        hist_bytes[t->type] += t->bytes;
    }
    return GPUMEM_OK;
}

/* The recurrent architectures gpumem sizes and which of their layers keep
 * a recurrent state instead of a KV cache, as llama.cpp de3ff81's
 * load_arch_hparams sets hparams.is_recr (src/models/<arch>.cpp):
 *  - every layer: mamba, mamba2, and falcon-h1, whose layers also attend
 *    (attention and Mamba-2 side by side, models/falcon-h1.cpp);
 *  - head_count_kv[il] == 0: granitehybrid, lfm2, lfm2moe;
 *  - qwen3next: attention.recurrent_layers[il] where the key is given,
 *    else (il + 1) % full_attention_interval != 0 (default 4): gated
 *    delta-net linear attention, full attention on every interval-th layer.
 *  - nemotron_h, nemotron_h_moe: head_count_kv[il] == 0 and
 *    feed_forward_length[il] == 0; a layer with n_ff > 0 is an MLP or MoE
 *    block with neither state nor KV cache (create_memory's filters:
 *    attention where !is_recr && n_ff == 0).
 * shortconv: LFM2's short conv, whose only state is n_embd x (l_cache - 1)
 * (llama-hparams.cpp n_embd_r; n_embd_s is 0). */
typedef enum { RECR_ALL, RECR_NO_KV_HEADS, RECR_INTERVAL, RECR_NO_KV_NO_FF } recr_rule;
typedef struct {
    const char *arch;
    recr_rule rule;
    bool shortconv;
    bool with_attn; /* attention beside the state in every layer (falcon-h1:
                     * both layer filters of create_memory return true) */
} recurrent_arch;

static const recurrent_arch recurrent_archs[] = {
    {"mamba", RECR_ALL, false, false},
    {"mamba2", RECR_ALL, false, false},
    {"granitehybrid", RECR_NO_KV_HEADS, false, false},
    {"lfm2", RECR_NO_KV_HEADS, true, false},
    {"lfm2moe", RECR_NO_KV_HEADS, true, false},
    {"qwen3next", RECR_INTERVAL, false, false},
    {"falcon-h1", RECR_ALL, false, true},
    {"nemotron_h", RECR_NO_KV_NO_FF, false, false},
    {"nemotron_h_moe", RECR_NO_KV_NO_FF, false, false},
    {"jamba", RECR_NO_KV_HEADS, false, false},
};

static const recurrent_arch *recurrent_find(const char *arch)
{
    for (size_t i = 0; i < sizeof recurrent_archs / sizeof recurrent_archs[0]; i++)
        if (!strcmp(arch, recurrent_archs[i].arch))
            return &recurrent_archs[i];
    return NULL;
}

static bool layer_recurrent(gctx *g, const recurrent_arch *ra, uint32_t il, uint64_t nkv,
                            uint64_t n_ff, uint64_t interval)
{
    char key[160];
    switch (ra->rule) {
    case RECR_ALL:
        return true;
    case RECR_NO_KV_HEADS:
        return nkv == 0;
    case RECR_NO_KV_NO_FF:
        return nkv == 0 && n_ff == 0;
    case RECR_INTERVAL:
        snprintf(key, sizeof key, "%s.attention.recurrent_layers", g->arch);
        if (gguf_find(g->f, key))
            return layer_uint(g, "attention.recurrent_layers", il, 0) != 0;
        return (il + 1) % interval != 0;
    }
    return false;
}

static gpumem_status fill_layers(gctx *g, gpumem_model *m)
{
    uint64_t n_head0 = layer_uint(g, "attention.head_count", 0, 0);
    uint64_t window = 0, pattern = 0, kv_lora = 0, experts = 0, used = 0;
    key_uint(g, "attention.sliding_window", &window);
    key_uint(g, "attention.kv_lora_rank", &kv_lora);
    key_uint(g, "expert_count", &experts);
    key_uint(g, "expert_used_count", &used);
    for (size_t i = 0; i < sizeof swa_patterns / sizeof swa_patterns[0]; i++)
        if (strcmp(g->arch, swa_patterns[i].arch) == 0)
            pattern = swa_patterns[i].pattern;
    const recurrent_arch *ra = recurrent_find(g->arch);
    uint64_t groups = 0, interval = 4, l_cache = 0;
    key_uint(g, "ssm.group_count", &groups);
    key_uint(g, "full_attention_interval", &interval);
    if (ra && ra->shortconv && (!key_uint(g, "shortconv.l_cache", &l_cache) || !l_cache ||
                                l_cache > 65536))
        return err_set_at(g->err, GPUMEM_ERR_INVALID, g->file, -1, 0, 0,
                          "%s.shortconv.l_cache is missing or not in 1..65536", g->arch);
    if (ra && ra->rule == RECR_INTERVAL && !interval)
        return err_set_at(g->err, GPUMEM_ERR_INVALID, g->file, -1, 0, 0,
                          "%s.full_attention_interval is 0", g->arch);
    for (uint32_t il = 0; il < m->n_layer; il++) {
        model_layer *l = &m->layers[il];
        uint64_t nh = layer_uint(g, "attention.head_count", il, n_head0);
        uint64_t nkv = layer_uint(g, "attention.head_count_kv", il, nh);
        if (nh > UINT32_MAX || nkv > UINT32_MAX || (nh && nkv > nh))
            return err_set_at(g->err, GPUMEM_ERR_INVALID, g->file, -1, 0, 0,
                              "layer %u: %llu KV heads for %llu heads", il,
                              (unsigned long long)nkv, (unsigned long long)nh);
        l->n_head = (uint32_t)nh;
        l->n_head_kv = (uint32_t)nkv;
        uint64_t hd = nh ? m->n_embd / nh : 0;
        l->head_dim_k = (uint32_t)layer_uint(g, "attention.key_length", il, hd);
        l->head_dim_v = (uint32_t)layer_uint(g, "attention.value_length", il, l->head_dim_k);
        uint64_t ff_key = layer_uint(g, "feed_forward_length", il, 0);
        l->n_ff = (uint32_t)ff_key;
        l->gated_ff = layer_tensor(g->f, il, "ffn_gate.weight") != NULL ||
                      layer_tensor(g->f, il, "ffn_gate_exps.weight") != NULL;
        l->qk_norm = layer_tensor(g->f, il, "attn_q_norm.weight") != NULL;
        l->attn = nh ? ATTN_KIND_FULL : ATTN_KIND_NONE;
        if (window && pattern && il % pattern < pattern - 1) {
            l->attn = ATTN_KIND_SLIDING;
            l->window = (uint32_t)window;
        }
        if (kv_lora) {
            l->attn = ATTN_KIND_MLA;
            l->kv_lora_rank = (uint32_t)kv_lora;
            l->qk_rope_dim = (uint32_t)layer_uint(g, "rope.dimension_count", il, 64);
            l->head_dim_k = (uint32_t)layer_uint(g, "attention.key_length_mla", il, l->head_dim_k);
            l->head_dim_v =
                (uint32_t)layer_uint(g, "attention.value_length_mla", il, l->head_dim_v);
            l->n_head_kv = l->n_head;
        }
        const gguf_tensor *up = layer_tensor(g->f, il, "ffn_up_exps.weight");
        if (experts && up) {
            l->n_ff = 0;
            l->n_expert = (uint32_t)experts;
            l->n_expert_used = (uint32_t)used;
            l->n_ff_expert = (uint32_t)layer_uint(g, "expert_feed_forward_length", il, up->ne[1]);
            const gguf_tensor *sh = layer_tensor(g->f, il, "ffn_up_shexp.weight");
            l->n_ff_shared = sh ? (uint32_t)sh->ne[1] : 0;
        }
        if (ra && ra->rule == RECR_NO_KV_NO_FF && ff_key) {
            /* Nemotron-H: an MLP / MoE block, no mixer */
            l->n_head = l->n_head_kv = 0;
            l->attn = ATTN_KIND_NONE;
        }
        if (ra && layer_recurrent(g, ra, il, nkv, ff_key, interval)) {
            l->ssm = true;
            l->ssm_with_attn = ra->with_attn && nh;
            if (!l->ssm_with_attn)
                l->n_head = l->n_head_kv = 0;
            l->ssm_groups = (uint32_t)groups;
            /* Mamba-2's time_step_rank is its head count (models/mamba2.cpp) */
            l->ssm_heads = groups ? (uint32_t)layer_uint(g, "ssm.time_step_rank", il, 0) : 0;
            if (!l->ssm_with_attn)
                l->attn = ATTN_KIND_NONE;
            l->ssm_d_inner = (uint32_t)layer_uint(g, "ssm.inner_size", il, 0);
            l->ssm_d_state = (uint32_t)layer_uint(g, "ssm.state_size", il, 0);
            l->ssm_d_conv = (uint32_t)layer_uint(g, "ssm.conv_kernel", il, 0);
            l->ssm_dt_rank = (uint32_t)layer_uint(g, "ssm.time_step_rank", il, 0);
            if (ra->shortconv) { /* LFM2: a conv of l_cache taps over n_embd
                                  * channels, no SSM state (n_embd_r, n_embd_s) */
                l->ssm_d_inner = m->n_embd;
                l->ssm_d_conv = (uint32_t)l_cache;
                l->ssm_heads = l->ssm_groups = l->ssm_dt_rank = 0;
                continue;
            }
            /* llama.cpp requires these keys (ml.get_key, required) */
            if (!l->ssm_d_inner || !l->ssm_d_state || !l->ssm_d_conv)
                return err_set_at(g->err, GPUMEM_ERR_INVALID, g->file, -1, 0, 0,
                                  "'%s' layer %u is recurrent but %s.ssm.inner_size, "
                                  "ssm.state_size or ssm.conv_kernel is missing or 0",
                                  g->arch, il, g->arch);
        }
    }
    return GPUMEM_OK;
}

/* Recurrent architectures of llama.cpp whose state is not modelled:
 * reading them as attention or Mamba would under-count it. Sized (state
 * rows of llama-hparams.cpp n_embd_r/n_embd_s, de3ff81, measured in
 * validation/measurements/llamacpp_ssm.jsonl and llamacpp_hybrid.jsonl):
 * the recurrent_archs above (jamba in llamacpp_jamba.jsonl). Refused: RWKV
 * (token-shift and wkv state rows) and plamo2 (not measured); and any
 * other arch with an ssm.* or shortconv key. */
static bool recurrent_unmodelled(gctx *g)
{
    static const char *const archs[] = {"plamo2", "rwkv6", "rwkv6qwen2", "rwkv7", "arwkv7"};
    uint64_t v;
    if (recurrent_find(g->arch))
        return false;
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (strcmp(g->arch, archs[i]) == 0)
            return true;
    return key_uint(g, "ssm.state_size", &v) || key_uint(g, "ssm.conv_kernel", &v) ||
           key_uint(g, "shortconv.l_cache", &v);
}

/* Variants of a sized architecture that de3ff81 loads another way, not
 * measured: LFM2 with a sliding window (a hybrid-iswa memory,
 * llama-memory-hybrid-iswa.cpp) and Qwen3-Next or Nemotron-H with MTP
 * layers (their own
 * KV cache in an MTP context). NULL if none. */
static const char *recurrent_variant_unmodelled(gctx *g)
{
    uint64_t v = 0;
    if (!strncmp(g->arch, "lfm2", 4) && key_uint(g, "attention.sliding_window", &v) && v)
        return "attention.sliding_window (LFM2 with sliding-window attention layers)";
    if ((!strcmp(g->arch, "qwen3next") || !strncmp(g->arch, "nemotron_h", 10)) &&
        key_uint(g, "nextn_predict_layers", &v) && v)
        return "nextn_predict_layers (multi-token-prediction layers)";
    return NULL;
}

gpumem_status model_from_gguf(const gguf_file *f, const char *path, gpumem_model **out,
                              gpumem_error *err)
{
    *out = NULL;
    if (model_gguf_is_extra(f))
        return model_from_gguf_extra(f, path, out, err);
    const char *arch = gguf_get_str(f, "general.architecture");
    if (!arch)
        return err_set_at(err, GPUMEM_ERR_INVALID, path, -1, 0, 0,
                          "no general.architecture string in the metadata");
    gctx g = {f, arch, err, path};
    uint64_t layers = 0, embd = 0, ctx = 0;
    if (strcmp(arch, "nomic-bert-moe") == 0)
        return err_set_at(err, GPUMEM_ERR_UNSUPPORTED, path, -1, 0, 0,
                          "'nomic-bert-moe' is an MoE embedding encoder; gpumem sizes the dense "
                          "encoders llama.cpp de3ff81 runs (bert, nomic-bert, jina-bert-v2/v3, "
                          "neo-bert, modern-bert, eurobert, gemma-embedding), not its experts "
                          "in the encoder graph");
    if (recurrent_unmodelled(&g))
        return err_set_at(err, GPUMEM_ERR_UNSUPPORTED, path, -1, 0, 0,
                          "'%s' GGUF holds recurrent layers (Mamba-2, hybrid attention + SSM, "
                          "linear attention or short conv) whose state llama.cpp keeps in "
                          "its R/S buffers; gpumem sizes only 'mamba', 'mamba2', "
                          "'granitehybrid', 'qwen3next', 'lfm2', 'lfm2moe', 'falcon-h1', "
                          "'nemotron_h' and 'nemotron_h_moe' GGUFs so far. "
                          "Use the model's config.json for transformers or vLLM figures",
                          arch);
    const char *variant = recurrent_variant_unmodelled(&g);
    if (variant)
        return err_set_at(err, GPUMEM_ERR_UNSUPPORTED, path, -1, 0, 0,
                          "'%s' GGUF with %s: llama.cpp de3ff81 keeps its R/S state and KV "
                          "cache in another memory layout, which gpumem does not size yet",
                          arch, variant);
    if (!key_uint(&g, "block_count", &layers) || layers == 0 || layers > 100000)
        return err_set_at(err, GPUMEM_ERR_INVALID, path, -1, 0, 0,
                          "%s.block_count is missing or not in 1..100000", arch);
    if (!key_uint(&g, "embedding_length", &embd) || embd == 0 || embd > (1u << 20))
        return err_set_at(err, GPUMEM_ERR_INVALID, path, -1, 0, 0,
                          "%s.embedding_length is missing or implausible", arch);
    key_uint(&g, "context_length", &ctx);
    const gguf_tensor *emb = tensor(f, "token_embd.weight");
    gpumem_model *m = model_alloc((uint32_t)layers);
    if (!m)
        return err_set(err, GPUMEM_ERR_NOMEM, "out of memory");
    const char *base = strrchr(path, '/');
    snprintf(m->name, sizeof m->name, "%s", base ? base + 1 : path);
    snprintf(m->architecture, sizeof m->architecture, "%s", arch);
    m->source = GPUMEM_SOURCE_GGUF;
    m->architecture_known = true;
    m->n_embd = (uint32_t)embd;
    m->max_ctx = ctx > UINT32_MAX ? UINT32_MAX : (uint32_t)ctx;
    m->n_vocab = emb && emb->n_dims >= 2 ? (uint32_t)emb->ne[1] : 0;
    m->tied = tensor(f, "output.weight") == NULL;
    m->is_encoder = is_encoder_arch(arch);
    uint64_t pool = 0;
    m->gguf_pooling = key_uint(&g, "pooling_type", &pool) && pool <= 4 ? (int8_t)pool : -1;
    char lkey[160];
    snprintf(lkey, sizeof lkey, "%s.classifier.output_labels", arch);
    const gguf_kv *labels = gguf_find(f, lkey);
    m->n_cls_out = labels && labels->type == GV_ARRAY && labels->arr_len <= UINT32_MAX
                       ? (uint32_t)labels->arr_len
                       : 0;
    m->bytes_output_dup = m->tied && !m->is_encoder && emb ? emb->bytes : 0;
    m->dtype = emb && emb->type == 30 ? GPUMEM_DTYPE_BF16
               : emb && emb->type == 0 ? GPUMEM_DTYPE_FP32
                                        : GPUMEM_DTYPE_FP16;
    uint64_t hist[GGML_TYPE_SLOTS] = {0};
    gpumem_status st = fill_layers(&g, m);
    if (st == GPUMEM_OK)
        st = classify(&g, m, hist);
    if (st == GPUMEM_OK)
        st = model_finish(m, err);
    if (st != GPUMEM_OK) {
        gpumem_model_free(m);
        return st;
    }
    m->has_storage = true;
    m->bytes_total = f->data_bytes;
    uint64_t ft;
    double bpw = m->params_total ? f->data_bytes * 8.0 / m->params_total : 0;
    snprintf(m->storage_desc, sizeof m->storage_desc, "%s, %.2f bits/weight",
             gguf_get_uint(f, "general.file_type", &ft) ? ftype_name(ft) : "mixed", bpw);
    *out = m;
    return GPUMEM_OK;
}
