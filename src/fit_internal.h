/* The fit planner's modules: one GPU (fit.c) and several (fit_multi.c). */
#ifndef GPUMEM_FIT_INTERNAL_H
#define GPUMEM_FIT_INTERNAL_H

#include "estimate_internal.h"

/* Settings that need the several-device procedure: listed GPUs, --gpus N,
 * or an expert placement the user fixed (-ot, --cpu-moe, --n-cpu-moe). */
bool fit_needs_multi(const gpumem_settings *s);

/* gpumem_fit over settings->targets (or gpus copies of settings->gpu). */
gpumem_status fit_multi(const gpumem_model *m, const gpumem_settings *s,
                        const gpumem_fit_request *req, gpumem_fit_plan *p, gpumem_error *err);

#endif
