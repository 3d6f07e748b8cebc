#!/usr/bin/env python3
"""Check closed-form rules for llama.cpp (de3ff81) buffer sizes against
validation/measurements/llamacpp.jsonl (written by run_matrix.py).

    validation/.venv/bin/python validation/llamacpp/check_formulas.py [-v]

Rules checked (all sizes in bytes, printed values are MiB with 2 decimals):
  n_ctx     = pad(ctx, 256)
  n_ctx_seq = n_ctx if unified (or n_seq == 1) else pad(n_ctx // n_seq, 256); then n_ctx = n_ctx_seq * n_seq
  n_batch   = min(ctx as requested (unpadded), b);  n_ubatch = min(n_batch, ub)
  KV (one llama_kv_cache): cells = n_ctx_seq (non-SWA) or, for the SWA half of an ISWA cache,
            pad(min(n_ctx_seq, n_swa * (n_seq if unified else 1) + n_ubatch), 256) (n_ctx_seq with --swa-full);
            streams = 1 if unified else n_seq;
            K = sum over its layers of row_size(type_k, n_embd_k_gqa) * cells * streams, V likewise
  output    = n_vocab * 4 * n_seq                        (logits only; no embeddings)
  model     = sum of the GGUF's tensor bytes             (mmap or not, repack off)
The compute buffer has no closed form here; see the README for its behaviour.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from make_gguf import SWA_PATTERN  # noqa: E402
OUT = HERE.parent / "measurements" / "llamacpp.jsonl"
MiB = 1024 * 1024
BLOCK = {"f32": (1, 4), "f16": (1, 2), "bf16": (1, 2), "q8_0": (32, 34), "q4_0": (32, 18), "q4_1": (32, 20),
         "q5_0": (32, 22), "q5_1": (32, 24), "iq4_nl": (32, 18)}


def pad(x: int, n: int) -> int:
    return (x + n - 1) // n * n


def row_size(t: str, n: int) -> int:
    blk, b = BLOCK[t]
    return n // blk * b


def expect(r: dict) -> dict:
    g, s = r["gguf"]["spec"], r["settings"]
    n_seq, kvu = s["n_seq"], s["kv_unified"]
    n_ctx = pad(s["ctx"], 256)
    if kvu or n_seq == 1:
        n_ctx_seq = n_ctx
    else:
        n_ctx_seq = pad(n_ctx // n_seq, 256)
        n_ctx = n_ctx_seq * n_seq
    n_batch = min(s["ctx"], s["batch"])  # taken before the 256 padding
    n_ubatch = min(n_batch, s["ubatch"])
    streams = 1 if kvu else n_seq
    kvdim = g["head_dim"] * g["n_head_kv"]
    kvs = []
    if g["swa"]:
        L = g["n_layer"]
        pat = SWA_PATTERN[g["arch"]]
        n_global = sum(1 for il in range(L) if il % pat == pat - 1)  # layer il is SWA iff il % pat < pat - 1
        n_local = L - n_global
        swa_cells = n_ctx_seq if s["swa_full"] else pad(min(n_ctx_seq, g["swa"] * (n_seq if kvu else 1) + n_ubatch), 256)
        kvs.append((n_global, n_ctx_seq))
        kvs.append((n_local, swa_cells))
    else:
        kvs.append((g["n_layer"], n_ctx_seq))
    kv = [dict(layers=l, cells=c, k=l * row_size(s["ctk"], kvdim) * c * streams / MiB,
               v=l * row_size(s["ctv"], kvdim) * c * streams / MiB) for l, c in kvs]
    return dict(n_ctx=n_ctx, n_ctx_seq=n_ctx_seq, n_batch=n_batch, n_ubatch=n_ubatch, kv=kv,
                output=g["n_vocab"] * 4 * n_seq / MiB,
                model=sum(r["gguf"]["tensor_bytes"].values()) / MiB)


def close(a: float, b: float) -> bool:
    return abs(a - b) <= 0.006


def main() -> None:
    verbose = "-v" in sys.argv
    rows = [json.loads(l) for l in OUT.read_text().splitlines() if l.strip()]
    n = bad = 0
    for r in rows:
        if not r.get("ok"):
            continue
        n += 1
        e, p, s = expect(r), r["printed"], r["settings"]
        errs = []
        c = p["context"]
        for k in ("n_ctx", "n_ctx_seq", "n_batch", "n_ubatch"):
            if c.get(k) != e[k]:
                errs.append(f"{k} {c.get(k)} != {e[k]}")
        if len(p["kv"]) != len(e["kv"]):
            errs.append(f"kv caches {len(p['kv'])} != {len(e['kv'])}")
        else:
            for pk, ek in zip(p["kv"], e["kv"]):
                if pk["cells"] != ek["cells"] or pk["layers"] != ek["layers"]:
                    errs.append(f"kv cells/layers {pk['cells']}/{pk['layers']} != {ek['cells']}/{ek['layers']}")
                if not close(pk["k"], ek["k"]) or not close(pk["v"], ek["v"]):
                    errs.append(f"kv K/V {pk['k']}/{pk['v']} != {ek['k']:.3f}/{ek['v']:.3f}")
        out = sum(p["output"].values())
        if not close(out, e["output"]):
            errs.append(f"output {out} != {e['output']:.3f}")
        if not s["repack"]:
            m = sum(p["model"].values())
            if not close(m, e["model"]):
                errs.append(f"model {m} != {e['model']:.3f}")
        if errs:
            bad += 1
            print(r["case"], "; ".join(errs))
        elif verbose:
            print("ok", r["case"])
    print(f"{n} runs checked, {bad} with mismatches")


if __name__ == "__main__":
    main()
