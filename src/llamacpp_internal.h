/* The llama.cpp engine's shared pieces: the rule set of a llama.cpp build,
 * the resolved settings of one estimate (lcpp), the layer helpers of
 * engine_llamacpp.c and the compute-buffer rules of llamacpp_graph.c. */
#ifndef GPUMEM_LLAMACPP_INTERNAL_H
#define GPUMEM_LLAMACPP_INTERNAL_H

#include "estimate_internal.h"

#include <stdbool.h>
#include <stdint.h>

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

/* engine_llamacpp.c: where a layer goes and what it caches. */
bool lcpp_layer_attends(const model_layer *l);
uint64_t lcpp_layer_cells(const model_layer *l, const lcpp *c);
int lcpp_layer_device(const lcpp *c, int64_t il);

/* llamacpp_graph.c: the compute buffers (the graph allocator's worst case)
 * and the graph inputs, per device. */
uint64_t lcpp_attn_phase(const gpumem_model *m, const lcpp *c, uint32_t first, uint32_t last,
                         uint64_t *swa_cells, uint64_t *full_cells);
uint64_t lcpp_compute_bytes(const gpumem_model *m, const lcpp *c, uint32_t first, uint32_t last,
                            bool with_output, bool on_gpu, bool split);
uint64_t lcpp_encoder_device(const gpumem_model *m, const lcpp *c, uint32_t first, uint32_t last,
                             bool host_inputs_only, uint64_t t, uint64_t n_seq);
uint64_t lcpp_encoder_tokens_reserved(const lcpp *c);
uint64_t lcpp_gpu_host_inputs(const gpumem_model *m, const lcpp *c);
uint64_t lcpp_op_offload_bytes(const gpumem_model *m, const lcpp *c, uint32_t cpu_moe);
uint64_t lcpp_pipeline_compute(const gpumem_model *m, const lcpp *c, uint32_t first,
                               uint32_t last, bool with_output);
uint64_t lcpp_pipeline_host(const gpumem_model *m, const lcpp *c);
uint64_t lcpp_pooling_bytes(const gpumem_model *m, const lcpp *c, uint64_t t, uint64_t n_seq);
uint64_t lcpp_rpc_compute(const gpumem_model *m, const lcpp *c, uint32_t first, uint32_t last,
                          bool with_output);
bool lcpp_streams_host_weights(const gpumem_model *m, const lcpp *c, uint32_t d,
                               uint32_t cpu_moe);

#endif
