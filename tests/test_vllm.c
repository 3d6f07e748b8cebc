/* The vLLM profile: the KV planner against hand calculations from
 * vllm/v1/core/kv_cache_utils.py, and the engine against startup logs
 * published in public issues (tests/data/engine_logs/vllm.tsv). */
#include "test_helpers.h"

#include "dtype_internal.h"
#include "engine_vllm_internal.h"

#include <math.h>

static const double GiB = 1073741824.0;

static engine_req req_for(const gpumem_model *m, uint32_t tp, int dtype_set, gpumem_dtype d,
                          int kv_fp8)
{
    engine_req r;
    memset(&r, 0, sizeof r);
    r.dtype = dtype_set ? d : m->dtype;
    r.dtype_given = dtype_set;
    r.compute = dtype_get(r.dtype)->compute;
    r.kv_dtype = kv_fp8 ? GPUMEM_DTYPE_FP8 : r.compute;
    r.batch = 1;
    r.tp = tp;
    return r;
}

static const gpumem_gpu *gpu_or_fail(const char *id)
{
    const gpumem_gpu *g = NULL;
    gpumem_error err;
    if (gpumem_gpu_find(id, &g, &err) != GPUMEM_OK)
        fail_msg("gpu %s: %s", id, err.message);
    return g;
}

static uint64_t comp(const gpumem_device *d, const char *name)
{
    for (size_t i = 0; i < d->n_components; i++)
        if (!strcmp(d->components[i].name, name))
            return d->components[i].bytes;
    fail_msg("no component %s", name);
    return 0;
}

/* "Model loading took" counts the text model and, for a multimodal model,
 * its vision tower and projector (gpumem's vision_weights). */
static uint64_t loaded_weights(const gpumem_device *d)
{
    uint64_t w = comp(d, "weights");
    for (size_t i = 0; i < d->n_components; i++)
        if (!strcmp(d->components[i].name, "vision_weights"))
            w += d->components[i].bytes;
    return w;
}

/* ------------------------------------------------------ planner by hand */

static vllm_kv_params params(uint64_t len, vllm_tokens_rule rule)
{
    vllm_kv_params p = {16, 2, 2, 1, 1, len, 8192, rule, 1, false, false, false,
                         VLLM_HYBRID_UNMODELLED, false, false, 0};
    return p;
}

/* Llama-3.1-8B: page = 16 tokens x 8 KV heads x (128 + 128) x 2 bytes =
 * 65,536 bytes per layer; 32 layers make a block 2 MiB, so 1 GiB is 512
 * blocks = 8,192 tokens; at max_model_len 4096 a request needs 256 blocks:
 * concurrency 2.00x; one request of 8192 tokens needs exactly 1 GiB. */
static void test_plan_dense_gqa(void **state)
{
    (void)state;
    gpumem_model *m = load_or_fail("llama-3.1-8b");
    vllm_kv_params p = params(4096, VLLM_TOKENS_BLOCKS);
    vllm_kv_plan plan;
    assert_int_equal(vllm_plan_kv(m, &p, 1ull << 30, &plan, NULL), GPUMEM_OK);
    assert_int_equal(plan.types[0].page_bytes, 65536);
    assert_int_equal(plan.n_groups, 1);
    assert_int_equal(plan.num_blocks, 512);
    assert_int_equal(plan.tokens, 8192);
    assert_true(fabs(plan.max_concurrency - 2.0) < 1e-9);
    assert_true(plan.starts);
    assert_int_equal(plan.max_model_len_limit, 8192);
    /* TP 8 leaves one KV head per rank: page 8,192 bytes, 8x the blocks. */
    p.tp = 8;
    assert_int_equal(vllm_plan_kv(m, &p, 1ull << 30, &plan, NULL), GPUMEM_OK);
    assert_int_equal(plan.types[0].page_bytes, 8192);
    assert_int_equal(plan.tokens, 65536);
    /* fp8 KV halves the page. */
    p.tp = 1, p.kv_bytes = 1;
    assert_int_equal(vllm_plan_kv(m, &p, 1ull << 30, &plan, NULL), GPUMEM_OK);
    assert_int_equal(plan.tokens, 16384);
    gpumem_model_free(m);
}

