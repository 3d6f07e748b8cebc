#include "options.h"

#include <string.h>

const opt_spec cli_options[O_COUNT] = {
    {O_HELP, "help", 'h', NULL, OPT_FLAG, NULL, CMD_ALL, "show this help"},
    {O_JSON, "json", 0, NULL, OPT_FLAG, NULL, CMD_ALL & ~CMD_VALIDATE, "print machine-readable JSON"},
    {O_DTYPE, "dtype", 'd', NULL, OPT_VALUE, "TYPE", CMD_ESTIMATE,
     "weight dtype: fp32, fp16, bf16, fp8, int8 (bitsandbytes), int4 (bitsandbytes NF4); "
     "default: the config's torch_dtype"},
    {O_QUANT, "quant", 0, NULL, OPT_VALUE, "KIND", CMD_ESTIMATE,
     "transformers quantised loading: bnb-int8 (LLM.int8), bnb-nf4 (4-bit NF4) or bnb-nf4-dq "
     "(NF4 with double quantisation, bnb_4bit_use_double_quant)"},
    {O_KV_DTYPE, "kv-dtype", 0, NULL, OPT_VALUE, "TYPE", CMD_ESTIMATE,
     "KV cache dtype (default: the compute dtype)"},
    {O_BATCH, "batch", 'b', NULL, OPT_VALUE, "N", CMD_ESTIMATE | CMD_FIT, "sequences per batch (default 1)"},
    {O_CONTEXT, "context", 'c', "ctx-size", OPT_VALUE, "N", CMD_ESTIMATE | CMD_FIT,
     "tokens per sequence (default: 4096, or the model's maximum if smaller)"},
    {O_ATTN, "attn", 0, NULL, OPT_VALUE, "KIND", CMD_ESTIMATE,
     "attention implementation: sdpa (default), eager, or flash (flash_attention_2: no scores, "
     "no masks, GQA unrepeated; fp16/bf16; modelled from transformers 5.24, not measured)"},
    {O_GPU, "gpu", 'g', NULL, OPT_LIST, "NAME[,NAME...]", CMD_ESTIMATE | CMD_FIT,
     "target GPU from 'gpumem gpus' (or 'local': this machine's first GPU, its free memory); "
     "llama.cpp and --device-map: repeat it or give a comma list for several GPUs, CUDA0 first"},
    {O_GPUS, "gpus", 0, NULL, OPT_VALUE, "N", CMD_ESTIMATE,
     "tensor-parallel GPUs sharing weights and KV cache (default 1)"},
    {O_UNIT, "unit", 'u', NULL, OPT_VALUE, "UNIT", CMD_ESTIMATE | CMD_GPUS,
     "GiB (2^30 bytes, default) or GB (10^9 bytes)"},
    {O_ENGINE, "engine", 'e', NULL, OPT_VALUE, "NAME", CMD_ESTIMATE,
     "transformers (default; transformers 5.24 / torch 2.15), vllm (vLLM 0.33.0) or simple"},
    {O_SIMPLE, "simple", 0, NULL, OPT_FLAG, NULL, CMD_ESTIMATE,
     "the rule of thumb: parameters x bytes per parameter x 1.2"},
    {O_PARAMS, "params", 'p', NULL, OPT_VALUE, "COUNT", CMD_ESTIMATE,
     "size a model by parameter count alone (7B, 7e9, 350M); implies --simple"},
    {O_BREAKDOWN, "breakdown", 0, NULL, OPT_FLAG, NULL, CMD_ESTIMATE | CMD_VALIDATE,
     "the settings and every component, per device, instead of the one-line answer "
     "(validate: every case)"},
    {O_NEW_TOKENS, "new-tokens", 'n', NULL, OPT_VALUE, "N", CMD_ESTIMATE,
     "tokens generate() adds after the prompt (default 1)"},
    {O_IMAGES, "images", 0, NULL, OPT_VALUE, "N", CMD_ESTIMATE,
     "transformers: images per sequence in the prompt of a llava (CLIP) or gemma3 model, "
     "at the tower's image size; their image tokens count in --context"},
    {O_CACHE, "cache", 0, NULL, OPT_VALUE, "KIND", CMD_ESTIMATE,
     "transformers KV cache: dynamic (default) or static"},
    {O_CHECK, "check", 0, NULL, OPT_FLAG, NULL, CMD_VALIDATE,
     "exit 1 if the median total error exceeds 5%, or any case is over by more than 5% or under by "
     "more than 3% "
     "(cases listed in known_deviations.tsv beside the measurements excepted)"},
    /* vLLM's own option names (--engine vllm; vLLM 0.33.0 back to 0.10.1). */
    {O_GPU_UTIL, "gpu-memory-utilization", 0, NULL, OPT_VALUE, "F", CMD_ESTIMATE,
     "vLLM: share of GPU memory vLLM may use (0.92 in 0.33.0, 0.9 up to 0.19.0)"},
    {O_MAX_MODEL_LEN, "max-model-len", 0, NULL, OPT_VALUE, "N", CMD_ESTIMATE,
     "vLLM: longest request in tokens (default: the model's maximum)"},
    {O_MAX_NUM_SEQS, "max-num-seqs", 0, NULL, OPT_VALUE, "N", CMD_ESTIMATE,
     "vLLM: sequences per step (default by GPU size, as vllm serve)"},
    {O_MAX_BATCHED, "max-num-batched-tokens", 0, NULL, OPT_VALUE, "N", CMD_ESTIMATE,
     "vLLM: tokens per step; sizes the profiled activation peak"},
    {O_KV_CACHE_DTYPE, "kv-cache-dtype", 0, NULL, OPT_VALUE, "TYPE", CMD_ESTIMATE,
     "vLLM: auto, fp8, fp8_e4m3 or fp8_e5m2"},
    {O_BLOCK_SIZE, "block-size", 0, NULL, OPT_VALUE, "N", CMD_ESTIMATE,
     "vLLM: tokens per KV block (default 16)"},
    {O_TP, "tensor-parallel-size", 0, "tp", OPT_VALUE, "N", CMD_ESTIMATE,
     "tensor-parallel ranks (also --tp; vLLM: same as --gpus)"},
    {O_PP, "pipeline-parallel-size", 0, "pp", OPT_VALUE, "N", CMD_ESTIMATE,
     "pipeline stages (also --pp)"},
    {O_ENFORCE_EAGER, "enforce-eager", 0, NULL, OPT_FLAG, NULL, CMD_ESTIMATE,
     "vLLM: no CUDA graphs"},
    {O_KV_CACHE_MEMORY, "kv-cache-memory", 0, NULL, OPT_VALUE, "SIZE", CMD_ESTIMATE,
     "vLLM: KV pool per GPU (bytes, or 20GiB / 20GB), bypassing profiling"},
    {O_QUANTIZATION, "quantization", 'q', NULL, OPT_VALUE, "METHOD", CMD_ESTIMATE,
     "awq, gptq, awq_marlin, gptq_marlin, bitsandbytes (4-bit), fp8, w8a8/int8, none"},
    {O_VLLM_VERSION, "vllm-version", 0, NULL, OPT_VALUE, "V", CMD_ESTIMATE,
     "vLLM version modelled: 0.33.0 (default, 'latest'), 0.19.0, 0.14.1, 0.11.0 or 0.10.1"},
    {O_DISABLE_HMA, "disable-hybrid-kv-cache-manager", 0, NULL, OPT_FLAG, NULL, CMD_ESTIMATE,
     "vLLM: sliding-window and chunked layers cache every token, like full attention"},
    {O_ENABLE_HMA, "enable-hybrid-kv-cache-manager", 0, NULL, OPT_FLAG, NULL, CMD_ESTIMATE,
     "vLLM: keep it for chunked attention (0.10.1/0.11.0 turn it off unless "
     "VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE=1)"},
    {O_LIMIT_MM, "limit-mm-per-prompt", 0, NULL, OPT_VALUE, "JSON", CMD_ESTIMATE,
     "vLLM: items per prompt, '{\"image\": 2, \"video\": 0}' (default 999 each); sizes the "
     "profiling run's dummy image/video batch"},
    {O_MM_KWARGS, "mm-processor-kwargs", 0, NULL, OPT_VALUE, "JSON", CMD_ESTIMATE,
     "vLLM: Qwen2-VL/Qwen2.5-VL image processor bound, '{\"max_pixels\": N}' (default "
     "12845056, the official checkpoints')"},
    /* Training (--train; transformers 5.24 + PEFT + DeepSpeed/FSDP, or
     * Megatron-Core 0.14 when tp/pp/cp/ep > 1). */
    {O_TRAIN, "train", 't', NULL, OPT_FLAG, NULL, CMD_ESTIMATE,
     "estimate a training / fine-tuning step instead of inference"},
    {O_METHOD, "method", 0, NULL, OPT_VALUE, "M", CMD_ESTIMATE, "training: full, lora or qlora"},
    {O_LORA_RANK, "lora-rank", 0, NULL, OPT_VALUE, "R", CMD_ESTIMATE, "training: LoRA rank (16)"},
    {O_LORA_TARGETS, "lora-targets", 0, NULL, OPT_VALUE, "T", CMD_ESTIMATE,
     "training: attention (default), all-linear, or a list such as q,v"},
    {O_PRECISION, "precision", 0, NULL, OPT_VALUE, "P", CMD_ESTIMATE,
     "training: fp32, fp16-mixed, bf16-mixed (default), bf16, fp8"},
    {O_OPTIMIZER, "optimizer", 0, NULL, OPT_VALUE, "O", CMD_ESTIMATE,
     "training: adamw, adamw8bit, paged-adamw8bit, sgd, sgd-momentum, adafactor, lion, muon"},
    {O_CHECKPOINTING, "checkpointing", 0, NULL, OPT_VALUE, "C", CMD_ESTIMATE,
     "training: activation recomputation none (default), selective or full"},
    {O_SEQ, "seq", 's', NULL, OPT_VALUE, "N", CMD_ESTIMATE, "training: sequence length (2048)"},
    {O_ZERO, "zero", 0, NULL, OPT_VALUE, "0-3", CMD_ESTIMATE, "training: DeepSpeed ZeRO stage"},
    {O_FSDP, "fsdp", 0, NULL, OPT_VALUE, "KIND", CMD_ESTIMATE, "training: FSDP full or hybrid"},
    {O_EP, "ep", 0, NULL, OPT_VALUE, "N", CMD_ESTIMATE, "training: expert-parallel ranks"},
    {O_CP, "cp", 0, NULL, OPT_VALUE, "N", CMD_ESTIMATE, "training: context-parallel ranks"},
    {O_DP, "dp", 0, NULL, OPT_VALUE, "N", CMD_ESTIMATE, "training: data-parallel ranks"},
    {O_MICRO_BATCHES, "micro-batches", 0, NULL, OPT_VALUE, "N", CMD_ESTIMATE,
     "training: gradient-accumulation / pipeline micro-batches"},
    {O_FREEZE_EMB, "freeze-embeddings", 0, NULL, OPT_FLAG, NULL, CMD_ESTIMATE,
     "training: no gradients for the embeddings"},
    {O_NO_FLASH, "no-flash", 0, NULL, OPT_FLAG, NULL, CMD_ESTIMATE,
     "training: attention without flash/SDPA kernels (materialised scores)"},
    {O_KEEP_GRADS, "keep-grads", 0, NULL, OPT_FLAG, NULL, CMD_ESTIMATE,
     "training: gradients kept through the forward (zero_grad(set_to_none=False))"},
    {O_HEAD, "head", 0, NULL, OPT_VALUE, "auto|mlm|classifier", CMD_ESTIMATE,
     "training an encoder: its head (auto: the config's architectures; mlm adds vocabulary logits)"},
    {O_SEQ_PARALLEL, "sequence-parallel", 0, NULL, OPT_FLAG, NULL, CMD_ESTIMATE,
     "training: Megatron sequence parallelism with --tp"},
    /* llama.cpp's own names (--engine llamacpp, the default for GGUF files;
     * llama.cpp de3ff81). With it, -b/--batch is llama.cpp's logical batch. */
    {O_UBATCH, "ubatch-size", 0, "ub", OPT_VALUE, "N", CMD_ESTIMATE | CMD_FIT,
     "llama.cpp: physical batch (default 512)"},
    {O_PARALLEL, "parallel", 0, "np", OPT_VALUE, "N", CMD_ESTIMATE | CMD_FIT,
     "llama.cpp: parallel sequences (default 1)"},
    {O_KV_UNIFIED, "kv-unified", 0, "kvu", OPT_FLAG, NULL, CMD_ESTIMATE | CMD_FIT,
     "llama.cpp: one KV buffer shared by all sequences"},
    {O_FLASH_ATTN, "flash-attn", 0, "fa", OPT_VALUE, "on|off|auto", CMD_ESTIMATE | CMD_FIT,
     "llama.cpp: flash attention (default auto = on)"},
    {O_CTK, "cache-type-k", 0, "ctk", OPT_VALUE, "TYPE", CMD_ESTIMATE | CMD_FIT,
     "llama.cpp: K cache type (f16, q8_0, q4_0, ...)"},
    {O_CTV, "cache-type-v", 0, "ctv", OPT_VALUE, "TYPE", CMD_ESTIMATE | CMD_FIT,
     "llama.cpp: V cache type (quantised V needs -fa on)"},
    {O_NGL, "n-gpu-layers", 0, "ngl", OPT_VALUE, "N", CMD_ESTIMATE | CMD_FIT,
     "llama.cpp: layers on the GPU, the output layer counted first in de3ff81 (default: all with --gpu, "
     "else 0)"},
    {O_TENSOR_SPLIT, "tensor-split", 0, "ts", OPT_VALUE, "A,B,...", CMD_ESTIMATE,
     "llama.cpp: share of the offloaded layers per GPU; sets --gpus to their count"},
    {O_SWA_FULL, "swa-full", 0, NULL, OPT_FLAG, NULL, CMD_ESTIMATE | CMD_FIT,
     "llama.cpp: full-size cache for sliding-window layers"},
    {O_LLAMACPP_VERSION, "llamacpp-version", 0, NULL, OPT_VALUE, "V", CMD_ESTIMATE | CMD_FIT,
     "llama.cpp rules modelled: de3ff81 (default, node-llama-cpp 3.22.1), b6699 (builds "
     "of May to Oct 2025: -ngl before the output layer, n_ctx padded to 32 without "
     "-fa, f32 mask) or b5050 (May 2024 to May 2025: as b6699, sliding-window layers "
     "caching the full context)"},
    {O_MARGIN, "margin", 0, NULL, OPT_LIST, "SIZE[,SIZE...]", CMD_ESTIMATE | CMD_FIT,
     "memory left free on each GPU (llama.cpp --fit-target; fit: default 1024MiB, estimate: "
     "0); one size for all GPUs or one per GPU"},
    {O_BUDGET, "budget", 0, NULL, OPT_LIST, "SIZE[,SIZE...]", CMD_ESTIMATE | CMD_FIT,
     "absolute budget per GPU instead of its memory (e.g. 20GiB,10GiB); one for all or one "
     "per GPU; other engines: one size, the usable memory of --gpu (a custom card, or the "
     "unified memory a Mac lets its GPU use)"},
    {O_FIT_CTX, "fit-ctx", 0, NULL, OPT_VALUE, "N", CMD_FIT,
     "fit: do not shrink the context below N (default 4096)"},
    {O_CPU_MOE, "cpu-moe", 0, NULL, OPT_FLAG, NULL, CMD_ESTIMATE | CMD_FIT,
     "llama.cpp: all MoE expert tensors in host memory (fit: kept, layers placed around it)"},
    {O_N_CPU_MOE, "n-cpu-moe", 0, NULL, OPT_VALUE, "N", CMD_ESTIMATE | CMD_FIT,
     "llama.cpp: expert tensors of the first N layers in host memory"},
    {O_OVERRIDE_TENSOR, "override-tensor", 0, "ot", OPT_LIST, "PATTERN=BUF", CMD_ESTIMATE | CMD_FIT,
     "llama.cpp: expert tensors of the layers named, blk\\.(N|M)\\.ffn_..._exps=CPU, in host "
     "memory; part of layer N's FFN, blk\\.N\\.ffn_down.*, blk\\.N\\.ffn_(gate|gate_up|down).* or "
     "blk\\.N\\.ffn_(gate|up|gate_up|down).*, =CPU or =CUDA<k> (what fit prints)"},
    {O_DEVICE_MAP, "device-map", 0, NULL, OPT_VALUE, "auto|balanced|balanced_low_0|sequential",
     CMD_ESTIMATE,
     "transformers: from_pretrained(device_map=...) over the GPUs (--gpu NAME --gpus N, or a "
     "list): whole layers per GPU, the rest on the host (CPU offload), as accelerate places "
     "them"},
    {O_MAX_MEMORY, "max-memory", 0, NULL, OPT_LIST, "SIZE[,SIZE...]", CMD_ESTIMATE,
     "with --device-map: from_pretrained's max_memory per GPU, one for all or one per GPU "
     "(default: each GPU's free memory after the CUDA context, 90% on a single GPU)"},
    {O_SPLIT_MODE, "split-mode", 0, "sm", OPT_VALUE, "layer|none|row", CMD_ESTIMATE,
     "llama.cpp: layer (default) splits layers by -ts; none puts everything on GPU -mg; row "
     "is refused (de3ff81's CUDA backend has no row split)"},
    {O_MAIN_GPU, "main-gpu", 0, "mg", OPT_VALUE, "N", CMD_ESTIMATE,
     "llama.cpp: the GPU of -sm none (default 0; -1: no GPU)"},
    {O_NO_KV_OFFLOAD, "no-kv-offload", 0, "nkvo", OPT_FLAG, NULL, CMD_ESTIMATE,
     "llama.cpp: KV cache and attention on the host (-fa auto turns off)"},
    {O_MMPROJ, "mmproj", 0, NULL, OPT_VALUE, "FILE", CMD_ESTIMATE,
     "llama.cpp: multimodal projector GGUF; its tensors and one warm-up image's compute on "
     "GPU0"},
    {O_NO_MMPROJ_OFFLOAD, "no-mmproj-offload", 0, NULL, OPT_FLAG, NULL, CMD_ESTIMATE,
     "llama.cpp: the projector on the host"},
    {O_MODEL_DRAFT, "model-draft", 0, "md", OPT_VALUE, "FILE", CMD_ESTIMATE,
     "llama.cpp: draft model GGUF for speculative decoding; its buffers per device as draft_*"},
    {O_NGLD, "gpu-layers-draft", 0, "ngld", OPT_VALUE, "N", CMD_ESTIMATE,
     "llama.cpp: draft layers on the GPUs (default all)"},
    {O_CTKD, "cache-type-k-draft", 0, "ctkd", OPT_VALUE, "TYPE", CMD_ESTIMATE,
     "llama.cpp: the draft's K cache type (default f16)"},
    {O_CTVD, "cache-type-v-draft", 0, "ctvd", OPT_VALUE, "TYPE", CMD_ESTIMATE,
     "llama.cpp: the draft's V cache type (default f16)"},
    {O_CTX_DRAFT, "ctx-size-draft", 0, "cd", OPT_VALUE, "N", CMD_ESTIMATE,
     "llama.cpp: refused: de3ff81's draft context holds the target's n_ctx"},
    {O_LORA, "lora", 0, NULL, OPT_VALUE, "FILE", CMD_ESTIMATE,
     "llama.cpp: LoRA adapter GGUF; each tensor beside the layer it adapts"},
    {O_EMBEDDING, "embedding", 0, "embeddings", OPT_FLAG, NULL, CMD_ESTIMATE,
     "llama.cpp: run as an embedding model, as de3ff81's llama-embedding does (-np 1 = 256 "
     "sequences, -b raised to -c, -ub = -b, output n_vocab + n_embd floats per row, KV kept "
     "for a decoder); implied for encoder GGUFs (bert, nomic-bert, jina-bert, ...) and GGUFs "
     "with a pooling_type"},
    {O_POOLING, "pooling", 0, NULL, OPT_VALUE, "none|mean|cls|last|rank", CMD_ESTIMATE,
     "llama.cpp: pooling of an embedding model (default: the GGUF's pooling_type, else "
     "none); implies --embedding"},
    {O_RERANK, "rerank", 0, "reranking", OPT_FLAG, NULL, CMD_ESTIMATE,
     "llama.cpp: a reranker (--embedding --pooling rank)"},
    {O_LOCAL, "local", 0, NULL, OPT_FLAG, NULL, CMD_GPUS,
     "the GPUs of this machine and their free memory (NVML)"},
    {O_SVG, "svg", 0, NULL, OPT_VALUE, "FILE", CMD_ESTIMATE | CMD_FIT,
     "also write the breakdown as an SVG chart to FILE"},
    {O_MAX_CONTEXT, "max-context", 0, NULL, OPT_FLAG, NULL, CMD_ESTIMATE,
     "print the largest context that fits --gpu (any engine)"},
    {O_MAX_BATCH, "max-batch", 0, NULL, OPT_FLAG, NULL, CMD_ESTIMATE,
     "print the largest batch that fits --gpu at the given context"},
    {O_TARGET_CONCURRENCY, "target-concurrency", 0, NULL, OPT_VALUE, "N", CMD_ESTIMATE,
     "vLLM: the smallest --gpu-memory-utilization at which N requests of --max-model-len "
     "tokens fit at once (then the estimate at it)"},
};

