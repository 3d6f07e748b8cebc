/* Prints the latency of an in-process estimate and of a model load from
 * the catalog. Targets (issue 3): < 10 us per estimate; < 5 ms for a whole
 * `gpumem estimate` process (timed by bench/bench_cli.sh). */
#include "gpumem.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    const char *name = argc > 1 ? argv[1] : "llama-3.1-8b";
    int iters = argc > 2 ? atoi(argv[2]) : 200000;
    gpumem_error err;
    gpumem_model *m;
    double t0 = now();
    int loads = 200;
    for (int i = 0; i < loads; i++) {
        if (gpumem_model_load_catalog(name, &m, &err) != GPUMEM_OK) {
            fprintf(stderr, "bench: %s\n", err.message);
            return 1;
        }
        if (i + 1 < loads)
            gpumem_model_free(m);
    }
    double load_us = (now() - t0) / loads * 1e6;
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.batch = 8;
    s.context = 4096;
    gpumem_estimate *e = malloc(sizeof *e);
    uint64_t sink = 0;
    t0 = now();
    for (int i = 0; i < iters; i++) {
        s.context = 1024 + (uint64_t)(i & 1023);
        if (gpumem_estimate_inference(m, &s, e, &err) != GPUMEM_OK) {
            fprintf(stderr, "bench: %s\n", err.message);
            return 1;
        }
        sink += e->per_gpu_bytes;
    }
    double est_us = (now() - t0) / iters * 1e6;
    printf("model %s: catalog load + config parse %.2f us; estimate %.3f us (%d runs; "
           "target < 10 us) [checksum %llu]\n",
           name, load_us, est_us, iters, (unsigned long long)(sink & 0xffff));
    free(e);
    gpumem_model_free(m);
    return 0;
}