/* Gemma-2-9B: 42 layers alternating sliding (4096) and full attention, 8
 * KV heads of 256: page 16 x 8 x 512 x 2 = 131,072 bytes. Two kinds of 21
 * layers: group size 21, 2 groups, a block index costs 21 pages; 1 GiB is
 * 390 blocks; 0.11 prints 390 // 2 x 16 = 3,120 tokens. At max_model_len
 * 8192 a request needs 512 full-layer blocks + (4095 + 8192 capped to 8192
 * = 512) + 1 sliding blocks; 0.11 sums then divides: 1025 blocks. */
static void test_plan_sliding_hybrid(void **state)
{
    (void)state;
    gpumem_model *m = load_or_fail("gemma-2-9b-it");
    vllm_kv_params p = params(8192, VLLM_TOKENS_BLOCKS);
    vllm_kv_plan plan;
    assert_int_equal(vllm_plan_kv(m, &p, 1ull << 30, &plan, NULL), GPUMEM_OK);
    assert_int_equal(plan.n_types, 2);
    assert_int_equal(plan.n_groups, 2);
    assert_int_equal(plan.group_size, 21);
    assert_int_equal(plan.num_blocks, 390);
    assert_int_equal(plan.tokens, 3120);
    assert_int_equal(plan.blocks_per_request, 1025);
    /* 0.2x+: tokens = int(390 / 1025 x 8192). */
    p.tokens_rule = VLLM_TOKENS_CONCURRENCY;
    assert_int_equal(vllm_plan_kv(m, &p, 1ull << 30, &plan, NULL), GPUMEM_OK);
    assert_int_equal(plan.tokens, (uint64_t)(390.0 / 1025.0 * 8192.0));
    gpumem_model_free(m);
}

/* DeepSeek-V2-Lite: MLA caches 512 + 64 = 576 elements per layer and
 * token, 2 bytes, 27 layers: a 32,768-token request needs 27 x 2048 blocks
 * x 16 x 1152 bytes = 0.949 GiB, identical on every TP rank. */
static void test_plan_mla(void **state)
{
    (void)state;
    gpumem_model *m = load_or_fail("deepseek-v2-lite");
    vllm_kv_params p = params(32768, VLLM_TOKENS_BLOCKS);
    vllm_kv_plan plan;
    assert_int_equal(vllm_plan_kv(m, &p, 1ull << 30, &plan, NULL), GPUMEM_OK);
    assert_int_equal(plan.types[0].kind, VLLM_SPEC_MLA);
    assert_int_equal(plan.types[0].page_bytes, 16 * 576 * 2);
    assert_int_equal(plan.needed_bytes, 27ull * 2048 * 16 * 1152);
    p.tp = 4;
    assert_int_equal(vllm_plan_kv(m, &p, 1ull << 30, &plan, NULL), GPUMEM_OK);
    assert_int_equal(plan.types[0].page_bytes, 16 * 576 * 2);
    gpumem_model_free(m);
}

/* Mamba-130m: a state-only model still plans one state page per request:
 * 24 layers of (conv 3 x 1536 + ssm 1536 x 16) x 2 bytes. */
static void test_plan_mamba(void **state)
{
    (void)state;
    gpumem_model *m = load_or_fail("mamba-130m");
    vllm_kv_params p = params(2048, VLLM_TOKENS_BLOCKS);
    vllm_kv_plan plan;
    assert_int_equal(vllm_plan_kv(m, &p, 1ull << 30, &plan, NULL), GPUMEM_OK);
    assert_int_equal(plan.types[0].kind, VLLM_SPEC_MAMBA);
    assert_int_equal(plan.types[0].page_bytes, (3 * 1536 + 1536 * 16) * 2);
    assert_int_equal(plan.needed_bytes, 24ull * (3 * 1536 + 1536 * 16) * 2);
    gpumem_model_free(m);
}

/* ------------------------------------------------------------- engine */

