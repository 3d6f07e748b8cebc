/* Sizes a 70B-shape GGUF (Llama-3.1-70B layout, Q4_K_M-like type mix, a
 * 128,256-token vocabulary with 280,147 merges) and a 30-shard safetensors
 * directory, both written here as sparse files (headers only: the data
 * regions are holes), and prints the time and the bytes read. Targets
 * (issue 4): < 2 MiB read for either. The paths are printed so
 * bench/bench_readers.sh can time other parsers on the same files. */
#include "gpumem.h"
#include "../tests/gguf_write.h"
#include "read_gguf_internal.h"
#include "read_safetensors_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}


typedef struct {
    char name[64];
    uint64_t ne0, ne1;
    uint32_t type;
    uint64_t bytes;
} tdesc;

static uint64_t tbytes(uint32_t type, uint64_t n)
{
    switch (type) {
    case 0: return n * 4;
    case 12: return n / 256 * 144; /* Q4_K */
    case 14: return n / 256 * 210; /* Q6_K */
    default: return n * 2;
    }
}

static void write_gguf(const char *path)
{
    enum { L = 80, E = 8192, FF = 28672, KVD = 1024, V = 128256, MERGES = 280147 };
    tdesc *t = calloc(3 + L * 9, sizeof *t);
    size_t n = 0;
    t[n++] = (tdesc){"token_embd.weight", E, V, 12, 0};
    t[n++] = (tdesc){"output_norm.weight", E, 1, 0, 0};
    t[n++] = (tdesc){"output.weight", E, V, 14, 0};
    const char *mats[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
    uint64_t rows[] = {E, KVD, KVD, E, FF, FF, E}, cols[] = {E, E, E, E, E, E, FF};
    for (int il = 0; il < L; il++) {
        for (int k = 0; k < 7; k++) {
            snprintf(t[n].name, sizeof t[n].name, "blk.%d.%s.weight", il, mats[k]);
            t[n].ne0 = cols[k];
            t[n].ne1 = rows[k];
            t[n++].type = (k == 2 || k == 6) ? 14 : 12; /* Q4_K_M keeps v, down in Q6_K */
        }
        snprintf(t[n].name, sizeof t[n].name, "blk.%d.attn_norm.weight", il);
        t[n++] = (tdesc){"", E, 1, 0, 0};
        snprintf(t[n - 1].name, sizeof t[n - 1].name, "blk.%d.attn_norm.weight", il);
        t[n] = (tdesc){"", E, 1, 0, 0};
        snprintf(t[n++].name, sizeof t[n].name, "blk.%d.ffn_norm.weight", il);
    }
    FILE *f = fopen(path, "wb");
    fwrite("GGUF", 1, 4, f);
    put_u32(f, 3);
    put_u64(f, n);
    put_u64(f, 12);
    put_str(f, "general.architecture");
    put_u32(f, 8);
    put_str(f, "llama");
    kv_u32(f, "llama.block_count", L);
    kv_u32(f, "llama.embedding_length", E);
    kv_u32(f, "llama.feed_forward_length", FF);
    kv_u32(f, "llama.attention.head_count", 64);
    kv_u32(f, "llama.attention.head_count_kv", 8);
    kv_u32(f, "llama.context_length", 131072);
    kv_u32(f, "general.file_type", 15);
    put_str(f, "tokenizer.ggml.model");
    put_u32(f, 8);
    put_str(f, "gpt2");
    put_str(f, "tokenizer.ggml.tokens");
    put_u32(f, 9);
    put_u32(f, 8);
    put_u64(f, V);
    char tok[64];
    for (int i = 0; i < V; i++) {
        snprintf(tok, sizeof tok, "tok%d", i);
        put_str(f, tok);
    }
    put_str(f, "tokenizer.ggml.token_type");
    put_u32(f, 9);
    put_u32(f, 5);
    put_u64(f, V);
    for (int i = 0; i < V; i++)
        put_u32(f, 1);
    put_str(f, "tokenizer.ggml.merges");
    put_u32(f, 9);
    put_u32(f, 8);
    put_u64(f, MERGES);
    for (int i = 0; i < MERGES; i++) {
        snprintf(tok, sizeof tok, "t%d m%d", i % 977, i);
        put_str(f, tok);
    }
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        t[i].bytes = tbytes(t[i].type, t[i].ne0 * t[i].ne1);
        put_str(f, t[i].name);
        put_u32(f, t[i].ne1 > 1 ? 2 : 1);
        put_u64(f, t[i].ne0);
        if (t[i].ne1 > 1)
            put_u64(f, t[i].ne1);
        put_u32(f, t[i].type);
        put_u64(f, off);
        off += (t[i].bytes + 31) / 32 * 32;
    }
    long pos = ftell(f);
    long data = (pos + 31) / 32 * 32;
    fclose(f);
    if (truncate(path, data + (off_t)off) != 0)
        perror("truncate");
    free(t);
}

