/* Searches over a setting for the largest value that still fits the GPU:
 * the largest context (--max-context) and the largest batch
 * (--max-batch). Memory grows monotonically with both in every engine, so a
 * binary search over estimates finds the limit. And vLLM's smallest
 * --gpu-memory-utilization for a target concurrency: its KV pool grows with
 * the utilisation. */
#include "estimate_internal.h"

#include <stdlib.h>

enum { MAX_SEARCH = 1 << 24 };

/* 1 fits, 0 does not, -1 error (other than "does not fit"). */
static int fits(const gpumem_model *m, gpumem_settings *s, gpumem_estimate *e, gpumem_error *err)
{
    gpumem_status st = gpumem_estimate_inference(m, s, e, err);
    if (st == GPUMEM_ERR_USAGE || st == GPUMEM_ERR_OVERFLOW)
        return 0; /* e.g. beyond learned positions: treated as too large */
    if (st != GPUMEM_OK)
        return -1;
    return e->fits == 1;
}

static gpumem_status search(const gpumem_model *m, const gpumem_settings *base, uint64_t hi,
                            int which, uint64_t *out, gpumem_error *err)
{
    if (!base->gpu)
        return err_set(err, GPUMEM_ERR_USAGE, "the largest value that fits needs a --gpu");
    gpumem_estimate *e = malloc(sizeof *e);
    if (!e)
        return err_set(err, GPUMEM_ERR_NOMEM, "out of memory");
    gpumem_settings s = *base;
    uint64_t lo = 0; /* lo fits (0: nothing does yet); hi + 1 is the cap */
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo + 1) / 2;
        if (which == 0) {
            s.context = mid;
            if (base->engine == GPUMEM_ENGINE_VLLM)
                s.max_model_len = mid;
        } else {
            s.batch = mid;
        }
        int f = fits(m, &s, e, err);
        if (f < 0) {
            free(e);
            return err->code;
        }
        if (f)
            lo = mid;
        else
            hi = mid - 1;
    }
    free(e);
    *out = lo;
    return GPUMEM_OK;
}

gpumem_status gpumem_max_context(const gpumem_model *m, const gpumem_settings *s, uint64_t *out,
                                 gpumem_error *err)
{
    /* Up to the trained context: learned positions and vLLM stop there,
     * llama.cpp warns of a training context overflow beyond it. */
    uint64_t cap = m->max_ctx ? m->max_ctx : MAX_SEARCH;
    return search(m, s, cap, 0, out, err);
}

gpumem_status gpumem_max_batch(const gpumem_model *m, const gpumem_settings *s, uint64_t *out,
                               gpumem_error *err)
{
    return search(m, s, 1u << 20, 1, out, err);
}

gpumem_status gpumem_vllm_utilization_for(const gpumem_model *m, const gpumem_settings *base,
                                          double concurrency, double *out, gpumem_error *err)
{
    *out = 0;
    if (base->engine != GPUMEM_ENGINE_VLLM)
        return err_set(err, GPUMEM_ERR_USAGE, "a target concurrency applies to --engine vllm");
    if (!base->gpu)
        return err_set(err, GPUMEM_ERR_USAGE, "a target concurrency needs a --gpu");
    if (!(concurrency > 0) || concurrency > 1e6)
        return err_set(err, GPUMEM_ERR_USAGE,
                       "the target concurrency must be a number of requests in (0, 1e6]");
    gpumem_estimate *e = malloc(sizeof *e);
    if (!e)
        return err_set(err, GPUMEM_ERR_NOMEM, "out of memory");
    gpumem_settings s = *base;
    /* Hundredths of utilisation, as people pass it: hi is the first that
     * reaches the target (101: none up to 1.00). */
    int lo = 0, hi = 101;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        s.gpu_memory_utilization = mid / 100.0;
        gpumem_status st = gpumem_estimate_inference(m, &s, e, err);
        if (st != GPUMEM_OK) {
            free(e);
            return st;
        }
        if (e->vllm.starts && e->vllm.max_concurrency >= concurrency)
            hi = mid;
        else
            lo = mid;
    }
    free(e);
    *out = hi <= 100 ? hi / 100.0 : 0;
    return GPUMEM_OK;
}
