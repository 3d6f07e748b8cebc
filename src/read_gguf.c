/* GGUF header reader. Every length, count and offset is checked against
 * the file size and against overflow before it is used; tensor data is
 * never read. */
#include "read_gguf_internal.h"

#include "error_internal.h"
#include "ggml_types_internal.h"
#include "util_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    MAX_KV = 1 << 13, /* real files hold < 100; keeps the duplicate check cheap */
    MAX_TENSORS = 1 << 20,
    MAX_KEY = 1024,
    MAX_NAME = 1024,
    MAX_DEPTH = 3,
};
static const uint64_t max_string = 1ull << 28;
static const uint64_t max_array = 1ull << 30;

typedef struct {
    byte_source *src;
    uint64_t off;
    gpumem_error *err;
} cursor;

static gpumem_status fail_at(cursor *c, uint64_t off, gpumem_status code, const char *what)
{
    return err_set_at(c->err, code, c->src->name, (int64_t)off, 0, 0, "%s", what);
}

static gpumem_status rd(cursor *c, void *buf, size_t n, const char *what)
{
    if (!source_read(c->src, c->off, buf, n)) {
        char msg[200];
        if (c->off > c->src->size || n > c->src->size - c->off)
            snprintf(msg, sizeof msg, "truncated: %s needs %zu bytes at byte %llu, file has %llu",
                     what, n, (unsigned long long)c->off, (unsigned long long)c->src->size);
        else
            snprintf(msg, sizeof msg, "read error in %s", what);
        return fail_at(c, c->off, GPUMEM_ERR_PARSE, msg);
    }
    c->off += n;
    return GPUMEM_OK;
}

/* Little-endian decoding, independent of the host. */
static uint64_t le(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static gpumem_status rd_uint(cursor *c, size_t n, uint64_t *out, const char *what)
{
    unsigned char b[8];
    gpumem_status st = rd(c, b, n, what);
    if (st == GPUMEM_OK)
        *out = le(b, n);
    return st;
}


static bool utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!len || i + len > n || (len == 2 && c < 0xc2))
            return false;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
        i += len;
    }
    return true;
}

/* Reads a GGUF string; keeps a NUL-terminated copy of at most `keep` bytes
 * (the rest is skipped, not read) when `out` is non-NULL. */
static gpumem_status rd_string(cursor *c, uint64_t max, size_t keep, char **out,
                               uint64_t *len_out, bool check_utf8, const char *what)
{
    uint64_t at = c->off, len;
    char msg[200];
    TRY(rd_uint(c, 8, &len, what));
    if (len > max) {
        snprintf(msg, sizeof msg, "%s at byte %llu has length %llu, more than %llu", what,
                 (unsigned long long)at, (unsigned long long)len, (unsigned long long)max);
        return fail_at(c, at, GPUMEM_ERR_PARSE, msg);
    }
    if (len > c->src->size - c->off) {
        snprintf(msg, sizeof msg, "truncated: %s at byte %llu claims %llu bytes past the end", what,
                 (unsigned long long)at, (unsigned long long)len);
        return fail_at(c, at, GPUMEM_ERR_PARSE, msg);
    }
    if (len_out)
        *len_out = len;
    if (!out) {
        c->off += len;
        return GPUMEM_OK;
    }
    size_t n = len < keep ? (size_t)len : keep;
    char *s = malloc(n + 1);
    if (!s)
        return err_set(c->err, GPUMEM_ERR_NOMEM, "out of memory");
    gpumem_status st = rd(c, s, n, what);
    if (st != GPUMEM_OK) {
        free(s);
        return st;
    }
    s[n] = '\0';
    if (check_utf8 && (!utf8_valid((unsigned char *)s, n) || memchr(s, 0, n))) {
        free(s);
        snprintf(msg, sizeof msg, "%s at byte %llu is not valid UTF-8 text", what,
                 (unsigned long long)at);
        return fail_at(c, at, GPUMEM_ERR_PARSE, msg);
    }
    c->off += len - n;
    *out = s;
    return GPUMEM_OK;
}

