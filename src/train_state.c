/* Model states of one training rank: weights, gradients and optimizer
 * states, for full fine-tuning, LoRA and QLoRA, under each precision,
 * optimiser and sharding scheme.
 *
 * Sources, per rule:
 *  - mixed precision under DeepSpeed keeps 16-bit weights (2 B) and
 *    gradients (2 B) and fp32 master weights, momentum and variance (12 B):
 *    16 B/param (Rajbhandari et al. 2020, "ZeRO", section 3.1); ZeRO-1/2/3
 *    shard the 12, then the gradients, then the weights over the
 *    data-parallel ranks (ibid., section 5);
 *  - torch.amp under transformers' Trainer keeps fp32 weights, fp32
 *    gradients and two fp32 AdamW states (4 + 4 + 8 = 16 B), the 16-bit
 *    casts of the weights being saved for backward ("6 bytes per parameter
 *    for mixed precision", transformers docs, model_memory_anatomy.md);
 *  - FSDP (torch 2.x, MixedPrecision(param_dtype=bf16)) shards the fp32
 *    flat parameters, their fp32 gradients and the states;
 *  - Megatron-Core keeps bf16 weights, fp32 main gradients, fp32 master
 *    weights and two states: 18 B/param, or 6 + 12/d with the distributed
 *    optimizer (Megatron-LM docs, "Distributed Optimizer");
 *  - pure bf16 (torchtune, LitGPT): weights, gradients and states in bf16;
 *  - LoRA: r x (d_in + d_out) trainable parameters per adapted matrix (Hu et
 *    al. 2021); PEFT 0.17 casts adapters to fp32 under mixed precision
 *    (autocast_adapter_dtype=True);
 *  - LoRA on MoE experts: PEFT 0.21 maps gate/up/down (and all-linear) onto
 *    transformers 5's fused 3-D expert parameters (target_parameters,
 *    utils/transformers_weight_conversion.py): per expert, rank 2r on the
 *    fused gate_up [2f, h] and r on down [h, f]; the router is adapted as
 *    the old "gate" Linear was. Measured on a tiny Mixtral (h 512, f 1024,
 *    8 experts, 4 layers, r 16): 3654172 adapter parameters, this rule
 *    3654144;
 *  - QLoRA: NF4 with double quantisation, 4 + 8/64 + 32/(64*256) = 4.127
 *    bits per matrix weight (Dettmers et al. 2023, section 3); PEFT's
 *    prepare_model_for_kbit_training casts the other tensors to fp32;
 *  - bitsandbytes 0.45 8-bit optimisers: 1 byte per state plus an fp32
 *    absmax per 256-element block; tensors under 4096 elements
 *    (min_8bit_size) keep 32-bit states;
 *  - Adafactor (transformers' implementation, beta1=None): a row and a
 *    column second moment per matrix, a full one for vectors;
 *  - Muon (Jordan et al. 2024; torch.optim.Muon): one momentum buffer per
 *    hidden matrix, AdamW for embeddings, head and vectors. */
#include "train_internal.h"

#include <stdio.h>
#include <string.h>

/* One tensor group of a rank: `count` tensors of rows x cols elements. */
typedef struct {
    double rows, cols, count;
    bool hidden;       /* a hidden-layer matrix (Muon's domain) */
    bool vector;       /* norms, biases: no factoring, 32-bit 8-bit-optim state */
    bool embed;        /* input embeddings (--freeze-embeddings) */
    uint32_t lora_bit; /* the LoRA target it answers to, 0 if none */
    double lora_rank_x; /* adapter rank as a multiple of r (0: 1) */
} tgroup;

typedef void (*tgroup_fn)(const tgroup *g, void *ctx);

static void emit(tgroup_fn fn, void *ctx, double rows, double cols, double count, bool hidden,
                 uint32_t bit)
{
    if (rows <= 0 || cols <= 0 || count <= 0)
        return;
    tgroup g = {rows, cols, count, hidden, false, false, bit, 1};
    fn(&g, ctx);
}

/* A fused matrix whose LoRA adapter has rank_x times the rank. */
static void emit_fused(tgroup_fn fn, void *ctx, double rows, double cols, double count,
                       uint32_t bit, double rank_x)
{
    if (rows <= 0 || cols <= 0 || count <= 0)
        return;
    tgroup g = {rows, cols, count, true, false, false, bit, rank_x};
    fn(&g, ctx);
}

/* The matrices of one layer as one rank holds them (tp splits the output
 * or input dimension, ep the experts). */
