/* The seed rule people quote: memory = P x Q x 1.2, with Q the bytes per
 * parameter (fp32 4, fp16/bf16 2, int8 1, int4 0.5) and 20% overhead. */
#include "dtype_internal.h"
#include "estimate_internal.h"

gpumem_status engine_simple(const gpumem_model *m, const engine_req *r, gpumem_device *gpu,
                            gpumem_error *err)
{
    const dtype_traits *t = dtype_get(r->dtype);
    uint64_t weights;
    if (!dtype_bytes(r->dtype, m->params_total, &weights))
        return err_set(err, GPUMEM_ERR_OVERFLOW, "weights do not fit in 64 bits");
    weights = div_up(weights, r->tp);
    gpumem_status st = device_add(gpu, "weights", weights, err, "%llu params x %g B (%s)",
                                  (unsigned long long)m->params_total,
                                  (double)t->bytes_num / t->bytes_den, t->name);
    if (st != GPUMEM_OK)
        return st;
    return device_add(gpu, "overhead", weights / 5, err, "20%% of weights (rule of thumb)");
}
