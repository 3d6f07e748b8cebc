/* `gpumem inspect`: what a model file holds, from its header alone. One
 * JSON object per file; the text form renders the same object. */
#include "gpumem.h"

#include "error_internal.h"
#include "ggml_types_internal.h"
#include "read_gguf_internal.h"
#include "read_safetensors_internal.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *kv_value(const gguf_kv *kv)
{
    switch (kv->type) {
    case GV_STRING: {
        json_t *s = kv->str ? json_string(kv->str) : NULL; /* NULL if not UTF-8 */
        return s ? s : json_string("(not UTF-8)");
    }
    case GV_ARRAY:
        return json_pack("{s:s, s:I}", "array_of", gguf_vtype_name(kv->arr_type), "length",
                         (json_int_t)kv->arr_len);
    case GV_F32:
    case GV_F64:
        return json_real(kv->v.f);
    case GV_BOOL:
        return json_boolean(kv->v.u);
    case GV_I8: case GV_I16: case GV_I32: case GV_I64:
        return json_integer(kv->v.i);
    default:
        return json_integer((json_int_t)kv->v.u);
    }
}

static json_t *inspect_gguf(const char *path, gpumem_error *err)
{
    byte_source src;
    gguf_file f;
    if (source_open_file(&src, path, err) != GPUMEM_OK)
        return NULL;
    gpumem_status st = gguf_read(&src, &f, err);
    source_close(&src);
    if (st != GPUMEM_OK)
        return NULL;
    gpumem_model *m = NULL;
    if (model_from_gguf(&f, path, &m, err) != GPUMEM_OK) {
        gguf_free(&f);
        return NULL;
    }
    gpumem_model_info info;
    gpumem_model_get_info(m, &info);
    uint64_t count[GGML_TYPE_SLOTS] = {0}, elems[GGML_TYPE_SLOTS] = {0}, bytes[GGML_TYPE_SLOTS] = {0};
    for (uint64_t i = 0; i < f.n_tensors; i++) {
        count[f.tensors[i].type]++;
        elems[f.tensors[i].type] += f.tensors[i].n_elems;
        bytes[f.tensors[i].type] += f.tensors[i].bytes;
    }
    json_t *types = json_array();
    for (int t = 0; t < GGML_TYPE_SLOTS; t++)
        if (count[t])
            json_array_append_new(types, json_pack("{s:s, s:I, s:I, s:I}", "type",
                                                   ggml_type_get((uint32_t)t)->name, "tensors",
                                                   (json_int_t)count[t], "params",
                                                   (json_int_t)elems[t], "bytes",
                                                   (json_int_t)bytes[t]));
    json_t *meta = json_object();
    for (uint64_t i = 0; i < f.n_kv; i++)
        json_object_set_new(meta, f.kv[i].key, kv_value(&f.kv[i]));
    const char *name = gguf_get_str(&f, "general.name");
    json_t *out = json_pack(
        "{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:I, s:I, s:f, s:o, s:o}", "format",
        "gguf", "file", path, "version", (json_int_t)f.version, "file_bytes",
        (json_int_t)f.file_size, "header_bytes_read", (json_int_t)f.bytes_read, "data_offset",
        (json_int_t)f.data_offset, "alignment", (json_int_t)f.alignment, "tensor_count",
        (json_int_t)f.n_tensors, "metadata_count", (json_int_t)f.n_kv, "architecture",
        info.architecture, "name", name ? name : "", "params", (json_int_t)info.params,
        "weights_bytes", (json_int_t)f.data_bytes, "bits_per_weight",
        info.params ? f.data_bytes * 8.0 / info.params : 0.0, "tensor_types", types, "metadata",
        meta);
    gpumem_model_free(m);
    gguf_free(&f);
    return out;
}

static const char *quant_hint(const st_set *set)
{
    for (size_t i = 0; i < set->n; i++) {
        const char *n = set->tensors[i].name;
        if (strstr(n, ".qweight"))
            return "gptq/awq (packed int32 qweight, scales, zeros)";
        if (strstr(n, "weight_packed"))
            return "compressed-tensors (packed)";
        if (strstr(n, ".absmax") || strstr(n, "quant_state"))
            return "bitsandbytes";
        if (strstr(n, "_blocks") && strstr(n, "experts"))
            return "mxfp4 experts";
    }
    return "";
}