static const size_t scalar_size[GV_COUNT] = {
    [GV_U8] = 1, [GV_I8] = 1, [GV_U16] = 2, [GV_I16] = 2, [GV_U32] = 4, [GV_I32] = 4,
    [GV_F32] = 4, [GV_BOOL] = 1, [GV_U64] = 8, [GV_I64] = 8, [GV_F64] = 8,
};

static const char *const vtype_names[GV_COUNT] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"};

const char *gguf_vtype_name(gguf_vtype t)
{
    return (unsigned)t < GV_COUNT ? vtype_names[t] : "?";
}

static double scalar_as_double(gguf_vtype t, uint64_t raw)
{
    switch (t) {
    case GV_I8: return (double)(int8_t)raw;
    case GV_I16: return (double)(int16_t)raw;
    case GV_I32: return (double)(int32_t)raw;
    case GV_I64: return (double)(int64_t)raw;
    case GV_F32: {
        uint32_t u = (uint32_t)raw;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    case GV_F64: {
        double d;
        memcpy(&d, &raw, 8);
        return d;
    }
    default: return (double)raw;
    }
}

static gpumem_status rd_scalar(cursor *c, gguf_vtype t, uint64_t *raw)
{
    uint64_t at = c->off;
    TRY(rd_uint(c, scalar_size[t], raw, "metadata value"));
    if (t == GV_BOOL && *raw > 1) {
        char msg[96];
        snprintf(msg, sizeof msg, "bool at byte %llu is %llu, not 0 or 1", (unsigned long long)at,
                 (unsigned long long)*raw);
        return fail_at(c, at, GPUMEM_ERR_PARSE, msg);
    }
    return GPUMEM_OK;
}

static gpumem_status rd_type(cursor *c, gguf_vtype *t)
{
    uint64_t at = c->off, v;
    TRY(rd_uint(c, 4, &v, "value type"));
    if (v >= GV_COUNT) {
        char msg[96];
        snprintf(msg, sizeof msg, "unknown metadata value type %llu at byte %llu",
                 (unsigned long long)v, (unsigned long long)at);
        return fail_at(c, at, GPUMEM_ERR_PARSE, msg);
    }
    *t = (gguf_vtype)v;
    return GPUMEM_OK;
}

/* An array value: element type, count, elements. Numeric arrays up to
 * GGUF_KEEP_ARRAY elements are kept; others are skipped (strings one by
 * one, fixed-size elements in one jump). */
static gpumem_status rd_array(cursor *c, gguf_kv *kv, int depth)
{
    uint64_t at = c->off, n;
    gguf_vtype t;
    char msg[200];
    if (depth > MAX_DEPTH)
        return fail_at(c, at, GPUMEM_ERR_PARSE, "arrays nested more than 3 deep");
    TRY(rd_type(c, &t));
    TRY(rd_uint(c, 8, &n, "array length"));
    if (n > max_array) {
        snprintf(msg, sizeof msg, "array at byte %llu has %llu elements, more than %llu",
                 (unsigned long long)at, (unsigned long long)n, (unsigned long long)max_array);
        return fail_at(c, at, GPUMEM_ERR_PARSE, msg);
    }
    if (depth == 0) {
        kv->arr_type = t;
        kv->arr_len = n;
    }
    if (t == GV_STRING) {
        for (uint64_t i = 0; i < n; i++)
            TRY(rd_string(c, max_string, 0, NULL, NULL, false, "array string"));
        return GPUMEM_OK;
    }
    if (t == GV_ARRAY) {
        for (uint64_t i = 0; i < n; i++)
            TRY(rd_array(c, kv, depth + 1));
        return GPUMEM_OK;
    }
    uint64_t bytes;
    if (!u64_mul(n, scalar_size[t], &bytes) || bytes > c->src->size - c->off) {
        snprintf(msg, sizeof msg, "truncated: array at byte %llu of %llu %s runs past the end",
                 (unsigned long long)at, (unsigned long long)n, gguf_vtype_name(t));
        return fail_at(c, at, GPUMEM_ERR_PARSE, msg);
    }
    if (depth > 0 || n > GGUF_KEEP_ARRAY || t == GV_BOOL) {
        c->off += bytes;
        return GPUMEM_OK;
    }
    kv->arr = malloc(n ? n * sizeof *kv->arr : 1);
    if (!kv->arr)
        return err_set(c->err, GPUMEM_ERR_NOMEM, "out of memory");
    for (uint64_t i = 0; i < n; i++) {
        uint64_t raw;
        TRY(rd_scalar(c, t, &raw));
        kv->arr[i] = scalar_as_double(t, raw);
    }
    return GPUMEM_OK;
}

static gpumem_status rd_kv(cursor *c, gguf_kv *kv)
{
    kv->offset = c->off;
    TRY(rd_string(c, MAX_KEY, MAX_KEY, &kv->key, NULL, true, "metadata key"));
    TRY(rd_type(c, &kv->type));
    if (kv->type == GV_STRING)
        return rd_string(c, max_string, GGUF_KEEP_STRING, &kv->str, &kv->str_len, false,
                         "metadata string");
    if (kv->type == GV_ARRAY)
        return rd_array(c, kv, 0);
    uint64_t raw;
    TRY(rd_scalar(c, kv->type, &raw));
    if (kv->type == GV_F32 || kv->type == GV_F64)
        kv->v.f = scalar_as_double(kv->type, raw);
    else if (kv->type == GV_I8 || kv->type == GV_I16 || kv->type == GV_I32 || kv->type == GV_I64)
        kv->v.i = (int64_t)scalar_as_double(kv->type, raw);
    else
        kv->v.u = raw;
    return GPUMEM_OK;
}

static gpumem_status rd_tensor(cursor *c, gguf_tensor *t, uint64_t index)
{
    uint64_t at = c->off, v;
    char msg[256];
    TRY(rd_string(c, MAX_NAME, MAX_NAME, &t->name, NULL, true, "tensor name"));
    TRY(rd_uint(c, 4, &v, "tensor dimension count"));
    if (v == 0 || v > GGUF_MAX_DIMS) {
        snprintf(msg, sizeof msg, "tensor %llu '%s' has %llu dimensions (1 to 4 allowed)",
                 (unsigned long long)index, t->name, (unsigned long long)v);
        return fail_at(c, at, GPUMEM_ERR_PARSE, msg);
    }
    t->n_dims = (uint32_t)v;
    t->n_elems = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
        t->ne[d] = 1;
        if (d >= t->n_dims)
            continue;
        TRY(rd_uint(c, 8, &t->ne[d], "tensor dimension"));
        if (t->ne[d] == 0 || t->ne[d] > (uint64_t)INT64_MAX ||
            !u64_mul(t->n_elems, t->ne[d], &t->n_elems) || t->n_elems > (uint64_t)INT64_MAX) {
            snprintf(msg, sizeof msg,
                     "tensor '%s' dimension %u is %llu: zero, or the element count overflows",
                     t->name, d, (unsigned long long)t->ne[d]);
            return fail_at(c, at, GPUMEM_ERR_PARSE, msg);
        }
    }
    TRY(rd_uint(c, 4, &v, "tensor type"));
    const ggml_type_traits *tt = ggml_type_get((uint32_t)v);
    if (!tt || v > UINT32_MAX) {
        snprintf(msg, sizeof msg, "tensor '%s' has unknown ggml type %llu", t->name,
                 (unsigned long long)v);
        return fail_at(c, at, GPUMEM_ERR_UNSUPPORTED, msg);
    }
    t->type = (uint32_t)v;
    if (!ggml_tensor_bytes(t->type, t->ne[0], t->n_elems, &t->bytes)) {
        snprintf(msg, sizeof msg, "tensor '%s': first dimension %llu is not a multiple of %s's "
                                  "block of %u",
                 t->name, (unsigned long long)t->ne[0], tt->name, tt->block_size);
        return fail_at(c, at, GPUMEM_ERR_PARSE, msg);
    }
    return rd_uint(c, 8, &t->offset, "tensor offset");
}

