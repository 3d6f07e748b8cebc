"""vLLM's own figures for the multimodal side of profile_run with Qwen2-VL /
Qwen2.5-VL: tokens per image and per video item of the largest size, the
modality profiled, the encoder budget and how many dummy items the profile
encodes. Offline: no model files, no GPU. vLLM's processing-info class
(model_executor/models/qwen2_vl.py / qwen2_5_vl.py) runs on a stub context
holding the vision config and transformers' Qwen2VLImageProcessor; the
budget comes from vLLM's compute_mm_encoder_budget and its MultiModalBudget
item count (multimodal/encoder_budget.py 0.33.0, v1/worker/utils.py 0.11.0)
called on a stub `self`, and the profiled modality from its
get_modality_with_max_tokens.

transformers 5.x's Qwen2-VL image processor imports torchvision, which
the vLLM venvs lack: install the wheel matching their torch (2.14 ->
torchvision 0.29, 2.8 -> 0.23) with `pip install --no-deps --target DIR` and put DIR on
PYTHONPATH.

Usage (venvs made by setup.sh), both versions into one file:
  for v in 0.11.0 0.33.0; do validation/vllm/.venv-$v/bin/python \
      validation/vllm/qwen_vl_profile_reference.py /tmp/q-$v.jsonl; done
  cat /tmp/q-0.11.0.jsonl /tmp/q-0.33.0.jsonl > validation/measurements/vllm_qwen_vl_profile.jsonl
Each row: the settings, then vLLM's answers; tests/test_vllm_mm.c replays
them. "pixels": "repo" is the official checkpoints' preprocessor_config.json
(max_pixels 12845056), "class" Qwen2VLImageProcessor's defaults (1003520).
"""
import json
import sys
import types

import vllm
from transformers.models.qwen2_vl import image_processing_qwen2_vl as ipq
from transformers.models.qwen2_5_vl import Qwen2_5_VLConfig
from transformers.models.qwen2_vl import Qwen2VLConfig

V = vllm.__version__
NEW = not V.startswith("0.11.")

from vllm.model_executor.models.qwen2_5_vl import Qwen2_5_VLProcessingInfo
from vllm.model_executor.models.qwen2_vl import Qwen2VLProcessingInfo
from vllm.v1.core.encoder_cache_manager import compute_mm_encoder_budget

if NEW:
    from vllm.multimodal.encoder_budget import MultiModalBudget

    get_max_items = MultiModalBudget._get_max_items
    modality_with_max = MultiModalBudget.get_modality_with_max_tokens
else:
    from vllm.v1.worker.utils import MultiModalBudget

    get_max_items = MultiModalBudget.get_max_items
    modality_with_max = MultiModalBudget.get_modality_with_max_tokens

# The official checkpoints' preprocessor_config.json (Qwen/Qwen2-VL-7B-Instruct,
# Qwen/Qwen2.5-VL-7B-Instruct): min_pixels 3136, max_pixels 12845056.
REPO_PIXELS = {"min_pixels": 3136, "max_pixels": 12845056}

MODELS = {
    "qwen2.5-vl-7b": (Qwen2_5_VLConfig, Qwen2_5_VLProcessingInfo, 128000),
    "qwen2-vl-7b": (Qwen2VLConfig, Qwen2VLProcessingInfo, 32768),
}


def image_processor(min_pixels=None, max_pixels=None):
    """Qwen2VLImageProcessor's size as its __init__ sets it: the class
    default {shortest_edge: 56*56, longest_edge: 28*28*1280}, overridden by
    min_pixels / max_pixels (preprocessor_config.json or, 0.11.0,
    mm_processor_kwargs). Instantiated where transformers allows it without
    torchvision (4.57); else the same fields from the class attribute."""
    cls = ipq.Qwen2VLImageProcessor
    return cls(**{k: v for k, v in (("min_pixels", min_pixels), ("max_pixels", max_pixels))
                  if v is not None})


