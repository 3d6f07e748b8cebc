/*
 * gpumem — how much GPU memory a model needs, and whether it fits.
 *
 * This header is the whole public API and its reference. Conventions:
 *  - every size is a uint64_t count of bytes; conversion to GiB (2^30) or
 *    GB (10^9) happens only when printing;
 *  - functions return a gpumem_status; on failure they fill the caller's
 *    gpumem_error (which may be NULL) with a message and, where it applies,
 *    the file, byte offset or line:column of the defect;
 *  - the library never prints, never exits and keeps no global mutable
 *    state: every object is owned by the caller and freed with one call.
 */
#ifndef GPUMEM_H
#define GPUMEM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GPUMEM_VERSION "0.1.0"

/* ---------------------------------------------------------------- errors */

typedef enum {
    GPUMEM_OK = 0,
    GPUMEM_ERR_USAGE,       /* a setting or argument is invalid (e.g. batch 0) */
    GPUMEM_ERR_IO,          /* a file could not be opened or read */
    GPUMEM_ERR_PARSE,       /* malformed input syntax (JSON, binary header) */
    GPUMEM_ERR_INVALID,     /* well-formed input with impossible values */
    GPUMEM_ERR_UNSUPPORTED, /* valid input that gpumem cannot model yet */
    GPUMEM_ERR_NOT_FOUND,   /* unknown model, GPU or dtype name */
    GPUMEM_ERR_OVERFLOW,    /* a size does not fit in 64 bits */
    GPUMEM_ERR_NOMEM,       /* memory allocation failed */
    GPUMEM_ERR_COUNT
} gpumem_status;

typedef struct {
    gpumem_status code;
    char message[320]; /* specific, human-readable explanation */
    char file[256];    /* file the defect is in, or "" */
    int64_t offset;    /* byte offset in file, or -1 */
    int line;          /* 1-based line, or 0 when unknown */
    int column;        /* 1-based column, or 0 when unknown */
} gpumem_error;

/* Generic text for a status code ("invalid input", ...). Never NULL. */
const char *gpumem_strerror(gpumem_status code);

/* Library version string (GPUMEM_VERSION). */
const char *gpumem_version(void);

/* ---------------------------------------------------------------- dtypes */

typedef enum {
    GPUMEM_DTYPE_FP32 = 0,
    GPUMEM_DTYPE_FP16,
    GPUMEM_DTYPE_BF16,
    GPUMEM_DTYPE_FP8,  /* fp8 e4m3 / e5m2: one byte per element */
    GPUMEM_DTYPE_INT8, /* bitsandbytes LLM.int8() for weights */
    GPUMEM_DTYPE_INT4, /* bitsandbytes NF4 (4-bit) for weights */
    GPUMEM_DTYPE_COUNT
} gpumem_dtype;

/* Parses "fp32", "float16", "bf16", "int4", ... (case-insensitive). */
gpumem_status gpumem_dtype_parse(const char *name, gpumem_dtype *out, gpumem_error *err);
/* Canonical name: "fp32", "fp16", "bf16", "fp8", "int8", "int4". */
const char *gpumem_dtype_name(gpumem_dtype dtype);

/* ---------------------------------------------------------------- models */

typedef struct gpumem_model gpumem_model;

typedef enum {
    GPUMEM_SOURCE_CATALOG = 0,
    GPUMEM_SOURCE_CONFIG,
    GPUMEM_SOURCE_PARAMS,
    GPUMEM_SOURCE_GGUF,
    GPUMEM_SOURCE_SAFETENSORS,
    GPUMEM_SOURCE_COUNT
} gpumem_source;

/* A read-only summary of a model description. */
typedef struct {
    const char *name;         /* catalog id, file name or "7B params" */
    const char *architecture; /* HF model_type, e.g. "llama"; "unknown" for params */
    gpumem_source source;
    uint64_t params;          /* total parameters, as transformers counts them */
    uint64_t active_params;   /* parameters used per token (MoE); = params if dense */
    uint32_t n_layers;
    uint32_t hidden_size;
    uint32_t vocab_size;
    uint32_t max_context;     /* max_position_embeddings, 0 if unknown */
    gpumem_dtype dtype;       /* the checkpoint's dtype (fp32 when absent) */
    int tied_embeddings;      /* 1 when lm_head shares the embedding */
    int is_encoder;           /* encoder-only (BERT): no KV cache */
    int architecture_known;   /* 0 for a bare parameter count */
    const char *note;         /* e.g. "multimodal ...: text tower + vision tower", or "" */
    uint64_t vision_params;   /* of params: a multimodal model's vision tower and
                                 projector (0 for text-only models) */
} gpumem_model_info;

/*
 * Loads a model from a specification: "hf:ORG/NAME[@REV]" fetches from the
 * Hub (gpumem_model_load_hub); otherwise, in order, an existing path (a GGUF
 * file, a .safetensors file, a config.json file, or a directory holding
 * config.json), then a catalog
 * name, alias or Hugging Face id. Unknown names fail with
 * GPUMEM_ERR_NOT_FOUND and a "did you mean" list in the message.
 */
gpumem_status gpumem_model_load(const char *spec, gpumem_model **out, gpumem_error *err);

/* Loads a catalog model by id, alias or Hugging Face id (case-insensitive). */
gpumem_status gpumem_model_load_catalog(const char *name, gpumem_model **out, gpumem_error *err);

/* Reads a Hugging Face config.json file, or a directory that holds one; in a
 * directory, *.safetensors headers (never their data) give the weights'
 * real storage, and a mismatch with the config is noted. */
gpumem_status gpumem_model_load_config_file(const char *path, gpumem_model **out,
                                            gpumem_error *err);

/* Reads a GGUF file's header (v2/v3): architecture from its metadata,
 * weights from its tensor infos, exact to the byte. Tensor data is never
 * read. A multimodal projector (CLIP) or LoRA adapter GGUF loads as its
 * kind (gpumem_model_kind_of), for settings.mmproj / settings.lora; the
 * estimators refuse it as the model itself. */
gpumem_status gpumem_model_load_gguf(const char *path, gpumem_model **out, gpumem_error *err);

