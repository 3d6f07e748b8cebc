/* Vision towers and projectors of multimodal configs: the parameters
 * transformers 5.24 builds beside the text tower in the
 * ForConditionalGeneration class (AutoModelForImageTextToText), every
 * nn.Parameter once, buffers never. The text tower is read by arch.c; this
 * file adds what the image side holds. Class defaults are those of
 * configuration_<tower>.py (5.24) for keys a vision_config leaves out. */
#include "read_config_internal.h"
#include "arch_more_internal.h"

#include "error_internal.h"
#include "util_internal.h"

#include <math.h>
#include <string.h>

enum { MAX_LAYERS = 4096, MAX_PIXELS = 1 << 16 };

#define BAD(...) err_set_at(c->err, GPUMEM_ERR_INVALID, c->file, -1, 0, 0, __VA_ARGS__)

/* The text side a projector maps into. */
typedef struct {
    uint64_t hidden;
} text_side;

/* ------------------------------------------------------------- towers */

/* A linear layer [in -> out] with an optional bias. */
static void linear(acc64 *s, uint64_t in, uint64_t out, bool bias)
{
    acc64_add(s, in, out);
    if (bias)
        acc64_add(s, out, 1);
}

/* The encoder layer CLIP, SigLIP and Llama 4's vision model share:
 * q/k/v/o with bias, fc1/fc2 with bias, two LayerNorms. */
static void vit_layer(acc64 *s, uint64_t h, uint64_t f)
{
    for (int i = 0; i < 4; i++)
        linear(s, h, h, true);
    linear(s, h, f, true);
    linear(s, f, h, true);
    acc64_add(s, 4, h);
}

typedef struct {
    uint32_t hidden, ff, layers, heads, channels, image, patch;
} vit_dims;

/* The last CLIP / SigLIP tower read, for its activation peak. */
typedef struct {
    vit_dims v;
    uint32_t tokens;
    bool quick_gelu;
} vit_read;

static gpumem_status read_vit(cfg_ctx *c, vit_dims d, vit_dims *out)
{
    TRY(cfg_u32(c, "hidden_size", d.hidden, MAX_DIM, &out->hidden));
    TRY(cfg_u32(c, "intermediate_size", d.ff, 1u << 24, &out->ff));
    TRY(cfg_u32(c, "num_hidden_layers", d.layers, MAX_LAYERS, &out->layers));
    TRY(cfg_u32(c, "num_attention_heads", d.heads, 1u << 16, &out->heads));
    TRY(cfg_u32(c, "num_channels", d.channels, 64, &out->channels));
    TRY(cfg_u32(c, "image_size", d.image, MAX_PIXELS, &out->image));
    TRY(cfg_u32(c, "patch_size", d.patch, MAX_PIXELS, &out->patch));
    if (!out->hidden || !out->layers || !out->heads || !out->patch || !out->image ||
        out->image < out->patch)
        return BAD("vision_config: hidden_size, num_hidden_layers, num_attention_heads, "
                   "patch_size must be non-zero and image_size at least patch_size");
    return GPUMEM_OK;
}

static uint64_t patches(const vit_dims *v)
{
    uint64_t side = v->image / v->patch;
    return side * side;
}

/* CLIPVisionModel (modeling_clip.py): class embedding, patch conv without
 * bias, num_patches + 1 positions, pre_layrnorm, layers, post_layernorm. */
/* hidden_act: quick_gelu runs sigmoid and mul (two [T, ff] outputs live at
 * once), the gelu variants one op. */
static gpumem_status read_act(cfg_ctx *c, const char *def, bool *quick)
{
    const char *act;
    TRY(cfg_str(c, "hidden_act", &act));
    *quick = strcmp(act ? act : def, "quick_gelu") == 0;
    return GPUMEM_OK;
}

static gpumem_status clip_tower(cfg_ctx *c, acc64 *s, uint64_t *hidden, uint64_t *buffers,
                                vit_read *vr)
{
    vit_dims v;
    TRY(read_vit(c, (vit_dims){768, 3072, 12, 12, 3, 224, 32}, &v));
    TRY(read_act(c, "quick_gelu", &vr->quick_gelu));
    vr->v = v;
    vr->tokens = (uint32_t)patches(&v) + 1;
    uint64_t h = v.hidden;
    *buffers = 8 * (patches(&v) + 1); /* position_ids, int64 */
    acc64_add(s, h, 1 + (uint64_t)v.channels * v.patch * v.patch + patches(&v) + 1);
    acc64_add(s, 2, h);
    for (uint32_t i = 0; i < v.layers; i++)
        vit_layer(s, h, v.ff);
    acc64_add(s, 2, h);
    *hidden = h;
    return GPUMEM_OK;
}

