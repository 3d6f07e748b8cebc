/* vLLM's KV-cache planner, as vllm/v1/core/kv_cache_utils.py (0.11.0) and
 * kv_cache_planning.py (0.33.0) compute it: one spec per cached layer, the
 * layers grouped so every group has the same page size, the pool cut into
 * blocks, and the printed token capacity and concurrency. */
#include "engine_vllm_internal.h"
#include "util_internal.h"

#include <string.h>

vllm_kv_params vllm_kv_params_for(const vllm_version *v, uint32_t block_size, uint32_t kv_bytes,
                                  uint32_t state_bytes, uint32_t tp, uint32_t pp,
                                  uint64_t max_model_len, uint64_t max_num_batched_tokens)
{
    vllm_kv_params p;
    memset(&p, 0, sizeof p);
    p.block_size = block_size;
    p.kv_bytes = kv_bytes;
    p.state_bytes = state_bytes;
    p.tp = tp;
    p.pp = pp;
    p.max_model_len = max_model_len;
    p.max_num_batched_tokens = max_num_batched_tokens;
    p.tokens_rule = v->tokens_rule;
    /* VllmConfig.max_concurrent_batches (0.33.0): pp + 1 with async
     * scheduling in the V2 model runner; 0.11.0 counts one batch. */
    p.in_flight_batches = v->async_in_flight ? (pp ? pp : 1) + 1 : 1;
    p.null_block_reserved = v->null_block_reserved;
    p.check_by_groups = v->check_by_groups;
    p.group_max_if_close = v->group_max_if_close;
    p.hybrid = v->hybrid;
    p.ssm_dtype_per_model = v->ssm_dtype_per_model;
    p.chunked_as_full = v->chunked_as_full;
    return p;
}

/* A layer's spec on the most loaded rank; false when it caches nothing. */
static bool layer_spec(const model_layer *l, const vllm_kv_params *p, vllm_kv_type *t,
                       uint64_t *per_token)
{
    memset(t, 0, sizeof *t);
    if (l->ssm) {
        /* MambaSpec: conv state and SSM state per request, as
         * MambaStateShapeCalculator (mamba_utils.py, 0.11.0 and 0.33.0)
         * shapes them for one rank. Mamba-1: conv (d_conv - 1) x d_inner,
         * SSM d_inner x d_state, d_inner split over TP. Mamba-2: conv over
         * d_inner + 2 x groups x d_state channels (groups raised to the TP
         * size when TP does not divide them), SSM heads x head_dim x
         * d_state, heads split over TP. Both in the model dtype, NemotronH's
         * SSM state in its own dtype where the version says so. */
        uint64_t conv = l->ssm_d_conv ? l->ssm_d_conv - 1 : 0, conv_ch, ssm;
        if (l->ssm_heads) {
            uint64_t g = l->ssm_groups;
            if (g % p->tp)
                g = p->tp;
            conv_ch = div_up((uint64_t)l->ssm_d_inner + 2 * g * l->ssm_d_state, p->tp);
            ssm = div_up(l->ssm_heads, p->tp) * l->ssm_head_dim * l->ssm_d_state;
        } else {
            conv_ch = div_up(l->ssm_d_inner, p->tp);
            ssm = conv_ch * l->ssm_d_state;
        }
        uint64_t ssm_b = p->ssm_dtype_per_model && l->ssm_vllm_state_f32 ? 4 : p->state_bytes;
        t->kind = VLLM_SPEC_MAMBA;
        t->page_bytes = conv * conv_ch * p->state_bytes + ssm * ssm_b;
        *per_token = 0;
        return t->page_bytes != 0;
    }
    if (l->attn == ATTN_KIND_NONE)
        return false;
    if (l->attn == ATTN_KIND_MLA) {
        /* MLAAttentionSpec: one latent of kv_lora_rank + rope dim, the same
         * on every TP rank. */
        t->kind = VLLM_SPEC_MLA;
        *per_token = ((uint64_t)l->kv_lora_rank + l->qk_rope_dim) * p->kv_bytes;
    } else {
        /* AttentionSpec: K and V of the rank's KV heads; with more ranks
         * than KV heads each rank keeps one replicated head. */
        uint64_t heads = l->n_head_kv >= p->tp ? l->n_head_kv / p->tp : 1;
        /* Llama 4's chunked layers (llama4.py: those with RoPE) are
         * ChunkedLocalAttention with the configured block size
         * (chunked_local_attention.py get_kv_cache_spec, 0.33.0;
         * gpu_model_runner.py get_kv_cache_spec, 0.11.0). */
        t->kind = l->attn != ATTN_KIND_SLIDING ? VLLM_SPEC_FULL
                  : l->chunked                 ? VLLM_SPEC_CHUNKED
                                               : VLLM_SPEC_SLIDING;
        t->window = l->attn == ATTN_KIND_SLIDING ? l->window : 0;
        *per_token = heads * ((uint64_t)l->head_dim_k + l->head_dim_v) * p->kv_bytes;
    }
    t->page_bytes = *per_token * p->block_size;
    return *per_token != 0;
}

