/* The multimodal side of vLLM's profile_run (v1/worker/gpu_model_runner.py,
 * 0.10.1 to 0.33.0): before the text forward, a batch of dummy items of
 * the largest size goes through the vision tower, and their pixels and
 * encoder outputs stay alive through the text forward. Which modality, how
 * many items and how many tokens each: MultiModalBudget
 * (v1/worker/utils.py up to 0.14.1, multimodal/encoder_budget.py from
 * 0.19.0) over the processors' get_mm_max_tokens_per_item. Checked against
 * vLLM 0.11.0's and 0.33.0's own functions
 * (validation/vllm/qwen_vl_profile_reference.py; LLaVA-NeXT and Llama 4,
 * whose images are tiles: tiled_vision_profile_reference.py). */
#include "engine_vllm_internal.h"
#include "util_internal.h"

#include <math.h>
#include <string.h>

enum { DEFAULT_MM_LIMIT = 999 }; /* MultiModalConfig.get_limit_per_prompt */

/* Qwen2VLProcessingInfo.get_image_size_with_most_features, then
 * get_num_image_tokens: merged tokens of the largest image. */
static uint64_t qwen_image_tokens(const gpumem_model *m, const vllm_version *v, uint64_t max_pixels)
{
    uint64_t unit = (uint64_t)m->vision_patch * m->vision_merge;
    if (v->mm_image_factor_pair) {
        /* 0.14.1 on: factor max_pixels / unit^2 tokens into the closest
         * pair with an aspect ratio of at most 200, fewer tokens until one
         * exists; the resize keeps that size (it is within the bounds). */
        for (uint64_t s = max_pixels / (unit * unit); s > 0; s--) {
            uint64_t d = (uint64_t)sqrt((double)s);
            while (d * d > s)
                d--;
            while ((d + 1) * (d + 1) <= s)
                d++;
            while (s % d)
                d--;
            if (s / d <= 200 * d)
                return s;
        }
        return 0;
    }
    /* 0.10.1 / 0.11.0: smart_resize of a 9999999 x 9999999 image
     * (transformers' image_processing_qwen2_vl.py), doubles as Python's. */
    const double side = 9999999.0;
    double beta = sqrt(side * side / (double)max_pixels);
    double f = floor(side / beta / (double)unit) * (double)unit;
    uint64_t px = f < (double)unit ? unit : (uint64_t)f;
    uint64_t grid = px / m->vision_patch;
    return grid * grid / ((uint64_t)m->vision_merge * m->vision_merge);
}

/* get_max_video_tokens with one video per prompt (the budget asks with
 * mm_counts 1): as many frames as max_model_len holds, at most
 * _MAX_FRAMES_PER_VIDEO, at least 1; frames padded up to a multiple of
 * temporal_patch_size (0.33.0: n + (-n % t); 0.11.0: n + n % t, the same
 * for t = 2, every Qwen2-VL / Qwen2.5-VL config). */
static uint64_t qwen_video_tokens(const gpumem_model *m, const vllm_version *v, uint64_t image_tok,
                                  uint64_t max_model_len)
{
    uint64_t t = m->vision_temporal ? m->vision_temporal : 1;
    uint64_t frames = t * (max_model_len / image_tok);
    frames = frames < 1 ? 1 : frames;
    frames = frames < v->mm_video_frames_max ? frames : v->mm_video_frames_max;
    return div_up(frames, t) * image_tok;
}

