/* vLLM's multimodal options as `vllm serve` takes them: JSON text. */
#ifndef GPUMEM_CLI_VLLM_MM_H
#define GPUMEM_CLI_VLLM_MM_H

#include "gpumem.h"

#include <stddef.h>

/* --limit-mm-per-prompt '{"image": N, "video": M}' (a count, or vLLM
 * 0.33.0's {"count": N, ...} object); other modalities are accepted and
 * ignored. Returns 0, or -1 with a message in msg. */
int vllm_mm_parse_limits(const char *text, gpumem_settings *s, char *msg, size_t n);

/* --mm-processor-kwargs '{"max_pixels": N}' (Qwen2-VL / Qwen2.5-VL's image
 * processor bound; min_pixels is accepted when at most 56 x 56, the
 * modelled one). Returns 0, or -1 with a message in msg. */
int vllm_mm_parse_kwargs(const char *text, gpumem_settings *s, char *msg, size_t n);

#endif
