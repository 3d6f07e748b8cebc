#!/usr/bin/env python3
"""Tables for validation/PEERS.md from validation/measurements/peers.jsonl.

Per family and tool: cases expressed, median and 90th-percentile absolute
relative error of the total, under-estimates (estimate < measured), and the
cases the tool could not express, grouped by reason.
Usage: python3 validation/peers/summarize.py > /tmp/tables.md
"""
import collections
import json
import math
import os

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.join(os.path.dirname(HERE), "measurements", "peers.jsonl")
ORDER = ["gpumem", "accelerate estimate-memory", "accelerate estimate-memory x1.2",
         "llm-analysis", "vramscout", "vllm-wizard", "deepspeed zero2 estimator",
         "deepspeed zero3 estimator", "hf-mem", "gguf-parser-go"]
FAMILIES = ["forward", "prefill", "generate", "llama.cpp"]


def q(v, p):
    """The same quantile as gpumem validate: sorted |x|, index ceil(p n) - 1."""
    v = sorted(abs(x) for x in v)
    return v[min(len(v) - 1, math.ceil(p * len(v)) - 1)] if v else float("nan")


def pct(x):
    return f"{100 * x:.1f}%" if x == x else "-"


def main():
    rows = [json.loads(l) for l in open(PEERS) if l.strip()]
    by = collections.defaultdict(list)
    for r in rows:
        by[(r["family"], r["tool"])].append(r)
    fams = [f for f in FAMILIES if any(k[0] == f for k in by)]
    for fam in fams:
        n_cases = len({r["case"] for r in rows if r["family"] == fam})
        print(f"\n### {fam} ({n_cases} cases)\n")
        print("| tool | version | expressed | median abs. error | p90 abs. error | under-estimates | not expressed |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for t in ORDER:
            rs = by.get((fam, t))
            if not rs:
                continue
            ok = [r for r in rs if r["estimate_bytes"] is not None]
            e = [(r["estimate_bytes"] - r["measured_bytes"]) / r["measured_bytes"] for r in ok]
            under = sum(1 for x in e if x < 0)
            print(f"| {t} | {rs[0]['tool_version']} | {len(ok)} | {pct(q(e, .5))} | {pct(q(e, .9))} | "
                  f"{under} of {len(ok)} | {len(rs) - len(ok)} |")
    print("\n### Cases a tool could not express\n")
    print("| tool | family | cases | models | why |")
    print("|---|---|---:|---|---|")
    miss = collections.defaultdict(list)
    for r in rows:
        if r["estimate_bytes"] is None:
            miss[(r["tool"], r["family"], r["note"])].append(r["case"].split("|")[0])
    for (t, fam, note), cs in sorted(miss.items(), key=lambda kv: (ORDER.index(kv[0][0]), FAMILIES.index(kv[0][1]))):
        models = ", ".join(sorted(set(os.path.basename(c) for c in cs)))
        print(f"| {t} | {fam} | {len(cs)} | {models} | {note} |")
    g = [r for r in rows if r["tool"] == "gguf-parser-go" and r.get("estimate_parts")]
    if g:
        print("\n### gguf-parser-go per buffer (llama.cpp runs)\n")
        print("| buffer | tool's figure | median abs. error | p90 abs. error | under-estimates |")
        print("|---|---|---:|---:|---:|")
        for name, mk, ek in (("model", "model", "weights"), ("KV cache", "kv", "kv"),
                             ("compute", "compute", "compute")):
            e = [(r["estimate_parts"][ek] - r["measured_parts"][mk]) / r["measured_parts"][mk]
                 for r in g if r["measured_parts"][mk] > 0]
            print(f"| {name} | {ek} | {pct(q(e, .5))} | {pct(q(e, .9))} | {sum(x < 0 for x in e)} of {len(e)} |")
        e = [(r["estimate_parts"]["footprint"] - r["measured_parts"]["output"] * 1) for r in g]
        print(f"\nfootprint (holds the output buffer, tokenizer, metadata and a 5 MiB model-load allowance) "
              f"exceeds the printed output buffer by a median of {sorted(e)[len(e) // 2] / 2**20:.1f} MiB.")


if __name__ == "__main__":
    main()