static void test_needs_gpu(void **state)
{
    (void)state;
    gpumem_model *m = load_or_fail("llama-3.1-8b");
    gpumem_settings s;
    gpumem_settings_init(&s);
    engine_req r = req_for(m, 1, 0, GPUMEM_DTYPE_BF16, 0);
    gpumem_device d;
    gpumem_vllm_info info;
    gpumem_error err;
    memset(&d, 0, sizeof d);
    assert_int_equal(engine_vllm(m, &r, &s, &d, &info, &err), GPUMEM_ERR_USAGE);
    assert_string_equal(err.message, "vLLM sizes its KV pool from the GPU: give --gpu");
    s.gpu = gpu_or_fail("h100-sxm");
    s.vllm_version = "0.1.0";
    memset(&d, 0, sizeof d);
    assert_int_equal(engine_vllm(m, &r, &s, &d, &info, &err), GPUMEM_ERR_NOT_FOUND);
    gpumem_model_free(m);
}

/* The version table: 0.11.0 defaults to 0.90 utilisation without the
 * CUDA-graph term, 0.33.0 (newest, the default) to 0.92 with it. On an
 * H100 the components add up to the requested 92% of memory plus the CUDA
 * context, which lives outside vLLM's request. */
static void test_versions_and_sum(void **state)
{
    (void)state;
    assert_string_equal(vllm_version_find(NULL)->version, "0.33.0");
    assert_true(vllm_version_find("v0.11.0")->default_utilization == 0.90);
    assert_true(vllm_version_find("0.33.0")->graphs_in_profile);
    assert_false(vllm_version_find("0.11.0")->graphs_in_profile);
    gpumem_model *m = load_or_fail("llama-3.1-8b");
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.gpu = gpu_or_fail("h100-sxm");
    s.max_model_len = 8192;
    engine_req r = req_for(m, 1, 0, GPUMEM_DTYPE_BF16, 0);
    gpumem_device d;
    gpumem_vllm_info info;
    memset(&d, 0, sizeof d);
    assert_int_equal(engine_vllm(m, &r, &s, &d, &info, NULL), GPUMEM_OK);
    assert_true(info.present && info.starts);
    assert_string_equal(info.version, "0.33.0");
    assert_true(info.gpu_memory_utilization == 0.92);
    double want = (double)s.gpu->memory_bytes * 0.92 + 512.0 * 1048576;
    assert_true(fabs((double)d.bytes - want) < 2.0 * 1048576);
    assert_true(info.max_model_len_limit >= 131072);
    /* A 0.11 pool is larger by the CUDA graphs it did not count and
     * smaller by 2% of the GPU. */
    s.vllm_version = "0.11.0";
    gpumem_device d2;
    memset(&d2, 0, sizeof d2);
    assert_int_equal(engine_vllm(m, &r, &s, &d2, &info, NULL), GPUMEM_OK);
    double diff = (double)comp(&d, "kv_cache") - (double)comp(&d2, "kv_cache");
    assert_true(fabs(diff - (0.02 * (double)s.gpu->memory_bytes - (double)comp(&d, "cuda_graphs"))) <
                4096.0);
    gpumem_model_free(m);
}

/* The image side of vLLM's profiling run, by hand. LLaVA-1.5-7B is
 * Llama-2-7B's text model (the same layers; the 8192-token forward, not
 * the sampler, sets both peaks) plus a CLIP ViT-L/14 at 336 px: 24^2 = 576
 * patches + the class token, 576 placeholder tokens ("default" strategy
 * drops one). On an H100 vLLM 0.33.0 budgets max(8192, 576) = 8192 encoder
 * tokens, so 8192 / 576 = 14 dummy images; their outputs (14 x 576 x 4096
 * x 2 B = 66,060,288 B) and fp32 pixels (14 x 3 x 336^2 x 4 B =
 * 18,966,528 B) stay alive through the text forward: +85,026,816 B. The
 * tower's own peak, 14 x 577 x (2 x 1024 + 2 x 4096) x 2 B = 165 MB plus
 * pixels, stays under that forward. 0.11.0 pads each output to the
 * 8192-token budget: 14 x 8192 x 4096 x 2 B = 939,524,096 B + the pixels. */
