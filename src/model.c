#include "model_internal.h"

#include "catalog_internal.h"
#include "hub_internal.h"
#include "read_gguf_internal.h"
#include "read_safetensors_internal.h"
#include "error_internal.h"
#include "util_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

gpumem_model *model_alloc(uint32_t n_layer)
{
    gpumem_model *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    if (n_layer) {
        m->layers = calloc(n_layer, sizeof *m->layers);
        if (!m->layers) {
            free(m);
            return NULL;
        }
        m->n_layer = n_layer;
    }
    return m;
}

void gpumem_model_free(gpumem_model *model)
{
    if (!model)
        return;
    free(model->layers);
    free(model);
}

gpumem_status model_finish(gpumem_model *m, gpumem_error *err)
{
    uint64_t total = 0, active = 0;
    bool ok = u64_add(m->params_embed, m->params_output, &total) &&
              u64_add(total, m->params_other, &total) &&
              u64_add(total, m->params_vision, &total);
    active = total;
    for (uint32_t i = 0; ok && i < m->n_layer; i++) {
        const model_layer *l = &m->layers[i];
        uint64_t dense = l->params_linear + l->params_small;
        ok = u64_add(total, dense, &total) && u64_add(total, l->params_expert, &total) &&
             u64_add(active, dense, &active);
        if (ok && l->n_expert) /* experts are equal: a share of n_expert_used */
            ok = u64_add(active, l->params_expert / l->n_expert * l->n_expert_used, &active);
    }
    if (!ok)
        return err_set(err, GPUMEM_ERR_OVERFLOW, "parameter count does not fit in 64 bits");
    m->params_total = total;
    m->params_active = active;
    return GPUMEM_OK;
}

void gpumem_model_get_info(const gpumem_model *m, gpumem_model_info *out)
{
    memset(out, 0, sizeof *out);
    out->name = m->name;
    out->architecture = m->architecture_known ? m->architecture : "unknown";
    out->source = m->source;
    out->params = m->params_total;
    out->vision_params = m->params_vision;
    out->active_params = m->params_active;
    out->n_layers = m->n_layer;
    out->hidden_size = m->n_embd;
    out->vocab_size = m->n_vocab;
    out->max_context = m->max_ctx;
    out->dtype = m->dtype;
    out->tied_embeddings = m->tied;
    out->is_encoder = m->is_encoder;
    out->architecture_known = m->architecture_known;
    out->note = m->note;
}

/* ----------------------------------------------------- parameter counts */

static const double max_params = 1e15;

gpumem_status gpumem_params_parse(const char *text, double *out, gpumem_error *err)
{
    const char *p = text;
    char *end;
    if (!text || !*text)
        return err_set(err, GPUMEM_ERR_USAGE, "empty parameter count");
    /* strtod is locale dependent only for the decimal point; accept '.' always
     * by parsing digits by hand. */
    double v = 0, scale = 1;
    int digits = 0, frac = 0;
    for (; *p; p++) {
        if (*p >= '0' && *p <= '9') {
            if (frac)
                scale /= 10;
            v = v * (frac ? 1 : 10) + (*p - '0') * (frac ? scale : 1);
            digits++;
        } else if (*p == '.' && !frac) {
            frac = 1;
        } else if (*p == '_' || *p == ',') {
            continue;
        } else {
            break;
        }
    }
    if (!digits)
        return err_set(err, GPUMEM_ERR_USAGE, "'%s' is not a parameter count (try 7B or 7e9)",
                       text);
    if (*p == 'e' || *p == 'E') {
        long ex = strtol(p + 1, &end, 10);
        if (end == p + 1)
            return err_set(err, GPUMEM_ERR_USAGE, "'%s': missing exponent", text);
        if (ex > 30 || ex < -30)
            return err_set(err, GPUMEM_ERR_USAGE, "'%s' is out of range (at most 1e15)", text);
        v *= pow(10.0, (double)ex);
        p = end;
    } else if (*p) {
        static const struct {
            char c;
            double m;
        } suffix[] = {{'k', 1e3}, {'K', 1e3}, {'m', 1e6}, {'M', 1e6},
                      {'b', 1e9}, {'B', 1e9}, {'t', 1e12}, {'T', 1e12}};
        size_t i;
        for (i = 0; i < sizeof suffix / sizeof suffix[0]; i++)
            if (*p == suffix[i].c)
                break;
        if (i == sizeof suffix / sizeof suffix[0])
            return err_set(err, GPUMEM_ERR_USAGE,
                           "'%s': unknown suffix '%c' (use K, M, B or T)", text, *p);
        v *= suffix[i].m;
        p++;
    }
    if (*p)
        return err_set(err, GPUMEM_ERR_USAGE, "'%s': unexpected '%s' after the number", text, p);
    if (v < 1)
        return err_set(err, GPUMEM_ERR_USAGE, "'%s': a model has at least one parameter", text);
    if (v > max_params)
        return err_set(err, GPUMEM_ERR_USAGE,
                       "'%s' parameters is absurd: gpumem accepts at most 1e15", text);
    *out = v;
    return GPUMEM_OK;
}

