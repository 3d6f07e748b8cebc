/* Stored bytes of pre-quantised checkpoints. Layouts, from the packers'
 * formats (facts checked against the tensors of public checkpoints, see
 * tests/test_quant.c):
 *  - GPTQ (AutoGPTQ / GPTQModel, as transformers 5.24 loads it): qweight
 *    int32 [k*bits/32, n], qzeros int32 [k/group, n*bits/32], scales fp16
 *    [k/group, n], g_idx int32 [k] (written whether or not desc_act).
 *  - AWQ (GEMM): qweight int32 [k, n*bits/32], qzeros int32
 *    [k/group, n*bits/32], scales fp16 [k/group, n].
 *  - FP8 (quant_method "fp8", transformers finegrained_fp8.py): e4m3 weight
 *    [n, k] and an fp32 weight_scale_inv [n/block_n, k/block_k], or one
 *    fp32 scale per tensor; "static" activations add an fp32 input_scale.
 *  - MXFP4 (gpt-oss): expert weights as uint8 *_blocks [E, n, k/32, 16] and
 *    uint8 *_scales [E, n, k/32] (one e8m0 exponent per 32 weights: 4.25
 *    bits per weight); attention, router, embeddings and lm_head in bf16.
 * Embeddings, lm_head, norms, biases and routers stay in `keep` (16 bits). */
#include "quant_internal.h"

#include "dtype_internal.h"
#include "error_internal.h"
#include "estimate_internal.h"
#include "util_internal.h"

#include <stdio.h>

static const char *const names[QUANT_COUNT] = {
    [QUANT_NONE] = "none", [QUANT_GPTQ] = "gptq",   [QUANT_AWQ] = "awq",
    [QUANT_FP8] = "fp8",   [QUANT_MXFP4] = "mxfp4", [QUANT_BNB] = "bitsandbytes",
};

const char *quant_method_name(quant_method q)
{
    return (int)q >= 0 && q < QUANT_COUNT ? names[q] : "?";
}

size_t quant_layer_matrices(const gpumem_model *m, const model_layer *l, quant_matrix *mats,
                            size_t *n_mats, quant_matrix *experts, size_t *n_experts)
{
    uint64_t h = m->n_embd, mlp = 0;
    size_t n_attn = 0;
    *n_mats = *n_experts = 0;
    uint64_t ins = l->gated_ff ? 2 : 1; /* gate and up, or up alone */
    if (l->n_ff) {
        mats[(*n_mats)++] = (quant_matrix){h, l->n_ff, ins};
        mats[(*n_mats)++] = (quant_matrix){l->n_ff, h, 1};
        mlp += (ins + 1) * h * l->n_ff;
    }
    if (l->n_ff_shared) {
        mats[(*n_mats)++] = (quant_matrix){h, l->n_ff_shared, ins};
        mats[(*n_mats)++] = (quant_matrix){l->n_ff_shared, h, 1};
        mlp += (ins + 1) * h * l->n_ff_shared;
    }
    if (l->n_expert) {
        experts[(*n_experts)++] = (quant_matrix){h, l->n_ff_expert, ins * l->n_expert};
        experts[(*n_experts)++] = (quant_matrix){l->n_ff_expert, h, l->n_expert};
        mlp += h * l->n_expert; /* the router, left in 16 bits */
    }
    if (l->ssm || l->attn == ATTN_KIND_MLA) {
        /* Not enumerated: the layer's other matrices as one of h inputs. */
        uint64_t rest = l->params_linear > mlp ? l->params_linear - mlp : 0;
        if (rest >= h && h)
            mats[(*n_mats)++] = (quant_matrix){h, rest / h, 1}, n_attn = 1;
    } else if (l->attn != ATTN_KIND_NONE) {
        uint64_t q = (uint64_t)l->n_head * l->head_dim_k;
        mats[(*n_mats)++] = (quant_matrix){h, q, 1};
        mats[(*n_mats)++] = (quant_matrix){h, (uint64_t)l->n_head_kv * l->head_dim_k, 1};
        mats[(*n_mats)++] = (quant_matrix){h, (uint64_t)l->n_head_kv * l->head_dim_v, 1};
        mats[(*n_mats)++] = (quant_matrix){(uint64_t)l->n_head * l->head_dim_v, h, 1};
        n_attn = 4;
    }
    return n_attn;
}

