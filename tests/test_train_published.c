/* Training memory against published figures. Every case names its source,
 * prints gpumem's figure, the published one and the relative error; the
 * suite ends with the median and worst error. */
#include "test_helpers.h"

#include <math.h>
#include <stdbool.h>

#define MIB (1024.0 * 1024.0)

typedef struct {
    double err[64];
    int n;
} errors;

static errors all_errors;

static double compare(const char *label, double ours, double theirs, const char *unit,
                      const char *what, bool count)
{
    double e = (ours - theirs) / theirs;
    printf("  %-58s gpumem %10.1f %s  %s %10.1f %s  error %+6.1f%%\n", label, ours, unit, what,
           theirs, unit, 100 * e);
    if (count && all_errors.n < 64)
        all_errors.err[all_errors.n++] = fabs(e);
    return e;
}

/* Published figures count towards the median and worst error. */
static double record(const char *label, double ours, double published, const char *unit)
{
    return compare(label, ours, published, unit, "published", true);
}

/* Other estimators are printed beside, not counted. */
static double peer(const char *label, double ours, double theirs, const char *unit)
{
    return compare(label, ours, theirs, unit, "peer     ", false);
}

static gpumem_estimate *train_or_fail(const gpumem_model *m, const gpumem_train_settings *s)
{
    gpumem_estimate *e = malloc(sizeof *e);
    gpumem_error err;
    assert_non_null(e);
    if (gpumem_estimate_training(m, s, e, &err) != GPUMEM_OK)
        fail_msg("training estimate: %s", err.message);
    return e;
}

static uint64_t comp(const gpumem_estimate *e, const char *name) { return component(e, name); }

/* ------------------------------------------------------------------------
 * Hugging Face, "Model training anatomy" and "Methods and tools for
 * efficient training on a single GPU" (transformers docs, 2022 versions of
 * model_memory_anatomy.md and perf_train_gpu_one.md): BertForSequence-
 * Classification from bert-large-uncased, sequences of 512, Trainer
 * defaults (AdamW, fp32, eager attention), a V100 16 GB; "GPU memory
 * occupied" is nvidia-smi's used memory in MiB, of which 1343 MiB were
 * taken by the CUDA context before any tensor (same page). gpumem's
 * reserved_bytes (what torch's caching allocator holds) is compared with
 * nvidia-smi minus that context. The runs are torch 1.10 era: zero_grad
 * kept gradients allocated, as gpumem assumes.
 * ---------------------------------------------------------------------- */
typedef struct {
    const char *label;
    uint64_t batch;
    int ckpt, fp16;
    gpumem_optimizer optim;
    double nvidia_smi_mib;
} anatomy_run;

static const anatomy_run anatomy[] = {
    {"vanilla, batch 4", 4, 0, 0, GPUMEM_OPTIM_ADAMW, 14949},
    {"batch 1 (x4 accumulation)", 1, 0, 0, GPUMEM_OPTIM_ADAMW, 8681},
    {"batch 1, gradient checkpointing", 1, 1, 0, GPUMEM_OPTIM_ADAMW, 6775},
    {"batch 4, fp16", 4, 0, 1, GPUMEM_OPTIM_ADAMW, 13939},
    {"batch 1, checkpointing, fp16", 1, 1, 1, GPUMEM_OPTIM_ADAMW, 7275},
    {"batch 4, Adafactor", 4, 0, 0, GPUMEM_OPTIM_ADAFACTOR, 12295},
    {"batch 1, checkpointing, fp16, Adafactor", 1, 1, 1, GPUMEM_OPTIM_ADAFACTOR, 4847},
    {"batch 4, 8-bit Adam", 4, 0, 0, GPUMEM_OPTIM_ADAMW8BIT, 13085},
    {"batch 1, checkpointing, fp16, 8-bit Adam", 1, 1, 1, GPUMEM_OPTIM_ADAMW8BIT, 5363},
};

static void test_hf_training_anatomy_bert_large(void **state)
{
    (void)state;
    gpumem_model *m = load_or_fail("bert-large-uncased");
    double worst = 0;
    for (size_t i = 0; i < sizeof anatomy / sizeof anatomy[0]; i++) {
        const anatomy_run *a = &anatomy[i];
        gpumem_train_settings s;
        gpumem_train_settings_init(&s);
        s.precision = a->fp16 ? GPUMEM_PREC_FP16_MIXED : GPUMEM_PREC_FP32;
        s.optimizer = a->optim;
        s.checkpointing = a->ckpt ? GPUMEM_CKPT_FULL : GPUMEM_CKPT_NONE;
        s.flash_attention = 0;
        s.micro_batch = a->batch;
        s.seq_len = 512;
        /* The page was measured with torch 1.x, whose zero_grad() kept the
         * gradient tensors (set_to_none=False) through the next forward. */
        s.keep_grads = 1;
        s.encoder_head = GPUMEM_HEAD_CLASSIFIER; /* BertForSequenceClassification */
        gpumem_estimate *e = train_or_fail(m, &s);
        char label[96];
        snprintf(label, sizeof label, "HF anatomy bert-large: %s", a->label);
        double err = record(label, e->reserved_bytes / MIB, a->nvidia_smi_mib - 1343, "MiB");
        worst = fabs(err) > worst ? fabs(err) : worst;
        free(e);
    }
    /* The runs' reserve also holds cuBLAS's own kernels and handles loaded
     * after the 1343 MiB reading: 15% covers that spread. */
    assert_true(worst < 0.15);
    gpumem_model_free(m);
}

