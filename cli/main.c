/* gpumem: the command-line program. Uses only the public API. */
#include "gpumem.h"
#include "docgen.h"
#include "options.h"
#include "validate.h"
#include "vllm_mm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { EXIT_INPUT = 1, EXIT_USAGE = 2 };

static const doc_command commands[] = {
    {"estimate", CMD_ESTIMATE, "gpumem estimate MODEL [options] | --params COUNT [options]",
     "GPU memory to run MODEL: a catalog name or Hugging Face id, a config.json, or a "
     "directory holding one"},
    {"models", CMD_MODELS, "gpumem models [--json]",
     "the embedded model catalog with parameter counts"},
    {"gpus", CMD_GPUS, "gpumem gpus [--json] [--unit GiB|GB]",
     "the embedded GPU catalog with the memory a process can see"},
    {"inspect", CMD_INSPECT, "gpumem inspect FILE [--json]",
     "what a .gguf or .safetensors file holds, from its header alone"},
    {"fit", CMD_FIT,
     "gpumem fit MODEL.gguf --gpu NAME[,NAME...] [-c N] [--margin SIZE[,...]] [--budget "
     "SIZE[,...]]",
     "the llama.cpp flags (-c, -ngl, -ts, -ot) that fit one GPU or several (what --fit would "
     "choose, offline)"},
    {"validate", CMD_VALIDATE, "gpumem validate MEASUREMENTS.jsonl... [--check] [--breakdown]",
     "compare gpumem with measured cases (validation/measurements/)"},
};

static void main_help(FILE *f)
{
    fprintf(f, "gpumem %s: how much GPU memory a model needs, and whether it fits.\n\n"
               "usage: gpumem COMMAND [options]\n\ncommands:\n",
            gpumem_version());
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n  gpumem COMMAND --help   options of a command\n"
               "  gpumem --version | --man | --completions bash|zsh\n\n"
               "examples:\n"
               "  gpumem estimate llama-3.1-8b --gpu rtx-4090\n"
               "  gpumem estimate ./config.json --dtype bf16 --batch 8 --context 4096\n"
               "  gpumem estimate --params 7B --dtype int4 --simple\n");
}

static int fail(gpumem_status st, const gpumem_error *err)
{
    fprintf(stderr, "gpumem: error: ");
    if (err->file[0]) {
        fprintf(stderr, "%s", err->file);
        if (err->line)
            fprintf(stderr, ":%d:%d", err->line, err->column);
        else if (err->offset >= 0)
            fprintf(stderr, ": byte %lld", (long long)err->offset);
        fprintf(stderr, ": ");
    }
    fprintf(stderr, "%s\n", err->message[0] ? err->message : gpumem_strerror(st));
    return st == GPUMEM_ERR_USAGE ? EXIT_USAGE : EXIT_INPUT;
}

static int usage_error(const char *msg)
{
    fprintf(stderr, "gpumem: error: %s\n", msg);
    return EXIT_USAGE;
}

/* A positive integer, strictly: no sign, no junk, no overflow. */
static int parse_count(const char *opt, const char *text, uint64_t max, uint64_t *out)
{
    char msg[256];
    const char *p = text;
    uint64_t v = 0;
    if (!*p)
        goto bad;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            goto bad;
        uint64_t d = (uint64_t)(*p - '0');
        if (d > max || v > (max - d) / 10)
            goto big;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v == 0)
        goto bad;
    *out = v;
    return 0;
bad:
    snprintf(msg, sizeof msg, "--%s must be a positive integer, got '%s'", opt, text);
    return usage_error(msg);
big:
    snprintf(msg, sizeof msg, "--%s %s is too large (at most %llu)", opt, text,
             (unsigned long long)max);
    return usage_error(msg);
}

