/* `gpumem fit`: the plan llama.cpp's --fit (common/fit.cpp, llama.cpp
 * de3ff81) would make, offline, for one GPU:
 *  1. full offload at the requested (or trained) context: done if it fits;
 *  2. unless -c was given, shrink the context by linear interpolation
 *     between min_context and the maximum, rounded down to 256 x streams;
 *  3. at that context, fewer layers from the back (-ngl), as few as needed;
 *     MoE models take fit_multi.c's path, llama.cpp's own for them: experts
 *     of the last layers to the host by -ot, then full layers front to back;
 *  4. when even that fails, the cheapest changes with their figures.
 * "Fits" means the GPU's buffers plus the modelled CUDA context stay below
 * the budget minus the margin. */
#include "fit_internal.h"

#include <stdio.h>
#include <string.h>

static const uint64_t MiB = 1ull << 20;

typedef struct {
    const gpumem_model *m;
    gpumem_settings s;
    uint64_t target; /* bytes the GPU may hold */
    gpumem_estimate *e;
    gpumem_error *err;
} fitter;

/* 1 fits, 0 does not, -1 error; leaves the estimate in f->e. */
static int try_fit(fitter *f)
{
    gpumem_status st = gpumem_estimate_inference(f->m, &f->s, f->e, f->err);
    if (st != GPUMEM_OK)
        return -1;
    return f->e->per_gpu_bytes <= f->target;
}

static uint64_t used(fitter *f)
{
    return try_fit(f) < 0 ? UINT64_MAX : f->e->per_gpu_bytes;
}

static void set_flags(gpumem_fit_plan *p)
{
    snprintf(p->flags, sizeof p->flags, "-c %llu -ngl %d", (unsigned long long)p->context,
             p->n_gpu_layers);
}

typedef void (*setter)(gpumem_settings *, int64_t v, uint64_t arg);

/* Largest v in [lo, hi] that fits when memory grows with v (context,
 * layers); lo - 1 when none does, INT64_MIN on error. */
