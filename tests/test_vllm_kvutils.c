/* gpumem's vLLM KV planner against vLLM's own planning code.
 *
 * validation/measurements/vllm_kv_utils.jsonl holds what vLLM 0.11.0 and
 * 0.33.0 computed themselves (validation/vllm/kv_utils_reference.py: their
 * EngineArgs config, the per-layer KVCacheSpecs their runner builds, then
 * get_kv_cache_configs and the capacity functions) for catalog configs,
 * TP sizes, block sizes, KV dtypes and available-memory figures. Each case
 * is fed to gpumem twice: to the planner (vllm_plan_kv) and through the
 * public estimate with --kv-cache-memory. Page size, group count and block
 * count must be equal, the printed token count and concurrency within 0.1%,
 * and a refused start must be refused with the same estimated length. */
#include "test_helpers.h"

#include "engine_vllm_internal.h"

#include <jansson.h>
#include <math.h>

#define DATA GPUMEM_SOURCE_DIR "/validation/measurements/vllm_kv_utils.jsonl"

typedef struct {
    const char *version, *model, *kv_dtype;
    uint64_t memory, max_len, batched, tp, block;
    int starts;
    uint64_t page, groups, blocks, tokens, limit;
    uint64_t attn_block; /* hybrids: the raised attention block size, else 0 */
    int hma;             /* the hybrid KV-cache manager switched: 0, 1 on, 2 off */
    double concurrency;
} kv_case;

static uint64_t num(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v))
        fail_msg("field %s missing", k);
    return (uint64_t)json_integer_value(v);
}

static const char *str(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_string(v))
        fail_msg("field %s missing", k);
    return json_string_value(v);
}

static kv_case read_case(json_t *o)
{
    kv_case c;
    memset(&c, 0, sizeof c);
    c.version = str(o, "vllm");
    c.model = str(o, "model");
    c.kv_dtype = str(o, "kv_cache_dtype");
    c.memory = num(o, "available_memory");
    c.max_len = num(o, "max_model_len");
    c.batched = num(o, "max_num_batched_tokens");
    c.tp = num(o, "tp");
    c.block = num(o, "block_size");
    c.starts = json_is_true(json_object_get(o, "starts"));
    if (json_object_get(o, "attention_block_size"))
        c.attn_block = num(o, "attention_block_size");
    /* "off": --disable-hybrid-kv-cache-manager; "chunked-off": its
     * chunked-attention variable at 0, the same for a chunked model. */
    if (json_object_get(o, "hybrid_kv_cache_manager_switch"))
        c.hma = strcmp(str(o, "hybrid_kv_cache_manager_switch"), "on") ? 2 : 1;
    if (!c.starts) {
        c.limit = num(o, "max_model_len_limit");
        return c;
    }
    c.page = num(o, "page_size_bytes");
    c.groups = num(o, "num_groups");
    c.blocks = num(o, "num_blocks");
    c.tokens = num(o, "kv_cache_tokens");
    c.concurrency = json_real_value(json_object_get(o, "max_concurrency"));
    return c;
}

/* A catalog name, or a config under the repository (a name with a '/'). */
static gpumem_model *load_model(const char *name)
{
    if (!strchr(name, '/'))
        return load_or_fail(name);
    char path[512];
    snprintf(path, sizeof path, "%s/%s.json", GPUMEM_SOURCE_DIR, name);
    gpumem_model *m = NULL;
    gpumem_error err;
    if (gpumem_model_load_config_file(path, &m, &err) != GPUMEM_OK)
        fail_msg("loading %s: %s", path, err.message);
    return m;
}

static int close_rel(double a, double b) { return fabs(a - b) <= 1e-3 * fabs(b); }