/* "hf:ORG/NAME[@REVISION]": fetches config.json, the safetensors index and
 * only the header bytes of each shard (HTTP Range requests) from
 * $HF_ENDPOINT (default https://huggingface.co), with $HF_TOKEN if set;
 * caches them in $XDG_CACHE_HOME/gpumem (or ~/.cache/gpumem) and works
 * offline from that cache. 401/403 (gated), 404 and network errors are
 * reported as such. */
gpumem_status gpumem_model_load_hub(const char *spec, gpumem_model **out, gpumem_error *err);

/* Reads a .safetensors file's header: weights exact to the byte, parameter
 * count from the shapes; the architecture stays unknown without a
 * config.json (give the directory instead to get both). */
gpumem_status gpumem_model_load_safetensors(const char *path, gpumem_model **out,
                                            gpumem_error *err);

/* Reads a GGUF header saved alone (the bytes before the tensor data) as if
 * it began a file of `file_size` bytes: for headers fetched over HTTP
 * ranges, sliced in a browser, or kept without their data. */
gpumem_status gpumem_model_load_gguf_header(const char *path, uint64_t file_size,
                                            gpumem_model **out, gpumem_error *err);

/* Reads config.json text held in memory; `name` labels the model and errors. */
gpumem_status gpumem_model_load_config_json(const char *json, size_t len, const char *name,
                                            gpumem_model **out, gpumem_error *err);

/* A model known only by its parameter count (for the seed rule). The count
 * must be in [1, 1e15]. */
gpumem_status gpumem_model_from_params(double params, gpumem_model **out, gpumem_error *err);

/* Parses "7B", "7e9", "1.5b", "350M", "125000000" into a parameter count. */
gpumem_status gpumem_params_parse(const char *text, double *out, gpumem_error *err);

void gpumem_model_free(gpumem_model *model);
void gpumem_model_get_info(const gpumem_model *model, gpumem_model_info *out);

/* Describes a GGUF or safetensors file from its header: format, counts,
 * architecture, parameters, weight bytes, bits per weight, the tensor-type
 * histogram and (GGUF) every metadata key. `json` != 0 gives JSON, else a
 * text summary; *out is malloc'd, the caller frees it. */
gpumem_status gpumem_inspect(const char *path, int json, char **out, gpumem_error *err);

/* --------------------------------------------------------------- catalogs */

typedef struct {
    const char *id;      /* e.g. "llama-2-7b" */
    const char *hf_id;   /* e.g. "meta-llama/Llama-2-7b-hf" */
    const char *aliases; /* comma-separated, or "" */
    const char *source;  /* where the config.json was copied from */
} gpumem_catalog_model;

typedef struct {
    const char *id;      /* e.g. "rtx-4090" */
    const char *aliases; /* comma-separated, or "" */
    const char *vendor;  /* nvidia, amd, apple, intel */
    const char *name;    /* marketing name */
    uint64_t memory_bytes; /* memory a process can see */
    int unified;         /* 1 for unified (Apple) memory */
    unsigned compute_capability; /* NVIDIA's, major*10+minor (89 = 8.9); 0 otherwise */
    const char *source;
} gpumem_gpu;

/* A GPU of this machine, as NVML reports it. */
typedef struct {
    unsigned index;
    char name[96];
    uint64_t total_bytes;
    uint64_t free_bytes; /* free now */
    unsigned compute_capability; /* major*10+minor, 0 if NVML does not say */
} gpumem_local_gpu;

/* The NVIDIA GPUs of this machine through NVML, loaded at run time
 * (libnvidia-ml.so.1): no build dependency; GPUMEM_ERR_IO with a clear
 * message when there is no driver. Fills up to `cap` entries. */
gpumem_status gpumem_local_gpus(gpumem_local_gpu *out, size_t cap, size_t *n, gpumem_error *err);

size_t gpumem_catalog_model_count(void);
const gpumem_catalog_model *gpumem_catalog_model_at(size_t index);
size_t gpumem_gpu_count(void);
const gpumem_gpu *gpumem_gpu_at(size_t index);
/* Finds a GPU by id or alias (case-insensitive); NOT_FOUND with suggestions. */
gpumem_status gpumem_gpu_find(const char *name, const gpumem_gpu **out, gpumem_error *err);

/* -------------------------------------------------------------- estimates */

typedef enum {
    GPUMEM_ENGINE_TRANSFORMERS = 0, /* PyTorch + transformers (default) */
    GPUMEM_ENGINE_SIMPLE,           /* the seed rule: P x Q x 1.2 */
    GPUMEM_ENGINE_VLLM,             /* vLLM V1 serving (0.33.0; 0.11.0) */
    GPUMEM_ENGINE_LLAMACPP,         /* llama.cpp de3ff81 (node-llama-cpp 3.22.1) */
    GPUMEM_ENGINE_COUNT
} gpumem_engine;

/* transformers' attn_implementation: "sdpa" (default), "eager" (scores
 * materialised) or "flash" (flash_attention_2: no scores and no 4-D masks,
 * GQA without repeated K/V, fp16/bf16 only; modelled from transformers 5.24's
 * source, not measured: it needs a CUDA GPU). */
typedef enum {
    GPUMEM_ATTN_SDPA = 0,
    GPUMEM_ATTN_EAGER,
    GPUMEM_ATTN_FLASH,
    GPUMEM_ATTN_COUNT
} gpumem_attn;

/* transformers' KV cache: DynamicCache grows with the tokens; StaticCache
 * allocates context + new tokens up front. */
typedef enum { GPUMEM_CACHE_DYNAMIC = 0, GPUMEM_CACHE_STATIC, GPUMEM_CACHE_COUNT } gpumem_cache;

/* llama.cpp's device limit (LLAMA_MAX_DEVICES), the length of -ts. */
#define GPUMEM_MAX_SPLIT 16
/* Layers a per-layer expert placement (-ot) can name: llama.cpp de3ff81's
 * --fit handles at most 1000 layers. */
#define GPUMEM_MAX_MASK_LAYERS 1024

