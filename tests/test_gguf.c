/* GGUF reader against files written by llama.cpp's own writer (gguf-py
 * GGUFWriter) and read back by its reader (GGUFReader): every tensor's type,
 * shape, element count, byte size and offset, the data offset and the
 * metadata must agree. Then: every truncation of a valid header fails
 * cleanly, and a 70B-shape sparse file is sized from its header alone. */
#include "test_helpers.h"

#include "read_gguf_internal.h"

#include <jansson.h>
#include <string.h>
#include <unistd.h>

static const char *const fixtures[] = {"tiny-llama-f16", "tiny-llama-q4k", "tiny-llama-q8",
                                       "tiny-moe-mixed", "tiny-bert"};

static void read_fixture(const char *name, gguf_file *f, json_t **expected)
{
    char path[1024];
    gpumem_error err;
    byte_source src;
    snprintf(path, sizeof path, "%s/tests/fixtures/gguf/%s.gguf", GPUMEM_SOURCE_DIR, name);
    assert_int_equal(source_open_file(&src, path, &err), GPUMEM_OK);
    if (gguf_read(&src, f, &err) != GPUMEM_OK)
        fail_msg("%s: %s", name, err.message);
    source_close(&src);
    snprintf(path, sizeof path, "%s/tests/fixtures/gguf/%s.expected.json", GPUMEM_SOURCE_DIR,
             name);
    json_error_t jerr;
    *expected = json_load_file(path, 0, &jerr);
    assert_non_null(*expected);
}

static void test_agrees_with_gguf_py(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
        gguf_file f;
        json_t *x;
        read_fixture(fixtures[i], &f, &x);
        assert_int_equal(f.data_offset, json_integer_value(json_object_get(x, "data_offset")));
        assert_int_equal(f.alignment, json_integer_value(json_object_get(x, "alignment")));
        /* GGUFReader lists three pseudo-fields (GGUF.version, ...) too. */
        assert_int_equal(f.n_kv + 3, json_integer_value(json_object_get(x, "n_kv")));
        json_t *ts = json_object_get(x, "tensors");
        assert_int_equal(f.n_tensors, json_array_size(ts));
        uint64_t sum = 0;
        for (size_t k = 0; k < f.n_tensors; k++) {
            json_t *t = json_array_get(ts, k);
            const gguf_tensor *g = &f.tensors[k];
            assert_string_equal(g->name, json_string_value(json_object_get(t, "name")));
            assert_int_equal(g->type, json_integer_value(json_object_get(t, "type")));
            assert_int_equal(g->n_elems, json_integer_value(json_object_get(t, "n_elements")));
            assert_int_equal(g->bytes, json_integer_value(json_object_get(t, "n_bytes")));
            assert_int_equal(g->offset, json_integer_value(json_object_get(t, "offset")));
            json_t *ne = json_object_get(t, "ne");
            for (size_t d = 0; d < json_array_size(ne); d++)
                assert_int_equal(g->ne[d], json_integer_value(json_array_get(ne, d)));
            sum += g->bytes;
        }
        /* Weights are exact to the byte: the data section holds the tensors
         * and at most alignment-1 bytes of padding after each. */
        assert_int_equal(f.data_bytes, sum);
        uint64_t data = f.file_size - f.data_offset;
        assert_true(data >= sum && data - sum < f.n_tensors * f.alignment);
        const char *key;
        json_t *v;
        json_object_foreach(json_object_get(x, "uints"), key, v)
        {
            uint64_t got;
            if (strncmp(key, "GGUF.", 5) == 0)
                continue;
            if (!gguf_get_uint(&f, key, &got))
                fail_msg("%s: no %s", fixtures[i], key);
            assert_int_equal(got, json_integer_value(v));
        }
        json_object_foreach(json_object_get(x, "strings"), key, v)
        {
            const char *got = gguf_get_str(&f, key);
            assert_non_null(got);
            assert_string_equal(got, json_string_value(v));
        }
        printf("  %-16s %llu tensors, %llu data bytes: equal to gguf-py\n", fixtures[i],
               (unsigned long long)f.n_tensors, (unsigned long long)f.data_bytes);
        json_decref(x);
        gguf_free(&f);
    }
}