/* vllm_plan_kv with the parameters engine_vllm derives from the same flags. */
static int check_planner(const kv_case *c, const gpumem_model *m, char *why, size_t n)
{
    const vllm_version *v = vllm_version_find(c->version);
    assert_non_null(v);
    /* --dtype auto: every catalog config runs in 16 bits (vllm_auto_dtype). */
    uint32_t kv = strcmp(c->kv_dtype, "fp8") ? 2 : 1;
    vllm_kv_params p = vllm_kv_params_for(v, (uint32_t)c->block, kv, 2, (uint32_t)c->tp, 1,
                                          c->max_len, c->batched);
    p.hma = c->hma;
    vllm_kv_plan plan;
    gpumem_error err;
    if (vllm_plan_kv(m, &p, c->memory, &plan, &err) != GPUMEM_OK) {
        snprintf(why, n, "planner error: %s", err.message);
        return 0;
    }
    if (c->attn_block && plan.attn_block_size != c->attn_block) {
        snprintf(why, n, "vLLM raises the attention block to %llu, gpumem to %u",
                 (unsigned long long)c->attn_block, plan.attn_block_size);
        return 0;
    }
    if (!c->starts) {
        if (plan.starts || plan.max_model_len_limit != c->limit) {
            snprintf(why, n, "vLLM refuses (limit %llu), gpumem starts=%d limit %llu",
                     (unsigned long long)c->limit, plan.starts,
                     (unsigned long long)plan.max_model_len_limit);
            return 0;
        }
        return 1;
    }
    if (!plan.starts || plan.types[0].page_bytes != c->page || plan.n_groups != c->groups ||
        plan.num_blocks != c->blocks || !close_rel((double)plan.tokens, (double)c->tokens) ||
        !close_rel(plan.max_concurrency, c->concurrency)) {
        snprintf(why, n,
                 "vLLM page %llu groups %llu blocks %llu tokens %llu conc %.4f; gpumem "
                 "starts %d page %llu groups %u blocks %llu tokens %llu conc %.4f",
                 (unsigned long long)c->page, (unsigned long long)c->groups,
                 (unsigned long long)c->blocks, (unsigned long long)c->tokens, c->concurrency,
                 plan.starts, (unsigned long long)plan.types[0].page_bytes, plan.n_groups,
                 (unsigned long long)plan.num_blocks, (unsigned long long)plan.tokens,
                 plan.max_concurrency);
        return 0;
    }
    return 1;
}

/* The public estimate with --kv-cache-memory must print vLLM's figures. */
static int check_estimate(const kv_case *c, const gpumem_model *m, char *why, size_t n)
{
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.engine = GPUMEM_ENGINE_VLLM;
    s.vllm_version = c->version;
    s.gpus = (uint32_t)c->tp;
    s.block_size = (uint32_t)c->block;
    s.max_model_len = c->max_len;
    s.max_num_batched_tokens = c->batched;
    s.kv_cache_memory = c->memory;
    s.vllm_hybrid_kv_cache_manager = c->hma;
    if (!strcmp(c->kv_dtype, "fp8"))
        s.kv_dtype_set = 1, s.kv_dtype = GPUMEM_DTYPE_FP8;
    gpumem_error err;
    if (gpumem_gpu_find("h100-80gb", &s.gpu, &err) != GPUMEM_OK)
        fail_msg("%s", err.message);
    gpumem_estimate *e = estimate_or_fail(m, &s);
    int ok = e->vllm.present && e->vllm.starts == c->starts;
    if (ok && c->starts)
        ok = close_rel((double)e->vllm.kv_cache_tokens, (double)c->tokens) &&
             close_rel(e->vllm.max_concurrency, c->concurrency);
    if (ok && !c->starts)
        ok = e->vllm.max_model_len_limit == c->limit;
    if (!ok)
        snprintf(why, n, "estimate: starts %d tokens %llu conc %.4f limit %llu", e->vllm.starts,
                 (unsigned long long)e->vllm.kv_cache_tokens, e->vllm.max_concurrency,
                 (unsigned long long)e->vllm.max_model_len_limit);
    free(e);
    return ok;
}

static void test_planner_matches_vllm_kv_utils(void **state)
{
    (void)state;
    FILE *f = fopen(DATA, "r");
    assert_non_null(f);
    char line[4096];
    int total = 0, matched = 0, versions[2] = {0, 0};
    while (fgets(line, sizeof line, f)) {
        json_error_t jerr;
        json_t *o = json_loads(line, 0, &jerr);
        if (!o)
            fail_msg("%s line %d: %s", DATA, jerr.line, jerr.text);
        kv_case c = read_case(o);
        gpumem_model *m = load_model(c.model);
        char why[512] = "";
        int ok = check_planner(&c, m, why, sizeof why) && check_estimate(&c, m, why, sizeof why);
        total++;
        matched += ok;
        versions[strcmp(c.version, "0.11.0") != 0]++;
        if (!ok)
            print_message("MISMATCH vLLM %s %s tp%llu bs%llu %s %llu B: %s\n", c.version, c.model,
                          (unsigned long long)c.tp, (unsigned long long)c.block, c.kv_dtype,
                          (unsigned long long)c.memory, why);
        gpumem_model_free(m);
        json_decref(o);
    }
    fclose(f);
    print_message("vLLM kv_cache_utils: %d of %d cases match (0.11.0: %d, 0.33.0: %d)\n", matched,
                  total, versions[0], versions[1]);
    /* At least 20 configurations per version, all of them matching. */
    assert_true(versions[0] >= 20 && versions[1] >= 20);
    assert_int_equal(matched, total);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_planner_matches_vllm_kv_utils),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