/* ------------------------------------------------------------------------
 * Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward Training
 * Trillion Parameter Models", Figure 1: a 7.5B-parameter model on 64 GPUs
 * with mixed-precision Adam (K = 12) needs 120 GB per GPU of model states
 * in the baseline, 31.4 GB with Pos, 16.6 GB with Pos+g and 1.9 GB with
 * Pos+g+p. llama-2-7b (6.74B) stands in, so the figures are scaled by
 * 6.74/7.5; the test checks weights + gradients + optimizer states.
 * ---------------------------------------------------------------------- */
static void test_zero_paper_model_states(void **state)
{
    (void)state;
    gpumem_model *m = load_or_fail("llama-2-7b");
    gpumem_model_info info;
    gpumem_model_get_info(m, &info);
    const double paper_gb[4] = {120, 31.4, 16.6, 1.9};
    double scale = (double)info.params / 7.5e9;
    for (uint32_t z = 0; z <= 3; z++) {
        gpumem_train_settings s;
        gpumem_train_settings_init(&s);
        s.zero = z;
        s.gpus = 64;
        gpumem_estimate *e = train_or_fail(m, &s);
        double states = (double)comp(e, "weights") + comp(e, "gradients") +
                        comp(e, "optimizer_states");
        char label[96];
        snprintf(label, sizeof label, "ZeRO paper Fig. 1, 7.5B x 64 GPUs, stage %u", z);
        double err = record(label, states / 1e9, paper_gb[z] * scale, "GB ");
        /* The paper rounds to 0.1 GB: 1.9 GB stands for 1.875 GB. */
        assert_true(fabs(err) < (z == 3 ? 0.03 : 0.01));
        assert_int_equal(e->n_devices, 64);
        free(e);
    }
    gpumem_model_free(m);
}

/* ------------------------------------------------------------------------
 * Korthikanti et al. 2022, "Reducing Activation Recomputation in Large
 * Transformer Models", Table 3 configurations, worked out by hand from
 * their eq. 1-5 (tensor parallel t = 8, sequence parallel, s = 2048):
 *   22B:  h 6144, a 64, L 48, b 4;   175B: h 12288, a 96, L 96, b 1.
 * Per layer: no recomputation sbh(34 + 5as/h)/t, selective sbh*34/t.
 * The models are GPT-2-style configs (dropout, LayerNorm, 4h GeLU MLP)
 * read by gpumem's config reader; pipeline parallelism is left out so the
 * figure is L layers of one micro-batch, as the paper's Table 2 counts.
 * ---------------------------------------------------------------------- */
static gpumem_model *gpt_config(uint32_t h, uint32_t a, uint32_t L)
{
    char json[512];
    snprintf(json, sizeof json,
             "{\"model_type\":\"gpt2\",\"n_embd\":%u,\"n_head\":%u,\"n_layer\":%u,"
             "\"n_positions\":2048,\"vocab_size\":51200,\"torch_dtype\":\"float16\"}",
             h, a, L);
    gpumem_model *m = NULL;
    gpumem_error err;
    if (gpumem_model_load_config_json(json, strlen(json), "gpt-korthikanti", &m, &err) != GPUMEM_OK)
        fail_msg("config: %s", err.message);
    return m;
}

static void test_korthikanti_activations(void **state)
{
    (void)state;
    const struct {
        const char *name;
        uint32_t h, a, L;
        uint64_t b;
    } cfg[] = {{"22B", 6144, 64, 48, 4}, {"175B", 12288, 96, 96, 1}};
    for (size_t i = 0; i < 2; i++) {
        gpumem_model *m = gpt_config(cfg[i].h, cfg[i].a, cfg[i].L);
        for (int sel = 0; sel < 2; sel++) {
            gpumem_train_settings s;
            gpumem_train_settings_init(&s);
            s.tp = 8;
            s.sequence_parallel = 1;
            s.flash_attention = 0;
            s.checkpointing = sel ? GPUMEM_CKPT_SELECTIVE : GPUMEM_CKPT_NONE;
            s.micro_batch = cfg[i].b;
            s.seq_len = 2048;
            gpumem_estimate *e = train_or_fail(m, &s);
            double sbh = 2048.0 * cfg[i].b * cfg[i].h;
            double per_layer = sbh * (34 + (sel ? 0 : 5.0 * cfg[i].a * 2048 / cfg[i].h)) / 8;
            double hand = per_layer * cfg[i].L;
            /* gpumem adds the embedding output and the final norm and
             * lm_head input (~5sbh/t): compare layers only. */
            double extra = sbh * (2 + 1 + 2 + 2) / 8;
            char label[96];
            snprintf(label, sizeof label, "Korthikanti %s, t=8 + SP, %s", cfg[i].name,
                     sel ? "selective recompute" : "no recompute");
            double err = record(label, (comp(e, "activations") - extra) / 1e9, hand / 1e9, "GB ");
            assert_true(fabs(err) < 0.01);
            free(e);
        }
        gpumem_model_free(m);
    }
}

