/* Activations saved for backward, and the logits/loss buffers, of one
 * training rank.
 *
 * The per-layer count follows Korthikanti et al. 2022, "Reducing Activation
 * Recomputation in Large Transformer Models", section 4.1: with 16-bit
 * activations, 1-byte dropout masks, h hidden, a heads, s tokens, b
 * sequences, a GPT layer saves s*b*h*(34 + 5*a*s/h) bytes:
 *   attention 11sbh + 5as^2b: QKV input 2, Q and K 4, V 2, softmax output
 *     2as/h, its dropout mask as/h and output 2as/h, o_proj input 2,
 *     dropout mask 1;
 *   MLP 19sbh: input 2, GeLU input 8, GeLU output 8, dropout mask 1;
 *   two LayerNorm inputs 4sbh.
 * Adaptations, each from the code that runs:
 *   - GQA: K and V count n_head_kv * head_dim, not h;
 *   - gated MLPs: transformers' LlamaMLP saves gate output, act output, up
 *     output and their product (4 x ff); Megatron-Core's fused SwiGLU saves
 *     fc1's [2 x ff] output and the SwiGLU output (3 x ff);
 *   - flash attention and selective recomputation drop the 5as/h term;
 *   - transformers' eager attention upcasts softmax to fp32 (4 B) and casts
 *     back for the matmul (modeling_llama.py eager_attention_forward);
 *     autocast runs softmax and LayerNorm in fp32 (torch.amp op lists);
 *   - LlamaRMSNorm (transformers 5.24) upcasts its input to fp32 (saved by
 *     pow and mul: 4h) and multiplies the weight by the normalised tensor
 *     cast back to 16 bits (saved: 2h); on fp32 weights the upcast is the
 *     input itself and the saved normalised tensor is fp32: 4h + 4h. The
 *     measured layer of Qwen3-0.6B in bf16 (71848 B per token) is matched
 *     to the byte by this rule, counting its output as the next matmul's
 *     input;
 *   - Q/K norms (Qwen3, Gemma-3, OLMo-2) are such RMSNorms over the query
 *     and key widths, their outputs feeding RoPE (not saved);
 *   - tensor parallel t divides the head- and ff-sized terms; with
 *     sequence parallel the rest too (ibid., eq. 2 and 3);
 *   - full recomputation keeps each layer's input, 2sbh, plus one layer's
 *     full activations while it is recomputed (ibid., section 4.2);
 *   - MoE: every token's hidden state is copied to its top-k experts, each
 *     copy runs an expert MLP, and the k outputs are kept for the weighted
 *     sum; router logits and probabilities are fp32;
 *   - autocast over fp32 weights casts a matmul's fp32 input per call, and
 *     each copy is saved: separate Q, K and V projections make three bf16
 *     copies of the normed input, separate gate and up two (measured on
 *     BERT: 8h bytes of casts per layer and token). Models that fuse them
 *     (GPT-2's c_attn, NeoX's query_key_value, Phi-3's qkv_proj) make one;
 *     gpumem counts three and two for every model, over by at most 4h;
 *   - an encoder whose config names a masked-LM head (BertForMaskedLM) is
 *     trained as such unless told otherwise (encoder_head): its head saves
 *     the transform's input and GeLU input and computes logits over the
 *     vocabulary like a causal LM (measured: 3 fp32 token x vocab tensors
 *     at the peak, transformers 5.24);
 *   - LoRA on MoE experts (PEFT 0.21 ParamWrapper over transformers 5's
 *     fused expert parameters) forms each layer's merged expert weights,
 *     W + s * B @ A for every expert, in the weights' dtype, and grouped_mm
 *     saves them for backward: one expert-weight-sized tensor per adapted
 *     matrix and layer, whatever the batch (measured: [8, 2048, 512] and
 *     [8, 512, 1024] bf16 per layer of a tiny Mixtral);
 *   - context parallel splits the tokens over cp ranks;
 *   - 1F1B: the first pipeline stage holds min(pp, micro-batches)
 *     micro-batches in flight (ibid., section 4.2.3). */
