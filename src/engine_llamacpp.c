/* llama.cpp, as the source in node-llama-cpp 3.22.1 builds it (0.5.0-dev,
 * commit de3ff81, the default), and the rules of older builds where their
 * source differs (--llamacpp-version, the table `versions` below): the
 * buffers it prints at load, per device.
 *  - model: the GGUF's tensor bytes. de3ff81 counts the output layer first
 *    in -ngl: layers il >= n_layer + 1 - ngl go to the GPUs (il == n_layer
 *    is the output layer); builds before PR #18148 (merged 2025-12-18)
 *    start at n_layer - ngl and reach the output only when ngl > n_layer.
 *    Token embeddings stay on the host; over several GPUs layer il goes to
 *    the first device whose cumulative -ts share exceeds (il - start) /
 *    min(ngl, n_layer + 1), in float as llama.cpp computes it
 *    (llama-model.cpp load_tensors, get_layer_buft_list);
 *  - KV: n_ctx padded, per sequence n_ctx_seq = pad(n_ctx / np) unless
 *    unified; de3ff81 pads to 256 (llama-context.cpp, PR #17046), builds
 *    before PR #16812 to 256 with flash attention and 32 without
 *    (llama_kv_cache_unified::get_padding, PR #7257). K and V rows of the
 *    cache types; sliding-window layers hold min(n_ctx_seq, pad(n_swa *
 *    (unified ? np : 1) + n_ubatch)) cells per stream unless --swa-full;
 *    MLA caches only K (latent + rope) (llama-kv-cache.cpp,
 *    llama-kv-cache-iswa.cpp);
 *  - output: n_vocab x n_seq floats on the host (output_reserve);
 *  - compute: the graph allocator's worst case over a full ubatch, fitted
 *    to the printed sizes of the real CPU build (validation/measurements/
 *    llamacpp.jsonl): the larger of the logits phase and the attention
 *    phase of the layer with the most cells; each GPU's over its own
 *    layers (modelled: no GPU was measured);
 *  - the attention mask: with flash attention de3ff81 fills it in f16 on
 *    the host (llama-graph.cpp build_attn_inp_kq_mask, PR #23764, merged
 *    2026-05-28); older builds fill an f32 mask and cast it to f16 on the
 *    device that runs the attention;
 *  - op offload: with weights left on the host (--cpu-moe, --n-cpu-moe,
 *    layers beyond -ngl) and a ubatch of 32 tokens or more, the scheduler
 *    runs their matmuls on the first GPU, copying one host weight at a time
 *    into its compute buffer (ggml-backend.cpp, offload_op; the CUDA
 *    backend's minimum batch is 32): the largest such tensor, one layer's
 *    activations (MoE: ubatch x experts used x 3 expert widths f32 and the
 *    input rows; dense: input and output rows of the widest matmul, twice)
 *    and the masks (op_offload_bytes);
 *  - embedding models (encoders always, decoders with embeddings on): as
 *    de3ff81's llama-embedding sets them up, no KV cache for an encoder,
 *    logits + embeddings output rows, the encoder graph and the growth of
 *    both buffers when a full batch is embedded (encoder_compute, run()). */
#include "llamacpp_internal.h"
#include "ggml_types_internal.h"
#include "util_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint64_t MiB = 1ull << 20;
/* CUDA context of a llama.cpp process with the CUDA backend (modelled: not
 * printed by llama.cpp; cuBLAS handles and CUDA graphs come on top). */
static const uint64_t cuda_context_bytes = 384ull << 20;

/* The runtime's own memory beside llama.cpp's buffers, named for the GPU's
 * backend; measured only for CUDA, the same reserve elsewhere. */
static const char *context_note(const gpumem_gpu *g)
{
    const char *vendor = g ? g->vendor : "nvidia";
    if (!strcmp(vendor, "amd"))
        return "HIP context and hipBLAS (modelled as CUDA's, not printed)";
    if (!strcmp(vendor, "apple"))
        return "Metal device and queues (a reserve modelled as CUDA's, not printed)";
    return "CUDA context and cuBLAS (modelled, not printed)";
}

static uint64_t pad(uint64_t x, uint64_t n) { return (x + n - 1) / n * n; }

static const lcpp_version versions[] = {
    {"de3ff81", true, 256, 256, true, true},
    {"b6699", false, 256, 32, false, true},
    {"b5050", false, 256, 32, false, false},
};
#define N_VERSIONS (sizeof versions / sizeof versions[0])

static const lcpp_version *version_find(const char *name)
{
    if (!name || !*name)
        return &versions[0];
    for (size_t i = 0; i < N_VERSIONS; i++)
        if (str_ieq(name, versions[i].name))
            return &versions[i];
    return NULL;
}

/* Bytes of one cache row of `n` elements of ggml type `t`. */
static uint64_t row_bytes(int t, uint64_t n)
{
    uint64_t b = 0;
    ggml_tensor_bytes((uint32_t)t, n, n, &b);
    return b;
}


/* The GPU of layer il (il == n_layer: the output layer), or -1: host. */
int lcpp_layer_device(const lcpp *c, int64_t il)
{
    if (!c->gpu || il < c->start || il - c->start >= c->act)
        return -1;
    float x = (float)(il - c->start) / (float)c->act;
    for (uint32_t d = 0; d < c->n_dev; d++)
        if (c->splits[d] > x)
            return (int)d;
    return (int)c->n_dev - 1;
}