static void test_multimodal_profiling_images(void **state)
{
    (void)state;
    gpumem_model *llava = load_or_fail("llava-1.5-7b"), *llama = load_or_fail("llama-2-7b");
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.engine = GPUMEM_ENGINE_VLLM;
    s.gpu = gpu_or_fail("h100-sxm");
    s.max_model_len = 4096;
    const char *versions[] = {"0.33.0", "0.11.0"};
    const uint64_t held[] = {85026816, 939524096ull + 18966528};
    for (size_t i = 0; i < 2; i++) {
        s.vllm_version = versions[i];
        gpumem_estimate *a = estimate_or_fail(llava, &s), *b = estimate_or_fail(llama, &s);
        assert_int_equal(component(a, "activations") - component(b, "activations"), held[i]);
        free(a);
        free(b);
    }
    gpumem_model_free(llava);
    gpumem_model_free(llama);
}

/* --target-concurrency: Llama-3.1-8B caches 32 layers x 8 KV heads x 128
 * x 2 (K and V) x 2 B = 131,072 B per token, so 10 requests of 8192 tokens
 * need 10 x 8192 x 131,072 B = 10 GiB of KV pool. The answer is the first
 * hundredth of utilisation whose pool holds them: there the pool is at
 * least 10 GiB and the concurrency at least 10; a hundredth less is short,
 * and the pool moves by 1% of the GPU per hundredth. */
static void test_utilization_for_concurrency(void **state)
{
    (void)state;
    gpumem_model *m = load_or_fail("llama-3.1-8b");
    gpumem_settings s;
    gpumem_error err;
    gpumem_settings_init(&s);
    s.engine = GPUMEM_ENGINE_VLLM;
    s.gpu = gpu_or_fail("h100-sxm");
    s.max_model_len = 8192;
    double u = 0;
    assert_int_equal(gpumem_vllm_utilization_for(m, &s, 10, &u, &err), GPUMEM_OK);
    assert_true(u > 0.2 && u < 0.9);
    s.gpu_memory_utilization = u;
    gpumem_estimate *e = estimate_or_fail(m, &s);
    uint64_t pool = component(e, "kv_cache");
    assert_true(pool >= 10ull << 30);
    assert_true(e->vllm.max_concurrency >= 10);
    free(e);
    s.gpu_memory_utilization = u - 0.01;
    e = estimate_or_fail(m, &s);
    assert_true(e->vllm.max_concurrency < 10);
    double step = (double)pool - (double)component(e, "kv_cache");
    assert_true(fabs(step - 0.01 * (double)s.gpu->memory_bytes) < 1048576.0);
    free(e);
    /* Not reachable: 100 requests of 131072 tokens need 1.6 TiB. */
    s.max_model_len = 131072;
    assert_int_equal(gpumem_vllm_utilization_for(m, &s, 100, &u, &err), GPUMEM_OK);
    assert_true(u == 0);
    assert_int_equal(gpumem_vllm_utilization_for(m, &s, 0, &u, &err), GPUMEM_ERR_USAGE);
    s.engine = GPUMEM_ENGINE_TRANSFORMERS;
    assert_int_equal(gpumem_vllm_utilization_for(m, &s, 4, &u, &err), GPUMEM_ERR_USAGE);
    gpumem_model_free(m);
}

/* A config without torch_dtype (starcoder2-3b) reads as float32; vLLM's
 * `--dtype auto` runs it in 16 bits. Page: 30 layers x 2 KV heads x (128 +
 * 128) x 2 bytes x 16 tokens = 491,520 bytes, so 1 GiB is 2,184 blocks =
 * 34,944 tokens; an explicit fp32 halves that (1,092 blocks, 17,472), an
 * fp8 KV cache doubles it (4,369 blocks, 69,904). */
static void test_auto_dtype_fp32_config(void **state)
{
    (void)state;
    gpumem_model *m = load_or_fail("starcoder2-3b");
    assert_int_equal(m->dtype, GPUMEM_DTYPE_FP32);
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.gpu = gpu_or_fail("h100-sxm");
    s.max_model_len = 16384;
    s.vllm_version = "0.11.0";
    s.kv_cache_memory = 1ull << 30;
    struct {
        int dtype_set, kv_fp8;
        uint64_t tokens;
    } cases[] = {{0, 0, 34944}, {1, 0, 17472}, {0, 1, 69904}};
    uint64_t w[3];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        engine_req r = req_for(m, 1, cases[i].dtype_set, GPUMEM_DTYPE_FP32, cases[i].kv_fp8);
        s.kv_dtype_set = cases[i].kv_fp8;
        gpumem_device d;
        gpumem_vllm_info info;
        memset(&d, 0, sizeof d);
        assert_int_equal(engine_vllm(m, &r, &s, &d, &info, NULL), GPUMEM_OK);
        assert_int_equal(info.kv_cache_tokens, cases[i].tokens);
        w[i] = comp(&d, "weights");
    }
    /* Weights follow the cast: half of what an explicit fp32 keeps (to the
     * byte but for rounding up the padded vocabulary). */
    assert_true(w[1] >= 2 * w[0] - 4 && w[1] <= 2 * w[0]);
    assert_int_equal(w[2], w[0]);
    gpumem_model_free(m);
}