const gguf_kv *gguf_find(const gguf_file *f, const char *key)
{
    for (uint64_t i = 0; i < f->n_kv; i++)
        if (f->kv[i].key && strcmp(f->kv[i].key, key) == 0)
            return &f->kv[i];
    return NULL;
}

bool gguf_get_uint(const gguf_file *f, const char *key, uint64_t *out)
{
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv)
        return false;
    switch (kv->type) {
    case GV_U8: case GV_U16: case GV_U32: case GV_U64: case GV_BOOL:
        *out = kv->v.u;
        return true;
    case GV_I8: case GV_I16: case GV_I32: case GV_I64:
        if (kv->v.i < 0)
            return false;
        *out = (uint64_t)kv->v.i;
        return true;
    default:
        return false;
    }
}

const char *gguf_get_str(const gguf_file *f, const char *key)
{
    const gguf_kv *kv = gguf_find(f, key);
    return kv && kv->type == GV_STRING ? kv->str : NULL;
}

static int by_offset(const void *a, const void *b)
{
    const gguf_tensor *x = *(const gguf_tensor *const *)a, *y = *(const gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const gguf_tensor *const *)a)->name, (*(const gguf_tensor *const *)b)->name);
}

/* Tensors must lie inside the data section, aligned, without overlap. */
static gpumem_status check_layout(cursor *c, gguf_file *f)
{
    char msg[256];
    gguf_tensor **order = malloc((f->n_tensors ? f->n_tensors : 1) * sizeof *order);
    if (!order)
        return err_set(c->err, GPUMEM_ERR_NOMEM, "out of memory");
    uint64_t room = f->file_size > f->data_offset ? f->file_size - f->data_offset : 0;
    gpumem_status st = GPUMEM_OK;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        order[i] = t;
        if (t->offset % f->alignment != 0) {
            snprintf(msg, sizeof msg, "tensor '%s' offset %llu is not a multiple of the alignment %u",
                     t->name, (unsigned long long)t->offset, f->alignment);
            st = fail_at(c, f->data_offset, GPUMEM_ERR_PARSE, msg);
            goto out;
        }
        if (t->offset > room || t->bytes > room - t->offset) {
            snprintf(msg, sizeof msg,
                     "tensor '%s' (%llu bytes at data offset %llu) ends past the end of the file "
                     "(%llu data bytes): truncated file?",
                     t->name, (unsigned long long)t->bytes, (unsigned long long)t->offset,
                     (unsigned long long)room);
            st = fail_at(c, f->data_offset + t->offset, GPUMEM_ERR_PARSE, msg);
            goto out;
        }
        if (!u64_add(f->data_bytes, t->bytes, &f->data_bytes)) {
            st = fail_at(c, 0, GPUMEM_ERR_OVERFLOW, "tensor sizes overflow");
            goto out;
        }
    }
    qsort(order, f->n_tensors, sizeof *order, by_offset);
    for (uint64_t i = 1; i < f->n_tensors; i++) {
        if (order[i - 1]->offset + order[i - 1]->bytes > order[i]->offset) {
            snprintf(msg, sizeof msg, "tensors '%s' and '%s' overlap at data offset %llu",
                     order[i - 1]->name, order[i]->name, (unsigned long long)order[i]->offset);
            st = fail_at(c, f->data_offset + order[i]->offset, GPUMEM_ERR_PARSE, msg);
            goto out;
        }
    }
    qsort(order, f->n_tensors, sizeof *order, by_name);
    for (uint64_t i = 1; i < f->n_tensors; i++) {
        if (strcmp(order[i - 1]->name, order[i]->name) == 0) {
            snprintf(msg, sizeof msg, "tensor name '%s' appears twice", order[i]->name);
            st = fail_at(c, 0, GPUMEM_ERR_PARSE, msg);
            goto out;
        }
    }