/* ------------------------------------------------------------------------
 * DeepSpeed 0.x, deepspeed/runtime/zero/stage_1_and_2.py and stage3.py:
 *   estimate_zero2_model_states_mem_needs (no offload):
 *     4P + 16P/N   (16-bit weights and gradients; fp32 master, gradient
 *                   partition and two states);
 *   estimate_zero3_model_states_mem_needs (no offload):
 *     4 * largest_layer + 18P/N.
 * DeepSpeed counts a 4-byte fp32 gradient partition that the ZeRO paper
 * (and gpumem, whose peak is before the optimizer step) does not, and its
 * ZeRO-2 figure keeps the full 16-bit gradients that stage 2 shards, so
 * gpumem is expected below it; the test prints the gap and bounds it.
 * ---------------------------------------------------------------------- */
static void test_deepspeed_estimators(void **state)
{
    (void)state;
    const char *models[2] = {"llama-2-7b", "llama-3.1-8b"};
    for (int i = 0; i < 2; i++) {
        gpumem_model *m = load_or_fail(models[i]);
        gpumem_model_info info;
        gpumem_model_get_info(m, &info);
        double P = (double)info.params, N = 8;
        /* the largest module is the embedding (or untied lm_head) */
        double largest = (double)info.vocab_size * info.hidden_size;
        for (uint32_t z = 2; z <= 3; z++) {
            gpumem_train_settings s;
            gpumem_train_settings_init(&s);
            s.zero = z;
            s.gpus = 8;
            gpumem_estimate *e = train_or_fail(m, &s);
            double ours = (double)comp(e, "weights") + comp(e, "gradients") +
                          comp(e, "optimizer_states") + comp(e, "comm_buffers");
            double ds = z == 2 ? 4 * P + 16 * P / N : 4 * largest + 18 * P / N;
            char label[96];
            snprintf(label, sizeof label, "DeepSpeed estimate_zero%u, %s, 8 GPUs", z, models[i]);
            double err = peer(label, ours / 1e9, ds / 1e9, "GB ");
            assert_true(err < 0.05 && err > -0.40);
            free(e);
        }
        gpumem_model_free(m);
    }
}

/* ------------------------------------------------------------------------
 * LoRA parameter counts against PEFT's print_trainable_parameters() for
 * Llama-2-7b: r = 8 on q_proj and v_proj gives "trainable params:
 * 4,194,304" (PEFT docs and README quicktour); r = 16 on all linear
 * layers: 32 x 16 x (4 x 8192 + 3 x (4096 + 11008)) = 39,976,960.
 * ---------------------------------------------------------------------- */
static void test_lora_trainable_params(void **state)
{
    (void)state;
    gpumem_model *m = load_or_fail("llama-2-7b");
    const struct {
        uint32_t rank;
        const char *targets;
        double params;
    } cases[] = {{8, "q_proj,v_proj", 4194304}, {16, "all-linear", 39976960}};
    for (int i = 0; i < 2; i++) {
        gpumem_train_settings s;
        gpumem_train_settings_init(&s);
        s.method = GPUMEM_TRAIN_LORA;
        s.lora_rank = cases[i].rank;
        s.lora_targets = cases[i].targets;
        gpumem_estimate *e = train_or_fail(m, &s);
        /* adapters are fp32 under mixed precision (PEFT) */
        double params = comp(e, "lora_weights") / 4.0;
        char label[96];
        snprintf(label, sizeof label, "PEFT trainable params, r=%u %s", cases[i].rank,
                 cases[i].targets);
        double err = record(label, params / 1e6, cases[i].params / 1e6, "M  ");
        assert_true(fabs(err) < 1e-6);
        free(e);
    }
    gpumem_model_free(m);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void test_summary(void **state)
{
    (void)state;
    assert_true(all_errors.n > 0);
    qsort(all_errors.err, (size_t)all_errors.n, sizeof(double), cmp_double);
    double median = all_errors.n % 2 ? all_errors.err[all_errors.n / 2]
                                     : (all_errors.err[all_errors.n / 2 - 1] +
                                        all_errors.err[all_errors.n / 2]) /
                                           2;
    printf("  training suite: %d cases, median |error| %.1f%%, worst |error| %.1f%%\n",
           all_errors.n, 100 * median, 100 * all_errors.err[all_errors.n - 1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hf_training_anatomy_bert_large),
        cmocka_unit_test(test_zero_paper_model_states),
        cmocka_unit_test(test_korthikanti_activations),
        cmocka_unit_test(test_deepspeed_estimators),
        cmocka_unit_test(test_lora_trainable_params),
        cmocka_unit_test(test_summary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
