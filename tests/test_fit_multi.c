/* llama.cpp over several GPUs, against hand calculations on a generated
 * GGUF: 12 llama layers of F32 tensors, n_embd 4096, n_ff 4096, 32 heads,
 * 8 KV heads (K/V rows of 1024), vocab 1000, trained context 4096.
 *   one layer: q 4096x4096x4 = 67,108,864; k, v 4096x1024x4 = 16,777,216
 *   each; o 67,108,864; gate, up, down 3 x 67,108,864 = 201,326,592; two
 *   norms 2 x 4096 x 4 = 32,768: 369,131,520 B (352.03 MiB);
 *   its KV at 4096 cells, f16: 2 x 1024 x 4096 x 2 = 16,777,216 B;
 *   output.weight 4096 x 1000 x 4 = 16,384,000 B (+ output_norm 16,384 on
 *   the host with the embeddings). */
#include "test_helpers.h"
#include "gguf_write.h"

#include <stdbool.h>
#include <string.h>
#include <unistd.h>

enum { L = 12, E = 4096, FF = 4096, KVD = 1024, V = 1000 };
static const uint64_t layer_bytes = 369131520, layer_kv = 16777216, output_bytes = 16384000;
static const uint64_t MiB = 1ull << 20;

static void tensor(FILE *f, const char *name, uint64_t ne0, uint64_t ne1, uint64_t *off)
{
    put_str(f, name);
    put_u32(f, ne1 > 1 ? 2 : 1);
    put_u64(f, ne0);
    if (ne1 > 1)
        put_u64(f, ne1);
    put_u32(f, 0); /* F32 */
    put_u64(f, *off);
    *off += (ne0 * ne1 * 4 + 31) / 32 * 32;
}

static gpumem_model *write_model(void)
{
    char path[] = "/tmp/gpumem-fit-multi-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "wb");
    fwrite("GGUF", 1, 4, f);
    put_u32(f, 3);
    put_u64(f, 3 + L * 9);
    put_u64(f, 8);
    put_str(f, "general.architecture");
    put_u32(f, 8);
    put_str(f, "llama");
    kv_u32(f, "llama.block_count", L);
    kv_u32(f, "llama.embedding_length", E);
    kv_u32(f, "llama.feed_forward_length", FF);
    kv_u32(f, "llama.attention.head_count", 32);
    kv_u32(f, "llama.attention.head_count_kv", 8);
    kv_u32(f, "llama.context_length", 4096);
    put_str(f, "tokenizer.ggml.tokens");
    put_u32(f, 9);
    put_u32(f, 8);
    put_u64(f, V);
    for (int i = 0; i < V; i++) {
        char tok[16];
        snprintf(tok, sizeof tok, "t%d", i);
        put_str(f, tok);
    }
    uint64_t off = 0;
    tensor(f, "token_embd.weight", E, V, &off);
    tensor(f, "output_norm.weight", E, 1, &off);
    tensor(f, "output.weight", E, V, &off);
    const char *mats[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up",
                          "ffn_down", "attn_norm", "ffn_norm"};
    uint64_t rows[] = {E, KVD, KVD, E, FF, FF, E, 1, 1}, cols[] = {E, E, E, E, E, E, FF, E, E};
    for (int il = 0; il < L; il++)
        for (int k = 0; k < 9; k++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s.weight", il, mats[k]);
            tensor(f, name, cols[k], rows[k], &off);
        }
    long data = (ftell(f) + 31) / 32 * 32;
    fclose(f);
    assert_int_equal(truncate(path, data + (off_t)off), 0); /* sparse: no data written */
    gpumem_model *m;
    gpumem_error err;
    if (gpumem_model_load(path, &m, &err) != GPUMEM_OK)
        fail_msg("%s", err.message);
    unlink(path);
    return m;
}

static void llamacpp(gpumem_settings *s)
{
    gpumem_settings_init(s);
    s->engine = GPUMEM_ENGINE_LLAMACPP;
    s->n_gpu_layers = -1;
    s->context = 4096;
}

