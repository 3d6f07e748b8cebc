/* Turns an estimate into the JSON contract or a short human table. */
#include "gpumem.h"

#include "error_internal.h"
#include "model_internal.h"
#include "util_internal.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const source_names[GPUMEM_SOURCE_COUNT] = {"catalog", "config", "params",
                                                              "gguf", "safetensors"};

static const struct {
    const char *name;
    double bytes;
} units[GPUMEM_UNIT_COUNT] = {{"GiB", 1073741824.0}, {"GB", 1e9}};

gpumem_status gpumem_unit_parse(const char *name, gpumem_unit *out, gpumem_error *err)
{
    for (int i = 0; i < GPUMEM_UNIT_COUNT; i++)
        if (str_ieq(name, units[i].name)) {
            *out = (gpumem_unit)i;
            return GPUMEM_OK;
        }
    return err_set(err, GPUMEM_ERR_NOT_FOUND, "unknown unit '%s' (expected GiB or GB)", name);
}

/* ------------------------------------------------------------------- JSON */

static json_t *components_json(const gpumem_component *c, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:s, s:I, s:s}", "name", c[i].name, "bytes",
                                             (json_int_t)c[i].bytes, "note", c[i].note));
    return arr;
}

/* Where a device_map put each module: per device its first and last
 * decoder layer (-1 when none) and the max_memory it was given. */
static json_t *device_map_json(const gpumem_estimate *e)
{
    const gpumem_device_map_info *dm = &e->device_map;
    json_t *devs = json_array();
    for (int d = 0; d <= (int)dm->n_gpus; d++) {
        int dev = d == (int)dm->n_gpus ? -1 : d, first = -1, last = -1;
        for (uint32_t i = 0; i < dm->n_layers; i++)
            if (dm->layer_device[i] == dev) {
                first = first < 0 ? (int)i : first;
                last = (int)i;
            }
        if (dev < 0 && first < 0 && !dm->weight_bytes[d])
            continue;
        json_t *o = json_pack("{s:s, s:i, s:i, s:I}", "device", dev < 0 ? "host" : e->devices[d].name,
                              "first_layer", first, "last_layer", last, "weight_bytes",
                              (json_int_t)dm->weight_bytes[d]);
        if (dev >= 0)
            json_object_set_new(o, "max_memory_bytes", json_integer((json_int_t)dm->max_memory[d]));
        json_array_append_new(devs, o);
    }
    const char *names[GPUMEM_MAX_SPLIT + 1];
    for (uint32_t d = 0; d < dm->n_gpus; d++)
        names[d] = e->devices[d].name;
    int16_t where[3] = {dm->embed_device, dm->norm_device, dm->lm_head_device};
    const char *at[3];
    for (int k = 0; k < 3; k++)
        at[k] = where[k] < 0 ? "host" : names[where[k]];
    json_t *o = json_pack("{s:s, s:o, s:s, s:s, s:s, s:s}", "strategy",
                          gpumem_device_map_name(dm->strategy), "devices", devs, "embed_tokens",
                          at[0], "norm", at[1], "lm_head", at[2], "main_device",
                          dm->main_device < 0 ? "host" : names[dm->main_device]);
    /* a multimodal model's vision tower and projector, where it has them */
    int16_t vis[2] = {dm->vision_device, dm->projector_device};
    const char *vis_key[2] = {"vision_tower", "projector"};
    for (int k = 0; o && k < 2; k++)
        if (vis[k] >= -1)
            json_object_set_new(o, vis_key[k], json_string(vis[k] < 0 ? "host" : names[vis[k]]));
    return o;
}