gpumem_status gpumem_model_from_params(double params, gpumem_model **out, gpumem_error *err)
{
    *out = NULL;
    if (!(params >= 1) || params > max_params)
        return err_set(err, GPUMEM_ERR_USAGE,
                       "parameter count %g is out of range [1, 1e15]", params);
    gpumem_model *m = model_alloc(0);
    if (!m)
        return err_set(err, GPUMEM_ERR_NOMEM, "out of memory");
    m->source = GPUMEM_SOURCE_PARAMS;
    m->dtype = GPUMEM_DTYPE_FP16;
    m->params_total = m->params_active = (uint64_t)llround(params);
    snprintf(m->architecture, sizeof m->architecture, "unknown");
    double b = params / 1e9;
    if (b >= 1)
        snprintf(m->name, sizeof m->name, "%.6gB params", b);
    else
        snprintf(m->name, sizeof m->name, "%.6gM params", params / 1e6);
    *out = m;
    return GPUMEM_OK;
}

static bool has_magic(const char *path, const char *magic)
{
    char buf[8] = {0};
    size_t n = strlen(magic);
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    bool ok = fread(buf, 1, n, f) == n && memcmp(buf, magic, n) == 0;
    fclose(f);
    return ok;
}

/* Parses a GGUF header from an opened source and builds the description. */
static gpumem_status load_gguf_source(byte_source *src, gpumem_status opened, const char *path,
                                      gpumem_model **out, gpumem_error *err)
{
    gguf_file f;
    *out = NULL;
    if (opened != GPUMEM_OK)
        return opened;
    gpumem_status st = gguf_read(src, &f, err);
    source_close(src);
    if (st != GPUMEM_OK)
        return st;
    st = model_from_gguf(&f, path, out, err);
    gguf_free(&f);
    return st;
}

gpumem_status gpumem_model_load_gguf(const char *path, gpumem_model **out, gpumem_error *err)
{
    byte_source src;
    return load_gguf_source(&src, source_open_file(&src, path, err), path, out, err);
}

gpumem_status gpumem_model_load_gguf_header(const char *path, uint64_t file_size,
                                            gpumem_model **out, gpumem_error *err)
{
    byte_source src;
    return load_gguf_source(&src, source_open_prefix(&src, path, file_size, err), path, out,
                            err);
}