/* ------------------------------------------------- published logs */

typedef struct {
    char id[64], source[128], printed[32], rule[16], gpu[32], model[48];
    unsigned tp;
    char dtype[8], kv[16];
    unsigned long long len;
    char pool[16], weights[16], tokens[16], conc[16], needed[16], starts[4];
    int check; /* 0: recorded only (the table's header says why) */
    double util;             /* --gpu-memory-utilization; 0 not known */
    unsigned long long batched; /* max_num_batched_tokens; 0 not known */
    int limit_image, limit_video; /* limit_mm_per_prompt; -1 vLLM's default */
    unsigned long long max_pixels;  /* mm_processor_kwargs; 0 the model's */
    char encoder[32];        /* "budget/items/modality" as printed, or "-" */
} log_case;

enum { LOG_FIELDS = 22 };

/* "image=N,video=M" (either may be left out) or "-". */
static void parse_limits(const char *f, log_case *c)
{
    c->limit_image = c->limit_video = -1;
    const char *im = strstr(f, "image="), *vi = strstr(f, "video=");
    if (im)
        c->limit_image = atoi(im + 6);
    if (vi)
        c->limit_video = atoi(vi + 6);
}

static int parse_line(char *line, log_case *c)
{
    char *f[LOG_FIELDS];
    int n = 0;
    for (char *t = strtok(line, "\t\n"); t && n < LOG_FIELDS; t = strtok(NULL, "\t\n"))
        f[n++] = t;
    if (n != LOG_FIELDS)
        return 0;
#define CP(dst, i) snprintf(dst, sizeof dst, "%s", f[i])
    CP(c->id, 0), CP(c->source, 1), CP(c->printed, 2), CP(c->rule, 3), CP(c->gpu, 4);
    CP(c->model, 5), CP(c->dtype, 7), CP(c->kv, 8), CP(c->pool, 10), CP(c->weights, 11);
    CP(c->tokens, 12), CP(c->conc, 13), CP(c->needed, 14), CP(c->starts, 15);
#undef CP
    c->tp = (unsigned)strtoul(f[6], NULL, 10);
    c->len = strtoull(f[9], NULL, 10);
    c->check = strcmp(f[16], "1") == 0;
    c->util = strcmp(f[17], "-") ? strtod(f[17], NULL) : 0;
    c->batched = strtoull(f[18], NULL, 10);
    parse_limits(f[19], c);
    const char *mp = strstr(f[20], "max_pixels=");
    c->max_pixels = mp ? strtoull(mp + 11, NULL, 10) : 0;
    snprintf(c->encoder, sizeof c->encoder, "%s", f[21]);
    return 1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(const char *what, double *e, size_t n)
{
    if (!n)
        return;
    qsort(e, n, sizeof *e, cmp_double);
    double med = n % 2 ? e[n / 2] : (e[n / 2 - 1] + e[n / 2]) / 2;
    print_message("vLLM %s: %zu cases, median error %.2f%%, worst %.2f%%\n", what, n, 100 * med,
                  100 * e[n - 1]);
}

/* The printed "Encoder cache will be initialized with a budget of N tokens,
 * and profiled with K <modality> items" against gpumem's profiling pass
 * (vllm_mm_profile_for) at the row's settings: budget, items and modality
 * must be equal. */
static void check_encoder(const gpumem_model *m, const log_case *c, const gpumem_settings *s,
                          const engine_req *r)
{
    unsigned long long budget = 0, items = 0;
    char modality[16] = "";
    if (sscanf(c->encoder, "%llu/%llu/%15s", &budget, &items, modality) != 3)
        fail_msg("%s: encoder column '%s' is not budget/items/modality", c->id, c->encoder);
    const vllm_version *v = vllm_version_find(c->rule);
    assert_non_null(v);
    uint64_t seqs, batched;
    vllm_batching_defaults(v, s->gpu, &seqs, &batched);
    if (c->batched)
        batched = c->batched;
    vllm_mm_args a = {batched, c->len, seqs, c->tp, dtype_get(r->compute)->bytes_num,
                      c->max_pixels, c->limit_image, c->limit_video};
    vllm_mm_profile p;
    assert_int_equal(vllm_mm_profile_for(m, v, &a, &p, NULL), GPUMEM_OK);
    const char *mod = p.video ? "video" : "image";
    print_message("%-26s encoder budget %llu, %llu %s items; log %llu, %llu %s\n", c->id,
                  (unsigned long long)p.budget, (unsigned long long)p.items, mod, budget, items,
                  modality);
    assert_int_equal(p.budget, budget);
    assert_int_equal(p.items, items);
    assert_string_equal(mod, modality);
}

/* The row re-estimated without its printed pool: gpumem's own profiling
 * pass at the printed --gpu-memory-utilization sizes the pool. An
 * under-estimate is worse than an over-estimate, so gpumem may find fewer
 * KV tokens than vLLM printed (the header records each gap and its
 * reason) but never more than 3% more. Returns the signed error. */
static double check_profiled_pool(const gpumem_model *m, const log_case *c,
                                  const gpumem_settings *s, const engine_req *r)
{
    gpumem_settings p = *s;
    p.kv_cache_memory = 0;
    p.gpu_memory_utilization = c->util;
    gpumem_device dev;
    gpumem_vllm_info info;
    gpumem_error err;
    memset(&dev, 0, sizeof dev);
    if (engine_vllm(m, r, &p, &dev, &info, &err) != GPUMEM_OK)
        fail_msg("%s: %s", c->id, err.message);
    double want = strtod(c->tokens, NULL), got = (double)info.kv_cache_tokens;
    double e = (got - want) / want;
    print_message("%-26s KV tokens from gpumem's profile %.0f (pool %.2f GiB), log %.0f (%+.1f%%)\n",
                  c->id, got, (double)comp(&dev, "kv_cache") / GiB, want, 100 * e);
    assert_true(e <= 0.03);
    return fabs(e);
}

/* Every row of tests/data/engine_logs/vllm.tsv (the columns are described
 * in its header): the printed weights within 1%, and with the printed pool
 * fed back as --kv-cache-memory the printed token count and concurrency
 * within 3%, the KV need within 3% and whether vLLM started. */
static void test_published_logs(void **state)
{
    (void)state;
    FILE *f = fopen(GPUMEM_SOURCE_DIR "/tests/data/engine_logs/vllm.tsv", "r");
    assert_non_null(f);
    char line[1024];
    double ew[64], et[64], ec[64], en[64], ep[64];
    size_t nw = 0, nt = 0, nc = 0, nn = 0, np = 0, cases = 0, checked = 0;
    bool header = true;
    while (fgets(line, sizeof line, f)) {
        log_case c;
        if (line[0] == '#' || !parse_line(line, &c))
            continue;
        if (header) {
            header = false;
            continue;
        }
        cases++;
        if (!c.check)
            continue;
        checked++;
        gpumem_model *m = load_or_fail(c.model);
        gpumem_settings s;
        gpumem_settings_init(&s);
        /* GPU not stated: with the pool given it only sets the batching
         * defaults, which rows without sliding layers do not use. */
        s.gpu = gpu_or_fail(strcmp(c.gpu, "-") ? c.gpu : "h100-sxm");
        s.max_model_len = c.len;
        s.vllm_version = c.rule;
        s.max_num_batched_tokens = c.batched;
        s.limit_mm_image = c.limit_image;
        s.limit_mm_video = c.limit_video;
        s.mm_max_pixels = c.max_pixels;
        /* A trailing '*': the pool is derived from the printed tokens. */
        bool derived = strchr(c.pool, '*') != NULL;
        /* A negative printed pool (vLLM refused) cannot be fed back. */
        if (strcmp(c.pool, "-") != 0 && strtod(c.pool, NULL) >= 0)
            s.kv_cache_memory = (uint64_t)(strtod(c.pool, NULL) * GiB);
        gpumem_dtype d = GPUMEM_DTYPE_BF16;
        int dtype_set = strcmp(c.dtype, "auto") != 0;
        if (dtype_set)
            assert_int_equal(gpumem_dtype_parse(c.dtype, &d, NULL), GPUMEM_OK);
        engine_req r = req_for(m, c.tp, dtype_set, d, !strncmp(c.kv, "fp8", 3));
        s.kv_dtype_set = !strncmp(c.kv, "fp8", 3);
        gpumem_device dev;
        gpumem_vllm_info info;
        gpumem_error err;
        memset(&dev, 0, sizeof dev);
        if (engine_vllm(m, &r, &s, &dev, &info, &err) != GPUMEM_OK)
            fail_msg("%s: %s", c.id, err.message);
        if (strcmp(c.weights, "-") != 0) {
            double want = strtod(c.weights, NULL) * GiB, got = (double)loaded_weights(&dev);
            ew[nw] = fabs(got - want) / want;
            print_message("%-26s weights %.3f GiB, log %.3f (%+.2f%%)\n", c.id, got / GiB,
                          want / GiB, 100 * (got - want) / want);
            assert_true(ew[nw++] <= 0.01);
        }
        if (strcmp(c.tokens, "-") != 0 && s.kv_cache_memory) {
            double want = strtod(c.tokens, NULL), got = (double)info.kv_cache_tokens;
            double e = want > 0 ? fabs(got - want) / want : (got > 0);
            print_message("%-26s KV tokens %.0f, log %.0f%s\n", c.id, got, want,
                          derived ? " (pool derived from them)" : "");
            assert_true(e <= 0.03);
            if (!derived)
                et[nt++] = e;
        }
        if (strcmp(c.conc, "-") != 0 && s.kv_cache_memory) {
            double want = strtod(c.conc, NULL);
            ec[nc] = fabs(info.max_concurrency - want) / want;
            print_message("%-26s concurrency %.2fx, log %.2fx\n", c.id, info.max_concurrency,
                          want);
            assert_true(ec[nc++] <= 0.03);
        }
        if (strcmp(c.needed, "-") != 0) {
            /* The need is what check_enough_kv_cache_memory prints. */
            vllm_kv_params p = {16, r.kv_dtype == GPUMEM_DTYPE_FP8 ? 1 : 2, 2, c.tp, 1, c.len,
                                8192, VLLM_TOKENS_BLOCKS, 1, false, false, false,
                                VLLM_HYBRID_UNMODELLED, false, false, 0};
            vllm_kv_plan plan;
            assert_int_equal(vllm_plan_kv(m, &p, s.kv_cache_memory, &plan, NULL), GPUMEM_OK);
            double want = strtod(c.needed, NULL) * GiB;
            en[nn] = fabs((double)plan.needed_bytes - want) / want;
            assert_true(en[nn++] <= 0.03);
        }
        if (strcmp(c.starts, "-") != 0 && s.kv_cache_memory)
            assert_int_equal(info.starts, atoi(c.starts));
        if (strcmp(c.encoder, "-") != 0)
            check_encoder(m, &c, &s, &r);
        if (c.util > 0 && s.kv_cache_memory && !derived && strcmp(c.tokens, "-") != 0)
            ep[np++] = check_profiled_pool(m, &c, &s, &r);
        gpumem_model_free(m);
    }
    fclose(f);
    print_message("vLLM published logs: %zu cases, %zu asserted\n", cases, checked);
    report("weights", ew, nw);
    report("KV tokens", et, nt);
    report("concurrency", ec, nc);
    report("KV needed", en, nn);
    report("KV tokens from the profiled pool", ep, np);
    assert_true(checked >= 24);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_dense_gqa),
        cmocka_unit_test(test_multimodal_profiling_images),   cmocka_unit_test(test_plan_sliding_hybrid),
        cmocka_unit_test(test_plan_mla),         cmocka_unit_test(test_plan_mamba),
        cmocka_unit_test(test_needs_gpu),        cmocka_unit_test(test_versions_and_sum),
        cmocka_unit_test(test_auto_dtype_fp32_config), cmocka_unit_test(test_published_logs),
        cmocka_unit_test(test_utilization_for_concurrency),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
