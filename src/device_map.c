/* device_map="auto" | "balanced" | "balanced_low_0" | "sequential": the
 * placement transformers 5.24.0 computes in from_pretrained
 * (integrations/accelerate.py: _get_device_map, get_balanced_memory,
 * infer_auto_device_map; accelerate 1.15.0 for get_max_layer_size), on the
 * tree accelerate walks for a *ForCausalLM: the root's children "model"
 * and "lm_head"; model's children embed_tokens, layers (a ModuleList of
 * decoder layers, the no-split class), norm and rotary_emb (buffers). A
 * multimodal *ForConditionalGeneration's model holds the vision tower, the
 * projector and language_model, which holds those four. The tower and the
 * projector are single nodes here: accelerate would split them into their
 * own modules when they do not fit, which is reported as unsupported;
 * their inner modules are taken as smaller than the text side's largest
 * (its embedding), so they never set the reserved "largest layer". */
#include "gpumem.h"

#include "device_map_internal.h"
#include "util_internal.h"

#include <stdlib.h>
#include <string.h>

enum {
    N_MODEL = 0,
    N_LM_HEAD,
    N_VISION,
    N_PROJECTOR,
    N_LANG, /* language_model: multimodal models only */
    N_EMBED,
    N_LAYERS,
    N_NORM,
    N_ROTARY,
    N_FIRST_LAYER
};

typedef struct {
    uint64_t size;
    int parent;       /* -1 for the root's children */
    int first, count; /* children: node ids first .. first + count - 1, in order */
    bool no_split;
    bool opaque; /* vision tower or projector: inner modules not modelled */
    int role;    /* N_MODEL .. N_ROTARY, or N_FIRST_LAYER + i for layer i */
} node;

typedef struct {
    node *nodes;
    int n;
    int *queue; /* modules_to_treat */
    int len;
    bool *in_max; /* max_layer_names */
    int n_max;
    uint64_t max_size;
} walk;

static bool is_within(const walk *w, int id, int ancestor)
{
    for (; id >= 0; id = w->nodes[id].parent)
        if (id == ancestor)
            return true;
    return false;
}

/* get_max_layer_size over the queue: leaves and no-split modules. */
static void max_layer(walk *w)
{
    int *stack = w->queue + w->len; /* scratch after the queue */
    int top = 0;
    w->max_size = 0;
    w->n_max = 0;
    memset(w->in_max, 0, (size_t)w->n * sizeof *w->in_max);
    for (int i = w->len - 1; i >= 0; i--)
        stack[top++] = w->queue[i];
    while (top) {
        const node *x = &w->nodes[stack[--top]];
        int id = (int)(x - w->nodes);
        if (x->opaque)
            continue;
        if (x->count == 0 || x->no_split) {
            if (x->size > w->max_size) {
                memset(w->in_max, 0, (size_t)w->n * sizeof *w->in_max);
                w->max_size = x->size;
                w->n_max = 0;
            }
            if (x->size == w->max_size && !w->in_max[id]) {
                w->in_max[id] = true;
                w->n_max++;
            }
            continue;
        }
        for (int c = x->first + x->count - 1; c >= x->first; c--)
            stack[top++] = c;
    }
}

static void assign(const walk *w, int id, int dev, uint32_t n_gpus, dm_placement *out)
{
    const node *x = &w->nodes[id];
    if (x->count) {
        for (int c = x->first; c < x->first + x->count; c++)
            assign(w, c, dev, n_gpus, out);
        return;
    }
    int16_t d = dev == (int)n_gpus ? DM_HOST : (int16_t)dev;
    out->bytes[dev] += x->size;
    switch (x->role) {
    case N_EMBED: out->embed = d; break;
    case N_NORM: out->norm = d; break;
    case N_ROTARY: out->rotary = d; break;
    case N_LM_HEAD: out->lm_head = d; break;
    case N_VISION: out->vision = d; break;
    case N_PROJECTOR: out->projector = d; break;
    default: out->layer_dev[x->role - N_FIRST_LAYER] = d;
    }
}

static void queue_remove(walk *w, int at)
{
    memmove(w->queue + at, w->queue + at + 1, (size_t)(w->len - at - 1) * sizeof *w->queue);
    w->len--;
}

/* infer_auto_device_map: devices 0 .. n_gpus - 1, then the host. GPU 0 and
 * the host are the "main devices" that keep room for the largest layer
 * still to place. */