/* SiglipVisionModel (modeling_siglip.py): patch conv with bias,
 * num_patches positions, layers, post_layernorm, and with vision_use_head
 * (default true) the attention-pooling head. */
static gpumem_status siglip_tower(cfg_ctx *c, acc64 *s, uint64_t *hidden, uint64_t *buffers,
                                  vit_read *vr)
{
    vit_dims v;
    bool head;
    TRY(read_vit(c, (vit_dims){768, 3072, 12, 12, 3, 224, 16}, &v));
    TRY(read_act(c, "gelu_pytorch_tanh", &vr->quick_gelu));
    vr->v = v;
    vr->tokens = (uint32_t)patches(&v);
    TRY(cfg_bool(c, "vision_use_head", true, &head));
    uint64_t h = v.hidden;
    *buffers = 8 * patches(&v); /* position_ids, int64 */
    linear(s, (uint64_t)v.channels * v.patch * v.patch, h, true);
    acc64_add(s, patches(&v), h);
    for (uint32_t i = 0; i < v.layers; i++)
        vit_layer(s, h, v.ff);
    acc64_add(s, 2, h);
    if (head) { /* probe, MultiheadAttention in/out, layernorm, MLP */
        acc64_add(s, h, 1);
        linear(s, h, 3 * h, true);
        linear(s, h, h, true);
        acc64_add(s, 2, h);
        linear(s, h, v.ff, true);
        linear(s, v.ff, h, true);
    }
    *hidden = h;
    return GPUMEM_OK;
}

/* PixtralVisionModel (modeling_pixtral.py): patch conv without bias,
 * RMSNorm ln_pre, layers of q/k/v/o without bias (hidden x hidden), a
 * gated MLP and two RMSNorms; 2-D RoPE holds buffers only. */
static gpumem_status pixtral_tower(cfg_ctx *c, acc64 *s, vit_dims *out)
{
    vit_dims v;
    TRY(read_vit(c, (vit_dims){1024, 4096, 24, 16, 3, 1024, 16}, &v));
    uint64_t h = v.hidden;
    acc64_add(s, h, (uint64_t)v.channels * v.patch * v.patch + 1);
    for (uint32_t i = 0; i < v.layers; i++) {
        acc64_add(s, 4 * h, h);
        acc64_add(s, 3 * h, v.ff);
        acc64_add(s, 2, h);
    }
    *out = v;
    return GPUMEM_OK;
}

/* Llama4VisionModel (modeling_llama4.py): unfolded patch linear without
 * bias, class embedding, num_patches + 1 positions, LayerNorms before and
 * after, CLIP-like layers, and the pixel-shuffle adapter MLP
 * (intermediate_size -> projector_input_dim -> projector_output_dim, no
 * bias). Returns vision_output_dim, what the projector reads. */
static gpumem_status llama4_tower(cfg_ctx *c, acc64 *s, uint64_t *out_dim, vit_dims *dims)
{
    vit_dims v;
    uint32_t pin, pout, vout;
    TRY(read_vit(c, (vit_dims){768, 5632, 34, 16, 3, 448, 14}, &v));
    TRY(cfg_u32(c, "projector_input_dim", 4096, MAX_DIM, &pin));
    TRY(cfg_u32(c, "projector_output_dim", 4096, MAX_DIM, &pout));
    TRY(cfg_u32(c, "vision_output_dim", 7680, MAX_DIM, &vout));
    uint64_t h = v.hidden;
    acc64_add(s, (uint64_t)v.channels * v.patch * v.patch, h);
    acc64_add(s, h, 1 + patches(&v) + 1);
    acc64_add(s, 4, h);
    for (uint32_t i = 0; i < v.layers; i++)
        vit_layer(s, h, v.ff);
    acc64_add(s, v.ff, pin);
    acc64_add(s, pout, pout);
    *out_dim = vout;
    *dims = v;
    return GPUMEM_OK;
}

typedef struct {
    uint32_t hidden, ff, depth, channels, patch, merge, temporal, out;
} qwen_vit;