#include "train_internal.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    double es;   /* residual stream, norms, dropout outputs */
    double el;   /* tensors saved as matmul inputs */
    double soft; /* softmax output in eager attention */
    bool rms_upcast;
    bool amp_fp32; /* torch.amp over fp32 weights */
} act_bytes;

static act_bytes bytes_of(const gpumem_model *m, const train_req *r)
{
    const train_framework_profile *fw = train_framework_get(r->fw);
    act_bytes b = {2, 2, 2, false, false};
    if (r->precision == GPUMEM_PREC_FP32)
        b = (act_bytes){4, 4, 4, false, false};
    else if (r->precision == GPUMEM_PREC_FP8)
        b.el = 1; /* Transformer Engine saves fp8 casts of GEMM inputs */
    b.amp_fp32 = fw->amp_weight_casts && r->precision != GPUMEM_PREC_FP32 &&
                 r->precision != GPUMEM_PREC_BF16 && r->method == GPUMEM_TRAIN_FULL &&
                 r->zero == 0 && r->fsdp == GPUMEM_FSDP_NONE;
    if (b.amp_fp32)
        b.es = 4;
    /* Models trained with dropout (BERT, GPT-2) use LayerNorm and a plain
     * softmax; the rest use transformers' RMSNorm and fp32 softmax. */
    bool modern = fw->fp32_norm_upcast && !r->dropout && !m->is_encoder;
    b.rms_upcast = modern;
    if (b.amp_fp32 || modern)
        b.soft = 4;
    else if (b.es > b.soft)
        b.soft = b.es;
    return b;
}

static double norm_bytes(const act_bytes *b, double h)
{
    if (!b->rms_upcast)
        return b->es * h;
    return b->es >= 4 ? 8 * h : 4 * h + b->es * h;
}

/* Saved bytes of one MLP of width f (already split over tp) per token,
 * its input excluded. */
static double mlp_bytes(const model_layer *l, const train_req *r, const act_bytes *b, double f)
{
    /* A frozen down projection (LoRA without it) needs no input for a
     * weight gradient: one ff-wide tensor fewer (measured: Llama-3.1-8B,
     * LoRA on q and v, 172300 B per layer and token against 200704 with
     * full fine-tuning, 2ff = 28672 apart). */
    double frozen_down = r->method != GPUMEM_TRAIN_FULL && !(r->lora_mask & LORA_DOWN) ? 1 : 0;
    if (!l->gated_ff) /* fc output and its activation; GPT-2's Python
                        * gelu_new saves its five intermediates (measured) */
        return ((l->ff_live == 4 ? 5 : 2) - frozen_down) * f * b->el;
    return (train_framework_get(r->fw)->gated_saved_f - frozen_down) * f * b->el;
}

/* Bytes one layer saves per token, split into a part every tp rank holds
 * (divided by t only under sequence parallel) and a part split over tp;
 * `scores` is the eager attention term (per token, already split). */
typedef struct {
    double replicated, split, scores;
} layer_act;

