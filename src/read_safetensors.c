#include "read_safetensors_internal.h"

#include "error_internal.h"
#include "util_internal.h"

#include <dirent.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint64_t max_header = 100ull << 20; /* the format's own limit */

/* Element sizes in bits (F4/F6 pack several per byte). */
static const struct {
    const char *name;
    unsigned bits;
} dtypes[] = {
    {"F64", 64}, {"F32", 32}, {"F16", 16}, {"BF16", 16}, {"F8_E4M3", 8}, {"F8_E5M2", 8},
    {"F8_E8M0", 8}, {"F6_E2M3", 6}, {"F6_E3M2", 6}, {"F4", 4}, {"I64", 64}, {"I32", 32},
    {"I16", 16}, {"I8", 8}, {"U64", 64}, {"U32", 32}, {"U16", 16}, {"U8", 8}, {"BOOL", 8},
};

static unsigned dtype_bits(const char *name)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(dtypes[i].name, name) == 0)
            return dtypes[i].bits;
    return 0;
}

typedef struct {
    uint64_t begin, end;
    const char *name;
} range;

static int by_begin(const void *a, const void *b)
{
    const range *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

static gpumem_status bad(byte_source *src, gpumem_error *err, int64_t off, const char *fmt, ...)
    GPUMEM_PRINTF(4, 5);

static gpumem_status bad(byte_source *src, gpumem_error *err, int64_t off, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_set_at(err, GPUMEM_ERR_PARSE, src->name, off, 0, 0, "%s", msg);
}

static gpumem_status push(st_set *set, const char *name, const char *dtype, uint64_t n,
                          uint64_t bytes, gpumem_error *err)
{
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 256;
        st_tensor *t = realloc(set->tensors, cap * sizeof *t);
        if (!t)
            return err_set(err, GPUMEM_ERR_NOMEM, "out of memory");
        set->tensors = t;
        set->cap = cap;
    }
    st_tensor *t = &set->tensors[set->n];
    t->name = malloc(strlen(name) + 1);
    if (!t->name)
        return err_set(err, GPUMEM_ERR_NOMEM, "out of memory");
    strcpy(t->name, name);
    snprintf(t->dtype, sizeof t->dtype, "%s", dtype);
    t->n_elems = n;
    t->bytes = bytes;
    set->n++;
    if (!u64_add(set->data_bytes, bytes, &set->data_bytes))
        return err_set(err, GPUMEM_ERR_OVERFLOW, "tensor sizes overflow");
    return GPUMEM_OK;
}

/* One entry: {"dtype": "F16", "shape": [..], "data_offsets": [b, e]}. */
static gpumem_status entry(byte_source *src, const char *name, json_t *v, uint64_t data_len,
                           range *r, uint64_t *n_out, unsigned *bits_out, gpumem_error *err)
{
    const char *dt = json_string_value(json_object_get(v, "dtype"));
    json_t *shape = json_object_get(v, "shape"), *offs = json_object_get(v, "data_offsets");
    if (!json_is_object(v) || !dt || !json_is_array(shape) || !json_is_array(offs) ||
        json_array_size(offs) != 2)
        return bad(src, err, 8, "tensor '%s' needs \"dtype\", \"shape\" and two \"data_offsets\"",
                   name);
    unsigned bits = dtype_bits(dt);
    if (!bits)
        return err_set_at(err, GPUMEM_ERR_UNSUPPORTED, src->name, 8, 0, 0,
                          "tensor '%s' has unknown dtype '%s'", name, dt);
    uint64_t n = 1;
    if (json_array_size(shape) > 8)
        return bad(src, err, 8, "tensor '%s' has %llu dimensions", name,
                   (unsigned long long)json_array_size(shape));
    for (size_t d = 0; d < json_array_size(shape); d++) {
        json_t *x = json_array_get(shape, d);
        if (!json_is_integer(x) || json_integer_value(x) < 0 ||
            !u64_mul(n, (uint64_t)json_integer_value(x), &n))
            return bad(src, err, 8, "tensor '%s' dimension %llu is not a size, or overflows",
                       name, (unsigned long long)d);
    }
    json_t *b = json_array_get(offs, 0), *e = json_array_get(offs, 1);
    if (!json_is_integer(b) || !json_is_integer(e) || json_integer_value(b) < 0 ||
        json_integer_value(e) < json_integer_value(b))
        return bad(src, err, 8, "tensor '%s' has invalid data_offsets", name);
    r->begin = (uint64_t)json_integer_value(b);
    r->end = (uint64_t)json_integer_value(e);
    r->name = name;
    uint64_t bitsz;
    if (!u64_mul(n, bits, &bitsz) || (bitsz + 7) / 8 != r->end - r->begin)
        return bad(src, err, 8, "tensor '%s' spans %llu bytes, its shape and dtype need %llu", name,
                   (unsigned long long)(r->end - r->begin), (unsigned long long)((bitsz + 7) / 8));
    if (r->end > data_len)
        return bad(src, err, 8, "tensor '%s' ends at data byte %llu past the file's %llu: truncated?",
                   name, (unsigned long long)r->end, (unsigned long long)data_len);
    *n_out = n;
    *bits_out = bits;
    return GPUMEM_OK;
}

