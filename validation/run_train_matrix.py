#!/usr/bin/env python3
"""Run the training-memory matrix through measure_train.py (resumable).

Meta cases (1B-8B shapes, no memory) run in one subprocess per model; CPU cases
(real tensors, small shapes) one subprocess each, so a crash or an out-of-memory
loses one case. Rows go to validation/measurements/torch_training.jsonl; cases
already there (with ``measured``) are skipped.

Usage:
  validation/.venv/bin/python validation/run_train_matrix.py [--only cpu|meta] [--list]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
OUT = HERE / "measurements" / "torch_training.jsonl"


def C(src, precision="fp32", optimizer="adamw", impl="foreach", ckpt="none", b=1, s=512, attn="sdpa",
      device="meta", method="full", targets=None, rank=16):
    d = {"precision": precision, "optimizer": optimizer, "optimizer_impl": impl, "checkpointing": ckpt,
         "batch": b, "seq": s, "attn": attn, "device": device, "method": method}
    if method == "lora":
        d["lora_rank"] = rank
        d["lora_targets"] = targets or "q_proj,v_proj"
    d["config" if src.startswith("validation/") else "model"] = src
    return d


MOE = "validation/configs/tiny-qwen3-moe.json"
MIX = "validation/configs/tiny-mixtral.json"


def cases():
    cs = []
    # ---- CPU, real tensors (each with a meta twin below where marked)
    cpu = [
        C("bert-base-uncased", "fp32", b=4, s=128, device="cpu"),
        C("bert-base-uncased", "fp32", b=4, s=128, attn="eager", device="cpu"),
        C("bert-base-uncased", "bf16-mixed", impl="fused", b=4, s=128, device="cpu"),
        C("bert-base-uncased", "fp32", "sgd", b=4, s=128, device="cpu"),
        C("bert-base-uncased", "fp32", ckpt="full", b=4, s=128, device="cpu"),
        C(MOE, "fp32", b=2, s=256, device="cpu"),
        C(MOE, "bf16-mixed", impl="fused", b=2, s=256, device="cpu"),
        C(MIX, "bf16", b=2, s=256, device="cpu"),
        C("qwen3-0.6b", "bf16", b=1, s=256, device="cpu"),
        C("qwen3-0.6b", "bf16", b=1, s=256, device="cpu", method="lora"),
        C("qwen3-0.6b", "fp32", b=1, s=128, device="cpu", method="lora", targets="all-linear"),
        C("qwen3-0.6b", "fp32", "sgd", ckpt="full", b=1, s=256, device="cpu"),
        C("gpt2-large", "fp32", b=1, s=128, device="cpu", method="lora", targets="c_attn"),
    ]
    cs += cpu
    for c in cpu:  # meta twins
        cs.append({**c, "device": "meta"})
    # peft wraps Mixtral's fused 3-D expert parameters (all-linear) in
    # torch.autocast(device_type=W.device.type), which fails for "meta": CPU only.
    cs.append(C(MIX, "bf16", b=2, s=256, device="cpu", method="lora", targets="all-linear"))
    # ---- meta, 0.6B-1.2B
    cs += [
        C("qwen3-0.6b", "fp32", b=1, s=512),
        C("qwen3-0.6b", "bf16-mixed", impl="fused", b=1, s=512),
        C("qwen3-0.6b", "bf16-mixed", impl="fused", ckpt="full", b=4, s=512),
        C("qwen3-0.6b", "bf16", b=2, s=1024),
        C("qwen3-0.6b", "bf16-mixed", impl="fused", b=1, s=512, attn="eager"),
        C("qwen3-0.6b", "fp32", "sgd", b=1, s=512),
        C("llama-3.2-1b", "fp32", b=1, s=512),
        C("llama-3.2-1b", "bf16-mixed", impl="fused", b=1, s=1024),
        C("llama-3.2-1b", "bf16-mixed", impl="forloop", b=1, s=1024),
        C("llama-3.2-1b", "bf16-mixed", impl="foreach", b=1, s=1024),
        C("llama-3.2-1b", "bf16", b=2, s=1024),
        C("llama-3.2-1b", "bf16-mixed", impl="fused", ckpt="full", b=4, s=1024),
        C("llama-3.2-1b", "bf16", b=1, s=1024, method="lora"),
        C("llama-3.2-1b", "bf16", ckpt="full", b=2, s=1024, method="lora", targets="all-linear"),
        C("llama-3.2-1b", "fp32", b=1, s=512, method="lora"),
        C("llama-3.2-1b", "bf16", b=1, s=512, attn="eager"),
        C("gpt2-large", "fp32", b=1, s=512),
        C("gpt2-large", "bf16-mixed", impl="fused", b=2, s=512),
        C("gpt2-large", "fp32", ckpt="full", b=4, s=512),
        C("gpt2-large", "fp32", "sgd", b=1, s=1024),
        C("gpt2-large", "fp32", b=1, s=512, attn="eager"),
        C("bert-base-uncased", "bf16-mixed", impl="fused", b=8, s=512),
        C(MOE, "bf16-mixed", impl="fused", b=4, s=512),
    ]
    # ---- meta, 7B-8B at small batch x seq
    for src in ("llama-3.1-8b", "qwen2.5-7b"):
        for b, s in ((1, 512), (2, 1024), (1, 2048)):
            cs.append(C(src, "bf16-mixed", impl="fused", b=b, s=s))
            cs.append(C(src, "bf16", b=b, s=s, method="lora"))
        cs += [
            C(src, "bf16", impl="foreach", b=1, s=2048),
            C(src, "bf16-mixed", impl="fused", ckpt="full", b=2, s=1024),
            C(src, "bf16", ckpt="full", b=1, s=2048, method="lora", targets="all-linear"),
            C(src, "bf16", "sgd", b=1, s=2048),
        ]
    return cs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["cpu", "meta"])
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    import measure_train as mtr

    cs = [c for c in cases() if not a.only or c["device"] == a.only]
    if a.list:
        for c in cs:
            print(mtr.case_name({**c}))
        print(len(cs), "cases")
        return
    done = mtr.load_done(OUT)
    todo = [c for c in cs if mtr.case_name(c) not in done]
    groups: dict = {}
    for c in todo:
        key = (c.get("model") or c.get("config"), "meta") if c["device"] == "meta" else (mtr.case_name(c),)
        groups.setdefault(key, []).append(c)
    for key, g in groups.items():
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(g, f)
        timeout = 600 if g[0]["device"] == "cpu" else 120 + 30 * len(g)
        try:
            subprocess.run([sys.executable, str(HERE / "measure_train.py"), "--cases-json", f.name,
                            "--out", str(OUT)], timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            print("timeout:", key, flush=True)


if __name__ == "__main__":
    main()
