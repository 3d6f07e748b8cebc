/* `gpumem fit` over several GPUs: the procedure of llama_params_fit in
 * llama.cpp de3ff81 (common/fit.cpp, common_params_fit_impl; earlier builds
 * had it as llama_params_fit_impl in src/llama.cpp, PR #16653 per
 * REFERENCE.md, not checked against git history), with gpumem's estimate
 * standing in for its dry-run loads (plus what a dry run counts beyond a
 * load, dry_run_extra; the plan's own estimate is the load's):
 *  1. default parameters (every layer, split by free memory = budgets):
 *     done when every device leaves its margin;
 *  2. only when the devices together are short and -c was not given: the
 *     context by linear interpolation between n_ctx_min x streams and the
 *     trained context x sequences, less a reserve of (n + 1) x model bytes
 *     per layer / 2 (dense) or / 6 (MoE) for whole-layer waste, rounded
 *     down to 256 x streams; one device stops here;
 *  3. layers fill the devices back to front, the count of each found by
 *     false position between 0 and every unassigned layer; MoE layers go
 *     "dense-only" (experts on the host) at the back of each device's range,
 *     the last device's output layer always full;
 *  4. MoE, when every dense part fits with room to spare: dense-only layers
 *     become full layers front to back, again by false position; each
 *     device then tries one more layer split by tensor, its attention and
 *     up projections there, the rest of its FFN on the next device (the
 *     host after the last): if that fits, also its gates; if not, only its
 *     attention (-ot blk\.N\.ffn_...=CUDA<k> or CPU, expert_override.c). */
#include "fit_internal.h"

#include <stdio.h>
#include <string.h>

static const uint64_t MiB = 1ull << 20;

/* What the first dense-only layer of a device keeps on it (common/fit.cpp
 * common_layer_fraction_t): FRAC_MOE everything but the experts, as every
 * other dense-only layer; the split layers of step 4: FRAC_ATTN only the
 * attention, FRAC_UP also the up projections, FRAC_GATE also the gates. */
typedef enum { FRAC_MOE = 0, FRAC_ATTN, FRAC_UP, FRAC_GATE } frac_t;

typedef struct {
    uint32_t n_layer; /* layers on the device, output layer included */
    uint32_t n_part;  /* of them, dense-only (experts on the host) */
    frac_t frac;      /* the first dense-only layer's split */
    bool to_next;     /* its FFN rest on the next device, not the host */
} ngl_t;

typedef struct {
    const gpumem_model *m;
    gpumem_settings s; /* targets resolved; context and user placement */
    uint32_t nd;
    int64_t target[GPUMEM_MAX_SPLIT]; /* budget - margin */
    gpumem_estimate *e;
    gpumem_error *err;
    const gpumem_settings *given; /* as the caller gave them */
} planner;

bool fit_needs_multi(const gpumem_settings *s)
{
    bool mask = false;
    for (size_t w = 0; w < GPUMEM_MAX_MASK_LAYERS / 64; w++)
        mask |= s->cpu_moe_mask[w] != 0;
    return s->n_targets > 1 || (!s->n_targets && s->gpus > 1) || s->n_cpu_moe != 0 || mask;
}

static void mark(uint64_t *mask, uint32_t il) { mask[il / 64] |= 1ull << (il % 64); }

static const gpumem_ffn_part frac_part[] = {[FRAC_ATTN] = GPUMEM_FFN_ALL,
                                            [FRAC_UP] = GPUMEM_FFN_GATE_DOWN,
                                            [FRAC_GATE] = GPUMEM_FFN_DOWN};

/* The dense-only layers of a layout: on each device the last n_part of its
 * range, the first of them split as its frac says (llama.cpp's
 * set_ngl_tensor_split_tbo); the output layer has no experts. Into s:
 * cpu_moe_mask and ffn_moves. */