/* The JSON contract as an object (NULL when out of memory). */
static json_t *report_object(const gpumem_model *m, const gpumem_estimate *e)
{
    json_t *model = json_pack("{s:s, s:s, s:s, s:I, s:I}", "name", m->name, "source",
                              source_names[m->source], "architecture",
                              m->architecture_known ? m->architecture : "unknown", "params",
                              (json_int_t)m->params_total, "active_params",
                              (json_int_t)m->params_active);
    if (m->note[0])
        json_object_set_new(model, "note", json_string(m->note));
    json_t *settings = json_pack("{s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:I}", "dtype",
                                 gpumem_dtype_name(e->dtype), "kv_dtype",
                                 gpumem_dtype_name(e->kv_dtype), "batch", (json_int_t)e->batch,
                                 "context", (json_int_t)e->context, "new_tokens",
                                 (json_int_t)e->new_tokens, "cache", gpumem_cache_name(e->cache),
                                 "attn", gpumem_attn_name(e->attn), "gpus", (json_int_t)e->gpus);
    json_t *devices = json_array();
    for (size_t i = 0; i < e->n_devices; i++) {
        const gpumem_device *d = &e->devices[i];
        json_array_append_new(devices,
                              json_pack("{s:s, s:s, s:I, s:o}", "name", d->name, "kind",
                                        d->is_host ? "host" : "gpu", "bytes",
                                        (json_int_t)d->bytes, "components",
                                        components_json(d->components, d->n_components)));
    }
    json_t *root = json_pack("{s:o, s:s, s:s, s:o, s:o, s:o, s:I, s:I}", "model", model, "mode",
                             e->mode == GPUMEM_MODE_TRAINING ? "training" : "inference", "engine", gpumem_engine_name(e->engine), "settings",
                             settings, "components",
                             components_json(e->components, e->n_components), "devices",
                             devices, "total_bytes", (json_int_t)e->total_bytes,
                             "per_gpu_bytes", (json_int_t)e->per_gpu_bytes);
    if (e->gpu) {
        json_object_set_new(root, "gpu",
                            json_pack("{s:s, s:I, s:I}", "name", e->gpu->id, "memory_bytes",
                                      (json_int_t)e->gpu->memory_bytes, "count",
                                      (json_int_t)e->gpus));
        json_object_set_new(root, "fits", json_boolean(e->fits == 1));
        json_object_set_new(root, "headroom_bytes", json_integer(e->headroom_bytes));
    } else {
        json_object_set_new(root, "gpu", json_null());
        json_object_set_new(root, "fits", json_null());
        json_object_set_new(root, "headroom_bytes", json_null());
    }
    if (e->n_targets) {
        json_t *targets = json_array();
        for (uint32_t d = 0; d < e->n_targets; d++) {
            const gpumem_device_target *t = &e->targets[d];
            uint64_t budget = t->budget ? t->budget : t->gpu->memory_bytes;
            json_array_append_new(
                targets, json_pack("{s:s, s:s, s:I, s:I, s:I, s:b}", "device", e->devices[d].name,
                                   "gpu", t->gpu->id, "budget_bytes", (json_int_t)budget,
                                   "margin_bytes", (json_int_t)t->margin, "bytes",
                                   (json_int_t)e->devices[d].bytes, "fits",
                                   e->devices[d].bytes + t->margin <= budget));
        }
        json_object_set_new(root, "targets", targets);
    }
    if (e->reserved_bytes)
        json_object_set_new(root, "reserved_bytes", json_integer((json_int_t)e->reserved_bytes));
    if (e->allocated_bytes)
        json_object_set_new(root, "allocated_bytes", json_integer((json_int_t)e->allocated_bytes));
    if (e->device_map.present)
        json_object_set_new(root, "device_map", device_map_json(e));
    if (e->note[0])
        json_object_set_new(root, "note", json_string(e->note));
    if (e->description[0])
        json_object_set_new(settings, "description", json_string(e->description));
    if (e->images)
        json_object_set_new(settings, "images", json_integer(e->images));
    if (e->bnb_double_quant)
        json_object_set_new(settings, "bnb_double_quant", json_true());
    if (e->embedding) {
        json_object_set_new(settings, "model_role",
                            json_string(e->embedding == 2 ? "reranker" : "embedding"));
        json_object_set_new(settings, "pooling", json_string(gpumem_pooling_name(e->pooling)));
    }
    if (e->vllm.present) {
        const gpumem_vllm_info *v = &e->vllm;
        json_object_set_new(
            root, "vllm",
            json_pack("{s:s, s:f, s:I, s:I, s:f, s:b, s:I, s:s}", "version", v->version,
                      "gpu_memory_utilization", v->gpu_memory_utilization, "max_model_len",
                      (json_int_t)v->max_model_len, "kv_cache_tokens",
                      (json_int_t)v->kv_cache_tokens, "max_concurrency", v->max_concurrency,
                      "starts", v->starts, "max_model_len_limit",
                      (json_int_t)v->max_model_len_limit, "reason", v->reason));
    }
    return root;
}