static void target(gpumem_settings *s, uint32_t d, const char *gpu, uint64_t budget,
                   uint64_t margin)
{
    gpumem_error err;
    assert_int_equal(gpumem_gpu_find(gpu, &s->targets[d].gpu, &err), GPUMEM_OK);
    s->targets[d].budget = budget;
    s->targets[d].margin = margin;
    s->n_targets = d + 1;
}

/* Without -ts, llama.cpp splits by free memory: rtx-3090 25,437,405,184 B
 * and rtx-4060-ti-16gb 17,179,869,184 B give gpu0 a share of
 * 25437405184 / 42617274368 = 0.59688. Of -ngl 13 (12 layers + output),
 * layer i goes to gpu0 while i / 13 < 0.59688, i.e. i <= 7: 8 layers on
 * gpu0, 4 layers and the output on gpu1. */
static void test_default_split_follows_memory(void **state)
{
    (void)state;
    gpumem_model *m = write_model();
    gpumem_settings s;
    llamacpp(&s);
    target(&s, 0, "rtx-3090", 0, 0);
    target(&s, 1, "rtx-4060-ti-16gb", 0, 0);
    gpumem_estimate *e = estimate_or_fail(m, &s);
    assert_int_equal(e->n_devices, 3);
    assert_int_equal(device_component(e, "gpu0", "weights"), 8 * layer_bytes);
    assert_int_equal(device_component(e, "gpu1", "weights"), 4 * layer_bytes + output_bytes);
    assert_int_equal(device_component(e, "gpu0", "kv_cache"), 8 * layer_kv);
    assert_int_equal(device_component(e, "gpu1", "kv_cache"), 4 * layer_kv);
    assert_int_equal(e->fits, 1);
    free(e);
    /* -ts 1,1 instead: 13 / 2 -> i / 13 < 0.5 for i <= 6: 7 layers, then
     * 5 layers + output. */
    assert_int_equal(gpumem_tensor_split_parse("1,1", &s, NULL), GPUMEM_OK);
    e = estimate_or_fail(m, &s);
    assert_int_equal(device_component(e, "gpu0", "weights"), 7 * layer_bytes);
    assert_int_equal(device_component(e, "gpu1", "weights"), 5 * layer_bytes + output_bytes);
    free(e);
    gpumem_model_free(m);
}

/* The verdict per device: with -ts 1,1 (5 layers + output on gpu1, see
 * above) a gpu1 budget of 5 layers' weights + 1 MiB cannot also hold the
 * output layer's 15.6 MiB; the default split would follow the budgets. */
static void test_verdict_per_device(void **state)
{
    (void)state;
    gpumem_model *m = write_model();
    gpumem_settings s;
    llamacpp(&s);
    target(&s, 0, "rtx-3090", 0, 0);
    target(&s, 1, "rtx-4060-ti-16gb", 5 * layer_bytes + MiB, 0);
    assert_int_equal(gpumem_tensor_split_parse("1,1", &s, NULL), GPUMEM_OK);
    gpumem_estimate *e = estimate_or_fail(m, &s);
    assert_int_equal(e->fits, 0);
    assert_true(e->headroom_bytes < 0);
    free(e);
    gpumem_model_free(m);
}

/* The fit, by hand. A layer costs 352.03 MiB of weights + 16 MiB of KV =
 * 368.03 MiB; a device adds the CUDA context (384 MiB) and a compute
 * buffer under 128 MiB (gpu0 streams host layers' matmuls: one 64 MiB
 * weight, 2 x 512 x 8192 x 4 = 32 MiB of rows, 16 MiB of masks). Margin
 * 1024 MiB each.
 *   gpu1: budget 2724 MiB -> 1700 MiB to use; minus 384..512 of overhead
 *         leaves 1188..1316 MiB: 3 layers (1104), not 4 (1472); with the
 *         output layer: 4.
 *   gpu0: budget 3474 MiB -> 2450; minus 384..512: 1938..2066: 5 layers
 *         (1840), not 6 (2208).
 * The trained context 4096 is llama.cpp's minimum: no shrinking. So
 * "-c 4096 -ngl 9 -ts 5,4"; 3 layers stay on the host. */
