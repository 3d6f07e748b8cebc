#!/usr/bin/env python3
"""Write the extra GGUF files llama.cpp loads beside a model, for measuring
their buffers with the real de3ff81 CPU build (see README.md):

  lora-mha-tied-130m.gguf   a LoRA adapter for mha-tied-130m-F16.gguf (make_gguf.py):
                            rank 16 on attn_q (F16), attn_k (F32), attn_v (F16) of all 8 layers
  mmproj-<name>.gguf        LLaVA-type ("mlp") projectors for dense-1b (MMPROJ_SPECS): a ViT
                            and a projection n_embd -> 2048 -> 2048 (dense-1b's n_embd)

    /work/main/validation/.venv/bin/python validation/llamacpp/make_extras.py   # -> $GGUF_DIR

The draft-model measurement uses mha-tied-130m-F16.gguf as the draft of
dense-1b-F16.gguf (same vocabulary), nothing new to write. Random weights;
only the shapes matter.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import gguf

OUT = Path(os.environ.get("GGUF_DIR", "/tmp/gpumem-gguf"))
RNG = np.random.default_rng(0)


def rand(shape, dtype):
    return (RNG.standard_normal(shape) * 0.02).astype(dtype)


def write_lora(path: Path) -> None:
    # ggml shapes: lora_a ne = (n_in, r), lora_b ne = (r, n_out); numpy is reversed
    n_layer, n_embd, r = 8, 1024, 16
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_string("general.type", "adapter")
    w.add_string("adapter.type", "lora")
    w.add_float32("adapter.lora.alpha", 32.0)
    for il in range(n_layer):
        for name, dt in (("attn_q", np.float16), ("attn_k", np.float32), ("attn_v", np.float16)):
            w.add_tensor(f"blk.{il}.{name}.weight.lora_a", rand((r, n_embd), dt))
            w.add_tensor(f"blk.{il}.{name}.weight.lora_b", rand((n_embd, r), dt))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


MMPROJ_SPECS = [  # name, image size, patch, n_embd, n_ff, heads, layers
    ("llava-224", 224, 14, 512, 2048, 8, 4),
    ("llava-336", 336, 14, 1024, 4096, 16, 2),
    ("vit-448", 448, 16, 768, 3072, 12, 2),
]


def write_mmproj(path: Path, size, patch, e, ff, heads, layers) -> None:
    text_embd = 2048
    n_pos = (size // patch) ** 2 + 1
    w = gguf.GGUFWriter(str(path), "clip")
    w.add_bool("clip.has_vision_encoder", True)
    w.add_string("clip.projector_type", "mlp")
    w.add_uint32("clip.vision.image_size", size)
    w.add_uint32("clip.vision.patch_size", patch)
    w.add_uint32("clip.vision.embedding_length", e)
    w.add_uint32("clip.vision.feed_forward_length", ff)
    w.add_uint32("clip.vision.projection_dim", text_embd)
    w.add_uint32("clip.vision.attention.head_count", heads)
    w.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-5)
    w.add_uint32("clip.vision.block_count", layers)
    w.add_array("clip.vision.image_mean", [0.5, 0.5, 0.5])
    w.add_array("clip.vision.image_std", [0.5, 0.5, 0.5])
    w.add_bool("clip.use_gelu", True)
    w.add_tensor("v.patch_embd.weight", rand((e, 3, patch, patch), np.float16))
    w.add_tensor("v.position_embd.weight", rand((n_pos, e), np.float16))
    w.add_tensor("v.class_embd", rand((e,), np.float32))
    w.add_tensor("v.pre_ln.weight", np.ones(e, np.float32))
    w.add_tensor("v.pre_ln.bias", np.zeros(e, np.float32))
    for il in range(layers):
        for name, shape in (("attn_q", (e, e)), ("attn_k", (e, e)), ("attn_v", (e, e)),
                            ("attn_out", (e, e)), ("ffn_up", (ff, e)), ("ffn_down", (e, ff))):
            w.add_tensor(f"v.blk.{il}.{name}.weight", rand(shape, np.float16))
            w.add_tensor(f"v.blk.{il}.{name}.bias", rand((shape[0],), np.float32))
        for ln in ("ln1", "ln2"):
            w.add_tensor(f"v.blk.{il}.{ln}.weight", np.ones(e, np.float32))
            w.add_tensor(f"v.blk.{il}.{ln}.bias", np.zeros(e, np.float32))
    w.add_tensor("mm.0.weight", rand((text_embd, e), np.float16))
    w.add_tensor("mm.0.bias", rand((text_embd,), np.float32))
    w.add_tensor("mm.2.weight", rand((text_embd, text_embd), np.float16))
    w.add_tensor("mm.2.bias", rand((text_embd,), np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    write_lora(OUT / "lora-mha-tied-130m.gguf")
    for name, *shape in MMPROJ_SPECS:
        write_mmproj(OUT / f"mmproj-{name}.gguf", *shape)
    print("wrote", OUT / "lora-mha-tied-130m.gguf", *(f"mmproj-{n[0]}.gguf" for n in MMPROJ_SPECS))