/* Cells one stream of layer l holds. */
uint64_t lcpp_layer_cells(const model_layer *l, const lcpp *c)
{
    if (l->attn == ATTN_KIND_SLIDING && !c->swa_full && c->v->swa_cache) {
        uint64_t want = (uint64_t)l->window * (c->unified ? c->n_seq : 1) + c->ub;
        /* de3ff81: pad(min(n_ctx_seq, want), 256); older builds
         * min(n_ctx_seq, pad(want)): the same cells, n_ctx_seq being a
         * multiple of the padding in both */
        uint64_t cap = c->n_ctx_seq, w = pad(want, c->pad);
        return w < cap ? w : cap;
    }
    return c->n_ctx_seq;
}

/* A layer with a KV cache: attention, alone or beside a recurrent mixer
 * (Falcon-H1). */
bool lcpp_layer_attends(const model_layer *l)
{
    return l->attn != ATTN_KIND_NONE && (!l->ssm || l->ssm_with_attn);
}

static void layer_kv_bytes(const model_layer *l, const lcpp *c, uint64_t *k, uint64_t *v)
{
    *k = *v = 0;
    if (c->encoder || !lcpp_layer_attends(l))
        return;
    uint64_t cells = lcpp_layer_cells(l, c) * c->n_stream;
    if (l->attn == ATTN_KIND_MLA) { /* one latent "head", no V (is_mla) */
        *k = row_bytes(c->tk, (uint64_t)l->kv_lora_rank + l->qk_rope_dim) * cells;
        return;
    }
    *k = row_bytes(c->tk, (uint64_t)l->n_head_kv * l->head_dim_k) * cells;
    *v = row_bytes(c->tv, (uint64_t)l->n_head_kv * l->head_dim_v) * cells;
}

/* The recurrent state of layer l (llama-memory-recurrent.cpp, de3ff81):
 * per cell an f32 row of n_embd_r = (d_conv - 1) x (d_inner + 2 x groups x
 * d_state) (the conv state; Mamba-1 has no groups) and one of n_embd_s =
 * d_state x d_inner (the SSM state) (llama-hparams.cpp), with max(1,
 * n_seq_max) cells whatever the context (llama-model.cpp create_memory;
 * no rollback snapshots: n_rs_seq is 0 outside speculative decoding).
 * mamba2-370m at -np 2 prints R 0.49 MiB, S 18.00 MiB (12 layers,
 * validation/measurements/llamacpp_ssm.jsonl). Applied to b6699 as well,
 * unmeasured there. */
static uint64_t layer_rs_bytes(const model_layer *l, const lcpp *c)
{
    if (!l->ssm)
        return 0;
    uint64_t conv = l->ssm_d_conv ? l->ssm_d_conv - 1ull : 0;
    uint64_t r = conv * ((uint64_t)l->ssm_d_inner + 2ull * l->ssm_groups * l->ssm_d_state);
    uint64_t st = (uint64_t)l->ssm_d_state * l->ssm_d_inner;
    return (r + st) * 4 * (c->n_seq ? c->n_seq : 1);
}

static gpumem_status add_mib(gpumem_device *d, const char *name, uint64_t bytes,
                             gpumem_error *err, const char *note)
{
    return device_add(d, name, bytes, err, "llama.cpp prints %.2f MiB; %s", (double)bytes / MiB,
                      note);
}

gpumem_status gpumem_cache_type_parse(const char *name, int *out, gpumem_error *err)
{
    static const char *const allowed[] = {"f32",  "f16",  "bf16", "q8_0", "q4_0",
                                          "q4_1", "iq4_nl", "q5_0", "q5_1"};
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
        if (str_ieq(name, allowed[i])) {
            *out = ggml_type_by_name(allowed[i]) + 1;
            return GPUMEM_OK;
        }
    return err_set(err, GPUMEM_ERR_NOT_FOUND,
                   "unknown cache type '%s' (llama.cpp takes f32, f16, bf16, q8_0, q4_0, q4_1, "
                   "iq4_nl, q5_0, q5_1)",
                   name);
}

gpumem_status gpumem_tensor_split_parse(const char *text, gpumem_settings *s, gpumem_error *err)
{
    double v[GPUMEM_MAX_SPLIT] = {0};
    uint32_t n = 0;
    bool any = false;
    const char *p = text ? text : "";
    for (;;) {
        char *end = NULL;
        if (n == GPUMEM_MAX_SPLIT)
            return err_set(err, GPUMEM_ERR_USAGE, "--tensor-split takes at most %d shares",
                           GPUMEM_MAX_SPLIT);
        double x = strtod(p, &end);
        if (end == p || !(x >= 0) || x > 1e9 || (*end && *end != ',' && *end != '/'))
            return err_set(err, GPUMEM_ERR_USAGE,
                           "--tensor-split '%s': expected shares like 3,1 (non-negative numbers)",
                           text ? text : "");
        v[n++] = x;
        any |= x > 0;
        if (!*end)
            break;
        p = end + 1;
    }
    if (!any)
        return err_set(err, GPUMEM_ERR_USAGE, "--tensor-split '%s': every share is zero", text);
    memcpy(s->tensor_split, v, sizeof v);
    s->gpus = n;
    return GPUMEM_OK;
}

/* A LoRA adapter's buffers per device (index n_dev: the host): each
 * adapter tensor goes to the buffer type of the model tensor it adapts,
 * the host's for token embeddings and for tensors left on the host
 * (llama-adapter.cpp llama_adapter_lora_init_impl, de3ff81); each buffer
 * pads its tensors to its alignment (32 B host, 128 B CUDA). */