static void test_fit_two_gpus_by_hand(void **state)
{
    (void)state;
    gpumem_model *m = write_model();
    gpumem_settings s;
    gpumem_error err;
    llamacpp(&s);
    s.context = 0;
    target(&s, 0, "rtx-3090", 3474 * MiB, 0);
    target(&s, 1, "rtx-4060-ti-16gb", 2724 * MiB, 0);
    gpumem_fit_request req;
    memset(&req, 0, sizeof req);
    gpumem_fit_plan *p = malloc(sizeof *p);
    assert_int_equal(gpumem_fit(m, &s, &req, p, &err), GPUMEM_OK);
    printf("  %s\n", p->flags);
    assert_true(p->fits);
    assert_string_equal(p->flags, "-c 4096 -ngl 9 -ts 5,4");
    assert_int_equal(p->layers[0], 5);
    assert_int_equal(p->layers[1], 4);
    assert_int_equal(device_component(&p->estimate, "gpu0", "weights"), 5 * layer_bytes);
    assert_int_equal(device_component(&p->estimate, "gpu1", "weights"),
                     3 * layer_bytes + output_bytes);
    /* the same flags through a plain estimate, same margins: it fits, and
     * one more layer on either GPU does not */
    gpumem_settings t;
    llamacpp(&t);
    target(&t, 0, "rtx-3090", 3474 * MiB, 1024 * MiB);
    target(&t, 1, "rtx-4060-ti-16gb", 2724 * MiB, 1024 * MiB);
    t.n_gpu_layers = 9;
    assert_int_equal(gpumem_tensor_split_parse("5,4", &t, NULL), GPUMEM_OK);
    gpumem_estimate *e = estimate_or_fail(m, &t);
    assert_int_equal(e->fits, 1);
    assert_int_equal(e->devices[0].bytes, p->estimate.devices[0].bytes);
    assert_int_equal(e->devices[1].bytes, p->estimate.devices[1].bytes);
    free(e);
    t.n_gpu_layers = 10;
    assert_int_equal(gpumem_tensor_split_parse("6,4", &t, NULL), GPUMEM_OK);
    e = estimate_or_fail(m, &t);
    assert_int_equal(e->fits, 0);
    free(e);
    assert_int_equal(gpumem_tensor_split_parse("5,5", &t, NULL), GPUMEM_OK);
    e = estimate_or_fail(m, &t);
    assert_int_equal(e->fits, 0);
    free(e);
    /* Plenty of memory: llama.cpp changes nothing; the default split by
     * memory is 8,5 (see above), every layer at the trained context. */
    s.targets[0].budget = s.targets[1].budget = 0;
    assert_int_equal(gpumem_fit(m, &s, &req, p, &err), GPUMEM_OK);
    assert_string_equal(p->flags, "-c 4096 -ngl 13 -ts 8,5");
    /* A budget below the margin is refused by name. */
    s.targets[1].budget = 512 * MiB;
    assert_int_equal(gpumem_fit(m, &s, &req, p, &err), GPUMEM_ERR_USAGE);
    assert_non_null(strstr(err.message, "GPU 1 (rtx-4060-ti-16gb)"));
    free(p);
    gpumem_model_free(m);
}