static void layout_overrides(const planner *P, const ngl_t *cfg, gpumem_settings *s)
{
    uint32_t ngl = 0, nl = P->m->n_layer;
    for (uint32_t d = 0; d < P->nd; d++)
        ngl += cfg[d].n_layer;
    uint32_t il0 = nl + 1 - ngl;
    for (uint32_t d = 0; d < P->nd; d++) {
        il0 += cfg[d].n_layer - cfg[d].n_part;
        for (uint32_t il = il0; il < il0 + cfg[d].n_part; il++) {
            if (il >= nl || il >= GPUMEM_MAX_MASK_LAYERS)
                continue;
            if (il == il0 && cfg[d].frac != FRAC_MOE && s->n_ffn_moves < GPUMEM_MAX_FFN_MOVES)
                s->ffn_moves[s->n_ffn_moves++] = (gpumem_ffn_move){
                    il, frac_part[cfg[d].frac], cfg[d].to_next ? (int)d + 1 : -1};
            else
                mark(s->cpu_moe_mask, il);
        }
        il0 += cfg[d].n_part;
    }
}

/* The settings of a layout: -ngl, -ts as layer counts, -ot. */
static gpumem_settings layout_settings(const planner *P, const ngl_t *cfg)
{
    gpumem_settings s = P->s;
    uint32_t ngl = 0;
    for (uint32_t d = 0; d < P->nd; d++) {
        ngl += cfg[d].n_layer;
        s.tensor_split[d] = cfg[d].n_layer;
    }
    if (!ngl)
        memset(s.tensor_split, 0, sizeof s.tensor_split);
    s.n_gpu_layers = (int)ngl;
    layout_overrides(P, cfg, &s);
    return s;
}

/* What llama.cpp's dry run counts beyond a load on device d (d > 0): its
 * planner measures with no_alloc (ggml_backend_sched_reserve_size), which
 * resets the scheduler before splitting the graph and so drops the backend
 * llama_context::graph_get_cb pins each layer's first norm to; every device
 * after the first then takes that norm's input as one more split input, 4
 * copies under pipeline parallelism: 4 x ubatch x n_embd x f32 (dense-1b,
 * 32768 cells, 2 devices: 226 MiB dry vs 210.55 MiB at load on device 1,
 * validation/measurements/llamacpp_pipeline.jsonl; llama.cpp de3ff81).
 * Counted only where measured, under pipeline parallelism: every layer
 * offloaded, layer split, no tensor overrides, the KV cache offloaded. */
static int64_t dry_run_extra(const planner *P, const gpumem_settings *t, uint32_t d)
{
    bool overrides = t->n_cpu_moe != 0 || t->n_ffn_moves != 0;
    for (size_t w = 0; w < GPUMEM_MAX_MASK_LAYERS / 64; w++)
        overrides |= t->cpu_moe_mask[w] != 0;
    bool all = t->n_gpu_layers < 0 || (uint32_t)t->n_gpu_layers > P->m->n_layer;
    bool pipeline = P->nd > 1 && all && t->split_mode == GPUMEM_SPLIT_LAYER &&
                    !t->no_kv_offload && !overrides;
    if (!pipeline || d == 0 || !P->e->devices[d].bytes)
        return 0;
    uint64_t n_batch = t->batch > 1 ? t->batch : 2048, ub = t->n_ubatch ? t->n_ubatch : 512;
    n_batch = n_batch < t->context ? n_batch : t->context;
    ub = ub < n_batch ? ub : n_batch;
    return (int64_t)(4 * ub * P->m->n_embd * 4);
}

/* Device bytes of settings t into mem, as llama.cpp's dry run counts them;
 * false on error. */
static bool measure(planner *P, const gpumem_settings *t, int64_t *mem)
{
    if (gpumem_estimate_inference(P->m, t, P->e, P->err) != GPUMEM_OK)
        return false;
    for (uint32_t d = 0; d < P->nd; d++)
        mem[d] = (int64_t)P->e->devices[d].bytes + dry_run_extra(P, t, d);
    return true;
}

static bool measure_layout(planner *P, const ngl_t *cfg, int64_t *mem)
{
    gpumem_settings t = layout_settings(P, cfg);
    return measure(P, &t, mem);
}