static void test_model_from_fixture(void **state)
{
    (void)state;
    char path[1024];
    gpumem_model *m;
    gpumem_error err;
    gpumem_model_info info;
    snprintf(path, sizeof path, "%s/tests/fixtures/gguf/tiny-llama-q4k.gguf", GPUMEM_SOURCE_DIR);
    assert_int_equal(gpumem_model_load(path, &m, &err), GPUMEM_OK);
    gpumem_model_get_info(m, &info);
    /* 320 x 256 embedding (tied: no output.weight), 2 layers of q,o 256x256,
     * k,v 128x256, 3 x 512x256, 2 norms of 256, and a final norm. */
    uint64_t layer = 2 * 65536 + 2 * 32768 + 3 * 131072 + 2 * 256;
    assert_int_equal(info.params, 320 * 256 + 2 * layer + 256);
    assert_true(info.tied_embeddings);
    assert_string_equal(info.architecture, "llama");
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.context = 1000;
    gpumem_estimate *e = estimate_or_fail(m, &s);
    /* Weights: Q4_K matrices (144 B per 256), Q6_K embedding (210 B per 256),
     * F32 norms. */
    uint64_t w = 2 * (2 * 65536 + 2 * 32768 + 3 * 131072) / 256 * 144 + 320 * 256 / 256 * 210 +
                 (2 * 2 * 256 + 256) * 4;
    assert_int_equal(component(e, "weights"), w);
    /* KV: 2 layers x 2 KV heads x 64 x (K + V) x f16 x 1000 tokens. */
    assert_int_equal(component(e, "kv_cache"), 2ull * 2 * 64 * 2 * 2 * 1000);
    free(e);
    gpumem_model_free(m);
    snprintf(path, sizeof path, "%s/tests/fixtures/gguf/tiny-moe-mixed.gguf", GPUMEM_SOURCE_DIR);
    assert_int_equal(gpumem_model_load(path, &m, &err), GPUMEM_OK);
    gpumem_model_get_info(m, &info);
    /* 2 layers x 4 experts x 3 x 256 x 256, 2 of 4 used per token. */
    assert_int_equal(info.params - info.active_params, 2ull * 2 * 3 * 65536);
    gpumem_model_free(m);
}

/* llama.cpp de3ff81's layer placement, by hand from load_tensors: -ngl
 * counts the output layer first (start = n_layer + 1 - ngl), and layer il
 * goes to the first GPU whose cumulative -ts share exceeds
 * (il - start) / min(ngl, n_layer + 1). The fixture: 2 layers, tied
 * output (no output tensor of its own). */