typedef struct {
    vllm_kv_type t;
    uint64_t per_token; /* 0 for Mamba */
    uint32_t block_size;
    uint32_t state_pages; /* Mamba: pages one request holds */
} kv_type_ex;

/* Bytes one request at `len` tokens needs in one layer of type t
 * (KVCacheSpec.max_memory_usage_bytes); `in_flight` is the tokens scheduled
 * but not yet freed: max_num_batched_tokens in 0.11.0, max_in_flight_tokens
 * (one max_num_batched_tokens per concurrent batch) in 0.33.0. */
static uint64_t type_max_memory(const kv_type_ex *t, uint64_t len, uint64_t in_flight)
{
    switch (t->t.kind) {
    case VLLM_SPEC_SLIDING: {
        /* The last window - 1 tokens plus the tokens in flight, and one more
         * block because the window rarely starts on a block boundary. */
        uint64_t n = (uint64_t)t->t.window - 1 + in_flight;
        if (n > len)
            n = len;
        return (div_up(n, t->block_size) + 1) * t->t.page_bytes;
    }
    case VLLM_SPEC_CHUNKED: {
        /* ChunkedLocalAttentionSpec: at most one chunk of computed tokens
         * plus the tokens in flight, never more than len; no extra block. */
        uint64_t n = (uint64_t)t->t.window + in_flight;
        return div_up(n < len ? n : len, t->block_size) * t->t.page_bytes;
    }
    case VLLM_SPEC_MAMBA:
        return t->state_pages * t->t.page_bytes;
    default:
        return div_up(len, t->block_size) * t->t.page_bytes;
    }
}

/* check_enough_kv_cache_memory's need for one request of `len` tokens:
 * 0.11.0 sums every layer's bytes (max_memory_usage_bytes); 0.33.0 counts
 * each group's whole blocks times the pool's bytes per block
 * (_max_memory_usage_bytes_from_groups), so padding layers count too. */
static uint64_t needed_bytes(const kv_type_ex *ts, size_t n, const vllm_kv_params *p,
                             uint64_t bytes_per_block, uint64_t len, uint64_t in_flight)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t b = type_max_memory(&ts[i], len, in_flight);
        if (p->check_by_groups)
            sum += ts[i].t.n_groups * div_up(b, ts[i].t.page_bytes) * bytes_per_block;
        else
            sum += ts[i].t.n_layers * b;
    }
    return sum;
}

static uint64_t in_flight_tokens(const vllm_kv_params *p)
{
    return (p->in_flight_batches ? p->in_flight_batches : 1) * p->max_num_batched_tokens;
}

/* Collects the distinct specs of the rank's layers (pipeline stage 0 holds
 * the first ceil(n_layer / pp) layers). */