static json_t *inspect_safetensors(const char *path, gpumem_error *err)
{
    byte_source src;
    st_set set;
    memset(&set, 0, sizeof set);
    if (source_open_file(&src, path, err) != GPUMEM_OK)
        return NULL;
    gpumem_status st = st_read_file(&src, &set, err);
    source_close(&src);
    if (st != GPUMEM_OK) {
        st_free(&set);
        return NULL;
    }
    json_t *dtypes = json_object();
    uint64_t params = 0;
    for (size_t i = 0; i < set.n; i++) {
        const st_tensor *t = &set.tensors[i];
        json_t *d = json_object_get(dtypes, t->dtype);
        if (!d) {
            d = json_pack("{s:I, s:I, s:I}", "tensors", (json_int_t)0, "elements", (json_int_t)0,
                          "bytes", (json_int_t)0);
            json_object_set_new(dtypes, t->dtype, d);
        }
        json_object_set_new(d, "tensors",
                            json_integer(json_integer_value(json_object_get(d, "tensors")) + 1));
        json_object_set_new(d, "elements", json_integer(json_integer_value(json_object_get(
                                                            d, "elements")) + (json_int_t)t->n_elems));
        json_object_set_new(d, "bytes", json_integer(json_integer_value(json_object_get(d, "bytes")) +
                                                     (json_int_t)t->bytes));
        params += t->n_elems;
    }
    json_t *out = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:f, s:s, s:o}", "format",
                            "safetensors", "file", path, "tensor_count", (json_int_t)set.n,
                            "elements", (json_int_t)params, "weights_bytes",
                            (json_int_t)set.data_bytes, "header_bytes_read",
                            (json_int_t)set.bytes_read, "bits_per_element",
                            params ? set.data_bytes * 8.0 / params : 0.0, "quantisation",
                            quant_hint(&set), "dtypes", dtypes);
    st_free(&set);
    return out;
}

static char *render_text(json_t *o)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    const char *fmt = json_string_value(json_object_get(o, "format"));
    fprintf(f, "%s (%s)\n", json_string_value(json_object_get(o, "file")), fmt);
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        if (json_is_integer(v))
            fprintf(f, "  %-20s %lld\n", key, (long long)json_integer_value(v));
        else if (json_is_real(v))
            fprintf(f, "  %-20s %.3f\n", key, json_real_value(v));
        else if (json_is_string(v) && strcmp(key, "format") && strcmp(key, "file") &&
                 json_string_length(v))
            fprintf(f, "  %-20s %s\n", key, json_string_value(v));
    }
    json_t *types = json_object_get(o, "tensor_types");
    if (types) {
        fprintf(f, "  %-8s %8s %16s %16s\n", "type", "tensors", "params", "bytes");
        size_t i;
        json_array_foreach(types, i, v)
        fprintf(f, "  %-8s %8lld %16lld %16lld\n", json_string_value(json_object_get(v, "type")),
                (long long)json_integer_value(json_object_get(v, "tensors")),
                (long long)json_integer_value(json_object_get(v, "params")),
                (long long)json_integer_value(json_object_get(v, "bytes")));
    }
    json_t *dt = json_object_get(o, "dtypes");
    if (dt) {
        fprintf(f, "  %-8s %8s %16s %16s\n", "dtype", "tensors", "elements", "bytes");
        json_object_foreach(dt, key, v)
        fprintf(f, "  %-8s %8lld %16lld %16lld\n", key,
                (long long)json_integer_value(json_object_get(v, "tensors")),
                (long long)json_integer_value(json_object_get(v, "elements")),
                (long long)json_integer_value(json_object_get(v, "bytes")));
    }
    json_t *meta = json_object_get(o, "metadata");
    if (meta) {
        fprintf(f, "  metadata:\n");
        json_object_foreach(meta, key, v)
        {
            char *s = json_is_object(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY);
            if (json_is_object(v))
                fprintf(f, "    %-44s [%s x %lld]\n", key,
                        json_string_value(json_object_get(v, "array_of")),
                        (long long)json_integer_value(json_object_get(v, "length")));
            else
                fprintf(f, "    %-44s %.100s\n", key, s ? s : "");
            free(s);
        }
    }
    fclose(f);
    return buf;
}

gpumem_status gpumem_inspect(const char *path, int json, char **out, gpumem_error *err)
{
    *out = NULL;
    unsigned char magic[4] = {0};
    FILE *f = fopen(path, "rb");
    if (!f)
        return err_set_at(err, GPUMEM_ERR_IO, path, -1, 0, 0, "cannot open");
    size_t got = fread(magic, 1, 4, f);
    fclose(f);
    size_t n = strlen(path);
    bool gguf = (got == 4 && memcmp(magic, "GGUF", 4) == 0) ||
                (n > 5 && strcmp(path + n - 5, ".gguf") == 0);
    json_t *o = gguf ? inspect_gguf(path, err) : inspect_safetensors(path, err);
    if (!o)
        return err && err->code ? err->code : GPUMEM_ERR_NOMEM;
    *out = json ? json_dumps(o, JSON_INDENT(2)) : render_text(o);
    json_decref(o);
    return *out ? GPUMEM_OK : err_set(err, GPUMEM_ERR_NOMEM, "out of memory");
}