static void test_expert_override_parse(void **state)
{
    (void)state;
    gpumem_settings s;
    gpumem_error err;
    gpumem_settings_init(&s);
    assert_int_equal(gpumem_expert_override_parse(
                         "blk\\.(3|4|70)\\.ffn_(up|down|gate_up|gate)_(ch|)exps=CPU", &s, &err),
                     GPUMEM_OK);
    assert_int_equal(s.cpu_moe_mask[0], (1ull << 3) | (1ull << 4));
    assert_int_equal(s.cpu_moe_mask[1], 1ull << 6);
    assert_int_equal(gpumem_expert_override_parse("blk\\.9\\.ffn_up_exps=CPU", &s, &err),
                     GPUMEM_OK);
    assert_true(s.cpu_moe_mask[0] >> 9 & 1);
    assert_int_equal(gpumem_expert_override_parse("blk\\.1\\.ffn_up_exps=CUDA0", &s, &err),
                     GPUMEM_ERR_UNSUPPORTED);
    assert_int_equal(gpumem_expert_override_parse("blk\\.1\\.attn_q=CPU", &s, &err),
                     GPUMEM_ERR_UNSUPPORTED);
    assert_int_equal(gpumem_expert_override_parse("blk\\.(1|x)\\.ffn_up_exps=CPU", &s, &err),
                     GPUMEM_ERR_USAGE);
    assert_int_equal(gpumem_expert_override_parse("blk\\.5000\\.ffn_up_exps=CPU", &s, &err),
                     GPUMEM_ERR_USAGE);
    assert_int_equal(gpumem_expert_override_parse("", &s, &err), GPUMEM_ERR_USAGE);
    /* the split-layer patterns of llama.cpp's --fit, to the host or a GPU */
    gpumem_settings_init(&s);
    assert_int_equal(gpumem_expert_override_parse("blk\\.3\\.ffn_down.*=CPU,"
                                                  "blk\\.12\\.ffn_(gate|gate_up|down).*=CUDA1,"
                                                  "blk\\.5\\.ffn_(gate|up|gate_up|down).*=CUDA10",
                                                  &s, &err),
                     GPUMEM_OK);
    assert_int_equal(s.n_ffn_moves, 3);
    assert_int_equal(s.ffn_moves[0].layer, 3);
    assert_int_equal(s.ffn_moves[0].part, GPUMEM_FFN_DOWN);
    assert_int_equal(s.ffn_moves[0].device, -1);
    assert_int_equal(s.ffn_moves[1].layer, 12);
    assert_int_equal(s.ffn_moves[1].part, GPUMEM_FFN_GATE_DOWN);
    assert_int_equal(s.ffn_moves[1].device, 1);
    assert_int_equal(s.ffn_moves[2].part, GPUMEM_FFN_ALL);
    assert_int_equal(s.ffn_moves[2].device, 10);
    assert_int_equal(s.cpu_moe_mask[0], 0);
    /* other buffers, other tails, too many */
    assert_int_equal(gpumem_expert_override_parse("blk\\.3\\.ffn_down.*=Metal", &s, &err),
                     GPUMEM_ERR_UNSUPPORTED);
    assert_int_equal(gpumem_expert_override_parse("blk\\.3\\.ffn_up.*=CPU", &s, &err),
                     GPUMEM_ERR_UNSUPPORTED);
    assert_int_equal(gpumem_expert_override_parse("blk\\.3\\.ffn_down.*=CUDA", &s, &err),
                     GPUMEM_ERR_UNSUPPORTED);
    assert_int_equal(gpumem_expert_override_parse("blk\\.1024\\.ffn_down.*=CPU", &s, &err),
                     GPUMEM_ERR_USAGE);
    for (int k = 3; k < GPUMEM_MAX_FFN_MOVES; k++)
        assert_int_equal(gpumem_expert_override_parse("blk\\.7\\.ffn_down.*=CPU", &s, &err),
                         GPUMEM_OK);
    assert_int_equal(gpumem_expert_override_parse("blk\\.7\\.ffn_down.*=CPU", &s, &err),
                     GPUMEM_ERR_USAGE);
}