static size_t collect_types(const gpumem_model *m, const vllm_kv_params *p, kv_type_ex *ts,
                            size_t cap, gpumem_error *err, gpumem_status *st)
{
    size_t n = 0;
    uint32_t layers = (uint32_t)div_up(m->n_layer, p->pp ? p->pp : 1);
    *st = GPUMEM_OK;
    for (uint32_t i = 0; i < layers && m->layers; i++) {
        kv_type_ex e;
        memset(&e, 0, sizeof e);
        if (!layer_spec(&m->layers[i], p, &e.t, &e.per_token))
            continue;
        size_t j = 0;
        while (j < n && !(ts[j].t.kind == e.t.kind && ts[j].t.window == e.t.window &&
                          ts[j].t.page_bytes == e.t.page_bytes))
            j++;
        if (j == n) {
            if (n == cap) {
                *st = err_set(err, GPUMEM_ERR_UNSUPPORTED,
                              "more than %zu kinds of KV-cache layers", cap);
                return 0;
            }
            /* A Mamba spec's block is the whole request: block_size =
             * max_model_len (0.11.0 GPUModelRunner.get_kv_cache_spec; 0.33.0
             * mamba_block_size without prefix caching, models/config.py),
             * one page per request (MambaSpec.max_memory_usage_bytes).
             * Hybrids in align mode: unify_mamba. */
            e.block_size = e.t.kind == VLLM_SPEC_MAMBA ? (uint32_t)p->max_model_len
                                                        : p->block_size;
            e.state_pages = 1;
            ts[n++] = e;
        }
        ts[j].t.n_layers++;
    }
    return n;
}

/* Hybrid attention + Mamba: vLLM raises the attention block size until one
 * attention page holds a Mamba state, then pads the Mamba page to the same
 * size. 0.11.0 (HybridAttentionMambaModelConfig.verify_and_update_config):
 * 16 x cdiv(state, 16 x per-token page). 0.33.0
 * (platforms/interface.py _align_hybrid_block_size, FlashAttention's
 * MultipleOf(16) kernel blocks, no Mamba prefill checkpoint alignment):
 * a = max(16, block size), a x cdiv(state, a x per-token page) rounded up
 * to 16; mamba_cache_mode "align" then gives Mamba the attention block
 * size and two state pages per request (MambaSpec.max_memory_usage_bytes). */
static void unify_mamba(kv_type_ex *ts, size_t n, const vllm_kv_params *p, uint32_t *attn_bs)
{
    uint64_t mamba = 0, attn_tok = 0;
    for (size_t i = 0; i < n; i++) {
        if (ts[i].t.kind == VLLM_SPEC_MAMBA && ts[i].t.page_bytes > mamba)
            mamba = ts[i].t.page_bytes;
        else if (ts[i].t.kind != VLLM_SPEC_MAMBA && ts[i].per_token > attn_tok)
            attn_tok = ts[i].per_token;
    }
    if (!mamba || !attn_tok)
        return;
    bool align = p->hybrid == VLLM_HYBRID_ALIGN;
    uint64_t a = align && *attn_bs > 16 ? *attn_bs : 16;
    uint64_t bs = a * div_up(mamba, a * attn_tok);
    bs = 16 * div_up(bs, 16);
    if (bs < *attn_bs)
        bs = *attn_bs;
    *attn_bs = (uint32_t)bs;
    for (size_t i = 0; i < n; i++) {
        if (ts[i].t.kind == VLLM_SPEC_MAMBA) {
            ts[i].t.page_bytes = bs * attn_tok;
            if (align) {
                ts[i].block_size = (uint32_t)bs;
                ts[i].state_pages = 2;
            }
        } else {
            ts[i].block_size = (uint32_t)bs;
            ts[i].t.page_bytes = ts[i].per_token * bs;
        }
    }
}

/* Different page sizes among attention layers: the smaller pages get a
 * larger block size so every page matches the largest
 * (unify_kv_cache_spec_page_size). */
static gpumem_status unify_pages(kv_type_ex *ts, size_t n, gpumem_error *err)
{
    uint64_t max = 0;
    for (size_t i = 0; i < n; i++)
        max = ts[i].t.page_bytes > max ? ts[i].t.page_bytes : max;
    for (size_t i = 0; i < n; i++) {
        uint64_t pg = ts[i].t.page_bytes;
        if (pg == max)
            continue;
        if (max % pg != 0)
            return err_set(err, GPUMEM_ERR_UNSUPPORTED,
                           "vLLM cannot unify KV page sizes %llu and %llu bytes",
                           (unsigned long long)pg, (unsigned long long)max);
        ts[i].block_size = (uint32_t)(ts[i].block_size * (max / pg));
        ts[i].t.page_bytes = max;
    }
    return GPUMEM_OK;
}

