/* `gpumem validate FILE.jsonl...`: runs gpumem on every measured case of
 * the validation harness and reports the errors. Uses the public API only. */
#include "validate.h"

#include "gpumem.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "vision_weights" (a multimodal tower) and "images" (a prompt's images)
 * have no measured counterpart: the harness files them under weights and
 * activations; they count in the total. */
static const char *const parts[] = {"weights", "kv_cache", "activations", "logits", "images",
                                    "vision_weights"};
enum { N_PARTS = 6 };

/* llama.cpp buffers: exact (to the printed 0.01 MiB) for model, KV and
 * output; the compute buffer within 1% or 16 MiB, whichever is larger. */
typedef struct {
    size_t runs, skipped, exact[3], compute_ok, compute_under5;
    double *cerr;
    size_t n_cerr, cap;
    double worst_under;
    char worst_case[160];
} lstats;

/* Known deviations: cases measured under by more than 3% whose cause is
 * understood and written down (known_deviations.tsv beside the
 * measurements: case, tab, reason). They are reported, not counted; one
 * that is no longer under by more than 3% is stale and fails --check, so
 * the list cannot outlive the problem. */
enum { MAX_KNOWN = 64 };
typedef struct {
    char case_id[160];
    char reason[400];
    bool seen, hit;
} known_dev;

typedef struct {
    double *err[N_PARTS + 1]; /* relative errors; index N_PARTS is the total */
    size_t n[N_PARTS + 1], cap;
    size_t cases, skipped, under, under3, known_under3, over5;
    double worst_under, worst_over;
    char worst_case[160], worst_over_case[160];
    known_dev known[MAX_KNOWN];
    size_t n_known;
} stats;

/* Reads DIR/known_deviations.tsv for a measurements file in DIR, once per
 * directory; a missing file is no list. */
static int load_known(stats *st, const char *jsonl)
{
    char path[1024];
    const char *slash = strrchr(jsonl, '/');
    int dir_len = slash ? (int)(slash - jsonl) + 1 : 0;
    snprintf(path, sizeof path, "%.*sknown_deviations.tsv", dir_len, jsonl);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[1024];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0] || line[0] == '#')
            continue;
        char *tab = strchr(line, '\t');
        if (!tab || st->n_known == MAX_KNOWN) {
            fprintf(stderr, "gpumem: error: %s:%d: %s\n", path, lineno,
                    tab ? "too many known deviations" : "expected CASE<tab>REASON");
            fclose(f);
            return -1;
        }
        *tab = 0;
        bool dup = false;
        for (size_t i = 0; i < st->n_known; i++)
            dup |= strcmp(st->known[i].case_id, line) == 0;
        if (dup)
            continue; /* the same directory's list read for a second file */
        known_dev *k = &st->known[st->n_known++];
        snprintf(k->case_id, sizeof k->case_id, "%s", line);
        snprintf(k->reason, sizeof k->reason, "%s", tab + 1);
    }
    fclose(f);
    return 0;
}

static known_dev *find_known(stats *st, const char *name)
{
    for (size_t i = 0; name && i < st->n_known; i++)
        if (strcmp(st->known[i].case_id, name) == 0)
            return &st->known[i];
    return NULL;
}

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
    s->images = (uint32_t)json_integer_value(json_object_get(r, "images")); /* 0 when absent */
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

static double printed(json_t *p, const char *buf)
{
    json_t *v = json_object_get(p, buf);
    if (json_is_number(v))
        return json_number_value(v);
    return json_number_value(json_object_get(v, "CPU"));
}

/* Finds validation/llamacpp/headers/<gguf>.gguf-header and its size. */
static gpumem_model *llamacpp_model(json_t *r, const char *jsonl, char *why, size_t len)
{
    json_t *g = json_object_get(r, "gguf");
    char base[256], dir[2048], path[2600], line[512];
    snprintf(base, sizeof base, "%s-%s", json_string_value(json_object_get(g, "name")),
             json_string_value(json_object_get(g, "quant")));
    const char *at = strstr(jsonl, "measurements/");
    snprintf(dir, sizeof dir, "%.*sllamacpp/headers", at ? (int)(at - jsonl) : 0, jsonl);
    snprintf(path, sizeof path, "%s/index.tsv", dir);
    FILE *f = fopen(path, "r");
    unsigned long long size = 0;
    while (f && fgets(line, sizeof line, f)) {
        char name[256];
        unsigned long long sz;
        if (sscanf(line, "%255s %llu", name, &sz) == 2 && !strcmp(name, base))
            size = sz;
    }
    if (f)
        fclose(f);
    if (!size) {
        snprintf(why, len, "no header for %s in %s", base, path);
        return NULL;
    }
    snprintf(path, sizeof path, "%s/%s.gguf-header", dir, base);
    gpumem_model *m = NULL;
    gpumem_error err;
    if (gpumem_model_load_gguf_header(path, size, &m, &err) != GPUMEM_OK) {
        snprintf(why, len, "%s", err.message);
        return NULL;
    }
    return m;
}

