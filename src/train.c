/* Training and fine-tuning memory: settings, checks, the parallel layout
 * (which rank holds which layers), the per-rank devices, the caching
 * allocator's reserve and the explanation line. Model states are in
 * train_state.c, activations and logits in train_act.c. */
#include "train_internal.h"

#include "error_internal.h"
#include "util_internal.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

enum { MAX_MICRO_BATCH = 1 << 20, MAX_WORLD = GPUMEM_MAX_DEVICES - 1, MAX_RANK = 4096 };
static const uint64_t max_seq = 1ull << 26;
static const uint64_t default_seq = 2048;

/* Same constants as the inference engine (engine_transformers.c): the CUDA
 * 12 context with lazy loading and the cuBLAS workspace. */
static const uint64_t cuda_context_bytes = 512ull << 20;
static const uint64_t workspace_bytes = 32ull << 20;
/* The caching allocator rounds large blocks to 2 MiB and cannot always
 * reuse the freed blocks of the forward pass for the differently sized
 * gradients of the backward pass: what max_memory_reserved shows above
 * max_memory_allocated. Calibrated as a share of the short-lived memory on
 * the transformers model-memory-anatomy runs (tests/test_train_published.c)
 * and held to the other runs of that page. */
static const double frag_share = 0.16;
static const uint64_t frag_floor = 64ull << 20;

static const train_framework_profile frameworks[TRAIN_FW_COUNT] = {
    [TRAIN_FW_TRANSFORMERS] = {"transformers",
                               "transformers 5.24, torch 2.15, PEFT 0.17, DeepSpeed 0.17",
                               true, 4, 12, true},
    [TRAIN_FW_MEGATRON] = {"megatron", "Megatron-Core 0.14", false, 3, 10, false},
};

const train_framework_profile *train_framework_get(train_framework fw)
{
    return &frameworks[(int)fw >= 0 && fw < TRAIN_FW_COUNT ? fw : 0];
}

/* ------------------------------------------------------ names and parsing */

static const char *const method_names[GPUMEM_TRAIN_COUNT] = {"full", "lora", "qlora"};
static const char *const precision_names[GPUMEM_PREC_COUNT] = {"fp32", "fp16-mixed", "bf16-mixed",
                                                               "bf16", "fp8"};
static const char *const optimizer_names[GPUMEM_OPTIM_COUNT] = {
    "adamw", "adamw8bit", "paged-adamw8bit", "sgd", "sgd-momentum", "adafactor", "lion", "muon",
    "adamw-foreach"};
static const char *const ckpt_names[GPUMEM_CKPT_COUNT] = {"none", "selective", "full"};
static const char *const head_names[GPUMEM_HEAD_COUNT] = {"auto", "mlm", "classifier"};

NAMED_ENUM(gpumem_train_method, train_method, method_names, GPUMEM_TRAIN_COUNT, "training method")
NAMED_ENUM(gpumem_precision, precision, precision_names, GPUMEM_PREC_COUNT, "precision")
NAMED_ENUM(gpumem_optimizer, optimizer, optimizer_names, GPUMEM_OPTIM_COUNT, "optimizer")
NAMED_ENUM(gpumem_checkpointing, checkpointing, ckpt_names, GPUMEM_CKPT_COUNT, "checkpointing")
NAMED_ENUM(gpumem_encoder_head, encoder_head, head_names, GPUMEM_HEAD_COUNT, "encoder head")

/* LoRA targets: a preset or a comma-separated list of module names, with
 * or without PEFT's "_proj" suffix. */