/* With the hybrid KV-cache manager off (chunked attention in 0.10.1 and
 * 0.11.0), unify_hybrid_kv_cache_specs (kv_cache_utils.py) turns sliding
 * and chunked layers into full ones when a full layer exists: they merge
 * into the full type and cache every token. Anything else still mixed is
 * refused, as vLLM raises ("failed to convert the KV cache specs to one
 * unified type"). Returns the new type count. */
static size_t pool_as_full(kv_type_ex *ts, size_t n, bool *converted, gpumem_error *err,
                           gpumem_status *st)
{
    size_t full = n;
    *st = GPUMEM_OK;
    *converted = false;
    for (size_t i = 0; i < n && full == n; i++)
        if (ts[i].t.kind == VLLM_SPEC_FULL)
            full = i;
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        bool local = ts[i].t.kind == VLLM_SPEC_SLIDING || ts[i].t.kind == VLLM_SPEC_CHUNKED;
        *converted |= local && full != n;
        if (local && full != n && ts[i].t.page_bytes == ts[full].t.page_bytes) {
            ts[full].t.n_layers += ts[i].t.n_layers;
            continue;
        }
        if (local && full != n) {
            /* same heads, other page: a full type of its own */
            ts[i].t.kind = VLLM_SPEC_FULL;
            ts[i].t.window = 0;
        }
        ts[out++] = ts[i];
        if (i == full)
            full = out - 1;
    }
    for (size_t i = 1; i < out; i++)
        if (ts[i].t.kind != ts[0].t.kind || ts[i].t.page_bytes != ts[0].t.page_bytes) {
            *st = err_set(err, GPUMEM_ERR_UNSUPPORTED,
                          "vLLM refuses to start: with the hybrid KV-cache manager off it cannot "
                          "unify these KV-cache layers (%s) into one type",
                          ts[i].t.kind == VLLM_SPEC_MAMBA || ts[0].t.kind == VLLM_SPEC_MAMBA
                              ? "Mamba and attention"
                              : "different kinds or page sizes");
            return 0;
        }
    return out;
}

static uint64_t blocks_per_request(const kv_type_ex *ts, size_t n, const vllm_kv_params *p,
                                   uint64_t len)
{
    /* Per group; 0.11 rounds the sum of the groups, 0.2x+ each group. */
    uint64_t sum = 0, page = ts[0].t.page_bytes;
    for (size_t i = 0; i < n; i++) {
        uint64_t b = type_max_memory(&ts[i], len, in_flight_tokens(p));
        if (p->tokens_rule == VLLM_TOKENS_CONCURRENCY)
            sum += ts[i].t.n_groups * div_up(b, ts[i].t.page_bytes);
        else
            sum += ts[i].t.n_groups * b;
    }
    return p->tokens_rule == VLLM_TOKENS_CONCURRENCY ? sum : div_up(sum, page);
}

