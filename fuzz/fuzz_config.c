/* libFuzzer target: the config.json reader and an estimate of what it read. */
#include "gpumem.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gpumem_model *m = NULL;
    gpumem_error err;
    if (gpumem_model_load_config_json((const char *)data, size, "fuzz.json", &m, &err) != GPUMEM_OK)
        return 0;
    /* transformers, and vLLM on a catalog GPU */
    gpumem_estimate *e = malloc(sizeof *e);
    for (int k = 0; e && k < 2; k++) {
        gpumem_settings s;
        gpumem_settings_init(&s);
        if (k) {
            s.engine = GPUMEM_ENGINE_VLLM;
            if (gpumem_gpu_find("h100-sxm", &s.gpu, &err) != GPUMEM_OK)
                break;
        }
        gpumem_estimate_inference(m, &s, e, &err);
    }
    free(e);
    gpumem_model_free(m);
    return 0;
}
