/* Settings, checks, engine dispatch, multi-GPU layout and the fit verdict:
 * everything about an estimate that is not one engine's rule. */
#include "estimate_internal.h"

#include "dtype_internal.h"
#include "engine_vllm_internal.h"
#include "error_internal.h"
#include "util_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { MAX_BATCH = 1 << 20, MAX_GPUS = GPUMEM_MAX_DEVICES - 1 };
static const uint64_t max_context = 1ull << 26; /* 64 Mi tokens */
static const uint64_t default_context = 4096;

static const engine_profile engines[GPUMEM_ENGINE_COUNT] = {
    [GPUMEM_ENGINE_TRANSFORMERS] = {"transformers", "transformers 5.24 / torch 2.15",
                                    engine_transformers},
    [GPUMEM_ENGINE_SIMPLE] = {"simple", "rule of thumb: P x Q x 1.2", engine_simple},
    /* vLLM needs the settings and fills its own info block: called below. */
    [GPUMEM_ENGINE_VLLM] = {"vllm", "vLLM 0.33.0 (also 0.11.0)", NULL},
    [GPUMEM_ENGINE_LLAMACPP] = {"llamacpp", "llama.cpp de3ff81 (node-llama-cpp 3.22.1)", NULL},
};

const engine_profile *engine_get(gpumem_engine e)
{
    return ((int)e >= 0 && e < GPUMEM_ENGINE_COUNT) ? &engines[e] : NULL;
}

const char *gpumem_engine_name(gpumem_engine e)
{
    const engine_profile *p = engine_get(e);
    return p ? p->name : "unknown";
}

gpumem_status gpumem_engine_parse(const char *name, gpumem_engine *out, gpumem_error *err)
{
    for (int i = 0; i < GPUMEM_ENGINE_COUNT; i++)
        if (str_ieq(name, engines[i].name)) {
            *out = (gpumem_engine)i;
            return GPUMEM_OK;
        }
    return err_set(err, GPUMEM_ERR_NOT_FOUND,
                   "unknown engine '%s' (expected transformers, llamacpp, vllm or simple)", name);
}

static const char *const attn_names[GPUMEM_ATTN_COUNT] = {"sdpa", "eager", "flash"};
static const char *const cache_names[GPUMEM_CACHE_COUNT] = {"dynamic", "static"};
static const char *const device_map_names[GPUMEM_DEVICE_MAP_COUNT] = {
    "none", "auto", "balanced", "balanced_low_0", "sequential"};

NAMED_ENUM(gpumem_cache, cache, cache_names, GPUMEM_CACHE_COUNT, "cache")
NAMED_ENUM(gpumem_attn, attn, attn_names, GPUMEM_ATTN_COUNT, "attention")
NAMED_ENUM(gpumem_device_map, device_map, device_map_names, GPUMEM_DEVICE_MAP_COUNT, "device_map")

void gpumem_settings_init(gpumem_settings *s)
{
    memset(s, 0, sizeof *s);
    s->engine = GPUMEM_ENGINE_TRANSFORMERS;
    s->batch = 1;
    s->new_tokens = 1;
    s->attn = GPUMEM_ATTN_SDPA;
    s->gpus = 1;
    s->n_gpu_layers_draft = -1;
    s->limit_mm_image = s->limit_mm_video = -1;
}

gpumem_status device_add(gpumem_device *d, const char *name, uint64_t bytes, gpumem_error *err,
                         const char *note_fmt, ...)
{
    if (d->n_components == GPUMEM_MAX_COMPONENTS)
        return err_set(err, GPUMEM_ERR_OVERFLOW, "too many components");
    if (!u64_add(d->bytes, bytes, &d->bytes))
        return err_set(err, GPUMEM_ERR_OVERFLOW,
                       "the estimate does not fit in 64 bits (component %s)", name);
    gpumem_component *c = &d->components[d->n_components++];
    snprintf(c->name, sizeof c->name, "%s", name);
    c->bytes = bytes;
    va_list ap;
    va_start(ap, note_fmt);
    vsnprintf(c->note, sizeof c->note, note_fmt, ap);
    va_end(ap);
    return GPUMEM_OK;
}