/* llama.cpp -sm / --split-mode. */
typedef enum {
    GPUMEM_SPLIT_LAYER = 0, /* layers (and their KV) across GPUs by -ts (default) */
    GPUMEM_SPLIT_NONE,      /* one GPU, -mg */
    GPUMEM_SPLIT_ROW,       /* matrices split by rows (not in de3ff81's CUDA backend) */
    GPUMEM_SPLIT_COUNT
} gpumem_split_mode;

/* Parses "layer", "none", "row" (GPUMEM_ERR_USAGE otherwise); names them. */
gpumem_status gpumem_split_mode_parse(const char *name, gpumem_split_mode *out, gpumem_error *err);
const char *gpumem_split_mode_name(gpumem_split_mode mode);

/* llama.cpp --pooling: how an embedding model turns token rows into one
 * vector per sequence (llama.h llama_pooling_type, de3ff81). DEFAULT is the
 * GGUF's own <arch>.pooling_type (none when absent); RANK is a reranker's
 * classification head (--rerank / --reranking). */
typedef enum {
    GPUMEM_POOLING_DEFAULT = 0,
    GPUMEM_POOLING_NONE, /* one embedding per token */
    GPUMEM_POOLING_MEAN,
    GPUMEM_POOLING_CLS,
    GPUMEM_POOLING_LAST,
    GPUMEM_POOLING_RANK,
    GPUMEM_POOLING_COUNT
} gpumem_pooling;

/* Parses "none", "mean", "cls", "last", "rank" (and "default");
 * GPUMEM_ERR_USAGE otherwise. Names them. */
gpumem_status gpumem_pooling_parse(const char *name, gpumem_pooling *out, gpumem_error *err);
const char *gpumem_pooling_name(gpumem_pooling pooling);

/* What kind of file a model was read from: a language model, or one of the
 * extra GGUF files llama.cpp loads beside it. */
typedef enum {
    GPUMEM_KIND_MODEL = 0, /* a language model */
    GPUMEM_KIND_MMPROJ,    /* general.architecture "clip": a multimodal projector */
    GPUMEM_KIND_LORA,      /* general.type "adapter", adapter.type "lora" */
    GPUMEM_KIND_COUNT
} gpumem_model_kind;

/* The kind of a loaded model (GPUMEM_KIND_MODEL for every non-GGUF source). */
gpumem_model_kind gpumem_model_kind_of(const gpumem_model *model);

/* One GPU of a llama.cpp run, as `--gpu a,b --budget X,Y --margin M` give
 * them: the device, what gpumem may plan on it and what to keep free. */
typedef struct {
    const gpumem_gpu *gpu;
    uint64_t budget; /* bytes usable on it; 0: gpu->memory_bytes (its free memory) */
    uint64_t margin; /* bytes kept free (llama.cpp --fit-target); estimate: 0 = none */
} gpumem_device_target;

/* transformers' from_pretrained(device_map=...): whole decoder layers placed
 * on GPU 0, 1, ..., then the host ("cpu"), by accelerate's
 * infer_auto_device_map (transformers 5.24.0 / accelerate 1.15.0). NONE
 * keeps the default: `gpus` are tensor-parallel ranks. AUTO and BALANCED
 * are the same strategy in that version (even shares, GPU 0 first);
 * BALANCED_LOW_0 keeps GPU 0 as empty as it can; SEQUENTIAL fills each GPU
 * before the next. Weights in fp32/fp16/bf16, or quantised on load by
 * bitsandbytes (dtype int4 = nf4, int8: sized as its quantizer sizes them,
 * max_memory x 0.9; a placement that needs the CPU fails with
 * GPUMEM_ERR_USAGE, as transformers refuses it); pre-quantised checkpoints
 * and FP8 fail with GPUMEM_ERR_UNSUPPORTED. Multimodal llava, gemma3,
 * qwen2_vl and qwen2_5_vl models place the vision tower and projector too
 * (GPUMEM_ERR_UNSUPPORTED where accelerate would split one over two
 * devices); other multimodal families fail with GPUMEM_ERR_UNSUPPORTED. */
typedef enum {
    GPUMEM_DEVICE_MAP_NONE = 0,
    GPUMEM_DEVICE_MAP_AUTO,
    GPUMEM_DEVICE_MAP_BALANCED,
    GPUMEM_DEVICE_MAP_BALANCED_LOW_0,
    GPUMEM_DEVICE_MAP_SEQUENTIAL,
    GPUMEM_DEVICE_MAP_COUNT
} gpumem_device_map;

/* "none", "auto", "balanced", "balanced_low_0", "sequential"; parsing
 * accepts those names (GPUMEM_ERR_NOT_FOUND otherwise, with the list). */
const char *gpumem_device_map_name(gpumem_device_map map);
gpumem_status gpumem_device_map_parse(const char *name, gpumem_device_map *out,
                                      gpumem_error *err);

/* Which FFN tensors of a layer an -ot item moves, by llama.cpp's tensor
 * names (llama.cpp de3ff81 common/fit.cpp, get_overflow_pattern; the
 * pattern is matched with regex_search, the first matching item wins):
 * the router (ffn_gate_inp) and shared experts count with their group,
 * the FFN norm never moves. */
typedef enum {
    GPUMEM_FFN_DOWN = 1,  /* blk\.N\.ffn_down.*: the down projections
                             (--fit's LAYER_FRACTION_GATE) */
    GPUMEM_FFN_GATE_DOWN, /* blk\.N\.ffn_(gate|gate_up|down).*: also the gates and
                             the router (LAYER_FRACTION_UP) */
    GPUMEM_FFN_ALL,       /* blk\.N\.ffn_(gate|up|gate_up|down).*: every FFN matrix
                             (LAYER_FRACTION_ATTN) */
    GPUMEM_FFN_PART_COUNT
} gpumem_ffn_part;

/* -ot "PATTERN=BUF" for one of the patterns above: layer `layer`'s
 * tensors of `part` in BUF, the host ("CPU", device -1) or GPU `device`
 * ("CUDA<device>"). */
typedef struct {
    uint32_t layer;
    gpumem_ffn_part part;
    int device;
} gpumem_ffn_move;

#define GPUMEM_MAX_FFN_MOVES GPUMEM_MAX_SPLIT

