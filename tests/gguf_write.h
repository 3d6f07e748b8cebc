/* Little-endian GGUF writing for tests and benchmarks that make their own
 * files (headers written out field by field, data regions left as holes). */
#ifndef GPUMEM_TESTS_GGUF_WRITE_H
#define GPUMEM_TESTS_GGUF_WRITE_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static inline void put_u32(FILE *f, uint32_t v) { fwrite(&v, 4, 1, f); }
static inline void put_u64(FILE *f, uint64_t v) { fwrite(&v, 8, 1, f); }
static inline void put_str(FILE *f, const char *s)
{
    put_u64(f, strlen(s));
    fwrite(s, 1, strlen(s), f);
}
/* A metadata pair key = v of GGUF type UINT32 (4). */
static inline void kv_u32(FILE *f, const char *k, uint32_t v)
{
    put_str(f, k);
    put_u32(f, 4);
    put_u32(f, v);
}

#endif