static gpumem_status resolve(const gpumem_model *m, const gpumem_settings *s, engine_req *r,
                             gpumem_error *err)
{
    memset(r, 0, sizeof *r);
    if (!engine_get(s->engine))
        return err_set(err, GPUMEM_ERR_USAGE, "unknown engine %d", (int)s->engine);
    if (m->kind != GPUMEM_KIND_MODEL)
        return err_set(err, GPUMEM_ERR_USAGE,
                       "%s is a %s, not a model: give it beside a model GGUF with %s", m->name,
                       m->kind == GPUMEM_KIND_LORA ? "LoRA adapter" : "multimodal projector",
                       m->kind == GPUMEM_KIND_LORA ? "--lora" : "--mmproj");
    if (s->engine != GPUMEM_ENGINE_LLAMACPP &&
        (s->mmproj || s->draft || s->lora || s->split_mode || s->no_kv_offload))
        return err_set(err, GPUMEM_ERR_USAGE,
                       "--mmproj, --model-draft, --lora, --split-mode and --no-kv-offload are "
                       "llama.cpp options: give a GGUF file (engine llamacpp)");
    if (s->batch == 0 || s->batch > MAX_BATCH)
        return err_set(err, GPUMEM_ERR_USAGE, "batch must be between 1 and %d", MAX_BATCH);
    if (s->context > max_context)
        return err_set(err, GPUMEM_ERR_USAGE, "context %llu is beyond %llu tokens",
                       (unsigned long long)s->context, (unsigned long long)max_context);
    if (s->gpus == 0 || s->gpus > MAX_GPUS)
        return err_set(err, GPUMEM_ERR_USAGE, "gpus must be between 1 and %d", MAX_GPUS);
    r->dtype = s->dtype_set ? s->dtype : m->dtype;
    r->dtype_given = s->dtype_set;
    r->compute = dtype_get(r->dtype)->compute;
    /* Weight-only quantisation (bitsandbytes) leaves the rest of the model,
     * and the compute, in the checkpoint's dtype: transformers 5 loads with
     * dtype="auto". fp8 checkpoints compute in bf16. */
    if (dtype_get(r->dtype)->quantized && !dtype_get(m->dtype)->quantized &&
        m->dtype != GPUMEM_DTYPE_FP8)
        r->compute = m->dtype;
    r->kv_dtype = s->kv_dtype_set ? s->kv_dtype : r->compute;
    if (dtype_get(r->kv_dtype)->quantized)
        return err_set(err, GPUMEM_ERR_USAGE,
                       "KV cache dtype %s is not supported by transformers' cache (use fp16, "
                       "bf16, fp32 or fp8)",
                       dtype_get(r->kv_dtype)->name);
    r->batch = s->batch;
    r->attn = s->attn;
    /* transformers' default attention is SDPA where the model class has
     * it, else eager (modeling_utils.py _check_and_adjust_attn_impl, 5.24;
     * asking for SDPA there is an error): size what it runs. */
    if (r->attn == GPUMEM_ATTN_SDPA && m->no_sdpa && s->engine == GPUMEM_ENGINE_TRANSFORMERS)
        r->attn = GPUMEM_ATTN_EAGER;
    r->cache = s->cache;
    r->new_tokens = s->new_tokens;
    r->images = s->images;
    r->double_quant = s->bnb_double_quant;
    if (s->engine == GPUMEM_ENGINE_LLAMACPP && (s->dtype_set || s->kv_dtype_set))
        return err_set(err, GPUMEM_ERR_USAGE,
                       "llama.cpp runs the GGUF's own tensor types: --dtype, --quant and "
                       "--kv-dtype do not apply (the KV cache type is -ctk/-ctv; a smaller "
                       "quant is another file, see gpumem fit's advice)");
    if (s->bnb_double_quant && s->engine != GPUMEM_ENGINE_TRANSFORMERS)
        return err_set(err, GPUMEM_ERR_USAGE,
                       "bitsandbytes double quantisation (--quant bnb-nf4-dq) is a transformers "
                       "setting (vLLM: --quantization bitsandbytes)");
    if (s->bnb_double_quant && r->dtype != GPUMEM_DTYPE_INT4)
        return err_set(err, GPUMEM_ERR_USAGE,
                       "double quantisation applies to bitsandbytes NF4 (dtype int4), not %s",
                       dtype_get(r->dtype)->name);
    if (s->images && s->engine != GPUMEM_ENGINE_TRANSFORMERS)
        return err_set(err, GPUMEM_ERR_USAGE, "images apply to the transformers engine");
    if ((s->attn != GPUMEM_ATTN_SDPA || s->cache != GPUMEM_CACHE_DYNAMIC) &&
        s->engine != GPUMEM_ENGINE_TRANSFORMERS)
        return err_set(err, GPUMEM_ERR_USAGE,
                       "--attn and --cache are transformers settings; the %s engine does not "
                       "take them",
                       gpumem_engine_name(s->engine));
    if (s->images && s->device_map != GPUMEM_DEVICE_MAP_NONE)
        return err_set(err, GPUMEM_ERR_UNSUPPORTED,
                       "images with a device_map are not modelled (where the vision tower runs)");
    if (s->new_tokens > max_context)
        return err_set(err, GPUMEM_ERR_USAGE, "new tokens %llu is beyond %llu",
                       (unsigned long long)s->new_tokens, (unsigned long long)max_context);
    r->tp = s->gpus;
    r->context = s->context;
    if (r->context == 0) {
        r->context = default_context;
        if (m->max_ctx && m->max_ctx < r->context)
            r->context = m->max_ctx;
    }
    if (m->learned_positions && m->max_ctx && r->context + r->new_tokens - (r->new_tokens > 0) > m->max_ctx)
        return err_set(err, GPUMEM_ERR_USAGE,
                       "context %llu exceeds %s's %u learned position embeddings",
                       (unsigned long long)r->context, m->name, m->max_ctx);
    if (s->device_map != GPUMEM_DEVICE_MAP_NONE)
        r->tp = 1; /* whole layers per GPU, not tensor parallel */
    if (m->layers && r->tp > 1 && s->engine != GPUMEM_ENGINE_LLAMACPP) { /* llama.cpp splits layers */
        const model_layer *l = &m->layers[0];
        if (l->n_head && l->n_head % r->tp != 0)
            return err_set(err, GPUMEM_ERR_USAGE,
                           "tensor parallel over %u GPUs needs the %u attention heads to divide "
                           "evenly",
                           r->tp, l->n_head);
    }
    return GPUMEM_OK;
}