typedef struct {
    gpumem_engine engine;
    int dtype_set;           /* 0: use the model's own dtype */
    gpumem_dtype dtype;      /* weight storage */
    int kv_dtype_set;        /* 0: the compute dtype */
    gpumem_dtype kv_dtype;
    uint64_t batch;          /* sequences, >= 1 */
    uint64_t context;        /* prompt tokens per sequence, >= 1; 0: default */
    uint64_t new_tokens;     /* tokens generated after the prompt (default 1) */
    /* transformers only: images per sequence in the prompt of a multimodal
     * model (llava with a CLIP tower, gemma3), each at the tower's
     * image_size. Their image tokens are part of `context` (which must
     * hold them); the vision tower runs over all batch x images images in
     * the prefill, before the text layers. 0: a text prompt. Other models
     * fail with GPUMEM_ERR_UNSUPPORTED, other engines with
     * GPUMEM_ERR_USAGE. */
    uint32_t images;
    gpumem_cache cache;
    gpumem_attn attn;
    uint32_t gpus;           /* tensor-parallel GPUs, >= 1 */
    const gpumem_gpu *gpu;   /* target GPU, or NULL */
    /* vLLM (--engine vllm); 0 / NULL means the modelled version's default. */
    double gpu_memory_utilization;
    uint64_t max_model_len;
    uint64_t max_num_seqs;
    uint64_t max_num_batched_tokens;
    uint32_t block_size;
    uint32_t pipeline_parallel; /* ranks; tensor parallel is `gpus` */
    int enforce_eager;
    uint64_t kv_cache_memory;   /* bytes: bypasses profiling when non-zero */
    const char *vllm_version;   /* e.g. "0.11.0"; NULL: the newest modelled */
    /* vLLM's hybrid KV-cache manager, which gives sliding-window and
     * chunked-attention layers KV-cache groups of their own: 0 as the
     * version decides (on, but off for chunked local attention in 0.10.1
     * and 0.11.0, where VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE
     * defaults to 0); 1 on (that variable set to 1); 2 off
     * (--disable-hybrid-kv-cache-manager: those layers cache every token;
     * attention + Mamba hybrids then fail to start). */
    int vllm_hybrid_kv_cache_manager;
    /* llama.cpp (--engine llamacpp); context is -c, batch is -b (tokens
     * per logical batch); 0 means llama.cpp's default. */
    uint64_t n_ubatch;          /* -ub, default 512 */
    uint32_t n_parallel;        /* -np sequences, default 1 */
    int kv_unified;             /* -kvu */
    int flash_attn;             /* -fa: 0 auto (on), 1 on, 2 off */
    int cache_type_k;           /* -ctk as a ggml type id + 1; 0: f16 */
    int cache_type_v;           /* -ctv, likewise */
    int n_gpu_layers;           /* -ngl; -1: all (default with a GPU), 0: CPU */
    int swa_full;               /* --swa-full */
    int n_cpu_moe;              /* --n-cpu-moe: expert tensors of the first N layers on
                                   the host; -1: all (--cpu-moe) */
    /* --llamacpp-version: the rule set, "de3ff81" (NULL, the default: the
     * source in node-llama-cpp 3.22.1), "b6699" (mainline builds from May
     * to October 2025: -ngl fills repeating layers before the output
     * layer, n_ctx padded to 32 without flash attention, an f32 attention
     * mask) or "b5050" (May 2024 to May 2025, before PR #13194: as b6699,
     * with sliding-window layers caching the full context); another name
     * fails with GPUMEM_ERR_USAGE. */
    const char *llamacpp_version;
    /* -ts: the share of offloaded layers of each of the `gpus` devices;
     * all 0 (default): equal shares, as llama.cpp's default split by free
     * memory gives on identical GPUs. */
    double tensor_split[GPUMEM_MAX_SPLIT];
    /* Several GPUs, possibly different (llama.cpp only): CUDA0 first.
     * n_targets > 0 replaces gpu and gpus (gpus becomes n_targets, gpu
     * targets[0].gpu); without -ts the layers split in proportion to the
     * budgets, as llama.cpp splits by free memory; the verdict is per
     * device: its buffers within budget - margin. */
    uint32_t n_targets;
    gpumem_device_target targets[GPUMEM_MAX_SPLIT];
    /* llama.cpp -ot "blk\.(i|j)\.ffn_.*_exps=CPU": layer i's expert tensors
     * on the host (bit i % 64 of word i / 64), beside n_cpu_moe. */
    uint64_t cpu_moe_mask[GPUMEM_MAX_MASK_LAYERS / 64];
    /* llama.cpp -ot items that move part of one layer's FFN tensors to
     * another buffer: the patterns --fit writes for a layer it splits by
     * tensor (see gpumem_ffn_move). A layer also in cpu_moe_mask or under
     * n_cpu_moe keeps its expert tensors on the host. */
    uint32_t n_ffn_moves;
    gpumem_ffn_move ffn_moves[GPUMEM_MAX_FFN_MOVES];
    /* transformers only: device_map placement over the GPUs (gpu and gpus,
     * or targets for a list; a target's budget stands for its memory). */
    gpumem_device_map device_map;
    /* from_pretrained's max_memory, bytes per GPU (CUDA0 first), as a user
     * passes it; n_max_memory == 0: derived as transformers does from each
     * GPU's free memory, taken as its memory less the modelled CUDA
     * context (then x0.9 on a single GPU). Needs device_map. */
    uint32_t n_max_memory;
    uint64_t max_memory[GPUMEM_MAX_SPLIT];
    /* -sm / --split-mode (llama.cpp only): LAYER (default) splits layers
     * by -ts; NONE puts every offloaded layer, its KV and the compute
     * buffer on GPU main_gpu (-mg; < 0 with NONE: no GPU at all); ROW fails
     * with GPUMEM_ERR_UNSUPPORTED (de3ff81's CUDA backend has no row-split
     * buffer type). */
    gpumem_split_mode split_mode;
    int main_gpu;               /* -mg, default 0: checked against the GPUs with NONE */
    int no_kv_offload;          /* -nkvo: the KV cache on the host */
    /* Embeddings (llama.cpp de3ff81, as its llama-embedding tool runs them):
     * an encoder GGUF (bert, nomic-bert, jina-bert-v2/v3, neo-bert,
     * modern-bert, eurobert, gemma-embedding) is always an embedding
     * model; a decoder GGUF becomes one with embedding set, a pooling
     * given, or a <arch>.pooling_type in its metadata. Then: no KV cache
     * for encoders (decoders keep theirs); -np 1 means 256 sequences in a
     * unified cache; -b is raised to the context and -ub set to -b; an
     * output buffer of n_vocab + n_embd floats per output; the compute and
     * output buffers also report their growth when a full batch of -b
     * tokens is encoded (components compute_growth, output_growth). */
    int embedding;              /* --embedding / --embeddings */
    gpumem_pooling pooling;     /* --pooling; --rerank sets RANK (and embedding) */
    /* The GPUs are llama.cpp RPC devices (rpc-server serving its CPU
     * backend, ggml-rpc.cpp of de3ff81), as validation/llamacpp/
     * rpc_devices.py simulates GPUs of a chosen memory: a device's compute
     * buffer is its split inputs (masks, KV row indices) beside its
     * graph's peak, or the logits phase after them (the pipeline rule with
     * one copy), they take no op offload (the RPC device has no
     * offload_op) and hold no CUDA context. */
    int rpc_devices;
    /* Extra GGUF files, loaded by the caller with gpumem_model_load_gguf
     * (only their headers are read) and kept alive during the estimate;
     * NULL: none. Each must be of its kind (GPUMEM_ERR_USAGE otherwise) and
     * applies to llama.cpp only. */
    const gpumem_model *mmproj; /* --mmproj: a multimodal projector (CLIP GGUF) */
    int no_mmproj_offload;      /* --no-mmproj-offload: the projector on the host */
    const gpumem_model *draft;  /* -md / --model-draft: a draft model for speculative decoding
                                   (draft and mmproj: de3ff81 rules only; another
                                   llamacpp_version fails with GPUMEM_ERR_UNSUPPORTED) */
    int n_gpu_layers_draft;     /* -ngld; -1: all (default) */
    int cache_type_k_draft;     /* -ctkd as cache_type_k (0: f16, the draft's own default) */
    int cache_type_v_draft;     /* -ctvd, likewise */
    uint64_t ctx_size_draft;    /* -cd: not an option of de3ff81 (the draft holds the
                                   target's n_ctx); non-zero fails with GPUMEM_ERR_USAGE */
    const gpumem_model *lora;   /* --lora: a LoRA adapter GGUF */
    /* transformers with dtype int4 (bitsandbytes NF4): bnb_4bit_use_double_
     * quant, each 64-weight block's absmax in 8 bits plus an fp32 scale per
     * 256 blocks (4.127 bits a weight instead of 4.5); --quant bnb-nf4-dq.
     * Other dtypes and engines fail with GPUMEM_ERR_USAGE. */
    int bnb_double_quant;
    /* vLLM's profiling run for Qwen2-VL / Qwen2.5-VL: the image processor's
     * max_pixels, as `--mm-processor-kwargs '{"max_pixels": N}'` sets it
     * (0: the official checkpoints' 12845056, see README), and
     * `--limit-mm-per-prompt` items per prompt (-1, as
     * gpumem_settings_init sets them: vLLM's default 999; 0 turns the
     * modality off). Other multimodal models fail with GPUMEM_ERR_USAGE
     * when mm_max_pixels is set; text-only models ignore these. */
    uint64_t mm_max_pixels;
    int32_t limit_mm_image, limit_mm_video;
} gpumem_settings;

