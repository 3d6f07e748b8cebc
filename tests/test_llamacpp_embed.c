/* llama.cpp de3ff81's embedding and reranker models: every row of
 * validation/measurements/llamacpp_embed.jsonl is what llama-embedding of
 * de3ff81 (node-llama-cpp 3.22.1, CPU build) printed for a generated GGUF
 * (validation/llamacpp/make_gguf.py --embed, run_embed.py; headers in
 * validation/llamacpp/headers): bert encoders with mean, cls and rank
 * pooling, and a llama decoder run as an embedder (--pooling).
 *
 * Asserted per run: model, output and KV (none for an encoder) equal to
 * the printed 0.01 MiB; the compute buffer printed at load within
 * max(1%, 16 MiB) and never under by more than 5%. Where the run ended,
 * llama.cpp's exit warning gives the compute buffer the batches grew it to
 * ("compute buffer size of 207.7104 MiB, does not match expectation of
 * 18.0059 MiB"): compute + compute_growth, estimated for the largest batch
 * the run encoded, must meet the same bounds. The 48 prompt lines are
 * 1958 tokens with the bert tokenizer ("batch_decode: n_tokens = 1958,
 * n_seq = 48" in the rows that failed later, and printed.batches in rows
 * that record them). Failed rows (48 prompts for -np 4 or 8) printed their
 * load-time buffers before failing: those are checked too. */
#include "test_measured.h"

#include "gguf_write.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <unistd.h>

static void exact(const char *id, const char *what, double printed, uint64_t got)
{
    if (fabs(printed - (double)got / MiB) > 0.011)
        fail_msg("%s %s: printed %.2f MiB, gpumem %.4f", id, what, printed, (double)got / MiB);
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    double err[256];
    int n;
} errs;

/* Within max(1%, 16 MiB), never under by more than 5%; the relative error
 * is kept for the median and the worst. */
static void bounded(const char *id, const char *what, double want, double got, errs *es)
{
    double diff = got - want;
    if (diff > fmax(0.01 * want, 16.0) || diff < -fmax(0.01 * want, 16.0) || diff < -0.05 * want)
        fail_msg("%s %s: llama.cpp %.4f MiB, gpumem %.4f", id, what, want, got);
    if (es->n < 256)
        es->err[es->n++] = want > 0 ? diff / want : 0;
}

static void report(const char *what, errs *es)
{
    qsort(es->err, (size_t)es->n, sizeof es->err[0], by_value);
    double worst = 0;
    for (int i = 0; i < es->n; i++)
        worst = fabs(es->err[i]) > fabs(worst) ? es->err[i] : worst;
    printf("  %s: %d runs, median %+.3f%%, worst %+.3f%%\n", what, es->n,
           es->n ? 100 * es->err[es->n / 2] : 0.0, 100 * worst);
}

static void settings_of(json_t *st, gpumem_settings *s)
{
    gpumem_settings_init(s);
    s->engine = GPUMEM_ENGINE_LLAMACPP;
    s->context = (uint64_t)json_integer_value(json_object_get(st, "ctx"));
    s->batch = (uint64_t)json_integer_value(json_object_get(st, "batch"));
    s->n_ubatch = (uint64_t)json_integer_value(json_object_get(st, "ubatch"));
    s->n_parallel = (uint32_t)json_integer_value(json_object_get(st, "n_seq"));
    s->flash_attn = strcmp(json_string_value(json_object_get(st, "flash_attn")), "on") ? 2 : 1;
    gpumem_error err;
    const char *pool = json_string_value(json_object_get(st, "pooling"));
    if (gpumem_pooling_parse(pool, &s->pooling, &err) != GPUMEM_OK)
        fail_msg("%s", err.message);
    /* llama-embedding always runs with embeddings on */
    s->embedding = 1;
}

/* The most tokens one batch of the run held. */
static uint64_t largest_batch(json_t *p)
{
    json_t *b = json_object_get(p, "batches"), *x;
    size_t i;
    uint64_t most = 0;
    json_array_foreach(b, i, x)
    {
        uint64_t t = (uint64_t)json_integer_value(json_array_get(x, 0));
        most = t > most ? t : most;
    }
    return most ? most : 1958;
}

