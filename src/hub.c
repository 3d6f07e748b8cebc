/* Hub fetch with libcurl. URL layout: {endpoint}/{repo}/resolve/{rev}/{file}
 * (endpoint from HF_ENDPOINT, default https://huggingface.co; token from
 * HF_TOKEN). Cache: $XDG_CACHE_HOME/gpumem/hub (or ~/.cache/gpumem/hub)
 * /{repo}/{rev}/{file}; shard headers are cached as {file}.head holding the
 * first 8 + N bytes, with the file's full size in {file}.size. */
#include "hub_internal.h"

#include "error_internal.h"
#include "model_internal.h"
#include "read_safetensors_internal.h"
#include "source_internal.h"
#include "util_internal.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { MAX_SMALL_FILE = 64 << 20, MAX_SHARDS = 4096 };

/* libcurl is opened with dlopen when a Hub model is asked for, so the
 * program does not load it (and its TLS and GSSAPI libraries, about 5 ms)
 * on every run; only curl/curl.h is needed to build. */
typedef struct {
    void *lib;
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    void (*easy_cleanup)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
} curl_api;

static gpumem_status curl_open(curl_api *api, gpumem_error *err)
{
    static const char *const names[] = {"libcurl.so.4", "libcurl.so", "libcurl-gnutls.so.4",
                                        "libcurl.4.dylib"};
    memset(api, 0, sizeof *api);
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !api->lib; i++)
        api->lib = shared_lib_open(names[i]);
    if (!api->lib)
        return err_set(err, GPUMEM_ERR_IO, "cannot load libcurl (libcurl4 is needed for hf: models)");
    /* POSIX: casting dlsym's object pointer to a function pointer is allowed. */
#define SYM(field, name) *(void **)(&api->field) = dlsym(api->lib, name)
    SYM(easy_init, "curl_easy_init");
    SYM(easy_setopt, "curl_easy_setopt");
    SYM(easy_perform, "curl_easy_perform");
    SYM(easy_getinfo, "curl_easy_getinfo");
    SYM(easy_cleanup, "curl_easy_cleanup");
    SYM(easy_strerror, "curl_easy_strerror");
    SYM(slist_append, "curl_slist_append");
    SYM(slist_free_all, "curl_slist_free_all");
#undef SYM
    if (!api->easy_init || !api->easy_setopt || !api->easy_perform || !api->easy_getinfo ||
        !api->easy_cleanup || !api->easy_strerror || !api->slist_append || !api->slist_free_all) {
        dlclose(api->lib);
        api->lib = NULL;
        return err_set(err, GPUMEM_ERR_IO, "libcurl lacks the functions gpumem needs");
    }
    return GPUMEM_OK;
}

typedef struct {
    curl_api curl;
    char repo[256];
    char rev[128];
    char endpoint[512];
    char cache[1024]; /* cache directory of this repo and revision */
    const char *token;
    gpumem_error *err;
} hub;

typedef struct {
    char *data;
    size_t len, cap, max;
    uint64_t total; /* from Content-Range */
} membuf;

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    membuf *b = ud;
    size_t add = size * n;
    if (b->len + add > b->max)
        return 0; /* aborts the transfer: larger than expected */
    if (b->len + add + 1 > b->cap) {
        size_t cap = (b->len + add + 1) * 2;
        char *d = realloc(b->data, cap);
        if (!d)
            return 0;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, add);
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    membuf *b = ud;
    size_t len = size * n;
    unsigned long long a, z, total;
    char line[256];
    if (len < sizeof line) {
        memcpy(line, p, len);
        line[len] = '\0';
        if (sscanf(line, "Content-Range: bytes %llu-%llu/%llu", &a, &z, &total) == 3 ||
            sscanf(line, "content-range: bytes %llu-%llu/%llu", &a, &z, &total) == 3)
            b->total = total;
    }
    return len;
}