static gpumem_status infer(walk *w, const dm_sizes *sz, const uint64_t *max_memory,
                           uint32_t n_gpus, dm_placement *out, gpumem_error *err)
{
    uint64_t used[GPUMEM_MAX_SPLIT + 1] = {0};
    uint32_t cur = 0;
    w->queue[0] = N_MODEL;
    w->queue[1] = N_LM_HEAD;
    w->len = 2;
    max_layer(w);
    while (w->len) {
        int id = w->queue[0];
        queue_remove(w, 0);
        for (int i = 0; i < w->n; i++)
            if (w->in_max[i] && is_within(w, i, id)) {
                w->in_max[i] = false;
                w->n_max--;
            }
        if (w->n_max == 0)
            max_layer(w);
        /* A tied lm_head goes with the module holding the embedding. */
        int role = w->nodes[id].role;
        bool tie = sz->tied && (role == N_MODEL || role == N_LANG || role == N_EMBED);
        int head_at = -1;
        for (int i = 0; tie && i < w->len; i++)
            if (w->queue[i] == N_LM_HEAD)
                head_at = i;
        uint64_t size = w->nodes[id].size + (head_at >= 0 ? w->nodes[N_LM_HEAD].size : 0);
        bool host = cur == n_gpus, main_dev = cur == 0 || host;
        uint64_t reserved = main_dev ? w->max_size : 0;
        uint64_t cap = host ? UINT64_MAX / 4 : max_memory[cur];
        if (used[cur] + size + reserved <= cap) {
            used[cur] += size;
            assign(w, id, (int)cur, n_gpus, out);
            if (head_at >= 0) {
                assign(w, N_LM_HEAD, (int)cur, n_gpus, out);
                queue_remove(w, head_at);
            }
            continue;
        }
        const node *x = &w->nodes[id];
        /* accelerate splits the tower: its first module goes on this
         * device unless nothing fits here (then all of it moves on, as
         * modelled below). */
        if (x->opaque && used[cur] + reserved <= cap)
            return err_set(err, GPUMEM_ERR_UNSUPPORTED,
                           "accelerate would split the %s over two devices (%llu bytes left on %s "
                           "%u, %llu needed); that placement is not modelled: give more memory to "
                           "the first GPU",
                           role == N_VISION ? "vision tower" : "multimodal projector",
                           (unsigned long long)(cap - used[cur] - reserved),
                           host ? "host" : "GPU", cur, (unsigned long long)size);
        if (x->count && !x->no_split) { /* split: children first */
            memmove(w->queue + x->count, w->queue, (size_t)w->len * sizeof *w->queue);
            for (int c = 0; c < x->count; c++)
                w->queue[c] = x->first + c;
            w->len += x->count;
            max_layer(w);
            continue;
        }
        used[cur] += reserved; /* the next device; this module again */
        cur++;
        memmove(w->queue + 1, w->queue, (size_t)w->len * sizeof *w->queue);
        w->queue[0] = id;
        w->len++;
    }
    return GPUMEM_OK;
}

/* get_balanced_memory (transformers 5.24): every GPU but the last capped at
 * total / n + 1.25 x the largest layer or leaf; balanced_low_0 gives GPU 0
 * only what the others cannot hold. A single GPU keeps 90% when the user
 * gave no max_memory. Python floats, as there: infer_auto_device_map
 * compares integer sizes with them. */
static void balance(const dm_sizes *sz, const dm_request *rq, uint64_t total, double *mem)
{
    uint32_t n = 0, last = 0;
    for (uint32_t i = 0; i < rq->n_gpus; i++)
        if (mem[i] > 0) {
            n++;
            last = i;
        }
    if (n == 0)
        return;
    bool low_zero = rq->strategy == GPUMEM_DEVICE_MAP_BALANCED_LOW_0 && n > 1;
    if (n == 1 && !rq->user_set)
        mem[0] *= 0.9;
    uint64_t per_gpu = total / (low_zero ? n - 1 : n);
    uint64_t biggest = sz->embed > sz->lm_head ? sz->embed : sz->lm_head;
    biggest = sz->norm > biggest ? sz->norm : biggest;
    for (uint32_t i = 0; i < sz->n_layer; i++)
        biggest = sz->layer[i] > biggest ? sz->layer[i] : biggest;
    per_gpu += biggest + biggest / 4; /* int(1.25 * x) */
    double zero = mem[0];
    for (uint32_t i = 0; i < rq->n_gpus; i++) {
        if (mem[i] == 0 || i == last)
            continue;
        double cap = low_zero && i == 0 ? zero : (double)per_gpu;
        mem[i] = cap < mem[i] ? cap : mem[i];
    }
    if (low_zero) {
        double rest = 0;
        for (uint32_t i = 1; i < n; i++)
            rest += mem[i];
        double min_zero = (double)total > rest ? (double)total - rest : 0;
        mem[0] = min_zero < mem[0] ? min_zero : mem[0];
    }
}