static void lora_place(const gpumem_model *a, const gpumem_model *m, const lcpp *c,
                       uint64_t *out)
{
    uint32_t host = c->n_dev;
    int od = lcpp_layer_device(c, m->n_layer);
    out[host] += a->lora_embed[0] + a->lora_other[0];
    out[od < 0 ? host : (uint32_t)od] += a->lora_output[od < 0 ? 0 : 1];
    for (uint32_t i = 0; i < a->n_layer && i < m->n_layer; i++) {
        int d = lcpp_layer_device(c, i);
        out[d < 0 ? host : (uint32_t)d] += a->layers[i].bytes_lora[d < 0 ? 0 : 1];
    }
}

static const char *const pooling_names[GPUMEM_POOLING_COUNT] = {"default", "none", "mean",
                                                                "cls",     "last", "rank"};

const char *gpumem_pooling_name(gpumem_pooling pooling)
{
    return (unsigned)pooling < GPUMEM_POOLING_COUNT ? pooling_names[pooling] : "?";
}

gpumem_status gpumem_pooling_parse(const char *name, gpumem_pooling *out, gpumem_error *err)
{
    for (int i = 0; i < GPUMEM_POOLING_COUNT; i++)
        if (name && str_ieq(name, pooling_names[i])) {
            *out = (gpumem_pooling)i;
            return GPUMEM_OK;
        }
    return err_set(err, GPUMEM_ERR_USAGE,
                   "unknown pooling '%s' (llama.cpp --pooling: none, mean, cls, last, rank)",
                   name ? name : "");
}

/* Embeddings on: an encoder always (its graph has no other use), a decoder
 * with --embedding, --pooling/--rerank, or a pooling_type key of its own
 * (e.g. Qwen3-Embedding GGUFs carry qwen3.pooling_type = last). */
static bool embedding_on(const gpumem_model *m, const gpumem_settings *s)
{
    return m->is_encoder || s->embedding || s->pooling != GPUMEM_POOLING_DEFAULT ||
           m->gguf_pooling > 0;
}

/* --pooling, else the GGUF's pooling_type, else none (llama-context.cpp:
 * LLAMA_POOLING_TYPE_UNSPECIFIED falls back to hparams, then NONE). */
static gpumem_pooling pooling_of(const gpumem_model *m, const gpumem_settings *s)
{
    if (s->pooling != GPUMEM_POOLING_DEFAULT)
        return s->pooling;
    return m->gguf_pooling >= 0 ? (gpumem_pooling)(GPUMEM_POOLING_NONE + m->gguf_pooling)
                                : GPUMEM_POOLING_NONE;
}

/* One model's buffers per device into `out` (the draft's too: `draft`
 * keeps the CUDA context out, reserves logits for one output per sequence
 * and reads the draft's -ngld and cache types). */