static int64_t largest_fitting(fitter *f, int64_t lo, int64_t hi, setter set, uint64_t arg)
{
    int64_t best = lo - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        set(&f->s, mid, arg);
        int r = try_fit(f);
        if (r < 0)
            return INT64_MIN;
        if (r) {
            best = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return best;
}

static void set_ngl(gpumem_settings *s, int64_t v, uint64_t unused)
{
    (void)unused;
    s->n_gpu_layers = (int)v;
}

static void set_ctx(gpumem_settings *s, int64_t v, uint64_t unused)
{
    (void)unused;
    s->context = (uint64_t)v;
}

/* -np v, each sequence with per_seq cells, every layer on the GPU. */
static void set_np(gpumem_settings *s, int64_t v, uint64_t per_seq)
{
    s->n_parallel = (uint32_t)v;
    s->context = per_seq * (uint64_t)v;
    s->n_gpu_layers = -1;
    s->n_cpu_moe = 0;
}

static void advise(fitter *f, gpumem_fit_plan *p)
{
    /* What a q8_0 KV cache and the smallest context would need. */
    gpumem_settings keep = f->s;
    char kv[128] = "", ctx[128] = "";
    f->s.n_gpu_layers = -1;
    f->s.n_cpu_moe = 0;
    f->s.cache_type_k = f->s.cache_type_v = 9; /* Q8_0 (id 8) + 1 */
    f->s.flash_attn = 1;
    uint64_t u = used(f);
    if (u != UINT64_MAX)
        snprintf(kv, sizeof kv, "-ctk q8_0 -ctv q8_0 -fa on: GPU needs %.0f MiB",
                 (double)u / MiB);
    f->s = keep;
    f->s.n_gpu_layers = -1;
    f->s.context = 512;
    u = used(f);
    if (u != UINT64_MAX)
        snprintf(ctx, sizeof ctx, "-c 512: GPU needs %.0f MiB", (double)u / MiB);
    /* A smaller quant of the same model: the matrices at about 3.5 bits
     * (IQ3_M / Q3_K_M class) instead of the file's mix. */
    double bpw = f->m->params_total ? f->m->bytes_total * 8.0 / f->m->params_total : 16;
    double smaller = (double)f->m->bytes_total * (3.5 / (bpw > 3.5 ? bpw : 3.5));
    snprintf(p->advice, sizeof p->advice,
             "nothing fits %.0f MiB; options: %s; %s; a ~3.5-bit quant of this model needs "
             "~%.0f MiB of weights (this file: %.0f MiB at %.2f bits/weight)",
             (double)f->target / MiB, kv, ctx, smaller / MiB, (double)f->m->bytes_total / MiB,
             bpw);
    f->s = keep;
}

gpumem_status gpumem_fit(const gpumem_model *m, const gpumem_settings *settings,
                         const gpumem_fit_request *req, gpumem_fit_plan *p, gpumem_error *err)
{
    memset(p, 0, sizeof *p);
    if ((settings->n_targets || settings->gpus > 1) && (!m->has_storage || !m->layers))
        return err_set(err, GPUMEM_ERR_USAGE, "fit plans a llama.cpp run: give a GGUF file");
    /* MoE: llama.cpp de3ff81 keeps the experts of the *last* layers on the
     * host (-ot per layer, common/fit.cpp steps 3 and 4), the procedure of
     * fit_multi.c, also for one device. */
    bool moe = false;
    for (uint32_t i = 0; m->layers && i < m->n_layer; i++)
        moe |= m->layers[i].n_expert > 0;
    if (fit_needs_multi(settings) || (moe && m->has_storage))
        return fit_multi(m, settings, req, p, err);
    if (settings->n_targets == 1) { /* one listed GPU: its budget and margin */
        gpumem_settings one = *settings;
        gpumem_fit_request r = *req;
        one.gpu = settings->targets[0].gpu;
        one.n_targets = 0;
        r.budget = settings->targets[0].budget ? settings->targets[0].budget : req->budget;
        r.margin = settings->targets[0].margin ? settings->targets[0].margin : req->margin;
        return gpumem_fit(m, &one, &r, p, err);
    }
    if (!settings->gpu)
        return err_set(err, GPUMEM_ERR_USAGE, "fit needs a --gpu");
    if (!m->has_storage || !m->layers)
        return err_set(err, GPUMEM_ERR_USAGE, "fit plans a llama.cpp run: give a GGUF file");
    fitter f = {m, *settings, 0, &p->estimate, err};
    f.s.engine = GPUMEM_ENGINE_LLAMACPP;
    uint64_t budget = req->budget ? req->budget : settings->gpu->memory_bytes;
    uint64_t margin = req->margin ? req->margin : 1024 * MiB;
    if (budget <= margin)
        return err_set(err, GPUMEM_ERR_USAGE, "the budget is smaller than the margin");
    f.target = budget - margin;
    uint64_t n_seq = settings->n_parallel ? settings->n_parallel : 1;
    uint64_t align = 256 * (settings->kv_unified ? 1 : n_seq);
    uint64_t ctx_max = req->context_set ? settings->context : (m->max_ctx ? m->max_ctx : 4096);
    uint64_t ctx_min = req->min_context ? req->min_context : 4096;
    if (ctx_min > ctx_max)
        ctx_min = ctx_max;

    /* 1. full offload at the full context */
    f.s.context = ctx_max;
    f.s.n_gpu_layers = -1;
    f.s.n_cpu_moe = 0;
    uint64_t at_max = used(&f);
    if (at_max == UINT64_MAX)
        return err->code;
    /* the largest context with full offload, for the report: up to the
     * trained context, whatever -c asks */
    uint64_t ctx_top = (m->max_ctx ? m->max_ctx : 4096) * (settings->kv_unified ? 1 : n_seq);
    ctx_top = ctx_top > ctx_max ? ctx_top : ctx_max;
    int64_t best = largest_fitting(&f, 256, (int64_t)(ctx_top > (1ull << 24) ? 1ull << 24 : ctx_top),
                                   set_ctx, 0);
    if (best == INT64_MIN)
        return err->code;
    p->max_context = best < 256 ? 0 : (uint64_t)best;
    f.s.context = ctx_max;
    if (at_max <= f.target) {
        p->context = ctx_max;
    } else if (!req->context_set && ctx_max > ctx_min) {
        /* 2. linear interpolation between the minimum and the maximum */
        f.s.context = ctx_min;
        uint64_t at_min = used(&f);
        if (at_min == UINT64_MAX)
            return err->code;
        if (at_min <= f.target) {
            uint64_t ctx = ctx_min + (ctx_max - ctx_min) * (f.target - at_min) / (at_max - at_min);
            ctx -= ctx % align;
            p->context = ctx > ctx_min ? ctx : ctx_min;
        } else {
            p->context = ctx_min;
        }
    } else {
        p->context = req->context_set ? ctx_max : ctx_min;
    }
    f.s.context = p->context;
    f.s.n_gpu_layers = -1;
    int r = try_fit(&f);
    if (r < 0)
        return err->code;
    p->n_gpu_layers = (int)m->n_layer + 1;
    if (!r) {
        /* 3. fewer layers on the GPU, from the back */
        int64_t n = largest_fitting(&f, 0, m->n_layer + 1, set_ngl, 0);
        if (n == INT64_MIN)
            return err->code;
        if (n >= 1) {
            p->n_gpu_layers = (int)n;
            r = 1;
        } else {
            p->n_gpu_layers = 0;
        }
    }
    f.s.n_gpu_layers = p->n_gpu_layers;
    f.s.n_cpu_moe = p->n_cpu_moe;
    if (try_fit(&f) < 0)
        return err->code;
    p->fits = r && p->n_gpu_layers > 0;
    set_flags(p);
    p->parallel_context = p->context / (settings->kv_unified ? 1 : n_seq);
    /* Serving: the largest -np (up to 256) at the plan's context per sequence. */
    gpumem_settings keep = f.s;
    int64_t np = largest_fitting(&f, 1, 256, set_np, p->parallel_context);
    f.s = keep;
    if (np == INT64_MIN)
        return err->code;
    p->max_parallel = np > 0 ? (uint32_t)np : 0;
    if (!p->fits)
        advise(&f, p);
    /* the estimate of the plan itself, last */
    f.s.n_gpu_layers = p->n_gpu_layers;
    f.s.n_cpu_moe = p->n_cpu_moe;
    f.s.context = p->context;
    return try_fit(&f) < 0 ? err->code : GPUMEM_OK;
}
