#!/usr/bin/env python3
"""Summaries of validation/measurements/torch_inference.jsonl.

  --meta-vs-cpu   for every CPU case: profiler peak, dispatch peak on CPU, dispatch peak on meta
  --gpumem        measured peak/components vs `build/gpumem estimate ... --json`
                  (weights + kv_cache + activations + logits: the allocator-visible part)
  --cases A,B     restrict --gpumem to these case-name prefixes (default: every prefill/forward case)
Output: Markdown tables on stdout.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
JSONL = HERE / "measurements" / "torch_inference.jsonl"
GPUMEM = ROOT / "build" / "gpumem"
MiB = 2**20


def rows():
    out = {}
    for line in JSONL.read_text().splitlines():
        r = json.loads(line)
        if "measured" in r:
            out[r["case"]] = r
    return out


def key(r):
    return r["case"].rsplit("|", 2)[0]  # without device and method


def meta_vs_cpu(R):
    print("| case (model, workload, dtype, batch, context, attn, cache) | CPU profiler peak | CPU dispatch peak | meta dispatch peak | meta - CPU profiler | CPU profiler act | meta act |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    by = {}
    for r in R.values():
        by.setdefault(key(r), {})[(r["device"], r["method"])] = r
    n = same = 0
    worst = []
    for k, d in sorted(by.items()):
        p = d.get(("cpu", "profiler"))
        c = d.get(("cpu", "dispatch"))
        m = d.get(("meta", "dispatch"))
        if not (p and m):
            continue
        n += 1
        pp, mp = p["measured"]["peak_bytes"], m["measured"]["peak_bytes"]
        cp = c["measured"]["peak_bytes"] if c else None
        same += pp == mp
        diff = mp - pp
        worst.append((abs(diff) / pp, k))
        print(f"| {k} | {pp / MiB:.2f} | {cp / MiB if cp else float('nan'):.2f} | {mp / MiB:.2f} | "
              f"{diff / MiB:+.2f} MiB ({100 * diff / pp:+.2f}%) | {p['measured']['activations'] / MiB:.2f} | "
              f"{m['measured']['activations'] / MiB:.2f} |")
    print(f"\n{n} pairs; identical peak in {same}; largest relative differences: "
          + ", ".join(f"{k} {100 * w:.2f}%" for w, k in sorted(worst, reverse=True)[:5]))


def gpumem(r):
    src = r.get("model") or str(ROOT / r["config"])
    ctx = r["context"] + (r["new_tokens"] - 1 if r["workload"] == "generate" else 0)
    cmd = [str(GPUMEM), "estimate", src, "--dtype", r["dtype"], "--batch", str(r["batch"]),
           "--context", str(ctx), "--attn", r["attn"], "--json"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        return None
    j = json.loads(p.stdout)
    return {c["name"]: c["bytes"] for c in j["components"]}


def vs_gpumem(R, prefixes):
    print("| case | measured peak | gpumem visible | ratio | weights m/g | kv m/g | act m/g | logits m/g |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in R.items():
        if prefixes and not any(name.startswith(p) for p in prefixes):
            continue
        if not prefixes and (r["workload"] not in ("prefill", "forward") or r["method"] != "dispatch"):
            continue
        g = gpumem(r)
        if g is None:
            continue
        m = r["measured"]
        vis = sum(g.get(k, 0) for k in ("weights", "kv_cache", "activations", "logits"))
        f = lambda a, b: f"{a / MiB:.1f}/{b / MiB:.1f}"  # noqa: E731
        print(f"| {name} | {m['peak_bytes'] / MiB:.1f} | {vis / MiB:.1f} | {vis / m['peak_bytes']:.3f} | "
              f"{f(m['weights'], g.get('weights', 0))} | {f(m['kv_cache'], g.get('kv_cache', 0))} | "
              f"{f(m['activations'], g.get('activations', 0))} | {f(m['logits'], g.get('logits', 0))} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--meta-vs-cpu", action="store_true")
    ap.add_argument("--gpumem", action="store_true")
    ap.add_argument("--cases", default="")
    a = ap.parse_args()
    R = rows()
    if a.meta_vs_cpu:
        meta_vs_cpu(R)
    if a.gpumem:
        vs_gpumem(R, [c for c in a.cases.split(",") if c])


if __name__ == "__main__":
    main()