static void one_llamacpp(json_t *r, const char *jsonl, lstats *ls, int verbose)
{
    char why[400] = "";
    const char *name = json_string_value(json_object_get(r, "case"));
    json_t *st = json_object_get(r, "settings"), *p = json_object_get(r, "printed");
    if (json_is_true(json_object_get(st, "repack"))) {
        /* CPU-only: the CPU backend repacks some quant types into an extra
         * buffer for its own kernels; GPU offload never does. */
        printf("  skip %-50.50s CPU weight repacking is not modelled\n", name ? name : "?");
        ls->skipped++;
        return;
    }
    gpumem_model *m = llamacpp_model(r, jsonl, why, sizeof why);
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.engine = GPUMEM_ENGINE_LLAMACPP;
    s.context = (uint64_t)json_integer_value(json_object_get(st, "ctx"));
    s.batch = (uint64_t)json_integer_value(json_object_get(st, "batch"));
    s.n_ubatch = (uint64_t)json_integer_value(json_object_get(st, "ubatch"));
    s.n_parallel = (uint32_t)json_integer_value(json_object_get(st, "n_seq"));
    s.kv_unified = json_is_true(json_object_get(st, "kv_unified"));
    s.swa_full = json_is_true(json_object_get(st, "swa_full"));
    const char *fa = json_string_value(json_object_get(st, "flash_attn"));
    s.flash_attn = fa && !strcmp(fa, "off") ? 2 : fa && !strcmp(fa, "on") ? 1 : 0;
    gpumem_error err;
    const char *ctk = json_string_value(json_object_get(st, "ctk"));
    const char *ctv = json_string_value(json_object_get(st, "ctv"));
    gpumem_estimate *e = malloc(sizeof *e);
    if (!m || !e || (ctk && gpumem_cache_type_parse(ctk, &s.cache_type_k, &err)) ||
        (ctv && gpumem_cache_type_parse(ctv, &s.cache_type_v, &err)) ||
        gpumem_estimate_inference(m, &s, e, &err) != GPUMEM_OK) {
        if (!why[0])
            snprintf(why, sizeof why, "%s", err.message);
        printf("  skip %-50.50s %s\n", name ? name : "?", why);
        ls->skipped++;
        free(e);
        gpumem_model_free(m);
        return;
    }
    const char *bufs[3] = {"weights", "kv_cache", "output"};
    double want[3] = {printed(p, "model") ? printed(p, "model")
                                          : json_number_value(json_object_get(
                                                json_object_get(p, "model"), "CPU_Mapped")),
                      json_number_value(json_object_get(p, "kv_total")), printed(p, "output")};
    json_t *model = json_object_get(p, "model");
    if (json_is_object(model)) {
        want[0] = 0;
        const char *k;
        json_t *v;
        json_object_foreach(model, k, v) want[0] += json_number_value(v);
    }
    ls->runs++;
    for (int k = 0; k < 3; k++) {
        double got = (double)comp(e, bufs[k]) / 1048576.0;
        if (fabs(got - want[k]) <= 0.0051)
            ls->exact[k]++;
        else if (verbose)
            printf("  %-58.58s %s: gpumem %.2f MiB, printed %.2f\n", name, bufs[k], got, want[k]);
    }
    json_t *cp = json_object_get(p, "compute_precise");
    double cw = cp ? printed(p, "compute_precise") : printed(p, "compute");
    double cg = (double)comp(e, "compute") / 1048576.0;
    double ce = cw > 0 ? (cg - cw) / cw : 0;
    if (fabs(cg - cw) <= (cw * 0.01 > 16 ? cw * 0.01 : 16))
        ls->compute_ok++;
    if (ce < -0.05)
        ls->compute_under5++;
    if (ce < ls->worst_under) {
        ls->worst_under = ce;
        snprintf(ls->worst_case, sizeof ls->worst_case, "%s", name);
    }
    if (ls->n_cerr == ls->cap) {
        size_t cap = ls->cap ? ls->cap * 2 : 256;
        double *d = realloc(ls->cerr, cap * sizeof *d);
        if (d) {
            ls->cerr = d;
            ls->cap = cap;
        }
    }
    if (ls->n_cerr < ls->cap)
        ls->cerr[ls->n_cerr++] = ce;
    if (verbose)
        printf("  %-58.58s compute %9.2f MiB vs %9.2f %+7.2f%%\n", name, cg, cw, 100 * ce);
    free(e);
    gpumem_model_free(m);
}