/* Default parameters at the current context: every layer, split by budget. */
static bool measure_default(planner *P, int n_cpu_moe, int64_t *mem)
{
    gpumem_settings t = P->s;
    t.n_gpu_layers = -1;
    memset(t.tensor_split, 0, sizeof t.tensor_split);
    if (n_cpu_moe)
        t.n_cpu_moe = n_cpu_moe;
    return measure(P, &t, mem);
}

/* llama.cpp's step size between a fitting low and a failing high. */
static uint32_t false_position(uint32_t delta, int64_t target, int64_t low, int64_t high)
{
    uint32_t step = (uint32_t)((int64_t)delta * (target - low) / (high - low));
    step = step > 1 ? step : 1;
    return step < delta - 1 ? step : delta - 1;
}

/* Step 3: back to front, device by device. */
static bool fill_back_to_front(planner *P, bool moe, ngl_t *cfg, int64_t *mem)
{
    uint32_t nd = P->nd;
    if (!measure_layout(P, cfg, mem))
        return false;
    for (int id = (int)nd - 1; id >= 0; id--) {
        uint32_t unassigned = P->m->n_layer + 1;
        for (uint32_t jd = (uint32_t)id + 1; jd < nd; jd++)
            unassigned -= cfg[jd].n_layer;
        ngl_t high[GPUMEM_MAX_SPLIT], test[GPUMEM_MAX_SPLIT];
        int64_t mem_high[GPUMEM_MAX_SPLIT], mem_test[GPUMEM_MAX_SPLIT];
        memcpy(high, cfg, sizeof high);
        high[id].n_layer = unassigned;
        if (moe)
            high[id].n_part = (uint32_t)id < nd - 1 ? unassigned : unassigned - 1;
        if (!high[id].n_layer)
            continue;
        if (!measure_layout(P, high, mem_high))
            return false;
        if (mem_high[id] <= P->target[id]) {
            memcpy(cfg, high, sizeof high);
            memcpy(mem, mem_high, sizeof mem_high);
            continue;
        }
        uint32_t delta = high[id].n_layer - cfg[id].n_layer;
        while (delta > 1) {
            uint32_t step = false_position(delta, P->target[id], mem[id], mem_high[id]);
            memcpy(test, cfg, sizeof test);
            test[id].n_layer += step;
            if (moe) /* the output layer, first on the last device, is always full */
                test[id].n_part += (uint32_t)id == nd - 1 && !test[id].n_part ? step - 1 : step;
            if (!measure_layout(P, test, mem_test))
                return false;
            if (mem_test[id] <= P->target[id]) {
                memcpy(cfg, test, sizeof test);
                memcpy(mem, mem_test, sizeof mem_test);
            } else {
                memcpy(high, test, sizeof test);
                memcpy(mem_high, mem_test, sizeof mem_test);
            }
            delta = high[id].n_layer - cfg[id].n_layer;
        }
    }
    return true;
}

static uint32_t n_full(const ngl_t *n) { return n->n_layer - n->n_part; }

/* Whether test fits device id (and the next one, which a split layer may
 * overflow to): strictly below the target, as common/fit.cpp asks here. */
static bool fits_split(const planner *P, uint32_t id, const int64_t *mem)
{
    return mem[id] < P->target[id] && (id + 1 == P->nd || mem[id + 1] < P->target[id + 1]);
}

/* Step 4's end for device id: "try to fit at least part of one more layer"
 * (common/fit.cpp, de3ff81): the first dense-only layer of the back moves
 * to id as its first dense-only layer with attention and up there, the
 * rest of its FFN on the next device (the host after the last): if that
 * fits, also the gates there (FRAC_GATE); if not, only the attention
 * (FRAC_ATTN). */