uint64_t target_budget(const gpumem_device_target *t)
{
    return t->budget ? t->budget : t->gpu->memory_bytes;
}

/* Listed GPUs (settings->targets) into the plain settings the engines read:
 * gpus and gpu from the list and, without -ts, llama.cpp's default split,
 * in proportion to each device's free memory (llama-model.cpp,
 * llama_model_load: split by ggml_backend_dev_memory's free; de3ff81),
 * here the budgets. */
static gpumem_status apply_targets(const gpumem_settings *s, gpumem_settings *out,
                                   gpumem_error *err)
{
    *out = *s;
    if (s->n_targets > GPUMEM_MAX_SPLIT)
        return err_set(err, GPUMEM_ERR_USAGE, "llama.cpp takes at most %d devices (got %u)",
                       GPUMEM_MAX_SPLIT, s->n_targets);
    for (uint32_t d = 0; d < s->n_targets; d++)
        if (!s->targets[d].gpu)
            return err_set(err, GPUMEM_ERR_USAGE, "GPU %u of the list is missing", d);
    if (s->n_targets > 1 && s->engine != GPUMEM_ENGINE_LLAMACPP &&
        s->device_map == GPUMEM_DEVICE_MAP_NONE)
        return err_set(err, GPUMEM_ERR_USAGE,
                       "a list of GPUs applies to llama.cpp (a GGUF file or --engine llamacpp) "
                       "and to transformers' --device-map; for identical GPUs give one --gpu and "
                       "--gpus N");
    if (s->gpus != 1 && s->gpus != s->n_targets)
        return err_set(err, GPUMEM_ERR_USAGE, "%u GPUs are listed but the split has %u shares",
                       s->n_targets, s->gpus);
    out->gpus = s->n_targets;
    out->gpu = s->targets[0].gpu;
    bool any = false;
    for (uint32_t d = 0; d < s->n_targets; d++)
        any |= s->tensor_split[d] > 0;
    for (uint32_t d = 0; d < s->n_targets && !any && s->n_targets > 1; d++)
        out->tensor_split[d] = (double)target_budget(&s->targets[d]);
    return GPUMEM_OK;
}

/* Per listed GPU: its bytes within budget - margin. */
static void finish_targets(gpumem_estimate *out, const gpumem_settings *s)
{
    out->n_targets = s->n_targets;
    memcpy(out->targets, s->targets, sizeof out->targets);
    out->fits = 1;
    out->headroom_bytes = INT64_MAX;
    for (uint32_t d = 0; d < s->n_targets && d < out->n_devices; d++) {
        uint64_t budget = target_budget(&s->targets[d]), margin = s->targets[d].margin;
        uint64_t limit = budget > margin ? budget - margin : 0;
        int64_t slack = (int64_t)limit - (int64_t)out->devices[d].bytes;
        if (out->devices[d].bytes > (uint64_t)INT64_MAX)
            slack = INT64_MIN;
        out->fits &= out->devices[d].bytes <= limit;
        if (slack < out->headroom_bytes)
            out->headroom_bytes = slack;
    }
}