gpumem_status train_lora_targets(const char *text, uint32_t *mask, gpumem_error *err)
{
    static const struct {
        const char *name;
        uint32_t bits;
    } names[] = {
        {"attention", LORA_ATTENTION}, {"all-linear", LORA_ALL_LINEAR}, {"q", LORA_Q},
        {"k", LORA_K},                 {"v", LORA_V},                   {"o", LORA_O},
        {"gate", LORA_GATE},           {"up", LORA_UP},                 {"down", LORA_DOWN},
        /* Fused and GPT-style module names, as PEFT matches them: GPT-2's
         * c_proj names both the attention output and the MLP down
         * projection; a fused module's single adapter is counted as one per
         * part (a few adapter parameters over). */
        {"qkv", LORA_Q | LORA_K | LORA_V}, {"c_attn", LORA_Q | LORA_K | LORA_V},
        {"query_key_value", LORA_Q | LORA_K | LORA_V}, {"gate_up", LORA_GATE | LORA_UP},
        {"c_fc", LORA_UP}, {"c_proj", LORA_O | LORA_DOWN},
    };
    *mask = 0;
    if (!text || !*text) {
        *mask = LORA_ATTENTION;
        return GPUMEM_OK;
    }
    const char *p = text;
    while (*p) {
        char item[32];
        size_t n = strcspn(p, ",");
        if (n == 0 || n >= sizeof item)
            return err_set(err, GPUMEM_ERR_USAGE, "bad LoRA target list '%s'", text);
        memcpy(item, p, n);
        item[n] = '\0';
        char given[32];
        memcpy(given, item, n + 1);
        uint32_t bits = 0;
        for (int pass = 0; pass < 2 && !bits; pass++) {
            size_t len = strlen(item); /* then without PEFT's "_proj" */
            if (pass == 1 && len > 5 && str_ieq(item + len - 5, "_proj"))
                item[len - 5] = '\0';
            for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
                if (str_ieq(item, names[i].name))
                    bits = names[i].bits;
        }
        if (!bits)
            return err_set(err, GPUMEM_ERR_USAGE,
                           "unknown LoRA target '%s' (expected attention, all-linear or a list "
                           "of q, k, v, o, gate, up, down, qkv, gate_up, c_attn, c_fc, c_proj, "
                           "query_key_value)",
                           given);
        *mask |= bits;
        p += n + (p[n] == ',');
    }
    return GPUMEM_OK;
}

void gpumem_train_settings_init(gpumem_train_settings *s)
{
    memset(s, 0, sizeof *s);
    s->method = GPUMEM_TRAIN_FULL;
    s->lora_rank = 16;
    s->precision = GPUMEM_PREC_BF16_MIXED;
    s->optimizer = GPUMEM_OPTIM_ADAMW;
    s->checkpointing = GPUMEM_CKPT_NONE;
    s->flash_attention = 1;
    s->micro_batch = 1;
    s->micro_batches = 1;
}

/* ------------------------------------------------------------- checks */

static gpumem_status check_range(const char *what, uint64_t v, uint64_t lo, uint64_t hi,
                                 gpumem_error *err)
{
    if (v < lo || v > hi)
        return err_set(err, GPUMEM_ERR_USAGE, "%s must be between %llu and %llu (got %llu)", what,
                       (unsigned long long)lo, (unsigned long long)hi, (unsigned long long)v);
    return GPUMEM_OK;
}