static void test_layer_split(void **state)
{
    (void)state;
    char path[1024];
    gpumem_model *m;
    gpumem_error err;
    snprintf(path, sizeof path, "%s/tests/fixtures/gguf/tiny-llama-q4k.gguf", GPUMEM_SOURCE_DIR);
    assert_int_equal(gpumem_model_load(path, &m, &err), GPUMEM_OK);
    uint64_t layer = (2 * 65536 + 2 * 32768 + 3 * 131072) / 256 * 144 + 2 * 256 * 4;
    uint64_t host_fixed = 320 * 256 / 256 * 210 + 256 * 4; /* embeddings, final norm */
    gpumem_settings s;
    gpumem_settings_init(&s);
    s.engine = GPUMEM_ENGINE_LLAMACPP;
    s.context = 1000;
    assert_int_equal(gpumem_gpu_find("rtx-4090", &s.gpu, &err), GPUMEM_OK);
    assert_int_equal(gpumem_tensor_split_parse("1,1", &s, &err), GPUMEM_OK);
    assert_int_equal(s.gpus, 2);
    /* -ngl all: 3 offloaded; x = 0, 1/3 -> gpu0 (share 0.5); output 2/3 -> gpu1. */
    s.n_gpu_layers = -1;
    gpumem_estimate *e = estimate_or_fail(m, &s);
    assert_int_equal(e->n_devices, 3);
    assert_int_equal(device_component(e, "gpu0", "weights"), 2 * layer);
    /* the output layer of a tied model: llama.cpp loads token_embd again on
     * its GPU (TENSOR_DUPLICATED), 320 x 256 Q6_K = 67,200 B */
    assert_int_equal(device_component(e, "gpu1", "weights"), 320 * 256 / 256 * 210);
    assert_int_equal(device_component(e, "host", "weights"), host_fixed);
    assert_int_equal(e->per_gpu_bytes, e->devices[0].bytes);
    /* Fully offloaded over two GPUs with no override, llama.cpp turns on
     * pipeline parallelism (llama-context.cpp) and the scheduler keeps 4
     * copies of every graph input on the host (ggml-backend.cpp,
     * n_copies = GGML_SCHED_MAX_COPIES): token ids, positions and output
     * ids (512 x 4 B each), the K and V row indices (512 x 8 B each, flash
     * attention) and the mask over the 1024 cells, which de3ff81 fills in
     * f16 (llama-graph.cpp build_attn_inp_kq_mask); beside them two f32
     * rows of n_embd 256 for the ubatch's embeddings. */
    assert_int_equal(device_component(e, "host", "compute"),
                     4 * (3 * 512 * 4 + 2 * 512 * 8 + 1024 * 512 * 2) + 2 * 512 * 256 * 4);
    assert_non_null(strstr(e->description, "llama.cpp de3ff81: "));
    free(e);
    /* b6699: the same condition and copies, its mask f32: 1024 x 512 x 4. */
    s.llamacpp_version = "b6699";
    e = estimate_or_fail(m, &s);
    assert_int_equal(device_component(e, "host", "compute"),
                     4 * (3 * 512 * 4 + 2 * 512 * 8 + 1024 * 512 * 4) + 2 * 512 * 256 * 4);
    assert_non_null(strstr(e->description, "llama.cpp b6699: "));
    free(e);
    s.llamacpp_version = NULL;
    /* -ts 1,3: shares 0.25, 1: layer 0 (x = 0) on gpu0, layer 1 (1/3) on gpu1. */
    assert_int_equal(gpumem_tensor_split_parse("1,3", &s, &err), GPUMEM_OK);
    e = estimate_or_fail(m, &s);
    assert_int_equal(device_component(e, "gpu0", "weights"), layer);
    assert_int_equal(device_component(e, "gpu1", "weights"), layer + 320 * 256 / 256 * 210);
    free(e);
    /* -ngl 2 -ts 1,1: start 1, 2 offloaded: layer 1 (x = 0) on gpu0, the
     * output (x = 0.5, not below 0.5) on gpu1, layer 0 on the host. */
    assert_int_equal(gpumem_tensor_split_parse("1,1", &s, &err), GPUMEM_OK);
    s.n_gpu_layers = 2;
    e = estimate_or_fail(m, &s);
    assert_int_equal(device_component(e, "gpu0", "weights"), layer);
    assert_int_equal(device_component(e, "host", "weights"), host_fixed + layer);
    /* KV follows the layers: 2 KV heads x 64 x (K + V) x f16 per cell,
     * 1024 cells (1000 padded to 256). */
    assert_int_equal(device_component(e, "gpu0", "kv_cache"), 2ull * 64 * 2 * 2 * 1024);
    free(e);
    /* b6699 (llama-model.cpp before PR #18148): start = n_layer - ngl = 0,
     * min(ngl, n_layer + 1) = 2 offloaded: layer 0 (x = 0) on gpu0, layer 1
     * (x = 0.5) on gpu1, the output (il - start = 2, not below 2) on the
     * host, with the embeddings it shares here. */
    s.llamacpp_version = "b6699";
    e = estimate_or_fail(m, &s);
    assert_int_equal(device_component(e, "gpu0", "weights"), layer);
    assert_int_equal(device_component(e, "gpu1", "weights"), layer);
    assert_int_equal(device_component(e, "host", "weights"), host_fixed);
    free(e);
    /* Its padding without flash attention is 32 (get_padding, PR #7257):
     * 300 -> 320 cells per layer where de3ff81 takes 512. */
    s.flash_attn = 2;
    s.context = 300;
    e = estimate_or_fail(m, &s);
    assert_int_equal(device_component(e, "gpu0", "kv_cache"), 2ull * 64 * 2 * 2 * 320);
    free(e);
    s.llamacpp_version = NULL;
    e = estimate_or_fail(m, &s);
    assert_int_equal(device_component(e, "gpu0", "kv_cache"), 2ull * 64 * 2 * 2 * 512);
    free(e);
    s.llamacpp_version = "b1234";
    e = malloc(sizeof *e);
    assert_non_null(e);
    assert_int_equal(gpumem_estimate_inference(m, &s, e, &err), GPUMEM_ERR_USAGE);
    assert_non_null(strstr(err.message, "b6699"));
    free(e);
    gpumem_model_free(m);

    /* Op offload: experts left on the host (--cpu-moe) run on the first GPU
     * for a ubatch of 512, one host weight at a time: the largest expert
     * tensor (MXFP4 [256, 1024]: 139264 B), one MoE layer's f32
     * activations, 512 x 2 used x 3 x 256 x 4, the input rows, 512 x 256 x
     * 4, and, layer 0's attention coming before its experts, 4 B per
     * element of de3ff81's f16 mask, 512 cells x 512 (8 B with b6699's f32
     * mask and its cast: the rule that gives the 774.0 and 1024.0 MiB
     * public Qwen3-235B logs print). */
    snprintf(path, sizeof path, "%s/tests/fixtures/gguf/tiny-moe-mixed.gguf", GPUMEM_SOURCE_DIR);
    assert_int_equal(gpumem_model_load(path, &m, &err), GPUMEM_OK);
    gpumem_settings_init(&s);
    s.engine = GPUMEM_ENGINE_LLAMACPP;
    s.context = 512; /* the GPU's own graph stays below the streamed expert */
    s.n_gpu_layers = -1;
    s.n_cpu_moe = -1;
    assert_int_equal(gpumem_gpu_find("rtx-4090", &s.gpu, &err), GPUMEM_OK);
    e = estimate_or_fail(m, &s);
    assert_int_equal(device_component(e, "gpu0", "compute"),
                     139264 + 512ull * 2 * 3 * 256 * 4 + 512 * 256 * 4 + 512 * 512 * 4);
    free(e);
    s.llamacpp_version = "b6699";
    e = estimate_or_fail(m, &s);
    assert_int_equal(device_component(e, "gpu0", "compute"),
                     139264 + 512ull * 2 * 3 * 256 * 4 + 512 * 256 * 4 + 512 * 512 * 8);
    free(e);
    s.llamacpp_version = NULL;
    s.n_cpu_moe = 0; /* experts on the GPU: no streaming */
    e = estimate_or_fail(m, &s);
    assert_true(device_component(e, "gpu0", "compute") < 139264 + 512ull * 2 * 3 * 256 * 4);
    free(e);
    /* Dense partial offload: layer 0 stays on the host, its matmuls run on
     * the GPU for a 512-token ubatch with the widest host matrix streamed
     * (Q4_K [256, 512]: 73728 B) and the input and output rows of the widest
     * matmul, twice: 2 x 512 x (256 + 512) x 4. */
    gpumem_model_free(m);
    snprintf(path, sizeof path, "%s/tests/fixtures/gguf/tiny-llama-q4k.gguf", GPUMEM_SOURCE_DIR);
    assert_int_equal(gpumem_model_load(path, &m, &err), GPUMEM_OK);
    gpumem_settings_init(&s);
    s.engine = GPUMEM_ENGINE_LLAMACPP;
    s.context = 512;
    s.n_gpu_layers = 2;
    assert_int_equal(gpumem_gpu_find("rtx-4090", &s.gpu, &err), GPUMEM_OK);
    e = estimate_or_fail(m, &s);
    /* + the mask: the streamed layer 0 comes before GPU0's first attention
     * (layer 1), so de3ff81's f16 mask copy, 512 cells x 512 x 2, sits
     * beside the later streamed weights. */
    assert_int_equal(device_component(e, "gpu0", "compute"),
                     73728 + 2 * 512 * (256 + 512) * 4 + 512 * 512 * 2);
    free(e);
    /* b6699's f32 mask goes above that space (4 B per element); its f16
     * cast, 512 x 512 x 2, fits the space the streamed layer left. */
    s.llamacpp_version = "b6699";
    s.n_gpu_layers = 1; /* b6699 has no output-first: start = 2 - 1 */
    e = estimate_or_fail(m, &s);
    assert_int_equal(device_component(e, "gpu0", "compute"),
                     73728 + 2 * 512 * (256 + 512) * 4 + 512 * 512 * 4);
    free(e);
    s.llamacpp_version = NULL;
    s.n_gpu_layers = 2;
    s.n_ubatch = 16; /* below the CUDA backend's 32: the host computes them */
    e = estimate_or_fail(m, &s);
    assert_string_equal(e->devices[0].name, "gpu0");
    for (size_t k = 0; k < e->devices[0].n_components; k++)
        assert_null(strstr(e->devices[0].components[k].note, "op offload"));
    free(e);
    /* Bad splits are usage errors. */
    assert_int_equal(gpumem_tensor_split_parse("0,0", &s, &err), GPUMEM_ERR_USAGE);
    assert_int_equal(gpumem_tensor_split_parse("1,-2", &s, &err), GPUMEM_ERR_USAGE);
    assert_int_equal(gpumem_tensor_split_parse("1,,2", &s, &err), GPUMEM_ERR_USAGE);
    assert_int_equal(gpumem_tensor_split_parse("1,2x", &s, &err), GPUMEM_ERR_USAGE);
    gpumem_model_free(m);
}

/* Every prefix of a valid header is rejected with an error, never a crash
 * or a model. */
static void test_every_truncation_fails(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/gguf/tiny-moe-mixed.gguf", GPUMEM_SOURCE_DIR);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    unsigned char *buf = malloc(1 << 21);
    size_t n = fread(buf, 1, 1 << 21, fp);
    fclose(fp);
    size_t checked = 0;
    for (size_t len = 0; len < n; len += (len < 4096 ? 1 : 4099)) {
        byte_source src;
        gguf_file f;
        gpumem_error err;
        source_open_memory(&src, buf, len, "truncated");
        if (gguf_read(&src, &f, &err) == GPUMEM_OK)
            fail_msg("a %zu-byte prefix of %zu was accepted", len, n);
        assert_true(err.message[0] != '\0');
        checked++;
    }
    printf("  %zu truncations rejected\n", checked);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agrees_with_gguf_py),
        cmocka_unit_test(test_model_from_fixture),
        cmocka_unit_test(test_layer_split),
        cmocka_unit_test(test_every_truncation_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