static void layer_groups(const gpumem_model *m, const model_layer *l, const train_req *r,
                         tgroup_fn fn, void *ctx)
{
    double h = m->n_embd, t = r->tp, mats = l->gated_ff ? 3 : 2;
    double known = 0;
    if (!l->ssm && (l->attn == ATTN_KIND_FULL || l->attn == ATTN_KIND_SLIDING)) {
        double q = (double)l->n_head * l->head_dim_k, k = (double)l->n_head_kv * l->head_dim_k;
        double v = (double)l->n_head_kv * l->head_dim_v, o = (double)l->n_head * l->head_dim_v;
        emit(fn, ctx, q / t, h, 1, true, LORA_Q);
        emit(fn, ctx, k / t, h, 1, true, LORA_K);
        emit(fn, ctx, v / t, h, 1, true, LORA_V);
        emit(fn, ctx, h, o / t, 1, true, LORA_O);
        known += h * (q + k + v + o);
    }
    const uint32_t ff_bits[3] = {LORA_GATE, LORA_UP, LORA_DOWN};
    const double widths[2] = {l->n_ff, l->n_ff_shared};
    for (int w = 0; w < 2; w++) {
        if (!widths[w])
            continue;
        for (int i = l->gated_ff ? 0 : 1; i < 3; i++)
            emit(fn, ctx, i == 2 ? h : widths[w] / t, i == 2 ? widths[w] / t : h, 1, true,
                 ff_bits[i]);
        known += mats * h * widths[w];
    }
    if (l->n_expert) {
        emit(fn, ctx, l->n_expert, h, 1, true, LORA_GATE); /* router, replicated */
        known += h * l->n_expert;
        /* Routed experts are fused 3-D parameters in transformers 5; PEFT
         * 0.21 adapts them as target parameters (see the header). */
        double e = (double)l->n_expert / r->ep, f = (double)l->n_ff_expert / t;
        if (l->gated_ff)
            emit_fused(fn, ctx, 2 * f, h, e, LORA_GATE | LORA_UP,
                       (r->lora_mask & LORA_GATE) && (r->lora_mask & LORA_UP) ? 2 : 1);
        else
            emit_fused(fn, ctx, f, h, e, LORA_UP, 1);
        emit_fused(fn, ctx, h, f, e, LORA_DOWN, 1);
    }
    /* MLA and SSM projections: the rest of the layer's matrices, taken as
     * [rest / h, h]; LoRA's attention targets reach them. */
    double rest = (double)l->params_linear - known;
    if (rest > h)
        emit(fn, ctx, rest / h / t, h, 1, true, LORA_ATTENTION);
    if (l->params_small) {
        tgroup g = {1, (double)l->params_small, 1, false, true, false, 0, 1};
        fn(&g, ctx);
    }
}

static void stage_groups(const gpumem_model *m, const train_req *r, const train_stage *st,
                         bool embeddings, tgroup_fn fn, void *ctx)
{
    for (uint32_t i = st->first; i < st->first + st->count; i++)
        layer_groups(m, &m->layers[i], r, fn, ctx);
    if (!embeddings)
        return;
    double h = m->n_embd, t = r->tp;
    /* Megatron keeps a copy of tied word embeddings on the last stage. */
    bool embed = st->has_embed || (st->has_head && m->tied && r->pp > 1);
    if (embed && m->params_embed) {
        tgroup g = {(double)m->params_embed / h / t, h, 1, false, false, true, 0, 1};
        fn(&g, ctx);
    }
    if (st->has_head)
        emit(fn, ctx, (double)m->params_output / h / t, h, 1, false, 0);
    if ((st->has_head || st->has_embed) && m->params_other) {
        tgroup g = {1, (double)m->params_other, 1, false, true, false, 0, 1};
        fn(&g, ctx);
    }
    /* A multimodal model's vision tower and projector sit with the
     * embeddings on the first stage, trained with everything in a full
     * fine-tune, frozen under LoRA (the default targets are the language
     * model's projections); taken as one unsharded block. Image
     * activations are not modelled. */
    if (st->has_embed && m->params_vision) {
        tgroup g = {1, (double)m->params_vision, 1, false, false, false, 0, 1};
        fn(&g, ctx);
    }
}

/* ------------------------------------------------------ optimizer states */

typedef struct {
    const train_req *r;
    double state_bytes; /* one full-precision state element */
    double params, states, matrices;
    bool trainable_embed;
    uint32_t lora_rank; /* 0: the groups themselves are trained */
    uint32_t lora_mask;
    double lora_params;
} optim_acc;