/* Where a split layer's tensors go, by hand: qwen3moe-16x (F16, make_gguf.py:
 * n_embd 1024, 16 experts of width 512) has per layer three expert
 * tensors of 16 x 512 x 1024 x 2 B = 16 MiB (up, gate, down) and an f32
 * router ffn_gate_inp of 1024 x 16 x 4 B = 64 KiB. Moving layer 3's
 * ffn_down.* takes 16 MiB off GPU 0, ffn_(gate|gate_up|down).* 32 MiB +
 * 64 KiB, ffn_(gate|up|gate_up|down).* 48 MiB + 64 KiB; to the host or to
 * GPU 1, which gains them. A layer whose experts are on the host already
 * moves only its router. */
static void test_split_layer_placement(void **state)
{
    (void)state;
    gpumem_model *m = measured_header("qwen3moe-16x-F16");
    gpumem_settings s;
    gpumem_error err;
    llamacpp(&s);
    s.context = 4096;
    target(&s, 0, "rtx-4090", 0, 0);
    target(&s, 1, "rtx-4090", 0, 0);
    assert_int_equal(gpumem_tensor_split_parse("8,1", &s, &err), GPUMEM_OK);
    s.n_gpu_layers = 9; /* layers 0..7 on GPU 0, the output layer on GPU 1 */
    gpumem_estimate *e = estimate_or_fail(m, &s);
    uint64_t gpu0 = device_component(e, "gpu0", "weights"),
             gpu1 = device_component(e, "gpu1", "weights"),
             host = device_component(e, "host", "weights");
    free(e);
    static const struct {
        const char *ot;
        uint64_t moved;
    } cases[] = {
        {"blk\\.3\\.ffn_down.*=CPU", 16 * MiB},
        {"blk\\.3\\.ffn_(gate|gate_up|down).*=CPU", 32 * MiB + 65536},
        {"blk\\.3\\.ffn_(gate|up|gate_up|down).*=CPU", 48 * MiB + 65536},
        {"blk\\.3\\.ffn_down.*=CUDA1", 16 * MiB},
        {"blk\\.3\\.ffn_(gate|gate_up|down).*=CUDA1", 32 * MiB + 65536},
        /* experts of layer 3 on the host by the mask: the router alone moves */
        {"blk\\.3\\.ffn_(gate|up|gate_up|down).*=CUDA1,"
         "blk\\.3\\.ffn_(up|down|gate_up|gate)_(ch|)exps=CPU",
         65536},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        gpumem_settings t = s;
        assert_int_equal(gpumem_expert_override_parse(cases[k].ot, &t, &err), GPUMEM_OK);
        e = estimate_or_fail(m, &t);
        bool to_gpu = strstr(cases[k].ot, "CUDA1") != NULL;
        bool masked = strstr(cases[k].ot, "exps=CPU") != NULL;
        uint64_t experts = masked ? 48 * MiB : 0;
        assert_int_equal(device_component(e, "gpu0", "weights"), gpu0 - cases[k].moved - experts);
        assert_int_equal(device_component(e, "gpu1", "weights"),
                         gpu1 + (to_gpu ? cases[k].moved : 0));
        assert_int_equal(device_component(e, "host", "weights"),
                         host + (to_gpu ? 0 : cases[k].moved) + experts);
        free(e);
    }
    /* a GPU the run does not have */
    gpumem_settings t = s;
    assert_int_equal(gpumem_expert_override_parse("blk\\.3\\.ffn_down.*=CUDA2", &t, &err),
                     GPUMEM_OK);
    gpumem_estimate *bad = malloc(sizeof *bad);
    assert_int_equal(gpumem_estimate_inference(m, &t, bad, &err), GPUMEM_ERR_USAGE);
    free(bad);
    gpumem_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_split_follows_memory),
        cmocka_unit_test(test_verdict_per_device),
        cmocka_unit_test(test_fit_two_gpus_by_hand),
        cmocka_unit_test(test_expert_override_parse),
        cmocka_unit_test(test_split_layer_placement),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