/* Indented text of `root`, which it frees; NULL when out of memory. */
static char *dump(json_t *root)
{
    if (!root)
        return NULL;
    char *out = json_dumps(root, JSON_INDENT(2));
    json_decref(root);
    return out;
}

char *gpumem_report_json(const gpumem_model *m, const gpumem_estimate *e)
{
    return dump(report_object(m, e));
}

char *gpumem_report_fit_json(const gpumem_model *m, const gpumem_fit_plan *p)
{
    json_t *root = report_object(m, &p->estimate);
    if (!root)
        return NULL;
    json_t *plan = json_pack("{s:b, s:s, s:I, s:i, s:i, s:I, s:I, s:I, s:s}", "fits", p->fits,
                             "flags", p->flags, "context", (json_int_t)p->context,
                             "n_gpu_layers", p->n_gpu_layers, "n_cpu_moe", p->n_cpu_moe,
                             "max_context", (json_int_t)p->max_context, "max_parallel",
                             (json_int_t)p->max_parallel, "parallel_context",
                             (json_int_t)p->parallel_context, "advice", p->advice);
    if (plan && p->n_devices) {
        json_t *devs = json_array();
        for (uint32_t d = 0; d < p->n_devices; d++) {
            const gpumem_device_target *t = &p->estimate.targets[d];
            json_array_append_new(
                devs, json_pack("{s:s, s:s, s:i, s:i, s:I, s:I, s:I}", "device",
                                p->estimate.devices[d].name, "gpu", t->gpu->id, "layers",
                                p->layers[d], "dense_only", p->dense_only[d], "bytes",
                                (json_int_t)p->estimate.devices[d].bytes, "budget_bytes",
                                (json_int_t)t->budget, "margin_bytes", (json_int_t)t->margin));
        }
        json_object_set_new(plan, "devices", devs);
        json_object_set_new(plan, "note", json_string(p->note));
    }
    if (plan && p->n_ffn_moves) { /* the layers split by tensor (-ot) */
        static const char *const part[GPUMEM_FFN_PART_COUNT] = {
            [GPUMEM_FFN_DOWN] = "ffn_down", [GPUMEM_FFN_GATE_DOWN] = "ffn_gate_down",
            [GPUMEM_FFN_ALL] = "ffn"};
        json_t *split = json_array();
        for (uint32_t k = 0; k < p->n_ffn_moves && k < GPUMEM_MAX_FFN_MOVES; k++) {
            const gpumem_ffn_move *mv = &p->ffn_moves[k];
            char to[16] = "host";
            if (mv->device >= 0)
                snprintf(to, sizeof to, "gpu%d", mv->device);
            json_array_append_new(split, json_pack("{s:i, s:s, s:s}", "layer", (int)mv->layer,
                                                   "moved", part[mv->part], "to", to));
        }
        json_object_set_new(plan, "split_layers", split);
    }
    json_object_set_new(root, "plan", plan);
    return dump(root);
}

/* ------------------------------------------------------------------- text */

