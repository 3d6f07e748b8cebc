#!/usr/bin/env python3
"""gguf-parser-go's llama.cpp estimate beside the real llama.cpp buffers.

For a sample of the runs in validation/measurements/llamacpp.jsonl it calls
validation/peers/ggufparser/ggufparser (gguf-parser-go's root package:
ParseGGUFFile + EstimateLLaMACppRun, built by setup.sh) on the same GGUF file
with the run's ctx / batch / ubatch / n_seq / flash-attention / K,V types, with
0 layers offloaded (the runs are a CPU build), and appends one JSON line per
run to validation/measurements/peers.jsonl.

Measured: model + kv + output + compute buffers llama.cpp printed (MiB -> bytes).
Estimate: the CPU device's weights + KV + computation + footprint (what the
tool's summary reports as RAM without mmap). gpumem has no llama.cpp engine.

Usage: python3 validation/peers/run_ggufparser.py [--per-file 11] [--gguf-dir /tmp/gpumem-gguf]
"""
import argparse
import collections
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MEAS = os.path.join(ROOT, "validation", "measurements")
MIB = 1024 * 1024


def printed_total(p):
    kv = p.get("kv_total")
    if kv is None:
        kv = sum(sum(k["buffers"].values()) for k in p.get("kv", []))
    parts = {
        "model": sum(p.get("model", {}).values()),
        "kv": kv,
        "output": sum(p.get("output", {}).values()),
        "compute": sum(p.get("compute", {}).values()),
    }
    return parts, sum(parts.values())


def sample(rows, per_file):
    """Per GGUF file, up to per_file runs spread over distinct settings,
    always taking FA off and quantised-K/V runs when the file has them."""
    by_file = collections.defaultdict(list)
    for r in rows:
        by_file[r["gguf"]["file"]].append(r)
    out = []
    for f in sorted(by_file):
        runs = sorted(by_file[f], key=lambda r: r["case"])
        seen, uniq = set(), []
        for r in runs:
            s = r["settings"]
            key = (s["ctx"], s["batch"], s["ubatch"], s["n_seq"], s["flash_attn"], s["ctk"], s["ctv"])
            if key not in seen and not s.get("repack") and s.get("load_mode", "auto") == "auto":
                seen.add(key)
                uniq.append(r)
        picked = []
        for want in (lambda s: s["flash_attn"] == "off", lambda s: s["ctk"].startswith("q"),
                     lambda s: s["ctk"] == "f32",
                     lambda s: s["n_seq"] > 1, lambda s: s["ctx"] >= 32768):
            for r in uniq:
                if want(r["settings"]) and r not in picked:
                    picked.append(r)
                    break
        rest = [r for r in uniq if r not in picked]
        k = min(len(rest), max(0, per_file - len(picked)))
        if rest and k:
            step = len(rest) / k
            picked += [rest[int(i * step)] for i in range(min(k, len(rest)))]
        out += picked[:per_file]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-file", type=int, default=11)
    ap.add_argument("--gguf-dir", default=os.environ.get("GGUF_DIR", "/tmp/gpumem-gguf"))
    ap.add_argument("--bin", default=os.path.join(HERE, "ggufparser", "ggufparser"))
    ap.add_argument("--out", default=os.path.join(MEAS, "peers.jsonl"))
    a = ap.parse_args()
    rows = [json.loads(l) for l in open(os.path.join(MEAS, "llamacpp.jsonl")) if l.strip()]
    runs = sample(rows, a.per_file)
    n = 0
    with open(a.out, "a") as fo:
        for r in runs:
            s = r["settings"]
            path = os.path.join(a.gguf_dir, r["gguf"]["file"])
            parts, tot = printed_total(r["printed"])
            rec = {"case": r["case"], "family": "llama.cpp", "measured_bytes": round(tot * MIB),
                   "measured_parts": {k: round(v * MIB) for k, v in parts.items()},
                   "tool": "gguf-parser-go"}
            if not os.path.exists(path):
                rec.update(tool_version=None, estimate_bytes=None, includes=None,
                           note=f"GGUF file missing: {path} (regenerate with validation/llamacpp/make_gguf.py)")
                fo.write(json.dumps(rec) + "\n")
                continue
            fa = "on" if s["flash_attn"] == "on" else "off"
            cmd = [a.bin, "-file", path, "-ctx", str(s["ctx"]), "-batch", str(s["batch"]),
                   "-ubatch", str(s["ubatch"]), "-parallel", str(s["n_seq"]), "-fa", fa,
                   "-ctk", s["ctk"], "-ctv", s["ctv"], "-offload", "cpu"]
            if s.get("swa_full"):
                cmd.append("-swa-full")
            e = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            full = json.loads(subprocess.run(cmd[:-2] + ["-offload", "full"], check=True,
                                             capture_output=True, text=True).stdout)
            cpu = e["devices"][0]
            est = cpu["weights"] + cpu["kv"] + cpu["compute"] + cpu["footprint"]
            note = (f"flash_attn={s['flash_attn']} (auto run as off)" if s["flash_attn"] == "auto" else
                    f"flash_attn={s['flash_attn']}")
            rec.update(tool_version=e["version"], estimate_bytes=est,
                       includes="CPU device, 0 layers offloaded: weights + kv + computation "
                                "(compute footprint + inputs + max(graph, output)) + footprint "
                                "(model-load 5 MiB, metadata, tokenizer, output buffer)",
                       estimate_parts={"weights": cpu["weights"], "kv": cpu["kv"],
                                       "compute": cpu["compute"], "footprint": cpu["footprint"]},
                       full_offload_vram_bytes=full["summary_mmap"]["vrams"][0]["nonuma"] if full["summary_mmap"]["vrams"] else None,
                       note=note + "; full_offload_vram_bytes is the tool's GPU figure for a full offload (not measured here)")
            fo.write(json.dumps(rec) + "\n")
            n += 1
    print(f"{n} gguf-parser runs appended to {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