static layer_act layer_bytes(const gpumem_model *m, const model_layer *l, const train_req *r,
                             const act_bytes *b)
{
    layer_act a = {0, 0, 0};
    double h = m->n_embd, t = r->tp, mask = r->dropout ? h : 0;
    if (l->ssm && l->ssm_delta) {
        /* Gated delta net (Qwen3-Next, transformers 5.24's torch chunk
         * rule): the tensors of its inference peak (engine_transformers.c),
         * all of which autograd saves: projections, z and the conv output
         * in the compute dtype, fp32 per value head 5 head_k + 5 head_v +
         * 3 chunk. Not measured in training. */
        double nv = (double)l->ssm_heads / t, kd = (double)l->ssm_groups * l->ssm_d_state / t;
        double vd = nv * l->ssm_head_dim;
        a.replicated = norm_bytes(b, h) + b->el * h;
        a.split = b->el * (4 * kd + 4 * vd + 3 * nv) +
                  4.0 * nv * (5.0 * l->ssm_d_state + 5.0 * l->ssm_head_dim + 3.0 * l->ssm_chunk);
        return a;
    }
    if (l->ssm) {
        /* Mamba: in_proj input and output (2d), conv output, x_proj output,
         * dt and the scan's saved inputs. */
        double d = (double)l->ssm_d_inner / t;
        a.replicated = norm_bytes(b, h) + b->el * h;
        a.split = b->el * (6 * d + l->ssm_dt_rank + 2.0 * l->ssm_d_state);
        return a;
    }
    if (l->attn != ATTN_KIND_NONE) {
        double q = (double)l->n_head * l->head_dim_k, kv = (double)l->n_head_kv * l->head_dim_k;
        double v = (double)l->n_head_kv * l->head_dim_v, o = (double)l->n_head * l->head_dim_v;
        if (l->attn == ATTN_KIND_MLA) /* latent and rope key of MLA */
            kv += (double)l->kv_lora_rank + l->qk_rope_dim;
        a.replicated += norm_bytes(b, h) + (b->amp_fp32 ? 3 : 1) * b->el * h + mask;
        a.split += b->el * (q + kv + v + o) / t;
        if (l->qk_norm && l->attn != ATTN_KIND_MLA)
            a.split += (norm_bytes(b, q) + norm_bytes(b, kv)) / t;
        bool core = !r->flash && r->ckpt == GPUMEM_CKPT_NONE;
        if (core) {
            double keys = (double)r->seq;
            if (l->attn == ATTN_KIND_SLIDING && l->window && l->window < keys)
                keys = l->window;
            double per = b->soft + (r->dropout ? 1 + b->soft : 0) + (b->soft != b->el ? b->el : 0);
            a.scores = (double)l->n_head / t * keys * per;
        }
    }
    double mlp = 0;
    if (l->n_ff)
        mlp = mlp_bytes(l, r, b, (double)l->n_ff / t);
    if (l->n_expert) {
        /* Rows through the experts: k per token, or every expert on
         * every token where transformers runs them densely (Llama 4). */
        double k = l->experts_all_tokens ? l->n_expert
                   : l->n_expert_used    ? l->n_expert_used
                                         : 1;
        double moe = k * (b->el * h + mlp_bytes(l, r, b, (double)l->n_ff_expert / t)) +
                     k * b->el * h + 2 * 4.0 * l->n_expert;
        if (l->n_ff_shared)
            moe += mlp_bytes(l, r, b, (double)l->n_ff_shared / t);
        mlp += moe;
    }
    if (l->n_ff || l->n_expert) {
        a.replicated += norm_bytes(b, h) + (b->amp_fp32 && l->gated_ff ? 2 : 1) * b->el * h + mask;
        a.split += mlp;
    }
    return a;
}