static gpumem_status read_qwen_vit(cfg_ctx *c, bool v2_5, qwen_vit *q)
{
    TRY(cfg_u32(c, "depth", 32, MAX_LAYERS, &q->depth));
    TRY(cfg_u32(c, "in_channels", 3, 64, &q->channels));
    TRY(cfg_u32(c, "patch_size", 14, MAX_PIXELS, &q->patch));
    TRY(cfg_u32(c, "spatial_merge_size", 2, 64, &q->merge));
    TRY(cfg_u32(c, "temporal_patch_size", 2, 64, &q->temporal));
    if (v2_5) {
        TRY(cfg_u32(c, "hidden_size", 3584, MAX_DIM, &q->hidden));
        TRY(cfg_u32(c, "intermediate_size", 3420, 1u << 24, &q->ff));
        TRY(cfg_u32(c, "out_hidden_size", 3584, MAX_DIM, &q->out));
    } else {
        uint32_t ratio;
        TRY(cfg_u32(c, "embed_dim", 1280, MAX_DIM, &q->hidden));
        TRY(cfg_u32(c, "hidden_size", 3584, MAX_DIM, &q->out));
        /* mlp_ratio may be fractional in principle; int(embed_dim * ratio). */
        TRY(cfg_u32(c, "mlp_ratio", 4, 64, &ratio));
        q->ff = q->hidden * ratio;
    }
    if (!q->hidden || !q->depth || !q->patch || !q->merge || !q->out)
        return BAD("vision_config: the vision tower's sizes must be non-zero");
    return GPUMEM_OK;
}

/* Qwen2-VL / Qwen2.5-VL vision transformer (modeling_qwen2_vl.py,
 * modeling_qwen2_5_vl.py): a 3-D patch conv without bias, blocks of fused
 * qkv and proj with bias and an MLP with bias (Qwen2-VL: fc1/fc2 of
 * embed_dim x mlp_ratio, LayerNorms; Qwen2.5-VL: gated of
 * intermediate_size, RMSNorms), and the patch merger (norm, then
 * hidden x merge^2 -> same -> out, with bias). */
static gpumem_status qwen_tower(cfg_ctx *c, acc64 *s, bool v2_5, uint64_t *buffers,
                                qwen_vit *out)
{
    qwen_vit q;
    uint32_t heads;
    TRY(read_qwen_vit(c, v2_5, &q));
    TRY(cfg_u32(c, "num_heads", 16, 1u << 16, &heads));
    if (!heads)
        return BAD("vision_config: num_heads must be non-zero");
    /* VisionRotaryEmbedding(head_dim / 2): inv_freq and original_inv_freq,
     * head_dim / 4 fp32 each. */
    *buffers = 2 * 4 * (q.hidden / heads / 4);
    uint64_t h = q.hidden, norm = v2_5 ? 1 : 2;
    acc64_add(s, h, (uint64_t)q.channels * q.temporal * q.patch * q.patch);
    for (uint32_t i = 0; i < q.depth; i++) {
        acc64_add(s, 2 * norm, h);
        linear(s, h, 3 * h, true);
        linear(s, h, h, true);
        if (v2_5) {
            linear(s, h, q.ff, true);
            linear(s, h, q.ff, true);
            linear(s, q.ff, h, true);
        } else {
            linear(s, h, q.ff, true);
            linear(s, q.ff, h, true);
        }
    }
    uint64_t merged = h * q.merge * q.merge;
    acc64_add(s, norm, h);
    linear(s, merged, merged, true);
    linear(s, merged, q.out, true);
    *out = q;
    return GPUMEM_OK;
}

/* ---------------------------------------------------------- projectors */

/* vision_feature_layer: an int, or a list whose length multiplies the
 * projector's input (Llava, Mistral3). */
static gpumem_status feature_layers(cfg_ctx *c, uint64_t *n)
{
    json_t *v = json_object_get(c->top, "vision_feature_layer");
    *n = 1;
    if (!v || json_is_null(v) || json_is_integer(v))
        return GPUMEM_OK;
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 1024)
        return BAD("\"vision_feature_layer\" must be an integer or a list of layer indices");
    *n = json_array_size(v);
    return GPUMEM_OK;
}

/* LlavaMultiModalProjector (modeling_llava.py): linear_1 from the vision
 * features to the text width, linear_2 text to text, both with
 * multimodal_projector_bias (default true). */
static gpumem_status llava_projector(cfg_ctx *c, acc64 *s, uint64_t vh, const text_side *t)
{
    uint64_t n;
    bool bias;
    json_t *root = c->root;
    c->root = c->top;
    gpumem_status st = cfg_bool(c, "multimodal_projector_bias", true, &bias);
    c->root = root;
    TRY(st);
    TRY(feature_layers(c, &n));
    linear(s, vh * n, t->hidden, bias);
    linear(s, t->hidden, t->hidden, bias);
    return GPUMEM_OK;
}

/* --------------------------------------------------------------- table */

