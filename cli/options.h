/* The CLI's one table of options: it drives parsing and --help (and later
 * the man page and completions). */
#ifndef GPUMEM_CLI_OPTIONS_H
#define GPUMEM_CLI_OPTIONS_H

#include <stdio.h>

enum {
    CMD_ESTIMATE = 1 << 0,
    CMD_MODELS = 1 << 1,
    CMD_GPUS = 1 << 2,
    CMD_INSPECT = 1 << 3,
    CMD_VALIDATE = 1 << 4,
    CMD_FIT = 1 << 5,
    CMD_ALL = CMD_ESTIMATE | CMD_MODELS | CMD_GPUS | CMD_INSPECT | CMD_VALIDATE | CMD_FIT,
};

/* OPT_LIST: a value that may be repeated (--gpu a --gpu b); each
 * occurrence is kept, in order. */
typedef enum { OPT_FLAG, OPT_VALUE, OPT_LIST } opt_kind;

typedef enum {
    O_HELP,
    O_JSON,
    O_DTYPE,
    O_QUANT,
    O_KV_DTYPE,
    O_BATCH,
    O_CONTEXT,
    O_ATTN,
    O_GPU,
    O_GPUS,
    O_UNIT,
    O_ENGINE,
    O_SIMPLE,
    O_PARAMS,
    O_BREAKDOWN,
    O_NEW_TOKENS,
    O_IMAGES,
    O_CACHE,
    O_CHECK,
    O_GPU_UTIL,
    O_MAX_MODEL_LEN,
    O_MAX_NUM_SEQS,
    O_MAX_BATCHED,
    O_KV_CACHE_DTYPE,
    O_BLOCK_SIZE,
    O_TP,
    O_PP,
    O_ENFORCE_EAGER,
    O_KV_CACHE_MEMORY,
    O_QUANTIZATION,
    O_VLLM_VERSION,
    O_DISABLE_HMA,
    O_ENABLE_HMA,
    O_LIMIT_MM,
    O_MM_KWARGS,
    O_TRAIN,
    O_METHOD,
    O_LORA_RANK,
    O_LORA_TARGETS,
    O_PRECISION,
    O_OPTIMIZER,
    O_CHECKPOINTING,
    O_SEQ,
    O_ZERO,
    O_FSDP,
    O_EP,
    O_CP,
    O_DP,
    O_MICRO_BATCHES,
    O_FREEZE_EMB,
    O_NO_FLASH,
    O_SEQ_PARALLEL,
    O_UBATCH,
    O_PARALLEL,
    O_KV_UNIFIED,
    O_FLASH_ATTN,
    O_CTK,
    O_CTV,
    O_NGL,
    O_SWA_FULL,
    O_LLAMACPP_VERSION,
    O_MAX_CONTEXT,
    O_MAX_BATCH,
    O_MARGIN,
    O_BUDGET,
    O_FIT_CTX,
    O_CPU_MOE,
    O_N_CPU_MOE,
    O_KEEP_GRADS,
    O_HEAD,
    O_TENSOR_SPLIT,
    O_SVG,
    O_LOCAL,
    O_OVERRIDE_TENSOR,
    O_DEVICE_MAP,
    O_MAX_MEMORY,
    O_SPLIT_MODE,
    O_MAIN_GPU,
    O_NO_KV_OFFLOAD,
    O_MMPROJ,
    O_NO_MMPROJ_OFFLOAD,
    O_MODEL_DRAFT,
    O_NGLD,
    O_CTKD,
    O_CTVD,
    O_CTX_DRAFT,
    O_LORA,
    O_EMBEDDING,
    O_POOLING,
    O_RERANK,
    O_TARGET_CONCURRENCY,
    O_COUNT
} opt_id;

typedef struct {
    opt_id id;
    const char *name;    /* long form, without -- */
    char short_name;     /* or 0 */
    const char *alias;   /* a multi-letter short form, "tp" for -tp, or NULL */
    opt_kind kind;
    const char *metavar; /* for values */
    unsigned commands;   /* where it applies */
    const char *help;
} opt_spec;

enum { OPT_MAX_REPEAT = 16 };

typedef struct {
    int set[O_COUNT]; /* occurrences (1 for flags and plain values) */
    const char *value[O_COUNT];
    const char *repeat[O_COUNT][OPT_MAX_REPEAT]; /* OPT_LIST: every occurrence */
    const char *positional[64];
    int n_positional;
} opt_values;

extern const opt_spec cli_options[O_COUNT];
/* The table is in help order, not id order: look an option up by its id. */
const opt_spec *opt_spec_of(opt_id id);

/* Parses argv[first..argc) for `command`. On error writes a message to
 * `msg` and returns -1. */
int opts_parse(int argc, char **argv, int first, unsigned command, opt_values *out, char *msg,
               size_t msg_len);
void opts_help(FILE *f, unsigned command);

#endif