/* Parses llama.cpp -ot / --override-tensor, the items `gpumem fit` prints
 * (comma-separated PATTERN=BUF):
 *  - blk\.N\.ffn_..._exps or blk\.(N|M|...)\.ffn_..._exps =CPU: MoE experts
 *    of those layers on the host (settings->cpu_moe_mask);
 *  - blk\.N\.ffn_down.*, blk\.N\.ffn_(gate|gate_up|down).* or
 *    blk\.N\.ffn_(gate|up|gate_up|down).* =CPU or =CUDA<k>: part of layer
 *    N's FFN in that buffer (settings->ffn_moves; a GPU index is checked by
 *    the estimate).
 * Other patterns or buffer types fail with GPUMEM_ERR_UNSUPPORTED, more
 * than GPUMEM_MAX_FFN_MOVES moves or malformed text with GPUMEM_ERR_USAGE. */
gpumem_status gpumem_expert_override_parse(const char *text, gpumem_settings *settings,
                                           gpumem_error *err);

/* Parses -ts "3,1" into settings->tensor_split (non-negative numbers, at
 * most GPUMEM_MAX_SPLIT, not all zero); sets gpus to their count. */
gpumem_status gpumem_tensor_split_parse(const char *text, gpumem_settings *settings,
                                        gpumem_error *err);

/* A KV-cache type name llama.cpp accepts for -ctk/-ctv (f32, f16, bf16,
 * q8_0, q4_0, q4_1, iq4_nl, q5_0, q5_1), as the value cache_type_k/v take. */
gpumem_status gpumem_cache_type_parse(const char *name, int *out, gpumem_error *err);

/* Fills defaults: transformers, model dtype, batch 1, context 0 (= the
 * smaller of 4096 and the model's maximum), 1 new token, dynamic cache,
 * sdpa, 1 GPU, no target; llama.cpp: -sm layer, -mg 0, every draft layer
 * offloaded (-ngld -1), no extra files. */
void gpumem_settings_init(gpumem_settings *settings);

#define GPUMEM_MAX_COMPONENTS 16
#define GPUMEM_MAX_DEVICES 65
#define GPUMEM_NAME_LEN 32
#define GPUMEM_NOTE_LEN 128

typedef struct {
    char name[GPUMEM_NAME_LEN]; /* stable snake_case: weights, kv_cache, ... */
    uint64_t bytes;
    char note[GPUMEM_NOTE_LEN]; /* how it was computed */
} gpumem_component;

