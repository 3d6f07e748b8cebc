"""vLLM's own figures for the multimodal side of profile_run with the tiled
image models, LLaVA-NeXT (anyres tiles from image_grid_pinpoints) and
Llama 4 (up to max_patches tiles of vision_config.image_size): the largest
image, its tiles and the patches the tower encodes per tile, tokens per
item as the encoder budget counts them, the budget and the item count.
Offline: no model files, no GPU, no tokenizer. A sibling of
qwen_vl_profile_reference.py (same stubs for the context and the budget).

Neither model overrides get_mm_max_tokens_per_item, so vLLM processes one
dummy image of get_image_size_with_most_features and counts its
placeholder: 0.14.1 on the embeddings (PlaceholderRange.get_num_embeds),
0.10.1 / 0.11.0 the whole placeholder (get_mm_max_contiguous_tokens).
  LLaVA-NeXT: the placeholder is get_num_image_tokens(largest) image
    tokens, all embeddings (LlavaNextProcessingInfo, llava_next.py).
  Llama 4: the placeholder is Llama4Processor._prompt_split_image for the
    aspect ratio vLLM's _postprocess_hf_mm_data gives the dummy image
    (find_supported_resolutions / get_best_fit); embeddings are its
    <|patch|> tokens (select_token_ids of img_patch_token); its length
    counts each <|...|> special token as one token (Llama 4's tokenizer
    holds them as single added tokens). max_patches: the image
    processor's class default, 16 (gpumem reads config.json only).
The tiles the tower encodes: LLaVA-NeXT 1 + the anyres grid
(get_anyres_image_grid_shape); Llama 4 1 for one tile, else 1 + the grid
(_postprocess_hf_mm_data patches_per_image).

Usage, both versions into one file (torchvision side directories as for
qwen_vl_profile_reference.py, only for the image processor import):
  for v in 0.11.0 0.33.0; do validation/vllm/.venv-$v/bin/python \
      validation/vllm/tiled_vision_profile_reference.py /tmp/t-$v.jsonl; done
  cat /tmp/t-0.11.0.jsonl /tmp/t-0.33.0.jsonl > validation/measurements/vllm_tiled_vision_profile.jsonl
"""
import json
import pathlib
import re
import sys
import types

import vllm
from transformers import Llama4Config, LlavaNextConfig

V = vllm.__version__
NEW = not V.startswith("0.11.")
ROOT = pathlib.Path(__file__).resolve().parents[2]

# llava.py imports pixtral.py, which needs mistral_common (absent from the
# venvs); only a Pixtral vision config would reach it, so a stub stands in.
_pixtral = types.ModuleType("vllm.model_executor.models.pixtral")
_pixtral.PixtralHFEncoderInfo = _pixtral.PixtralHFVisionModel = type("Unused", (), {})
from transformers import PixtralVisionConfig as _pvc  # noqa: E402
_pixtral.PixtralVisionConfig = _pvc
sys.modules.setdefault("vllm.model_executor.models.pixtral", _pixtral)

from vllm.model_executor.models import mllama4, llava_next
from vllm.v1.core.encoder_cache_manager import compute_mm_encoder_budget

if NEW:
    from vllm.multimodal.encoder_budget import MultiModalBudget

    get_max_items = MultiModalBudget._get_max_items
    modality_with_max = MultiModalBudget.get_modality_with_max_tokens
else:
    from vllm.v1.worker.utils import MultiModalBudget

    get_max_items = MultiModalBudget.get_max_items
    modality_with_max = MultiModalBudget.get_modality_with_max_tokens

try:
    from transformers.models.llama4.image_processing_llama4_fast import Llama4ImageProcessorFast as L4IP
except ImportError:
    from transformers.models.llama4.image_processing_llama4 import Llama4ImageProcessor as L4IP
from transformers.models.llama4.processing_llama4 import Llama4Processor

MODELS = {
    "llava-v1.6-mistral-7b": ("validation/configs/llava-v1.6-mistral-7b.json", LlavaNextConfig),
    "llama-4-scout": ("data/models/llama-4-scout.json", Llama4Config),
    "llama-4-maverick": ("data/models/llama-4-maverick.json", Llama4Config),
}


class Ctx:
    def __init__(self, cfg, proc):
        self.cfg, self.proc = cfg, proc

    def get_hf_config(self, *a, **k):
        return self.cfg

    def get_hf_processor(self, *a, **k):
        return self.proc