static gpumem_status run(const gpumem_model *m, const engine_req *r, const gpumem_settings *s,
                         bool draft, gpumem_estimate *out, gpumem_error *err)
{
    if (!m->layers)
        return err_set(err, GPUMEM_ERR_USAGE, "llama.cpp needs the architecture: give a GGUF file");
    lcpp c;
    memset(&c, 0, sizeof c);
    if (!(c.v = version_find(s->llamacpp_version)))
        return err_set(err, GPUMEM_ERR_USAGE,
                       "unknown llama.cpp version '%s' (modelled: de3ff81, the default, b6699 "
                       "and b5050)",
                       s->llamacpp_version);
    c.n_seq = s->n_parallel ? s->n_parallel : 1;
    c.unified = s->kv_unified != 0;
    c.emb = !draft && embedding_on(m, s);
    c.encoder = c.emb && m->is_encoder;
    c.pool = c.emb ? pooling_of(m, s) : GPUMEM_POOLING_NONE;
    /* llama-embedding (de3ff81): -np 1 turns into LLAMA_MAX_SEQ = 256
     * sequences in a unified cache, -b is raised to -c, and -ub set to -b
     * (attention_type is not causal unless asked). */
    if (c.emb && c.n_seq == 1) {
        c.n_seq = 256;
        c.unified = true;
    }
    /* n_batch = min(ctx, -b) with causal attention (-b alone without),
     * n_ubatch = min(n_batch, -ub), before the context is padded
     * (llama-context.cpp). */
    c.ub = s->n_ubatch ? s->n_ubatch : 512;
    uint64_t n_batch = r->batch > 1 ? r->batch : 2048;
    if (c.emb && n_batch < r->context)
        n_batch = r->context;
    if (c.emb)
        c.ub = n_batch;
    if (!c.encoder && n_batch > r->context)
        n_batch = r->context;
    if (c.ub > n_batch)
        c.ub = n_batch;
    c.n_batch = n_batch;
    /* A decoder run as an embedder (every token an output) holds beside its
     * logits: for mean pooling the transposed copy of the last rows it
     * multiplies with its matrix (ggml_cont, ub x n_embd f32); without flash
     * attention the f32 mask of the streams (n_ctx_seq x ub x 4 B).
     * mha-tied-130m (n_embd 1024, 32000 tokens), CPU, ub 4096: -fa on, -np 1:
     * 553.11 MiB printed = 500 logits + 32 rows + 16 copy + 4 mean matrix
     * (+1.1 not modelled); -fa off, -np 4 (1024 cells each): 548.02 without
     * pooling = 532 + 16 mask, 564.14 with mean = 548 + 16 copy
     * (validation/measurements/llamacpp_embed.jsonl; the first and last). */
    if (c.emb && !m->is_encoder && c.pool == GPUMEM_POOLING_MEAN)
        c.out_extra = c.ub * m->n_embd * 4;
    c.draft = draft;
    c.nkvo = s->no_kv_offload != 0;
    c.fa = s->flash_attn != 2;
    /* With -nkvo the flash-attention op reads a host cache and runs on the
     * CPU, which the auto check (llama-context.cpp resolve_fused_ops)
     * counts as a device mismatch for an offloaded layer: -fa auto turns
     * off when any layer is offloaded. */
    int want = draft ? s->n_gpu_layers_draft : s->n_gpu_layers;
    bool any_gpu = s->gpu != NULL && !(s->split_mode == GPUMEM_SPLIT_NONE && s->main_gpu < 0);
    if (c.nkvo && any_gpu && want != 0 && s->flash_attn == 0)
        c.fa = false;
    c.swa_full = s->swa_full != 0;
    int ctk = draft ? s->cache_type_k_draft : s->cache_type_k;
    int ctv = draft ? s->cache_type_v_draft : s->cache_type_v;
    c.tk = ctk ? ctk - 1 : 1;
    c.tv = ctv ? ctv - 1 : 1;
    if (ggml_type_get((uint32_t)c.tv)->block_size > 1 && !c.fa)
        return err_set(err, GPUMEM_ERR_USAGE,
                       "llama.cpp needs flash attention (-fa on) for a quantised V cache");
    c.pad = c.fa ? c.v->pad_fa : c.v->pad_no_fa;
    c.n_ctx = pad(r->context, c.pad);
    c.n_stream = c.unified ? 1 : c.n_seq;
    c.n_ctx_seq = c.unified ? c.n_ctx : pad(c.n_ctx / c.n_seq, c.pad);
    if (!c.unified)
        c.n_ctx = c.n_ctx_seq * c.n_seq;
    if (c.emb && !m->is_encoder && !c.fa) /* see out_extra above */
        c.out_extra += c.n_ctx_seq * c.ub * 4;
    /* With a GPU, -ngl 0 still uses it: op offload runs the host's big
     * matmuls there (a public Qwen3-235B log prints 742.0 MiB of CUDA0
     * compute with no layer offloaded). */
    /* -sm none -mg -1 clears the device list (llama.cpp.cpp
     * llama_model_load_from_file_impl). */
    c.gpu = any_gpu;
    c.op_dev = s->split_mode == GPUMEM_SPLIT_NONE ? s->main_gpu : 0;
    c.moe_mask = s->cpu_moe_mask;
    c.s = s;
    int64_t nl = m->n_layer, ngl = !c.gpu ? 0 : want < 0 ? nl + 1 : want;
    /* The draft context reserves one output per sequence (common/
     * speculative.cpp: n_outputs_max = n_parallel), the target n_batch. */
    c.out_rows = draft ? (c.n_seq < c.ub ? c.n_seq : c.ub) : c.ub;
    int64_t lo = (c.v->output_first ? nl + 1 : nl) - ngl; /* i_gpu_start */
    c.start = lo > 0 ? lo : 0;
    c.act = ngl < nl + 1 ? ngl : nl + 1;
    c.n_dev = c.gpu ? (r->tp ? r->tp : 1) : 0;
    if (c.n_dev > GPUMEM_MAX_SPLIT)
        return err_set(err, GPUMEM_ERR_USAGE, "llama.cpp takes at most %d devices (got %u)",
                       GPUMEM_MAX_SPLIT, c.n_dev);
    float sum = 0;
    bool any = false;
    for (uint32_t d = 0; d < c.n_dev; d++)
        any |= s->tensor_split[d] > 0;
    for (uint32_t d = 0; d < c.n_dev; d++) {
        /* -sm none: every offloaded layer on GPU -mg (the device list holds
         * only it). */
        float share = any ? (float)s->tensor_split[d] : 1.0f;
        if (s->split_mode == GPUMEM_SPLIT_NONE)
            share = (int)d == s->main_gpu ? 1.0f : 0.0f;
        sum += share;
        c.splits[d] = sum;
    }
    for (uint32_t d = 0; d < c.n_dev; d++)
        c.splits[d] /= sum;
    c.output_on_gpu = lcpp_layer_device(&c, nl) >= 0;
    bool overrides = s->n_cpu_moe != 0 || s->n_ffn_moves != 0;
    for (size_t w = 0; w < GPUMEM_MAX_MASK_LAYERS / 64; w++)
        overrides |= s->cpu_moe_mask[w] != 0;
    c.pipeline = c.gpu && c.n_dev > 1 && ngl > nl && s->split_mode == GPUMEM_SPLIT_LAYER &&
                 !c.nkvo && !overrides;
    /* An encoder's buffers for T tokens now and for a full batch later. */
    uint64_t t_res = lcpp_encoder_tokens_reserved(&c), t_run = c.ub;
    uint64_t seq_run = c.n_seq < t_run ? c.n_seq : t_run;

    /* Storage by device: index n_dev is the host. */
    uint64_t w[GPUMEM_MAX_SPLIT + 1] = {0}, kv[GPUMEM_MAX_SPLIT + 1] = {0},
             rs[GPUMEM_MAX_SPLIT + 1] = {0};
    uint32_t first[GPUMEM_MAX_SPLIT + 1], last[GPUMEM_MAX_SPLIT + 1],
        count[GPUMEM_MAX_SPLIT + 1] = {0};
    for (uint32_t d = 0; d <= c.n_dev; d++)
        first[d] = last[d] = 0;
    int out_dev = lcpp_layer_device(&c, nl);
    uint32_t host = c.n_dev;
    w[host] = m->bytes_embed + m->bytes_other;
    w[out_dev < 0 ? host : (uint32_t)out_dev] += m->bytes_output;
    if (out_dev >= 0) /* tied: token_embd copied to the output's GPU */
        w[out_dev] += m->bytes_output_dup;
    uint32_t cpu_moe = s->n_cpu_moe < 0 ? m->n_layer : (uint32_t)s->n_cpu_moe;
    for (uint32_t i = 0; i < m->n_layer; i++) {
        const model_layer *l = &m->layers[i];
        uint64_t lw = l->bytes_linear + l->bytes_expert + l->bytes_small, k, v;
        layer_kv_bytes(l, &c, &k, &v);
        int dv = lcpp_layer_device(&c, i);
        uint32_t d = dv < 0 ? host : (uint32_t)dv;
        bool exps_host = dv >= 0 && (i < cpu_moe || cpu_moe_masked(c.moe_mask, i));
        if (exps_host) { /* -ot ...exps=CPU */
            lw -= l->bytes_expert;
            w[host] += l->bytes_expert;
        }
        const gpumem_ffn_move *mv = ffn_move_of(s, i);
        if (mv) { /* -ot blk\.N\.ffn_...=CPU or CUDA<k>: part of the FFN elsewhere */
            if (mv->device >= (int)c.n_dev)
                return err_set(err, GPUMEM_ERR_USAGE, "-ot: layer %u's FFN to CUDA%d of %u GPU(s)",
                               i, mv->device, c.n_dev);
            uint64_t exps, b = ffn_part_bytes(l, mv->part, &exps);
            b -= exps_host ? exps : 0; /* those experts are on the host already */
            lw -= b;
            w[mv->device < 0 ? host : (uint32_t)mv->device] += b;
        }
        w[d] += lw;
        kv[c.nkvo ? host : d] += k + v; /* -nkvo: llama-kv-cache.cpp, offload false */
        rs[c.nkvo ? host : d] += layer_rs_bytes(l, &c); /* the same offload_kqv flag */
        if (!count[d]++)
            first[d] = i;
        last[d] = i + 1;
    }
    if (!m->has_storage)
        return err_set(err, GPUMEM_ERR_USAGE,
                       "the llama.cpp engine sizes weights from a GGUF file: give one");
    c.ngl = m->n_layer - count[host];
    uint64_t lora[GPUMEM_MAX_SPLIT + 1] = {0};
    if (!draft && s->lora)
        lora_place(s->lora, m, &c, lora);
    /* output_reserve: logits always, plus n_embd floats per output with
     * embeddings on; an embedding run outputs every token of a batch, so
     * decode()/encode() grow it to max(batch tokens, n_seq_max) rows
     * (output_reserve(n_tokens); the growth is logged only in debug
     * builds). */
    uint64_t out_row = ((uint64_t)m->n_vocab + (c.emb ? m->n_embd : 0)) * 4;
    uint64_t output = out_row * c.n_seq;
    uint64_t output_growth = c.emb && c.n_batch > c.n_seq ? out_row * (c.n_batch - c.n_seq) : 0;
    char kvnote[GPUMEM_NOTE_LEN];
    snprintf(kvnote, sizeof kvnote, "%llu cells x %llu stream(s), K %s V %s",
             (unsigned long long)c.n_ctx_seq, (unsigned long long)c.n_stream,
             ggml_type_get((uint32_t)c.tk)->name, ggml_type_get((uint32_t)c.tv)->name);

    char outnote[96] = "logits: n_vocab x n_seq x f32";
    if (c.emb)
        snprintf(outnote, sizeof outnote, "%s, %s pooling: (n_vocab + n_embd) x n_seq x f32",
                 c.pool == GPUMEM_POOLING_RANK ? "reranker" : "embeddings",
                 gpumem_pooling_name(c.pool));
    char growth_note[GPUMEM_NOTE_LEN];
    snprintf(growth_note, sizeof growth_note,
             "not printed at load: encode() re-reserves the graph for a batch of %llu tokens "
             "(a warning at exit gives the size)",
             (unsigned long long)t_run);
    char rsnote[GPUMEM_NOTE_LEN];
    snprintf(rsnote, sizeof rsnote, "R (conv) and S (SSM) f32 rows x %llu cell(s)",
             (unsigned long long)(c.n_seq ? c.n_seq : 1));
    gpumem_status st = GPUMEM_OK;
    const gpumem_device *biggest = NULL;
    /* on GPU0; RPC devices take none (ggml-rpc.cpp: offload_op NULL) */
    uint64_t offload = s->rpc_devices ? 0 : lcpp_op_offload_bytes(m, &c, cpu_moe);
    for (uint32_t d = 0; d < c.n_dev; d++) {
        gpumem_device *gpu = &out->devices[d];
        snprintf(gpu->name, sizeof gpu->name, "gpu%u", d);
        char note[96];
        snprintf(note, sizeof note, "%u of %u layers%s", count[d], m->n_layer,
                 out_dev == (int)d ? " + output" : "");
        bool has_out = out_dev == (int)d;
        bool idle = !count[d] && !has_out;
        uint32_t f = first[d], l = last[d];
        uint64_t graph =
            idle          ? 0
            : c.encoder   ? lcpp_encoder_device(m, &c, f, l, false, t_res, c.n_seq)
            : c.pipeline  ? lcpp_pipeline_compute(m, &c, f, l, has_out)
            : s->rpc_devices ? lcpp_rpc_compute(m, &c, f, l, has_out)
                          : lcpp_compute_bytes(m, &c, f, l, has_out, true,
                                               lcpp_streams_host_weights(m, &c, d, cpu_moe));
        if (c.emb && !c.encoder && has_out) /* the pooling inputs beside the logits */
            graph += lcpp_pooling_bytes(m, &c, c.ub, c.n_seq);
        uint64_t growth = 0;
        if (c.encoder && !idle) {
            uint64_t run_b = lcpp_encoder_device(m, &c, first[d], last[d], false, t_run, seq_run);
            growth = run_b > graph ? run_b - graph : 0;
        }
        bool streams = (int)d == c.op_dev && offload > graph;
        if ((st = add_mib(gpu, "weights", w[d], err, note)) ||
            (!c.nkvo && !c.encoder && (st = add_mib(gpu, "kv_cache", kv[d], err, kvnote))) ||
            (rs[d] && (st = add_mib(gpu, "recurrent_state", rs[d], err, rsnote))) ||
            (lora[d] && (st = add_mib(gpu, "lora", lora[d], err,
                                      "adapter tensors beside the layers they adapt"))) ||
            (st = add_mib(gpu, "compute", streams ? offload : graph, err,
                          streams    ? "host weights streamed for the ubatch (op offload)"
                          : c.encoder  ? "encoder graph (fitted to llama-embedding's CPU build)"
                          : c.pipeline ? "4 copies of its inputs (pipeline parallelism) + graph"
                                       : "worst-case graph (fitted to llama.cpp's CPU build)")) ||
            (growth && (st = device_add(gpu, "compute_growth", growth, err, "%s", growth_note))) ||
            (!draft && !s->rpc_devices &&
             (s->split_mode != GPUMEM_SPLIT_NONE || (int)d == s->main_gpu) &&
             (st = device_add(gpu, "cuda_context", cuda_context_bytes, err, "%s",
                              context_note(s->n_targets > d ? s->targets[d].gpu : s->gpu)))))
            return st;
        if (!biggest || gpu->bytes > biggest->bytes)
            biggest = gpu;
    }
    gpumem_device *hd = &out->devices[c.n_dev];
    snprintf(hd->name, sizeof hd->name, "host");
    hd->is_host = 1;
    bool host_inputs = c.gpu && !count[host] && c.output_on_gpu;
    uint32_t hf = first[host], hl = last[host];
    uint64_t host_compute =
        c.encoder     ? lcpp_encoder_device(m, &c, hf, hl, host_inputs, t_res, c.n_seq)
        : c.pipeline  ? lcpp_pipeline_host(m, &c)
        : host_inputs ? lcpp_gpu_host_inputs(m, &c)
                      : lcpp_compute_bytes(m, &c, hf, hl, !c.output_on_gpu, false, false);
    if (c.emb && !c.encoder && !c.output_on_gpu)
        host_compute += lcpp_pooling_bytes(m, &c, c.ub, c.n_seq);
    uint64_t host_growth = 0;
    if (c.encoder) {
        uint64_t run_b =
            lcpp_encoder_device(m, &c, first[host], last[host], host_inputs, t_run, seq_run);
        host_growth = run_b > host_compute ? run_b - host_compute : 0;
    }
    /* -nkvo: every node from the KV store to the attention output runs on
     * the CPU (llama-graph.cpp build_attn_mha sets kqv_merged_cont's
     * backend; the cache is on the host): the host buffer holds the
     * attention phase of the offloaded layers too, and the GPUs lose it
     * (compute_bytes). Modelled: no GPU log with -nkvo was measured. */
    if (c.nkvo && c.gpu && c.ngl) {
        uint64_t sw, fu;
        host_compute += lcpp_attn_phase(m, &c, 0, m->n_layer, &sw, &fu);
    }
    if ((st = add_mib(hd, "weights", w[host], err,
                      c.gpu ? "token embeddings + CPU layers" : "all tensors (mmap)")) ||
        (kv[host] && (st = add_mib(hd, "kv_cache", kv[host], err, kvnote))) ||
        (rs[host] && (st = add_mib(hd, "recurrent_state", rs[host], err, rsnote))) ||
        (lora[host] && (st = add_mib(hd, "lora", lora[host], err,
                                     "adapter tensors beside the layers they adapt"))) ||
        (st = add_mib(hd, "output", output, err, outnote)) ||
        (output_growth &&
         (st = device_add(hd, "output_growth", output_growth, err,
                          "not printed: the output buffer grows to %llu rows when a batch of "
                          "-b tokens is embedded (output_reserve)",
                          (unsigned long long)c.n_batch))) ||
        (st = add_mib(hd, "compute", host_compute, err, "worst-case graph on the host")) ||
        (host_growth &&
         (st = device_add(hd, "compute_growth", host_growth, err, "%s", growth_note))))
        return st;
    out->n_devices = c.n_dev + 1;
    /* The busiest GPU is the one that must fit; without a GPU, the host. */
    const gpumem_device *main = biggest ? biggest : hd;
    out->n_components = main->n_components;
    memcpy(out->components, main->components, sizeof out->components);
    out->per_gpu_bytes = biggest ? biggest->bytes : 0;
    out->context = c.n_ctx;
    out->batch = c.n_seq;
    char ts[64] = "";
    if (c.n_dev > 1 && any) {
        size_t n = (size_t)snprintf(ts, sizeof ts, ", -ts ");
        for (uint32_t d = 0; d < c.n_dev && n < sizeof ts; d++)
            n += (size_t)snprintf(ts + n, sizeof ts - n, "%s%g", d ? "," : "", s->tensor_split[d]);
    }
    snprintf(out->description, sizeof out->description,
             "llama.cpp %s: %s; n_ctx %llu, %llu seq%s%s, ubatch %llu, flash attention %s, "
             "-ngl %lld%s%s",
             c.v->name, m->storage_desc, (unsigned long long)c.n_ctx,
             (unsigned long long)c.n_seq, c.n_seq == 1 ? "" : "s",
             c.unified && !c.encoder ? " (unified KV)" : "",
             (unsigned long long)c.ub, c.fa ? "on" : "off", (long long)c.act,
             c.gpu ? "" : " (CPU only)", ts);
    if (!draft) {
        out->embedding = !c.emb ? 0 : c.pool == GPUMEM_POOLING_RANK ? 2 : 1;
        out->pooling = c.pool;
    }
    return GPUMEM_OK;
}