/* "20GiB", "20GB", "512MiB" or plain bytes. */
static int parse_size(const char *opt, const char *text, uint64_t *out)
{
    static const struct {
        const char *suffix;
        double mult;
    } units[] = {{"TiB", 1099511627776.0}, {"GiB", 1073741824.0}, {"MiB", 1048576.0},
                 {"KiB", 1024.0}, {"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}};
    char *end;
    double v = strtod(text, &end);
    double mult = 1;
    if (end != text && *end) {
        size_t i;
        for (i = 0; i < sizeof units / sizeof units[0]; i++)
            if (!strcmp(end, units[i].suffix))
                break;
        if (i == sizeof units / sizeof units[0])
            end = (char *)text; /* mark invalid */
        else
            mult = units[i].mult;
    }
    if (end == text || !(v > 0) || v * mult > 1e15) {
        char msg[256];
        snprintf(msg, sizeof msg, "--%s wants a size such as 20GiB, 512MiB or bytes, got '%s'",
                 opt, text);
        return usage_error(msg);
    }
    *out = (uint64_t)(v * mult);
    return 0;
}

static int apply_vllm(const opt_values *v, gpumem_settings *s)
{
    int rc;
    uint64_t n;
    if (v->set[O_GPU_UTIL]) {
        char *end;
        s->gpu_memory_utilization = strtod(v->value[O_GPU_UTIL], &end);
        if (*end || !(s->gpu_memory_utilization > 0 && s->gpu_memory_utilization <= 1))
            return usage_error("--gpu-memory-utilization must be a number in (0, 1]");
    }
    if (v->set[O_MAX_MODEL_LEN] &&
        (rc = parse_count("max-model-len", v->value[O_MAX_MODEL_LEN], 1ull << 26, &s->max_model_len)))
        return rc;
    if (v->set[O_MAX_NUM_SEQS] &&
        (rc = parse_count("max-num-seqs", v->value[O_MAX_NUM_SEQS], 1u << 20, &s->max_num_seqs)))
        return rc;
    if (v->set[O_MAX_BATCHED] && (rc = parse_count("max-num-batched-tokens", v->value[O_MAX_BATCHED],
                                                   1ull << 26, &s->max_num_batched_tokens)))
        return rc;
    if (v->set[O_BLOCK_SIZE]) {
        if ((rc = parse_count("block-size", v->value[O_BLOCK_SIZE], 4096, &n)))
            return rc;
        s->block_size = (uint32_t)n;
    }
    if (v->set[O_TP] && !v->set[O_TRAIN]) {
        if (v->set[O_GPUS])
            return usage_error("give --gpus or --tensor-parallel-size, not both");
        if ((rc = parse_count("tensor-parallel-size", v->value[O_TP], 64, &n)))
            return rc;
        s->gpus = (uint32_t)n;
    }
    if (v->set[O_PP] && !v->set[O_TRAIN]) {
        if ((rc = parse_count("pipeline-parallel-size", v->value[O_PP], 64, &n)))
            return rc;
        s->pipeline_parallel = (uint32_t)n;
    }
    s->enforce_eager = v->set[O_ENFORCE_EAGER];
    if (v->set[O_KV_CACHE_MEMORY] &&
        (rc = parse_size("kv-cache-memory", v->value[O_KV_CACHE_MEMORY], &s->kv_cache_memory)))
        return rc;
    if (v->set[O_KV_CACHE_DTYPE]) {
        const char *k = v->value[O_KV_CACHE_DTYPE];
        if (!strcmp(k, "auto")) {
            s->kv_dtype_set = 0;
        } else if (!strcmp(k, "fp8") || !strcmp(k, "fp8_e4m3") || !strcmp(k, "fp8_e5m2")) {
            s->kv_dtype_set = 1;
            s->kv_dtype = GPUMEM_DTYPE_FP8;
        } else {
            return usage_error("--kv-cache-dtype must be auto, fp8, fp8_e4m3 or fp8_e5m2");
        }
    }
    if (v->set[O_QUANTIZATION]) {
        static const struct {
            const char *name;
            int dtype; /* -1: keep */
        } q[] = {{"awq", GPUMEM_DTYPE_INT4},          {"gptq", GPUMEM_DTYPE_INT4},
                 {"awq_marlin", GPUMEM_DTYPE_INT4},   {"gptq_marlin", GPUMEM_DTYPE_INT4},
                 {"bitsandbytes", GPUMEM_DTYPE_INT4}, {"fp8", GPUMEM_DTYPE_FP8},
                 {"w8a8", GPUMEM_DTYPE_INT8},         {"int8", GPUMEM_DTYPE_INT8},
                 {"mxfp4", -1},                       {"none", -1}};
        size_t i;
        for (i = 0; i < sizeof q / sizeof q[0]; i++)
            if (!strcmp(v->value[O_QUANTIZATION], q[i].name))
                break;
        if (i == sizeof q / sizeof q[0])
            return usage_error("--quantization: expected awq, gptq, awq_marlin, gptq_marlin, "
                               "bitsandbytes, fp8, w8a8, int8, mxfp4 or none");
        if (q[i].dtype >= 0) {
            if (v->set[O_DTYPE])
                return usage_error("give --dtype or --quantization, not both");
            s->dtype_set = 1;
            s->dtype = (gpumem_dtype)q[i].dtype;
        }
    }
    if (v->set[O_QUANT]) {
        /* transformers' BitsAndBytesConfig: load_in_8bit, load_in_4bit
         * (nf4), bnb_4bit_use_double_quant */
        const char *k = v->value[O_QUANT];
        if (v->set[O_DTYPE] || v->set[O_QUANTIZATION])
            return usage_error("give --quant, --dtype or --quantization, not two of them");
        if (strcmp(k, "bnb-int8") && strcmp(k, "bnb-nf4") && strcmp(k, "bnb-nf4-dq"))
            return usage_error("--quant must be bnb-int8, bnb-nf4 or bnb-nf4-dq");
        s->dtype_set = 1;
        s->dtype = strcmp(k, "bnb-int8") ? GPUMEM_DTYPE_INT4 : GPUMEM_DTYPE_INT8;
        s->bnb_double_quant = strcmp(k, "bnb-nf4-dq") == 0;
    }
    if (v->set[O_DISABLE_HMA] && v->set[O_ENABLE_HMA])
        return usage_error("give --enable-hybrid-kv-cache-manager or "
                           "--disable-hybrid-kv-cache-manager, not both");
    s->vllm_hybrid_kv_cache_manager = v->set[O_ENABLE_HMA] ? 1 : v->set[O_DISABLE_HMA] ? 2 : 0;
    char msg[512];
    if (v->set[O_LIMIT_MM] && vllm_mm_parse_limits(v->value[O_LIMIT_MM], s, msg, sizeof msg))
        return usage_error(msg);
    if (v->set[O_MM_KWARGS] && vllm_mm_parse_kwargs(v->value[O_MM_KWARGS], s, msg, sizeof msg))
        return usage_error(msg);
    if (v->set[O_VLLM_VERSION]) {
        s->vllm_version = v->value[O_VLLM_VERSION];
        /* The rows of src/engine_vllm.c's version table. */
        static const char *const known[] = {"latest", "0.33.0", "0.19.0", "0.14.1", "0.11.0",
                                            "0.10.1"};
        const char *ver = s->vllm_version + (s->vllm_version[0] == 'v');
        size_t k = 0;
        while (k < sizeof known / sizeof known[0] && strcmp(ver, known[k]) != 0)
            k++;
        if (k == sizeof known / sizeof known[0])
            return usage_error("--vllm-version: modelled versions are 0.33.0 (latest), 0.19.0, "
                               "0.14.1, 0.11.0 and 0.10.1");
    }
    return 0;
}

/* --gpu local: this machine's first GPU with the memory free now. The
 * storage lives in main's frame for the whole run. */
static gpumem_gpu local_gpu;
static char local_name[96];

static int find_gpu(const char *name, const gpumem_gpu **out)
{
    gpumem_error err;
    if (!strcmp(name, "local")) {
        gpumem_local_gpu g;
        size_t n = 0;
        if (gpumem_local_gpus(&g, 1, &n, &err) != GPUMEM_OK)
            return fail(GPUMEM_ERR_IO, &err);
        if (!n) {
            fprintf(stderr, "gpumem: error: NVML found no GPU on this machine\n");
            return EXIT_INPUT;
        }
        snprintf(local_name, sizeof local_name, "%s", g.name);
        local_gpu = (gpumem_gpu){.id = "local",
                                 .aliases = "",
                                 .vendor = "nvidia",
                                 .name = local_name,
                                 .memory_bytes = g.free_bytes,
                                 .compute_capability = g.compute_capability,
                                 .source = "NVML: free memory now"};
        *out = &local_gpu;
        return 0;
    }
    if (gpumem_gpu_find(name, out, &err) != GPUMEM_OK)
        return fail(GPUMEM_ERR_USAGE, &err);
    return 0;
}

/* The items of an OPT_LIST option: every occurrence, split at commas. */
typedef struct {
    char text[GPUMEM_MAX_SPLIT][128];
    int n;
} cli_list;

static int split_list(const opt_values *v, opt_id id, cli_list *out)
{
    char msg[320];
    const char *name = opt_spec_of(id)->name;
    out->n = 0;
    for (int k = 0; k < v->set[id]; k++) {
        const char *p = v->repeat[id][k];
        for (;;) {
            const char *end = strchr(p, ',');
            size_t n = end ? (size_t)(end - p) : strlen(p);
            if (!n) {
                snprintf(msg, sizeof msg, "--%s '%s': an empty item in the list", name,
                         v->repeat[id][k]);
                return usage_error(msg);
            }
            if (out->n == GPUMEM_MAX_SPLIT) {
                snprintf(msg, sizeof msg, "--%s: at most %d items (llama.cpp's device limit)",
                         name, GPUMEM_MAX_SPLIT);
                return usage_error(msg);
            }
            if (n >= sizeof out->text[0]) {
                snprintf(msg, sizeof msg, "--%s: an item is longer than %zu characters", name,
                         sizeof out->text[0] - 1);
                return usage_error(msg);
            }
            memcpy(out->text[out->n], p, n);
            out->text[out->n++][n] = '\0';
            if (!end)
                break;
            p = end + 1;
        }
    }
    return 0;
}

/* --gpu NAME[,NAME...] (repeatable): one GPU sets settings->gpu; several
 * are llama.cpp's devices, settings->targets. */
static int apply_gpus(const opt_values *v, gpumem_settings *s)
{
    cli_list g;
    int rc;
    if (!v->set[O_GPU])
        return 0;
    if ((rc = split_list(v, O_GPU, &g)))
        return rc;
    for (int i = 0; i < g.n; i++)
        if ((rc = find_gpu(g.text[i], &s->targets[i].gpu)))
            return rc;
    s->gpu = s->targets[0].gpu;
    if (g.n > 1) {
        if (v->set[O_GPUS] && s->gpus != (uint32_t)g.n) {
            char msg[128];
            snprintf(msg, sizeof msg, "--gpus is %u but %d GPUs are listed", s->gpus, g.n);
            return usage_error(msg);
        }
        s->n_targets = (uint32_t)g.n;
    }
    return 0;
}

/* --budget / --margin: one size for every GPU or one per GPU. n sizes into
 * out; *count is how many were given (0, 1 or the GPUs). */
static int sizes_for(const opt_values *v, opt_id id, uint32_t gpus, uint64_t *out, int *count)
{
    cli_list l;
    int rc;
    *count = 0;
    if (!v->set[id])
        return 0;
    if ((rc = split_list(v, id, &l)))
        return rc;
    if (l.n != 1 && (uint32_t)l.n != gpus) {
        char msg[200];
        snprintf(msg, sizeof msg, "--%s has %d sizes for %u GPUs (give one for all, or one per GPU)",
                 opt_spec_of(id)->name, l.n, gpus);
        return usage_error(msg);
    }
    for (int i = 0; i < l.n; i++)
        if ((rc = parse_size(opt_spec_of(id)->name, l.text[i], &out[i])))
            return rc;
    *count = l.n;
    return 0;
}

/* Budgets and margins. Fit takes one size for all GPUs through its request
 * (req non-NULL); per-GPU sizes, and every size for estimate, go into the
 * targets. */
static int apply_budgets(const opt_values *v, gpumem_settings *s, gpumem_fit_request *req)
{
    uint64_t budget[GPUMEM_MAX_SPLIT], margin[GPUMEM_MAX_SPLIT];
    int nb, nm, rc;
    uint32_t gpus = s->n_targets ? s->n_targets : s->gpus;
    if ((rc = sizes_for(v, O_BUDGET, gpus, budget, &nb)) ||
        (rc = sizes_for(v, O_MARGIN, gpus, margin, &nm)))
        return rc;
    if (!nb && !nm)
        return 0;
    if (!s->gpu)
        return usage_error("--budget and --margin need a --gpu");
    if (req && nb <= 1 && nm <= 1) {
        req->budget = nb ? budget[0] : 0;
        req->margin = nm ? margin[0] : 0;
        return 0;
    }
    if (gpus > GPUMEM_MAX_SPLIT)
        return usage_error("--budget and --margin take at most 16 GPUs");
    for (uint32_t d = 0; d < gpus; d++) {
        if (!s->n_targets)
            s->targets[d].gpu = s->gpu;
        s->targets[d].budget = nb ? budget[nb == 1 ? 0 : d] : 0;
        s->targets[d].margin = nm ? margin[nm == 1 ? 0 : d] : 0;
    }
    s->n_targets = gpus;
    return 0;
}

/* --budget SIZE for transformers, vLLM, training and the rule of thumb: one
 * GPU type whose usable memory is SIZE instead of the catalog's (a custom card,
 * or the share of unified memory a Mac lets the GPU wire). `sized` holds the
 * copy the settings point to. */
static int apply_gpu_budget(const opt_values *v, gpumem_settings *s, gpumem_train_settings *t,
                            gpumem_gpu *sized)
{
    uint64_t size;
    int n, rc;
    if (!v->set[O_BUDGET])
        return 0;
    if ((rc = sizes_for(v, O_BUDGET, 1, &size, &n)))
        return rc;
    const gpumem_gpu *gpu = v->set[O_TRAIN] ? t->gpu : s->gpu;
    if (!gpu)
        return usage_error("--budget needs a --gpu");
    *sized = *gpu;
    sized->memory_bytes = size;
    s->gpu = sized;
    if (v->set[O_TRAIN])
        t->gpu = sized;
    return 0;
}

/* --device-map and --max-memory (transformers' from_pretrained). */
static int apply_device_map(const opt_values *v, gpumem_settings *s)
{
    gpumem_error err;
    cli_list l;
    int rc;
    if (v->set[O_DEVICE_MAP] &&
        gpumem_device_map_parse(v->value[O_DEVICE_MAP], &s->device_map, &err))
        return fail(GPUMEM_ERR_USAGE, &err);
    if (v->set[O_DEVICE_MAP] && s->device_map == GPUMEM_DEVICE_MAP_NONE)
        return usage_error("--device-map must be auto, balanced, balanced_low_0 or sequential");
    if (!v->set[O_MAX_MEMORY])
        return 0;
    if (!v->set[O_DEVICE_MAP])
        return usage_error("--max-memory applies to --device-map");
    if ((rc = split_list(v, O_MAX_MEMORY, &l)))
        return rc;
    if (l.n > GPUMEM_MAX_SPLIT)
        return usage_error("--max-memory takes at most 16 sizes");
    for (int i = 0; i < l.n; i++)
        if ((rc = parse_size("max-memory", l.text[i], &s->max_memory[i])))
            return rc;
    s->n_max_memory = (uint32_t)l.n;
    return 0;
}

static int apply_llamacpp(const opt_values *v, gpumem_settings *s)
{
    gpumem_error err;
    uint64_t n;
    int rc;
    if (v->set[O_UBATCH] && (rc = parse_count("ubatch-size", v->value[O_UBATCH], 1u << 20, &s->n_ubatch)))
        return rc;
    if (v->set[O_PARALLEL]) {
        if ((rc = parse_count("parallel", v->value[O_PARALLEL], 4096, &n)))
            return rc;
        s->n_parallel = (uint32_t)n;
    }
    s->kv_unified = v->set[O_KV_UNIFIED];
    for (int k = 0; k < v->set[O_OVERRIDE_TENSOR]; k++)
        if (gpumem_expert_override_parse(v->repeat[O_OVERRIDE_TENSOR][k], s, &err))
            return fail(err.code, &err);
    if (v->set[O_CPU_MOE])
        s->n_cpu_moe = -1;
    if (v->set[O_N_CPU_MOE]) {
        if ((rc = parse_count("n-cpu-moe", v->value[O_N_CPU_MOE], 100000, &n)))
            return rc;
        s->n_cpu_moe = (int)n;
    }
    s->swa_full = v->set[O_SWA_FULL];
    if (v->set[O_LLAMACPP_VERSION]) /* the library checks the name */
        s->llamacpp_version = v->value[O_LLAMACPP_VERSION];
    if (v->set[O_FLASH_ATTN]) {
        const char *f = v->value[O_FLASH_ATTN];
        if (!strcmp(f, "on") || !strcmp(f, "1"))
            s->flash_attn = 1;
        else if (!strcmp(f, "off") || !strcmp(f, "0"))
            s->flash_attn = 2;
        else if (strcmp(f, "auto"))
            return usage_error("--flash-attn must be on, off or auto");
    }
    if (v->set[O_CTK] && gpumem_cache_type_parse(v->value[O_CTK], &s->cache_type_k, &err))
        return fail(GPUMEM_ERR_USAGE, &err);
    if (v->set[O_CTV] && gpumem_cache_type_parse(v->value[O_CTV], &s->cache_type_v, &err))
        return fail(GPUMEM_ERR_USAGE, &err);
    if (v->set[O_TENSOR_SPLIT]) {
        uint32_t given = s->gpus;
        if (gpumem_tensor_split_parse(v->value[O_TENSOR_SPLIT], s, &err))
            return fail(GPUMEM_ERR_USAGE, &err);
        if (v->set[O_GPUS] && given != s->gpus) {
            char msg[128];
            snprintf(msg, sizeof msg, "--tensor-split has %u shares but --gpus is %u", s->gpus,
                     given);
            return usage_error(msg);
        }
    }
    if (v->set[O_SPLIT_MODE] &&
        gpumem_split_mode_parse(v->value[O_SPLIT_MODE], &s->split_mode, &err))
        return fail(GPUMEM_ERR_USAGE, &err);
    if (v->set[O_MAIN_GPU]) {
        const char *g = v->value[O_MAIN_GPU];
        if (!strcmp(g, "-1") || !strcmp(g, "0")) {
            s->main_gpu = atoi(g);
        } else {
            if ((rc = parse_count("main-gpu", g, 1000, &n)))
                return rc;
            s->main_gpu = (int)n;
        }
    }
    s->no_kv_offload = v->set[O_NO_KV_OFFLOAD];
    s->embedding = v->set[O_EMBEDDING] || v->set[O_RERANK];
    if (v->set[O_POOLING] && gpumem_pooling_parse(v->value[O_POOLING], &s->pooling, &err))
        return fail(GPUMEM_ERR_USAGE, &err);
    if (v->set[O_RERANK]) {
        if (v->set[O_POOLING] && s->pooling != GPUMEM_POOLING_RANK)
            return usage_error("--rerank sets --pooling rank; drop the other --pooling");
        s->pooling = GPUMEM_POOLING_RANK;
    }
    s->no_mmproj_offload = v->set[O_NO_MMPROJ_OFFLOAD];
    if (v->set[O_CTKD] && gpumem_cache_type_parse(v->value[O_CTKD], &s->cache_type_k_draft, &err))
        return fail(GPUMEM_ERR_USAGE, &err);
    if (v->set[O_CTVD] && gpumem_cache_type_parse(v->value[O_CTVD], &s->cache_type_v_draft, &err))
        return fail(GPUMEM_ERR_USAGE, &err);
    if (v->set[O_CTX_DRAFT] &&
        (rc = parse_count("ctx-size-draft", v->value[O_CTX_DRAFT], 1ull << 26, &s->ctx_size_draft)))
        return rc;
    if (v->set[O_NGLD]) {
        if (!v->set[O_MODEL_DRAFT])
            return usage_error("--gpu-layers-draft applies to a draft model: give -md FILE");
        if (!strcmp(v->value[O_NGLD], "0")) {
            s->n_gpu_layers_draft = 0;
        } else if (!strcmp(v->value[O_NGLD], "all") || !strcmp(v->value[O_NGLD], "-1")) {
            s->n_gpu_layers_draft = -1;
        } else {
            if ((rc = parse_count("gpu-layers-draft", v->value[O_NGLD], 100000, &n)))
                return rc;
            s->n_gpu_layers_draft = (int)n;
        }
    }
    if (v->set[O_NGL]) {
        if (!strcmp(v->value[O_NGL], "0")) {
            s->n_gpu_layers = 0;
        } else if (!strcmp(v->value[O_NGL], "all") || !strcmp(v->value[O_NGL], "-1")) {
            s->n_gpu_layers = -1;
        } else {
            if ((rc = parse_count("n-gpu-layers", v->value[O_NGL], 100000, &n)))
                return rc;
            s->n_gpu_layers = (int)n;
        }
    } else {
        s->n_gpu_layers = -1;
    }
    return 0;
}

static int apply_settings(const opt_values *v, gpumem_settings *s, gpumem_unit *unit)
{
    gpumem_error err;
    gpumem_status st = GPUMEM_OK;
    int rc;
    if (v->set[O_ENGINE] && (st = gpumem_engine_parse(v->value[O_ENGINE], &s->engine, &err)))
        return fail(GPUMEM_ERR_USAGE, &err);
    if (v->set[O_SIMPLE] || (v->set[O_PARAMS] && !v->set[O_ENGINE]))
        s->engine = GPUMEM_ENGINE_SIMPLE;
    if (v->set[O_DTYPE]) {
        if ((st = gpumem_dtype_parse(v->value[O_DTYPE], &s->dtype, &err)))
            return fail(GPUMEM_ERR_USAGE, &err);
        s->dtype_set = 1;
    }
    if (v->set[O_KV_DTYPE]) {
        if ((st = gpumem_dtype_parse(v->value[O_KV_DTYPE], &s->kv_dtype, &err)))
            return fail(GPUMEM_ERR_USAGE, &err);
        s->kv_dtype_set = 1;
    }
    if (v->set[O_ATTN] && (st = gpumem_attn_parse(v->value[O_ATTN], &s->attn, &err)))
        return fail(GPUMEM_ERR_USAGE, &err);
    if (v->set[O_CACHE] && (st = gpumem_cache_parse(v->value[O_CACHE], &s->cache, &err)))
        return fail(GPUMEM_ERR_USAGE, &err);
    if (v->set[O_NEW_TOKENS] &&
        (rc = parse_count("new-tokens", v->value[O_NEW_TOKENS], 1ull << 26, &s->new_tokens)))
        return rc;
    if (v->set[O_BATCH] && (rc = parse_count("batch", v->value[O_BATCH], 1u << 20, &s->batch)))
        return rc;
    uint64_t images = 0;
    if (v->set[O_IMAGES] && (rc = parse_count("images", v->value[O_IMAGES], 1u << 16, &images)))
        return rc;
    s->images = (uint32_t)images;
    if (v->set[O_CONTEXT] &&
        (rc = parse_count("context", v->value[O_CONTEXT], 1ull << 26, &s->context)))
        return rc;
    if (v->set[O_GPUS]) {
        uint64_t n;
        if ((rc = parse_count("gpus", v->value[O_GPUS], 64, &n)))
            return rc;
        s->gpus = (uint32_t)n;
    }
    if ((rc = apply_gpus(v, s)))
        return rc;
    if (v->set[O_UNIT] && (st = gpumem_unit_parse(v->value[O_UNIT], unit, &err)))
        return fail(GPUMEM_ERR_USAGE, &err);
    if ((rc = apply_llamacpp(v, s)) || (rc = apply_device_map(v, s)))
        return rc;
    return apply_vllm(v, s);
}

static int count_u32(const opt_values *v, opt_id id, const char *name, uint64_t max,
                     uint32_t *out)
{
    uint64_t n;
    int rc;
    if (!v->set[id])
        return 0;
    if (!strcmp(v->value[id], "0") && id == O_ZERO) {
        *out = 0;
        return 0;
    }
    if ((rc = parse_count(name, v->value[id], max, &n)))
        return rc;
    *out = (uint32_t)n;
    return 0;
}

static int apply_train(const opt_values *v, gpumem_train_settings *t)
{
    gpumem_error err;
    int rc;
    gpumem_train_settings_init(t);
    /* inference settings a training step does not take */
    static const opt_id inference_only[] = {O_ATTN, O_CACHE, O_NEW_TOKENS, O_IMAGES, O_QUANT};
    for (size_t i = 0; i < sizeof inference_only / sizeof inference_only[0]; i++)
        if (v->set[inference_only[i]]) {
            char msg[160];
            snprintf(msg, sizeof msg, "--%s applies to inference, not --train%s",
                     opt_spec_of(inference_only[i])->name,
                     inference_only[i] == O_ATTN ? " (training: --no-flash for eager)" : "");
            return usage_error(msg);
        }
    if (v->set[O_METHOD] && gpumem_train_method_parse(v->value[O_METHOD], &t->method, &err))
        return fail(GPUMEM_ERR_USAGE, &err);
    if (v->set[O_PRECISION] && gpumem_precision_parse(v->value[O_PRECISION], &t->precision, &err))
        return fail(GPUMEM_ERR_USAGE, &err);
    if (v->set[O_OPTIMIZER] && gpumem_optimizer_parse(v->value[O_OPTIMIZER], &t->optimizer, &err))
        return fail(GPUMEM_ERR_USAGE, &err);
    if (v->set[O_CHECKPOINTING] &&
        gpumem_checkpointing_parse(v->value[O_CHECKPOINTING], &t->checkpointing, &err))
        return fail(GPUMEM_ERR_USAGE, &err);
    if (v->set[O_FSDP]) {
        if (!strcmp(v->value[O_FSDP], "full"))
            t->fsdp = GPUMEM_FSDP_FULL;
        else if (!strcmp(v->value[O_FSDP], "hybrid"))
            t->fsdp = GPUMEM_FSDP_HYBRID;
        else
            return usage_error("--fsdp must be full or hybrid");
    }
    if (v->set[O_LORA_TARGETS])
        t->lora_targets = v->value[O_LORA_TARGETS];
    if (v->set[O_BATCH] && (rc = parse_count("batch", v->value[O_BATCH], 1u << 20, &t->micro_batch)))
        return rc;
    const char *seq = v->set[O_SEQ] ? v->value[O_SEQ] : v->set[O_CONTEXT] ? v->value[O_CONTEXT] : NULL;
    if (seq && (rc = parse_count("seq", seq, 1ull << 26, &t->seq_len)))
        return rc;
    if ((rc = count_u32(v, O_LORA_RANK, "lora-rank", 65536, &t->lora_rank)) ||
        (rc = count_u32(v, O_ZERO, "zero", 3, &t->zero)) ||
        (rc = count_u32(v, O_TP, "tp", 64, &t->tp)) || (rc = count_u32(v, O_PP, "pp", 64, &t->pp)) ||
        (rc = count_u32(v, O_EP, "ep", 64, &t->ep)) || (rc = count_u32(v, O_CP, "cp", 64, &t->cp)) ||
        (rc = count_u32(v, O_DP, "dp", 64, &t->dp)) ||
        (rc = count_u32(v, O_GPUS, "gpus", 64, &t->gpus)) ||
        (rc = count_u32(v, O_MICRO_BATCHES, "micro-batches", 1u << 16, &t->micro_batches)))
        return rc;
    t->freeze_embeddings = v->set[O_FREEZE_EMB];
    t->sequence_parallel = v->set[O_SEQ_PARALLEL];
    t->keep_grads = v->set[O_KEEP_GRADS];
    if (v->set[O_HEAD]) {
        gpumem_error herr;
        if (gpumem_encoder_head_parse(v->value[O_HEAD], &t->encoder_head, &herr) != GPUMEM_OK)
            return usage_error(herr.message);
    }
    if (v->set[O_NO_FLASH])
        t->flash_attention = 0;
    if (v->set[O_GPU] && (rc = find_gpu(v->value[O_GPU], &t->gpu)))
        return rc;
    return 0;
}

/* Training-only options given without --train are a mistake worth naming. */
static int check_train_only(const opt_values *v)
{
    static const opt_id train_only[] = {O_METHOD, O_LORA_RANK, O_LORA_TARGETS, O_PRECISION,
                                        O_OPTIMIZER, O_CHECKPOINTING, O_SEQ, O_ZERO, O_FSDP, O_EP,
                                        O_CP, O_DP, O_MICRO_BATCHES, O_FREEZE_EMB, O_NO_FLASH,
                                        O_SEQ_PARALLEL, O_KEEP_GRADS, O_HEAD};
    for (size_t i = 0; i < sizeof train_only / sizeof train_only[0]; i++)
        if (v->set[train_only[i]]) {
            char msg[128];
            snprintf(msg, sizeof msg, "--%s applies to training: add --train",
                     opt_spec_of(train_only[i])->name);
            return usage_error(msg);
        }
    return 0;
}

/* --svg FILE: the chart beside the normal output. */
static int write_svg(const opt_values *v, const gpumem_model *m, const gpumem_estimate *e,
                     gpumem_unit unit)
{
    if (!v->set[O_SVG])
        return 0;
    char *svg = gpumem_report_svg(m, e, unit);
    FILE *f = svg ? fopen(v->value[O_SVG], "w") : NULL;
    int ok = f && fputs(svg, f) >= 0;
    if (f)
        ok = fclose(f) == 0 && ok;
    free(svg);
    if (!ok) {
        fprintf(stderr, "gpumem: error: %s: cannot write the SVG chart\n", v->value[O_SVG]);
        return EXIT_INPUT;
    }
    return 0;
}

/* The extra GGUF files of --mmproj, -md and --lora: only their headers
 * are read; they live as long as the command. */
typedef struct {
    gpumem_model *m[3];
} extra_files;

static void extras_free(extra_files *x)
{
    for (int i = 0; i < 3; i++)
        gpumem_model_free(x->m[i]);
}

static int load_extras(const opt_values *v, gpumem_settings *s, extra_files *x)
{
    static const opt_id ids[3] = {O_MMPROJ, O_MODEL_DRAFT, O_LORA};
    gpumem_error err;
    for (int i = 0; i < 3; i++) {
        gpumem_status st;
        if (v->set[ids[i]] && (st = gpumem_model_load_gguf(v->value[ids[i]], &x->m[i], &err)))
            return fail(st, &err);
    }
    s->mmproj = x->m[0];
    s->draft = x->m[1];
    s->lora = x->m[2];
    return 0;
}

static int estimate_with(const opt_values *v, extra_files *x);

static int cmd_estimate(const opt_values *v)
{
    extra_files x = {{NULL, NULL, NULL}};
    int rc = estimate_with(v, &x);
    extras_free(&x);
    return rc;
}

static int estimate_with(const opt_values *v, extra_files *x)
{
    gpumem_settings s;
    gpumem_unit unit = GPUMEM_UNIT_GIB;
    gpumem_error err;
    gpumem_model *m = NULL;
    gpumem_status st;
    gpumem_train_settings t;
    gpumem_settings_init(&s);
    int rc = v->set[O_TRAIN] ? apply_train(v, &t) : check_train_only(v);
    if (rc)
        return rc;
    rc = apply_settings(v, &s, &unit);
    if (!rc)
        rc = load_extras(v, &s, x);
    if (rc)
        return rc;
    if (v->set[O_PARAMS]) {
        double p;
        if (v->n_positional)
            return usage_error("give either a MODEL or --params, not both");
        if ((st = gpumem_params_parse(v->value[O_PARAMS], &p, &err)) ||
            (st = gpumem_model_from_params(p, &m, &err)))
            return fail(st, &err);
    } else {
        if (v->n_positional != 1)
            return usage_error(v->n_positional ? "give one MODEL"
                                               : "missing MODEL (a catalog name, config.json or "
                                                 "directory), or --params COUNT");
        if ((st = gpumem_model_load(v->positional[0], &m, &err)))
            return fail(st, &err);
        /* A GGUF file runs on llama.cpp unless another engine is asked for. */
        gpumem_model_info info;
        gpumem_model_get_info(m, &info);
        if (info.source == GPUMEM_SOURCE_GGUF && !v->set[O_ENGINE] && !v->set[O_SIMPLE] &&
            !v->set[O_TRAIN])
            s.engine = GPUMEM_ENGINE_LLAMACPP;
    }
    /* Layer placement is llama.cpp's; elsewhere it would be silently ignored. */
    static const opt_id llamacpp_only[] = {
        O_NGL,          O_TENSOR_SPLIT,  O_CPU_MOE,     O_N_CPU_MOE, O_OVERRIDE_TENSOR,
        O_MARGIN,       O_LLAMACPP_VERSION, O_SPLIT_MODE, O_MAIN_GPU, O_NO_KV_OFFLOAD,
        O_MMPROJ,       O_NO_MMPROJ_OFFLOAD, O_MODEL_DRAFT, O_NGLD,   O_CTKD,
        O_CTVD,         O_CTX_DRAFT,     O_LORA,        O_EMBEDDING, O_POOLING,
        O_RERANK,       O_UBATCH,        O_PARALLEL,    O_KV_UNIFIED, O_FLASH_ATTN,
        O_CTK,          O_CTV,           O_SWA_FULL};
    /* vLLM's own options, and the transformers-only new tokens: given to
     * another engine they would be ignored, so they are refused. */
    static const opt_id vllm_only[] = {O_GPU_UTIL,        O_MAX_MODEL_LEN, O_MAX_NUM_SEQS,
                                       O_MAX_BATCHED,     O_BLOCK_SIZE,    O_ENFORCE_EAGER,
                                       O_KV_CACHE_MEMORY, O_VLLM_VERSION,  O_DISABLE_HMA,
                                       O_ENABLE_HMA,      O_LIMIT_MM,      O_MM_KWARGS};
    gpumem_gpu sized; /* --budget on the other engines: --gpu with that much memory */
    if ((v->set[O_DEVICE_MAP] || v->set[O_MAX_MEMORY]) &&
        (s.engine != GPUMEM_ENGINE_TRANSFORMERS || v->set[O_TRAIN])) {
        gpumem_model_free(m);
        return usage_error("--device-map applies to transformers inference (the default "
                           "engine), not to --engine llamacpp/vllm/simple or --train");
    }
    /* A device map plans each GPU like llama.cpp's list: --budget per GPU. */
    rc = s.engine == GPUMEM_ENGINE_LLAMACPP || s.device_map ? apply_budgets(v, &s, NULL)
                                                            : apply_gpu_budget(v, &s, &t, &sized);
    if (rc) {
        gpumem_model_free(m);
        return rc;
    }
    for (size_t i = 0; i < sizeof llamacpp_only / sizeof llamacpp_only[0]; i++)
        if (v->set[llamacpp_only[i]] && s.engine != GPUMEM_ENGINE_LLAMACPP) {
            gpumem_model_free(m);
            char msg[160];
            snprintf(msg, sizeof msg,
                     "--%s applies to llama.cpp: give a GGUF file or --engine llamacpp",
                     opt_spec_of(llamacpp_only[i])->name);
            return usage_error(msg);
        }
    for (size_t i = 0; i < sizeof vllm_only / sizeof vllm_only[0]; i++)
        if (v->set[vllm_only[i]] && s.engine != GPUMEM_ENGINE_VLLM) {
            gpumem_model_free(m);
            char msg[160];
            snprintf(msg, sizeof msg, "--%s applies to vLLM: add --engine vllm",
                     opt_spec_of(vllm_only[i])->name);
            return usage_error(msg);
        }
    if (v->set[O_NEW_TOKENS] && s.engine != GPUMEM_ENGINE_TRANSFORMERS) {
        gpumem_model_free(m);
        return usage_error("--new-tokens applies to transformers' generate (the default engine)");
    }
    if (v->set[O_TARGET_CONCURRENCY]) {
        char *end;
        double want = strtod(v->value[O_TARGET_CONCURRENCY], &end);
        double u = 0;
        if (end == v->value[O_TARGET_CONCURRENCY] || *end) {
            gpumem_model_free(m);
            return usage_error("--target-concurrency wants a number of requests, e.g. 8");
        }
        if (v->set[O_TRAIN] || v->set[O_MAX_CONTEXT] || v->set[O_MAX_BATCH] ||
            v->set[O_GPU_UTIL]) {
            gpumem_model_free(m);
            return usage_error("--target-concurrency finds --gpu-memory-utilization: give it "
                               "without --gpu-memory-utilization, --max-context, --max-batch or "
                               "--train");
        }
        if ((st = gpumem_vllm_utilization_for(m, &s, want, &u, &err)) != GPUMEM_OK) {
            gpumem_model_free(m);
            return fail(st, &err);
        }
        if (u == 0) {
            gpumem_model_free(m);
            fprintf(stderr, "gpumem: %g concurrent requests do not fit %s even at "
                            "--gpu-memory-utilization 1.00\n", want, s.gpu->id);
            return EXIT_INPUT;
        }
        s.gpu_memory_utilization = u;
        if (!v->set[O_JSON])
            printf("--gpu-memory-utilization %.2f for %g concurrent requests on %s\n", u, want,
                   s.gpu->id);
    }
    if ((v->set[O_MAX_CONTEXT] || v->set[O_MAX_BATCH]) && !v->set[O_TRAIN]) {
        /* Search first, then estimate at the limit found. */
        uint64_t best = 0;
        st = v->set[O_MAX_CONTEXT] ? gpumem_max_context(m, &s, &best, &err)
                                   : gpumem_max_batch(m, &s, &best, &err);
        if (st != GPUMEM_OK) {
            gpumem_model_free(m);
            return fail(st, &err);
        }
        if (!best) {
            gpumem_model_free(m);
            fprintf(stderr, "gpumem: nothing fits %s with these settings, not even %s 1\n",
                    s.gpu->id, v->set[O_MAX_CONTEXT] ? "context" : "batch");
            return EXIT_INPUT;
        }
        if (v->set[O_MAX_CONTEXT]) {
            s.context = best;
            if (s.engine == GPUMEM_ENGINE_VLLM)
                s.max_model_len = best;
        } else {
            s.batch = best;
        }
        gpumem_model_info info;
        gpumem_model_get_info(m, &info);
        if (!v->set[O_JSON])
            printf("largest %s that fits %s: %llu%s\n",
                   v->set[O_MAX_CONTEXT] ? "context" : "batch", s.gpu->id,
                   (unsigned long long)best,
                   v->set[O_MAX_CONTEXT] && best == info.max_context
                       ? " (the model's trained context; more may fit)"
                       : "");
    }
    gpumem_estimate *e = malloc(sizeof *e);
    if (!e) {
        gpumem_model_free(m);
        return usage_error("out of memory");
    }
    st = v->set[O_TRAIN] ? gpumem_estimate_training(m, &t, e, &err)
                         : gpumem_estimate_inference(m, &s, e, &err);
    if (st == GPUMEM_OK && (rc = write_svg(v, m, e, unit)) != 0) {
        free(e);
        gpumem_model_free(m);
        return rc;
    }
    if (st == GPUMEM_OK) {
        char *out = v->set[O_JSON] ? gpumem_report_json(m, e)
                                   : gpumem_report_text(m, e, unit, v->set[O_BREAKDOWN]);
        if (out) {
            fputs(out, stdout);
            if (v->set[O_JSON])
                fputc('\n', stdout);
            free(out);
        } else {
            st = GPUMEM_ERR_NOMEM;
            err.message[0] = '\0';
            err.file[0] = '\0';
        }
    }
    free(e);
    gpumem_model_free(m);
    return st == GPUMEM_OK ? 0 : fail(st, &err);
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", *s);
        else
            putchar(*s);
    }
    putchar('"');
}

static int cmd_models(const opt_values *v)
{
    size_t n = gpumem_catalog_model_count();
    int json = v->set[O_JSON];
    if (json)
        printf("[\n");
    else
        printf("%-22s %-14s %9s %9s  %s\n", "id", "architecture", "params", "active",
               "hugging face id");
    for (size_t i = 0; i < n; i++) {
        const gpumem_catalog_model *c = gpumem_catalog_model_at(i);
        gpumem_model *m;
        gpumem_error err;
        gpumem_status st = gpumem_model_load_catalog(c->id, &m, &err);
        if (st != GPUMEM_OK)
            return fail(st, &err);
        gpumem_model_info info;
        gpumem_model_get_info(m, &info);
        if (json) {
            printf("  {\"id\": ");
            json_str(c->id);
            printf(", \"hf_id\": ");
            json_str(c->hf_id);
            printf(", \"architecture\": ");
            json_str(info.architecture);
            printf(", \"params\": %llu, \"active_params\": %llu, \"aliases\": ",
                   (unsigned long long)info.params, (unsigned long long)info.active_params);
            json_str(c->aliases);
            printf("}%s\n", i + 1 < n ? "," : "");
        } else {
            printf("%-22s %-14s %8.2fB %8.2fB  %s\n", c->id, info.architecture,
                   info.params / 1e9, info.active_params / 1e9, c->hf_id);
        }
        gpumem_model_free(m);
    }
    if (json)
        printf("]\n");
    return 0;
}

static int cmd_local_gpus(const opt_values *v)
{
    gpumem_local_gpu g[16];
    size_t n = 0;
    gpumem_error err;
    if (gpumem_local_gpus(g, 16, &n, &err) != GPUMEM_OK)
        return fail(GPUMEM_ERR_IO, &err);
    if (v->set[O_JSON]) {
        printf("[\n");
        for (size_t i = 0; i < n; i++) {
            printf("  {\"index\": %u, \"name\": ", g[i].index);
            json_str(g[i].name);
            printf(", \"total_bytes\": %llu, \"free_bytes\": %llu}%s\n",
                   (unsigned long long)g[i].total_bytes, (unsigned long long)g[i].free_bytes,
                   i + 1 < n ? "," : "");
        }
        printf("]\n");
        return 0;
    }
    printf("%-6s %-32s %12s %12s\n", "index", "name", "total GiB", "free GiB");
    for (size_t i = 0; i < n; i++)
        printf("%-6u %-32s %12.2f %12.2f\n", g[i].index, g[i].name,
               g[i].total_bytes / 1073741824.0, g[i].free_bytes / 1073741824.0);
    return 0;
}

static int cmd_gpus(const opt_values *v)
{
    if (v->set[O_LOCAL])
        return cmd_local_gpus(v);
    gpumem_unit unit = GPUMEM_UNIT_GIB;
    gpumem_error err;
    if (v->set[O_UNIT] && gpumem_unit_parse(v->value[O_UNIT], &unit, &err))
        return fail(GPUMEM_ERR_USAGE, &err);
    double u = unit == GPUMEM_UNIT_GB ? 1e9 : 1073741824.0;
    size_t n = gpumem_gpu_count();
    if (v->set[O_JSON])
        printf("[\n");
    else
        printf("%-20s %-7s %10s  %s\n", "id", "vendor", unit == GPUMEM_UNIT_GB ? "GB" : "GiB",
               "name");
    for (size_t i = 0; i < n; i++) {
        const gpumem_gpu *g = gpumem_gpu_at(i);
        if (v->set[O_JSON]) {
            printf("  {\"id\": ");
            json_str(g->id);
            printf(", \"name\": ");
            json_str(g->name);
            printf(", \"vendor\": ");
            json_str(g->vendor);
            printf(", \"memory_bytes\": %llu, \"unified\": %s, \"compute_capability\": ",
                   (unsigned long long)g->memory_bytes, g->unified ? "true" : "false");
            if (g->compute_capability)
                printf("\"%u.%u\"", g->compute_capability / 10, g->compute_capability % 10);
            else
                printf("null");
            printf(", \"aliases\": ");
            json_str(g->aliases);
            printf("}%s\n", i + 1 < n ? "," : "");
        } else {
            printf("%-20s %-7s %10.2f  %s%s\n", g->id, g->vendor, g->memory_bytes / u, g->name,
                   g->unified ? " (unified memory)" : "");
        }
    }
    if (v->set[O_JSON])
        printf("]\n");
    return 0;
}

static int cmd_inspect(const opt_values *v)
{
    if (v->n_positional != 1)
        return usage_error("give one FILE (.gguf or .safetensors)");
    char *out;
    gpumem_error err;
    gpumem_status st = gpumem_inspect(v->positional[0], v->set[O_JSON], &out, &err);
    if (st != GPUMEM_OK)
        return fail(st, &err);
    fputs(out, stdout);
    if (v->set[O_JSON])
        fputc('\n', stdout);
    free(out);
    return 0;
}

static int cmd_fit(const opt_values *v)
{
    gpumem_settings s;
    gpumem_unit unit = GPUMEM_UNIT_GIB;
    gpumem_error err;
    gpumem_model *m = NULL;
    gpumem_fit_request req;
    memset(&req, 0, sizeof req);
    gpumem_settings_init(&s);
    int rc = apply_settings(v, &s, &unit);
    if (rc)
        return rc;
    if (v->n_positional != 1)
        return usage_error("give one MODEL.gguf");
    if (!s.gpu)
        return usage_error("fit needs a --gpu");
    req.context_set = v->set[O_CONTEXT];
    if ((rc = apply_budgets(v, &s, &req)))
        return rc;
    if (v->set[O_FIT_CTX] && (rc = parse_count("fit-ctx", v->value[O_FIT_CTX], 1ull << 26,
                                               &req.min_context)))
        return rc;
    gpumem_status st = gpumem_model_load(v->positional[0], &m, &err);
    if (st != GPUMEM_OK)
        return fail(st, &err);
    gpumem_fit_plan *p = malloc(sizeof *p);
    if (!p) {
        gpumem_model_free(m);
        return usage_error("out of memory");
    }
    st = gpumem_fit(m, &s, &req, p, &err);
    if (st == GPUMEM_OK && (rc = write_svg(v, m, &p->estimate, unit)) != 0) {
        free(p);
        gpumem_model_free(m);
        return rc;
    }
    if (st == GPUMEM_OK) {
        if (v->set[O_JSON]) {
            char *out = gpumem_report_fit_json(m, p);
            if (out) {
                puts(out);
            } else {
                st = GPUMEM_ERR_NOMEM;
                err.message[0] = '\0';
                err.file[0] = '\0';
            }
            free(out);
        } else {
            char names[GPUMEM_MAX_SPLIT * 40] = "";
            size_t n = 0;
            for (uint32_t d = 0; d < (p->n_devices ? p->n_devices : 1) && n < sizeof names; d++)
                n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", d ? " + " : "",
                                      p->n_devices ? p->estimate.targets[d].gpu->id : s.gpu->id);
            printf("%s %s: %s\n", p->fits ? "fits" : "does NOT fit", names,
                   p->fits ? "use these llama.cpp flags" : "even the smallest plan is too big");
            printf("  flags: %s\n", p->flags);
            double u = unit == GPUMEM_UNIT_GB ? 1e9 : 1073741824.0;
            const char *un = unit == GPUMEM_UNIT_GB ? "GB" : "GiB";
            for (uint32_t d = 0; d < p->n_devices; d++) {
                const gpumem_device_target *t = &p->estimate.targets[d];
                char experts[48] = "";
                if (p->dense_only[d])
                    snprintf(experts, sizeof experts, ", %d of them without experts",
                             p->dense_only[d]);
                printf("  %s %-18s %3d layers%s: %.2f of %.2f %s, margin %.2f\n",
                       p->estimate.devices[d].name, t->gpu->id, p->layers[d], experts,
                       p->estimate.devices[d].bytes / u, t->budget / u, un, t->margin / u);
            }
            static const char *const part[GPUMEM_FFN_PART_COUNT] = {
                [GPUMEM_FFN_DOWN] = "down projections",
                [GPUMEM_FFN_GATE_DOWN] = "gates, router and down projections",
                [GPUMEM_FFN_ALL] = "whole FFN"};
            for (uint32_t k = 0; k < p->n_ffn_moves && k < GPUMEM_MAX_FFN_MOVES; k++) {
                const gpumem_ffn_move *mv = &p->ffn_moves[k];
                if (mv->device < 0)
                    printf("  layer %u split by tensor: its %s on the host\n", mv->layer,
                           part[mv->part]);
                else
                    printf("  layer %u split by tensor: its %s on gpu%d\n", mv->layer,
                           part[mv->part], mv->device);
            }
            if (p->note[0])
                printf("  note: %s\n", p->note);
            printf("  largest context with every layer on the GPU: %llu\n",
                   (unsigned long long)p->max_context);
            if (p->max_parallel)
                printf("  largest -np with %llu cells each, every layer on the GPU: %u "
                       "(-c %llu -np %u)\n",
                       (unsigned long long)p->parallel_context, p->max_parallel,
                       (unsigned long long)p->parallel_context * p->max_parallel,
                       p->max_parallel);
            if (p->advice[0])
                printf("  %s\n", p->advice);
            char *text = gpumem_report_text(m, &p->estimate, unit, 1);
            if (text)
                fputs(text, stdout);
            free(text);
        }
    }
    free(p);
    gpumem_model_free(m);
    return st == GPUMEM_OK ? 0 : fail(st, &err);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        main_help(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--version") || !strcmp(name, "-V")) {
        printf("gpumem %s\n", gpumem_version());
        return 0;
    }
    if (!strcmp(name, "--man")) {
        docgen_man(stdout, gpumem_version(), commands, sizeof commands / sizeof commands[0]);
        return 0;
    }
    if (!strcmp(name, "--completions")) {
        if (argc < 3 || docgen_completions(stdout, argv[2], commands,
                                           sizeof commands / sizeof commands[0]) != 0)
            return usage_error("--completions bash|zsh");
        return 0;
    }
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        main_help(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(name, commands[i].name) != 0)
            continue;
        opt_values v;
        char msg[256];
        if (opts_parse(argc, argv, 2, commands[i].cmd, &v, msg, sizeof msg) != 0)
            return usage_error(msg);
        if (v.set[O_HELP]) {
            printf("usage: %s\n\n%s.\n\noptions:\n", commands[i].usage, commands[i].summary);
            opts_help(stdout, commands[i].cmd);
            return 0;
        }
        if ((commands[i].cmd == CMD_MODELS || commands[i].cmd == CMD_GPUS) && v.n_positional)
            return usage_error("this command takes no arguments");
        switch (commands[i].cmd) {
        case CMD_ESTIMATE:
            return cmd_estimate(&v);
        case CMD_MODELS:
            return cmd_models(&v);
        case CMD_INSPECT:
            return cmd_inspect(&v);
        case CMD_FIT:
            return cmd_fit(&v);
        case CMD_VALIDATE:
            if (!v.n_positional)
                return usage_error("give one or more measurement files (.jsonl)");
            return validate_run(v.n_positional, v.positional, v.set[O_CHECK], v.set[O_BREAKDOWN]);
        default:
            return cmd_gpus(&v);
        }
    }
    char msg[256];
    snprintf(msg, sizeof msg, "unknown command '%s' (try 'gpumem --help')", name);
    return usage_error(msg);
}