typedef enum { TOWER_CLIP_OR_SIGLIP, TOWER_SIGLIP, TOWER_PIXTRAL, TOWER_LLAMA4,
               TOWER_QWEN2_VL, TOWER_QWEN2_5_VL, TOWER_QWEN3_VL, TOWER_QWEN3_5 } tower_kind;

/* Which tie_word_embeddings ties lm_head to the embedding in the built
 * model; measured on transformers 5.24 with every combination of the key
 * at the top level and in text_config (absent, true, false). */
typedef enum {
    TIE_TOP,    /* the top-level key alone (its class default when absent) */
    TIE_EITHER, /* either key true */
    TIE_TEXT,   /* text_config's key alone (default false) */
} tie_rule;

typedef struct {
    const char *model_type;     /* the top-level model_type */
    const char *flat_text_type; /* text keys at the top level: their model_type; NULL: text_config */
    tower_kind tower;
    bool vision_defaults;       /* an absent vision_config means the class defaults */
    tie_rule tie;
    bool tie_default;           /* TIE_TOP: the top-level class default */
} vision_row;

static const vision_row vision_rows[] = {
    {"llava", NULL, TOWER_CLIP_OR_SIGLIP, false, TIE_EITHER, false},
    {"llava_next", NULL, TOWER_CLIP_OR_SIGLIP, false, TIE_TOP, false},
    {"gemma3", NULL, TOWER_SIGLIP, false, TIE_TOP, true},
    {"mistral3", NULL, TOWER_PIXTRAL, false, TIE_TOP, true},
    {"llama4", NULL, TOWER_LLAMA4, true, TIE_TEXT, false},
    {"qwen2_vl", "qwen2_vl_text", TOWER_QWEN2_VL, false, TIE_EITHER, false},
    {"qwen2_5_vl", "qwen2_5_vl_text", TOWER_QWEN2_5_VL, false, TIE_EITHER, false},
    /* arch_vision_qwen3.c; tie measured: the top-level key alone */
    {"qwen3_vl", NULL, TOWER_QWEN3_VL, true, TIE_TOP, false},
    {"qwen3_vl_moe", NULL, TOWER_QWEN3_VL, true, TIE_TOP, false},
    {"qwen3_5", NULL, TOWER_QWEN3_5, true, TIE_TOP, false},
    {"qwen3_5_moe", NULL, TOWER_QWEN3_5, true, TIE_TOP, false},
};

static gpumem_status key_bool(cfg_ctx *c, json_t *obj, bool def, bool *out)
{
    json_t *root = c->root;
    c->root = obj;
    gpumem_status st = cfg_bool(c, "tie_word_embeddings", def, out);
    c->root = root;
    return st;
}

/* Sets s->tie (and m->tied) by the family's rule; the text reader read
 * text_config's key, else the top level's, else the text class default. */
static gpumem_status vision_tie(cfg_ctx *c, const vision_row *row, gpumem_model *m,
                                arch_spec *s)
{
    bool top, text;
    bool text_alone = s->tie; /* text_config's key, else the top's, else its class default */
    TRY(key_bool(c, c->top, row->tie == TIE_TOP && row->tie_default, &top));
    TRY(key_bool(c, c->root, false, &text));
    if (row->tie == TIE_TOP)
        s->tie = top;
    else if (row->tie == TIE_EITHER)
        s->tie = top || text;
    else
        s->tie = c->root != c->top && text;
    m->tied = s->tie;
    m->text_untied = s->tie && !text_alone;
    return GPUMEM_OK;
}

static const vision_row *vision_find(const char *model_type)
{
    for (size_t i = 0; model_type && i < sizeof vision_rows / sizeof vision_rows[0]; i++)
        if (strcmp(vision_rows[i].model_type, model_type) == 0)
            return &vision_rows[i];
    return NULL;
}

const char *vision_flat_text_type(const char *model_type)
{
    const vision_row *r = vision_find(model_type);
    return r ? r->flat_text_type : NULL;
}

bool vision_known(const char *model_type)
{
    return vision_find(model_type) != NULL;
}

/* The tower for a Llava-family vision_config, by its model_type. */
static gpumem_status llava_tower(cfg_ctx *c, acc64 *s, uint64_t *vh, uint64_t *buffers,
                                 vit_read *vr, bool *clip)
{
    const char *type;
    TRY(cfg_str(c, "model_type", &type));
    *clip = type && strcmp(type, "clip_vision_model") == 0;
    if (*clip)
        return clip_tower(c, s, vh, buffers, vr);
    if (type && strcmp(type, "siglip_vision_model") == 0)
        return siglip_tower(c, s, vh, buffers, vr);
    return err_set_at(c->err, GPUMEM_ERR_UNSUPPORTED, c->file, -1, 0, 0,
                      "vision_config model_type '%s' is not modelled (clip_vision_model, "
                      "siglip_vision_model)",
                      type ? type : "(absent)");
}

