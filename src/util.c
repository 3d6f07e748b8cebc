#include "util_internal.h"

#include "error_internal.h"

#ifndef __EMSCRIPTEN__
#include <dlfcn.h>
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

bool u64_mul_n(uint64_t *out, size_t n, const uint64_t *factors)
{
    uint64_t acc = 1;
    for (size_t i = 0; i < n; i++)
        if (!u64_mul(acc, factors[i], &acc))
            return false;
    *out = acc;
    return true;
}

static int lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

int str_ieq(const char *a, const char *b)
{
    while (*a && lower((unsigned char)*a) == lower((unsigned char)*b)) {
        a++;
        b++;
    }
    return *a == '\0' && *b == '\0';
}

int str_index(const char *name, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (names[i] && str_ieq(name, names[i]))
            return (int)i;
    return -1;
}

gpumem_status name_parse(const char *const *names, int count, const char *what, const char *name,
                         int *out, gpumem_error *err)
{
    int i = name ? str_index(name, names, (size_t)count) : -1;
    if (i >= 0) {
        *out = i;
        return GPUMEM_OK;
    }
    char expected[160] = "";
    for (int k = 0; k < count; k++) {
        size_t n = strlen(expected);
        snprintf(expected + n, sizeof expected - n, "%s%s", k ? ", " : "", names[k]);
    }
    return err_set(err, GPUMEM_ERR_NOT_FOUND, "unknown %s '%s' (expected %s)", what,
                   name ? name : "", expected);
}

bool str_in_list(const char *name, const char *list)
{
    size_t n = strlen(name);
    const char *p = list;
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n) {
            size_t i = 0;
            while (i < n && lower((unsigned char)p[i]) == lower((unsigned char)name[i]))
                i++;
            if (i == n)
                return true;
        }
        p = end ? end + 1 : NULL;
    }
    return false;
}

unsigned str_distance(const char *a, const char *b)
{
    enum { MAXLEN = 64 };
    size_t la = strlen(a), lb = strlen(b);
    if (la > MAXLEN || lb > MAXLEN)
        return 255;
    unsigned row[MAXLEN + 1];
    for (size_t j = 0; j <= lb; j++)
        row[j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++) {
        unsigned diag = row[0];
        row[0] = (unsigned)i;
        for (size_t j = 1; j <= lb; j++) {
            unsigned up = row[j];
            unsigned cost = lower((unsigned char)a[i - 1]) != lower((unsigned char)b[j - 1]);
            unsigned best = diag + cost;
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb] > 255 ? 255 : row[lb];
}

int file_read_all(const char *path, size_t max, char **out, size_t *len)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return errno;
    if (S_ISDIR(st.st_mode))
        return EISDIR;
    if ((uint64_t)st.st_size > max)
        return EFBIG;
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno;
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        fclose(f);
        return ENOMEM;
    }
    size_t n = fread(buf, 1, (size_t)st.st_size, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return EIO;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

void *shared_lib_open(const char *name)
{
#ifdef __EMSCRIPTEN__
    (void)name;
    return NULL;
#else
    return dlopen(name, RTLD_NOW | RTLD_LOCAL);
#endif
}
