/* Shared by the unit tests: load a catalog model or fail the test. */
#ifndef GPUMEM_TEST_HELPERS_H
#define GPUMEM_TEST_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gpumem.h"

static inline gpumem_model *load_or_fail(const char *name)
{
    gpumem_model *m = NULL;
    gpumem_error err;
    if (gpumem_model_load_catalog(name, &m, &err) != GPUMEM_OK)
        fail_msg("loading %s: %s", name, err.message);
    return m;
}

static inline gpumem_estimate *estimate_or_fail(const gpumem_model *m, const gpumem_settings *s)
{
    gpumem_estimate *e = malloc(sizeof *e);
    gpumem_error err;
    assert_non_null(e);
    if (gpumem_estimate_inference(m, s, e, &err) != GPUMEM_OK)
        fail_msg("estimate: %s", err.message);
    return e;
}

static inline uint64_t component(const gpumem_estimate *e, const char *name)
{
    for (size_t i = 0; i < e->n_components; i++)
        if (!strcmp(e->components[i].name, name))
            return e->components[i].bytes;
    fail_msg("no component %s", name);
    return 0;
}

/* A component of one device ("gpu0", "gpu1", ..., "host"). */
static inline uint64_t device_component(const gpumem_estimate *e, const char *dev,
                                        const char *name)
{
    for (size_t i = 0; i < e->n_devices; i++)
        if (!strcmp(e->devices[i].name, dev))
            for (size_t k = 0; k < e->devices[i].n_components; k++)
                if (!strcmp(e->devices[i].components[k].name, name))
                    return e->devices[i].components[k].bytes;
    fail_msg("no %s on %s", name, dev);
    return 0;
}

/* A header-only GGUF of validation/llamacpp/headers (a file the real
 * llama.cpp ran, its tokenizer arrays dropped) with the size the whole file
 * had, from headers/index.tsv. */
static inline gpumem_model *measured_header(const char *base)
{
    char path[1400], line[512], name[256];
    unsigned long long sz, size = 0;
    snprintf(path, sizeof path, "%s/validation/llamacpp/headers/index.tsv", GPUMEM_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%255s %llu", name, &sz) == 2 && !strcmp(name, base))
            size = sz;
    fclose(f);
    assert_true(size > 0);
    snprintf(path, sizeof path, "%s/validation/llamacpp/headers/%s.gguf-header", GPUMEM_SOURCE_DIR,
             base);
    gpumem_model *m = NULL;
    gpumem_error err;
    if (gpumem_model_load_gguf_header(path, size, &m, &err) != GPUMEM_OK)
        fail_msg("%s: %s", path, err.message);
    return m;
}

#endif