/* The compute buffer of the projector's warm-up graph: one image of
 * clip.vision.image_size squared (clip.cpp warmup, hparams.
 * warmup_image_size; projectors that cap their warm-up tokens get less),
 * with flash attention unless -fa off (mtmd passes it on; auto enables it
 * where the backend has the op). Fitted to the de3ff81 CPU build's
 * "reserve_compute_meta: CPU compute buffer size" for three LLaVA-type
 * ViTs (validation/measurements/llamacpp_extras.jsonl): the f32 image,
 * then n_pos = patches + 1 rows of the FFN (n_ff + 4 n_embd floats) or of
 * the projector (2 x projection_dim); without flash attention the f32
 * scores of every head beside 5 rows of n_embd. Exact for the 336-px ViT
 * (19.32 and 32.88 MiB), over for the others (+2%, +0.4%; +42%, +12%). */
static uint64_t mmproj_compute(const model_clip *v, bool fa)
{
    uint64_t side = v->image_size / v->patch_size, n_pos = side * side + 1, e = v->n_embd;
    uint64_t image = 3ull * v->image_size * v->image_size * 4;
    uint64_t ffn = n_pos * ((uint64_t)v->n_ff + 4 * e) * 4;
    uint64_t proj = side * side * 2ull * v->proj_dim * 4;
    uint64_t on = image + (ffn > proj ? ffn : proj);
    if (fa)
        return on;
    uint64_t off = image + n_pos * n_pos * v->n_head * 4 + n_pos * 5 * e * 4;
    return off > on ? off : on;
}

