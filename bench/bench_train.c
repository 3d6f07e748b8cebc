/* Time to evaluate 100,000 training configurations in-process (issue 8:
 * target under 1 s in total). Cycles methods, precisions, optimisers,
 * recomputation, micro-batches, sequences and ZeRO stages over four
 * catalog models. Not built by default: see the CMake wiring in the
 * commit that adds it. */
#include "gpumem.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000;
    const char *names[4] = {"llama-3.1-8b", "mixtral-8x7b", "qwen2.5-7b", "bert-large-uncased"};
    gpumem_model *models[4];
    gpumem_error err;
    for (int i = 0; i < 4; i++)
        if (gpumem_model_load_catalog(names[i], &models[i], &err) != GPUMEM_OK) {
            fprintf(stderr, "%s: %s\n", names[i], err.message);
            return 1;
        }
    gpumem_estimate *e = malloc(sizeof *e);
    if (!e)
        return 1;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long failed = 0;
    uint64_t check = 0;
    for (long i = 0; i < n; i++) {
        gpumem_train_settings s;
        gpumem_train_settings_init(&s);
        int mi = (int)(i % 4);
        s.method = (gpumem_train_method)(i / 4 % GPUMEM_TRAIN_COUNT);
        s.precision = (gpumem_precision)(i / 12 % GPUMEM_PREC_COUNT);
        s.optimizer = (gpumem_optimizer)(i / 60 % GPUMEM_OPTIM_COUNT);
        s.checkpointing = (gpumem_checkpointing)(i / 480 % GPUMEM_CKPT_COUNT);
        s.micro_batch = 1 + (uint64_t)(i % 8);
        s.seq_len = mi == 3 ? 512 : 512u << (i % 4);
        s.zero = (uint32_t)(i / 7 % 4);
        s.gpus = s.zero ? 8 : 1;
        if (gpumem_estimate_training(models[mi], &s, e, &err) != GPUMEM_OK)
            failed++;
        else
            check += e->per_gpu_bytes >> 20;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%ld training estimates in %.3f s (%.2f us each), %ld refused, checksum %llu\n", n,
           secs, secs / (double)n * 1e6, failed, (unsigned long long)check);
    free(e);
    for (int i = 0; i < 4; i++)
        gpumem_model_free(models[i]);
    return 0;
}