out:
    free(order);
    return st;
}

static gpumem_status read_all(cursor *c, gguf_file *f)
{
    unsigned char magic[4];
    char msg[200];
    TRY(rd(c, magic, 4, "magic"));
    if (memcmp(magic, "GGUF", 4) != 0)
        return fail_at(c, 0, GPUMEM_ERR_PARSE, "not a GGUF file (bad magic)");
    uint64_t v;
    TRY(rd_uint(c, 4, &v, "version"));
    if (v != 2 && v != 3) {
        snprintf(msg, sizeof msg, "GGUF version %llu is not supported (2 and 3 are)",
                 (unsigned long long)v);
        return fail_at(c, 4, GPUMEM_ERR_UNSUPPORTED, msg);
    }
    f->version = (uint32_t)v;
    TRY(rd_uint(c, 8, &f->n_tensors, "tensor count"));
    TRY(rd_uint(c, 8, &f->n_kv, "metadata count"));
    if (f->n_tensors > MAX_TENSORS || f->n_kv > MAX_KV) {
        snprintf(msg, sizeof msg, "implausible counts: %llu tensors, %llu metadata entries",
                 (unsigned long long)f->n_tensors, (unsigned long long)f->n_kv);
        return fail_at(c, 8, GPUMEM_ERR_PARSE, msg);
    }
    /* Each entry takes at least 13 (kv) or 28 (tensor) bytes: cheap check
     * before allocating. */
    if (f->n_kv * 13 + f->n_tensors * 28 > f->file_size)
        return fail_at(c, 8, GPUMEM_ERR_PARSE,
                       "truncated: the header counts need more bytes than the file has");
    f->kv = calloc(f->n_kv ? f->n_kv : 1, sizeof *f->kv);
    f->tensors = calloc(f->n_tensors ? f->n_tensors : 1, sizeof *f->tensors);
    if (!f->kv || !f->tensors)
        return err_set(c->err, GPUMEM_ERR_NOMEM, "out of memory");
    for (uint64_t i = 0; i < f->n_kv; i++) {
        TRY(rd_kv(c, &f->kv[i]));
        for (uint64_t j = 0; j < i; j++)
            if (strcmp(f->kv[j].key, f->kv[i].key) == 0) {
                snprintf(msg, sizeof msg, "metadata key '%s' appears twice", f->kv[i].key);
                return fail_at(c, f->kv[i].offset, GPUMEM_ERR_PARSE, msg);
            }
    }
    f->alignment = 32;
    const gguf_kv *al = gguf_find(f, "general.alignment");
    if (al) {
        if (al->type != GV_U32 || al->v.u == 0 || (al->v.u & (al->v.u - 1)) != 0)
            return fail_at(c, al->offset, GPUMEM_ERR_PARSE,
                           "general.alignment must be a u32 power of two");
        f->alignment = (uint32_t)al->v.u;
    }
    for (uint64_t i = 0; i < f->n_tensors; i++)
        TRY(rd_tensor(c, &f->tensors[i], i));
    f->data_offset = (c->off + f->alignment - 1) / f->alignment * f->alignment;
    return check_layout(c, f);
}

gpumem_status gguf_read(byte_source *src, gguf_file *out, gpumem_error *err)
{
    memset(out, 0, sizeof *out);
    out->file_size = src->size;
    cursor c = {src, 0, err};
    gpumem_status st = read_all(&c, out);
    out->bytes_read = src->bytes_read;
    if (st != GPUMEM_OK)
        gguf_free(out);
    return st;
}

void gguf_free(gguf_file *f)
{
    if (f->kv)
        for (uint64_t i = 0; i < f->n_kv; i++) {
            free(f->kv[i].key);
            free(f->kv[i].str);
            free(f->kv[i].arr);
        }
    if (f->tensors)
        for (uint64_t i = 0; i < f->n_tensors; i++)
            free(f->tensors[i].name);
    free(f->kv);
    free(f->tensors);
    memset(f, 0, sizeof *f);
}