/* Totals over devices and the fit verdict. */
static gpumem_status finish(gpumem_estimate *out, const gpumem_settings *s, gpumem_error *err)
{
    if (s->engine == GPUMEM_ENGINE_TRANSFORMERS)
        for (size_t i = 0; i < out->n_components; i++)
            if (strcmp(out->components[i].name, "cuda_context") != 0)
                out->allocated_bytes += out->components[i].bytes;
    for (size_t i = 0; i < out->n_devices; i++)
        if (!u64_add(out->total_bytes, out->devices[i].bytes, &out->total_bytes))
            return err_set(err, GPUMEM_ERR_OVERFLOW, "total does not fit in 64 bits");
    out->fits = -1;
    if (s->n_targets) {
        finish_targets(out, s);
    } else if (s->gpu) {
        /* vLLM always fills the GPU to its utilisation: it fits when it starts. */
        out->fits = s->engine == GPUMEM_ENGINE_VLLM ? out->vllm.starts
                                                    : out->per_gpu_bytes <= s->gpu->memory_bytes;
        out->headroom_bytes = (int64_t)s->gpu->memory_bytes - (int64_t)out->per_gpu_bytes;
        if (out->per_gpu_bytes > (uint64_t)INT64_MAX)
            out->headroom_bytes = INT64_MIN;
    }
        return GPUMEM_OK;
}

/* from_pretrained's max_memory: the user's, or each GPU's free memory after
 * the CUDA context is made (accelerate's get_max_memory: mem_get_info). */
static gpumem_status device_map_request(const gpumem_settings *s, dm_request *rq,
                                        gpumem_error *err)
{
    memset(rq, 0, sizeof *rq);
    rq->strategy = s->device_map;
    rq->n_gpus = s->n_targets ? s->n_targets : (s->gpu ? s->gpus : s->n_max_memory);
    if (rq->n_gpus == 0)
        return err_set(err, GPUMEM_ERR_USAGE, "a device_map needs GPUs: a GPU or max_memory");
    if (rq->n_gpus > GPUMEM_MAX_SPLIT)
        return err_set(err, GPUMEM_ERR_USAGE, "a device_map takes at most %d GPUs (got %u)",
                       GPUMEM_MAX_SPLIT, rq->n_gpus);
    if (s->n_max_memory) {
        if (s->n_max_memory != rq->n_gpus && s->n_max_memory != 1)
            return err_set(err, GPUMEM_ERR_USAGE, "max_memory has %u sizes for %u GPUs",
                           s->n_max_memory, rq->n_gpus);
        rq->user_set = true;
        for (uint32_t d = 0; d < rq->n_gpus; d++)
            rq->max_memory[d] = s->max_memory[s->n_max_memory == 1 ? 0 : d];
        return GPUMEM_OK;
    }
    for (uint32_t d = 0; d < rq->n_gpus; d++) {
        uint64_t total = s->n_targets ? target_budget(&s->targets[d]) : s->gpu->memory_bytes;
        rq->max_memory[d] = total > transformers_cuda_context_bytes
                                ? total - transformers_cuda_context_bytes
                                : 0;
    }
    return GPUMEM_OK;
}

static gpumem_status estimate_device_map(const gpumem_model *m, const gpumem_settings *s,
                                         const engine_req *r, gpumem_estimate *out,
                                         gpumem_error *err)
{
    dm_request rq;
    gpumem_status st;
    if (s->engine != GPUMEM_ENGINE_TRANSFORMERS)
        return err_set(err, GPUMEM_ERR_USAGE,
                       "a device_map is transformers' placement: use the transformers engine");
    if ((st = device_map_request(s, &rq, err)) != GPUMEM_OK ||
        (st = engine_transformers_device_map(m, r, &rq, out, err)) != GPUMEM_OK)
        return st;
    out->gpus = rq.n_gpus;
    const gpumem_device *top = &out->devices[0];
    for (uint32_t d = 1; d < rq.n_gpus; d++)
        if (out->devices[d].bytes > top->bytes)
            top = &out->devices[d];
    out->n_components = top->n_components;
    memcpy(out->components, top->components, sizeof out->components);
    out->per_gpu_bytes = top->bytes;
    return finish(out, s, err);
}

