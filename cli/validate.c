/* `gpumem validate FILE.jsonl...`: runs gpumem on every measured case of
 * the validation harness and reports the errors. Uses the public API only. */
#include "validate.h"

#include "gpumem.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const parts[] = {"weights", "kv_cache", "activations", "logits"};
enum { N_PARTS = 4 };

typedef struct {
    double *err[N_PARTS + 1]; /* relative errors; index N_PARTS is the total */
    size_t n[N_PARTS + 1], cap;
    size_t cases, skipped, under, under3;
    double worst_under;
    char worst_case[160];
} stats;

static void push(stats *s, int k, double e)
{
    if (s->n[k] == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        for (int i = 0; i <= N_PARTS; i++) {
            double *p = realloc(s->err[i], cap * sizeof *p);
            if (!p)
                return;
            s->err[i] = p;
        }
        s->cap = cap;
    }
    s->err[k][s->n[k]++] = e;
}

static int by_abs(const void *a, const void *b)
{
    double x = fabs(*(const double *)a), y = fabs(*(const double *)b);
    return x < y ? -1 : x > y;
}

static double quantile(double *v, size_t n, double q)
{
    if (!n)
        return NAN;
    qsort(v, n, sizeof *v, by_abs);
    size_t i = (size_t)ceil(q * (double)n) - 1;
    return fabs(v[i < n ? i : n - 1]);
}

static uint64_t comp(const gpumem_estimate *e, const char *name)
{
    for (size_t i = 0; i < e->n_components; i++)
        if (!strcmp(e->components[i].name, name))
            return e->components[i].bytes;
    return 0;
}

static int settings_from(json_t *r, gpumem_settings *s, char *why, size_t len)
{
    gpumem_error err;
    gpumem_settings_init(s);
    const char *dt = json_string_value(json_object_get(r, "dtype"));
    if (dt) {
        if (gpumem_dtype_parse(dt, &s->dtype, &err) != GPUMEM_OK) {
            snprintf(why, len, "%s", err.message);
            return -1;
        }
        s->dtype_set = 1;
    }
    const char *attn = json_string_value(json_object_get(r, "attn"));
    if (attn && gpumem_attn_parse(attn, &s->attn, &err) != GPUMEM_OK) {
        snprintf(why, len, "attention '%s' is not modelled", attn);
        return -1;
    }
    const char *cache = json_string_value(json_object_get(r, "cache"));
    if (cache && gpumem_cache_parse(cache, &s->cache, &err) != GPUMEM_OK) {
        snprintf(why, len, "cache '%s' is not modelled", cache);
        return -1;
    }
    s->batch = (uint64_t)json_integer_value(json_object_get(r, "batch"));
    s->context = (uint64_t)json_integer_value(json_object_get(r, "context"));
    json_t *nt = json_object_get(r, "new_tokens");
    s->new_tokens = nt ? (uint64_t)json_integer_value(nt) : 1;
    if (s->new_tokens == 0)
        s->new_tokens = 1;
    return 0;
}

/* Loads the record's model: a catalog id, or a config path relative to the
 * working directory or to the repository holding the measurements. */
static gpumem_model *model_from(json_t *r, const char *jsonl, char *why, size_t len)
{
    gpumem_model *m = NULL;
    gpumem_error err;
    const char *id = json_string_value(json_object_get(r, "model"));
    const char *cfg = json_string_value(json_object_get(r, "config"));
    if (id && gpumem_model_load(id, &m, &err) == GPUMEM_OK)
        return m;
    if (cfg) {
        if (gpumem_model_load(cfg, &m, &err) == GPUMEM_OK)
            return m;
        char path[2048];
        const char *at = strstr(jsonl, "validation/");
        snprintf(path, sizeof path, "%.*s%s", at ? (int)(at - jsonl) : 0, jsonl, cfg);
        if (gpumem_model_load(path, &m, &err) == GPUMEM_OK)
            return m;
    }
    snprintf(why, len, "%s", id || cfg ? err.message : "record names no model or config");
    return NULL;
}

