#!/usr/bin/env python3
"""Reference device maps: where transformers' device_map="auto" puts each layer.

For each case below this builds the catalog model (``data/models/<id>.json``,
a genuine config.json) on the ``meta`` device in the config's dtype (no
weights, no GPU needed) and calls transformers' own placement code, the one
``from_pretrained(..., device_map=STRATEGY)`` runs:
``transformers.integrations.accelerate._get_device_map`` (get_balanced_memory
for "auto"/"balanced"/"balanced_low_0", get_max_memory for "sequential",
then infer_auto_device_map; transformers 5.24.0 over accelerate 1.15.0).

Two kinds of cases:
  * ``derived``: max_memory=None, as most users load. On a real machine
    accelerate's get_max_memory reads each GPU's free memory after creating a
    CUDA context (torch.cuda.mem_get_info); here that call is replaced by the
    figure it would return on the case's GPUs: the catalog's memory
    (data/gpus.tsv, the CUDA total) minus the 512 MiB CUDA context gpumem
    models, and ``cpu_bytes`` of free host memory. Everything after it
    (transformers' x0.9 on a single GPU and on the CPU, the balanced
    per-GPU cap with its 1.25 x largest-layer buffer, the placement) is the
    libraries' own code.
  * ``explicit``: max_memory given by the user as a dict of bytes (a "cpu"
    entry included, else accelerate would send the overflow to "disk").

One JSON object per line goes to ``validation/measurements/device_map.jsonl``:
  case, model, class, dtype, strategy, kind ("derived"|"explicit"),
  gpus (catalog ids, derived only), max_memory_in (the dict passed, or the
  free memory the patched get_max_memory returned), max_memory_used (the dict
  infer_auto_device_map received), device_map (cleaned, as transformers
  stores it in hf_device_map), layers (device of model.layers.i for every i),
  embed, norm, lm_head (their devices), device_bytes (bytes of parameters and
  buffers per device, by accelerate's compute_module_sizes; a tied lm_head
  counts 0), sizes (embed, lm_head, largest layer, total: the same sizes),
  torch, transformers, accelerate (versions).
Multimodal models (a vision_config: AutoModelForImageTextToText) add
  vision, projector (devices of model.vision_tower / model.visual and of
  model.multi_modal_projector; "split" when accelerate spread one over
  several devices) and vision_bytes, projector_bytes.
bitsandbytes cases (a sixth CASES field, "nf4" or "int8") build the model,
replace its nn.Linear modules with the quantizer's preprocess_model on the
meta device (bitsandbytes imports without CUDA: its CPU backend) and pass
the quantizer to _get_device_map, so module sizes are
quantizer.param_element_size's and max_memory gets adjust_max_memory's
x 0.9; they add quant and error (the first sentence of the ValueError
validate_environment raises when modules land on the CPU, else null; the
placement is the one infer_auto_device_map returned before it).
Devices are GPU indices (0, 1, ...) or "cpu" / "disk".

Reproduce: bash validation/setup.sh &&
    validation/.venv/bin/python validation/device_map_reference.py
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "measurements" / "device_map.jsonl"
CONTEXT = 512 << 20  # the CUDA context gpumem models (engine_transformers.c)
GIB = 1 << 30

# name, model, strategy, gpus (derived) or max_memory (explicit), cpu bytes
CASES = [
    ("llama8b-auto-2x4090", "llama-3.1-8b", "auto", ["rtx-4090", "rtx-4090"], None),
    ("llama8b-seq-2x4090", "llama-3.1-8b", "sequential", ["rtx-4090", "rtx-4090"], None),
    ("llama8b-low0-3x4090", "llama-3.1-8b", "balanced_low_0", ["rtx-4090"] * 3, None),
    ("llama8b-auto-1x4090", "llama-3.1-8b", "auto", ["rtx-4090"], None),
    ("llama8b-auto-1x4060ti8-cpu", "llama-3.1-8b", "auto", ["rtx-4060-ti-8gb"], None),
    ("llama70b-auto-4xa6000", "llama-3.1-70b", "auto", ["rtx-a6000"] * 4, None),
    ("llama70b-auto-2xh100", "llama-3.1-70b", "auto", ["h100-sxm"] * 2, None),
    ("llama70b-auto-2xa6000-cpu", "llama-3.1-70b", "auto", ["rtx-a6000"] * 2, None),
    ("llama70b-seq-4090-3090-4060ti16-cpu", "llama-3.1-70b", "sequential",
     ["rtx-4090", "rtx-3090", "rtx-4060-ti-16gb"], None),
    ("qwen7b-auto-4090-4060ti8", "qwen2.5-7b", "auto", ["rtx-4090", "rtx-4060-ti-8gb"], None),
    ("qwen14b-auto-2x4060ti16", "qwen2.5-14b", "auto", ["rtx-4060-ti-16gb"] * 2, None),
    ("qwen32b-auto-3x4090", "qwen2.5-32b", "auto", ["rtx-4090"] * 3, None),
    ("qwen72b-low0-4xa6000", "qwen2.5-72b", "balanced_low_0", ["rtx-a6000"] * 4, None),
    ("mistral7b-balanced-2xt4", "mistral-7b-v0.3", "balanced", ["t4", "t4"], None),
    ("mixtral-auto-2xa6000", "mixtral-8x7b", "auto", ["rtx-a6000"] * 2, None),
    ("mixtral-auto-2x4090-cpu", "mixtral-8x7b", "auto", ["rtx-4090"] * 2, None),
    ("qwen3moe-auto-4x4090", "qwen3-30b-a3b", "auto", ["rtx-4090"] * 4, None),
    ("qwen3moe-seq-2x4090-cpu", "qwen3-30b-a3b", "sequential", ["rtx-4090"] * 2, None),
    ("qwen3-4b-tied-auto-2x4060ti8", "qwen3-4b", "auto", ["rtx-4060-ti-8gb"] * 2, None),
    ("gemma2-9b-tied-auto-2xt4", "gemma-2-9b-it", "auto", ["t4", "t4"], None),
    ("llama8b-explicit-4-10-cpu", "llama-3.1-8b", "auto", {0: 4 * GIB, 1: 10 * GIB}, 64 * GIB),
    ("mistral7b-explicit-seq-6-6-cpu", "mistral-7b-v0.3", "sequential", {0: 6 * GIB, 1: 6 * GIB},
     64 * GIB),
    ("qwen3-4b-tied-explicit-2-3-cpu", "qwen3-4b", "auto", {0: 2 * GIB, 1: 3 * GIB}, 64 * GIB),
    ("llama3b-tied-explicit-low0-3x2", "llama-3.2-3b", "balanced_low_0",
     {0: 2 * GIB, 1: 2 * GIB, 2: 2 * GIB}, 64 * GIB),
    # bitsandbytes quantised on load (BitsAndBytesConfig, bnb_4bit_compute_dtype = the config's)
    ("llama8b-nf4-auto-1x4060ti8", "llama-3.1-8b", "auto", ["rtx-4060-ti-8gb"], None, "nf4"),
    ("llama8b-int8-auto-2x4060ti8", "llama-3.1-8b", "auto", ["rtx-4060-ti-8gb"] * 2, None, "int8"),
    ("llama8b-int8-auto-1x4060ti8-cpu", "llama-3.1-8b", "auto", ["rtx-4060-ti-8gb"], None, "int8"),
    ("llama70b-nf4-auto-2xa6000", "llama-3.1-70b", "auto", ["rtx-a6000"] * 2, None, "nf4"),
    ("llama70b-nf4-low0-3x4090", "llama-3.1-70b", "balanced_low_0", ["rtx-4090"] * 3, None, "nf4"),
    ("qwen7b-int8-seq-2x4060ti8", "qwen2.5-7b", "sequential", ["rtx-4060-ti-8gb"] * 2, None, "int8"),
    ("qwen3-4b-nf4-tied-explicit-1-1-1", "qwen3-4b", "auto", {0: GIB, 1: GIB, 2: GIB}, 64 * GIB,
     "nf4"),
    ("mixtral-nf4-auto-2xa6000", "mixtral-8x7b", "auto", ["rtx-a6000"] * 2, None, "nf4"),
    # multimodal (AutoModelForImageTextToText): vision tower, projector, language model
    ("llava7b-auto-2x4060ti8", "llava-1.5-7b", "auto", ["rtx-4060-ti-8gb"] * 2, None),
    ("llava7b-auto-1x4060ti8-cpu", "llava-1.5-7b", "auto", ["rtx-4060-ti-8gb"], None),
    ("llava7b-explicit-seq-5-5-cpu", "llava-1.5-7b", "sequential", {0: 5 * GIB, 1: 5 * GIB},
     64 * GIB),
    ("qwen25vl-auto-2xt4", "qwen2.5-vl-7b", "auto", ["t4", "t4"], None),
    ("qwen25vl-low0-3x4060ti8", "qwen2.5-vl-7b", "balanced_low_0", ["rtx-4060-ti-8gb"] * 3, None),
    ("gemma3-4b-tied-auto-2x4060ti8", "gemma-3-4b-it", "auto", ["rtx-4060-ti-8gb"] * 2, None),
    ("gemma3-4b-tied-explicit-2-2-cpu", "gemma-3-4b-it", "auto", {0: 2 * GIB, 1: 2 * GIB},
     64 * GIB),
]
DERIVED_CPU = 256 * GIB  # free host memory on the derived cases' machine


def gpu_memory() -> dict:
    rows = (HERE.parent / "data" / "gpus.tsv").read_text().splitlines()
    head = rows[0].split("\t")
    out = {}
    for r in rows[1:]:
        f = dict(zip(head, r.split("\t")))
        out[f["id"]] = int(f["memory_bytes"])
    return out


def build(model_id: str, quant: str | None):
    """The model on the meta device; with `quant`, bitsandbytes' quantizer
    has replaced its nn.Linear modules as from_pretrained does before it
    computes the device map (modeling_utils.py: preprocess_model, then
    _get_device_map)."""
    import torch
    from transformers import (AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText,
                              BitsAndBytesConfig)
    from transformers.quantizers import AutoHfQuantizer

    cfg = AutoConfig.from_pretrained(ROOT / "data" / "models" / f"{model_id}.json")
    dtype = getattr(cfg, "dtype", None) or torch.float32
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    auto = AutoModelForImageTextToText if hasattr(cfg, "vision_config") else AutoModelForCausalLM
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.device("meta"):
            model = auto.from_config(cfg, dtype=dtype)
    quantizer = None
    if quant:
        qc = (BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                 bnb_4bit_compute_dtype=dtype) if quant == "nf4"
              else BitsAndBytesConfig(load_in_8bit=True))
        quantizer = AutoHfQuantizer.from_config(qc, pre_quantized=False)
        with torch.device("meta"):
            quantizer.preprocess_model(model=model, dtype=dtype, device_map="auto",
                                       checkpoint_files=None, use_kernels=False)
    return model, str(dtype).replace("torch.", ""), quantizer


def device_of(name: str, device_map: dict):
    while True:
        if name in device_map:
            return device_map[name]
        if "." not in name:
            return device_map.get("")
        name = name.rsplit(".", 1)[0]


def device_of_module(name: str, device_map: dict):
    """device_of, or None when the module's children went to different devices."""
    if any(k.startswith(name + ".") for k in device_map):
        return None
    return device_of(name, device_map)


