/* The Qwen3-VL vision tower (modeling_qwen3_vl.py, transformers 5.24),
 * shared by Qwen3-VL and Qwen3-VL-MoE; arch_vision.c picks it for those
 * top-level model types. Class defaults: configuration_qwen3_vl.py. */
#include "arch_more_internal.h"

#include "error_internal.h"

enum { MAX_LAYERS = 4096 };

static void linear(acc64 *s, uint64_t in, uint64_t out)
{
    acc64_add(s, in, out);
    acc64_add(s, out, 1);
}

/* A patch merger: LayerNorm (over the hidden width, or the merged width
 * after the shuffle for the deepstack mergers), linear_fc1 over the merged
 * width, linear_fc2 to out_hidden_size, all with bias. */
static void merger(acc64 *s, uint64_t h, uint64_t merged, uint64_t out, bool postshuffle)
{
    acc64_add(s, postshuffle ? merged : h, 2);
    linear(s, merged, merged);
    linear(s, merged, out);
}

/* c->root is the vision_config. Patch embedding: a 3-D conv with bias
 * (in_channels x temporal_patch_size x patch_size^2 per output channel);
 * learned position embeddings (num_position_embeddings); depth blocks of
 * two LayerNorms, fused qkv and proj, and a linear_fc1/linear_fc2 MLP, all
 * with bias; the merger and one deepstack merger per entry of
 * deepstack_visual_indexes (Qwen3.5's tower, modeling_qwen3_5.py, has
 * no deepstack mergers whatever the key says). */
gpumem_status vision_qwen3_tower(cfg_ctx *c, acc64 *s, bool deepstack)
{
    uint32_t depth, h, ff, heads, ch, patch, merge, tps, out, npos;
    TRY(cfg_u32(c, "depth", 27, MAX_LAYERS, &depth));
    TRY(cfg_u32(c, "hidden_size", 1152, MAX_DIM, &h));
    TRY(cfg_u32(c, "intermediate_size", 4304, 1u << 24, &ff));
    TRY(cfg_u32(c, "num_heads", 16, 1 << 16, &heads));
    TRY(cfg_u32(c, "in_channels", 3, 64, &ch));
    TRY(cfg_u32(c, "patch_size", 16, 1024, &patch));
    TRY(cfg_u32(c, "spatial_merge_size", 2, 64, &merge));
    TRY(cfg_u32(c, "temporal_patch_size", 2, 64, &tps));
    TRY(cfg_u32(c, "out_hidden_size", 3584, MAX_DIM, &out));
    TRY(cfg_u32(c, "num_position_embeddings", 2304, 1u << 24, &npos));
    json_t *deep = json_object_get(c->root, "deepstack_visual_indexes");
    size_t n_deep = deepstack ? 3 : 0; /* the class default [8, 16, 24] */
    if (deepstack && deep && !json_is_null(deep)) {
        if (!json_is_array(deep))
            return err_set_at(c->err, GPUMEM_ERR_INVALID, c->file, -1, 0, 0,
                              "\"deepstack_visual_indexes\" must be an array of block indices");
        n_deep = json_array_size(deep);
    }
    if (!h || !heads || h % heads)
        return err_set_at(c->err, GPUMEM_ERR_INVALID, c->file, -1, 0, 0,
                          "vision_config num_heads (%u) must divide hidden_size (%u)", heads, h);
    uint64_t merged = (uint64_t)h * merge * merge;
    acc64_add(s, h, (uint64_t)ch * tps * patch * patch + 1);
    acc64_add(s, npos, h);
    for (uint32_t i = 0; i < depth; i++) {
        acc64_add(s, h, 4);
        linear(s, h, 3ull * h);
        linear(s, h, h);
        linear(s, h, ff);
        linear(s, ff, h);
    }
    merger(s, h, merged, out, false);
    for (size_t i = 0; i < n_deep; i++)
        merger(s, h, merged, out, true);
    return GPUMEM_OK;
}
