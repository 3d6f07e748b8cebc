/* Training estimator internals: settings after defaults and checks, and the
 * two halves of the model (model states in train_state.c, activations and
 * logits in train_act.c) that train.c assembles per pipeline stage. */
#ifndef GPUMEM_TRAIN_INTERNAL_H
#define GPUMEM_TRAIN_INTERNAL_H

#include "estimate_internal.h"

#include <stdbool.h>

/* The software whose memory behaviour is modelled. A single-node
 * transformers run (Trainer/accelerate, optionally with DeepSpeed or FSDP)
 * and a Megatron-Core run (any tp/pp/cp/ep > 1) keep different tensors. */
typedef enum { TRAIN_FW_TRANSFORMERS = 0, TRAIN_FW_MEGATRON, TRAIN_FW_COUNT } train_framework;

typedef struct {
    const char *name;
    const char *version;
    bool fp32_norm_upcast;  /* RMSNorm saves fp32 copies (LlamaRMSNorm) */
    uint32_t gated_saved_f; /* saved [tokens, ff] tensors of a gated MLP */
    uint32_t logit_copies4; /* bytes per logit element at the loss peak */
    bool amp_weight_casts;  /* autocast saves 16-bit casts of fp32 weights */
} train_framework_profile;

const train_framework_profile *train_framework_get(train_framework fw);

/* Settings after defaults and checks. */
typedef struct {
    gpumem_train_method method;
    uint32_t lora_rank;
    uint32_t lora_mask; /* LORA_* bits of adapted matrices */
    bool freeze_embeddings;
    gpumem_precision precision;
    gpumem_optimizer optimizer;
    gpumem_checkpointing ckpt;
    bool flash, sp;
    uint64_t micro_batch, seq;
    uint32_t micro_batches;
    uint32_t world, zero, tp, pp, ep, cp, dp;
    gpumem_fsdp fsdp;
    train_framework fw;
    bool dropout; /* the model trains with dropout (masks are saved) */
    bool keep_grads; /* gradients live for the whole step */
    bool mlm_head;   /* an encoder trained with its masked-LM head */
} train_req;

enum {
    LORA_Q = 1u << 0,
    LORA_K = 1u << 1,
    LORA_V = 1u << 2,
    LORA_O = 1u << 3,
    LORA_GATE = 1u << 4,
    LORA_UP = 1u << 5,
    LORA_DOWN = 1u << 6,
    LORA_ATTENTION = LORA_Q | LORA_K | LORA_V | LORA_O,
    LORA_ALL_LINEAR = LORA_ATTENTION | LORA_GATE | LORA_UP | LORA_DOWN,
};

/* Parses "attention", "all-linear" or a list "q,v" / "q_proj,v_proj". */
gpumem_status train_lora_targets(const char *text, uint32_t *mask, gpumem_error *err);

/* The model states one rank holds, in bytes (doubles: the shares of a
 * rank are fractions until rounded once in train.c). */
typedef struct {
    double weights, gradients, optimizer;
    double lora_weights, lora_gradients, lora_optimizer;
    double comm;            /* DDP buckets, ZeRO buckets, FSDP all-gathers */
    double trainable;       /* trainable parameters (whole model) */
    double bytes_per_param; /* model-state bytes per trainable parameter */
    char weights_note[GPUMEM_NOTE_LEN];
    char optim_note[GPUMEM_NOTE_LEN];
    char comm_note[GPUMEM_NOTE_LEN];
} train_states;

/* Layers [first, first + count) live on pipeline stage `stage`. */
typedef struct {
    uint32_t stage, first, count;
    bool has_embed, has_head;
} train_stage;

void train_model_states(const gpumem_model *m, const train_req *r, const train_stage *st,
                        train_states *out);

typedef struct {
    double activations, logits;
    char act_note[GPUMEM_NOTE_LEN];
    char logits_note[GPUMEM_NOTE_LEN];
} train_dynamic;

void train_activations(const gpumem_model *m, const train_req *r, const train_stage *st,
                       train_dynamic *out);

#endif