typedef struct {
    char *buf;
    size_t len, cap;
    int failed;
} sbuf;

static void put(sbuf *s, const char *fmt, ...) GPUMEM_PRINTF(2, 3);

static void put(sbuf *s, const char *fmt, ...)
{
    if (s->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s->buf + s->len, s->cap - s->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        s->failed = 1;
        return;
    }
    if ((size_t)n >= s->cap - s->len) {
        size_t cap = (s->cap + (size_t)n) * 2;
        char *nb = realloc(s->buf, cap);
        if (!nb) {
            s->failed = 1;
            return;
        }
        s->buf = nb;
        s->cap = cap;
        va_start(ap, fmt);
        vsnprintf(s->buf + s->len, s->cap - s->len, fmt, ap);
        va_end(ap);
    }
    s->len += (size_t)n;
}

static void human_count(uint64_t n, char *out, size_t len)
{
    if (n >= 1000000000ull)
        snprintf(out, len, "%.2fB", n / 1e9);
    else
        snprintf(out, len, "%.1fM", n / 1e6);
}

static void table(sbuf *s, const gpumem_component *c, size_t n, uint64_t total, double u,
                  const char *uname, const char *total_label)
{
    int width = 14; /* the widest name, at least "cuda_context  " */
    for (size_t i = 0; i < n; i++)
        if ((int)strlen(c[i].name) > width)
            width = (int)strlen(c[i].name);
    for (size_t i = 0; i < n; i++)
        put(s, "  %-*s %9.2f %s  %s\n", width, c[i].name, c[i].bytes / u, uname, c[i].note);
    put(s, "  %-*s %9.2f %s  %s\n", width, "total", total / u, uname, total_label);
}

static int same_components(const gpumem_device *a, const gpumem_device *b)
{
    if (a->n_components != b->n_components || a->is_host != b->is_host)
        return 0;
    for (size_t i = 0; i < a->n_components; i++)
        if (a->components[i].bytes != b->components[i].bytes ||
            strcmp(a->components[i].name, b->components[i].name) != 0)
            return 0;
    return 1;
}

/* The verdict: "fits GPU (size): X headroom" / "does NOT fit GPU (size): short
 * by X", over every listed GPU; nothing without a GPU. No newline. */
static void verdict(sbuf *s, const gpumem_estimate *e, double u, const char *un)
{
    if (e->n_targets) {
        /* listed GPUs: each within its budget - margin */
        put(s, "%s ", e->fits == 1 ? "fits" : "does NOT fit");
        for (uint32_t d = 0; d < e->n_targets; d++) {
            const gpumem_device_target *t = &e->targets[d];
            uint64_t budget = t->budget ? t->budget : t->gpu->memory_bytes;
            put(s, "%s%s (%.2f %s", d ? " + " : "", t->gpu->id, budget / u, un);
            if (t->margin)
                put(s, ", margin %.2f", t->margin / u);
            put(s, ")");
        }
        double head = (double)e->headroom_bytes / u;
        put(s, e->fits == 1 ? ": %.2f %s headroom on the tightest GPU"
                            : ": the tightest GPU is short by %.2f %s",
            e->fits == 1 ? head : -head, un);
    } else if (e->gpu) {
        double head = (double)e->headroom_bytes / u;
        if (e->fits == 1)
            put(s, "fits %s (%.2f %s%s): %.2f %s headroom", e->gpu->id,
                e->gpu->memory_bytes / u, un, e->gpus > 1 ? " each" : "", head, un);
        else if (e->vllm.present && head >= 0) /* in memory, but vLLM refuses to start */
            put(s, "does NOT start on %s (%.2f %s%s): largest --max-model-len that starts: %llu",
                e->gpu->id, e->gpu->memory_bytes / u, un, e->gpus > 1 ? " each" : "",
                (unsigned long long)e->vllm.max_model_len_limit);
        else
            put(s, "does NOT fit %s (%.2f %s%s): short by %.2f %s", e->gpu->id,
                e->gpu->memory_bytes / u, un, e->gpus > 1 ? " each" : "", -head, un);
    }
}