static void write_shards(const char *dir)
{
    mkdir(dir, 0755);
    for (int s = 0; s < 30; s++) {
        char path[512], header[1 << 16];
        snprintf(path, sizeof path, "%s/model-%05d-of-00030.safetensors", dir, s + 1);
        size_t len = 0;
        uint64_t off = 0;
        len += (size_t)snprintf(header + len, sizeof header - len, "{\"__metadata__\":{\"format\":\"pt\"}");
        for (int il = s * 3; il < s * 3 + 3 && il < 80; il++) {
            const char *m[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                               "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};
            uint64_t r[] = {8192, 1024, 1024, 8192, 28672, 28672, 8192};
            uint64_t c[] = {8192, 8192, 8192, 8192, 8192, 8192, 28672};
            for (int k = 0; k < 7; k++) {
                uint64_t b = r[k] * c[k] * 2;
                len += (size_t)snprintf(header + len, sizeof header - len,
                                        ",\"model.layers.%d.%s.weight\":{\"dtype\":\"BF16\",\"shape\":[%llu,%llu],"
                                        "\"data_offsets\":[%llu,%llu]}",
                                        il, m[k], (unsigned long long)r[k], (unsigned long long)c[k],
                                        (unsigned long long)off, (unsigned long long)(off + b));
                off += b;
            }
        }
        len += (size_t)snprintf(header + len, sizeof header - len, "}");
        FILE *f = fopen(path, "wb");
        uint64_t hl = len;
        fwrite(&hl, 8, 1, f);
        fwrite(header, 1, len, f);
        fclose(f);
        if (truncate(path, (off_t)(8 + len + off)) != 0)
            perror("truncate");
    }
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/tmp/gpumem-bench";
    char gguf_path[512], st_dir[512];
    mkdir(dir, 0755);
    snprintf(gguf_path, sizeof gguf_path, "%s/llama-70b-shape-q4km.gguf", dir);
    snprintf(st_dir, sizeof st_dir, "%s/shards70b", dir);
    write_gguf(gguf_path);
    write_shards(st_dir);
    gpumem_error err;
    int reps = 20;
    double t0 = now();
    uint64_t read = 0, weights = 0;
    for (int i = 0; i < reps; i++) {
        byte_source src;
        gguf_file f;
        source_open_file(&src, gguf_path, &err);
        if (gguf_read(&src, &f, &err) != GPUMEM_OK) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
        read = src.bytes_read;
        weights = f.data_bytes;
        source_close(&src);
        gguf_free(&f);
    }
    double gguf_ms = (now() - t0) / reps * 1e3;
    struct stat st;
    stat(gguf_path, &st);
    printf("gguf %s: %.2f ms per parse, %.2f MiB read of a %.1f GiB file (target < 2 MiB), "
           "weights %llu bytes\n",
           gguf_path, gguf_ms, read / 1048576.0, st.st_size / 1073741824.0,
           (unsigned long long)weights);
    t0 = now();
    st_set set;
    for (int i = 0; i < reps; i++) {
        memset(&set, 0, sizeof set);
        if (st_read_dir(st_dir, &set, &err) != GPUMEM_OK) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
        read = set.bytes_read;
        weights = set.data_bytes;
        if (i + 1 < reps)
            st_free(&set);
    }
    double st_ms = (now() - t0) / reps * 1e3;
    printf("safetensors %s (%u shards): %.2f ms per directory, %.3f MiB read (target < 2 MiB), "
           "weights %llu bytes\n",
           st_dir, set.n_files, st_ms, read / 1048576.0, (unsigned long long)weights);
    st_free(&set);
    printf("GPUMEM_GGUF_MS=%.4f\n", gguf_ms);
    return 0;
}
