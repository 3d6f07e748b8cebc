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
#include "estimate_internal.h"
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

/* The rule sets: where a llama.cpp build's source differs from de3ff81.
 * "b6699" holds for mainline builds from PR #13194 (May 2025) up to PR
 * #16812 (merged 2025-10-28, which dropped the KV padding that PR #17046
 * brought back as 256 for all); the public logs it reproduces span builds
 * 5466..6699 (tests/data/engine_logs). "b5050" holds for builds from PR
 * #7257 (May 2024) up to PR #13194 ("kv-cache : add SWA support", May
 * 2025): the same rules, except that sliding-window layers cache the full
 * context like the others (one llama_kv_cache_unified of n_ctx cells; the
 * sliding layers still get their own mask, llama-graph.cpp
 * build_attn_inp_kv_unified, self_kq_mask_swa); its logs span builds
 * 4192..5331 and 2024. Builds between PR #16812 and PR #23764 mix b6699
 * and de3ff81 and are not modelled. */
typedef struct {
    const char *name;
    bool output_first;  /* -ngl counts the output layer first (PR #18148) */
    uint32_t pad_fa;    /* n_ctx padding with flash attention */
    uint32_t pad_no_fa; /* and without */
    bool f16_mask;      /* flash attention's mask filled in f16 (PR #23764) */
    bool swa_cache;     /* sliding layers hold a window-sized cache (PR #13194) */
} lcpp_version;

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

typedef struct {
    const lcpp_version *v;
    uint64_t n_ctx, n_ctx_seq, n_stream, ub, n_seq, pad;
    int tk, tv; /* ggml types of K and V */
    bool fa, unified, swa_full;
    uint32_t ngl; /* repeating layers on GPUs */
    bool gpu, output_on_gpu;
    uint32_t n_dev;                 /* GPUs */
    float splits[GPUMEM_MAX_SPLIT]; /* cumulative -ts shares, the last 1 */
    int64_t start, act;             /* first offloaded layer, offloaded count */
    const uint64_t *moe_mask;       /* -ot: layers with experts on the host */
    const gpumem_settings *s;       /* -ot split layers (ffn_moves) */
    uint64_t out_rows;              /* logits rows of the reserved graph */
    bool nkvo;                      /* -nkvo: KV cache and attention on the host */
    bool draft;                     /* the draft model of -md */
    int op_dev;                     /* the first GPU of the device list: op offload runs there */
    bool pipeline;                  /* pipeline parallelism: graph and split inputs x 4 */
    bool emb;                       /* embeddings on (embedding_on, encoder_compute) */
    bool encoder;                   /* non-causal, no memory module: the encoder graph */
    gpumem_pooling pool;            /* resolved pooling of an embedding model */
    uint64_t n_batch;               /* tokens one call may encode (llama.cpp n_batch) */
    uint64_t out_extra;             /* an embedding decoder's extra beside the logits */
} lcpp;

/* The GPU of layer il (il == n_layer: the output layer), or -1: host. */
static int layer_device(const lcpp *c, int64_t il)
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
static uint64_t layer_cells(const model_layer *l, const lcpp *c)
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
static bool layer_attends(const model_layer *l)
{
    return l->attn != ATTN_KIND_NONE && (!l->ssm || l->ssm_with_attn);
}