/* The busiest GPU's components stand for the estimate. */
static void summarize(gpumem_estimate *out)
{
    const gpumem_device *biggest = NULL, *hd = NULL;
    for (size_t d = 0; d < out->n_devices; d++) {
        const gpumem_device *x = &out->devices[d];
        if (x->is_host)
            hd = x;
        else if (!biggest || x->bytes > biggest->bytes)
            biggest = x;
    }
    const gpumem_device *main = biggest ? biggest : hd;
    out->n_components = main->n_components;
    memcpy(out->components, main->components, sizeof out->components);
    out->per_gpu_bytes = biggest ? biggest->bytes : 0;
}

/* The draft model of -md (common/speculative.cpp, de3ff81): its own model
 * and context on the same devices and split, -ngld layers offloaded, its
 * own cache types (-ctkd/-ctvd, f16 by default), n_ctx of the target's
 * context, the target's n_batch, n_ubatch, sequences and flash attention;
 * each buffer added to the target's device as draft_<name>. */
static gpumem_status add_draft(const engine_req *r, const gpumem_settings *s, gpumem_estimate *out,
                               gpumem_error *err)
{
    gpumem_estimate *d = malloc(sizeof *d);
    if (!d)
        return err_set(err, GPUMEM_ERR_NOMEM, "out of memory");
    memset(d, 0, sizeof *d);
    engine_req rd = *r;
    rd.context = out->context; /* llama_n_ctx(ctx_tgt): padded, all sequences */
    gpumem_settings sd = *s;
    sd.draft = sd.lora = sd.mmproj = NULL;
    gpumem_status st = run(s->draft, &rd, &sd, true, d, err);
    for (size_t i = 0; st == GPUMEM_OK && i < d->n_devices && i < out->n_devices; i++)
        for (size_t k = 0; st == GPUMEM_OK && k < d->devices[i].n_components; k++) {
            const gpumem_component *c = &d->devices[i].components[k];
            char name[GPUMEM_NAME_LEN];
            snprintf(name, sizeof name, "draft_%s", c->name);
            if (c->bytes || !strcmp(c->name, "weights"))
                st = device_add(&out->devices[i], name, c->bytes, err, "%s", c->note);
        }
    free(d);
    return st;
}