static double optim_bytes(const train_req *r, double s, double rows, double cols, double count,
                          bool hidden, bool vector)
{
    double n = rows * cols;
    switch (r->optimizer) {
    case GPUMEM_OPTIM_ADAMW:
    case GPUMEM_OPTIM_ADAMW_FOREACH:
        return count * 2 * s * n;
    case GPUMEM_OPTIM_ADAMW8BIT:
    case GPUMEM_OPTIM_PAGED_ADAMW8BIT:
        if (n < 4096)
            return count * 2 * 4 * n;
        return count * 2 * (n + 4 * (double)(uint64_t)((n + 255) / 256));
    case GPUMEM_OPTIM_SGD:
        return 0;
    case GPUMEM_OPTIM_SGD_MOMENTUM:
    case GPUMEM_OPTIM_LION:
        return count * s * n;
    case GPUMEM_OPTIM_ADAFACTOR:
        return count * s * (vector ? n : rows + cols);
    case GPUMEM_OPTIM_MUON:
        return count * s * n * (hidden ? 1 : 2);
    default:
        return 0;
    }
}

static void count_group(const tgroup *g, void *ctx)
{
    optim_acc *a = ctx;
    if (a->lora_rank) {
        if (!(g->lora_bit & a->lora_mask))
            return;
        /* A: [r, d_in] and B: [d_out, r]. */
        double rk = a->lora_rank * (g->lora_rank_x > 0 ? g->lora_rank_x : 1);
        a->lora_params += g->count * rk * (g->rows + g->cols);
        a->states += optim_bytes(a->r, a->state_bytes, rk, g->cols, g->count, true, false);
        a->states += optim_bytes(a->r, a->state_bytes, g->rows, rk, g->count, true, false);
        return;
    }
    double n = g->count * g->rows * g->cols;
    if (g->embed && !a->trainable_embed)
        return;
    a->params += n;
    if (!g->vector)
        a->matrices += n;
    a->states +=
        optim_bytes(a->r, a->state_bytes, g->rows, g->cols, g->count, g->hidden, g->vector);
}

/* ------------------------------------------------------------ weights */

/* Bytes per matrix weight of a QLoRA base: NF4, 8-bit absmax per 64, fp32
 * second-level scale per 256 absmax (double quantisation). */
static double nf4_dq_bytes(double n) { return n * (4.0 + 8.0 / 64 + 32.0 / (64 * 256)) / 8; }

typedef struct {
    double matrices, others, hidden;
} weight_split;

static void split_group(const tgroup *g, void *ctx)
{
    weight_split *w = ctx;
    double n = g->count * g->rows * g->cols;
    if (g->hidden)
        w->matrices += n;
    else
        w->others += n;
}


/* How one framework lays out a trainable parameter, in bytes. */
typedef struct {
    double weight, grad, master, state;
    const char *desc;
} param_layout;

static param_layout layout_of(const train_req *r)
{
    if (r->precision == GPUMEM_PREC_FP32)
        return (param_layout){4, 4, 0, 4, "fp32 weights, gradients and states"};
    if (r->precision == GPUMEM_PREC_BF16)
        return (param_layout){2, 2, 0, 2, "pure bf16 weights, gradients and states"};
    double w8 = r->precision == GPUMEM_PREC_FP8 ? 1 : 0; /* fp8 weight cast kept for backward */
    if (r->fw == TRAIN_FW_MEGATRON)
        return (param_layout){2 + w8, 4, 4, 4, "bf16 weights, fp32 main grads, fp32 master"};
    if (r->fsdp != GPUMEM_FSDP_NONE)
        return (param_layout){4 + w8, 4, 0, 4, "FSDP: fp32 sharded weights and gradients"};
    if (r->zero > 0)
        return (param_layout){2 + w8, 2, 4, 4, "16-bit weights and gradients, fp32 master"};
    return (param_layout){4 + w8, 4, 0, 4, "torch.amp: fp32 weights and gradients"};
}