def key(d):
    """A device as JSON; None (the module was split over devices) as "split"."""
    return "split" if d is None else d if isinstance(d, str) else int(d)


def text_prefix(model) -> str:
    """Where the decoder layers live: "model" or "model.language_model"."""
    return "model.language_model" if hasattr(model.model, "language_model") else "model"


def vision_names(model) -> tuple[str | None, str | None]:
    tower = next((f"model.{n}" for n in ("vision_tower", "visual") if hasattr(model.model, n)), None)
    proj = "model.multi_modal_projector" if hasattr(model.model, "multi_modal_projector") else None
    return tower, proj


def run_case(model, dtype, quantizer, case, mem):
    import transformers.integrations.accelerate as ta

    name, model_id, strategy, where, cpu = case[:5]
    quant = case[5] if len(case) > 5 else None
    if isinstance(where, list):
        kind = "derived"
        free = {i: mem[g] - CONTEXT for i, g in enumerate(where)}
        free["cpu"] = DERIVED_CPU
        real = ta.accelerate_max_memory
        ta.accelerate_max_memory = lambda mm=None: dict(free) if mm is None else real(mm)
        given = None
    else:
        kind = "explicit"
        given = dict(where)
        given["cpu"] = cpu
        free = given
    used = {}
    real_infer = ta.infer_auto_device_map

    placed = {}

    def spy(model, max_memory=None, **kw):
        used.update(max_memory)
        placed.update(real_infer(model, max_memory=max_memory, **kw))
        return dict(placed)

    ta.infer_auto_device_map = spy
    error = None
    try:
        try:
            dm = ta._get_device_map(model, strategy, None if given is None else dict(given),
                                    quantizer)
        except ValueError as e:  # bitsandbytes' validate_environment: modules on the CPU
            if not placed:
                raise
            dm, error = dict(placed), str(e).split(". ")[0]
    finally:
        ta.infer_auto_device_map = real_infer
        if kind == "derived":
            ta.accelerate_max_memory = real
    sizes, _ = ta.compute_module_sizes(model, quantizer)
    dev_bytes: dict = {}
    for k, d in dm.items():
        dev_bytes[str(key(d))] = dev_bytes.get(str(key(d)), 0) + int(sizes.get(k, 0))
    text = text_prefix(model)
    n = model.config.get_text_config().num_hidden_layers
    layers = [key(device_of(f"{text}.layers.{i}", dm)) for i in range(n)]
    tower, proj = vision_names(model)
    extra = {}
    if tower:
        extra["vision"] = key(device_of_module(tower, dm))
        extra["vision_bytes"] = int(sizes[tower])
    if proj:
        extra["projector"] = key(device_of_module(proj, dm))
        extra["projector_bytes"] = int(sizes[proj])
    if quant:
        extra["quant"] = quant
        extra["error"] = error
    return {
        "case": name,
        "model": model_id,
        "class": type(model).__name__,
        "dtype": dtype,
        "strategy": strategy,
        "kind": kind,
        **extra,
        "gpus": where if kind == "derived" else None,
        "max_memory_in": {str(k): int(v) for k, v in free.items()},
        "max_memory_used": {str(k): int(v) for k, v in used.items()},
        "device_map": {k: key(v) for k, v in dm.items()},
        "layers": layers,
        "embed": key(device_of(f"{text}.embed_tokens", dm)),
        "norm": key(device_of(f"{text}.norm", dm)),
        "lm_head": key(device_of("lm_head", dm)),
        "device_bytes": dev_bytes,
        "sizes": {
            "embed": int(sizes[f"{text}.embed_tokens"]),
            "lm_head": int(sizes.get("lm_head", 0)),
            "layer_max": int(max(sizes[f"{text}.layers.{i}"] for i in range(n))),
            "total": int(sizes[""]),
        },
    }


def main() -> int:
    import logging

    logging.getLogger("accelerate").setLevel(logging.ERROR)  # "Device 0 is not available"
    import accelerate
    import torch
    import transformers

    versions = {"torch": torch.__version__, "transformers": transformers.__version__,
                "accelerate": accelerate.__version__}
    mem = gpu_memory()
    rows, built = [], {}
    for case in CASES:
        mid = (case[1], case[5] if len(case) > 5 else None)
        if mid not in built:
            built.clear()
            built[mid] = build(*mid)
        model, dtype, quantizer = built[mid]
        row = run_case(model, dtype, quantizer, case, mem)
        row.update(versions)
        rows.append(row)
        print(row["case"], row["device_bytes"])
    with open(OUT, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
