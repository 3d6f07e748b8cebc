/* Hugging Face Hub access for `hf:org/name[@revision]`: config.json, the
 * safetensors index, and only the header bytes of each shard, by HTTP Range
 * requests; everything fetched is cached so later runs work offline. */
#ifndef GPUMEM_HUB_INTERNAL_H
#define GPUMEM_HUB_INTERNAL_H

#include "gpumem.h"

gpumem_status hub_load(const char *spec, gpumem_model **out, gpumem_error *err);

#endif