gpumem_status vllm_mm_profile_for(const gpumem_model *m, const vllm_version *v,
                                  const vllm_mm_args *a, vllm_mm_profile *p, gpumem_error *err)
{
    memset(p, 0, sizeof *p);
    bool fixed = m->vision_tokens && m->vision_patches;
    /* A text-only model has no multimodal config to take the kwargs. */
    if (a->mm_max_pixels && m->params_vision && !m->vision_dynamic)
        return err_set(err, GPUMEM_ERR_USAGE,
                       "--mm-processor-kwargs max_pixels applies to Qwen2-VL / Qwen2.5-VL only");
    if (!fixed && !m->vision_dynamic)
        return GPUMEM_OK;
    uint64_t lim_img = a->limit_image < 0 ? DEFAULT_MM_LIMIT : (uint64_t)a->limit_image;
    uint64_t lim_vid = a->limit_video < 0 ? DEFAULT_MM_LIMIT : (uint64_t)a->limit_video;
    uint64_t img = 0, vid = 0, merge2 = 1;
    if (fixed) {
        /* 0.10.1 / 0.11.0 budget the whole placeholder (Llama 4's
         * separators too); the encoder still outputs the embeddings. */
        img = m->vision_tokens + (v->mm_budget_contiguous ? m->vision_token_extra : 0);
        lim_vid = 0;
    } else {
        uint64_t unit = (uint64_t)m->vision_patch * m->vision_merge;
        uint64_t maxp = a->mm_max_pixels ? a->mm_max_pixels : m->vision_max_pixels;
        if (maxp < m->vision_min_pixels || maxp < unit * unit)
            return err_set(err, GPUMEM_ERR_USAGE,
                           "max_pixels %llu is below min_pixels %llu or one merged patch "
                           "(%llu pixels)",
                           (unsigned long long)maxp, (unsigned long long)m->vision_min_pixels,
                           (unsigned long long)(unit * unit));
        img = qwen_image_tokens(m, v, maxp);
        vid = img ? qwen_video_tokens(m, v, img, a->max_model_len) : 0;
        merge2 = (uint64_t)m->vision_merge * m->vision_merge;
    }
    img = lim_img ? img : 0;
    vid = lim_vid ? vid : 0;
    if (!img && !vid)
        return GPUMEM_OK; /* every modality off: no encoder cache, no pass */
    /* get_modality_with_max_tokens: the most tokens per item; on a tie
     * 0.19.0 on take the larger name ("video"), before the first
     * ("image"). */
    bool video = vid > img || (vid == img && v->mm_video_wins_ties);
    uint64_t tok = video ? vid : img, limit = video ? lim_vid : lim_img;
    /* compute_mm_encoder_budget: max(max_num_batched_tokens, the largest
     * item); items: what the budget holds, capped by max_num_seqs x items
     * per prompt (min(limit, max_model_len / tokens), at least 1). */
    uint64_t budget = a->batched > tok ? a->batched : tok;
    uint64_t per_prompt = a->max_model_len / tok;
    per_prompt = per_prompt < limit ? per_prompt : limit;
    per_prompt = per_prompt < 1 ? 1 : per_prompt;
    uint64_t items = budget / tok, cap = a->max_num_seqs * per_prompt;
    items = items < cap ? items : cap;
    p->items = items ? items : 1;
    p->video = video;
    p->tokens = tok;
    p->budget = budget;
    /* The tower's peak per patch (a formula from the models' source, not
     * a measurement; an upper bound): resident widths, then the larger of
     * the attention branch and the MLP's two (gated: three)
     * intermediates, split over TP (vLLM's towers use parallel linears). */
    uint64_t patches = fixed ? m->vision_patches : tok * merge2;
    uint64_t pixels = fixed ? m->vision_pixels : patches * m->vision_pixels;
    uint64_t widths = m->vision_attn + (m->vision_dynamic && v->mm_rope_fp32 ? 8 : 0);
    uint64_t vh = m->vision_hidden, attn = div_up(widths * vh, a->tp);
    uint64_t mlp = (m->vision_gated ? 3 : 2) * div_up(m->vision_ff, a->tp);
    uint64_t per_patch = m->vision_resident * vh + (attn > mlp ? attn : mlp);
    /* The processor's pixel_values arrive in fp32 and the tower casts a
     * copy to the model dtype. */
    uint64_t px_bytes = p->items * pixels * 4;
    p->encoder_peak = p->items * patches * per_patch * a->cb + px_bytes + p->items * pixels * a->cb;
    /* 0.11.0 pads every item's output to the budget's token count. */
    uint64_t rows = v->mm_outputs_padded ? budget : tok;
    p->held = p->items * rows * m->n_embd * a->cb + px_bytes;
    return GPUMEM_OK;
}
