/* A random-access byte source with a small read-ahead window: readers of
 * binary headers use it so they read only the bytes they need, from a file
 * today and from HTTP ranges or a browser File.slice later. */
#ifndef GPUMEM_SOURCE_INTERNAL_H
#define GPUMEM_SOURCE_INTERNAL_H

#include "gpumem.h"

#include <stdbool.h>

typedef struct {
    /* Reads exactly n bytes at off into buf; returns 0, or -1 on error. */
    int (*read_at)(void *ctx, uint64_t off, void *buf, size_t n);
    void *ctx;
    uint64_t size;        /* total bytes in the source */
    uint64_t avail;       /* bytes that can actually be read (<= size) */
    const char *name;     /* for errors */
    uint64_t bytes_read;  /* accounting: bytes actually fetched */
    /* read-ahead window */
    unsigned char *win;
    size_t win_cap;
    uint64_t win_off;
    size_t win_len;
} byte_source;

/* Opens a file source; the window is allocated here. */
gpumem_status source_open_file(byte_source *s, const char *path, gpumem_error *err);
/* Opens a file that holds only the first bytes of a `size`-byte source:
 * reads past the file fail, as for a header fetched alone. */
gpumem_status source_open_prefix(byte_source *s, const char *path, uint64_t size,
                                 gpumem_error *err);
/* A source over memory (tests, fuzzing); `data` must outlive the source. */
void source_open_memory(byte_source *s, const void *data, size_t len, const char *name);
void source_close(byte_source *s);

/* Copies n bytes at off; false when the range leaves the source or a read
 * fails (the caller reports the offset). */
bool source_read(byte_source *s, uint64_t off, void *buf, size_t n);

#endif