void train_activations(const gpumem_model *m, const train_req *r, const train_stage *st,
                       train_dynamic *out)
{
    memset(out, 0, sizeof *out);
    act_bytes b = bytes_of(m, r);
    double tokens = (double)r->micro_batch * (double)r->seq / r->cp;
    double h = m->n_embd, t = r->tp, rep_div = r->sp ? t : 1;
    double saved = 0, one_layer = 0, inputs = 0, matrices = 0, merged = 0, one_mat = 0;
    double wbytes = r->precision == GPUMEM_PREC_FP32 ? 4 : 2;
    bool lora = r->method != GPUMEM_TRAIN_FULL;
    for (uint32_t i = st->first; i < st->first + st->count; i++) {
        const model_layer *l = &m->layers[i];
        if (lora && l->n_expert) {
            double e = (double)l->n_expert / r->ep, f = (double)l->n_ff_expert / t;
            if (r->lora_mask & (LORA_GATE | LORA_UP))
                merged += e * (l->gated_ff ? 2 : 1) * f * h * wbytes;
            if (r->lora_mask & LORA_DOWN)
                merged += e * f * h * wbytes;
        }
        layer_act a = layer_bytes(m, l, r, &b);
        double full = a.replicated / rep_div + a.split + a.scores;
        one_layer = full > one_layer ? full : one_layer;
        saved += full;
        inputs += b.es * h / rep_div;
        double mat = (double)l->params_linear / t + (double)l->params_expert / t / r->ep;
        matrices += mat;
        one_mat = mat > one_mat ? mat : one_mat;
    }
    const char *how = r->flash ? "flash attention" : "eager attention";
    double layers_b;
    if (r->ckpt == GPUMEM_CKPT_FULL) {
        layers_b = inputs + one_layer;
        how = "full recomputation: layer inputs + 1 layer";
    } else {
        layers_b = saved;
        if (r->ckpt == GPUMEM_CKPT_SELECTIVE)
            how = "selective recomputation of attention";
    }
    /* Embedding output (and its dropout mask) on the first stage; final
     * norm and lm_head input on the last. */
    double extra = 0;
    if (st->has_embed)
        extra += (b.es * h + (r->dropout ? h : 0)) / rep_div;
    if (st->has_head)
        extra += (norm_bytes(&b, h) + b.el * h) / rep_div;
    bool mlm = r->mlm_head;
    if (st->has_head && mlm)
        extra += (b.el * h + b.es * h) / rep_div;
    double in_flight = 1;
    if (r->pp > 1) {
        in_flight = r->pp - st->stage;
        if (in_flight > r->micro_batches)
            in_flight = r->micro_batches;
    }
    out->activations = (layers_b + extra) * tokens * in_flight + merged * in_flight;
    /* torch.amp keeps the 16-bit cast of every weight it multiplies for
     * backward, and its cast cache holds them all until the forward pass
     * leaves autocast, with recomputation too (torch autocast cache). */
    double casts = 0, lm = 0;
    if (b.amp_fp32) {
        lm = st->has_head ? (double)(m->params_output ? m->params_output : m->params_embed) : 0;
        if (m->is_encoder)
            lm = mlm ? (double)m->n_vocab * h : 0;
        casts = 2 * matrices;
        casts += 2 * lm;
        out->activations += casts;
    }
    snprintf(out->act_note, sizeof out->act_note, "%u layers x %.0f tokens%s, %s%s%s", st->count,
             tokens, in_flight > 1 ? " x in-flight micro-batches" : "", how,
             r->tp > 1 ? (r->sp ? ", tp+sp split" : ", tp split") : "",
             casts > 0 ? ", + autocast weight casts" : "");
    if (merged > 0) {
        size_t n = strlen(out->act_note);
        snprintf(out->act_note + n, sizeof out->act_note - n,
                 ", + merged LoRA expert weights %.2f GiB", merged * in_flight / 1073741824.0);
    }

    if (!st->has_head || (m->is_encoder && !mlm)) {
        if (st->has_head)
            snprintf(out->logits_note, sizeof out->logits_note,
                     "encoder: classification head, negligible");
        return;
    }
    const train_framework_profile *fw = train_framework_get(r->fw);
    out->logits = tokens * (double)m->n_vocab / t * fw->logit_copies4;
    /* With full recomputation the casts are not saved: leaving autocast
     * frees them before backward, where only lm_head's and one recomputed
     * layer's exist. The step then peaks either at the end of the forward
     * (every cast; logits as the 16-bit lm_head output, its fp32 copy and
     * log-softmax: 2 B fewer per element) or at the start of backward.
     * Measured, Llama-3.2-1B bf16 mixed, 4 x 1024 tokens: forward 23.21 GB,
     * backward 22.28 GB. */
    if (casts > 0 && r->ckpt == GPUMEM_CKPT_FULL) {
        double fwd_logits = out->logits - tokens * (double)m->n_vocab / t * 2;
        double bwd_casts = 2 * lm + 2 * one_mat;
        if (casts + fwd_logits < bwd_casts + out->logits) {
            out->activations -= casts - bwd_casts;
            casts = bwd_casts;
        } else {
            out->logits = fwd_logits;
        }
    }
    snprintf(out->logits_note, sizeof out->logits_note,
             "%.0f tokens x %u vocab x %u B (%s%s loss)", tokens, m->n_vocab,
             fw->logit_copies4, fw->name, mlm ? " masked-LM" : "");
}
