/* `gpumem fit` on a 70B-shape GGUF (written by build/bench_readers): the
 * time of a whole fit on GPUs that need each of its stages (context only,
 * fewer layers), and of 1,000 candidate plans (llama.cpp estimates at
 * different -c/-ngl) and of a 2-GPU fit, against the target of 1,000 candidates in under 50 ms.
 *
 *   build/bench_readers /tmp/gpumem-bench   # writes the 70B-shape GGUF
 *   build/bench_fit /tmp/gpumem-bench/llama-70b-shape-q4km.gguf
 */
#include "gpumem.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "/tmp/gpumem-bench/llama-70b-shape-q4km.gguf";
    gpumem_error err;
    gpumem_model *m;
    if (gpumem_model_load(path, &m, &err) != GPUMEM_OK) {
        fprintf(stderr, "%s: %s (run build/bench_readers first)\n", path, err.message);
        return 1;
    }
    gpumem_fit_plan *plan = malloc(sizeof *plan);
    gpumem_estimate *e = malloc(sizeof *e);
    if (!plan || !e)
        return 1;
    const char *gpus[] = {"h100-sxm", "rtx-4090", "rtx-3060-12gb"};
    for (size_t g = 0; g < sizeof gpus / sizeof gpus[0]; g++) {
        gpumem_settings s;
        gpumem_settings_init(&s);
        s.engine = GPUMEM_ENGINE_LLAMACPP;
        if (gpumem_gpu_find(gpus[g], &s.gpu, &err) != GPUMEM_OK) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
        gpumem_fit_request req = {0};
        int reps = 20;
        double t0 = now();
        for (int i = 0; i < reps; i++)
            if (gpumem_fit(m, &s, &req, plan, &err) != GPUMEM_OK) {
                fprintf(stderr, "%s\n", err.message);
                return 1;
            }
        printf("fit on %-14s %7.2f ms per whole fit  -> %s%s\n", gpus[g],
               (now() - t0) / reps * 1e3, plan->fits ? plan->flags : "does not fit",
               plan->fits ? "" : "");
    }
    /* Two different GPUs: rtx-3090 + rtx-4060-ti-16gb (about 40 GiB for a
     * ~40 GiB model: the layers fill back to front). */
    {
        gpumem_settings s;
        gpumem_settings_init(&s);
        s.engine = GPUMEM_ENGINE_LLAMACPP;
        if (gpumem_gpu_find("rtx-3090", &s.targets[0].gpu, &err) != GPUMEM_OK ||
            gpumem_gpu_find("rtx-4060-ti-16gb", &s.targets[1].gpu, &err) != GPUMEM_OK) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
        s.n_targets = 2;
        gpumem_fit_request req = {0};
        int reps = 20;
        double t0 = now();
        for (int i = 0; i < reps; i++)
            if (gpumem_fit(m, &s, &req, plan, &err) != GPUMEM_OK) {
                fprintf(stderr, "%s\n", err.message);
                return 1;
            }
        printf("fit on rtx-3090 + rtx-4060-ti-16gb %7.2f ms per whole fit  -> %s (%s)\n",
               (now() - t0) / reps * 1e3, plan->flags, plan->fits ? "fits" : "does not fit");
    }
    /* 1,000 candidate plans: every (-c, -ngl) pair of a 25 x 40 grid. */
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.engine = GPUMEM_ENGINE_LLAMACPP;
    gpumem_gpu_find("rtx-4090", &s.gpu, &err);
    uint64_t check = 0;
    double t0 = now();
    for (int c = 0; c < 25; c++)
        for (int l = 0; l < 40; l++) {
            s.context = 1024 + 1024ull * c;
            s.n_gpu_layers = 1 + 2 * l;
            if (gpumem_estimate_inference(m, &s, e, &err) != GPUMEM_OK) {
                fprintf(stderr, "%s\n", err.message);
                return 1;
            }
            check += e->per_gpu_bytes;
        }
    printf("1000 candidate plans: %.2f ms (target < 50 ms) [checksum %llu]\n",
           (now() - t0) * 1e3, (unsigned long long)(check % 1000003));
    free(e);
    free(plan);
    gpumem_model_free(m);
    return 0;
}
