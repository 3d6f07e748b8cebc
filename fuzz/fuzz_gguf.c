/* libFuzzer target: the GGUF header reader and the model built from it. */
#include "read_gguf_internal.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    byte_source src;
    gguf_file f;
    gpumem_error err;
    source_open_memory(&src, data, size, "fuzz.gguf");
    if (gguf_read(&src, &f, &err) == GPUMEM_OK) {
        gpumem_model *m = NULL;
        if (model_from_gguf(&f, "fuzz.gguf", &m, &err) == GPUMEM_OK) {
            /* what the file runs on (llama.cpp, also as an embedding
             * model) and the transformers rules */
            gpumem_estimate *e = malloc(sizeof *e);
            for (int k = 0; e && k < 3; k++) {
                gpumem_settings s;
                gpumem_settings_init(&s);
                s.engine = k ? GPUMEM_ENGINE_LLAMACPP : GPUMEM_ENGINE_TRANSFORMERS;
                s.embedding = k == 2;
                gpumem_estimate_inference(m, &s, e, &err);
            }
            free(e);
            gpumem_model_free(m);
        }
        gguf_free(&f);
    }
    return 0;
}