void train_model_states(const gpumem_model *m, const train_req *r, const train_stage *st,
                        train_states *out)
{
    memset(out, 0, sizeof *out);
    param_layout pl = layout_of(r);
    /* Data-parallel shard counts: the distributed optimizer and ZeRO shard
     * over dp x cp (Megatron-Core's dp-cp group); experts over dp x cp / ep;
     * hybrid shard stays inside one node (8 GPUs assumed). */
    double d = (double)r->dp * r->cp;
    if (r->fsdp == GPUMEM_FSDP_HYBRID && d > 8)
        d = 8;
    bool fsdp = r->fsdp != GPUMEM_FSDP_NONE;
    double d_opt = (r->zero >= 1 || fsdp) ? d : 1;
    double d_grad = (r->zero >= 2 || fsdp) ? d : 1;
    double d_w = (r->zero >= 3 || fsdp) ? d : 1;

    weight_split ws = {0, 0, 0};
    stage_groups(m, r, st, true, split_group, &ws);
    if (r->method == GPUMEM_TRAIN_FULL) {
        optim_acc a = {r, pl.state, 0, 0, 0, !r->freeze_embeddings, 0, 0, 0};
        stage_groups(m, r, st, true, count_group, &a);
        double frozen = ws.matrices + ws.others - a.params;
        /* Frozen embeddings stay in the 16-bit compute dtype, unsharded
         * copies aside. */
        double frozen_b = r->precision == GPUMEM_PREC_FP32 ? 4 : 2;
        out->weights = a.params * pl.weight / d_w + frozen * frozen_b / d_w;
        out->gradients = a.params * pl.grad / d_grad;
        out->optimizer = (a.params * pl.master + a.states) / d_opt;
        out->trainable = a.params;
        snprintf(out->weights_note, sizeof out->weights_note, "%.0f params on this rank; %s",
                 ws.matrices + ws.others, pl.desc);
    } else {
        /* PEFT keeps adapters in fp32 over a 16-bit base whatever the
         * precision (autocast_adapter_dtype=True, measured). */
        optim_acc a = {r, 4, 0, 0, 0, false, r->lora_rank, r->lora_mask, 0};
        stage_groups(m, r, st, false, count_group, &a);
        double base16 = r->precision == GPUMEM_PREC_FP32 ? 4 : 2;
        if (r->method == GPUMEM_TRAIN_QLORA) {
            out->weights = (nf4_dq_bytes(ws.matrices) + 4 * ws.others) / d_w;
            snprintf(out->weights_note, sizeof out->weights_note,
                     "frozen base: matrices NF4+double quant (4.127 bits), rest fp32");
        } else {
            out->weights = (ws.matrices + ws.others) * base16 / d_w;
            snprintf(out->weights_note, sizeof out->weights_note, "frozen base, %.0f params x %s",
                     ws.matrices + ws.others, base16 == 4 ? "fp32" : "16-bit");
        }
        double ab = a.state_bytes; /* adapters: fp32 */
        out->lora_weights = a.lora_params * ab / d_w;
        out->lora_gradients = a.lora_params * ab / d_grad;
        out->lora_optimizer = a.states / d_opt;
        out->trainable = a.lora_params;
    }
    double total = out->weights + out->gradients + out->optimizer + out->lora_weights +
                   out->lora_gradients + out->lora_optimizer;
    out->bytes_per_param = out->trainable > 0 ? total / out->trainable : 0;
    snprintf(out->optim_note, sizeof out->optim_note, "%s%s%s", gpumem_optimizer_name(r->optimizer),
             pl.master > 0 && r->method == GPUMEM_TRAIN_FULL ? " + fp32 master weights" : "",
             d_opt > 1 ? ", sharded over data-parallel ranks" : "");

    /* Communication buffers the allocator sees. */
    double layer_params = st->count ? (ws.matrices) / st->count : 0;
    double gbytes = r->method == GPUMEM_TRAIN_FULL ? out->gradients : out->lora_gradients;
    if (fsdp || r->zero == 3) {
        /* The unit being computed and the prefetched next one, unsharded
         * in 16 bits, and one unit's unsharded gradient awaiting
         * reduce-scatter (FSDP backward_prefetch=BACKWARD_PRE; DeepSpeed
         * stage3_prefetch_bucket_size). */
        out->comm = 3 * 2 * layer_params;
        snprintf(out->comm_note, sizeof out->comm_note,
                 "all-gather of 2 layers' 16-bit weights + 1 layer's gradients");
    } else if (r->zero >= 1 && r->fw == TRAIN_FW_TRANSFORMERS) {
        /* DeepSpeed ZeRO-1/2: the contiguous gradient (ipg) bucket of
         * reduce_bucket_size = 5e8 elements, 16-bit. */
        double elems = out->trainable < 5e8 ? out->trainable : 5e8;
        out->comm = 2 * elems;
        snprintf(out->comm_note, sizeof out->comm_note, "DeepSpeed reduce bucket (5e8 elements)");
    } else if (r->dp > 1 && r->fw == TRAIN_FW_TRANSFORMERS) {
        /* DDP's buckets copy every gradient unless gradient_as_bucket_view
         * (torch DDP docs: the saving "equals the total gradients size"). */
        out->comm = gbytes;
        snprintf(out->comm_note, sizeof out->comm_note,
                 "DDP gradient buckets (a copy of the gradients)");
    }
}