/* GET url (a byte range when `range` is non-NULL) into b. */
static gpumem_status http_get(hub *h, const char *file, const char *range, membuf *b)
{
    char url[2048];
    snprintf(url, sizeof url, "%s/%s/resolve/%s/%s", h->endpoint, h->repo, h->rev, file);
    const curl_api *api = &h->curl;
    CURL *c = api->easy_init();
    if (!c)
        return err_set(h->err, GPUMEM_ERR_NOMEM, "cannot start libcurl");
    struct curl_slist *hdrs = NULL;
    char auth[1100];
    if (h->token && *h->token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", h->token);
        hdrs = api->slist_append(hdrs, auth);
    }
    char ua[64];
    snprintf(ua, sizeof ua, "gpumem/%s", GPUMEM_VERSION);
    api->easy_setopt(c, CURLOPT_URL, url);
    api->easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    api->easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    api->easy_setopt(c, CURLOPT_USERAGENT, ua);
    api->easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    api->easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    api->easy_setopt(c, CURLOPT_WRITEDATA, b);
    api->easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    api->easy_setopt(c, CURLOPT_HEADERDATA, b);
    api->easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
    api->easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    api->easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (range)
        api->easy_setopt(c, CURLOPT_RANGE, range);
    CURLcode rc = api->easy_perform(c);
    long code = 0;
    api->easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    api->slist_free_all(hdrs);
    api->easy_cleanup(c);
    if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && code >= 400))
        return err_set(h->err, GPUMEM_ERR_IO, "cannot fetch %s: %s", url, api->easy_strerror(rc));
    if (code == 401 || code == 403)
        return err_set(h->err, GPUMEM_ERR_IO,
                       "HTTP %ld for %s: the repository is gated or private; accept its licence "
                       "on the Hub and set HF_TOKEN",
                       code, url);
    if (code == 404)
        return err_set(h->err, GPUMEM_ERR_NOT_FOUND, "HTTP 404: %s does not exist", url);
    if (code != 200 && code != 206)
        return err_set(h->err, GPUMEM_ERR_IO, "HTTP %ld for %s", code, url);
    if (range && code == 200 && b->total == 0)
        b->total = b->len; /* server ignored the range */
    return GPUMEM_OK;
}

/* ----------------------------------------------------------------- cache */

