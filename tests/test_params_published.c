/* Parameter counts of catalog models against counts published by their
 * authors or by the Hugging Face Hub (the `safetensors.total` the Hub API
 * reports for the repository, which equals transformers' num_parameters()
 * where the checkpoint holds no buffers). Each row names its source. */
#include "test_helpers.h"

typedef struct {
    const char *id;
    uint64_t params;
    uint64_t tolerance; /* 0: exact; else the rounding of the published figure */
    const char *source;
} published;

static const published rows[] = {
    {"llama-2-7b", 6738415616ull, 0, "shared/REFERENCE.md; Hub safetensors total"},
    {"llama-2-13b", 13015864320ull, 0, "Hub safetensors total of meta-llama/Llama-2-13b-hf"},
    {"llama-2-70b", 68976648192ull, 0,
     "Hub safetensors total 68,976,653,312 minus 80 x 64 rotary inv_freq buffers"},
    {"llama-3.1-8b", 8030261248ull, 0, "Hub safetensors total; GGUF general.parameter_count"},
    {"llama-3.1-70b", 70553706496ull, 0, "Hub safetensors total of meta-llama/Llama-3.1-70B"},
    {"mixtral-8x7b", 46702792704ull, 0, "Hub safetensors total; Keras-Hub preset params"},
    {"qwen2.5-7b", 7615616512ull, 0, "Hub safetensors total of Qwen/Qwen2.5-7B-Instruct"},
    {"qwen2.5-3b", 3085938688ull, 0, "Hub safetensors total of Qwen/Qwen2.5-3B-Instruct"},
    {"qwen2.5-1.5b", 1543714304ull, 0, "Hub safetensors total of Qwen/Qwen2.5-1.5B-Instruct"},
    {"mistral-7b-v0.1", 7241732096ull, 0, "Hub safetensors total of mistralai/Mistral-7B-v0.1"},
    {"gpt-neox-20b", 20554567680ull, 0, "GPT-NeoX-20B paper (Black et al. 2022), Table 1"},
    {"pythia-160m", 162322944ull, 0, "Pythia paper (Biderman et al. 2023), Table 1 total"},
    {"bert-base-uncased", 109482240ull, 0, "BertModel count, HF model card 110M"},
    {"bert-large-uncased", 335141888ull, 0, "BertModel count, HF model card 336M"},
    {"gpt-oss-120b", 116830000000ull, 5000000ull, "OpenAI gpt-oss model card: 116.83B total"},
    {"gpt-oss-20b", 20910000000ull, 5000000ull, "OpenAI gpt-oss model card: 20.91B total"},
    {"qwen3-8b", 8200000000ull, 50000000ull, "Qwen3-8B model card: 8.2B total"},
    {"deepseek-v3", 671000000000ull, 500000000ull,
     "DeepSeek-V3 report: 671B total (without the 14B MTP module)"},
};

static void test_published_counts(void **state)
{
    (void)state;
    int checked = 0;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        gpumem_model *m = NULL;
        gpumem_error err;
        if (gpumem_model_load_catalog(rows[i].id, &m, &err) != GPUMEM_OK)
            fail_msg("%s: %s", rows[i].id, err.message);
        gpumem_model_info info;
        gpumem_model_get_info(m, &info);
        uint64_t diff = info.params > rows[i].params ? info.params - rows[i].params
                                                     : rows[i].params - info.params;
        printf("  %-20s gpumem %15llu  published %15llu  (%s)\n", rows[i].id,
               (unsigned long long)info.params, (unsigned long long)rows[i].params,
               rows[i].source);
        if (diff > rows[i].tolerance)
            fail_msg("%s: %llu parameters, published %llu (%s)", rows[i].id,
                     (unsigned long long)info.params, (unsigned long long)rows[i].params,
                     rows[i].source);
        gpumem_model_free(m);
        checked++;
    }
    assert_true(checked >= 12);
}

/* Active parameters of MoE models: everything but the unused experts'
 * share. Worked out from the configs: Mixtral-8x7B has 32 layers of 8
 * experts of 3 x 4096 x 14336 weights, 2 used per token. */
static void test_moe_active(void **state)
{
    (void)state;
    gpumem_model *m = load_or_fail("mixtral-8x7b");
    gpumem_model_info info;
    gpumem_model_get_info(m, &info);
    uint64_t expert = 3ull * 4096 * 14336;
    assert_int_equal(info.active_params, 46702792704ull - 32 * 6 * expert);
    gpumem_model_free(m);
    /* Qwen3-30B-A3B: 48 layers x 128 experts of 3 x 2048 x 768, 8 used. */
    m = load_or_fail("qwen3-30b-a3b");
    gpumem_model_get_info(m, &info);
    expert = 3ull * 2048 * 768;
    assert_int_equal(info.params - info.active_params, 48ull * 120 * expert);
    gpumem_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_published_counts),
        cmocka_unit_test(test_moe_active),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
