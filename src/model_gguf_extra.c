/* The extra GGUF files llama.cpp de3ff81 loads beside a model: a multimodal
 * projector (tools/mtmd/clip.cpp: general.architecture "clip", clip.vision.*
 * keys) and a LoRA adapter (src/llama-adapter.cpp: general.type "adapter",
 * adapter.type "lora", tensors "<base tensor>.lora_a" / ".lora_b"). Only
 * their headers are read: what buffers they take follows from the tensor
 * infos. */
#include "error_internal.h"
#include "ggml_types_internal.h"
#include "model_internal.h"
#include "read_gguf_internal.h"
#include "util_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The bytes a buffer gives one tensor: ggml_backend_alloc_ctx_tensors_from_buft
 * pads each to the buffer type's alignment (CPU: TENSOR_ALIGNMENT 32; CUDA:
 * 128), and CUDA pads a quantised tensor's last row to a multiple of
 * MATRIX_ROW_PADDING (512) elements (ggml-cuda.cu get_alloc_size). */
static bool padded_bytes(const gguf_tensor *t, uint64_t out[2])
{
    uint64_t cuda = t->bytes;
    const ggml_type_traits *tt = ggml_type_get(t->type);
    if (tt && tt->block_size > 1 && t->ne[0] % 512) {
        uint64_t extra = 0;
        ggml_tensor_bytes(t->type, 512 - t->ne[0] % 512, 512 - t->ne[0] % 512, &extra);
        cuda += extra;
    }
    out[0] = (t->bytes + 31) / 32 * 32;
    out[1] = (cuda + 127) / 128 * 128;
    return out[0] >= t->bytes && out[1] >= cuda;
}

static bool add2(uint64_t acc[2], const uint64_t v[2])
{
    return u64_add(acc[0], v[0], &acc[0]) && u64_add(acc[1], v[1], &acc[1]);
}

static gpumem_model *extra_alloc(const char *path, uint32_t n_layer, const char *arch)
{
    gpumem_model *m = model_alloc(n_layer);
    if (!m)
        return NULL;
    const char *base = strrchr(path, '/');
    snprintf(m->name, sizeof m->name, "%s", base ? base + 1 : path);
    snprintf(m->architecture, sizeof m->architecture, "%s", arch);
    m->source = GPUMEM_SOURCE_GGUF;
    m->has_storage = true;
    return m;
}

static uint32_t clip_key(const gguf_file *f, const char *suffix)
{
    char key[96];
    uint64_t v = 0;
    snprintf(key, sizeof key, "clip.vision.%s", suffix);
    return gguf_get_uint(f, key, &v) && v <= UINT32_MAX ? (uint32_t)v : 0;
}

static gpumem_status load_clip(const gguf_file *f, const char *path, gpumem_model **out,
                               gpumem_error *err)
{
    gpumem_model *m = extra_alloc(path, 0, "clip");
    if (!m)
        return err_set(err, GPUMEM_ERR_NOMEM, "out of memory");
    m->kind = GPUMEM_KIND_MMPROJ;
    model_clip *c = &m->clip;
    const char *proj = gguf_get_str(f, "clip.projector_type");
    snprintf(c->projector, sizeof c->projector, "%s", proj ? proj : "mlp");
    c->image_size = clip_key(f, "image_size");
    c->patch_size = clip_key(f, "patch_size");
    c->n_embd = clip_key(f, "embedding_length");
    c->n_ff = clip_key(f, "feed_forward_length");
    c->n_head = clip_key(f, "attention.head_count");
    c->n_layer = clip_key(f, "block_count");
    c->proj_dim = clip_key(f, "projection_dim");
    m->n_embd = c->n_embd;
    m->n_layer = 0;
    if (!c->n_embd || !c->patch_size || !c->n_head || !c->n_layer || c->image_size > 8192) {
        gpumem_model_free(m);
        return err_set_at(err, GPUMEM_ERR_INVALID, path, -1, 0, 0,
                          "multimodal projector without a vision tower: clip.vision."
                          "embedding_length, patch_size, attention.head_count and block_count "
                          "must be set (image_size at most 8192)");
    }
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        uint64_t b[2];
        if (!padded_bytes(&f->tensors[i], b) || !add2(c->bytes, b) ||
            !u64_add(m->params_other, f->tensors[i].n_elems, &m->params_other)) {
            gpumem_model_free(m);
            return err_set(err, GPUMEM_ERR_OVERFLOW, "tensor sizes overflow");
        }
    }
    c->n_tensors = f->n_tensors;
    m->params_total = m->params_active = m->params_other;
    m->bytes_total = f->data_bytes;
    snprintf(m->storage_desc, sizeof m->storage_desc, "projector %s, %llu tensors", c->projector,
             (unsigned long long)c->n_tensors);
    *out = m;
    return GPUMEM_OK;
}