static gpumem_status check_extras(const gpumem_model *m, const gpumem_settings *s,
                                  gpumem_error *err)
{
    uint32_t n_gpu = s->gpu ? (s->gpus ? s->gpus : 1) : 0;
    if (s->split_mode >= GPUMEM_SPLIT_COUNT)
        return err_set(err, GPUMEM_ERR_USAGE, "unknown split mode %d", (int)s->split_mode);
    if (s->split_mode == GPUMEM_SPLIT_ROW)
        return err_set(err, GPUMEM_ERR_UNSUPPORTED,
                       "-sm row: llama.cpp de3ff81's CUDA backend has no row-split buffer type "
                       "(only SYCL and Hexagon export ggml_backend_split_buffer_type), so the "
                       "load fails with 'does not support split buffers'; older builds' row "
                       "split is not modelled");
    if (s->split_mode == GPUMEM_SPLIT_NONE && s->gpu && s->main_gpu >= (int)n_gpu)
        return err_set(err, GPUMEM_ERR_USAGE,
                       "invalid value for main_gpu: %d (available devices: %u), as llama.cpp "
                       "refuses it with -sm none",
                       s->main_gpu, n_gpu);
    /* The draft context (common/speculative.cpp) and the projector's
     * warm-up (clip.cpp) are measured on de3ff81 only; older builds sized
     * them differently (per-slot draft contexts, -cd, no flash attention in
     * clip). -sm none, -nkvo and the LoRA placement are older than b6699. */
    const lcpp_version *v = version_find(s->llamacpp_version);
    if (v && v != &versions[0] && (s->draft || s->mmproj))
        return err_set(err, GPUMEM_ERR_UNSUPPORTED,
                       "%s with --llamacpp-version %s: modelled for de3ff81 only",
                       s->draft ? "--model-draft" : "--mmproj", v->name);
    if (s->ctx_size_draft)
        return err_set(err, GPUMEM_ERR_USAGE,
                       "--ctx-size-draft: llama.cpp de3ff81 has no such option; the draft "
                       "context holds the target's n_ctx (common/speculative.cpp)");
    if (!s->draft && (s->cache_type_k_draft || s->cache_type_v_draft))
        return err_set(err, GPUMEM_ERR_USAGE,
                       "-ctkd and -ctvd apply to a draft model: give -md FILE");
    const struct {
        const gpumem_model *f;
        gpumem_model_kind kind;
        const char *opt, *what;
    } extras[] = {
        {s->mmproj, GPUMEM_KIND_MMPROJ, "--mmproj", "a multimodal projector (clip) GGUF"},
        {s->draft, GPUMEM_KIND_MODEL, "--model-draft", "a model GGUF"},
        {s->lora, GPUMEM_KIND_LORA, "--lora", "a LoRA adapter GGUF"},
    };
    for (size_t i = 0; i < sizeof extras / sizeof extras[0]; i++)
        if (extras[i].f && (extras[i].f->kind != extras[i].kind ||
                            (extras[i].kind == GPUMEM_KIND_MODEL &&
                             (!extras[i].f->has_storage || !extras[i].f->layers ||
                              extras[i].f->source != GPUMEM_SOURCE_GGUF))))
            return err_set(err, GPUMEM_ERR_USAGE, "%s takes %s; %s is not one", extras[i].opt,
                           extras[i].what, extras[i].f->name);
    /* llama-adapter.cpp: "model arch and LoRA arch mismatch" */
    if (s->lora && strcmp(s->lora->architecture, m->architecture) != 0)
        return err_set(err, GPUMEM_ERR_USAGE,
                       "--lora %s adapts a '%s' model, not '%s' (llama.cpp: model arch and LoRA "
                       "arch mismatch)",
                       s->lora->name, s->lora->architecture, m->architecture);
    if (s->lora && s->lora->n_layer > m->n_layer)
        return err_set(err, GPUMEM_ERR_USAGE,
                       "--lora %s adapts layer %u of a %u-layer model (llama.cpp: tensor not "
                       "found in the model)",
                       s->lora->name, s->lora->n_layer - 1, m->n_layer);
    return GPUMEM_OK;
}