static gpumem_status resolve_layout(const gpumem_model *m, const gpumem_train_settings *s,
                                    train_req *r, gpumem_error *err)
{
    r->tp = s->tp ? s->tp : 1;
    r->pp = s->pp ? s->pp : 1;
    r->ep = s->ep ? s->ep : 1;
    r->cp = s->cp ? s->cp : 1;
    gpumem_status st;
    const char *names[4] = {"tp", "pp", "ep", "cp"};
    uint32_t vals[4] = {r->tp, r->pp, r->ep, r->cp};
    for (int i = 0; i < 4; i++)
        if ((st = check_range(names[i], vals[i], 1, MAX_RANK, err)) != GPUMEM_OK)
            return st;
    uint64_t mp = (uint64_t)r->tp * r->pp * r->cp;
    if (s->dp)
        r->dp = s->dp;
    else if (s->gpus) {
        if (s->gpus % mp != 0)
            return err_set(err, GPUMEM_ERR_USAGE,
                           "%u GPUs cannot be split into tp %u x pp %u x cp %u x dp: %llu does not "
                           "divide %u",
                           s->gpus, r->tp, r->pp, r->cp, (unsigned long long)mp, s->gpus);
        r->dp = (uint32_t)(s->gpus / mp);
    } else
        r->dp = 1;
    uint64_t world = mp * r->dp;
    if (s->gpus && s->gpus != world)
        return err_set(err, GPUMEM_ERR_USAGE,
                       "world size %u does not equal tp %u x pp %u x cp %u x dp %u = %llu "
                       "(expert parallel ranks come out of dp x cp)",
                       s->gpus, r->tp, r->pp, r->cp, r->dp, (unsigned long long)world);
    if (world > MAX_WORLD)
        return err_set(err, GPUMEM_ERR_USAGE, "at most %d GPUs can be listed (layout needs %llu)",
                       MAX_WORLD, (unsigned long long)world);
    r->world = (uint32_t)world;
    const model_layer *l = &m->layers[0];
    if (r->tp > 1 && l->n_head && (l->n_head % r->tp || (l->n_head_kv && l->n_head_kv % r->tp &&
                                                          r->tp % l->n_head_kv)))
        return err_set(err, GPUMEM_ERR_USAGE,
                       "tensor parallel %u must divide the %u attention heads (and the %u KV "
                       "heads, or be a multiple of them)",
                       r->tp, l->n_head, l->n_head_kv);
    if (r->pp > m->n_layer)
        return err_set(err, GPUMEM_ERR_USAGE, "pipeline parallel %u exceeds the %u layers", r->pp,
                       m->n_layer);
    uint32_t experts = 0;
    for (uint32_t i = 0; i < m->n_layer; i++)
        experts = m->layers[i].n_expert > experts ? m->layers[i].n_expert : experts;
    if (r->ep > 1 && (!experts || experts % r->ep))
        return err_set(err, GPUMEM_ERR_USAGE,
                       experts ? "expert parallel %u must divide the %u experts"
                               : "expert parallel %u needs an MoE model (%u experts)",
                       r->ep, experts);
    if (r->ep > 1 && ((uint64_t)r->dp * r->cp) % r->ep)
        return err_set(err, GPUMEM_ERR_USAGE,
                       "expert parallel %u must divide dp x cp = %u (experts are spread over "
                       "data-parallel ranks, as in Megatron-Core)",
                       r->ep, r->dp * r->cp);
    if (r->seq % r->cp)
        return err_set(err, GPUMEM_ERR_USAGE, "context parallel %u must divide the sequence %llu",
                       r->cp, (unsigned long long)r->seq);
    r->fw = (r->tp > 1 || r->pp > 1 || r->cp > 1 || r->ep > 1) ? TRAIN_FW_MEGATRON
                                                                : TRAIN_FW_TRANSFORMERS;
    r->sp = s->sequence_parallel && r->tp > 1;
    return GPUMEM_OK;
}