static int mkdirs(const char *path)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    return mkdir(tmp, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

static void cache_path(const hub *h, const char *file, const char *suffix, char *out, size_t len)
{
    snprintf(out, len, "%s/%s%s", h->cache, file, suffix);
}

static int cache_read(const hub *h, const char *file, const char *suffix, membuf *b)
{
    char path[2048];
    cache_path(h, file, suffix, path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (on_data(chunk, 1, n, b) != n) {
            fclose(f);
            return -1;
        }
    fclose(f);
    return 0;
}

static void cache_write(const hub *h, const char *file, const char *suffix, const void *d,
                        size_t n)
{
    char path[2048], tmp[2100];
    cache_path(h, file, suffix, path, sizeof path);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    if (mkdirs(path) != 0)
        return; /* an unwritable cache only costs the next run a fetch */
    *slash = '/';
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return;
    int ok = fwrite(d, 1, n, f) == n;
    ok = fclose(f) == 0 && ok;
    if (ok)
        rename(tmp, path);
    else
        remove(tmp);
}

/* A whole small file, from the cache or the Hub. */
static gpumem_status get_file(hub *h, const char *file, membuf *b)
{
    b->max = MAX_SMALL_FILE;
    if (cache_read(h, file, "", b) == 0)
        return GPUMEM_OK;
    gpumem_status st = http_get(h, file, NULL, b);
    if (st == GPUMEM_OK)
        cache_write(h, file, "", b->data ? b->data : "", b->len);
    return st;
}

/* The first 8 + N bytes of a safetensors shard, and its full size. */
static gpumem_status get_header(hub *h, const char *file, membuf *b)
{
    membuf size = {0};
    size.max = 64;
    b->max = (100u << 20) + 8;
    if (cache_read(h, file, ".head", b) == 0 && cache_read(h, file, ".size", &size) == 0) {
        b->total = strtoull(size.data, NULL, 10);
        free(size.data);
        return GPUMEM_OK;
    }
    free(size.data);
    free(b->data);
    memset(b, 0, sizeof *b);
    b->max = 8;
    gpumem_status st = http_get(h, file, "0-7", b);
    if (st != GPUMEM_OK)
        return st;
    if (b->len < 8)
        return err_set(h->err, GPUMEM_ERR_PARSE, "%s: shorter than 8 bytes", file);
    uint64_t n = 0;
    for (int i = 0; i < 8; i++)
        n |= (uint64_t)(unsigned char)b->data[i] << (8 * i);
    if (n > (100u << 20) || (b->total && n > b->total - 8))
        return err_set(h->err, GPUMEM_ERR_PARSE,
                       "%s: safetensors header length %llu is larger than the file or 100 MiB",
                       file, (unsigned long long)n);
    uint64_t total = b->total;
    b->max = (size_t)n + 8;
    char range[64];
    snprintf(range, sizeof range, "8-%llu", (unsigned long long)(n + 7));
    membuf rest = {0};
    rest.max = (size_t)n;
    if (n && (st = http_get(h, file, range, &rest)) != GPUMEM_OK) {
        free(rest.data);
        return st;
    }
    if (rest.len != n) {
        free(rest.data);
        return err_set(h->err, GPUMEM_ERR_IO, "%s: got %zu header bytes of %llu", file, rest.len,
                       (unsigned long long)n);
    }
    on_data(rest.data ? rest.data : "", 1, rest.len, b);
    free(rest.data);
    b->total = total ? total : b->len;
    char sz[32];
    int k = snprintf(sz, sizeof sz, "%llu", (unsigned long long)b->total);
    cache_write(h, file, ".head", b->data, b->len);
    cache_write(h, file, ".size", sz, (size_t)k);
    return GPUMEM_OK;
}

/* A byte source over a shard's cached header: its size is the whole file,
 * reads beyond the header fail (the reader never asks for them). */
typedef struct {
    const membuf *b;
} head_ctx;

static int head_read(void *ctx, uint64_t off, void *buf, size_t n)
{
    const membuf *b = ((head_ctx *)ctx)->b;
    if (off + n > b->len)
        return -1;
    memcpy(buf, b->data + off, n);
    return 0;
}

static gpumem_status read_shard(hub *h, const char *file, st_set *set)
{
    membuf b = {0};
    gpumem_status st = get_header(h, file, &b);
    if (st == GPUMEM_OK) {
        head_ctx ctx = {&b};
        byte_source src;
        memset(&src, 0, sizeof src);
        src.read_at = head_read;
        src.ctx = &ctx;
        src.size = b.total;
        src.avail = b.len;
        src.name = file;
        st = st_read_file(&src, set, h->err);
        set->bytes_read += b.len - src.bytes_read; /* count the fetched header */
    }
    free(b.data);
    return st;
}

static gpumem_status parse_spec(const char *spec, hub *h, gpumem_error *err)
{
    const char *p = strncmp(spec, "hf:", 3) == 0 ? spec + 3 : spec;
    const char *at = strchr(p, '@');
    size_t len = at ? (size_t)(at - p) : strlen(p);
    const char *slash = memchr(p, '/', len);
    if (!slash || slash == p || len >= sizeof h->repo || slash + 1 == p + len ||
        memchr(slash + 1, '/', len - (size_t)(slash + 1 - p)))
        return err_set(err, GPUMEM_ERR_USAGE, "'%s': expected hf:ORG/NAME[@REVISION]", spec);
    for (size_t i = 0; i < len; i++)
        if (!(p[i] == '/' || p[i] == '-' || p[i] == '_' || p[i] == '.' ||
              (p[i] >= '0' && p[i] <= '9') || ((p[i] | 32) >= 'a' && (p[i] | 32) <= 'z')))
            return err_set(err, GPUMEM_ERR_USAGE, "'%s': invalid character in the repository id",
                           spec);
    memcpy(h->repo, p, len);
    h->repo[len] = '\0';
    snprintf(h->rev, sizeof h->rev, "%s", at ? at + 1 : "main");
    if (!h->rev[0] || strchr(h->rev, '/') || strstr(h->rev, ".."))
        return err_set(err, GPUMEM_ERR_USAGE, "'%s': invalid revision", spec);
    const char *ep = getenv("HF_ENDPOINT");
    snprintf(h->endpoint, sizeof h->endpoint, "%s", ep && *ep ? ep : "https://huggingface.co");
    size_t el = strlen(h->endpoint);
    while (el && h->endpoint[el - 1] == '/')
        h->endpoint[--el] = '\0';
    h->token = getenv("HF_TOKEN");
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(h->cache, sizeof h->cache, "%s/gpumem/hub/%s/%s", xdg, h->repo, h->rev);
    else
        snprintf(h->cache, sizeof h->cache, "%s/.cache/gpumem/hub/%s/%s", home ? home : "/tmp",
                 h->repo, h->rev);
    return GPUMEM_OK;
}

gpumem_status hub_load(const char *spec, gpumem_model **out, gpumem_error *err)
{
    hub h;
    memset(&h, 0, sizeof h);
    h.err = err;
    *out = NULL;
    gpumem_status st = parse_spec(spec, &h, err);
    if (st != GPUMEM_OK)
        return st;
    /* A cache hit needs no network; libcurl is loaded regardless, once. */
    if ((st = curl_open(&h.curl, err)) != GPUMEM_OK)
        return st;
    membuf cfg = {0}, idx = {0};
    st_set set;
    memset(&set, 0, sizeof set);
    gpumem_model *m = NULL;
    if ((st = get_file(&h, "config.json", &cfg)) != GPUMEM_OK)
        goto done;
    char label[512];
    snprintf(label, sizeof label, "hf:%s@%s/config.json", h.repo, h.rev);
    if ((st = gpumem_model_load_config_json(cfg.data, cfg.len, label, &m, err)) != GPUMEM_OK)
        goto done;
    snprintf(m->name, sizeof m->name, "%s", h.repo);
    st = get_file(&h, "model.safetensors.index.json", &idx);
    if (st == GPUMEM_ERR_NOT_FOUND) {
        st = read_shard(&h, "model.safetensors", &set);
    } else if (st == GPUMEM_OK) {
        json_error_t jerr;
        json_t *root = json_loadb(idx.data, idx.len, 0, &jerr);
        json_t *map = root ? json_object_get(root, "weight_map") : NULL;
        if (!json_is_object(map)) {
            st = err_set_at(err, GPUMEM_ERR_PARSE, "model.safetensors.index.json", jerr.position,
                            jerr.line, jerr.column, "no \"weight_map\" object in the index");
        } else {
            const char *files[MAX_SHARDS];
            size_t n = 0;
            const char *k;
            json_t *v;
            json_object_foreach(map, k, v)
            {
                const char *f = json_string_value(v);
                if (!f || strchr(f, '/') || strstr(f, "..")) {
                    st = err_set(err, GPUMEM_ERR_PARSE, "weight_map entry '%s' is not a file name", k);
                    break;
                }
                size_t i = 0;
                while (i < n && strcmp(files[i], f) != 0)
                    i++;
                if (i == n && n < MAX_SHARDS)
                    files[n++] = f;
            }
            for (size_t i = 0; st == GPUMEM_OK && i < n; i++)
                st = read_shard(&h, files[i], &set);
        }
        json_decref(root);
    }
    if (st == GPUMEM_OK) {
        st = st_attach(m, &set, err);
        m->source = GPUMEM_SOURCE_SAFETENSORS;
    }
done:
    dlclose(h.curl.lib);
    free(cfg.data);
    free(idx.data);
    st_free(&set);
    if (st != GPUMEM_OK) {
        gpumem_model_free(m);
        return st;
    }
    *out = m;
    return GPUMEM_OK;
}