gpumem_status vllm_plan_kv(const gpumem_model *m, const vllm_kv_params *p, uint64_t pool_bytes,
                           vllm_kv_plan *out, gpumem_error *err)
{
    memset(out, 0, sizeof *out);
    if (p->block_size == 0 || p->tp == 0 || p->max_model_len == 0)
        return err_set(err, GPUMEM_ERR_USAGE, "block size, TP size and max model len must be >= 1");
    kv_type_ex ts[4];
    gpumem_status st;
    size_t n = collect_types(m, p, ts, 4, err, &st);
    if (st != GPUMEM_OK)
        return st;
    out->attn_block_size = p->block_size;
    out->starts = true;
    if (n == 0) /* attention-free: no pool to check */
        return GPUMEM_OK;
    unify_mamba(ts, n, p, &out->attn_block_size);
    if ((st = unify_pages(ts, n, err)) != GPUMEM_OK)
        return st;
    /* 0.11.0 checks the memory (check_enough_kv_cache_memory) on the
     * layers' own specs, before get_kv_cache_groups pools local layers as
     * full ones: keep them for the check. 0.33.0 checks the groups, which
     * hold the pooled specs (check_by_groups). */
    kv_type_ex check[4];
    size_t n_check = n;
    memcpy(check, ts, sizeof check);
    /* The hybrid KV-cache manager is off when the user says so
     * (--disable-hybrid-kv-cache-manager), or by default for chunked
     * attention where the version turns it off; on when the user keeps it
     * on (VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE=1). */
    bool pooled = p->hma == 2;
    for (size_t i = 0; i < n && p->hma == 0; i++)
        pooled |= ts[i].t.kind == VLLM_SPEC_CHUNKED && p->chunked_as_full;
    if (pooled) {
        n = pool_as_full(ts, n, &out->local_as_full, err, &st);
        if (st != GPUMEM_OK)
            return st;
    }

    /* Groups (_get_kv_cache_groups_uniform_page_size): the smallest layer
     * count is the group size; each kind is split into that many-layer
     * groups, the last one padded. One kind: one group of all layers. */
    uint32_t gs = ts[0].t.n_layers, most = ts[0].t.n_layers;
    for (size_t i = 1; i < n; i++) {
        gs = ts[i].t.n_layers < gs ? ts[i].t.n_layers : gs;
        most = ts[i].t.n_layers > most ? ts[i].t.n_layers : most;
    }
    /* 0.19.0 on: kinds of nearly equal counts share the larger count, so
     * the smaller kind gets padding rather than extra groups. */
    if (p->group_max_if_close && 2ull * most < 3ull * gs)
        gs = most;
    for (size_t i = 0; i < n; i++) {
        ts[i].t.n_groups = (uint32_t)div_up(ts[i].t.n_layers, gs);
        out->n_groups += ts[i].t.n_groups;
    }
    if (!pooled || p->check_by_groups) { /* the check sees what is planned */
        memcpy(check, ts, sizeof check);
        n_check = n;
    } else /* 0.11.0 sums layers: the copy's groups only keep needed_bytes defined */
        for (size_t i = 0; i < n_check; i++)
            check[i].t.n_groups = (uint32_t)div_up(check[i].t.n_layers, gs);
    out->group_size = gs;
    for (size_t i = 0; i < n; i++)
        out->types[out->n_types++] = ts[i].t;
    out->bytes_per_block = ts[0].t.page_bytes * gs;
    out->num_blocks = pool_bytes / out->bytes_per_block;

    /* min over the groups' block sizes, Mamba's (max_model_len) included. */
    uint32_t min_bs = ts[0].block_size;
    for (size_t i = 0; i < n; i++)
        if (ts[i].block_size < min_bs)
            min_bs = ts[i].block_size;
    out->blocks_per_request = blocks_per_request(ts, n, p, p->max_model_len);
    if (out->blocks_per_request)
        out->max_concurrency = (double)out->num_blocks / (double)out->blocks_per_request;
    if (p->tokens_rule == VLLM_TOKENS_CONCURRENCY)
        out->tokens = (uint64_t)(out->max_concurrency * (double)p->max_model_len);
    else
        out->tokens = out->num_blocks / out->n_groups * min_bs;

    /* check_enough_kv_cache_memory and estimate_max_model_len: the sum over
     * layers of one max_model_len request must fit the pool, less the null
     * block in 0.33.0. */
    uint64_t in_flight = in_flight_tokens(p);
    uint64_t usable = pool_bytes;
    if (p->null_block_reserved)
        usable = usable > out->bytes_per_block ? usable - out->bytes_per_block : 0;
    out->needed_bytes =
        needed_bytes(check, n_check, p, out->bytes_per_block, p->max_model_len, in_flight);
    out->starts = usable > 0 && out->needed_bytes <= usable;
    uint64_t lo = 1, hi = p->max_model_len > m->max_ctx ? p->max_model_len : m->max_ctx;
    if (usable == 0 || needed_bytes(check, n_check, p, out->bytes_per_block, 1, in_flight) > usable)
        return GPUMEM_OK;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo + 1) / 2;
        if (needed_bytes(check, n_check, p, out->bytes_per_block, mid, in_flight) <= usable)
            lo = mid;
        else
            hi = mid - 1;
    }
    out->max_model_len_limit = lo;
    return GPUMEM_OK;
}