static gpumem_status resolve(const gpumem_model *m, const gpumem_train_settings *s, train_req *r,
                             gpumem_error *err)
{
    memset(r, 0, sizeof *r);
    if (!m->layers)
        return err_set(err, GPUMEM_ERR_USAGE,
                       "training needs an architecture: give a model name or config.json, not "
                       "a bare parameter count or weights file");
    if ((int)s->method < 0 || s->method >= GPUMEM_TRAIN_COUNT || (int)s->precision < 0 ||
        s->precision >= GPUMEM_PREC_COUNT || (int)s->optimizer < 0 ||
        s->optimizer >= GPUMEM_OPTIM_COUNT || (int)s->checkpointing < 0 ||
        s->checkpointing >= GPUMEM_CKPT_COUNT || (int)s->fsdp < 0 || s->fsdp >= GPUMEM_FSDP_COUNT ||
        (int)s->encoder_head < 0 || s->encoder_head >= GPUMEM_HEAD_COUNT)
        return err_set(err, GPUMEM_ERR_USAGE, "a training setting is out of range");
    r->method = s->method;
    r->precision = s->precision;
    r->optimizer = s->optimizer;
    r->ckpt = s->checkpointing;
    /* a model class without SDPA trains with eager attention by default
     * (transformers 5.24; Gemma 2, gpt-oss, BLOOM, MPT): an upper bound
     * where flash_attention_2 is asked for explicitly */
    r->flash = s->flash_attention != 0 && !m->no_sdpa;
    r->freeze_embeddings = s->freeze_embeddings != 0;
    r->fsdp = s->fsdp;
    r->mlm_head = m->is_encoder && (s->encoder_head == GPUMEM_HEAD_MLM ||
                                    (s->encoder_head == GPUMEM_HEAD_AUTO && m->mlm_head));
    if (r->method != GPUMEM_TRAIN_FULL) {
        if (s->lora_rank == 0 || s->lora_rank > 65536)
            return err_set(err, GPUMEM_ERR_USAGE, "LoRA rank must be between 1 and 65536 (got %u)",
                           s->lora_rank);
        r->lora_rank = s->lora_rank;
        gpumem_status st = train_lora_targets(s->lora_targets, &r->lora_mask, err);
        if (st != GPUMEM_OK)
            return st;
    }
    gpumem_status st;
    if ((st = check_range("micro-batch", s->micro_batch, 1, MAX_MICRO_BATCH, err)) != GPUMEM_OK ||
        (st = check_range("micro-batches", s->micro_batches ? s->micro_batches : 1, 1, 1u << 20,
                          err)) != GPUMEM_OK)
        return st;
    r->micro_batch = s->micro_batch;
    r->micro_batches = s->micro_batches ? s->micro_batches : 1;
    r->seq = s->seq_len;
    if (r->seq == 0) {
        r->seq = default_seq;
        if (m->max_ctx && m->max_ctx < r->seq)
            r->seq = m->max_ctx;
    }
    if ((st = check_range("sequence length", r->seq, 1, max_seq, err)) != GPUMEM_OK)
        return st;
    if (m->learned_positions && m->max_ctx && r->seq > m->max_ctx)
        return err_set(err, GPUMEM_ERR_USAGE,
                       "sequence %llu exceeds %s's %u learned position embeddings",
                       (unsigned long long)r->seq, m->name, m->max_ctx);
    if (s->zero > 3)
        return err_set(err, GPUMEM_ERR_USAGE, "ZeRO stage must be 0, 1, 2 or 3 (got %u)", s->zero);
    if (s->zero && s->fsdp != GPUMEM_FSDP_NONE)
        return err_set(err, GPUMEM_ERR_USAGE, "choose DeepSpeed ZeRO or FSDP, not both");
    r->zero = s->zero;
    /* BERT- and GPT-2-style models (learned positions, or encoders) train
     * with dropout 0.1 by their configs' defaults; rotary models with 0. */
    r->dropout = m->is_encoder || m->learned_positions;
    r->keep_grads = s->keep_grads != 0;
    return resolve_layout(m, s, r, err);
}

/* ---------------------------------------------------------- assembly */

static uint64_t to_bytes(double x, bool *overflow)
{
    if (!(x >= 0))
        return 0;
    if (x >= 1.8e19) {
        *overflow = true;
        return 0;
    }
    return (uint64_t)(x + 0.5);
}

