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
    gpumem_settings s;
    gpumem_estimate *e = malloc(sizeof *e);
    gpumem_settings_init(&s);
    if (e)
        gpumem_estimate_inference(m, &s, e, &err);
    free(e);
    gpumem_model_free(m);
    return 0;
}
