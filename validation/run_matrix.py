#!/usr/bin/env python3
"""Run the torch/transformers measurement matrix (resumable).

Builds the case list below, skips every case whose row is already in
``validation/measurements/torch_inference.jsonl`` (with a ``measured`` field),
and runs the rest through ``measure_torch.py``: one subprocess per
(model/config, dtype, attention, device) group, so each model is built once
and a crash or timeout loses one group only.

CPU cases run with real data (profiler + dispatch tracker, one row each);
meta cases run the dispatch tracker only (8B-70B shapes, no memory). Every
CPU-sized case also runs on meta ("twins") so meta and CPU traces can be
compared (``compare_torch.py --meta-vs-cpu``).

Usage:
  validation/.venv/bin/python validation/run_matrix.py            # run what is missing
  validation/.venv/bin/python validation/run_matrix.py --list     # print the cases
  validation/.venv/bin/python validation/run_matrix.py --only cpu|meta
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
OUT = HERE / "measurements" / "torch_inference.jsonl"
PY = sys.executable


def C(src, workload="prefill", dtype="bf16", batch=1, context=128, attn="sdpa", cache="dynamic",
      device="cpu", new_tokens=None):
    if attn == "sdpa" and ("gemma-2" in src or "gemma2" in src):
        # transformers 5.24 refuses sdpa for Gemma2ForCausalLM (attention softcapping): eager is what runs
        attn = "eager"
    d = {"workload": workload, "dtype": dtype, "batch": batch, "context": context, "attn": attn,
         "cache": cache, "device": device}
    if workload == "generate":
        d["new_tokens"] = new_tokens or 8
    if src.startswith("validation/configs/"):
        d["config"] = src
    else:
        d["model"] = src
    return d


def cpu_cases():
    cs = []
    # gpt2-large (774M, fp32 weights 3 GiB; learned positions, MHA, tied head)
    for attn in ("sdpa", "eager"):
        for b, s in ((1, 128), (1, 512), (4, 128)):
            cs.append(C("gpt2-large", dtype="fp32", batch=b, context=s, attn=attn))
    cs.append(C("gpt2-large", "generate", "fp32", 1, 128, new_tokens=8))
    cs.append(C("gpt2-large", "prefill", "bf16", 1, 512))
    cs.append(C("gpt2-large", "prefill", "bf16", 1, 128, cache="static"))
    # bert-base-uncased: encoder forward
    for attn in ("sdpa", "eager"):
        for b in (1, 4, 8):
            for s in (128, 512):
                cs.append(C("bert-base-uncased", "forward", "fp32", b, s, attn))
    cs.append(C("bert-base-uncased", "forward", "bf16", 8, 512, "sdpa"))
    cs.append(C("bert-base-uncased", "forward", "bf16", 8, 512, "eager"))
    # qwen3-0.6b (tied head, GQA 16/8, head_dim 128)
    for dtype in ("bf16", "fp32"):
        for attn in ("sdpa", "eager"):
            for b, s in ((1, 128), (1, 512), (4, 128), (4, 512), (1, 2048)):
                if dtype == "fp32" and (b, s) in ((4, 512), (1, 2048)):
                    continue
                cs.append(C("qwen3-0.6b", "prefill", dtype, b, s, attn))
    cs.append(C("qwen3-0.6b", "generate", "bf16", 1, 128, new_tokens=8))
    cs.append(C("qwen3-0.6b", "generate", "bf16", 4, 128, new_tokens=8))
    cs.append(C("qwen3-0.6b", "generate", "bf16", 1, 512, "eager", new_tokens=8))
    cs.append(C("qwen3-0.6b", "prefill", "bf16", 1, 512, cache="static"))
    cs.append(C("qwen3-0.6b", "generate", "bf16", 4, 128, cache="static", new_tokens=8))
    cs.append(C("qwen3-0.6b", "generate", "fp32", 1, 128, new_tokens=8))
    # llama-3.2-1b (tied head, vocab 128256)
    for attn in ("sdpa", "eager"):
        for b, s in ((1, 128), (1, 512), (4, 128), (8, 128)):
            cs.append(C("llama-3.2-1b", "prefill", "bf16", b, s, attn))
    cs.append(C("llama-3.2-1b", "generate", "bf16", 1, 512, new_tokens=8))
    cs.append(C("llama-3.2-1b", "prefill", "bf16", 1, 512, cache="static"))
    cs.append(C("llama-3.2-1b", "prefill", "fp32", 1, 512))
    # qwen2.5-1.5b (tied head, GQA 12/2, vocab 151936)
    for attn in ("sdpa", "eager"):
        for b, s in ((1, 128), (1, 512), (4, 128)):
            cs.append(C("qwen2.5-1.5b", "prefill", "bf16", b, s, attn))
    cs.append(C("qwen2.5-1.5b", "generate", "bf16", 1, 128, new_tokens=8))
    cs.append(C("qwen2.5-1.5b", "generate", "bf16", 1, 128, cache="static", new_tokens=8))
    # tiny MoE / sliding-window configs
    for cfg in ("validation/configs/tiny-mixtral.json", "validation/configs/tiny-qwen3-moe.json"):
        for dtype in ("bf16", "fp32"):
            for attn in ("sdpa", "eager"):
                for b, s in ((1, 128), (1, 512), (4, 512), (8, 2048)):
                    if attn == "eager" and s == 2048 and dtype == "fp32":
                        continue
                    cs.append(C(cfg, "prefill", dtype, b, s, attn))
        cs.append(C(cfg, "generate", "bf16", 4, 512, new_tokens=16))
        cs.append(C(cfg, "generate", "bf16", 4, 512, cache="static", new_tokens=16))
    for cfg in ("validation/configs/tiny-mistral-swa.json", "validation/configs/tiny-gemma2.json"):
        for attn in ("sdpa", "eager"):
            for b, s in ((1, 512), (4, 1024)):
                cs.append(C(cfg, "prefill", "bf16", b, s, attn))
        cs.append(C(cfg, "generate", "bf16", 1, 512, new_tokens=16))
        cs.append(C(cfg, "generate", "bf16", 1, 512, cache="static", new_tokens=16))
    # fp16 on CPU is ~400x slower than bf16 here (no fp16 GEMM): one tiny case
    cs.append(C("validation/configs/tiny-mistral-swa.json", "prefill", "fp16", 1, 64))
    return cs


BIG = ["llama-3.1-8b", "qwen2.5-7b", "mistral-7b-v0.1", "gemma-2-9b-it", "deepseek-v2-lite",
       "qwen3-30b-a3b", "llama-3.1-70b"]


def meta_cases():
    cs = []
    for m in BIG:
        for b in (1, 4, 8):
            for s in (128, 512, 2048, 4096):
                cs.append(C(m, "prefill", "bf16", b, s, "sdpa", device="meta"))
        for b, s in ((1, 512), (1, 4096), (4, 2048)):
            cs.append(C(m, "prefill", "bf16", b, s, "eager", device="meta"))
        cs.append(C(m, "generate", "bf16", 1, 4096, new_tokens=16, device="meta"))
        cs.append(C(m, "generate", "bf16", 8, 2048, new_tokens=8, device="meta"))
        cs.append(C(m, "generate", "bf16", 4, 4096, cache="static", new_tokens=8, device="meta"))
        cs.append(C(m, "prefill", "fp16", 1, 4096, device="meta"))
        cs.append(C(m, "prefill", "fp32", 1, 2048, device="meta"))
    return cs


def twin_cases():
    """Every CPU case again on meta, for the meta-vs-CPU comparison."""
    out = []
    for c in cpu_cases():
        d = dict(c)
        d["device"] = "meta"
        out.append(d)
    return out


def all_cases(only=None):
    cs = []
    if only in (None, "cpu"):
        cs += cpu_cases()
    if only in (None, "meta"):
        cs += meta_cases() + twin_cases()
    import measure_torch as M

    seen, out = set(), []
    for c in cs:
        k = M.case_name(c, "x")
        if k not in seen:
            seen.add(k)
            out.append(c)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--only", choices=["cpu", "meta"])
    ap.add_argument("--timeout", type=int, default=900, help="seconds per group")
    a = ap.parse_args()
    import measure_torch as M

    cases = all_cases(a.only)
    if a.list:
        for c in cases:
            print(M.case_name(c, "profiler" if c["device"] == "cpu" else "dispatch"))
        print(len(cases), "cases", file=sys.stderr)
        return
    done = M.load_done(OUT)
    todo = []
    for c in cases:
        methods = ["dispatch"] if c["device"] == "meta" else ["profiler", "dispatch"]
        if any(M.case_name(c, m) not in done for m in methods):
            todo.append(c)
    print(f"{len(cases)} cases, {len(cases) - len(todo)} done, {len(todo)} to run", flush=True)
    groups: dict[tuple, list] = {}
    for c in todo:
        groups.setdefault((c.get("model"), c.get("config"), c["dtype"], c["attn"], c["device"]), []).append(c)
    # meta groups first (fast), then CPU groups
    order = sorted(groups, key=lambda k: (k[4] != "meta", str(k)))
    t0 = time.time()
    for k in order:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(groups[k], f)
        tg = time.time()
        try:
            subprocess.run([PY, str(HERE / "measure_torch.py"), "--cases-json", f.name, "--out", str(OUT)],
                           cwd=HERE.parent, timeout=a.timeout, check=False)
        except subprocess.TimeoutExpired:
            print(f"group {k} timed out after {a.timeout}s", flush=True)
        Path(f.name).unlink(missing_ok=True)
        print(f"group {k}: {len(groups[k])} cases, {time.time() - tg:.0f}s (total {time.time() - t0:.0f}s)",
              flush=True)
    print(f"matrix done in {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