def load(model):
    path, cls = MODELS[model]
    d = json.loads((ROOT / path).read_text())
    d.pop("_comment", None)
    d.pop("model_type", None)
    return cls(**d)


def llava_next_item(cfg):
    info = llava_next.LlavaNextProcessingInfo.__new__(llava_next.LlavaNextProcessingInfo)
    info.ctx = Ctx(cfg, types.SimpleNamespace(patch_size=cfg.vision_config.patch_size))
    size = info.get_image_size_with_most_features()
    tok = info.get_num_image_tokens(image_width=size.width, image_height=size.height)
    enc = info.get_vision_encoder_info()
    gh, gw = llava_next.get_anyres_image_grid_shape(
        image_size=(size.height, size.width), grid_pinpoints=cfg.image_grid_pinpoints,
        patch_size=enc.get_image_size())
    per_tile = enc.get_num_image_tokens(image_width=enc.get_image_size(),
                                        image_height=enc.get_image_size())
    return size, tok, tok, 1 + gh * gw, per_tile


def llama4_item(cfg):
    ip = L4IP.__new__(L4IP)
    ip.max_patches = L4IP.max_patches  # class default
    ip.resize_to_max_canvas = L4IP.resize_to_max_canvas
    info = mllama4.Mllama4ProcessingInfo.__new__(mllama4.Mllama4ProcessingInfo)
    info.ctx = Ctx(cfg, types.SimpleNamespace(image_processor=ip))
    size = info.get_image_size_with_most_features()
    tile = cfg.vision_config.image_size
    res = mllama4.find_supported_resolutions(
        max_num_chunks=info.get_max_num_tiles(),
        patch_size=mllama4.SizeDict(height=tile, width=tile))
    fit = mllama4.get_best_fit((size.height, size.width), mllama4.torch.tensor(res),
                               resize_to_max_canvas=ip.resize_to_max_canvas)
    rh, rw = int(fit[0]) // tile, int(fit[1]) // tile
    per_chunk = info.get_patch_per_chunk(cfg.vision_config)
    text = Llama4Processor._prompt_split_image(None, (rh, rw), per_chunk)
    embeds = text.count("<|patch|>")
    length = len(re.findall(r"<\|[a-z_]+\|>", text))
    assert "".join(re.findall(r"<\|[a-z_]+\|>", text)) == text
    tiles = 1 if rh * rw == 1 else 1 + rh * rw
    vc = cfg.vision_config
    per_tile = (vc.image_size // vc.patch_size) ** 2 + 1  # Llama4VisionModel: + class token
    return size, embeds, length, tiles, per_tile


def row(model, batched, max_model_len, max_num_seqs, limits):
    cfg = load(model)
    fn = llava_next_item if model.startswith("llava") else llama4_item
    size, embeds, length, tiles, per_tile = fn(cfg)
    tok = embeds if NEW else length
    mm_limits = {"image": limits.get("image", 999)}
    toks = {"image": tok}
    sched = types.SimpleNamespace(
        max_num_batched_tokens=batched, max_num_encoder_input_tokens=batched,
        encoder_cache_size=batched, disable_chunked_mm_input=False, enable_chunked_prefill=True)
    compute, cache = compute_mm_encoder_budget(sched, toks)
    budget = min(compute, cache)
    me = types.SimpleNamespace(
        get_encoder_budget=lambda: budget, mm_limits=mm_limits, max_model_len=max_model_len,
        scheduler_config=sched, max_num_reqs=max_num_seqs,
        mm_max_toks_per_item=toks, max_tokens_by_modality=toks)
    modality = modality_with_max(me)
    _, items = get_max_items(me, modality, toks[modality])
    return {
        "vllm": V, "model": model, "max_num_batched_tokens": batched,
        "max_model_len": max_model_len, "max_num_seqs": max_num_seqs,
        "limit_mm_per_prompt": limits, "image_width": size.width, "image_height": size.height,
        "tiles": tiles, "patches_per_tile": per_tile, "image_embeds": embeds,
        "image_placeholder": length, "image_tokens": tok, "modality": modality,
        "encoder_budget": budget, "items": items,
    }


def main():
    out = open(sys.argv[1], "w") if len(sys.argv) > 1 else sys.stdout
    for model in MODELS:
        for batched in (2048, 8192, 16384):
            for mml in (2048, 4096, 32768):
                for seqs in (1, 4, 256):
                    for limits in ({}, {"image": 1}, {"image": 3}):
                        out.write(json.dumps(row(model, batched, mml, seqs, limits)) + "\n")


if __name__ == "__main__":
    main()