static void every_measured_run(void **state)
{
    (void)state;
    char path[1200];
    snprintf(path, sizeof path, "%s/validation/measurements/llamacpp_embed.jsonl",
             GPUMEM_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    int encoders = 0, decoders = 0, rerank = 0;
    errs load = {{0}, 0}, run = {{0}, 0};
    while (getline(&line, &cap, f) > 0) {
        json_error_t je;
        json_t *row = json_loads(line, 0, &je);
        assert_non_null(row);
        const char *id = json_string_value(json_object_get(row, "case"));
        json_t *st = json_object_get(row, "settings"), *p = json_object_get(row, "printed");
        json_t *spec = json_object_get(json_object_get(row, "gguf"), "spec");
        bool decoder = json_is_true(json_object_get(spec, "decoder"));
        char base[300];
        snprintf(base, sizeof base, "%s-F16",
                 json_string_value(json_object_get(json_object_get(row, "gguf"), "name")));
        gpumem_model *m = measured_header(base);
        gpumem_settings s;
        settings_of(st, &s);
        gpumem_estimate *e = estimate_or_fail(m, &s);
        assert_true(e->embedding >= 1);
        rerank += e->embedding == 2;
        exact(id, "model", json_sum(json_object_get(p, "model")), last_component(e, "weights"));
        exact(id, "output", json_sum(json_object_get(p, "output")), last_component(e, "output"));
        double kv = 0;
        json_t *kvs = json_object_get(p, "kv"), *k;
        size_t i;
        json_array_foreach(kvs, i, k) kv += json_number_value(json_object_get(k, "size"));
        exact(id, "KV", kv, last_component(e, "kv_cache"));
        /* an encoder has no memory module; a decoder keeps its cache */
        assert_true(decoder ? kv > 0 : kv == 0);
        bounded(id, "compute", json_sum(json_object_get(p, "compute")),
                (double)last_component(e, "compute") / MiB, &load);
        json_t *precise = json_object_get(p, "compute_precise");
        /* a decoder's batches never exceed its reserved ubatch (n_batch <=
         * n_ctx): its exit message says the size "matches expectation" */
        if (decoder && json_sum(precise) > 0) {
            assert_int_equal(last_component(e, "compute_growth"), 0);
            bounded(id, "compute at exit", json_sum(precise), (double)last_component(e, "compute") / MiB,
                    &run);
        }
        if (!decoder && json_sum(precise) > 0) {
            uint64_t most = largest_batch(p);
            if (s.batch > most)
                s.batch = most;
            gpumem_estimate *r = estimate_or_fail(m, &s);
            bounded(id, "compute at run time", json_sum(precise),
                    (double)(last_component(r, "compute") + last_component(r, "compute_growth")) / MiB, &run);
            free(r);
        }
        decoders += decoder;
        encoders += !decoder;
        free(e);
        gpumem_model_free(m);
        json_decref(row);
    }
    free(line);
    fclose(f);
    printf("  %d encoder runs (%d reranker), %d decoder runs: model, output, KV exact\n", encoders,
           rerank, decoders);
    report("compute at load", &load);
    report("compute grown by the batches (exit warning)", &run);
    assert_true(encoders >= 40);
    assert_true(decoders >= 6);
    assert_true(rerank >= 7);
    assert_true(run.n >= 30);
}

/* bert-small (6 layers, n_embd 384, 12 heads, n_ff 1536, 30522 tokens,
 * mean pooling) as llama-embedding -c 512 -b 2048 -fa off runs it:
 * n_seq_max 256, n_ubatch 2048, reserved for T = min(512, 2048) tokens.
 *   output  = (30522 + 384) x 4 B x 256 rows          = 31647744 B (30.18)
 *   compute = 512^2 x (12 + 1) x 4 + 512 x (1536 + 2 x 384) x 4
 *           + 3 x 512 x 4 + 512 x 256 x 4             = 18880512 B
 *             (18.0059 MiB: the exit warning's "expectation")
 * A full batch of 2048 tokens (256 sequences) then needs
 *   2048^2 x 13 x 4 + 2048 x 2304 x 4 + 3 x 2048 x 4 + 2048 x 256 x 4
 *                                                     = 239099904 B,
 * and 2048 output rows: (30522 + 384) x 4 x (2048 - 256) = 221534208 B
 * more (output_reserve(n_tokens) in encode()). */
static void bert_by_hand(void **state)
{
    (void)state;
    gpumem_model *m = measured_header("bert-small-F16");
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.engine = GPUMEM_ENGINE_LLAMACPP;
    s.context = 512;
    s.batch = 2048;
    s.flash_attn = 2;
    gpumem_estimate *e = estimate_or_fail(m, &s); /* bert: embeddings implied */
    assert_int_equal(e->embedding, 1);
    assert_int_equal(e->pooling, GPUMEM_POOLING_MEAN);
    assert_int_equal(last_component(e, "output"), 31647744);
    assert_int_equal(last_component(e, "compute"), 18880512);
    assert_int_equal(last_component(e, "compute_growth"), 239099904 - 18880512);
    assert_int_equal(last_component(e, "output_growth"), 221534208);
    assert_int_equal(last_component(e, "kv_cache"), 0);
    /* -b no larger than the context: nothing grows */
    s.batch = 512;
    gpumem_estimate *e2 = estimate_or_fail(m, &s);
    assert_int_equal(last_component(e2, "compute_growth"), 0);
    assert_int_equal(last_component(e2, "output_growth"), (30522 + 384) * 4 * (512 - 256));
    /* The growth is real: gdb on ggml_backend_buft_alloc_buffer in the
     * de3ff81 CPU build (llama-embedding -c 512 -b 2048 on the first 12
     * prompt lines, one batch of 493 tokens) shows 31647744 B (output),
     * 18880512 B (compute), then 60946632 B = 30906 x 4 x 493: the output
     * buffer re-allocated for 493 rows. gpumem's full batch at -b 512 is
     * 512 rows: an upper bound, 19 rows above. */
    s.batch = 512;
    uint64_t rows_493 = 60946632, rows_512 = last_component(e2, "output") + last_component(e2, "output_growth");
    assert_true(rows_512 >= rows_493);
    assert_int_equal(rows_512 - rows_493, 30906ull * 4 * 19);
    free(e);
    free(e2);
    gpumem_model_free(m);
}

/* --rerank on the reranker GGUF (pooling_type 4, one label): the same
 * output rows; the rank head reads n_seq row ids (cls), no mean matrix:
 * compute = 18880512 - 512 x 256 x 4 + 256 x 4 = 18357248 B (17.5068 MiB,
 * its exit warning's expectation). */
static void reranker_by_hand(void **state)
{
    (void)state;
    gpumem_model *m = measured_header("bert-rerank-F16");
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.engine = GPUMEM_ENGINE_LLAMACPP;
    s.context = 512;
    s.batch = 512;
    s.flash_attn = 2;
    gpumem_estimate *e = estimate_or_fail(m, &s);
    assert_int_equal(e->embedding, 2);
    assert_int_equal(e->pooling, GPUMEM_POOLING_RANK);
    assert_int_equal(last_component(e, "compute"), 18357248);
    free(e);
    gpumem_model_free(m);
}

static void bad_settings_are_refused(void **state)
{
    (void)state;
    gpumem_pooling p;
    gpumem_error err;
    assert_int_equal(gpumem_pooling_parse("avg", &p, &err), GPUMEM_ERR_USAGE);
    assert_non_null(strstr(err.message, "none, mean, cls, last, rank"));
    assert_int_equal(gpumem_pooling_parse("RANK", &p, &err), GPUMEM_OK);
    assert_int_equal(p, GPUMEM_POOLING_RANK);
    gpumem_model *m = measured_header("bert-small-F16");
    gpumem_model *d = measured_header("mha-tied-130m-F16");
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.engine = GPUMEM_ENGINE_LLAMACPP;
    s.draft = d;
    gpumem_estimate *e = malloc(sizeof *e);
    assert_non_null(e);
    assert_int_equal(gpumem_estimate_inference(m, &s, e, &err), GPUMEM_ERR_USAGE);
    assert_non_null(strstr(err.message, "embedding model"));
    s.draft = NULL;
    s.pooling = (gpumem_pooling)99;
    assert_int_equal(gpumem_estimate_inference(m, &s, e, &err), GPUMEM_ERR_USAGE);
    free(e);
    gpumem_model_free(m);
    gpumem_model_free(d);
}

/* A header-only GGUF of `arch` (2 layers, n_embd 256, 4 heads, no
 * tensors), with <arch>.pooling_type = pooling unless negative. */
static gpumem_status load_gguf(const char *arch, int pooling, gpumem_model **m, gpumem_error *err)
{
    char path[] = "/tmp/gpumem-embed-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "wb");
    char key[64];
    fwrite("GGUF", 1, 4, f);
    put_u32(f, 3);
    put_u64(f, 0);
    put_u64(f, pooling >= 0 ? 5 : 4);
    kv_str(f, "general.architecture", arch);
    snprintf(key, sizeof key, "%s.block_count", arch);
    kv_u32(f, key, 2);
    snprintf(key, sizeof key, "%s.embedding_length", arch);
    kv_u32(f, key, 256);
    snprintf(key, sizeof key, "%s.attention.head_count", arch);
    kv_u32(f, key, 4);
    snprintf(key, sizeof key, "%s.pooling_type", arch);
    if (pooling >= 0)
        kv_u32(f, key, (uint32_t)pooling);
    fclose(f);
    *m = NULL;
    gpumem_status st = gpumem_model_load_gguf(path, m, err);
    unlink(path);
    return st;
}

/* A decoder GGUF that names its pooling (Qwen3-Embedding: qwen3.pooling_type
 * = 3, last) is an embedding model without --embedding; its KV cache stays
 * (causal: create_memory builds one) and its output rows hold n_embd floats
 * more: here no token_embd tensor (n_vocab 0), so 256 x 4 B x 256 rows =
 * 262144 B. Without the key it stays generative: n_vocab x 1 row = 0 B. */
static void decoder_with_pooling_type(void **state)
{
    (void)state;
    gpumem_model *m;
    gpumem_error err;
    assert_int_equal(load_gguf("qwen3", 3, &m, &err), GPUMEM_OK);
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.engine = GPUMEM_ENGINE_LLAMACPP;
    s.context = 1024;
    gpumem_estimate *e = estimate_or_fail(m, &s);
    assert_int_equal(e->embedding, 1);
    assert_int_equal(e->pooling, GPUMEM_POOLING_LAST);
    assert_int_equal(last_component(e, "output"), 256 * 4 * 256);
    /* 1024 cells x 2 layers x (K + V) x 256 x 2 B (f16) */
    assert_int_equal(last_component(e, "kv_cache"), 1024ull * 2 * 2 * 256 * 2);
    free(e);
    gpumem_model_free(m);
    assert_int_equal(load_gguf("qwen3", -1, &m, &err), GPUMEM_OK);
    e = estimate_or_fail(m, &s);
    assert_int_equal(e->embedding, 0);
    assert_int_equal(last_component(e, "output"), 0);
    free(e);
    gpumem_model_free(m);
    /* the MoE encoder is refused with the reason, not sized as a dense one */
    assert_int_equal(load_gguf("nomic-bert-moe", 1, &m, &err), GPUMEM_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.message, "MoE embedding encoder"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_measured_run),
        cmocka_unit_test(bert_by_hand),
        cmocka_unit_test(reranker_by_hand),
        cmocka_unit_test(bad_settings_are_refused),
        cmocka_unit_test(decoder_with_pooling_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