/* What device_map needs besides the count (model_internal.h). */
typedef struct {
    uint64_t tower_end; /* s->sum after the tower: the projector follows */
    uint64_t buffers;
    bool tree; /* model.{tower, projector, language_model}, nothing else */
    vit_read vit;
    uint32_t text_tokens; /* image tokens per image; 0: activations not modelled */
    uint32_t feature_copies, held_states; /* model_vision_act */
} vision_tree;

/* What vLLM's profiling run encodes per image of the largest size, as the
 * processors count its tokens (get_num_image_tokens, 0.33.0): llava.py,
 * vision_feature_select_strategy "default" dropping one token (CLIP's
 * class token; vision.py get_num_selected_vision_tokens drops one from
 * SigLIP too); gemma3_mm.py without pan-and-scan, mm_tokens_per_image;
 * pixtral.py PixtralHFEncoderInfo, (image / (patch x spatial_merge))^2. */
static void image_path(gpumem_model *m, const vit_dims *v, uint64_t patches_in, uint64_t tokens,
                       bool gated)
{
    m->vision_hidden = v->hidden;
    m->vision_ff = v->ff;
    m->vision_gated = gated;
    m->vision_patches = patches_in;
    m->vision_tokens = tokens;
    m->vision_pixels = (uint64_t)v->channels * v->image * v->image;
    m->vision_resident = 2; /* residual and normed input */
    m->vision_attn = 4;     /* q, k, v and the attention output */
}

/* LlavaNextConfig's image_grid_pinpoints default (transformers 5.24, 4.57),
 * [height, width] pairs. */
static const uint32_t default_pinpoints[][2] = {
    {336, 672}, {672, 336}, {672, 672}, {1008, 336}, {336, 1008}};
enum { MAX_PINPOINTS = 1024 };

/* LlavaNextProcessingInfo.get_num_image_tokens (llava_next.py, 0.11.0 and
 * 0.33.0, after TGI's vlm_causal_lm.py) for an image of a pinpoint's size,
 * which anyres tiles into exactly (h / image) x (w / image) tiles
 * (select_best_resolution picks the pinpoint itself: no waste). The
 * unpadded grid; Python's int(round(x, 7)) as floor(x * 1e7 + 0.5) / 1e7. */
static uint64_t anyres_tokens(uint64_t h, uint64_t w, uint64_t image, uint64_t side,
                              uint64_t base)
{
    uint64_t gh = h / image, gw = w / image;
    uint64_t ch = side * gh, cw = side * gw;
    double aspect = (double)w / (double)h, current = (double)cw / (double)ch;
    if (aspect > current) {
        double x = (double)h * ((double)cw / (double)w);
        uint64_t nh = (uint64_t)(floor(x * 1e7 + 0.5) / 1e7);
        ch -= 2 * ((ch - (nh < ch ? nh : ch)) / 2);
    } else {
        double x = (double)w * ((double)ch / (double)h);
        uint64_t nw = (uint64_t)(floor(x * 1e7 + 0.5) / 1e7);
        cw -= 2 * ((cw - (nw < cw ? nw : cw)) / 2);
    }
    return ch * cw + ch + base;
}

/* LLaVA-NeXT's largest image for vLLM's profiling run
 * (get_image_size_with_most_features, 0.11.0 and 0.33.0): the first
 * pinpoint with the most tokens; the tower encodes its 1 + gh x gw tiles
 * (the base image and the anyres grid) of `per_tile` patches. */