typedef struct {
    char name[GPUMEM_NAME_LEN]; /* "gpu0", "gpu1", ..., "host" */
    int is_host;
    uint64_t bytes;
    size_t n_components;
    gpumem_component components[GPUMEM_MAX_COMPONENTS];
} gpumem_device;

/* What vLLM itself would print for the estimate (engine vllm only). */
typedef struct {
    int present;
    char version[16];
    double gpu_memory_utilization;
    uint64_t max_model_len;
    uint64_t kv_cache_tokens;     /* "GPU KV cache size: N tokens" */
    double max_concurrency;       /* "Maximum concurrency for N tokens per request" */
    int starts;                   /* 0 when vLLM refuses to start */
    uint64_t max_model_len_limit; /* largest --max-model-len that starts */
    char reason[GPUMEM_NOTE_LEN]; /* why it would not start, or "" */
} gpumem_vllm_info;

/* Where a device_map placed the model (settings->device_map set). Devices
 * are GPU indices, or -1 for the host ("cpu": those modules run on the
 * first used GPU, copied in one at a time). */
typedef struct {
    int present;                  /* 1 when a device_map was modelled */
    gpumem_device_map strategy;
    uint32_t n_gpus;
    uint64_t max_memory[GPUMEM_MAX_SPLIT]; /* per GPU: the max_memory infer_auto_device_map got */
    uint32_t n_layers;            /* layers placed (<= GPUMEM_MAX_MASK_LAYERS) */
    int16_t layer_device[GPUMEM_MAX_MASK_LAYERS]; /* decoder layer i's device */
    int16_t embed_device, norm_device, lm_head_device;
    int16_t main_device;          /* runs offloaded layers, gets the inputs and logits */
    /* A multimodal model's vision tower and multi_modal_projector (-2 when
     * the model has none, or the tower holds the projector: Qwen2.5-VL). */
    int16_t vision_device, projector_device;
    /* Per GPU, then the host: accelerate's module sizes, by which it
     * placed the modules (parameters and buffers; bitsandbytes weights at
     * 1 byte (int8) or 0.5 (nf4) per element, quantizer.param_element_size) */
    uint64_t sized_bytes[GPUMEM_MAX_SPLIT + 1];
    /* what the weights take once loaded: sized_bytes plus bitsandbytes'
     * per-block absmax (nf4) or per-row SCB (int8) fp32 scales */
    uint64_t weight_bytes[GPUMEM_MAX_SPLIT + 1];
} gpumem_device_map_info;

typedef enum { GPUMEM_MODE_INFERENCE = 0, GPUMEM_MODE_TRAINING, GPUMEM_MODE_COUNT } gpumem_mode;

typedef struct {
    gpumem_mode mode;
    gpumem_engine engine;
    gpumem_dtype dtype;    /* resolved weight dtype */
    gpumem_dtype kv_dtype; /* resolved KV dtype */
    uint64_t batch, context, new_tokens;
    gpumem_attn attn;
    gpumem_cache cache;
    uint32_t gpus;
    /* Components of the most loaded GPU; they sum to per_gpu_bytes. */
    size_t n_components;
    gpumem_component components[GPUMEM_MAX_COMPONENTS];
    size_t n_devices;
    gpumem_device devices[GPUMEM_MAX_DEVICES];
    uint64_t total_bytes;   /* sum over all devices */
    uint64_t per_gpu_bytes; /* the most loaded GPU */
    const gpumem_gpu *gpu;  /* target, or NULL */
    int fits;               /* 1, 0, or -1 when no GPU was given */
    int64_t headroom_bytes; /* GPU memory minus per_gpu_bytes (may be < 0) */
    char note[GPUMEM_NOTE_LEN]; /* a line worth telling the user, or "" */
    gpumem_vllm_info vllm;
    char description[GPUMEM_NOTE_LEN]; /* training: method, optimizer, layout */
    uint64_t reserved_bytes; /* what max_memory_reserved would show, 0 if not modelled */
    /* The settings' targets (llama.cpp over listed GPUs); devices[i] is
     * targets[i]. With them `fits` holds when every GPU's bytes stay within
     * its budget - margin and headroom_bytes is the smallest such slack. */
    uint32_t n_targets;
    gpumem_device_target targets[GPUMEM_MAX_SPLIT];
    gpumem_device_map_info device_map; /* transformers with settings->device_map */
    /* transformers inference: what torch.cuda.max_memory_allocated would
     * show on the most loaded GPU (every component but the CUDA context,
     * which only nvidia-smi sees); 0 for the other engines. The caching
     * allocator's reserve above it is not modelled for inference. */
    uint64_t allocated_bytes;
    /* llama.cpp: 1 when the model runs as an embedding model, 2 as a
     * reranker (rank pooling); 0 otherwise. `pooling` is then the pooling
     * applied (the model's default resolved). */
    int embedding;
    gpumem_pooling pooling;
    uint32_t images;      /* transformers: images per sequence, as set */
    int bnb_double_quant; /* transformers: NF4 with double quantisation */
} gpumem_estimate;

/*
 * Estimates inference memory of `model` under `settings` into `out` (caller
 * owned; it is large, so prefer the heap). Fails with GPUMEM_ERR_USAGE for
 * impossible settings (batch 0, a context beyond learned position
 * embeddings, more GPUs than the layout allows) and GPUMEM_ERR_OVERFLOW when
 * a size leaves 64 bits.
 */
gpumem_status gpumem_estimate_inference(const gpumem_model *model,
                                        const gpumem_settings *settings,
                                        gpumem_estimate *out, gpumem_error *err);

/* The largest context (prompt tokens; vLLM: --max-model-len) that fits
 * settings->gpu with the other settings as given, up to the model's trained
 * context (gpumem_model_info.max_context) where it is known: beyond it the
 * engines warn (llama.cpp), refuse (vLLM, learned positions) or leave the
 * trained range; 0 when even one token does not fit. Needs settings->gpu. */
gpumem_status gpumem_max_context(const gpumem_model *model, const gpumem_settings *settings,
                                 uint64_t *out, gpumem_error *err);