class Ctx:
    def __init__(self, cfg, proc):
        self.cfg, self.proc = cfg, proc

    def get_hf_config(self, *a, **k):
        return self.cfg

    def get_hf_processor(self, *a, **k):
        return self.proc


def info_for(model, pixels, mm_kwargs):
    cfg_cls, info_cls, _ = MODELS[model]
    cfg = cfg_cls()  # vision_config: patch 14, merge 2, temporal 2 (class defaults)
    kw = dict(pixels or {})
    if not NEW:  # 0.11.0 builds the HF processor with mm_processor_kwargs
        kw.update(mm_kwargs)
    proc = types.SimpleNamespace(image_processor=image_processor(**kw))
    info = info_cls.__new__(info_cls)
    info.ctx = Ctx(cfg, proc)
    if NEW:
        # 0.33.0 routes flat mm_processor_kwargs (max_pixels) to both the
        # image and video scopes; vLLM's own alias completion first.
        def merge(self_, req):
            done = Qwen2VLProcessingInfo._complete_mm_processor_size_aliases(
                {**mm_kwargs, **req})
            flat = {k: v for k, v in done.items() if k not in ("images_kwargs", "videos_kwargs")}
            return {"images_kwargs": dict(flat), "videos_kwargs": dict(flat)}

        info._merge_and_resolve_mm_processor_kwargs = types.MethodType(merge, info)
    return info


def row(model, pixels_src, mm_kwargs, batched, max_model_len, max_num_seqs, limits):
    pixels = REPO_PIXELS if pixels_src == "repo" else None
    info = info_for(model, pixels, mm_kwargs)
    mm_limits = {m: limits.get(m, 999) for m in ("image", "video")}
    active = {m: 1 for m, n in mm_limits.items() if n > 0}
    toks = dict(info.get_mm_max_tokens_per_item(seq_len=max_model_len, mm_counts=active))
    toks = {m: t for m, t in toks.items() if m in active}
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
    w, h = info.get_image_size_with_most_features()
    return {
        "vllm": V, "model": model, "pixels": pixels_src, "mm_processor_kwargs": mm_kwargs,
        "max_num_batched_tokens": batched, "max_model_len": max_model_len,
        "max_num_seqs": max_num_seqs, "limit_mm_per_prompt": limits,
        "image_width": w, "image_height": h,
        "image_tokens": toks.get("image", 0), "video_tokens": toks.get("video", 0),
        "modality": modality, "encoder_budget": budget, "items": items,
    }


def main():
    out = open(sys.argv[1], "w") if len(sys.argv) > 1 else sys.stdout
    cases = []
    for model in MODELS:
        for pixels_src in ("repo", "class"):
            for batched in (2048, 8192, 16384):
                for mml in (4096, 32768, MODELS[model][2]):
                    for limits in ({}, {"video": 0}, {"image": 2, "video": 0}):
                        cases.append((model, pixels_src, {}, batched, mml, 256, limits))
        # odd bounds: prime token counts (1021, 401) have no pair within
        # the aspect limit of 200; non-square counts; 0.11.0's float resize
        for mp in (1003520, 802816, 200704, 784 * 1021, 784 * 401, 1000000, 2000000, 4000000,
                   500000, 3136):
            for limits in ({}, {"video": 0}):
                cases.append((model, "repo", {"max_pixels": mp}, 8192, 32768, 256, limits))
        for seqs in (1, 4):
            cases.append((model, "class", {}, 16384, 4096, seqs, {"video": 0}))
            cases.append((model, "class", {}, 16384, 4096, seqs, {"image": 2, "video": 0}))
            cases.append((model, "class", {}, 16384, 4096, seqs, {}))
    seen = set()
    for c in cases:
        key = json.dumps(c, sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        out.write(json.dumps(row(*c)) + "\n")


if __name__ == "__main__":
    main()