static void one(json_t *r, const char *jsonl, stats *st, int verbose)
{
    char why[400] = "";
    const char *name = json_string_value(json_object_get(r, "case"));
    json_t *meas = json_object_get(r, "measured");
    if (!meas) {
        st->skipped++;
        return;
    }
    gpumem_settings s;
    gpumem_model *m = NULL;
    gpumem_estimate *e = malloc(sizeof *e);
    gpumem_error err;
    if (!e || settings_from(r, &s, why, sizeof why) != 0 ||
        !(m = model_from(r, jsonl, why, sizeof why)) ||
        (gpumem_estimate_inference(m, &s, e, &err) != GPUMEM_OK &&
         snprintf(why, sizeof why, "%s", err.message) > 0)) {
        printf("  skip %-50s %s\n", name ? name : "?", why);
        st->skipped++;
        free(e);
        gpumem_model_free(m);
        return;
    }
    double pred_total = 0, meas_total = (double)json_integer_value(json_object_get(meas, "peak_bytes"));
    for (int k = 0; k < N_PARTS; k++) {
        double p = (double)comp(e, parts[k]);
        double q = (double)json_integer_value(json_object_get(meas, parts[k]));
        pred_total += p;
        /* Components under 1 MiB measured carry no meaningful ratio. */
        if (q >= 1048576)
            push(st, k, (p - q) / q);
    }
    double total_err = meas_total > 0 ? (pred_total - meas_total) / meas_total : 0;
    push(st, N_PARTS, total_err);
    st->cases++;
    if (total_err < 0) {
        st->under++;
        if (total_err < -0.03)
            st->under3++;
        if (total_err < st->worst_under) {
            st->worst_under = total_err;
            snprintf(st->worst_case, sizeof st->worst_case, "%s", name ? name : "?");
        }
    }
    if (verbose)
        printf("  %-58.58s %9.3f %9.3f %+7.2f%%\n", name ? name : "?", meas_total / 1073741824.0,
               pred_total / 1073741824.0, 100 * total_err);
    free(e);
    gpumem_model_free(m);
}

int validate_run(int n_files, const char *const *files, int check, int verbose)
{
    stats st;
    memset(&st, 0, sizeof st);
    if (verbose)
        printf("  %-58s %9s %9s %8s\n", "case", "meas GiB", "gpumem", "error");
    for (int i = 0; i < n_files; i++) {
        FILE *f = fopen(files[i], "r");
        if (!f) {
            fprintf(stderr, "gpumem: error: %s: cannot open\n", files[i]);
            return 1;
        }
        char *line = NULL;
        size_t cap = 0;
        int lineno = 0;
        while (getline(&line, &cap, f) > 0) {
            lineno++;
            json_error_t jerr;
            json_t *r = json_loads(line, 0, &jerr);
            if (!r) {
                fprintf(stderr, "gpumem: error: %s:%d:%d: %s\n", files[i], lineno, jerr.column,
                        jerr.text);
                free(line);
                fclose(f);
                return 1;
            }
            one(r, files[i], &st, verbose);
            json_decref(r);
        }
        free(line);
        fclose(f);
    }
    printf("\n%zu cases compared, %zu skipped (not a PyTorch allocation record, or not "
           "modelled)\n",
           st.cases, st.skipped);
    printf("  %-12s %6s %10s %10s\n", "component", "cases", "median", "p90");
    for (int k = 0; k <= N_PARTS; k++) {
        size_t n = st.n[k];
        double med = quantile(st.err[k], n, 0.5), p90 = quantile(st.err[k], n, 0.9);
        if (n)
            printf("  %-12s %6zu %9.2f%% %9.2f%%\n", k < N_PARTS ? parts[k] : "total", n,
                   100 * med, 100 * p90);
        else
            printf("  %-12s %6zu %10s %10s  (none measured above 1 MiB)\n",
                   k < N_PARTS ? parts[k] : "total", n, "-", "-");
    }
    printf("under-estimates: %zu of %zu (%zu by more than 3%%; worst %.2f%%%s%s)\n", st.under,
           st.cases, st.under3, 100 * st.worst_under, st.worst_case[0] ? " in " : "",
           st.worst_case);
    double med_total = quantile(st.err[N_PARTS], st.n[N_PARTS], 0.5);
    int bad = st.cases == 0 || med_total > 0.05 || st.under3 > 0;
    for (int k = 0; k <= N_PARTS; k++)
        free(st.err[k]);
    if (check && bad) {
        printf("check FAILED: median total error must be <= 5%% and no case under by > 3%%\n");
        return 1;
    }
    if (check)
        printf("check passed\n");
    return 0;
}