static gpumem_status llava_next_path(cfg_ctx *c, gpumem_model *m, const vit_dims *v,
                                     uint64_t per_tile, uint64_t base)
{
    json_t *pp = json_object_get(c->top, "image_grid_pinpoints");
    size_t n = sizeof default_pinpoints / sizeof default_pinpoints[0];
    if (pp && !json_is_null(pp)) {
        n = json_is_array(pp) ? json_array_size(pp) : 0;
        if (n == 0 || n > MAX_PINPOINTS)
            return BAD("\"image_grid_pinpoints\" must be a list of 1 to %d [height, width] pairs",
                       MAX_PINPOINTS);
    }
    uint64_t best = 0, tiles = 0, side = v->image / v->patch;
    for (size_t i = 0; i < n; i++) {
        uint64_t hw[2];
        for (size_t k = 0; k < 2; k++) {
            json_t *e = pp && !json_is_null(pp) ? json_array_get(json_array_get(pp, i), k) : NULL;
            hw[k] = pp && !json_is_null(pp) ? (uint64_t)json_integer_value(e)
                                            : default_pinpoints[i][k];
            if ((pp && !json_is_null(pp) && !json_is_integer(e)) || hw[k] < v->image ||
                hw[k] > MAX_PIXELS)
                return BAD("\"image_grid_pinpoints\": each entry must be two integers from "
                           "image_size (%u) to %u",
                           v->image, MAX_PIXELS);
        }
        uint64_t t = anyres_tokens(hw[0], hw[1], v->image, side, base);
        if (t > best) {
            best = t;
            tiles = 1 + (hw[0] / v->image) * (hw[1] / v->image);
        }
    }
    image_path(m, v, tiles * per_tile, best, false);
    m->vision_pixels *= tiles;
    return GPUMEM_OK;
}

/* Llama 4's largest image for vLLM's profiling run (mllama4.py,
 * Mllama4ProcessingInfo, 0.11.0 and 0.33.0): max_patches x image_size tall
 * and image_size wide, max_patches the image processor's class default, 16
 * (Llama4ImageProcessor; gpumem reads config.json only), so get_best_fit
 * gives a 16 x 1 grid: 16 tiles + the global one, each
 * (image / patch)^2 / round(1 / pixel_shuffle_ratio^2) tokens
 * (get_patch_per_chunk), (image / patch)^2 + 1 patches with the class
 * token. Llama4Processor._prompt_split_image adds <|image_start|>,
 * <|image|>, <|image_end|> and a <|tile_y_separator|> per grid row. The
 * tower rotates q and k as complex64 (Llama4VisionRotaryEmbedding): fp32
 * copies and results, 8 widths more in attention. */
enum { LLAMA4_MAX_TILES = 16 };

static gpumem_status llama4_path(cfg_ctx *c, gpumem_model *m, const vit_dims *v)
{
    json_t *r = json_object_get(c->root, "pixel_shuffle_ratio");
    double ratio = r && !json_is_null(r) ? json_number_value(r) : 0.5;
    if ((r && !json_is_null(r) && !json_is_number(r)) || !(ratio > 0.0 && ratio <= 1.0))
        return BAD("vision_config: \"pixel_shuffle_ratio\" must be a number in (0, 1]");
    uint64_t ds = (uint64_t)floor(1.0 / (ratio * ratio) + 0.5); /* Python round, ties aside */
    uint64_t grid = LLAMA4_MAX_TILES, tiles = grid > 1 ? grid + 1 : 1;
    uint64_t per_chunk = patches(v) / ds;
    if (per_chunk == 0)
        return BAD("vision_config: pixel_shuffle_ratio leaves no tokens per tile");
    image_path(m, v, tiles * (patches(v) + 1), tiles * per_chunk, false);
    m->vision_pixels *= tiles;
    m->vision_token_extra = 3 + (grid > 1 ? (uint32_t)grid : 0);
    m->vision_attn = 4 + 8;
    return GPUMEM_OK;
}

/* The official Qwen2-VL / Qwen2.5-VL checkpoints' preprocessor_config.json
 * (Qwen/Qwen2-VL-7B-Instruct, Qwen/Qwen2.5-VL-7B-Instruct and their 2B/3B/
 * 32B/72B siblings): min_pixels 56 x 56, max_pixels 12845056 (16384
 * merged tokens). Qwen2VLImageProcessor's class default (transformers
 * 5.24, 4.57) is 28 x 28 x 1280 = 1003520; gpumem reads config.json only,
 * so it assumes the checkpoints' larger bound (an over-estimate for a repo
 * that ships the class default); --mm-processor-kwargs '{"max_pixels": N}'
 * sets it as vLLM's option does. */
enum { QWEN_MIN_PIXELS = 56 * 56, QWEN_MAX_PIXELS = 12845056 };

/* Qwen2-VL / Qwen2.5-VL's image path for vLLM's profiling run
 * (qwen2_vl.py / qwen2_5_vl.py, 0.10.1 to 0.33.0): the tokens per item
 * depend on the pixel bounds and, for videos, on max_model_len, so the
 * engine counts them (engine_vllm_mm.c). Per patch the blocks hold the
 * residual stream, the attention output, the fused norm's residual and
 * normed output (resident 4) and, in attention, q/k/v, the contiguous q/k
 * copy RoPE reads and its rotated q/k (attn 8, an upper bound: some die
 * earlier). */