static bool one_more_layer(planner *P, uint32_t id, uint32_t *dense_start, ngl_t *cfg,
                           int64_t *mem)
{
    uint32_t nd = P->nd, ds = *dense_start;
    if (!(cfg[ds].n_layer > (id < nd - 1 ? 0u : 1u)))
        return true;
    ngl_t test[GPUMEM_MAX_SPLIT];
    int64_t mem_test[GPUMEM_MAX_SPLIT];
    memcpy(test, cfg, sizeof test);
    test[ds].n_layer--;
    test[ds].n_part--; /* wraps and comes back when ds == id, as llama.cpp's uint32_t */
    test[id].n_layer++;
    test[id].n_part++;
    uint32_t ds_test = test[ds].n_part == 0 ? ds + 1 : ds;
    test[id].frac = FRAC_UP;
    if (id < nd - 1)
        test[id].to_next = true;
    if (!measure_layout(P, test, mem_test))
        return false;
    bool up = fits_split(P, id, mem_test);
    if (up) {
        memcpy(cfg, test, sizeof test);
        memcpy(mem, mem_test, sizeof mem_test);
        *dense_start = ds_test;
    }
    test[id].frac = up ? FRAC_GATE : FRAC_ATTN;
    if (!measure_layout(P, test, mem_test))
        return false;
    if (fits_split(P, id, mem_test)) {
        memcpy(cfg, test, sizeof test);
        memcpy(mem, mem_test, sizeof mem_test);
        *dense_start = ds_test;
    }
    return true;
}

/* Step 4: dense-only layers of the back devices become full layers of the
 * front ones. */
static bool convert_front_to_back(planner *P, ngl_t *cfg, int64_t *mem)
{
    uint32_t nd = P->nd, dense_start = nd;
    for (int id = (int)nd - 1; id >= 0 && cfg[id].n_layer > 0; id--)
        dense_start = (uint32_t)id;
    for (uint32_t id = 0; id <= dense_start && dense_start < nd; id++) {
        ngl_t high[GPUMEM_MAX_SPLIT], test[GPUMEM_MAX_SPLIT];
        int64_t mem_high[GPUMEM_MAX_SPLIT], mem_test[GPUMEM_MAX_SPLIT];
        memcpy(high, cfg, sizeof high);
        for (uint32_t jd = dense_start; jd < nd; jd++) {
            uint32_t move = jd < nd - 1 ? high[jd].n_layer : high[jd].n_layer - 1;
            high[id].n_layer += move;
            high[jd].n_layer -= move;
            high[jd].n_part = 0;
        }
        uint32_t dense_start_high = nd - 1;
        if (!measure_layout(P, high, mem_high))
            return false;
        if (mem_high[id] <= P->target[id]) {
            memcpy(cfg, high, sizeof high);
            memcpy(mem, mem_high, sizeof mem_high);
            dense_start = dense_start_high;
        }
        uint32_t delta = mem_high[id] <= P->target[id] ? 0 : n_full(&high[id]) - n_full(&cfg[id]);
        while (delta > 1) {
            uint32_t step = false_position(delta, P->target[id], mem[id], mem_high[id]);
            memcpy(test, cfg, sizeof test);
            uint32_t ds = dense_start, done = 0;
            for (; ds < nd; ds++) {
                uint32_t conv = step - done < test[ds].n_part ? step - done : test[ds].n_part;
                test[ds].n_layer -= conv;
                test[ds].n_part -= conv;
                test[id].n_layer += conv;
                done += conv;
                if (test[ds].n_part > 0)
                    break;
            }
            if (!measure_layout(P, test, mem_test))
                return false;
            if (mem_test[id] <= P->target[id]) {
                memcpy(cfg, test, sizeof test);
                memcpy(mem, mem_test, sizeof mem_test);
                dense_start = ds;
            } else {
                memcpy(high, test, sizeof test);
                memcpy(mem_high, mem_test, sizeof mem_test);
            }
            delta = n_full(&high[id]) - n_full(&cfg[id]);
        }
        if (!one_more_layer(P, id, &dense_start, cfg, mem))
            return false;
    }
    return true;
}

/* llama.cpp's split of n offloaded layers by shares (llama-model.cpp
 * load_tensors: layer i to the first device whose cumulative share
 * exceeds i / n, in float), as layer counts. */
static void split_counts(const gpumem_settings *s, uint32_t nd, uint32_t n, ngl_t *cfg)
{
    float cum[GPUMEM_MAX_SPLIT], sum = 0;
    for (uint32_t d = 0; d < nd; d++) {
        sum += (float)target_budget(&s->targets[d]);
        cum[d] = sum;
    }
    for (uint32_t d = 0; d < nd; d++)
        cum[d] /= sum;
    for (uint32_t i = 0; i < n; i++) {
        float x = (float)i / (float)n;
        uint32_t d = 0;
        while (d + 1 < nd && !(cum[d] > x))
            d++;
        cfg[d].n_layer++;
    }
}

