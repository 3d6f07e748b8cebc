/* libFuzzer target: the safetensors header reader. */
#include "read_safetensors_internal.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    byte_source src;
    st_set set;
    gpumem_error err;
    memset(&set, 0, sizeof set);
    source_open_memory(&src, data, size, "fuzz.safetensors");
    st_read_file(&src, &set, &err);
    st_free(&set);
    return 0;
}
