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

/* A metadata pair key = v of GGUF type STRING (8). */
static inline void kv_str(FILE *f, const char *k, const char *v)
{
    put_str(f, k);
    put_u32(f, 8);
    put_str(f, v);
}
/* A 1-D (ne1 == 1) or 2-D tensor info of ggml type `type` taking `bytes`;
 * the next tensor starts at the next multiple of 32. */
static inline void tensor_info(FILE *f, const char *name, uint64_t ne0, uint64_t ne1,
                               uint32_t type, uint64_t bytes, uint64_t *off)
{
    put_str(f, name);
    put_u32(f, ne1 > 1 ? 2 : 1);
    put_u64(f, ne0);
    if (ne1 > 1)
        put_u64(f, ne1);
    put_u32(f, type);
    put_u64(f, *off);
    *off += (bytes + 31) / 32 * 32;
}

#endif