static gpumem_status stage_device(const gpumem_model *m, const train_req *r, const train_stage *st,
                                  gpumem_device *d, train_states *ms, gpumem_error *err)
{
    train_dynamic dyn;
    train_model_states(m, r, st, ms);
    train_activations(m, r, st, &dyn);
    bool ov = false;
    uint64_t w = to_bytes(ms->weights, &ov), g = to_bytes(ms->gradients, &ov),
             o = to_bytes(ms->optimizer, &ov), lw = to_bytes(ms->lora_weights, &ov),
             lg = to_bytes(ms->lora_gradients, &ov), lo = to_bytes(ms->lora_optimizer, &ov),
             act = to_bytes(dyn.activations, &ov), lg_b = to_bytes(dyn.logits, &ov),
             comm = to_bytes(ms->comm, &ov);
    double frag_d = frag_share * (dyn.activations + dyn.logits + ms->comm);
    uint64_t frag = to_bytes(frag_d, &ov) + frag_floor;
    if (ov)
        return err_set(err, GPUMEM_ERR_OVERFLOW, "training memory does not fit in 64 bits");
    bool lora = r->method != GPUMEM_TRAIN_FULL;
    /* With zero_grad(set_to_none=True) (torch >= 2.0, transformers'
     * Trainer) gradients and activations are never live together: the step
     * peaks at the start of backward (activations, logits), at the end of
     * backward (all gradients, plus the out-of-place sum of a tied
     * embedding's two gradients) or in the optimizer step (gradients plus
     * foreach AdamW's parameter-sized temporary) -- measured in
     * validation/measurements/torch_training.jsonl. The gradients stay in
     * the breakdown (model states); activations and logits show the part of
     * the backward-start peak beyond them. Megatron's gradient buffer, and
     * keep_grads (set_to_none=False), hold gradients for the whole step. */
    uint64_t grads = lora ? lg : g, transient = 0;
    if (!lora && m->tied && !r->freeze_embeddings && r->fw == TRAIN_FW_TRANSFORMERS)
        transient = to_bytes(2.0 * m->n_vocab * m->n_embd * 4 / (r->tp ? r->tp : 1), &ov);
    if (r->optimizer == GPUMEM_OPTIM_ADAMW_FOREACH) {
        uint64_t t = to_bytes(ms->trainable * (r->precision == GPUMEM_PREC_BF16 ? 2 : 4) /
                                  (r->zero >= 1 || r->fsdp ? r->dp * r->cp : 1),
                              &ov);
        transient = t > transient ? t : transient;
    }
    uint64_t forward = act + lg_b;
    bool overlap = r->fw == TRAIN_FW_TRANSFORMERS && !r->keep_grads;
    char anote[GPUMEM_NOTE_LEN];
    snprintf(anote, sizeof anote, "%s", dyn.act_note);
    if (overlap) {
        if (forward >= grads + transient) {
            /* peak at the start of backward: no gradient exists yet */
            double keep = forward ? (double)(forward - grads) / (double)forward : 0;
            snprintf(anote, sizeof anote, "%.2f GiB at the start of backward, %.0f%% of it "
                                          "beyond the gradients (not yet allocated then)",
                     act / 1073741824.0, 100 * keep);
            act = (uint64_t)(act * keep);
            lg_b = forward - grads - act;
            transient = 0;
        } else {
            snprintf(anote, sizeof anote,
                     "freed before the peak (end of backward / optimizer step): %.2f GiB",
                     act / 1073741824.0);
            act = lg_b = 0;
        }
    } else {
        transient = transient > forward ? transient - forward : 0;
    }
    if (ov)
        return err_set(err, GPUMEM_ERR_OVERFLOW, "training memory does not fit in 64 bits");
    gpumem_status s;
    if ((s = device_add(d, "weights", w, err, "%s", ms->weights_note)) != GPUMEM_OK ||
        (s = device_add(d, "gradients", g, err, "%s",
                        lora ? "frozen base: none" : "trainable parameters")) != GPUMEM_OK ||
        (s = device_add(d, "optimizer_states", o, err, "%s",
                        lora ? "frozen base: none" : ms->optim_note)) != GPUMEM_OK)
        return s;
    if (lora &&
        ((s = device_add(d, "lora_weights", lw, err, "rank %u adapters, %.0f params (fp32)",
                         r->lora_rank, ms->trainable)) != GPUMEM_OK ||
         (s = device_add(d, "lora_gradients", lg, err, "adapter gradients (fp32)")) !=
             GPUMEM_OK ||
         (s = device_add(d, "lora_optimizer_states", lo, err, "%s", ms->optim_note)) != GPUMEM_OK))
        return s;
    if ((s = device_add(d, "activations", act, err, "%s", anote)) != GPUMEM_OK ||
        (s = device_add(d, "logits", lg_b, err, "%s", dyn.logits_note)) != GPUMEM_OK ||
        (transient &&
         (s = device_add(d, "optimizer_transient", transient, err, "%s",
                         r->optimizer == GPUMEM_OPTIM_ADAMW_FOREACH
                             ? "foreach AdamW's parameter-sized temporary in step()"
                             : "tied embedding: its two gradients summed out of place")) !=
             GPUMEM_OK) ||
        (s = device_add(d, "comm_buffers", comm, err, "%s",
                        comm ? ms->comm_note : "none modelled")) != GPUMEM_OK ||
        (s = device_add(d, "cuda_context", cuda_context_bytes, err,
                        "CUDA 12 context with torch (not allocator-visible)")) != GPUMEM_OK ||
        (s = device_add(d, "workspace", workspace_bytes, err, "cuBLAS/cuBLASLt workspace")) !=
            GPUMEM_OK)
        return s;
    return device_add(d, "fragmentation", frag, err,
                      "caching-allocator reserve: %.0f%% of short-lived memory + 64 MiB",
                      frag_share * 100);
}