gpumem_status dm_place(const dm_sizes *sz, const dm_request *rq, dm_placement *out,
                       gpumem_error *err)
{
    if (rq->n_gpus == 0 || rq->n_gpus > GPUMEM_MAX_SPLIT)
        return err_set(err, GPUMEM_ERR_USAGE, "device_map takes 1 to %d GPUs", GPUMEM_MAX_SPLIT);
    walk w = {0};
    w.n = N_FIRST_LAYER + (int)sz->n_layer; /* an upper bound: 3 ids unused without a tower */
    w.nodes = calloc((size_t)w.n, sizeof *w.nodes);
    w.queue = calloc(2 * (size_t)w.n + 2, sizeof *w.queue);
    w.in_max = calloc((size_t)w.n, sizeof *w.in_max);
    if (!w.nodes || !w.queue || !w.in_max) {
        free(w.nodes);
        free(w.queue);
        free(w.in_max);
        return err_set(err, GPUMEM_ERR_NOMEM, "out of memory placing %u layers", sz->n_layer);
    }
    /* Node ids: the model, lm_head, [the tower, the projector, language_model,]
     * then the text modules and the layers, so children are contiguous. */
    bool mm = sz->multimodal, proj = mm && sz->projector > 0;
    int vision = 2, projector = 3, lang = 2 + mm + proj;
    int embed = lang + mm, n_layers_id = embed + 1, first = embed + 4;
    uint64_t layers = 0;
    for (uint32_t i = 0; i < sz->n_layer; i++) {
        w.nodes[first + (int)i] =
            (node){sz->layer[i], n_layers_id, 0, 0, true, false, N_FIRST_LAYER + (int)i};
        layers += sz->layer[i];
    }
    uint64_t text = sz->embed + layers + sz->norm + sz->rotary;
    int text_parent = mm ? lang : N_MODEL;
    w.nodes[N_LM_HEAD] = (node){sz->lm_head, -1, 0, 0, false, false, N_LM_HEAD};
    w.nodes[embed] = (node){sz->embed, text_parent, 0, 0, false, false, N_EMBED};
    w.nodes[n_layers_id] =
        (node){layers, text_parent, first, (int)sz->n_layer, false, false, N_LAYERS};
    w.nodes[embed + 2] = (node){sz->norm, text_parent, 0, 0, false, false, N_NORM};
    w.nodes[embed + 3] = (node){sz->rotary, text_parent, 0, 0, false, false, N_ROTARY};
    w.nodes[N_MODEL] = (node){text, -1, embed, 4, false, false, N_MODEL};
    if (mm) {
        w.nodes[vision] = (node){sz->vision, N_MODEL, 0, 0, false, true, N_VISION};
        if (proj)
            w.nodes[projector] = (node){sz->projector, N_MODEL, 0, 0, false, true, N_PROJECTOR};
        w.nodes[lang] = (node){text, N_MODEL, embed, 4, false, false, N_LANG};
        w.nodes[N_MODEL] =
            (node){sz->vision + sz->projector + text, -1, vision, 2 + proj, false, false, N_MODEL};
    }

    memset(out->bytes, 0, sizeof out->bytes);
    memset(out->max_memory, 0, sizeof out->max_memory);
    double mem[GPUMEM_MAX_SPLIT];
    for (uint32_t i = 0; i < rq->n_gpus; i++)
        mem[i] = (double)rq->max_memory[i];
    if (rq->strategy != GPUMEM_DEVICE_MAP_SEQUENTIAL)
        balance(sz, rq, w.nodes[N_MODEL].size + sz->lm_head, mem);
    for (uint32_t i = 0; i < rq->n_gpus; i++) /* an integer <= a float: <= its floor */
        out->max_memory[i] = (uint64_t)(rq->quantizer_margin ? mem[i] * 0.9 : mem[i]);
    out->vision = out->projector = DM_ABSENT;
    gpumem_status st = infer(&w, sz, out->max_memory, rq->n_gpus, out, err);
    free(w.nodes);
    free(w.queue);
    free(w.in_max);
    return st;
}