/* The largest batch (sequences) that fits at the given context. */
gpumem_status gpumem_max_batch(const gpumem_model *model, const gpumem_settings *settings,
                               uint64_t *out, gpumem_error *err);
/* vLLM: the smallest --gpu-memory-utilization, in hundredths, at which vLLM
 * starts and its "Maximum concurrency for max_model_len tokens per request"
 * reaches `concurrency`, with the other settings as given; *out 0 when not
 * even 1.00 does. Needs engine vllm and settings->gpu. */
gpumem_status gpumem_vllm_utilization_for(const gpumem_model *model,
                                          const gpumem_settings *settings, double concurrency,
                                          double *out, gpumem_error *err);

const char *gpumem_engine_name(gpumem_engine engine);
gpumem_status gpumem_engine_parse(const char *name, gpumem_engine *out, gpumem_error *err);
const char *gpumem_attn_name(gpumem_attn attn);
const char *gpumem_cache_name(gpumem_cache cache);
gpumem_status gpumem_cache_parse(const char *name, gpumem_cache *out, gpumem_error *err);
gpumem_status gpumem_attn_parse(const char *name, gpumem_attn *out, gpumem_error *err);

/* --------------------------------------------------------------- training */

typedef enum {
    GPUMEM_TRAIN_FULL = 0,
    GPUMEM_TRAIN_LORA,
    GPUMEM_TRAIN_QLORA, /* LoRA on a 4-bit (NF4) frozen base */
    GPUMEM_TRAIN_COUNT
} gpumem_train_method;

typedef enum {
    GPUMEM_PREC_FP32 = 0,
    GPUMEM_PREC_FP16_MIXED, /* fp16 compute, fp32 master weights and optimizer */
    GPUMEM_PREC_BF16_MIXED,
    GPUMEM_PREC_BF16,       /* pure bf16: weights, gradients, states in bf16 */
    GPUMEM_PREC_FP8,        /* fp8 compute with bf16/fp32 copies kept */
    GPUMEM_PREC_COUNT
} gpumem_precision;

typedef enum {
    GPUMEM_OPTIM_ADAMW = 0,
    GPUMEM_OPTIM_ADAMW8BIT,
    GPUMEM_OPTIM_PAGED_ADAMW8BIT,
    GPUMEM_OPTIM_SGD,
    GPUMEM_OPTIM_SGD_MOMENTUM,
    GPUMEM_OPTIM_ADAFACTOR,
    GPUMEM_OPTIM_LION,
    GPUMEM_OPTIM_MUON,
    GPUMEM_OPTIM_ADAMW_FOREACH, /* torch.optim.AdamW's CUDA default: a parameter-sized temporary */
    GPUMEM_OPTIM_COUNT
} gpumem_optimizer;

typedef enum {
    GPUMEM_CKPT_NONE = 0,
    GPUMEM_CKPT_SELECTIVE, /* recompute attention (Korthikanti et al. 2022) */
    GPUMEM_CKPT_FULL,      /* keep only each layer's input */
    GPUMEM_CKPT_COUNT
} gpumem_checkpointing;

typedef enum { GPUMEM_FSDP_NONE = 0, GPUMEM_FSDP_FULL, GPUMEM_FSDP_HYBRID, GPUMEM_FSDP_COUNT } gpumem_fsdp;

/* The head an encoder (BERT) is trained with. AUTO follows the config's
 * "architectures": *ForMaskedLM / *ForPreTraining train a masked-LM head
 * whose vocabulary-wide logits dominate activations at long sequences;
 * anything else a classification head (negligible). */
typedef enum {
    GPUMEM_HEAD_AUTO = 0,
    GPUMEM_HEAD_MLM,
    GPUMEM_HEAD_CLASSIFIER,
    GPUMEM_HEAD_COUNT
} gpumem_encoder_head;

typedef struct {
    gpumem_train_method method;
    uint32_t lora_rank;        /* default 16 */
    const char *lora_targets;  /* "attention", "all-linear" or a list "q,v"; NULL: attention */
    int freeze_embeddings;
    gpumem_precision precision;
    gpumem_optimizer optimizer;
    gpumem_checkpointing checkpointing;
    int flash_attention;       /* default 1 */
    int sequence_parallel;
    uint64_t micro_batch;      /* sequences per GPU per step, default 1 */
    uint64_t seq_len;          /* default 2048 (capped by the model) */
    uint32_t micro_batches;    /* gradient accumulation / pipeline micro-batches, default 1 */
    uint32_t gpus;             /* world size; 0: tp x pp x cp x dp */
    uint32_t zero;             /* DeepSpeed ZeRO stage 0..3 */
    gpumem_fsdp fsdp;
    uint32_t tp, pp, ep, cp, dp; /* 0: 1 (dp: derived from gpus) */
    const gpumem_gpu *gpu;
    int keep_grads;            /* zero_grad(set_to_none=False), torch < 2.0's default:
                                  gradients live through the forward pass */
    gpumem_encoder_head encoder_head; /* encoders: the head trained (default: the config's) */
} gpumem_train_settings;

/* Returns "auto", "mlm" or "classifier"; parses them (GPUMEM_ERR_USAGE
 * otherwise). */
const char *gpumem_encoder_head_name(gpumem_encoder_head h);
gpumem_status gpumem_encoder_head_parse(const char *name, gpumem_encoder_head *out,
                                        gpumem_error *err);

/* Defaults: full fine-tuning, bf16 mixed precision, AdamW, no
 * recomputation, flash attention, micro-batch 1, sequence 2048, 1 GPU. */
void gpumem_train_settings_init(gpumem_train_settings *settings);

/* Peak memory per GPU of a training step (forward, backward, optimizer
 * step) into `out` (mode GPUMEM_MODE_TRAINING). Impossible layouts (tp not
 * dividing heads, pp above the layer count, ep not dividing experts, world
 * size mismatch) fail with GPUMEM_ERR_USAGE. */
gpumem_status gpumem_estimate_training(const gpumem_model *model,
                                       const gpumem_train_settings *settings,
                                       gpumem_estimate *out, gpumem_error *err);

const char *gpumem_train_method_name(gpumem_train_method m);
gpumem_status gpumem_train_method_parse(const char *name, gpumem_train_method *out,
                                        gpumem_error *err);
