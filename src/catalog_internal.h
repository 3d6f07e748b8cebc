#ifndef GPUMEM_CATALOG_INTERNAL_H
#define GPUMEM_CATALOG_INTERNAL_H

#include "gpumem.h"

typedef struct {
    gpumem_catalog_model info;
    const unsigned char *json; /* the genuine config.json, NUL-terminated */
    size_t json_len;
} catalog_model_row;

/* Generated at build time from data/ by tools/embed.c. */
extern const catalog_model_row catalog_models[];
extern const size_t catalog_models_count;
extern const gpumem_gpu catalog_gpus[];
extern const size_t catalog_gpus_count;

/* By id, alias or HF id (case-insensitive); NULL when unknown. */
const catalog_model_row *catalog_model_find(const char *name);

#endif