const opt_spec *opt_spec_of(opt_id id)
{
    for (int i = 0; i < O_COUNT; i++)
        if (cli_options[i].id == id)
            return &cli_options[i];
    return NULL;
}

static const opt_spec *find_long(const char *name, size_t len)
{
    for (int i = 0; i < O_COUNT; i++)
        if (strlen(cli_options[i].name) == len && strncmp(cli_options[i].name, name, len) == 0)
            return &cli_options[i];
    return NULL;
}

static const opt_spec *find_alias(const char *name)
{
    for (int i = 0; i < O_COUNT; i++)
        if (cli_options[i].alias && strcmp(cli_options[i].alias, name) == 0)
            return &cli_options[i];
    return NULL;
}

static const opt_spec *find_short(char c)
{
    for (int i = 0; i < O_COUNT; i++)
        if (cli_options[i].short_name && cli_options[i].short_name == c)
            return &cli_options[i];
    return NULL;
}

int opts_parse(int argc, char **argv, int first, unsigned command, opt_values *out, char *msg,
               size_t msg_len)
{
    memset(out, 0, sizeof *out);
    for (int i = first; i < argc; i++) {
        const char *arg = argv[i];
        const opt_spec *o = NULL;
        const char *inline_value = NULL;
        if (strncmp(arg, "--", 2) == 0 && arg[2]) {
            const char *eq = strchr(arg + 2, '=');
            size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
            o = find_long(arg + 2, len);
            if (!o && len < 32) { /* --tp is -tp; --ctx-size is llama.cpp's name */
                char alias[32];
                memcpy(alias, arg + 2, len);
                alias[len] = '\0';
                o = find_alias(alias);
            }
            inline_value = eq ? eq + 1 : NULL;
        } else if (arg[0] == '-' && arg[1] && !(arg[1] >= '0' && arg[1] <= '9')) {
            if (arg[2] && (o = find_alias(arg + 1)) != NULL) {
                /* a multi-letter short form such as -tp */
            } else if (arg[2]) {
                snprintf(msg, msg_len, "unknown option '%s' (short options take no attached "
                                       "value; write '-%c VALUE')",
                         arg, arg[1]);
                return -1;
            } else {
                o = find_short(arg[1]);
            }
        } else {
            if (out->n_positional == 64) {
                snprintf(msg, msg_len, "too many arguments ('%s')", arg);
                return -1;
            }
            out->positional[out->n_positional++] = arg;
            continue;
        }
        if (!o) {
            snprintf(msg, msg_len, "unknown option '%s' (see --help)", arg);
            return -1;
        }
        if (!(o->commands & command)) {
            snprintf(msg, msg_len, "option '--%s' does not apply to this command", o->name);
            return -1;
        }
        if (out->set[o->id] && (o->kind != OPT_LIST || out->set[o->id] == OPT_MAX_REPEAT)) {
            if (o->kind == OPT_LIST)
                snprintf(msg, msg_len, "option '--%s' given more than %d times", o->name,
                         OPT_MAX_REPEAT);
            else
                snprintf(msg, msg_len, "option '--%s' given twice", o->name);
            return -1;
        }
        out->set[o->id]++;
        if (o->kind == OPT_FLAG) {
            if (inline_value) {
                snprintf(msg, msg_len, "option '--%s' takes no value", o->name);
                return -1;
            }
            continue;
        }
        if (!inline_value) {
            if (i + 1 >= argc) {
                snprintf(msg, msg_len, "option '--%s' needs a value (%s)", o->name, o->metavar);
                return -1;
            }
            inline_value = argv[++i];
        }
        if (!out->value[o->id])
            out->value[o->id] = inline_value;
        out->repeat[o->id][out->set[o->id] - 1] = inline_value;
    }
    return 0;
}

void opts_help(FILE *f, unsigned command)
{
    for (int i = 0; i < O_COUNT; i++) {
        const opt_spec *o = &cli_options[i];
        if (!(o->commands & command))
            continue;
        char left[64];
        if (o->alias)
            snprintf(left, sizeof left, "%s%s, --%s%s%s", strlen(o->alias) > 3 ? "--" : "-",
                     o->alias, o->name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
        else if (o->short_name)
            snprintf(left, sizeof left, "-%c, --%s%s%s", o->short_name, o->name,
                     o->metavar ? " " : "", o->metavar ? o->metavar : "");
        else
            snprintf(left, sizeof left, "    --%s%s%s", o->name, o->metavar ? " " : "",
                     o->metavar ? o->metavar : "");
        fprintf(f, "  %-34s %s\n", left, o->help);
    }
}