gpumem_status st_read_file(byte_source *src, st_set *set, gpumem_error *err)
{
    unsigned char lenb[8];
    if (!source_read(src, 0, lenb, 8))
        return bad(src, err, 0, "truncated: %s needs the 8-byte header length (file has %llu bytes)",
                   "safetensors", (unsigned long long)src->size);
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++)
        hlen |= (uint64_t)lenb[i] << (8 * i);
    if (hlen > max_header || hlen > src->size - 8)
        return bad(src, err, 0, "%s header length %llu exceeds the file (%llu bytes) or 100 MiB",
                   "safetensors", (unsigned long long)hlen, (unsigned long long)src->size);
    char *text = malloc(hlen + 1);
    if (!text)
        return err_set(err, GPUMEM_ERR_NOMEM, "out of memory");
    if (!source_read(src, 8, text, hlen)) {
        free(text);
        return bad(src, err, 8, "%s: cannot read the header", "safetensors");
    }
    text[hlen] = '\0';
    json_error_t jerr;
    json_t *root = json_loadb(text, hlen, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    if (!root)
        return err_set_at(err, GPUMEM_ERR_PARSE, src->name, 8 + jerr.position, jerr.line,
                          jerr.column, "malformed safetensors header JSON: %s", jerr.text);
    gpumem_status st = GPUMEM_OK;
    range *ranges = NULL;
    if (!json_is_object(root)) {
        st = bad(src, err, 8, "%s header must be a JSON object", "safetensors");
        goto out;
    }
    size_t count = json_object_size(root);
    ranges = malloc((count ? count : 1) * sizeof *ranges);
    if (!ranges) {
        st = err_set(err, GPUMEM_ERR_NOMEM, "out of memory");
        goto out;
    }
    size_t nr = 0;
    uint64_t data_len = src->size - 8 - hlen;
    const char *name;
    json_t *v;
    json_object_foreach(root, name, v)
    {
        if (strcmp(name, "__metadata__") == 0)
            continue;
        uint64_t n = 0;
        unsigned bits = 0;
        if ((st = entry(src, name, v, data_len, &ranges[nr], &n, &bits, err)) != GPUMEM_OK ||
            (st = push(set, name, json_string_value(json_object_get(v, "dtype")), n,
                       ranges[nr].end - ranges[nr].begin, err)) != GPUMEM_OK)
            goto out;
        nr++;
    }
    qsort(ranges, nr, sizeof *ranges, by_begin);
    for (size_t i = 1; i < nr; i++)
        if (ranges[i].begin < ranges[i - 1].end) {
            st = bad(src, err, 8, "tensors '%s' and another overlap at data byte %llu",
                     ranges[i].name, (unsigned long long)ranges[i].begin);
            goto out;
        }
    set->bytes_read += src->bytes_read;
    set->n_files++;
out:
    free(ranges);
    json_decref(root);
    return st;
}

