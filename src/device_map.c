/* device_map="auto" | "balanced" | "balanced_low_0" | "sequential": the
 * placement transformers 5.24.0 computes in from_pretrained
 * (integrations/accelerate.py: _get_device_map, get_balanced_memory,
 * infer_auto_device_map; accelerate 1.15.0 for get_max_layer_size), on the
 * tree accelerate walks for a *ForCausalLM: the root's children "model"
 * and "lm_head"; model's children embed_tokens, layers (a ModuleList of
 * decoder layers, the no-split class), norm and rotary_emb (buffers). */
#include "gpumem.h"

#include "device_map_internal.h"
#include "util_internal.h"

#include <stdlib.h>
#include <string.h>

enum { N_MODEL = 0, N_LM_HEAD, N_EMBED, N_LAYERS, N_NORM, N_ROTARY, N_FIRST_LAYER };

typedef struct {
    uint64_t size;
    int parent;       /* -1 for the root's children */
    int first, count; /* children: node ids first .. first + count - 1, in order */
    bool no_split;
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
    switch (id) {
    case N_EMBED: out->embed = d; break;
    case N_NORM: out->norm = d; break;
    case N_ROTARY: out->rotary = d; break;
    case N_LM_HEAD: out->lm_head = d; break;
    default: out->layer_dev[id - N_FIRST_LAYER] = d;
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
static void infer(walk *w, const dm_sizes *sz, const uint64_t *max_memory, uint32_t n_gpus,
                  dm_placement *out)
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
        bool tie = sz->tied && (id == N_MODEL || id == N_EMBED);
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
}

/* get_balanced_memory (transformers 5.24): every GPU but the last capped at
 * total / n + 1.25 x the largest layer or leaf; balanced_low_0 gives GPU 0
 * only what the others cannot hold. A single GPU keeps 90% when the user
 * gave no max_memory. */
static void balance(const dm_sizes *sz, const dm_request *rq, uint64_t total, uint64_t *mem)
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
    if (n == 1 && !rq->user_set) /* float product, compared with integers: its floor */
        mem[0] = (uint64_t)((double)mem[0] * 0.9);
    uint64_t per_gpu = total / (low_zero ? n - 1 : n);
    uint64_t biggest = sz->embed > sz->lm_head ? sz->embed : sz->lm_head;
    biggest = sz->norm > biggest ? sz->norm : biggest;
    for (uint32_t i = 0; i < sz->n_layer; i++)
        biggest = sz->layer[i] > biggest ? sz->layer[i] : biggest;
    per_gpu += biggest + biggest / 4; /* int(1.25 * x) */
    uint64_t zero = mem[0];
    for (uint32_t i = 0; i < rq->n_gpus; i++) {
        if (mem[i] == 0 || i == last)
            continue;
        uint64_t cap = low_zero && i == 0 ? zero : per_gpu;
        mem[i] = cap < mem[i] ? cap : mem[i];
    }
    if (low_zero) {
        uint64_t rest = 0;
        for (uint32_t i = 1; i < n; i++)
            rest += mem[i];
        uint64_t min_zero = total > rest ? total - rest : 0;
        mem[0] = min_zero < mem[0] ? min_zero : mem[0];
    }
}

gpumem_status dm_place(const dm_sizes *sz, const dm_request *rq, dm_placement *out,
                       gpumem_error *err)
{
    if (rq->n_gpus == 0 || rq->n_gpus > GPUMEM_MAX_SPLIT)
        return err_set(err, GPUMEM_ERR_USAGE, "device_map takes 1 to %d GPUs", GPUMEM_MAX_SPLIT);
    walk w = {0};
    w.n = N_FIRST_LAYER + (int)sz->n_layer;
    w.nodes = calloc((size_t)w.n, sizeof *w.nodes);
    w.queue = calloc(2 * (size_t)w.n + 2, sizeof *w.queue);
    w.in_max = calloc((size_t)w.n, sizeof *w.in_max);
    if (!w.nodes || !w.queue || !w.in_max) {
        free(w.nodes);
        free(w.queue);
        free(w.in_max);
        return err_set(err, GPUMEM_ERR_NOMEM, "out of memory placing %u layers", sz->n_layer);
    }
    uint64_t layers = 0;
    for (uint32_t i = 0; i < sz->n_layer; i++) {
        node *l = &w.nodes[N_FIRST_LAYER + i];
        l->size = sz->layer[i];
        l->parent = N_LAYERS;
        l->no_split = true;
        layers += sz->layer[i];
    }
    w.nodes[N_MODEL] = (node){sz->embed + layers + sz->norm + sz->rotary, -1, N_EMBED, 4, false};
    w.nodes[N_LM_HEAD] = (node){sz->lm_head, -1, 0, 0, false};
    w.nodes[N_EMBED] = (node){sz->embed, N_MODEL, 0, 0, false};
    w.nodes[N_LAYERS] = (node){layers, N_MODEL, N_FIRST_LAYER, (int)sz->n_layer, false};
    w.nodes[N_NORM] = (node){sz->norm, N_MODEL, 0, 0, false};
    w.nodes[N_ROTARY] = (node){sz->rotary, N_MODEL, 0, 0, false};

    memset(out->bytes, 0, sizeof out->bytes);
    memset(out->max_memory, 0, sizeof out->max_memory);
    memcpy(out->max_memory, rq->max_memory, rq->n_gpus * sizeof *rq->max_memory);
    if (rq->strategy != GPUMEM_DEVICE_MAP_SEQUENTIAL)
        balance(sz, rq, w.nodes[N_MODEL].size + sz->lm_head, out->max_memory);
    infer(&w, sz, out->max_memory, rq->n_gpus, out);
    free(w.nodes);
    free(w.queue);
    free(w.in_max);
    return GPUMEM_OK;
}
