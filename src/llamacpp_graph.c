/* llama.cpp's compute buffers: the graph allocator's worst case over a
 * ubatch per device, the graph inputs the host fills, pipeline-parallel
 * copies, op offload and the encoder graph of embedding models; fitted to
 * the printed sizes of de3ff81's CPU build and public GPU logs (see
 * engine_llamacpp.c for the buffers around them). */
#include "ggml_types_internal.h"
#include "llamacpp_internal.h"
#include "util_internal.h"

#include <string.h>

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
        attn |= lcpp_layer_attends(&m->layers[i]);
    }
    return recr && attn;
}

static bool last_attention_alone(const gpumem_model *m)
{
    const model_layer *l = &m->layers[m->n_layer - 1];
    return lcpp_layer_attends(l) && !l->ssm && !l->n_ff && !l->n_expert;
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
        attn |= lcpp_layer_attends(&m->layers[i]);
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
uint64_t lcpp_attn_phase(const gpumem_model *m, const lcpp *c, uint32_t first, uint32_t last,
                         uint64_t *swa_cells, uint64_t *full_cells)
{
    uint64_t e = m->n_embd, ub = c->ub, attn = 0;
    bool hybrid = is_hybrid(m); /* once: it scans every layer */
    *swa_cells = *full_cells = 0;
    for (uint32_t i = first; i < last; i++) {
        const model_layer *l = &m->layers[i];
        if (!lcpp_layer_attends(l))
            continue;
        uint64_t n_kv = lcpp_layer_cells(l, c); /* cells one sequence's attention sees */
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
uint64_t lcpp_compute_bytes(const gpumem_model *m, const lcpp *c, uint32_t first, uint32_t last,
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
    uint64_t attn = lcpp_attn_phase(m, c, first, last, &swa_cells, &full_cells);
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
uint64_t lcpp_gpu_host_inputs(const gpumem_model *m, const lcpp *c)
{
    uint64_t full = 0, swa = 0;
    for (uint32_t i = 0; i < m->n_layer; i++) {
        const model_layer *l = &m->layers[i];
        if (!lcpp_layer_attends(l))
            continue;
        uint64_t n = lcpp_layer_cells(l, c);
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
        if (!lcpp_layer_attends(l))
            continue;
        int k = l->attn == ATTN_KIND_SLIDING && !c->swa_full;
        uint64_t n = lcpp_layer_cells(l, c), w = (uint64_t)l->n_head_kv * l->head_dim_v;
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
uint64_t lcpp_pipeline_compute(const gpumem_model *m, const lcpp *c, uint32_t first,
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
        if (lcpp_layer_attends(l)) {
            uint64_t kv = (uint64_t)l->n_head_kv * l->head_dim_k;
            a = c->fa ? ub * (e + 4 * q + 2 * kv) * 4
                      : lcpp_layer_cells(l, c) * ub * l->n_head * 4 + ub * (2 * e + 2 * q) * 4;
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
uint64_t lcpp_rpc_compute(const gpumem_model *m, const lcpp *c, uint32_t first, uint32_t last,
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
uint64_t lcpp_pipeline_host(const gpumem_model *m, const lcpp *c)
{
    uint64_t ub = c->ub;
    uint64_t in = 2 * ub * 4 + attn_inputs(m, c, 0, m->n_layer) + c->out_rows * 4;
    return PIPELINE_COPIES * in + 2 * ub * m->n_embd * 4;
}

/* Whether GPU d holds layers whose expert weights stay on the host (-ot
 * exps=CPU, --n-cpu-moe) and whose matmuls op offload runs on GPU0: its
 * graph is then cut into one split per such matmul. */
bool lcpp_streams_host_weights(const gpumem_model *m, const lcpp *c, uint32_t d,
                               uint32_t cpu_moe)
{
    for (uint32_t i = 0; c->ub >= 32 && i < m->n_layer && i < cpu_moe; i++)
        if (m->layers[i].n_expert && lcpp_layer_device(c, i) == (int)d)
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
uint64_t lcpp_op_offload_bytes(const gpumem_model *m, const lcpp *c, uint32_t cpu_moe)
{
    uint64_t streamed = 0, act = 0;
    int64_t first_stream = -1;
    for (uint32_t i = 0; c->gpu && c->ub >= 32 && i < m->n_layer; i++) {
        const model_layer *l = &m->layers[i];
        bool host_layer = lcpp_layer_device(c, i) < 0;
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
        if (lcpp_layer_attends(&m->layers[i])) {
            uint64_t n = lcpp_layer_cells(&m->layers[i], c);
            any = n > any ? n : any;
            if (lcpp_layer_device(c, i) == c->op_dev && n > cells) {
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
uint64_t lcpp_pooling_bytes(const gpumem_model *m, const lcpp *c, uint64_t t, uint64_t n_seq)
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
    return (attn > ffn ? attn : ffn) + 3 * t * 4 + lcpp_pooling_bytes(m, c, t, n_seq);
}

/* The host's part with every layer on GPUs (modelled, no GPU measured):
 * the looked-up embeddings, the mask and the token inputs it fills. */
static uint64_t encoder_host_inputs(const gpumem_model *m, const lcpp *c, uint64_t t)
{
    return t * m->n_embd * 4 + t * t * mask_elt(c) + 3 * t * 4;
}

/* An encoder's graph on one device for T tokens of n_seq sequences; under
 * pipeline parallelism 3 more copies of its inputs (modelled). */
uint64_t lcpp_encoder_device(const gpumem_model *m, const lcpp *c, uint32_t first, uint32_t last,
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
uint64_t lcpp_encoder_tokens_reserved(const lcpp *c)
{
    return c->n_ctx < c->ub ? c->n_ctx : c->ub;
}