static void layer_kv_bytes(const model_layer *l, const lcpp *c, uint64_t *k, uint64_t *v)
{
    *k = *v = 0;
    if (c->encoder || !layer_attends(l))
        return;
    uint64_t cells = layer_cells(l, c) * c->n_stream;
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

/* f32 rows of n_embd beside the logits of the output phase: 2, and 3 in a
 * model with recurrent layers (de3ff81 CPU: mamba2-370m, n_embd 768, ub
 * 512, 32000 vocab prints 67.00 MiB = 512 x (32000 + 3 x 768) x 4 B; the
 * granitehybrid shape 100.50 = 512 x (49152 + 3 x 768) x 4 B). */
static uint64_t out_embd_rows(const gpumem_model *m)
{
    for (uint32_t i = 0; i < m->n_layer; i++)
        if (m->layers[i].ssm)
            return 3;
    return 2;
}

/* A model with recurrent layers beside attention layers (granitehybrid,
 * qwen3next, lfm2): de3ff81 builds its attention inputs in
 * llm_graph_input_mem_hybrid; its compute was measured apart
 * (validation/measurements/llamacpp_hybrid.jsonl). */
static bool is_hybrid(const gpumem_model *m)
{
    bool recr = false, attn = false;
    for (uint32_t i = 0; i < m->n_layer; i++) {
        recr |= m->layers[i].ssm;
        attn |= layer_attends(&m->layers[i]);
    }
    return recr && attn;
}

static bool last_attention_alone(const gpumem_model *m)
{
    const model_layer *l = &m->layers[m->n_layer - 1];
    return layer_attends(l) && !l->ssm && !l->n_ff && !l->n_expert;
}

/* Jamba (Mamba-1 layers beside attention): de3ff81's CPU compute buffer
 * moves by up to 4 f32 rows of n_embd between neighbouring settings as
 * ggml-alloc lays the graph out (jamba-s, n_embd 1024: 72.50 MiB printed at
 * 4096 cells, 80.51 at 4096 with another ubatch; 612 vs 676 MiB at ubatch
 * 4096; validation/measurements/llamacpp_jamba.jsonl). No rule follows the
 * layout, so the rules above get those 4 rows on top: an upper bound. */
static uint64_t mamba1_hybrid_slack(const gpumem_model *m, const lcpp *c)
{
    bool mamba1 = false, attn = false;
    for (uint32_t i = 0; i < m->n_layer; i++) {
        mamba1 |= m->layers[i].ssm && !m->layers[i].ssm_heads && m->layers[i].ssm_d_state;
        attn |= layer_attends(&m->layers[i]);
    }
    return mamba1 && attn ? 4 * c->ub * m->n_embd * 4 : 0;
}

static bool has_experts(const gpumem_model *m)
{
    for (uint32_t i = 0; i < m->n_layer; i++)
        if (m->layers[i].n_expert)
            return true;
    return false;
}

/* Bytes of one element of the attention mask the host fills: f16 with
 * flash attention in de3ff81, f32 otherwise and in older builds. */
static uint64_t mask_elt(const lcpp *c) { return c->fa && c->v->f16_mask ? 2 : 4; }

/* The attention phase over layers first..last: the largest layer's
 * attention working set and the masks of both kinds (sliding, full); the
 * cells of each kind into *swa_cells and *full_cells. */
static uint64_t attn_phase(const gpumem_model *m, const lcpp *c, uint32_t first, uint32_t last,
                           uint64_t *swa_cells, uint64_t *full_cells)
{
    uint64_t e = m->n_embd, ub = c->ub, attn = 0;
    bool hybrid = is_hybrid(m); /* once: it scans every layer */
    *swa_cells = *full_cells = 0;
    for (uint32_t i = first; i < last; i++) {
        const model_layer *l = &m->layers[i];
        if (!layer_attends(l))
            continue;
        uint64_t n_kv = layer_cells(l, c); /* cells one sequence's attention sees */
        if (l->attn == ATTN_KIND_SLIDING && !c->swa_full)
            *swa_cells = n_kv;
        else
            *full_cells = n_kv;
        uint64_t qkv = (uint64_t)l->n_head * l->head_dim_k + 2ull * l->n_head_kv * l->head_dim_k;
        uint64_t a;
        if (c->fa && c->out_rows < ub) /* the draft: de3ff81's f16 mask alone
                                         * (its 16384-cell run prints only the FFN
                                         * phase, 40.51 MiB) */
            a = n_kv * ub * mask_elt(c) + 2 * ub * e * 4;
        else if (c->fa && hybrid) /* the f16 mask beside 12 rows of n_embd
                                         * (de3ff81 CPU, 65536 and 131072 cells:
                                         * 11 to 12.02 rows measured in qwen3next,
                                         * lfm2, lfm2moe) */
            a = n_kv * ub * mask_elt(c) + 12 * ub * e * 4;
        else if (c->fa) /* the f32 mask and its f16 copy for the kernel, beside the
                         * residual rows (fits dense-1b and gemma2 at 32k cells) */
            a = n_kv * ub * 6 + 2 * ub * e * 4;
        else /* f32 scores of every head, f32 mask, and the layer's rows */
            a = n_kv * ub * ((uint64_t)l->n_head + 1) * 4 + ub * 4 * (4 * e + qkv);
        /* Falcon-H1 (attention beside Mamba-2): 3 x d_inner f32 rows more
         * (de3ff81 CPU, flash attention off: falcon-h1-s +9.01 MiB at 4096
         * and 32768 cells, ubatch 512; falcon-h1-b +1.5, so over there) */
        if (l->ssm_with_attn && !c->fa)
            a += ub * 3 * (uint64_t)l->ssm_d_inner * 4;
        attn = a > attn ? a : attn;
    }
    /* A hybrid's recurrent layers run with the mask alive (a graph input
     * until the last attention layer): the f16 mask beside a Mamba-2
     * layer's f32 rows, in_proj (2 d_inner + 2 groups d_state + heads), the
     * conv input and output (d_inner + 2 groups d_state each), y (d_inner)
     * and 4 rows of n_embd (de3ff81 CPU, 131072 cells: nemotron-h-s 164.68
     * MiB printed, this 162.06; falcon-h1-s 152.35 / 152.5; nemotron-h-moe-s
     * 153.62 / 155.05; llamacpp_hybrid.jsonl). */
    if (c->fa && c->out_rows >= ub && *full_cells && hybrid)
        for (uint32_t i = first; i < last; i++) {
            const model_layer *l = &m->layers[i];
            if (!l->ssm)
                continue;
            uint64_t conv = (uint64_t)l->ssm_d_inner + 2ull * l->ssm_groups * l->ssm_d_state;
            uint64_t rows = 2ull * l->ssm_d_inner + 2ull * l->ssm_groups * l->ssm_d_state +
                            l->ssm_heads + 2 * conv + l->ssm_d_inner + 4 * e;
            uint64_t a = *full_cells * ub * mask_elt(c) + ub * rows * 4;
            attn = a > attn ? a : attn;
        }
    /* A model with sliding and full layers keeps one mask per kind as graph
     * inputs: the smaller one sits beside the other's attention. */
    if (*swa_cells && *full_cells)
        attn += (*swa_cells < *full_cells ? *swa_cells : *full_cells) * ub * (c->fa ? 2 : 4);
    return attn;
}

/* Worst-case compute buffer of a ubatch over `first..last` layers, with or
 * without the output layer, on a GPU or the host. `split`: the device's
 * layers keep weights on the host whose matmuls op offload runs on GPU0, so
 * its graph is cut into many splits. */
static uint64_t compute_bytes(const gpumem_model *m, const lcpp *c, uint32_t first, uint32_t last,
                              bool with_output, bool on_gpu, bool split)
{
    uint64_t e = m->n_embd, ub = c->ub, swa_cells, full_cells;
    uint64_t rows = out_embd_rows(m) * ub * e * 4;
    uint64_t logits = with_output ? c->out_rows * m->n_vocab * 4 + rows + c->out_extra : rows;
    bool quant_kv = ggml_type_get((uint32_t)c->tk)->block_size > 1 ||
                    ggml_type_get((uint32_t)c->tv)->block_size > 1; /* q8_0, q4_0, ... */
    /* -nkvo: the attention runs on the host (see the host compute); a GPU
     * keeps the FFN phase and the logits */
    bool host_attn = c->nkvo && on_gpu;
    uint64_t attn = attn_phase(m, c, first, last, &swa_cells, &full_cells);
    if (host_attn)
        attn = swa_cells = full_cells = 0;
    /* On a GPU with flash attention whose graph is one split, the f16 mask
     * stays through the logits phase (GLM-Z1-32B, CUDA, 32768 cells,
     * ubatch 512: 353.0 MiB printed; logits 296 + mask 32 + rows 24 = 352;
     * without it 320, 9% under). In a graph cut into splits by op offload
     * the mask and the rows converted for a quantised cache are inputs of
     * the attention splits only, gone by the logits split: Qwen3-235B's
     * second GPU (b5269, 16384 cells, q8_0 cache, experts streamed to
     * CUDA0) prints 304.75 MiB; logits 296.75 + rows 16 = 312.75, where
     * keeping both gave 336.75 (+10.5%). Rule of llama.cpp b5269..de3ff81
     * (ggml-backend.cpp split inputs). */
    if (on_gpu && c->fa && with_output && !split)
        logits += (swa_cells + full_cells) * ub * 2;
    /* A hybrid MoE on the host: the graph allocator (ggml-alloc.c) leaves
     * the f16 mask beside the logits when it is small against the rows of
     * the layers, and reuses its place when large. Measured on de3ff81's
     * CPU build for qwen3next and lfm2moe (llamacpp_hybrid.jsonl): kept at
     * up to 8 x n_embd cells in every run that kept it (qwen3next-s,
     * n_embd 1024: 2048 and 8192 cells kept, 16384 and more reused), so
     * it is added up to there; where it was reused anyway this
     * over-counts by at most 4 rows of n_embd. */
    else if (!on_gpu && c->fa && with_output && is_hybrid(m) && has_experts(m) &&
             full_cells <= 8ull * e)
        logits += full_cells * ub * mask_elt(c);
    /* A hybrid whose last layer is attention alone (Nemotron-H's '*'
     * blocks): the mask is freed just before the output phase, and its
     * place takes the logits only when it can hold them beside the output
     * norm's row (nemotron-h-s: kept from 2048 to 65536 cells, where the
     * mask is 64 MiB against 62.5 + 2 MiB; reused at 131072; and at 65536
     * cells with -np 2, ubatch 256, over by 16 MiB there). With it, 2 rows
     * of n_embd instead of 3 (4096 to 65536 cells, ubatch 512 to 4096:
     * exact), so the mask adds what it holds beyond one row. */
    else if (!on_gpu && c->fa && with_output && is_hybrid(m) && last_attention_alone(m) &&
             full_cells * ub * mask_elt(c) < c->out_rows * m->n_vocab * 4 + ub * e * 4 &&
             full_cells * mask_elt(c) > e * 4)
        logits += full_cells * ub * mask_elt(c) - ub * e * 4;
    /* The FFN phase: the mask (a graph input, live until the last layer's
     * attention) beside a gated FFN's gate, up and product rows and four
     * rows of n_embd, f32. It is the peak when few logits rows are
     * reserved: the draft of llama-speculative (1 output) prints 28.51 MiB
     * for mha-tied-130m (n_embd 1024, n_ff 2816) at 4096 cells, ubatch 512:
     * 4 MiB of f16 mask + 512 x (3 x 2816 + 4 x 1024) x 4 = 28.50 MiB
     * (validation/measurements/llamacpp_extras.jsonl). Applied where
     * fewer logits rows than the ubatch are reserved (the draft): the
     * target's rules were fitted with the logits phase as the peak. */
    uint64_t ffn = 0;
    for (uint32_t i = first; (c->out_rows < ub || host_attn) && i < last; i++) {
        const model_layer *l = &m->layers[i];
        uint64_t f = ub * ((l->gated_ff ? 3ull : 2ull) * l->n_ff + 4 * e) * 4;
        ffn = f > ffn ? f : ffn;
    }
    if (ffn)
        ffn += (swa_cells + full_cells) * ub * mask_elt(c);
    logits = ffn > logits ? ffn : logits;
    uint64_t conv = quant_kv && c->fa && !host_attn ? ub * e * 4 : 0; /* converted for the
                                                                      * quantised cache */
    uint64_t peak = split ? (attn + conv > logits ? attn + conv : logits)
                          : (attn > logits ? attn : logits) + conv;
    return peak + mamba1_hybrid_slack(m, c);
}

/* The host compute buffer of a fully offloaded model: the graph inputs the
 * host fills, i.e. the token embeddings it looks up (f32 rows), the
 * attention mask of each kind (full, sliding), ub rows of the cells they
 * span, and the ubatch's token ids, positions and output ids. Public CUDA
 * and Vulkan logs of builds with the f32 mask (b5192..b6699) print exactly
 * this (+0.01 MiB): 76.01 MiB for GLM-Z1-32B at 32768 cells, ubatch 512
 * (12 + 64), 40.01 for Qwen3-235B at 16384 (8 + 32), 92.01 for DeepSeek-V3
 * at ubatch 1024 (28 + 64), 9.01 for Llama-3-8B at 512 (8 + 1)
 * (tests/data/engine_logs); de3ff81's f16 mask halves the mask part. */
static uint64_t gpu_host_inputs(const gpumem_model *m, const lcpp *c)
{
    uint64_t full = 0, swa = 0;
    for (uint32_t i = 0; i < m->n_layer; i++) {
        const model_layer *l = &m->layers[i];
        if (!layer_attends(l))
            continue;
        uint64_t n = layer_cells(l, c);
        uint64_t *kind = l->attn == ATTN_KIND_SLIDING && !c->swa_full ? &swa : &full;
        *kind = n > *kind ? n : *kind;
    }
    /* + token ids, positions and output ids, 4 B per ubatch token each */
    return c->ub * m->n_embd * 4 + (full + swa) * c->ub * mask_elt(c) + 3 * c->ub * 4;
}

/* Pipeline parallelism (llama.cpp de3ff81; the same condition and
 * scheduler in b6699). The llama_context constructor turns it on when the
 * model's device list holds more than one GPU, -ngl exceeds the layer
 * count (every layer and the output offloaded), the split mode is layer,
 * the KV cache is offloaded (no -nkvo) and no tensor override is given
 * (-ot, --cpu-moe, --n-cpu-moe), provided every non-CPU device has async
 * compute and events (CUDA and RPC do). The backend scheduler is then
 * created with n_copies = GGML_SCHED_MAX_COPIES = 4 (ggml-backend.cpp,
 * ggml_backend_sched_split_graph): every graph input (flagged INPUT, filled
 * by the host: token ids, positions, the KV row indices, the masks, the
 * output ids) gets 4 copies in the host's compute buffer, and every split
 * input (a tensor a device's split reads from another backend) gets 4
 * copies in that device's buffer; all copies are flagged output and added
 * as leaves, so they are allocated first and never freed. A device's split
 * inputs are the rows it receives (the looked-up embeddings on the first
 * device, the previous device's last layer output on the others), the
 * positions, the KV row indices of each cache it holds layers of, the
 * mask of each attention kind it runs, and on the output's device the
 * output ids. The rest of its buffer is the graph's own peak without
 * them; on the CPU backend that rpc-server devices run (validation/
 * measurements/llamacpp_pipeline.jsonl: 52 runs on 2 and 3 devices) it is
 * the largest of
 *  - the FFN: ub x (3 n_ff + 3 n_embd) f32 (MoE: k x 3 expert widths), and
 *    without flash attention one row of q more;
 *  - attention with flash attention: ub x (n_embd + 4 q + 2 kv) f32, without:
 *    the f32 scores n_kv x ub x n_head and ub x (2 n_embd + 2 q) f32;
 *  - on the output's device the logits and one row: ub x (n_vocab + n_embd) f32.
 * e.g. dense-1b (n_embd 2048, n_ff 8192) at 32768 cells, ubatch 512, flash
 * attention, 2 devices: 4 x (4 MiB rows + 32 MiB f16 mask + 40 KiB) + 60 MiB
 * FFN = 204.04 MiB printed on the first, 4 x 36.05 + 66.5 logits = 210.55 on
 * the second, where without pipeline parallelism gpumem counts 104. */
enum { PIPELINE_COPIES = 4 };

/* The row indices of one KV cache for a ubatch: K one I64 per token; V the
 * same, or with the transposed V cache of the path without flash attention
 * one per token and element (llama-kv-cache.cpp build_input_v_idxs). */
static uint64_t kv_idxs_bytes(const lcpp *c, uint64_t v_width)
{
    return c->ub * 8 + c->ub * 8 * (c->fa ? 1 : v_width);
}

/* The inputs layers first..last read (the masks and KV row indices of the
 * attention kinds among them), once. */
static uint64_t attn_inputs(const gpumem_model *m, const lcpp *c, uint32_t first, uint32_t last)
{
    uint64_t cells[2] = {0}, vw[2] = {0}, sum = 0;
    for (uint32_t i = first; i < last; i++) {
        const model_layer *l = &m->layers[i];
        if (!layer_attends(l))
            continue;
        int k = l->attn == ATTN_KIND_SLIDING && !c->swa_full;
        uint64_t n = layer_cells(l, c), w = (uint64_t)l->n_head_kv * l->head_dim_v;
        cells[k] = n > cells[k] ? n : cells[k];
        vw[k] = w > vw[k] ? w : vw[k];
    }
    for (int k = 0; k < 2; k++)
        if (cells[k])
            sum += cells[k] * c->ub * mask_elt(c) + kv_idxs_bytes(c, vw[k]);
    return sum;
}

static uint64_t graph_peak(const gpumem_model *m, const lcpp *c, uint32_t first, uint32_t last);

/* A GPU's compute buffer under pipeline parallelism (see above). */
static uint64_t pipeline_compute(const gpumem_model *m, const lcpp *c, uint32_t first,
                                 uint32_t last, bool with_output)
{
    uint64_t e = m->n_embd, ub = c->ub;
    uint64_t in = ub * e * 4 + ub * 4 + attn_inputs(m, c, first, last) +
                  (with_output ? c->out_rows * 4 : 0);
    uint64_t rest = with_output ? c->out_rows * m->n_vocab * 4 + ub * e * 4 : 0;
    uint64_t body = graph_peak(m, c, first, last);
    return PIPELINE_COPIES * in + (body > rest ? body : rest);
}

/* A device's own graph peak over layers first..last, without its split
 * inputs (see above): the largest FFN or attention working set. */
static uint64_t graph_peak(const gpumem_model *m, const lcpp *c, uint32_t first, uint32_t last)
{
    uint64_t e = m->n_embd, ub = c->ub, rest = 0;
    for (uint32_t i = first; i < last; i++) {
        const model_layer *l = &m->layers[i];
        uint64_t ff = (l->gated_ff ? 3ull : 2ull) * l->n_ff + 3ull * l->n_ff_shared +
                      3ull * (l->n_expert_used ? l->n_expert_used : 1) * l->n_ff_expert *
                          (l->n_expert ? 1 : 0);
        uint64_t q = (uint64_t)l->n_head * l->head_dim_k;
        /* without flash attention one more row of q floats stays through
         * the FFN (gemma3, the one shape whose FFN is then the peak: 1.75
         * MiB more printed, 2 MiB counted) */
        uint64_t f = ub * (ff + 3 * e + (c->fa ? 0 : q)) * 4, a = 0;
        if (layer_attends(l)) {
            uint64_t kv = (uint64_t)l->n_head_kv * l->head_dim_k;
            a = c->fa ? ub * (e + 4 * q + 2 * kv) * 4
                      : layer_cells(l, c) * ub * l->n_head * 4 + ub * (2 * e + 2 * q) * 4;
        }
        rest = f > rest ? f : rest;
        rest = a > rest ? a : rest;
    }
    return rest;
}

/* An RPC device's compute buffer without pipeline parallelism (settings
 * rpc_devices; rpc-server runs the CPU backend, llama.cpp de3ff81): the
 * split inputs of the pipeline rule above, once and freed after their last
 * use, so the masks and KV row indices stay through the layers (the rows it
 * receives are consumed by the first layer's residual), beside the graph's
 * peak; on the output's device the logits phase comes after them. From
 * llama-fit-params' dry runs (validation/measurements/llamacpp_fit.jsonl,
 * flash attention, ubatch 512): dense-1b at 32768 cells, every layer, 92
 * MiB printed = 32 MiB f16 mask + 60 MiB FFN (+ 40 KiB); moe-llama-8x 64
 * = logits 62.5 + a row 2 (mask 32 + FFN 22.5 below it); qwen3moe-16x 98 =
 * logits 96 + 2; qwen3moe-16x layers 0-4 of 9 at 16384 cells (no output),
 * about 36 = mask 16 + attention 20. */
static uint64_t rpc_compute(const gpumem_model *m, const lcpp *c, uint32_t first, uint32_t last,
                            bool with_output)
{
    uint64_t ub = c->ub;
    uint64_t body = attn_inputs(m, c, first, last) + ub * 4 + graph_peak(m, c, first, last);
    uint64_t out = with_output ? c->out_rows * (m->n_vocab + 1) * 4 + ub * m->n_embd * 4 : 0;
    return body > out ? body : out;
}

/* The host's compute buffer under pipeline parallelism: 4 copies of the
 * graph inputs (token ids, positions, every cache's row indices and mask,
 * output ids) and two f32 rows of the looked-up embeddings: 136.05 MiB for
 * dense-1b at 32768 cells = 4 x (32 MiB + 56 KiB) + 2 x 4 MiB. */
static uint64_t pipeline_host(const gpumem_model *m, const lcpp *c)
{
    uint64_t ub = c->ub;
    uint64_t in = 2 * ub * 4 + attn_inputs(m, c, 0, m->n_layer) + c->out_rows * 4;
    return PIPELINE_COPIES * in + 2 * ub * m->n_embd * 4;
}

/* Whether GPU d holds layers whose expert weights stay on the host (-ot
 * exps=CPU, --n-cpu-moe) and whose matmuls op offload runs on GPU0: its
 * graph is then cut into one split per such matmul. */
static bool streams_host_weights(const gpumem_model *m, const lcpp *c, uint32_t d,
                                 uint32_t cpu_moe)
{
    for (uint32_t i = 0; c->ub >= 32 && i < m->n_layer && i < cpu_moe; i++)
        if (m->layers[i].n_expert && layer_device(c, i) == (int)d)
            return true;
    return false;
}

/* GPU0's compute buffer under op offload (see the header): the largest
 * host-resident weight its matmuls stream in, one layer's activations and
 * the masks; 0 when nothing is offloaded that way.
 *
 * The masks' share depends on the order in which the graph allocator meets
 * them (ggml-alloc.c: a split's input copies are allocated at its start
 * and freed after their last use; freed space is reused when it fits):
 *  - the largest mask's first attention on GPU0 before the first streamed
 *    layer: the mask copy sits below every later streamed weight. Builds
 *    with the f32 mask print 8 B per element (its f32 copy, the f16 cast
 *    and 2 B not accounted for): Qwen3-235B, ubatch 512, Q6_K on an
 *    RTX 3090 at 16384 cells (b5269): 774.0 MiB printed, this rule
 *    630 + 72 + 8 + 64 = 774; Q8_0 on an A6000 at 32768 cells (b5192,
 *    b5274): 1024.0 printed, 816 + 72 + 8 + 128 = 1024. de3ff81 copies
 *    its f16 mask with no cast: 2 B of copy + the same 2 B, 4 B (modelled);
 *  - a streamed layer first (gpt-oss: layer 0 slides, its experts on the
 *    host): the f32 copy does not fit the space the streamed weight and
 *    activations left and goes above it; the f16 cast fits that space.
 *    gpt-oss-20b, b6699, 131072 cells: 456.98 MiB printed, this rule
 *    134.5 + 73.1 + 256 = 463.6 (+1.4%), where the first rule gave 719.6.
 *    de3ff81's f16 copy stays below the later layers' streamed weights:
 *    2 B per element (modelled);
 *  - no attention on GPU0 (-ngl 0): one mask element size, 4 B with the
 *    f32 mask (742.0 MiB at -ngl 0 = 630 + 72 + 8 + 32), 2 B with f16. */
static uint64_t op_offload_bytes(const gpumem_model *m, const lcpp *c, uint32_t cpu_moe)
{
    uint64_t streamed = 0, act = 0;
    int64_t first_stream = -1;
    for (uint32_t i = 0; c->gpu && c->ub >= 32 && i < m->n_layer; i++) {
        const model_layer *l = &m->layers[i];
        bool host_layer = layer_device(c, i) < 0;
        uint64_t t = 0, a = 0;
        /* a split layer's FFN part on the host streams like its experts */
        const gpumem_ffn_move *mv = ffn_move_of(c->s, i);
        bool host_ffn = mv && mv->device < 0 && !host_layer;
        if (l->n_expert &&
            (host_layer || host_ffn || i < cpu_moe || cpu_moe_masked(c->moe_mask, i))) {
            uint64_t k = l->n_expert_used ? l->n_expert_used : 1;
            t = l->bytes_expert_max ? l->bytes_expert_max : l->bytes_expert / 3;
            a = c->ub * k * 3ull * l->n_ff_expert * 4 + c->ub * m->n_embd * 4;
        }
        if ((host_layer || (host_ffn && !l->n_expert)) && l->bytes_linear_max > t) {
            uint64_t wide = l->n_ff > m->n_embd ? l->n_ff : m->n_embd;
            t = l->bytes_linear_max;
            uint64_t d = 2 * c->ub * (m->n_embd + wide) * 4;
            a = d > a ? d : a;
        }
        if (t && first_stream < 0)
            first_stream = i;
        streamed = t > streamed ? t : streamed;
        act = a > act ? a : act;
    }
    if (!streamed)
        return 0;
    uint64_t cells = 0, any = 0;
    int64_t first_mask = -1; /* GPU0's first layer attending over `cells` */
    for (uint32_t i = 0; i < m->n_layer; i++)
        if (layer_attends(&m->layers[i])) {
            uint64_t n = layer_cells(&m->layers[i], c);
            any = n > any ? n : any;
            if (layer_device(c, i) == c->op_dev && n > cells) {
                cells = n;
                first_mask = i;
            }
        }
    uint64_t elt = mask_elt(c), base = streamed + act;
    if (!cells)
        return base + any * c->ub * elt;
    uint64_t e = cells * c->ub;
    if (first_mask <= first_stream) /* a layer's attention precedes its FFN */
        return base + 2 * elt * e;
    /* the f16 cast of an f32 mask goes above too when it does not fit */
    bool cast = c->fa && !c->v->f16_mask;
    return base + elt * e + (cast && 2 * e > base ? 2 * e : 0);
}

/* Embedding models (llama.cpp de3ff81 with embeddings on, as its
 * llama-embedding tool sets them up: examples/embedding/embedding.cpp).
 *
 * Encoders (bert and the other archs whose create_memory returns nullptr)
 * have no KV cache; decode() falls back to encode(), which runs the whole
 * batch as one ubatch over a non-causal graph (llama-graph.cpp
 * build_attn_mha with no cache, an n_tokens x n_tokens mask). The compute
 * buffer is reserved for T = min(n_ctx, n_ubatch) tokens and n_seq_max
 * sequences (sched_reserve), and holds the larger of two phases:
 *  - attention, without flash attention only: the f32 scores of every head
 *    and the f32 mask, T^2 x (n_head + 1) x 4 B, beside T rows of
 *    n_ff + 2 n_embd f32 (with flash attention it never exceeds the FFN);
 *  - the FFN: the mask (f16 with flash attention, else f32) beside T f32
 *    rows of n_ff + 3 n_embd for bert's GELU FFN, of 3 n_ff + 3 n_embd for
 *    a gated one (nomic-bert's SwiGLU: gate, up and their product), one
 *    n_embd fewer with flash attention;
 * plus the inputs: token ids, positions and token types (3 x T x 4 B), and
 * the pooling's (pooling_bytes).
 * Fitted to the CPU runs of validation/measurements/llamacpp_embed.jsonl
 * (bert with 6 and 12 layers, nomic-bert with 6; within 0.03 MiB of every
 * printed size): e.g. nomic-small (n_embd 384, n_ff 1536, 12 heads) at
 * -c 512 -fa on prints 11.51 MiB = 0.5 mask + 512 x (3 x 1536 + 2 x 384) x
 * 4 B + 0.5 mean matrix; at -c 256 -np 16 -fa off the FFN wins: 5.89 =
 * 0.25 mask + 256 x (3 x 1536 + 3 x 384) x 4 B + inputs, where the
 * attention phase holds 5.5. */
/* The pooling's graph inputs: mean a T x n_seq f32 matrix (build_inp_mean),
 * cls, last and rank n_seq row ids (build_inp_cls; modern-bert's rank: mean). */
static uint64_t pooling_bytes(const gpumem_model *m, const lcpp *c, uint64_t t, uint64_t n_seq)
{
    bool mean = c->pool == GPUMEM_POOLING_MEAN ||
                (c->pool == GPUMEM_POOLING_RANK && !strcmp(m->architecture, "modern-bert"));
    if (!c->emb || c->pool == GPUMEM_POOLING_NONE)
        return 0;
    return mean ? t * n_seq * 4 : n_seq * 4;
}

static uint64_t encoder_compute(const gpumem_model *m, const lcpp *c, uint32_t first, uint32_t last,
                                uint64_t t, uint64_t n_seq)
{
    uint64_t e = m->n_embd, attn = 0, ffn = 0;
    for (uint32_t i = first; i < last; i++) {
        const model_layer *l = &m->layers[i];
        uint64_t rows = l->gated_ff ? 3ull * l->n_ff + (c->fa ? 2 : 3) * e : l->n_ff + 3 * e;
        uint64_t f = t * t * mask_elt(c) + t * rows * 4;
        uint64_t a = c->fa ? 0 : t * t * (l->n_head + 1ull) * 4 + t * (l->n_ff + 2 * e) * 4;
        ffn = f > ffn ? f : ffn;
        attn = a > attn ? a : attn;
    }
    return (attn > ffn ? attn : ffn) + 3 * t * 4 + pooling_bytes(m, c, t, n_seq);
}

/* The host's part with every layer on GPUs (modelled, no GPU measured):
 * the looked-up embeddings, the mask and the token inputs it fills. */
static uint64_t encoder_host_inputs(const gpumem_model *m, const lcpp *c, uint64_t t)
{
    return t * m->n_embd * 4 + t * t * mask_elt(c) + 3 * t * 4;
}

/* An encoder's graph on one device for T tokens of n_seq sequences; under
 * pipeline parallelism 3 more copies of its inputs (modelled). */
static uint64_t encoder_device(const gpumem_model *m, const lcpp *c, uint32_t first, uint32_t last,
                               bool host_inputs_only, uint64_t t, uint64_t n_seq)
{
    uint64_t in = encoder_host_inputs(m, c, t);
    uint64_t b = host_inputs_only ? in : encoder_compute(m, c, first, last, t, n_seq);
    return b + (c->pipeline ? (PIPELINE_COPIES - 1) * in : 0);
}

/* The tokens the reserved graph holds (sched_reserve). A full batch brings
 * n_ubatch at run time and encode() grows the buffers to it: the CPU build
 * warns "compute buffer size of 207.71 MiB does not match expectation of
 * 18.01 MiB" for bert-small at -c 512 -b 2048 after a batch of 1958
 * tokens; run() reports the difference as compute_growth. */
static uint64_t encoder_tokens_reserved(const lcpp *c)
{
    return c->n_ctx < c->ub ? c->n_ctx : c->ub;
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
    int od = layer_device(c, m->n_layer);
    out[host] += a->lora_embed[0] + a->lora_other[0];
    out[od < 0 ? host : (uint32_t)od] += a->lora_output[od < 0 ? 0 : 1];
    for (uint32_t i = 0; i < a->n_layer && i < m->n_layer; i++) {
        int d = layer_device(c, i);
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
                       "unknown llama.cpp version '%s' (modelled: de3ff81, the default, b6699 and b5050)",
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
    c.output_on_gpu = layer_device(&c, nl) >= 0;
    bool overrides = s->n_cpu_moe != 0 || s->n_ffn_moves != 0;
    for (size_t w = 0; w < GPUMEM_MAX_MASK_LAYERS / 64; w++)
        overrides |= s->cpu_moe_mask[w] != 0;
    c.pipeline = c.gpu && c.n_dev > 1 && ngl > nl && s->split_mode == GPUMEM_SPLIT_LAYER &&
                 !c.nkvo && !overrides;
    /* An encoder's buffers for T tokens now and for a full batch later. */
    uint64_t t_res = encoder_tokens_reserved(&c), t_run = c.ub;
    uint64_t seq_run = c.n_seq < t_run ? c.n_seq : t_run;

    /* Storage by device: index n_dev is the host. */
    uint64_t w[GPUMEM_MAX_SPLIT + 1] = {0}, kv[GPUMEM_MAX_SPLIT + 1] = {0},
             rs[GPUMEM_MAX_SPLIT + 1] = {0};
    uint32_t first[GPUMEM_MAX_SPLIT + 1], last[GPUMEM_MAX_SPLIT + 1],
        count[GPUMEM_MAX_SPLIT + 1] = {0};
    for (uint32_t d = 0; d <= c.n_dev; d++)
        first[d] = last[d] = 0;
    int out_dev = layer_device(&c, nl);
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
        int dv = layer_device(&c, i);
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
    uint64_t offload = s->rpc_devices ? 0 : op_offload_bytes(m, &c, cpu_moe);
    for (uint32_t d = 0; d < c.n_dev; d++) {
        gpumem_device *gpu = &out->devices[d];
        snprintf(gpu->name, sizeof gpu->name, "gpu%u", d);
        char note[96];
        snprintf(note, sizeof note, "%u of %u layers%s", count[d], m->n_layer,
                 out_dev == (int)d ? " + output" : "");
        bool has_out = out_dev == (int)d;
        bool idle = !count[d] && !has_out;
        uint64_t graph = idle ? 0
                         : c.encoder ? encoder_device(m, &c, first[d], last[d], false, t_res, c.n_seq)
                         : c.pipeline ? pipeline_compute(m, &c, first[d], last[d], has_out)
                         : s->rpc_devices ? rpc_compute(m, &c, first[d], last[d], has_out)
                                          : compute_bytes(m, &c, first[d], last[d], has_out, true,
                                                          streams_host_weights(m, &c, d, cpu_moe));
        if (c.emb && !c.encoder && has_out) /* the pooling inputs beside the logits */
            graph += pooling_bytes(m, &c, c.ub, c.n_seq);
        uint64_t growth = 0;
        if (c.encoder && !idle) {
            uint64_t run_b = encoder_device(m, &c, first[d], last[d], false, t_run, seq_run);
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
    uint64_t host_compute = c.encoder ? encoder_device(m, &c, first[host], last[host], host_inputs,
                                                       t_res, c.n_seq)
                            : c.pipeline ? pipeline_host(m, &c)
                            : host_inputs ? gpu_host_inputs(m, &c)
                                          : compute_bytes(m, &c, first[host], last[host],
                                                          !c.output_on_gpu, false, false);
    if (c.emb && !c.encoder && !c.output_on_gpu)
        host_compute += pooling_bytes(m, &c, c.ub, c.n_seq);
    uint64_t host_growth = 0;
    if (c.encoder) {
        uint64_t run_b =
            encoder_device(m, &c, first[host], last[host], host_inputs, t_run, seq_run);
        host_growth = run_b > host_compute ? run_b - host_compute : 0;
    }
    /* -nkvo: every node from the KV store to the attention output runs on
     * the CPU (llama-graph.cpp build_attn_mha sets kqv_merged_cont's
     * backend; the cache is on the host): the host buffer holds the
     * attention phase of the offloaded layers too, and the GPUs lose it
     * (compute_bytes). Modelled: no GPU log with -nkvo was measured. */
    if (c.nkvo && c.gpu && c.ngl) {
        uint64_t sw, fu;
        host_compute += attn_phase(m, &c, 0, m->n_layer, &sw, &fu);
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
        return err_set(err, GPUMEM_ERR_USAGE, "-ctkd and -ctvd apply to a draft model: give -md FILE");
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