static uint64_t weights_on(const gpumem_device *d)
{
    for (size_t i = 0; i < d->n_components; i++)
        if (!strcmp(d->components[i].name, "weights"))
            return d->components[i].bytes;
    return 0;
}

static int64_t sum(const int64_t *v, uint32_t n)
{
    int64_t t = 0;
    for (uint32_t i = 0; i < n; i++)
        t += v[i];
    return t;
}

/* Step 2; *by_ctx: the interpolation found a context (llama.cpp stops
 * there for one device). Returns false on error. */
static bool shrink_context(planner *P, const gpumem_fit_request *req, uint64_t n_ctx_max,
                           uint64_t n_ctx_min, uint64_t align, const int64_t *used_max,
                           int64_t model_bytes, bool moe, bool *by_ctx)
{
    int64_t used_target = sum(P->target, P->nd);
    *by_ctx = false;
    if (req->context_set || n_ctx_max <= n_ctx_min || used_target - sum(used_max, P->nd) >= 0)
        return true;
    if (P->nd > 1) /* whole layers (dense) or whole tensors (MoE) waste half of one per device */
        used_target -= (int64_t)(P->nd + 1) * (model_bytes / P->m->n_layer) / (moe ? 6 : 2);
    int64_t used_min[GPUMEM_MAX_SPLIT];
    P->s.context = n_ctx_min;
    if (!measure_default(P, 0, used_min))
        return false;
    int64_t lo = sum(used_min, P->nd), hi = sum(used_max, P->nd);
    if (used_target > lo) {
        uint64_t ctx = n_ctx_min + (n_ctx_max - n_ctx_min) * (uint64_t)(used_target - lo) /
                                       (uint64_t)(hi - lo);
        ctx -= ctx % align;
        P->s.context = ctx > n_ctx_min ? ctx : n_ctx_min;
        *by_ctx = true;
    }
    return true;
}

/* Largest v in [lo, hi] for which every layer on the GPUs (default split)
 * fits every device once `set` has put v (and `arg`) into the settings;
 * *out 0 when none does. P->s is left as it was. */