/* The default answer, one line: what it needs, then the verdict. */
static void one_line(sbuf *s, const gpumem_model *m, const gpumem_estimate *e, double u,
                     const char *un)
{
    put(s, "%s on %s", m->name,
        e->engine == GPUMEM_ENGINE_SIMPLE ? "the rule of thumb" : gpumem_engine_name(e->engine));
    if (e->mode == GPUMEM_MODE_TRAINING)
        put(s, " (training)");
    if (e->embedding)
        put(s, " (%s, %s pooling)", e->embedding == 2 ? "reranker" : "embedding model",
            gpumem_pooling_name(e->pooling));
    put(s, ": ");
    /* Devices that hold different things (llama.cpp's buffers, a device_map's
     * layers, weights offloaded to the host): list them, host last. */
    int list = e->engine == GPUMEM_ENGINE_LLAMACPP && e->n_devices > 0;
    for (size_t i = 0; i < e->n_devices; i++)
        list |= e->devices[i].is_host || e->devices[i].bytes != e->devices[0].bytes;
    if (list) {
        for (size_t i = 0; i < e->n_devices; i++)
            put(s, "%s%s %.2f %s", i ? ", " : "", e->devices[i].name, e->devices[i].bytes / u,
                un);
    } else if (!e->per_gpu_bytes) {
        put(s, "%.2f %s of host memory (no GPU)", e->total_bytes / u, un);
    } else if (e->gpus > 1) {
        put(s, "%.2f %s per GPU, %.2f %s over %u GPUs", e->per_gpu_bytes / u, un,
            e->total_bytes / u, un, e->gpus);
    } else {
        put(s, "%.2f %s", e->per_gpu_bytes / u, un);
    }
    if (e->engine == GPUMEM_ENGINE_SIMPLE && e->n_components > 0)
        put(s, " (%.2f %s of %s weights x 1.2)", e->components[0].bytes / u, un,
            gpumem_dtype_name(e->dtype));
    if (e->vllm.present) {
        put(s, "; vLLM %s: %llu KV tokens, %.2fx concurrency at %llu", e->vllm.version,
            (unsigned long long)e->vllm.kv_cache_tokens, e->vllm.max_concurrency,
            (unsigned long long)e->vllm.max_model_len);
        if (!e->vllm.starts && !(e->gpu && e->headroom_bytes >= 0)) /* else the verdict says */
            put(s, ", would NOT start");
    }
    if (e->gpu || e->n_targets) {
        put(s, "; ");
        verdict(s, e, u, un);
    }
    put(s, "\n");
}