/* A training record: settings for gpumem_estimate_training. */
static int train_settings_from(json_t *r, gpumem_train_settings *t, char *why, size_t len)
{
    gpumem_error err;
    gpumem_train_settings_init(t);
    const char *method = json_string_value(json_object_get(r, "method"));
    const char *prec = json_string_value(json_object_get(r, "precision"));
    const char *opt = json_string_value(json_object_get(r, "optimizer"));
    const char *impl = json_string_value(json_object_get(r, "optimizer_impl"));
    if (opt && impl && !strcmp(opt, "adamw") && !strcmp(impl, "foreach"))
        opt = "adamw-foreach"; /* torch.optim.AdamW's CUDA default */
    const char *ckpt = json_string_value(json_object_get(r, "checkpointing"));
    const char *attn = json_string_value(json_object_get(r, "attn"));
    if ((method && gpumem_train_method_parse(method, &t->method, &err)) ||
        (prec && gpumem_precision_parse(prec, &t->precision, &err)) ||
        (opt && gpumem_optimizer_parse(opt, &t->optimizer, &err)) ||
        (ckpt && gpumem_checkpointing_parse(ckpt, &t->checkpointing, &err))) {
        snprintf(why, len, "%s", err.message);
        return -1;
    }
    json_t *rank = json_object_get(r, "lora_rank");
    if (json_is_integer(rank))
        t->lora_rank = (uint32_t)json_integer_value(rank);
    t->lora_targets = json_string_value(json_object_get(r, "lora_targets"));
    t->micro_batch = (uint64_t)json_integer_value(json_object_get(r, "batch"));
    t->seq_len = (uint64_t)json_integer_value(json_object_get(r, "seq"));
    t->flash_attention = !(attn && !strcmp(attn, "eager"));
    return 0;
}