static bool largest_default(planner *P, uint64_t lo, uint64_t hi,
                            void (*set)(gpumem_settings *, uint64_t v, uint64_t arg),
                            uint64_t arg, uint64_t *out)
{
    gpumem_settings keep = P->s;
    int64_t mem[GPUMEM_MAX_SPLIT];
    uint64_t best = 0;
    while (lo <= hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        set(&P->s, mid, arg);
        if (!measure_default(P, 0, mem)) {
            P->s = keep;
            return false;
        }
        bool ok = true;
        for (uint32_t d = 0; d < P->nd; d++)
            ok &= mem[d] <= P->target[d];
        if (ok) {
            best = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    P->s = keep;
    *out = best;
    return true;
}

static void set_context(gpumem_settings *s, uint64_t v, uint64_t unused)
{
    (void)unused;
    s->context = v;
}

/* -np v, each sequence with per_seq cells. */
static void set_parallel(gpumem_settings *s, uint64_t v, uint64_t per_seq)
{
    s->n_parallel = (uint32_t)v;
    s->context = per_seq * v;
}

static void put(char *buf, size_t cap, size_t *n, const char *fmt, uint64_t v)
{
    if (*n < cap)
        *n += (size_t)snprintf(buf + *n, cap - *n, fmt, (unsigned long long)v);
}

static void put_str(char *buf, size_t cap, size_t *n, const char *str)
{
    if (*n < cap)
        *n += (size_t)snprintf(buf + *n, cap - *n, "%s", str);
}

/* The flags of the final settings t. */
static void write_flags(gpumem_fit_plan *p, const gpumem_settings *t, const ngl_t *cfg,
                        uint32_t nd, const gpumem_model *m)
{
    size_t n = 0, cap = sizeof p->flags;
    put(p->flags, cap, &n, "-c %llu", t->context);
    put(p->flags, cap, &n, " -ngl %llu", (uint64_t)t->n_gpu_layers);
    for (uint32_t d = 0; d < nd && nd > 1 && t->n_gpu_layers > 0; d++)
        put(p->flags, cap, &n, d ? ",%llu" : " -ts %llu", cfg[d].n_layer);
    if (t->n_cpu_moe < 0 || (uint32_t)t->n_cpu_moe >= m->n_layer)
        put(p->flags, cap, &n, " --cpu-moe", 0);
    else if (t->n_cpu_moe > 0)
        put(p->flags, cap, &n, " --n-cpu-moe %llu", (uint64_t)t->n_cpu_moe);
    /* -ot: the split layers as llama.cpp writes them, then the layers
     * whose experts are on the host in one alternation */
    bool first = true;
    for (uint32_t k = 0; k < t->n_ffn_moves; k++) {
        const gpumem_ffn_move *mv = &t->ffn_moves[k];
        put(p->flags, cap, &n, first ? " -ot 'blk\\.%llu\\." : ",blk\\.%llu\\.", mv->layer);
        put_str(p->flags, cap, &n, ffn_part_pattern(mv->part));
        if (mv->device < 0)
            put_str(p->flags, cap, &n, "=CPU");
        else
            put(p->flags, cap, &n, "=CUDA%llu", (uint64_t)mv->device);
        first = false;
    }
    bool alt = false;
    for (uint32_t il = 0; il < m->n_layer && il < GPUMEM_MAX_MASK_LAYERS; il++)
        if (cpu_moe_masked(t->cpu_moe_mask, il) && m->layers[il].n_expert) {
            const char *fmt = first ? " -ot 'blk\\.(%llu" : alt ? "|%llu" : ",blk\\.(%llu";
            put(p->flags, cap, &n, fmt, il);
            first = false;
            alt = true;
        }
    if (alt)
        put(p->flags, cap, &n, ")\\.ffn_(up|down|gate_up|gate)_(ch|)exps=CPU", 0);
    if (!first)
        put(p->flags, cap, &n, "'", 0);
    if (n >= cap) /* never cut a flag in half */
        snprintf(p->flags, cap, "(too long to print: -ngl %d over %u GPUs)", t->n_gpu_layers, nd);
}

static gpumem_status resolve_targets(const gpumem_settings *s, const gpumem_fit_request *req,
                                     planner *P)
{
    P->nd = s->n_targets ? s->n_targets : s->gpus;
    if (P->nd > GPUMEM_MAX_SPLIT)
        return err_set(P->err, GPUMEM_ERR_USAGE, "llama.cpp takes at most %d devices (got %u)",
                       GPUMEM_MAX_SPLIT, P->nd);
    for (uint32_t d = 0; d < P->nd; d++) {
        gpumem_device_target *t = &P->s.targets[d];
        if (!s->n_targets)
            *t = (gpumem_device_target){s->gpu, 0, 0};
        if (!t->gpu)
            return err_set(P->err, GPUMEM_ERR_USAGE, "fit needs a --gpu");
        t->budget = t->budget ? t->budget : req->budget ? req->budget : t->gpu->memory_bytes;
        t->margin = t->margin ? t->margin : req->margin ? req->margin : 1024 * MiB;
        if (t->budget <= t->margin)
            return err_set(P->err, GPUMEM_ERR_USAGE,
                           "GPU %u (%s): the budget is smaller than the margin", d, t->gpu->id);
        P->target[d] = (int64_t)(t->budget - t->margin);
    }
    P->s.n_targets = P->nd;
    P->s.gpus = 1;
    P->s.gpu = NULL;
    return GPUMEM_OK;
}

static void set_note(gpumem_fit_plan *p, const gpumem_settings *s, const gpumem_fit_request *req,
                     bool user_moe)
{
    bool budgets = req->budget != 0;
    for (uint32_t d = 0; d < s->n_targets; d++)
        budgets |= s->targets[d].budget != 0;
    if (user_moe)
        snprintf(p->note, sizeof p->note,
                 "llama.cpp's --fit refuses a user -ot/--cpu-moe; this plan keeps it and fills "
                 "layers around it");
    else if (budgets)
        snprintf(p->note, sizeof p->note,
                 "llama.cpp's --fit uses each GPU's free memory, not a budget: run these flags "
                 "with -fit off");
}

static gpumem_status plan(planner *P, const gpumem_fit_request *req, gpumem_fit_plan *p)
{
    const gpumem_model *m = P->m;
    uint32_t nd = P->nd;
    bool user_moe = P->s.n_cpu_moe != 0 || P->s.n_ffn_moves != 0;
    for (size_t w = 0; w < GPUMEM_MAX_MASK_LAYERS / 64; w++)
        user_moe |= P->s.cpu_moe_mask[w] != 0;
    bool moe = false;
    for (uint32_t i = 0; i < m->n_layer; i++)
        moe |= m->layers[i].n_expert > 0;
    uint64_t n_seq = P->s.n_parallel ? P->s.n_parallel : 1;
    uint64_t n_streams = P->s.kv_unified ? 1 : n_seq;
    uint64_t n_ctx_max = req->context_set ? P->s.context : (m->max_ctx ? m->max_ctx : 4096) * n_seq;
    uint64_t n_ctx_min = (req->min_context ? req->min_context : 4096) * n_streams;
    ngl_t cfg[GPUMEM_MAX_SPLIT];
    int64_t mem[GPUMEM_MAX_SPLIT];
    memset(cfg, 0, sizeof cfg);

    /* 1. default parameters */
    P->s.context = n_ctx_max;
    if (!measure_default(P, 0, mem))
        return P->err->code;
    bool fits = true;
    for (uint32_t d = 0; d < nd; d++)
        fits &= mem[d] <= P->target[d];
    /* The largest context: up to the trained one, whatever -c asks. */
    uint64_t n_ctx_train = (m->max_ctx ? m->max_ctx : 4096) * n_seq;
    n_ctx_train = n_ctx_train > n_ctx_max ? n_ctx_train : n_ctx_max;
    if (!largest_default(P, 256, n_ctx_train < (1ull << 24) ? n_ctx_train : 1ull << 24,
                         set_context, 0, &p->max_context))
        return P->err->code;
    bool by_ctx = false;
    if (!fits) {
        /* 2. context */
        int64_t model = 0;
        for (uint32_t d = 0; d < nd; d++)
            model += (int64_t)weights_on(&P->e->devices[d]);
        if (!shrink_context(P, req, n_ctx_max, n_ctx_min, 256 * n_streams, mem, model,
                            moe && !user_moe, &by_ctx))
            return P->err->code;
    }
    if (fits || (nd == 1 && by_ctx)) {
        /* every layer, split as llama.cpp's default would */
        if (!measure_default(P, 0, mem))
            return P->err->code;
        split_counts(&P->s, nd, m->n_layer + 1, cfg);
    } else {
        /* 3. and 4. */
        bool expert_steps = moe && !user_moe;
        int64_t surplus_cpu_moe = 0, cpu_moe[GPUMEM_MAX_SPLIT];
        if (expert_steps) {
            if (!measure_default(P, -1, cpu_moe))
                return P->err->code;
            for (uint32_t d = 0; d < nd; d++)
                surplus_cpu_moe += P->target[d] - cpu_moe[d];
        }
        if (!fill_back_to_front(P, expert_steps, cfg, mem))
            return P->err->code;
        if (expert_steps && surplus_cpu_moe > 0 && !convert_front_to_back(P, cfg, mem))
            return P->err->code;
    }
    /* (It estimates into p->estimate, so before the plan's own.) Serving:
     * the largest -np (up to 256) at the plan's context per sequence. */
    p->parallel_context = P->s.context / n_streams;
    uint64_t np = 0;
    if (!largest_default(P, 1, 256, set_parallel, p->parallel_context, &np))
        return P->err->code;
    p->max_parallel = (uint32_t)np;
    gpumem_settings t = layout_settings(P, cfg);
    if (gpumem_estimate_inference(m, &t, &p->estimate, P->err) != GPUMEM_OK)
        return P->err->code;
    p->fits = p->estimate.fits == 1 && t.n_gpu_layers > 0;
    p->context = t.context;
    p->n_gpu_layers = t.n_gpu_layers;
    p->n_devices = nd;
    for (uint32_t d = 0; d < nd; d++)
        p->layers[d] = (int)cfg[d].n_layer;
    gpumem_settings planned = P->s;
    memset(planned.cpu_moe_mask, 0, sizeof planned.cpu_moe_mask);
    planned.n_ffn_moves = 0;
    layout_overrides(P, cfg, &planned);
    for (uint32_t d = 0, il0 = m->n_layer + 1 - (uint32_t)t.n_gpu_layers; d < nd; d++)
        for (uint32_t k = 0; k < cfg[d].n_layer; k++, il0++)
            if (il0 < m->n_layer && m->layers[il0].n_expert &&
                cpu_moe_masked(planned.cpu_moe_mask, il0)) {
                p->dense_only[d]++;
                p->n_cpu_moe++;
            }
    p->n_ffn_moves = planned.n_ffn_moves;
    memcpy(p->ffn_moves, planned.ffn_moves, sizeof p->ffn_moves);
    write_flags(p, &t, cfg, nd, m);
    set_note(p, P->given, req, user_moe);
    if (!p->fits) {
        uint32_t worst = 0;
        for (uint32_t d = 1; d < nd; d++)
            if ((int64_t)p->estimate.devices[d].bytes - P->target[d] >
                (int64_t)p->estimate.devices[worst].bytes - P->target[worst])
                worst = d;
        uint64_t need = p->estimate.devices[worst].bytes;
        /* What the cheapest changes would need with every layer on the GPUs
         * (default split): a q8_0 KV cache, and a 512-cell context. */
        char kv[112] = "", ctx[112] = "";
        gpumem_settings keep = P->s;
        P->s.cache_type_k = P->s.cache_type_v = 9; /* Q8_0 (id 8) + 1 */
        P->s.flash_attn = 1;
        if (measure_default(P, 0, mem))
            snprintf(kv, sizeof kv, "-ctk q8_0 -ctv q8_0 -fa on: GPU %u needs %.0f MiB", worst,
                     (double)mem[worst] / MiB);
        P->s = keep;
        P->s.context = 512 * n_streams;
        if (measure_default(P, 0, mem))
            snprintf(ctx, sizeof ctx, "-c %llu: GPU %u needs %.0f MiB",
                     (unsigned long long)P->s.context, worst, (double)mem[worst] / MiB);
        P->s = keep;
        /* (those estimates went into p->estimate: the plan's again) */
        if (gpumem_estimate_inference(m, &t, &p->estimate, P->err) != GPUMEM_OK)
            return P->err->code;
        snprintf(p->advice, sizeof p->advice,
                 "nothing fits: GPU %u (%s) needs %.0f MiB with %s, %.0f MiB allowed "
                 "(budget - margin); options: %s; %s; or a smaller quant",
                 worst, P->s.targets[worst].gpu->id, (double)need / MiB,
                 t.n_gpu_layers ? "this plan" : "no layer (one more does not fit)",
                 (double)P->target[worst] / MiB, kv[0] ? kv : "-ctk q8_0 -ctv q8_0 -fa on",
                 ctx[0] ? ctx : "a smaller -c");
    }
    return GPUMEM_OK;
}

gpumem_status fit_multi(const gpumem_model *m, const gpumem_settings *s,
                        const gpumem_fit_request *req, gpumem_fit_plan *p, gpumem_error *err)
{
    planner P = {m, *s, 0, {0}, &p->estimate, err, s};
    P.s.engine = GPUMEM_ENGINE_LLAMACPP;
    gpumem_status st = resolve_targets(s, req, &P);
    if (st != GPUMEM_OK)
        return st;
    if (m->n_layer + 1 > GPUMEM_MAX_MASK_LAYERS)
        return err_set(err, GPUMEM_ERR_UNSUPPORTED,
                       "llama.cpp's --fit places at most 1000 layers; this model has %u",
                       m->n_layer);
    return plan(&P, req, p);
}