bool quant_matrix_bytes(const model_quant *q, uint64_t k, uint64_t n, uint64_t *out)
{
    uint64_t g = q->group ? q->group : k, groups = div_up(k, g);
    uint64_t bits = q->bits ? q->bits : 4, a, b, c;
    switch (q->method) {
    case QUANT_GPTQ: /* qweight + qzeros + scales + g_idx */
        return u64_mul(div_up(k * bits, 32), n * 4, &a) &&
               u64_mul(groups, div_up(n * bits, 32) * 4, &b) && u64_mul(groups, n * 2, &c) &&
               u64_add(a, b, out) && u64_add(*out, c, out) && u64_add(*out, k * 4, out);
    case QUANT_AWQ: /* qweight + qzeros + scales */
        return u64_mul(k, div_up(n * bits, 32) * 4, &a) &&
               u64_mul(groups, div_up(n * bits, 32) * 4, &b) && u64_mul(groups, n * 2, &c) &&
               u64_add(a, b, out) && u64_add(*out, c, out);
    case QUANT_FP8:
        if (!u64_mul(k, n, &a))
            return false;
        b = q->block_n && q->block_k ? div_up(n, q->block_n) * div_up(k, q->block_k) * 4 : 4;
        return u64_add(a, b + (q->input_scale ? 4 : 0), out);
    case QUANT_MXFP4: /* 16 bytes of 32 e2m1 values + 1 scale byte per block */
        return u64_mul(div_up(k, 32) * 17, n, out);
    default:
        return u64_mul(k, n * dtype_get(q->keep)->bytes_num, out);
    }
}

typedef struct {
    uint64_t sum;
    bool overflow;
} acc;

static void add_mats(acc *a, const model_quant *q, const quant_matrix *mm, size_t n, uint64_t *elems)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t b, t;
        if (!quant_matrix_bytes(q, mm[i].k, mm[i].n, &b) || !u64_mul(b, mm[i].count, &t) ||
            !u64_add(a->sum, t, &a->sum))
            a->overflow = true;
        *elems += mm[i].k * mm[i].n * mm[i].count;
    }
}

/* Bytes of layer l as stored: quantised matrices, the rest in 16 bits. */
static void layer_storage(const gpumem_model *m, model_layer *l, bool *overflow)
{
    const model_quant *q = &m->quant;
    uint64_t kb = dtype_get(q->keep)->bytes_num;
    quant_matrix mats[QUANT_MAX_MATRICES], ex[2];
    size_t nm, ne, n_attn = quant_layer_matrices(m, l, mats, &nm, ex, &ne);
    /* Attention matrices come last; kept attention is counted with the
     * rest below. */
    if (q->keep_attn)
        nm -= n_attn;
    acc lin = {0, false}, exp = {0, false};
    uint64_t lin_q = 0, exp_q = 0;
    if (q->method != QUANT_MXFP4)
        add_mats(&lin, q, mats, nm, &lin_q);
    add_mats(&exp, q, ex, ne, &exp_q);
    /* Everything not quantised above (routers, kept attention, expert
     * biases) stays 16-bit. */
    uint64_t rest_lin = l->params_linear > lin_q ? l->params_linear - lin_q : 0;
    uint64_t rest_exp = l->params_expert > exp_q ? l->params_expert - exp_q : 0;
    if (!u64_add(lin.sum, rest_lin * kb, &l->bytes_linear) ||
        !u64_add(exp.sum, rest_exp * kb, &l->bytes_expert) || lin.overflow || exp.overflow)
        *overflow = true;
    l->bytes_small = l->params_small * kb;
}

gpumem_status quant_attach_storage(gpumem_model *m, gpumem_error *err)
{
    const model_quant *q = &m->quant;
    if (q->method == QUANT_NONE || q->method == QUANT_BNB || !m->layers)
        return GPUMEM_OK;
    uint64_t kb = dtype_get(q->keep)->bytes_num, total = 0, params = 0;
    bool overflow = false;
    for (uint32_t i = 0; i < m->n_layer; i++) {
        model_layer *l = &m->layers[i];
        layer_storage(m, l, &overflow);
        if (!u64_add(total, l->bytes_linear, &total) || !u64_add(total, l->bytes_expert, &total) ||
            !u64_add(total, l->bytes_small, &total))
            overflow = true;
    }
    m->bytes_embed = m->params_embed * kb;
    m->bytes_output = m->params_output * kb;
    m->bytes_other = m->params_other * kb;
    if (overflow || !u64_add(total, m->bytes_embed + m->bytes_output + m->bytes_other, &total))
        return err_set(err, GPUMEM_ERR_OVERFLOW, "quantised storage does not fit in 64 bits");
    m->bytes_total = total;
    m->has_storage = true;
    params = m->params_total ? m->params_total : 1;
    double bpw = (double)total * 8.0 / (double)params;
    switch (q->method) {
    case QUANT_GPTQ:
    case QUANT_AWQ:
        snprintf(m->storage_desc, sizeof m->storage_desc, "%s %u-bit g%u, %.2f bits/weight",
                 quant_method_name(q->method), q->bits, q->group, bpw);
        break;
    case QUANT_FP8:
        snprintf(m->storage_desc, sizeof m->storage_desc, "fp8 %s scales, %.2f bits/weight",
                 q->block_n ? "block" : "tensor", bpw);
        break;
    default:
        snprintf(m->storage_desc, sizeof m->storage_desc, "mxfp4 experts, %.2f bits/weight", bpw);
        break;
    }
    return GPUMEM_OK;
}