static const char *const train_parts[] = {"weights",      "gradients",      "optimizer_states",
                                          "lora_weights", "lora_gradients", "lora_optimizer_states",
                                          "activations",  "logits",         "optimizer_transient"};

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
    gpumem_train_settings t;
    gpumem_model *m = NULL;
    gpumem_estimate *e = malloc(sizeof *e);
    gpumem_error err;
    bool training = json_object_get(r, "optimizer") != NULL;
    if (!e ||
        (training ? train_settings_from(r, &t, why, sizeof why)
                  : settings_from(r, &s, why, sizeof why)) != 0 ||
        !(m = model_from(r, jsonl, why, sizeof why)) ||
        ((training ? gpumem_estimate_training(m, &t, e, &err)
                   : gpumem_estimate_inference(m, &s, e, &err)) != GPUMEM_OK &&
         snprintf(why, sizeof why, "%s", err.message) > 0)) {
        printf("  skip %-50s %s\n", name ? name : "?", why);
        st->skipped++;
        free(e);
        gpumem_model_free(m);
        return;
    }
    double pred_total = 0, meas_total = (double)json_integer_value(json_object_get(meas, "peak_bytes"));
    if (training) /* every allocator-visible training component */
        for (size_t k = 0; k < sizeof train_parts / sizeof train_parts[0]; k++)
            pred_total += (double)comp(e, train_parts[k]);
    for (int k = 0; !training && k < N_PARTS; k++) {
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
    known_dev *kd = find_known(st, name);
    if (kd)
        kd->seen = true;
    if (total_err < 0) {
        st->under++;
        if (total_err < -0.03 && kd) {
            kd->hit = true;
            st->known_under3++;
        } else if (total_err < -0.03) {
            st->under3++;
        }
        if (total_err < st->worst_under) {
            st->worst_under = total_err;
            snprintf(st->worst_case, sizeof st->worst_case, "%s", name ? name : "?");
        }
    }
    if (total_err > 0.05)
        st->over5++;
    if (total_err > st->worst_over) {
        st->worst_over = total_err;
        snprintf(st->worst_over_case, sizeof st->worst_over_case, "%s", name ? name : "?");
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
    lstats ls;
    size_t stale = 0;
    memset(&st, 0, sizeof st);
    memset(&ls, 0, sizeof ls);
    if (verbose)
        printf("  %-58s %9s %9s %8s\n", "case", "meas GiB", "gpumem", "error");
    for (int i = 0; i < n_files; i++) {
        FILE *f = fopen(files[i], "r");
        if (!f) {
            fprintf(stderr, "gpumem: error: %s: cannot open\n", files[i]);
            return 1;
        }
        if (load_known(&st, files[i]) != 0) {
            fclose(f);
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
            if (json_object_get(r, "printed") && json_object_get(r, "gguf"))
                one_llamacpp(r, files[i], &ls, verbose);
            else
                one(r, files[i], &st, verbose);
            json_decref(r);
        }
        free(line);
        fclose(f);
    }
    if (!st.cases && ls.runs)
        goto summary;
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
    printf("under-estimates: %zu of %zu (%zu by more than 3%%, %zu more known; worst %.2f%%%s%s)\n",
           st.under, st.cases, st.under3, st.known_under3, 100 * st.worst_under,
           st.worst_case[0] ? " in " : "", st.worst_case);
    printf("over-estimates by more than 5%%: %zu of %zu (worst %+.2f%%%s%s)\n", st.over5, st.cases,
           100 * st.worst_over, st.worst_over_case[0] ? " in " : "", st.worst_over_case);
    for (size_t i = 0; i < st.n_known; i++) {
        const known_dev *k = &st.known[i];
        if (k->hit)
            printf("  known: %s: %s\n", k->case_id, k->reason);
        else if (k->seen) {
            printf("  STALE known deviation (no longer under by more than 3%%): %s\n", k->case_id);
            stale++;
        }
    }
summary:;
    int bad = 0;
    if (ls.runs) {
        printf("\nllama.cpp runs: %zu compared, %zu skipped\n", ls.runs, ls.skipped);
        printf("  model buffer equal to the printed 0.01 MiB: %zu of %zu\n", ls.exact[0], ls.runs);
        printf("  KV buffer equal to the printed 0.01 MiB:    %zu of %zu\n", ls.exact[1], ls.runs);
        printf("  output buffer equal to the printed 0.01 MiB: %zu of %zu\n", ls.exact[2], ls.runs);
        printf("  compute buffer within 1%% or 16 MiB: %zu of %zu (%.1f%%); median error %.2f%%, "
               "p90 %.2f%%; under by more than 5%%: %zu (worst %.2f%%%s%s)\n",
               ls.compute_ok, ls.runs, 100.0 * ls.compute_ok / ls.runs,
               100 * quantile(ls.cerr, ls.n_cerr, 0.5), 100 * quantile(ls.cerr, ls.n_cerr, 0.9),
               ls.compute_under5, 100 * ls.worst_under, ls.worst_case[0] ? " in " : "",
               ls.worst_case);
        bad |= ls.exact[0] != ls.runs || ls.exact[1] != ls.runs || ls.exact[2] != ls.runs ||
               ls.compute_ok * 100 < ls.runs * 95 || ls.compute_under5 > 0;
        free(ls.cerr);
    }
    if (st.cases) {
        double med_total = quantile(st.err[N_PARTS], st.n[N_PARTS], 0.5);
        bad |= med_total > 0.05 || st.under3 > 0 || st.over5 > 0 || stale > 0;
    }
    bad |= st.cases == 0 && ls.runs == 0;
    for (int k = 0; k <= N_PARTS; k++)
        free(st.err[k]);
    if (check && bad) {
        printf("check FAILED: PyTorch: every case within +5%%, none under by > 3%%; "
               "llama.cpp: model/KV/output exact, compute within 1%% or 16 MiB on >= 95%% of "
               "runs and never under by more than 5%%\n");
        return 1;
    }
    if (check)
        printf("check passed\n");
    return 0;
}
