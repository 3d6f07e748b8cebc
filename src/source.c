#include "source_internal.h"

#include "error_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { WINDOW = 64 << 10 };

typedef struct {
    int fd;
} file_ctx;

static int file_read_at(void *ctx, uint64_t off, void *buf, size_t n)
{
    int fd = ((file_ctx *)ctx)->fd;
    unsigned char *p = buf;
    while (n) {
        ssize_t got = pread(fd, p, n, (off_t)off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        p += got;
        off += (uint64_t)got;
        n -= (size_t)got;
    }
    return 0;
}

typedef struct {
    const unsigned char *data;
} mem_ctx;

static int mem_read_at(void *ctx, uint64_t off, void *buf, size_t n)
{
    memcpy(buf, ((mem_ctx *)ctx)->data + off, n);
    return 0;
}

gpumem_status source_open_file(byte_source *s, const char *path, gpumem_error *err)
{
    memset(s, 0, sizeof *s);
    s->name = path;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return err_set_at(err, GPUMEM_ERR_IO, path, -1, 0, 0, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return err_set_at(err, GPUMEM_ERR_IO, path, -1, 0, 0, "not a regular file");
    }
    file_ctx *ctx = malloc(sizeof *ctx);
    s->win = malloc(WINDOW);
    if (!ctx || !s->win) {
        free(ctx);
        free(s->win);
        close(fd);
        return err_set(err, GPUMEM_ERR_NOMEM, "out of memory");
    }
    ctx->fd = fd;
    s->ctx = ctx;
    s->read_at = file_read_at;
    s->size = s->avail = (uint64_t)st.st_size;
    s->win_cap = WINDOW;
    return GPUMEM_OK;
}

gpumem_status source_open_prefix(byte_source *s, const char *path, uint64_t size,
                                 gpumem_error *err)
{
    gpumem_status st = source_open_file(s, path, err);
    if (st != GPUMEM_OK)
        return st;
    if (size < s->size) {
        source_close(s);
        return err_set_at(err, GPUMEM_ERR_USAGE, path, -1, 0, 0,
                          "the header is longer than the stated file size %llu",
                          (unsigned long long)size);
    }
    s->size = size; /* reads beyond the header (avail) fail */
    return GPUMEM_OK;
}

void source_open_memory(byte_source *s, const void *data, size_t len, const char *name)
{
    memset(s, 0, sizeof *s);
    s->name = name;
    s->read_at = mem_read_at;
    s->size = s->avail = len;
    /* memory needs no window: point the window at the data itself */
    s->win = (unsigned char *)data;
    s->win_len = len;
    s->ctx = NULL;
}

void source_close(byte_source *s)
{
    if (s->read_at == file_read_at) {
        file_ctx *ctx = s->ctx;
        close(ctx->fd);
        free(ctx);
        free(s->win);
    }
    memset(s, 0, sizeof *s);
}

bool source_read(byte_source *s, uint64_t off, void *buf, size_t n)
{
    if (off > s->size || n > s->size - off || off > s->avail || n > s->avail - off)
        return false;
    if (off >= s->win_off && off - s->win_off + n <= s->win_len) {
        memcpy(buf, s->win + (off - s->win_off), n);
        return true;
    }
    if (!s->win_cap || n > s->win_cap) { /* no window, or a large read */
        s->bytes_read += n;
        return s->read_at(s->ctx, off, buf, n) == 0;
    }
    size_t len = s->win_cap;
    if (len > s->avail - off)
        len = (size_t)(s->avail - off);
    if (s->read_at(s->ctx, off, s->win, len) != 0) {
        s->win_len = 0;
        return false;
    }
    s->bytes_read += len;
    s->win_off = off;
    s->win_len = len;
    memcpy(buf, s->win, n);
    return true;
}
