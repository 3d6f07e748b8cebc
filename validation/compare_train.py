#!/usr/bin/env python3
"""Measured training-step memory (torch_training.jsonl) against build/gpumem --train.

gpumem's allocator-visible sum = weights + gradients + optimizer_states +
lora_weights + lora_gradients + lora_optimizer_states + activations + logits
(cuda_context, workspace, fragmentation and comm_buffers excluded), compared
with the measured step-2 peak of live tensor bytes.

Usage:
  validation/.venv/bin/python validation/compare_train.py [--device meta|cpu] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GPUMEM = ROOT / "build" / "gpumem"
SUM = ("weights", "gradients", "optimizer_states", "lora_weights", "lora_gradients",
       "lora_optimizer_states", "activations", "logits")


def targets(t: str) -> str:
    if t in ("all-linear",):
        return t
    if t == "c_attn":  # GPT-2's fused q/k/v projection
        return "q,k,v"
    return ",".join(x.replace("_proj", "") for x in t.split(","))


def gpumem(r: dict) -> dict:
    src = r.get("model") or str(ROOT / r["config"])
    cmd = [str(GPUMEM), "estimate", src, "--train", "--method", r["method"], "--precision", r["precision"],
           "--optimizer", r["optimizer"], "--checkpointing", r["checkpointing"], "--batch", str(r["batch"]),
           "--seq", str(r["seq"]), "--json"]
    if r["method"] == "lora":
        cmd += ["--lora-rank", str(r["lora_rank"]), "--lora-targets", targets(r["lora_targets"])]
    if r["attn"] == "eager":
        cmd += ["--attn", "eager", "--no-flash"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        return {"error": p.stderr.strip()[:200]}
    d = json.loads(p.stdout)
    comp = {c["name"]: c["bytes"] for c in d["components"]}
    comp["sum"] = sum(comp.get(k, 0) for k in SUM)
    return comp


def rows(device=None):
    out = []
    seen = {}
    for line in (HERE / "measurements" / "torch_training.jsonl").read_text().splitlines():
        r = json.loads(line)
        if "measured" in r:
            seen[r["case"]] = r
    for r in seen.values():
        if device and r["device"] != device:
            continue
        out.append((r, gpumem(r)))
    return out


def M(x):
    return f"{x / 2**20:.0f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", choices=["cpu", "meta"])
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    rs = rows(a.device)
    hdr = ("| case | measured MiB | gpumem MiB | err % | meas w/g/os/act/lg/opt-tmp | gpumem w/g/os/act/lg | "
           "peak phase |")
    print(hdr)
    print("|" + "---|" * 7)
    errs = []
    for r, g in rs:
        m = r["measured"]
        if "error" in g:
            print(f"| {r['case']} | {M(m['peak_bytes'])} | error: {g['error']} | | | | |")
            continue
        e = 100.0 * (g["sum"] - m["peak_bytes"]) / m["peak_bytes"]
        errs.append(e)
        gw = g.get("weights", 0) + g.get("lora_weights", 0)
        gg = g.get("gradients", 0) + g.get("lora_gradients", 0)
        go = g.get("optimizer_states", 0) + g.get("lora_optimizer_states", 0)
        mw = "/".join(M(m[k]) for k in ("weights", "gradients", "optimizer_states", "activations", "logits",
                                          "optimizer_transient"))
        gm = "/".join(M(x) for x in (gw, gg, go, g.get("activations", 0), g.get("logits", 0)))
        print(f"| {r['case'].replace('|', ' ')} | {M(m['peak_bytes'])} | {M(g['sum'])} | {e:+.1f} | {mw} | {gm} | "
              f"{r['detail']['peak_phase']} |")
    if errs:
        ab = sorted(abs(x) for x in errs)
        print(f"\n{len(errs)} cases; median |err| {ab[len(ab) // 2]:.1f}%, max {ab[-1]:.1f}%; "
              f"over-estimates {sum(1 for x in errs if x > 0)}, under {sum(1 for x in errs if x < 0)}")
    # activations and logits alone, at the end of the forward pass (everything the
    # backward will need, before any gradient exists), against gpumem's components
    print("\n| case | fwd-end act MiB (of which weight casts) | gpumem act | err % | fwd-end logits | "
          "bwd-peak logits | gpumem logits |")
    print("|" + "---|" * 7)
    for r, g in rs:
        if "error" in g:
            continue
        d = r["detail"]
        fe = d["at_phase_end"]["forward"]
        bp = d["phase_peaks"]["backward"]
        ga = g.get("activations", 0)
        e = 100.0 * (ga - fe["activations"]) / fe["activations"] if fe["activations"] else float("nan")
        print(f"| {r['case'].replace('|', ' ')} | {M(fe['activations'])} ({M(d.get('fwd_weight_casts', 0))}) | "
              f"{M(ga)} | {e:+.1f} | {M(fe['logits'])} | {M(bp['logits'])} | {M(g.get('logits', 0))} |")
    if False:
        print(f"\n{len(errs)} cases; median |err| {ab[len(ab) // 2]:.1f}%, max {ab[-1]:.1f}%; "
              f"over-estimates {sum(1 for x in errs if x > 0)}, under {sum(1 for x in errs if x < 0)}")


if __name__ == "__main__":
    main()
