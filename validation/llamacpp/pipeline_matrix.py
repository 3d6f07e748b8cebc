#!/usr/bin/env python3
"""llama.cpp de3ff81's pipeline parallelism on simulated devices (issue #6):
every buffer it prints per device with all layers offloaded to 2 or 3 devices
(pipeline parallelism on: the scheduler keeps 4 copies of every graph input and
split input) and, as a control, with fewer layers (off).

    bash validation/llamacpp/build_fit.sh      # rpc-server + llama-fit-params (GGML_RPC=ON)
    cmake --build $FIT_DIR/build -j2 --target llama-completion   # the same tree
    python3 validation/llamacpp/pipeline_matrix.py                 # -> ../measurements/llamacpp_pipeline.jsonl
    python3 validation/llamacpp/pipeline_matrix.py --only dense    # print only

Devices: one rpc-server per device on 127.0.0.1 (build_fit.sh's copy, reporting
$GPUMEM_RPC_MEM_MIB MiB); they run the CPU backend, whose compute sizes
gpumem's llama.cpp rule is fitted to. Each case runs twice:
  * llama-completion -m FILE --rpc ... -c N -ngl L -ub U -fa F -p "hello world"
    -n 1 -no-cnv -fit off -v --no-warmup: the buffers as allocated at load
    (2 decimals; "real");
  * llama-fit-params ... -fitp on: the same parameters through the dry run
    (no_alloc) that --fit plans with, whole MiB per device ("dry"). The dry
    run resets the scheduler before splitting the graph, which drops the
    backend llama_context::graph_get_cb pins each layer's first "norm" to,
    so a later device receives that norm as one more split input.

Row (one JSON object per line): id, gguf {name, quant}, devices (count),
settings {ctx, ngl, ubatch, fa}, pipeline (the "pipeline parallelism enabled"
line was printed), real {model: [MiB per device..., host], kv: [...],
output: MiB, compute: [MiB per device..., host], graph: the sched_reserve
graph line}, dry {model, context, compute: [MiB per device..., host]},
command. Devices are named DEV0.. in --rpc order, the host last.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time

from rpc_devices import rpc_devices

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "validation", "measurements", "llamacpp_pipeline.jsonl")
NLC = os.environ.get("NLC_VERSION", "3.22.1")
BASE = os.environ.get("LLAMACPP_DIR", os.path.join(os.environ.get("XDG_CACHE_HOME", "/tmp"), f"llamacpp-nlc{NLC}"))
FIT_DIR = os.environ.get("FIT_DIR", BASE + "-fit")
BIN = os.path.join(FIT_DIR, "build", "bin")
GGUF_DIR = os.environ.get("GGUF_DIR", "/tmp/gpumem-gguf")
DEV_MIB = 16000  # each simulated device: large enough for every case

# name -> layers (make_gguf.py SPECS)
SHAPES = {"dense-1b": 16, "mha-tied-130m": 8, "gemma3-swa": 12, "qwen3moe-16x": 8, "moe-llama-8x": 8}


def cases():
    out = []

    def add(name, nd, ctx, ub, fa, ngl=None):
        nl = SHAPES[name]
        ngl = nl + 1 if ngl is None else ngl
        tag = "pp" if ngl > nl else f"ngl{ngl}"
        out.append(dict(id=f"{name}-{nd}dev-c{ctx}-ub{ub}-fa{fa}-{tag}", gguf=dict(name=name, quant="Q8_0"),
                        devices=nd, settings=dict(ctx=ctx, ngl=ngl, ubatch=ub, fa=fa)))

    for name, nl in SHAPES.items():
        for nd in (2, 3):
            for ctx in (4096, 32768):
                for fa in ("on", "off"):
                    add(name, nd, ctx, 512, fa)
        for fa in ("on", "off"):  # controls: the output layer on the host, pipeline parallelism off
            add(name, 2, 32768, 512, fa, ngl=nl)
    for name in ("dense-1b", "qwen3moe-16x", "gemma3-swa"):
        for ub in (256, 1024):
            for fa in ("on", "off"):
                add(name, 2, 16384, ub, fa)
    add("dense-1b", 2, 16384, 512, "on")
    add("dense-1b", 3, 16384, 512, "on", ngl=12)
    return out


PREFIX = re.compile(r"^\d+\.\d+\.\d+\.\d+ [A-Z] ")
RE_BUF = re.compile(r"^\S+: +(\S+) (model|KV|compute) buffer size = +([\d.]+) MiB")
RE_OUT = re.compile(r"^\S+: +(\S+) +output buffer size = +([\d.]+) MiB")
RE_GRAPH = re.compile(r"sched_reserve: (graph.*)$")


def dev_index(name: str, endpoints: list[str]) -> int:
    for k, ep in enumerate(endpoints):
        if ep in name:
            return k
    return len(endpoints)  # CPU, CPU_Mapped: the host


def parse_real(log: str, endpoints: list[str]) -> dict:
    n = len(endpoints) + 1
    r = dict(model=[0.0] * n, kv=[0.0] * n, output=0.0, compute=[0.0] * n, graph=None)
    key = {"model": "model", "KV": "kv", "compute": "compute"}
    for line in log.splitlines():
        line = PREFIX.sub("", line)
        if m := RE_BUF.search(line):
            r[key[m.group(2)]][dev_index(m.group(1), endpoints)] += float(m.group(3))
        elif m := RE_OUT.search(line):
            r["output"] += float(m.group(2))
        elif m := RE_GRAPH.search(line):
            r["graph"] = m.group(1)
    return r


def run_case(c: dict) -> dict:
    path = os.path.join(GGUF_DIR, f"{c['gguf']['name']}-{c['gguf']['quant']}.gguf")
    st = c["settings"]
    args = ["-c", str(st["ctx"]), "-ngl", str(st["ngl"]), "-ub", str(st["ubatch"]), "-b", str(max(2048, st["ubatch"])),
            "-fa", st["fa"]]
    with rpc_devices(BIN, [DEV_MIB] * c["devices"]) as endpoints:
        rpc = ["--rpc", ",".join(endpoints)]
        real_cmd = [os.path.join(BIN, "llama-completion"), "-m", path, *rpc, *args, "-p", "hello world", "-n", "1",
                    "-no-cnv", "-fit", "off", "-v", "--no-warmup", "-t", "2"]
        r = subprocess.run(real_cmd, capture_output=True, text=True, errors="replace", timeout=600)
        dry_cmd = [os.path.join(BIN, "llama-fit-params"), "-m", path, *rpc, *args, "-fitp", "on"]
        d = subprocess.run(dry_cmd, capture_output=True, text=True, errors="replace", timeout=600)
    log = r.stdout + r.stderr
    row = dict(c, rc=r.returncode, pipeline="pipeline parallelism enabled" in log, real=parse_real(log, endpoints))
    dry = dict(model=[], context=[], compute=[])
    for line in d.stdout.splitlines():
        f = line.split()
        if len(f) == 4 and f[1].isdigit():
            for k, v in zip(("model", "context", "compute"), f[1:]):
                dry[k].append(int(v))
    row["dry"] = dry if d.returncode == 0 else None
    row["command"] = " ".join(["llama-completion", os.path.basename(path), "--rpc", "DEV0..", *args])
    if r.returncode != 0:
        row["error"] = log[-2000:]
    return row


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="")
    ap.add_argument("--out", default=OUT)
    a = ap.parse_args()
    version = open(os.path.join(FIT_DIR, "VERSION")).read().split()[0] if os.path.exists(
        os.path.join(FIT_DIR, "VERSION")) else "?"
    rows = []
    for c in cases():
        if a.only and a.only not in c["id"]:
            continue
        t0 = time.time()
        row = run_case(c)
        row["llamacpp"] = version
        rows.append(row)
        rc = row["real"]["compute"]
        print(f"{c['id']:44s} rc={row['rc']} pp={int(row['pipeline'])} compute={rc} dry={row['dry'] and row['dry']['compute']}"
              f"  ({time.time() - t0:.1f} s)", flush=True)
    if not a.only:
        with open(a.out, "w") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
        print(f"wrote {len(rows)} rows to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