gpumem_status gpumem_estimate_inference(const gpumem_model *m, const gpumem_settings *s,
                                        gpumem_estimate *out, gpumem_error *err)
{
    engine_req r;
    memset(out, 0, sizeof *out);
    gpumem_settings listed;
    gpumem_status st = GPUMEM_OK;
    if (s->n_targets) {
        if ((st = apply_targets(s, &listed, err)) != GPUMEM_OK)
            return st;
        s = &listed;
    }
    st = resolve(m, s, &r, err);
    if (st != GPUMEM_OK)
        return st;
    if (s->engine == GPUMEM_ENGINE_VLLM && !m->layers)
        return err_set(err, GPUMEM_ERR_USAGE,
                       "vLLM sizes its KV cache from the architecture: give a model name, a "
                       "config.json or a model directory");
    if (s->engine == GPUMEM_ENGINE_TRANSFORMERS && !m->layers && !m->has_storage)
        return err_set(err, GPUMEM_ERR_USAGE,
                       "a bare parameter count has no architecture: use --simple, or give a "
                       "model name or config.json");
    if (s->engine == GPUMEM_ENGINE_VLLM)
        r = vllm_auto_dtype(m, &r, s);
    out->engine = s->engine;
    out->dtype = r.dtype;
    out->kv_dtype = r.kv_dtype;
    out->batch = r.batch;
    out->context = r.context;
    out->new_tokens = r.new_tokens;
    out->images = r.images;
    out->bnb_double_quant = r.double_quant;
    out->attn = r.attn;
    out->cache = r.cache;
    out->gpus = r.tp;
    out->gpu = s->gpu;

    /* Falcon-H1 layers (attention beside Mamba-2) are described for
     * llama.cpp only: the other engines would count their state and drop
     * their KV cache. */
    for (uint32_t i = 0; s->engine != GPUMEM_ENGINE_LLAMACPP && m->layers && i < m->n_layer; i++)
        if (m->layers[i].ssm_with_attn)
            return err_set(err, GPUMEM_ERR_UNSUPPORTED,
                           "%s runs attention beside a Mamba-2 mixer in each layer "
                           "(falcon-h1): gpumem sizes it for llama.cpp only (--engine llamacpp)",
                           m->name);
    if (s->engine == GPUMEM_ENGINE_LLAMACPP) {
        if ((st = engine_llamacpp(m, &r, s, out, err)) != GPUMEM_OK)
            return st;
        return finish(out, s, err);
    }
    if (s->device_map != GPUMEM_DEVICE_MAP_NONE)
        return estimate_device_map(m, s, &r, out, err);
    gpumem_device *gpu0 = &out->devices[0];
    snprintf(gpu0->name, sizeof gpu0->name, "gpu0");
    st = s->engine == GPUMEM_ENGINE_VLLM ? engine_vllm(m, &r, s, gpu0, &out->vllm, err)
                                          : engine_get(s->engine)->run(m, &r, gpu0, err);
    if (st != GPUMEM_OK)
        return st;
    /* Parallel ranks hold equal shares; rank 0 (the most loaded) stands for
     * all. vLLM's pipeline stages are ranks too. */
    uint32_t ranks = r.tp;
    if (s->engine == GPUMEM_ENGINE_VLLM && s->pipeline_parallel > 1)
        ranks *= s->pipeline_parallel;
    if (ranks > GPUMEM_MAX_DEVICES)
        return err_set(err, GPUMEM_ERR_USAGE, "more than %d GPUs", GPUMEM_MAX_DEVICES);
    out->n_devices = ranks;
    for (uint32_t i = 1; i < ranks; i++) {
        out->devices[i] = *gpu0;
        snprintf(out->devices[i].name, sizeof out->devices[i].name, "gpu%u", i);
    }
    out->n_components = gpu0->n_components;
    memcpy(out->components, gpu0->components, sizeof out->components);
    out->per_gpu_bytes = gpu0->bytes;
    return finish(out, s, err);
}

static const char *const split_names[GPUMEM_SPLIT_COUNT] = {"layer", "none", "row"};

const char *gpumem_split_mode_name(gpumem_split_mode mode)
{
    return (unsigned)mode < GPUMEM_SPLIT_COUNT ? split_names[mode] : "?";
}

gpumem_status gpumem_split_mode_parse(const char *name, gpumem_split_mode *out, gpumem_error *err)
{
    for (int i = 0; i < GPUMEM_SPLIT_COUNT; i++)
        if (name && str_ieq(name, split_names[i])) {
            *out = (gpumem_split_mode)i;
            return GPUMEM_OK;
        }
    return err_set(err, GPUMEM_ERR_USAGE, "unknown split mode '%s' (llama.cpp -sm: layer, none, row)",
                   name ? name : "");
}