gpumem_status gpumem_model_load_safetensors(const char *path, gpumem_model **out,
                                            gpumem_error *err)
{
    byte_source src;
    st_set set;
    memset(&set, 0, sizeof set);
    *out = NULL;
    gpumem_status st = source_open_file(&src, path, err);
    if (st != GPUMEM_OK)
        return st;
    st = st_read_file(&src, &set, err);
    source_close(&src);
    gpumem_model *m = NULL;
    if (st == GPUMEM_OK && !(m = model_alloc(0)))
        st = err_set(err, GPUMEM_ERR_NOMEM, "out of memory");
    if (st == GPUMEM_OK) {
        const char *base = strrchr(path, '/');
        snprintf(m->name, sizeof m->name, "%s", base ? base + 1 : path);
        snprintf(m->architecture, sizeof m->architecture, "unknown");
        snprintf(m->note, sizeof m->note,
                 "no config.json beside it: weights exact, architecture (KV, activations) unknown");
        m->source = GPUMEM_SOURCE_SAFETENSORS;
        m->dtype = GPUMEM_DTYPE_BF16;
        st = st_attach(m, &set, err);
    }
    st_free(&set);
    if (st != GPUMEM_OK) {
        gpumem_model_free(m);
        return st;
    }
    *out = m;
    return GPUMEM_OK;
}

gpumem_status model_attach_dir_weights(gpumem_model *m, const char *dir, gpumem_error *err)
{
    st_set set;
    memset(&set, 0, sizeof set);
    gpumem_status st = st_read_dir(dir, &set, err);
    if (st == GPUMEM_ERR_NOT_FOUND)
        return GPUMEM_OK; /* a config alone is fine */
    if (st == GPUMEM_OK) {
        uint64_t config_params = m->params_total, file_params = 0;
        for (size_t i = 0; i < set.n; i++)
            file_params += set.tensors[i].n_elems;
        st = st_attach(m, &set, err);
        m->source = GPUMEM_SOURCE_SAFETENSORS;
        /* Quantised checkpoints pack several weights per stored element, so
         * only unquantised files can be compared element for element. */
        double diff = (double)file_params - (double)config_params;
        if (st == GPUMEM_OK && !m->note[0] && (diff > 0.005 * config_params ||
                                              -diff > 0.005 * config_params))
            snprintf(m->note, sizeof m->note,
                     "files hold %llu elements, config.json describes %llu parameters: weights "
                     "sized from the files",
                     (unsigned long long)file_params, (unsigned long long)config_params);
    }
    st_free(&set);
    return st;
}

gpumem_status gpumem_model_load_hub(const char *spec, gpumem_model **out, gpumem_error *err)
{
    return hub_load(spec, out, err);
}

gpumem_status gpumem_model_load(const char *spec, gpumem_model **out, gpumem_error *err)
{
    struct stat st;
    *out = NULL;
    if (!spec || !*spec)
        return err_set(err, GPUMEM_ERR_USAGE, "no model given");
    if (strncmp(spec, "hf:", 3) == 0)
        return gpumem_model_load_hub(spec, out, err);
    if (stat(spec, &st) == 0) {
        size_t n = strlen(spec);
        /* The magic decides; a .gguf name too, so that a damaged GGUF file
         * gets the GGUF reader's error rather than the JSON parser's. */
        if (S_ISREG(st.st_mode) &&
            (has_magic(spec, "GGUF") || (n > 5 && strcmp(spec + n - 5, ".gguf") == 0)))
            return gpumem_model_load_gguf(spec, out, err);
        if (S_ISREG(st.st_mode) && n > 12 && strcmp(spec + n - 12, ".safetensors") == 0)
            return gpumem_model_load_safetensors(spec, out, err);
        return gpumem_model_load_config_file(spec, out, err);
    }
    if (strchr(spec, '/') && (spec[0] == '.' || spec[0] == '/' || strstr(spec, ".json"))) {
        /* Looks like a path, not a Hub id: say the file is missing. */
        if (!catalog_model_find(spec))
            return err_set_at(err, GPUMEM_ERR_IO, spec, -1, 0, 0, "no such file or directory");
    }
    return gpumem_model_load_catalog(spec, out, err);
}