static gpumem_status read_one(const char *path, st_set *set, gpumem_error *err)
{
    byte_source src;
    gpumem_status st = source_open_file(&src, path, err);
    if (st != GPUMEM_OK)
        return st;
    st = st_read_file(&src, set, err);
    source_close(&src);
    return st;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

gpumem_status st_read_dir(const char *dir, st_set *set, gpumem_error *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return err_set_at(err, GPUMEM_ERR_IO, dir, -1, 0, 0, "cannot open directory");
    char *names[4096];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < 4096) {
        size_t len = strlen(de->d_name);
        if (len > 12 && strcmp(de->d_name + len - 12, ".safetensors") == 0) {
            names[n] = malloc(len + 1);
            if (!names[n])
                break;
            strcpy(names[n++], de->d_name);
        }
    }
    closedir(d);
    if (n == 0)
        return GPUMEM_ERR_NOT_FOUND;
    qsort(names, n, sizeof *names, name_cmp);
    gpumem_status st = GPUMEM_OK;
    for (size_t i = 0; i < n; i++) {
        char path[4096 + 256];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (st == GPUMEM_OK)
            st = read_one(path, set, err);
        free(names[i]);
    }
    return st;
}

void st_free(st_set *set)
{
    for (size_t i = 0; i < set->n; i++)
        free(set->tensors[i].name);
    free(set->tensors);
    memset(set, 0, sizeof *set);
}

/* ------------------------------------------------------ to the description */

/* Layer index from an HF tensor name: "...layers.N.", "...h.N.",
 * "...layer.N.", "...blocks.N."; -1 when the tensor is outside the layers. */
static long layer_of(const char *name)
{
    static const char *const keys[] = {".layers.", ".h.", ".layer.", ".blocks.", "layers."};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        const char *p = strstr(name, keys[k]);
        if (p && (k < 4 || p == name)) {
            char *end;
            long il = strtol(p + strlen(keys[k]), &end, 10);
            if (end != p + strlen(keys[k]) && *end == '.')
                return il;
        }
    }
    return -1;
}

static bool is_embedding(const char *name)
{
    return strstr(name, "embed_tokens") || strstr(name, "wte.") || strstr(name, "wpe.") ||
           strstr(name, "word_embeddings") || strstr(name, "position_embeddings") ||
           strstr(name, "token_type_embeddings") || strstr(name, "embed_in") ||
           strstr(name, "embeddings.weight");
}

/* A multimodal checkpoint's vision tower and projector (transformers'
 * module names for Llava, Gemma 3, Mistral 3, Llama 4, Qwen2-VL). */
static bool is_vision(const char *name)
{
    return strstr(name, "vision_tower") || strstr(name, "vision_model") ||
           strstr(name, "visual.") || strstr(name, "multi_modal_projector") ||
           strstr(name, "image_newline");
}

gpumem_status st_attach(gpumem_model *m, const st_set *set, gpumem_error *err)
{
    bool count_params = !m->architecture_known;
    uint64_t params = 0;
    for (size_t i = 0; i < set->n; i++) {
        const st_tensor *t = &set->tensors[i];
        long il = layer_of(t->name);
        uint64_t *bytes;
        if (is_vision(t->name)) {
            bytes = &m->bytes_vision;
        } else if (il >= 0 && m->layers && (uint64_t)il < m->n_layer) {
            model_layer *l = &m->layers[il];
            bool small = strstr(t->name, "norm") || strstr(t->name, ".bias") ||
                         strstr(t->name, "sinks");
            bytes = strstr(t->name, ".experts.") ? &l->bytes_expert
                    : small                      ? &l->bytes_small
                                                 : &l->bytes_linear;
        } else if (il >= 0) {
            bytes = &m->bytes_other;
        } else if (is_embedding(t->name)) {
            bytes = &m->bytes_embed;
        } else if (strstr(t->name, "lm_head") || strstr(t->name, "embed_out")) {
            bytes = &m->bytes_output;
        } else {
            bytes = &m->bytes_other;
        }
        *bytes += t->bytes;
        params += t->n_elems;
    }
    if (count_params) {
        m->params_total = m->params_active = params;
        m->params_other = params;
    }
    m->has_storage = true;
    m->bytes_total = set->data_bytes;
    double bpw = m->params_total ? set->data_bytes * 8.0 / m->params_total : 0;
    snprintf(m->storage_desc, sizeof m->storage_desc, "%s%s%.2f bits/weight, %u file%s",
             set->quant, set->quant[0] ? ", " : "", bpw, set->n_files, set->n_files == 1 ? "" : "s");
    (void)err;
    return GPUMEM_OK;
}