static void qwen_image_path(gpumem_model *m, const qwen_vit *q, bool v2_5)
{
    m->vision_hidden = q->hidden;
    m->vision_ff = q->ff;
    m->vision_gated = v2_5;
    m->vision_resident = 4;
    m->vision_attn = 8;
    m->vision_dynamic = true;
    m->vision_patch = q->patch;
    m->vision_merge = q->merge;
    m->vision_temporal = q->temporal;
    m->vision_pixels = (uint64_t)q->channels * q->temporal * q->patch * q->patch;
    m->vision_min_pixels = QWEN_MIN_PIXELS;
    m->vision_max_pixels = QWEN_MAX_PIXELS;
}

static gpumem_status tower_and_projector(cfg_ctx *c, const vision_row *row, const char *outer,
                                         const text_side *t, acc64 *s, vision_tree *vt,
                                         gpumem_model *m)
{
    uint64_t vh = 0;
    switch (row->tower) {
    case TOWER_CLIP_OR_SIGLIP: {
        bool clip;
        const char *strategy = NULL;
        TRY(llava_tower(c, s, &vh, &vt->buffers, &vt->vit, &clip));
        vt->tower_end = s->sum;
        json_t *root = c->root;
        c->root = c->top;
        gpumem_status st = cfg_str(c, "vision_feature_select_strategy", &strategy);
        c->root = root;
        TRY(st);
        bool full = strategy && strcmp(strategy, "full") == 0;
        uint64_t n = patches(&vt->vit.v) + clip;
        if (strcmp(outer, "llava") == 0)
            image_path(m, &vt->vit.v, n, n - !full, false);
        else
            TRY(llava_next_path(c, m, &vt->vit.v, n, n - !full));
        /* vision_feature_select_strategy "default" drops CLIP's CLS token
         * (modeling_llava.py get_image_features, 5.24) */
        if (clip && strcmp(outer, "llava") == 0) {
            vt->text_tokens = vt->vit.tokens - 1;
            /* the projector's output and its concatenation; the tower's
             * last two hidden states (output_hidden_states for
             * vision_feature_layer) */
            vt->feature_copies = 2;
            vt->held_states = 2;
        }
        TRY(llava_projector(c, s, vh, t));
        /* LlavaNextModel holds image_newline itself: not a plain tree */
        vt->tree = strcmp(outer, "llava") == 0;
        if (strcmp(outer, "llava_next") == 0)
            acc64_add(s, t->hidden, 1); /* image_newline */
        return GPUMEM_OK;
    }
    case TOWER_SIGLIP: {
        /* Gemma3MultiModalProjector: mm_input_projection_weight and an
         * RMSNorm over the vision width; it pools the patches to
         * mm_tokens_per_image tokens (default 256). */
        TRY(siglip_tower(c, s, &vh, &vt->buffers, &vt->vit));
        vt->tower_end = s->sum;
        vt->tree = true;
        acc64_add(s, vh, t->hidden + 1);
        json_t *root = c->root;
        c->root = c->top;
        gpumem_status st = cfg_u32(c, "mm_tokens_per_image", 256, 1u << 20, &vt->text_tokens);
        c->root = root;
        TRY(st);
        vt->feature_copies = 1; /* the projector's output */
        vt->held_states = 1;    /* the tower's last_hidden_state */
        image_path(m, &vt->vit.v, patches(&vt->vit.v), vt->text_tokens, false);
        return GPUMEM_OK;
    }
    case TOWER_PIXTRAL: {
        /* Mistral3MultiModalProjector: RMSNorm, patch merger
         * (vision x merge^2 -> vision, no bias), then Llava's two linears
         * with multimodal_projector_bias (default false). */
        uint32_t merge;
        bool bias;
        uint64_t n;
        vit_dims v;
        TRY(pixtral_tower(c, s, &v));
        vh = v.hidden;
        json_t *root = c->root;
        c->root = c->top;
        gpumem_status st = cfg_u32(c, "spatial_merge_size", 2, 64, &merge);
        if (st == GPUMEM_OK)
            st = cfg_bool(c, "multimodal_projector_bias", false, &bias);
        c->root = root;
        TRY(st);
        if (merge == 0)
            return BAD("\"spatial_merge_size\" must be at least 1");
        TRY(feature_layers(c, &n));
        acc64_add(s, vh, 1 + vh * merge * merge);
        linear(s, vh * n, t->hidden, bias);
        linear(s, t->hidden, t->hidden, bias);
        uint64_t side = v.image / ((uint64_t)v.patch * merge);
        image_path(m, &v, patches(&v), side * side, true);
        return GPUMEM_OK;
    }
    case TOWER_LLAMA4: {
        vit_dims v;
        /* Llama4MultiModalProjector: vision_output_dim -> text, no bias. */
        TRY(llama4_tower(c, s, &vh, &v));
        acc64_add(s, vh, t->hidden);
        return llama4_path(c, m, &v);
    }
    case TOWER_QWEN2_VL:
    case TOWER_QWEN2_5_VL: {
        qwen_vit q;
        memset(&q, 0, sizeof q);
        bool v2_5 = row->tower == TOWER_QWEN2_5_VL;
        TRY(qwen_tower(c, s, v2_5, &vt->buffers, &q));
        vt->tower_end = s->sum; /* the merger is the tower's */
        vt->tree = true;
        qwen_image_path(m, &q, v2_5);
        return GPUMEM_OK;
    }
    case TOWER_QWEN3_VL:
        return vision_qwen3_tower(c, s, true);
    case TOWER_QWEN3_5:
        return vision_qwen3_tower(c, s, false);
    }
    return BAD("unknown vision tower");
}