char *gpumem_report_text(const gpumem_model *m, const gpumem_estimate *e, gpumem_unit unit,
                         int breakdown)
{
    sbuf s = {malloc(1024), 0, 1024, 0};
    if (!s.buf)
        return NULL;
    s.buf[0] = '\0';
    double u = units[unit < GPUMEM_UNIT_COUNT ? unit : 0].bytes;
    const char *un = units[unit < GPUMEM_UNIT_COUNT ? unit : 0].name;
    if (!breakdown) {
        one_line(&s, m, e, u, un);
        if (s.failed) {
            free(s.buf);
            return NULL;
        }
        return s.buf;
    }
    char params[32], active[32];
    human_count(m->params_total, params, sizeof params);
    human_count(m->params_active, active, sizeof active);
    put(&s, "%s (%s, %s params", m->name, m->architecture_known ? m->architecture : "unknown",
        params);
    if (m->params_active != m->params_total)
        put(&s, ", %s active", active);
    put(&s, ") on %s\n", gpumem_engine_name(e->engine));
    if (m->note[0])
        put(&s, "note: %s\n", m->note);
    if (e->mode == GPUMEM_MODE_TRAINING)
        put(&s, "training: %s\n", e->description);
    else if (e->engine == GPUMEM_ENGINE_LLAMACPP)
        put(&s, "%s\n", e->description); /* "llama.cpp <version>: ..." */
    else if (e->engine == GPUMEM_ENGINE_SIMPLE)
        put(&s, "%s weights, rule of thumb%s\n", gpumem_dtype_name(e->dtype),
            e->gpus > 1 ? ", split over GPUs" : "");
    else if (e->vllm.present)
        put(&s, "%s weights, %s KV, max-model-len %llu, tensor parallel %u, utilisation %.2f\n",
            gpumem_dtype_name(e->dtype), gpumem_dtype_name(e->kv_dtype),
            (unsigned long long)e->vllm.max_model_len, e->gpus, e->vllm.gpu_memory_utilization);
    else
        put(&s, "%s weights, %s KV, batch %llu, context %llu + %llu new, %s attention%s%s\n",
            gpumem_dtype_name(e->dtype), gpumem_dtype_name(e->kv_dtype),
            (unsigned long long)e->batch, (unsigned long long)e->context,
            (unsigned long long)e->new_tokens, gpumem_attn_name(e->attn),
            e->device_map.present ? ", device_map=" : e->gpus > 1 ? ", tensor parallel" : "",
            e->device_map.present ? gpumem_device_map_name(e->device_map.strategy) : "");
    char label[64];
    bool host = e->device_map.present && e->devices[e->n_devices - 1].is_host;
    if (e->gpus > 1 || host)
        snprintf(label, sizeof label, "per GPU; %.2f %s over %u GPU%s%s", e->total_bytes / u, un,
                 e->gpus, e->gpus > 1 ? "s" : "", host ? " and the host" : "");
    else
        snprintf(label, sizeof label, "%s", "");
    uint64_t shown = e->per_gpu_bytes ? e->per_gpu_bytes : e->total_bytes;
    if (!e->per_gpu_bytes)
        snprintf(label, sizeof label, "%s", "host memory (no GPU)");
    table(&s, e->components, e->n_components, shown, u, un, label);
    if (e->n_devices > 1) {
        for (size_t i = 0; i < e->n_devices; i++) {
            const gpumem_device *d = &e->devices[i];
            size_t same = i;
            while (same + 1 < e->n_devices && same_components(d, &e->devices[same + 1]))
                same++;
            if (same > i)
                put(&s, "%s to %s, each:\n", d->name, e->devices[same].name);
            else
                put(&s, "%s:\n", d->name);
            table(&s, d->components, d->n_components, d->bytes, u, un, "");
            i = same;
        }
    }
    if (e->vllm.present) {
        const gpumem_vllm_info *v = &e->vllm;
        put(&s, "vLLM %s: GPU KV cache size: %llu tokens; maximum concurrency for %llu tokens "
                "per request: %.2fx\n",
            v->version, (unsigned long long)v->kv_cache_tokens,
            (unsigned long long)v->max_model_len, v->max_concurrency);
        if (!v->starts)
            put(&s, "vLLM would NOT start: %s\n", v->reason);
        put(&s, "largest --max-model-len that starts: %llu\n",
            (unsigned long long)v->max_model_len_limit);
    }
    if (e->reserved_bytes)
        put(&s, "max_memory_reserved (caching allocator): %.2f %s\n", e->reserved_bytes / u, un);
    if (e->allocated_bytes)
        put(&s, "torch.cuda.max_memory_allocated: %.2f %s (nvidia-smi adds the CUDA context; the "
                "allocator's reserve is not modelled)\n",
            e->allocated_bytes / u, un);
    if (e->note[0])
        put(&s, "note: %s\n", e->note);
    if (e->gpu || e->n_targets) {
        verdict(&s, e, u, un);
        put(&s, "\n");
    }
    if (s.failed) {
        free(s.buf);
        return NULL;
    }
    return s.buf;
}