gpumem_status engine_llamacpp(const gpumem_model *m, const engine_req *r,
                              const gpumem_settings *s, gpumem_estimate *out, gpumem_error *err)
{
    /* Encoders (bert, ...) and decoders with embeddings on: see
     * encoder_compute and run() (llama-embedding's settings). */
    if ((unsigned)s->pooling >= GPUMEM_POOLING_COUNT)
        return err_set(err, GPUMEM_ERR_USAGE, "unknown pooling %d", (int)s->pooling);
    if (embedding_on(m, s) && s->draft)
        return err_set(err, GPUMEM_ERR_USAGE,
                       "--model-draft: speculative decoding generates tokens; %s runs as an "
                       "embedding model here",
                       m->name);
    for (uint32_t i = 0; m->layers && i < m->n_layer; i++)
        if (m->layers[i].ssm_delta)
            /* qwen3next's graph (delta-net chunks) and recurrent state
             * are not measured on de3ff81. */
            return err_set(err, GPUMEM_ERR_UNSUPPORTED,
                           "%s: layer %u is gated delta-net linear attention (Qwen3-Next), "
                           "whose state and compute buffer gpumem does not model for "
                           "llama.cpp; use --engine transformers",
                           m->name, i);
    gpumem_status st = check_extras(m, s, err);
    if (st == GPUMEM_OK)
        st = run(m, r, s, false, out, err);
    if (st == GPUMEM_OK && s->draft)
        st = add_draft(r, s, out, err);
    if (st == GPUMEM_OK && s->mmproj) {
        /* clip.cpp: the projector's own backend, the first GPU device
         * (ggml_backend_init_by_type), unless --no-mmproj-offload */
        bool gpu = s->gpu && !s->no_mmproj_offload;
        gpumem_device *d = &out->devices[gpu ? 0 : out->n_devices - 1];
        const model_clip *v = &s->mmproj->clip;
        if ((st = add_mib(d, "mmproj", v->bytes[gpu], err,
                          "projector tensors (clip_model_loader: model size)")) == GPUMEM_OK)
            st = add_mib(d, "mmproj_compute", mmproj_compute(v, s->flash_attn != 2), err,
                         "one warm-up image (clip.cpp warmup; modelled)");
    }
    if (st == GPUMEM_OK)
        summarize(out);
    return st;
}