/* Where a LoRA tensor's bytes go: the layer it adapts, the output layer,
 * the token embeddings, or the rest. */
static gpumem_status lora_place(gpumem_model *m, const gguf_tensor *t, const char *path,
                                gpumem_error *err)
{
    uint64_t b[2], *acc;
    unsigned il;
    int used = 0;
    if (sscanf(t->name, "blk.%u.%n", &il, &used) == 1 && used > 0)
        acc = m->layers[il].bytes_lora; /* il < n_layer: the caller sized layers */
    else if (!strncmp(t->name, "output.", 7))
        acc = m->lora_output;
    else if (!strncmp(t->name, "token_embd.", 11))
        acc = m->lora_embed;
    else
        acc = m->lora_other;
    if (!padded_bytes(t, b) || !add2(acc, b) ||
        !u64_add(m->params_other, t->n_elems, &m->params_other))
        return err_set_at(err, GPUMEM_ERR_OVERFLOW, path, -1, 0, 0, "tensor sizes overflow");
    return GPUMEM_OK;
}

static gpumem_status load_lora(const gguf_file *f, const char *path, const char *arch,
                               gpumem_model **out, gpumem_error *err)
{
    const char *type = gguf_get_str(f, "adapter.type");
    if (!type || strcmp(type, "lora") != 0)
        return err_set_at(err, GPUMEM_ERR_UNSUPPORTED, path, -1, 0, 0,
                          "adapter.type is '%s': llama.cpp loads only 'lora' adapters",
                          type ? type : "");
    uint32_t n_layer = 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const char *name = f->tensors[i].name;
        size_t len = strlen(name);
        unsigned il;
        if (len < 7 || (strcmp(name + len - 7, ".lora_a") && strcmp(name + len - 7, ".lora_b")))
            return err_set_at(err, GPUMEM_ERR_INVALID, path, -1, 0, 0,
                              "tensor '%s' of a LoRA adapter does not end in .lora_a or .lora_b",
                              name);
        if (sscanf(name, "blk.%u.", &il) == 1) {
            if (il >= 100000)
                return err_set_at(err, GPUMEM_ERR_INVALID, path, -1, 0, 0,
                                  "tensor '%s' names layer %u", name, il);
            n_layer = il + 1 > n_layer ? il + 1 : n_layer;
        }
    }
    gpumem_model *m = extra_alloc(path, n_layer, arch);
    if (!m)
        return err_set(err, GPUMEM_ERR_NOMEM, "out of memory");
    m->kind = GPUMEM_KIND_LORA;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        gpumem_status st = lora_place(m, &f->tensors[i], path, err);
        if (st != GPUMEM_OK) {
            gpumem_model_free(m);
            return st;
        }
    }
    m->params_total = m->params_active = m->params_other;
    m->bytes_total = f->data_bytes;
    snprintf(m->storage_desc, sizeof m->storage_desc, "LoRA adapter, %llu tensors",
             (unsigned long long)f->n_tensors);
    *out = m;
    return GPUMEM_OK;
}

bool model_gguf_is_extra(const gguf_file *f)
{
    const char *arch = gguf_get_str(f, "general.architecture");
    const char *type = gguf_get_str(f, "general.type");
    return (arch && !strcmp(arch, "clip")) || (type && !strcmp(type, "adapter"));
}

gpumem_status model_from_gguf_extra(const gguf_file *f, const char *path, gpumem_model **out,
                                    gpumem_error *err)
{
    *out = NULL;
    const char *arch = gguf_get_str(f, "general.architecture");
    if (arch && !strcmp(arch, "clip"))
        return load_clip(f, path, out, err);
    return load_lora(f, path, arch ? arch : "", out, err);
}

gpumem_model_kind gpumem_model_kind_of(const gpumem_model *m) { return m->kind; }
