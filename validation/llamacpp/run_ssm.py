#!/usr/bin/env python3
"""Measure llama.cpp de3ff81's buffers for the recurrent (Mamba-2) and hybrid
GGUFs of make_gguf.py --ssm: model, output, KV (attention layers of a
hybrid), the recurrent state (RS buffer, R and S sizes) and compute, one
JSON object per run appended to validation/measurements/llamacpp_ssm.jsonl
(resumable: a case already there is skipped).

    /work/main/validation/.venv/bin/python validation/llamacpp/make_gguf.py --ssm
    /work/main/validation/.venv/bin/python validation/llamacpp/run_ssm.py

With --hybrid: the GGUFs of make_hybrid.py into
validation/measurements/llamacpp_hybrid.jsonl (jamba's into
llamacpp_jamba.jsonl: gpumem refuses jamba, these runs are why), with
quantised-cache and long-context cases.

Rows have run_matrix.py's format, plus printed.rs: {"buffers": {name: MiB},
"size", "cells", "layers", "n_seq_max", "rs_seq", "r_type", "r", "s_type", "s"}
from the llama_memory_recurrent lines.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run_matrix as rm  # noqa: E402
from make_gguf import SSM_SPECS  # noqa: E402
from make_hybrid import HYBRID_SPECS  # noqa: E402

MEAS = rm.REPO / "validation" / "measurements"
RE_RSBUF = re.compile(r"^llama_memory_recurrent: +(\S+) RS buffer size = +([\d.]+) MiB")
RE_RSSIZE = re.compile(r"^llama_memory_recurrent: size = +([\d.]+) MiB \( *(\d+) cells, +(\d+) layers, +(\d+) seqs +(\d+) rs_seq\), "
                       r"R \((\w+)\): +([\d.]+) MiB, S \((\w+)\): +([\d.]+) MiB")


def parse_rs(log: str) -> dict | None:
    rs: dict = {"buffers": {}}
    for orig in log.splitlines():
        line = rm.PREFIX_RE.sub("", orig.rstrip())
        if m := RE_RSBUF.search(line):
            rs["buffers"][m[1]] = float(m[2])
        elif m := RE_RSSIZE.search(line):
            rs.update(size=float(m[1]), cells=int(m[2]), layers=int(m[3]), n_seq_max=int(m[4]), rs_seq=int(m[5]),
                      r_type=m[6], r=float(m[7]), s_type=m[8], s=float(m[9]))
    return rs if "size" in rs else None


def cases(hybrid: bool) -> list[dict]:
    S = rm.S
    out = []
    for ctx in (4096, 32768):
        for fa in ("on", "off"):
            for np_ in (1, 4):
                out.append(S(ctx=ctx, fa=fa, n_seq=np_))
    for b, ub in ((512, 128), (2048, 1024), (4096, 4096), (2048, 64)):
        out.append(S(ctx=8192, batch=b, ubatch=ub, fa="on"))
    out.append(S(ctx=8192, n_seq=3, fa="on"))
    out.append(S(tool="llama-batched-bench", ctx=8192, n_seq=4, kvu=True, fa="on"))
    if hybrid:
        out.append(S(ctx=8192, fa="on", ctk="q8_0", ctv="q8_0"))
        out.append(S(ctx=8192, fa="on", ctk="q4_0", ctv="f16", n_seq=2))
        out.append(S(ctx=16384, fa="off", ctk="q8_0", ctv="f16", batch=1024, ubatch=256))
        # past the logits phase: the attention phase of a long context
        out.append(S(ctx=65536, fa="on"))
        out.append(S(ctx=131072, fa="on"))
        out.append(S(ctx=131072, fa="on", ubatch=256, n_seq=2))
        out.append(S(ctx=8192, fa="on", batch=2048, ubatch=2048))
        out.append(S(ctx=16384, fa="on"))
        out.append(S(ctx=2048, fa="on", batch=2048, ubatch=1024))
        out.append(S(ctx=8192, fa="on"))
    return out


def main() -> None:
    gdir = rm.GGUF_DIR
    args = [a for a in sys.argv[1:] if a != "--hybrid"]
    hybrid = len(args) < len(sys.argv) - 1
    outs = ["llamacpp_hybrid.jsonl", "llamacpp_jamba.jsonl"] if hybrid else ["llamacpp_ssm.jsonl"]
    done = set()
    for o in outs:
        if (MEAS / o).exists():
            done |= {json.loads(l)["case"] for l in (MEAS / o).read_text().splitlines() if l.strip()}
    only = set(args[0].split(",")) if args else None
    for spec in (HYBRID_SPECS if hybrid else SSM_SPECS):
        if only and spec["name"] not in only:
            continue
        out = MEAS / (outs[1] if spec["arch"] == "jamba" else outs[0])
        with out.open("a") as fo:
            f = gdir / f"{spec['name']}-F16.gguf"
            for st in cases(hybrid):
                cid = rm.case_id(f.stem, st)
                if cid in done:
                    continue
                cmd = rm.build_cmd(f, st)
                r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
                p, raw = rm.parse(r.stdout)
                p["rs"] = parse_rs(r.stdout)
                raw += [l for l in r.stdout.splitlines() if "llama_memory_recurrent" in l]
                row = {"case": cid, "llama_cpp": rm.version_info(),
                       "gguf": {"name": spec["name"], "quant": "F16", "file": f.name, "spec": spec},
                       "settings": st, "printed": p, "raw": raw, "ok": r.returncode == 0,
                       "cmd": " ".join(os.path.basename(c) if i == 0 else c for i, c in enumerate(cmd))}
                if r.returncode != 0:
                    row["error"] = r.stdout[-2000:]
                fo.write(json.dumps(row) + "\n")
                fo.flush()
                print(cid, "ok" if row["ok"] else "FAILED", p.get("compute"), flush=True)


if __name__ == "__main__":
    main()