gpumem_status vision_read(cfg_ctx *c, const char *outer, gpumem_model *m, arch_spec *spec)
{
    const vision_row *row = vision_find(outer);
    if (!row)
        return GPUMEM_OK;
    TRY(vision_tie(c, row, m, spec));
    json_t *vc = json_object_get(c->top, "vision_config");
    if ((!vc || json_is_null(vc)) && !row->vision_defaults)
        return err_set_at(c->err, GPUMEM_ERR_INVALID, c->file, -1, 0, 0,
                          "multimodal '%s' config has no \"vision_config\": the vision tower's "
                          "size is unknown",
                          outer);
    if (vc && !json_is_null(vc) && !json_is_object(vc))
        return BAD("\"vision_config\" must be an object");
    static const char empty[] = "{}";
    json_t *defaults = NULL;
    if (!vc || json_is_null(vc)) {
        defaults = json_loads(empty, 0, NULL);
        if (!defaults)
            return err_set(c->err, GPUMEM_ERR_NOMEM, "out of memory");
        vc = defaults;
    }
    text_side t = {m->n_embd};
    acc64 s = {0, false};
    json_t *root = c->root;
    c->root = vc;
    vision_tree vt;
    memset(&vt, 0, sizeof vt);
    gpumem_status st = tower_and_projector(c, row, outer, &t, &s, &vt, m);
    c->root = root;
    json_decref(defaults);
    TRY(st);
    if (s.overflow)
        return err_set_at(c->err, GPUMEM_ERR_OVERFLOW, c->file, -1, 0, 0,
                          "vision tower parameter count does not fit in 64 bits");
    m->params_vision = s.sum;
    m->params_projector = vt.tree ? s.sum - vt.tower_end : 0;
    m->vision_buffer_bytes = vt.buffers;
    m->vision_tree = vt.tree;
    if (vt.text_tokens) {
        const vit_dims *v = &vt.vit.v;
        m->vision_act.tokens = vt.vit.tokens;
        m->vision_act.hidden = v->hidden;
        m->vision_act.ff = v->ff;
        m->vision_act.heads = v->heads;
        m->vision_act.act_tensors = vt.vit.quick_gelu ? 2 : 1;
        m->vision_act.pixels = (uint64_t)v->channels * v->image * v->image;
        m->vision_act.text_tokens = vt.text_tokens;
        m->vision_act.feature_copies = vt.feature_copies;
        m->vision_act.held_states = vt.held_states;
    }
    return GPUMEM_OK;
}

/* Qwen2-VL / Qwen2.5-VL text models (modeling_qwen2_vl.py,
 * modeling_qwen2_5_vl.py): Qwen2's modules (q/k/v with bias, o without)
 * under M-RoPE, which holds no parameters. Their config classes default
 * to a 72B shape, so the sizes must be in the file. */
gpumem_status arch_read_qwen_vl_text(cfg_ctx *c, gpumem_model *m, arch_spec *s)
{
    static const char *const need[] = {"vocab_size", "hidden_size", "intermediate_size",
                                       "num_hidden_layers", "num_attention_heads",
                                       "num_key_value_heads"};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        json_t *v = json_object_get(c->root, need[i]);
        if (!v || json_is_null(v))
            return BAD("Qwen-VL text config has no \"%s\" (its class default is not modelled)",
                       need[i]);
    }
    const arch_row *qwen2 = arch_find("qwen2");
    if (!qwen2)
        return BAD("qwen2 reader missing");
    return qwen2->read(c, m, s);
}
