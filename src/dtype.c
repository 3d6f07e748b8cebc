#include "dtype_internal.h"

#include "error_internal.h"
#include "util_internal.h"

#include <string.h>

static const dtype_traits traits[GPUMEM_DTYPE_COUNT] = {
    [GPUMEM_DTYPE_FP32] = {"fp32", "float32,f32,float,torch.float32", 4, 1, false,
                           GPUMEM_DTYPE_FP32},
    [GPUMEM_DTYPE_FP16] = {"fp16", "float16,f16,half,torch.float16", 2, 1, false,
                           GPUMEM_DTYPE_FP16},
    [GPUMEM_DTYPE_BF16] = {"bf16", "bfloat16,torch.bfloat16", 2, 1, false, GPUMEM_DTYPE_BF16},
    [GPUMEM_DTYPE_FP8] = {"fp8", "float8,fp8_e4m3,fp8_e5m2,f8_e4m3,f8_e5m2,float8_e4m3fn", 1, 1,
                          false, GPUMEM_DTYPE_BF16},
    [GPUMEM_DTYPE_INT8] = {"int8", "i8,8bit,bnb-int8", 1, 1, true, GPUMEM_DTYPE_FP16},
    [GPUMEM_DTYPE_INT4] = {"int4", "i4,4bit,nf4,bnb-nf4", 1, 2, true, GPUMEM_DTYPE_FP16},
};

const dtype_traits *dtype_get(gpumem_dtype dtype)
{
    if ((int)dtype < 0 || dtype >= GPUMEM_DTYPE_COUNT)
        return &traits[GPUMEM_DTYPE_FP32];
    return &traits[dtype];
}

const char *gpumem_dtype_name(gpumem_dtype dtype) { return dtype_get(dtype)->name; }

bool dtype_bytes(gpumem_dtype dtype, uint64_t n, uint64_t *out)
{
    const dtype_traits *t = dtype_get(dtype);
    uint64_t num;
    if (!u64_mul(n, t->bytes_num, &num))
        return false;
    *out = num / t->bytes_den + (num % t->bytes_den != 0);
    return true;
}

gpumem_status gpumem_dtype_parse(const char *name, gpumem_dtype *out, gpumem_error *err)
{
    for (int i = 0; i < GPUMEM_DTYPE_COUNT; i++) {
        if (str_ieq(name, traits[i].name) || str_in_list(name, traits[i].aliases)) {
            *out = (gpumem_dtype)i;
            return GPUMEM_OK;
        }
    }
    return err_set(err, GPUMEM_ERR_NOT_FOUND,
                   "unknown dtype '%s' (expected fp32, fp16, bf16, fp8, int8 or int4)", name);
}

bool dtype_from_torch(const char *name, gpumem_dtype *out)
{
    static const gpumem_dtype storable[] = {GPUMEM_DTYPE_FP32, GPUMEM_DTYPE_FP16,
                                            GPUMEM_DTYPE_BF16, GPUMEM_DTYPE_FP8};
    for (size_t i = 0; i < sizeof storable / sizeof storable[0]; i++) {
        const dtype_traits *t = &traits[storable[i]];
        if (str_ieq(name, t->name) || str_in_list(name, t->aliases)) {
            *out = storable[i];
            return true;
        }
    }
    return false;
}