static void write_note(const train_req *r, const train_states *ms, const gpumem_device *d,
                       gpumem_estimate *out)
{
    uint64_t act = 0, w = 0;
    for (size_t i = 0; i < d->n_components; i++) {
        if (!strcmp(d->components[i].name, "activations") ||
            !strcmp(d->components[i].name, "logits"))
            act += d->components[i].bytes;
        if (!strcmp(d->components[i].name, "weights"))
            w = d->components[i].bytes;
    }
    if (r->optimizer == GPUMEM_OPTIM_PAGED_ADAMW8BIT)
        snprintf(out->note, sizeof out->note,
                 "paged optimizer states can spill to host memory under pressure; counted here "
                 "on the GPU");
    else if (r->method == GPUMEM_TRAIN_FULL && ms->bytes_per_param >= 4)
        snprintf(out->note, sizeof out->note,
                 "full fine-tuning with %s in %s needs %.1f bytes per parameter before "
                 "activations, not 2",
                 gpumem_optimizer_name(r->optimizer), gpumem_precision_name(r->precision),
                 ms->bytes_per_param);
    else if (act > w)
        snprintf(out->note, sizeof out->note,
                 "activations and logits outweigh the weights: lower the micro-batch or "
                 "sequence, or recompute");
}

gpumem_status gpumem_estimate_training(const gpumem_model *m, const gpumem_train_settings *s,
                                       gpumem_estimate *out, gpumem_error *err)
{
    if (m->kind != GPUMEM_KIND_MODEL)
        return err_set(err, GPUMEM_ERR_USAGE, "%s is a %s, not a model", m->name,
                       m->kind == GPUMEM_KIND_LORA ? "LoRA adapter" : "multimodal projector");
    for (uint32_t i = 0; m->layers && i < m->n_layer; i++)
        if (m->layers[i].ssm_with_attn) /* Falcon-H1: see gpumem_estimate_inference */
            return err_set(err, GPUMEM_ERR_UNSUPPORTED,
                           "%s runs attention beside a Mamba-2 mixer in each layer "
                           "(falcon-h1): gpumem sizes it for llama.cpp inference only",
                           m->name);
    train_req r;
    /* Devices past n_devices are left as they were: clearing all 65 of
     * them would dominate the cost of an estimate (bench/bench_train.c). */
    memset(out, 0, offsetof(gpumem_estimate, devices));
    memset((char *)out + offsetof(gpumem_estimate, total_bytes), 0,
           sizeof *out - offsetof(gpumem_estimate, total_bytes));
    gpumem_status st = resolve(m, s, &r, err);
    if (st != GPUMEM_OK)
        return st;
    out->mode = GPUMEM_MODE_TRAINING;
    out->engine = GPUMEM_ENGINE_TRANSFORMERS;
    char layout[64] = "";
    if (r.zero)
        snprintf(layout, sizeof layout, ", ZeRO-%u", r.zero);
    else if (r.fsdp)
        snprintf(layout, sizeof layout, ", FSDP %s", r.fsdp == GPUMEM_FSDP_FULL ? "full" : "hybrid");
    char ranks[64] = "";
    if (r.world > 1)
        snprintf(ranks, sizeof ranks, ", %u GPUs (tp %u pp %u ep %u cp %u dp %u)", r.world, r.tp,
                 r.pp, r.ep, r.cp, r.dp);
    snprintf(out->description, sizeof out->description, "%s, %s, %s, %llux%llu tokens, %s recompute%s%s",
             gpumem_train_method_name(r.method), gpumem_optimizer_name(r.optimizer),
             gpumem_precision_name(r.precision), (unsigned long long)r.micro_batch,
             (unsigned long long)r.seq, gpumem_checkpointing_name(r.ckpt), ranks, layout);
    out->dtype = r.method == GPUMEM_TRAIN_QLORA    ? GPUMEM_DTYPE_INT4
                 : r.precision == GPUMEM_PREC_FP32 ? GPUMEM_DTYPE_FP32
                 : r.precision == GPUMEM_PREC_FP16_MIXED ? GPUMEM_DTYPE_FP16
                                                         : GPUMEM_DTYPE_BF16;
    out->kv_dtype = r.precision == GPUMEM_PREC_FP32 ? GPUMEM_DTYPE_FP32
                    : r.precision == GPUMEM_PREC_FP16_MIXED ? GPUMEM_DTYPE_FP16
                                                            : GPUMEM_DTYPE_BF16;
    out->batch = r.micro_batch;
    out->context = r.seq;
    out->attn = r.flash ? GPUMEM_ATTN_SDPA : GPUMEM_ATTN_EAGER;
    out->gpus = r.world;
    out->gpu = s->gpu;

    /* One device per pipeline stage; every rank of a stage holds the same.
     * Earlier stages take the remainder layers, as Megatron's uneven split
     * does. */
    train_states ms, worst_ms;
    uint32_t worst = 0, first = 0;
    uint64_t worst_bytes = 0;
    for (uint32_t p = 0; p < r.pp; p++) {
        uint32_t count = m->n_layer / r.pp + (p < m->n_layer % r.pp);
        train_stage ts = {p, first, count, p == 0, p == r.pp - 1};
        first += count;
        gpumem_device *d = &out->devices[p];
        d->bytes = 0;
        d->n_components = 0;
        d->is_host = 0;
        if ((st = stage_device(m, &r, &ts, d, &ms, err)) != GPUMEM_OK)
            return st;
        if (p == 0 || d->bytes > worst_bytes) {
            worst = p;
            worst_bytes = d->bytes;
            worst_ms = ms;
        }
    }
    const gpumem_device w = out->devices[worst];
    /* Spread the stages over the ranks in place, from the last rank down
     * (rank i holds stage i / per_stage <= i). */
    uint32_t per_stage = r.world / r.pp;
    out->n_devices = r.world;
    for (uint32_t i = r.world; i-- > 0;) {
        out->devices[i] = out->devices[i / per_stage];
        snprintf(out->devices[i].name, sizeof out->devices[i].name, "gpu%u", i);
    }
    for (uint32_t i = 0; i < r.world; i++)
        if (!u64_add(out->total_bytes, out->devices[i].bytes, &out->total_bytes))
            return err_set(err, GPUMEM_ERR_OVERFLOW, "total does not fit in 64 bits");
    out->n_components = w.n_components;
    memcpy(out->components, w.components, sizeof out->components);
    out->per_gpu_bytes = w.bytes;
    out->reserved_bytes = w.bytes - cuda_context_bytes;
    write_note(&r, &worst_ms, &w, out);
    out->fits = -1;
    if (s->gpu) {
        out->fits = out->per_gpu_bytes <= s->gpu->memory_bytes;
        out->headroom_bytes = (int64_t)s->gpu->memory_bytes - (int64_t)out->per_gpu_bytes;
        if (out->per_gpu_bytes > (uint64_t)INT64_MAX)
            out->headroom_bytes = INT64_MIN;
    }
    return GPUMEM_OK;
}
