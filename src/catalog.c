#include "catalog_internal.h"

#include "error_internal.h"
#include "model_internal.h"
#include "util_internal.h"

#include <stdio.h>
#include <string.h>

size_t gpumem_catalog_model_count(void) { return catalog_models_count; }

const gpumem_catalog_model *gpumem_catalog_model_at(size_t i)
{
    return i < catalog_models_count ? &catalog_models[i].info : NULL;
}

size_t gpumem_gpu_count(void) { return catalog_gpus_count; }

const gpumem_gpu *gpumem_gpu_at(size_t i)
{
    return i < catalog_gpus_count ? &catalog_gpus[i] : NULL;
}

/* "hf:org/name" and "org/name" both name a Hub id. */
static const char *strip_hf(const char *name)
{
    return strncmp(name, "hf:", 3) == 0 ? name + 3 : name;
}

const catalog_model_row *catalog_model_find(const char *name)
{
    name = strip_hf(name);
    for (size_t i = 0; i < catalog_models_count; i++) {
        const gpumem_catalog_model *m = &catalog_models[i].info;
        if (str_ieq(name, m->id) || str_ieq(name, m->hf_id) || str_in_list(name, m->aliases))
            return &catalog_models[i];
    }
    return NULL;
}

/* Appends up to 5 names closest to `name` (edit distance, or a shared
 * prefix) to `out`. */
typedef struct {
    const char *name;
    unsigned dist;
} candidate;

static void consider(candidate *best, const char *name, const char *cand)
{
    unsigned d = str_distance(name, cand);
    size_t n = strlen(name);
    if (n >= 3 && strlen(cand) > n && strncmp(cand, name, n) == 0)
        d = d < 2 ? d : 2; /* a prefix the user started typing */
    for (int i = 0; i < 5; i++) {
        if (best[i].name && strcmp(best[i].name, cand) == 0)
            return;
        if (!best[i].name || d < best[i].dist) {
            memmove(&best[i + 1], &best[i], (size_t)(4 - i) * sizeof *best);
            best[i].name = cand;
            best[i].dist = d;
            return;
        }
    }
}

static void suggestions(const char *name, const char *const *names, size_t n, char *out,
                        size_t len)
{
    candidate best[6] = {{0}};
    size_t limit = strlen(name) / 2 + 2;
    for (size_t i = 0; i < n; i++)
        consider(best, name, names[i]);
    out[0] = '\0';
    for (int i = 0; i < 5 && best[i].name; i++) {
        if (best[i].dist > limit)
            break;
        size_t used = strlen(out);
        snprintf(out + used, len - used, "%s%s", used ? ", " : "", best[i].name);
    }
}

gpumem_status gpumem_model_load_catalog(const char *name, gpumem_model **out,
                                        gpumem_error *err)
{
    *out = NULL;
    const catalog_model_row *row = catalog_model_find(name);
    if (!row) {
        const char *names[2048];
        size_t n = 0;
        for (size_t i = 0; i < catalog_models_count && n < 2048; i++)
            names[n++] = catalog_models[i].info.id;
        char hint[256];
        suggestions(strip_hf(name), names, n, hint, sizeof hint);
        return err_set(err, GPUMEM_ERR_NOT_FOUND,
                       "unknown model '%s'%s%s%s (see 'gpumem models'; give a config.json, a model "
                       "file or directory, or hf:ORG/NAME to fetch from the Hub)",
                       name, hint[0] ? "; did you mean: " : "", hint, hint[0] ? "?" : "");
    }
    gpumem_status st = gpumem_model_load_config_json((const char *)row->json, row->json_len,
                                                     row->info.id, out, err);
    if (st == GPUMEM_OK)
        (*out)->source = GPUMEM_SOURCE_CATALOG;
    return st;
}

gpumem_status gpumem_gpu_find(const char *name, const gpumem_gpu **out, gpumem_error *err)
{
    *out = NULL;
    for (size_t i = 0; i < catalog_gpus_count; i++) {
        if (str_ieq(name, catalog_gpus[i].id) || str_in_list(name, catalog_gpus[i].aliases)) {
            *out = &catalog_gpus[i];
            return GPUMEM_OK;
        }
    }
    const char *names[512];
    size_t n = 0;
    for (size_t i = 0; i < catalog_gpus_count && n < 512; i++)
        names[n++] = catalog_gpus[i].id;
    char hint[256];
    suggestions(name, names, n, hint, sizeof hint);
    return err_set(err, GPUMEM_ERR_NOT_FOUND, "unknown GPU '%s'%s%s%s (see 'gpumem gpus')", name,
                   hint[0] ? "; did you mean: " : "", hint, hint[0] ? "?" : "");
}