const char *gpumem_precision_name(gpumem_precision p);
gpumem_status gpumem_precision_parse(const char *name, gpumem_precision *out, gpumem_error *err);
const char *gpumem_optimizer_name(gpumem_optimizer o);
gpumem_status gpumem_optimizer_parse(const char *name, gpumem_optimizer *out, gpumem_error *err);
const char *gpumem_checkpointing_name(gpumem_checkpointing c);
gpumem_status gpumem_checkpointing_parse(const char *name, gpumem_checkpointing *out,
                                         gpumem_error *err);

/* -------------------------------------------------------------- fit (llama.cpp) */

typedef struct {
    uint64_t margin;      /* bytes left free on the GPU (--fit-target), default 1 GiB */
    uint64_t budget;      /* absolute budget for gpumem's use of the GPU; 0: its memory */
    uint64_t min_context; /* --fit-ctx: context is not reduced below this (4096) */
    int context_set;      /* the user gave -c: never change it */
} gpumem_fit_request;

typedef struct {
    int fits;                 /* 1: the plan fits the budget with the margin */
    uint64_t context;         /* n_ctx chosen */
    int n_gpu_layers;         /* -ngl (n_layer + 1 = everything incl. output) */
    int n_cpu_moe;            /* the layers whose experts the plan's -ot puts on the
                                 host; 0: none */
    char flags[1024];         /* the llama.cpp flags, e.g. "-c 8192 -ngl 33" or
                                 "-c 8192 -ngl 61 -ts 24,37" */
    char advice[320];         /* when nothing fits: the cheapest changes, with figures */
    uint64_t max_context;     /* largest context that fits with full offload (0: none) */
    gpumem_estimate estimate; /* the plan's estimate (devices and buffers) */
    /* Several GPUs: per device, the layers it holds (-ts; the last counts
     * the output layer) and how many of them keep their experts on the host. */
    uint32_t n_devices;
    int layers[GPUMEM_MAX_SPLIT];
    int dense_only[GPUMEM_MAX_SPLIT];
    /* The layers llama.cpp's --fit splits by tensor (at most one per
     * device): part of the FFN to the next GPU or the host. */
    uint32_t n_ffn_moves;
    gpumem_ffn_move ffn_moves[GPUMEM_MAX_FFN_MOVES];
    char note[GPUMEM_NOTE_LEN]; /* where llama.cpp's own --fit would refuse, or "" */
    /* Serving: the largest -np (up to 256) whose sequences each get
     * parallel_context cells (the plan's context per sequence) with every
     * layer on the GPUs; run as -c max_parallel x parallel_context
     * -np max_parallel. 0: not even one. */
    uint32_t max_parallel;
    uint64_t parallel_context;
} gpumem_fit_plan;

/*
 * What llama.cpp de3ff81's --fit would choose on settings->gpu, offline
 * (common/fit.cpp): keep full offload and shrink the context (linear
 * interpolation, multiples of 256 x streams, not below min_context), then
 * offload fewer layers from the back; a MoE model takes the several-GPU
 * procedure below with one device (experts of the last layers to the host
 * by -ot, as llama.cpp's --fit does). Fills `plan` (caller-owned; large: heap).
 * Needs a GGUF model and settings->gpu.
 *
 * Over several GPUs (settings->n_targets > 1, or gpus > 1 of settings->gpu)
 * the same procedure as llama_params_fit over devices: the context shrinks
 * only when the GPUs together are short (less a reserve of (n + 1) half
 * layers, sixth layers for MoE), then layers fill the GPUs back to front by
 * false position, MoE layers first without their experts, then turned back
 * into full layers front to back, each device ending with one layer split
 * by tensor where that fits (plan->ffn_moves). Each device keeps its own budget and
 * margin (request budget/margin are the defaults for every device). The
 * flags give -ngl, -ts as layer counts and -ot for experts on the host
 * and for the split layers.
 * A --cpu-moe / --n-cpu-moe / -ot in settings, which llama.cpp's --fit
 * refuses, stays fixed: the plan fills layers around it and says so in
 * plan->note.
 */
gpumem_status gpumem_fit(const gpumem_model *model, const gpumem_settings *settings,
                         const gpumem_fit_request *request, gpumem_fit_plan *plan,
                         gpumem_error *err);

/* ---------------------------------------------------------------- reports */

typedef enum { GPUMEM_UNIT_GIB = 0, GPUMEM_UNIT_GB, GPUMEM_UNIT_COUNT } gpumem_unit;

gpumem_status gpumem_unit_parse(const char *name, gpumem_unit *out, gpumem_error *err);

/* The JSON contract (see README): returns a malloc'd NUL-terminated string
 * the caller frees with free(), or NULL when out of memory. */
char *gpumem_report_json(const gpumem_model *model, const gpumem_estimate *est);

/* What `gpumem fit --json` prints: the plan's estimate as gpumem_report_json
 * gives it, with a "plan" object (fits, flags, context, n_gpu_layers,
 * n_cpu_moe, max_context, max_parallel, parallel_context, advice; over several
 * GPUs also devices[] with each
 * GPU's layers, bytes, budget and margin, and note). malloc'd, caller frees;
 * NULL when out of memory. */
char *gpumem_report_fit_json(const gpumem_model *model, const gpumem_fit_plan *plan);

/* The human answer. `breakdown` == 0: one line, what it needs (per GPU, or
 * per device for llama.cpp; vLLM's KV tokens and concurrency) and whether it
 * fits; != 0: the settings, a table of components, every device's
 * components and the verdict. malloc'd, caller frees; NULL when out of
 * memory. */
char *gpumem_report_text(const gpumem_model *model, const gpumem_estimate *est,
                         gpumem_unit unit, int breakdown);

/* The breakdown as an SVG chart (a stacked bar per device, the GPU's
 * memory as a line, a legend). malloc'd, caller frees; NULL if out of
 * memory. */
char *gpumem_report_svg(const gpumem_model *model, const gpumem_estimate *est, gpumem_unit unit);

#ifdef __cplusplus
}
#endif
#endif
