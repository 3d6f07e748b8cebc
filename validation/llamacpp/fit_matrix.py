#!/usr/bin/env python3
"""llama.cpp's own --fit (llama-fit-params, de3ff81) on simulated devices, for
the grid gpumem's fit planner is checked against (tests/test_fit_vs_llamacpp.c).

    bash validation/llamacpp/build_fit.sh                    # llama-fit-params + rpc-server
    python3 validation/llamacpp/fit_matrix.py                # -> ../measurements/llamacpp_fit.jsonl
    python3 validation/llamacpp/fit_matrix.py --only dense   # cases whose id contains "dense"

How a device of a chosen size is simulated: one rpc-server per device on
127.0.0.1, each built by build_fit.sh so that it reports free = total =
$GPUMEM_RPC_MEM_MIB MiB for its CPU device; llama-fit-params then sees them as
GPU devices RPC0, RPC1 (in --rpc order) and runs common_fit_params on them:
the same dry-run loads (no_alloc) and the same procedure as --fit in
llama-server/llama-cli of that version. Nothing is allocated, so the
advertised sizes need not exist.

What each row holds (one JSON object per line):
  id, gguf {name, quant}: the file (make_gguf.py's shapes, /tmp/gpumem-gguf)
  devices_mib: the free memory each RPC device reports, in --rpc order
  fit_target_mib: --fit-target (the margin llama.cpp keeps per device)
  ctx: the -c given, or null (the trained context, which --fit may shrink)
  rc: llama-fit-params' exit status (1: could not fit)
  flags: what it printed on stdout, e.g. "-c 4096 -ngl 17 -ts 9,8 -ot ..."
  plan: the flags parsed: n_ctx, ngl, ts (layer counts per device, the last
        counting the output layer; [] for one device), ot: the overrides as
        [layer, what, buffer] with what = "exps" (the experts of that layer),
        "up" (gate, gate_up, down: the layer's FFN except up), "gate" (down
        only) or "ffn" (the whole FFN), buffer "CPU" or "DEV<k>" (the k-th --rpc device, 0-based).
  log: the lines of common_params_fit_impl this run printed (projected use,
       context reduction, per-device layer counts and MiB used/free).
  breakdown: the first dry run's memory breakdown (default parameters: every
       layer, -ts by free memory, the trained or given context), MiB as
       llama.cpp prints them: [device, model, context, compute] per device
       and the host.
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
OUT = os.path.join(ROOT, "validation", "measurements", "llamacpp_fit.jsonl")
NLC = os.environ.get("NLC_VERSION", "3.22.1")
BASE = os.environ.get("LLAMACPP_DIR", os.path.join(os.environ.get("XDG_CACHE_HOME", "/tmp"), f"llamacpp-nlc{NLC}"))
FIT_DIR = os.environ.get("FIT_DIR", BASE + "-fit")
BIN = os.path.join(FIT_DIR, "build", "bin")
GGUF_DIR = os.environ.get("GGUF_DIR", "/tmp/gpumem-gguf")


def case(id, name, quant, devices, ctx=None, target=256):
    return dict(id=id, gguf=dict(name=name, quant=quant), devices_mib=devices, ctx=ctx,
                fit_target_mib=target)


# Device sizes are chosen per model from its buffers (llama.cpp's own
# projections): every layer at the trained context fits; only a shorter
# context fits; only fewer layers fit; (MoE) only with experts on the host.
CASES = [
    # dense, 16 layers (F16: 1981 MiB of weights, KV 64 MiB per 2048 cells)
    case("dense-f16-full", "dense-1b", "F16", [3600]),
    case("dense-f16-ctx", "dense-1b", "F16", [3000]),
    case("dense-f16-ctx-min", "dense-1b", "F16", [2500]),
    case("dense-f16-layers", "dense-1b", "F16", [2000]),
    case("dense-f16-layers-small", "dense-1b", "F16", [1000]),
    case("dense-f16-c8192-layers", "dense-1b", "F16", [2200], ctx=8192),
    case("dense-f16-c16384-full", "dense-1b", "F16", [3000], ctx=16384),
    case("dense-f16-2dev-full", "dense-1b", "F16", [2000, 2000]),
    case("dense-f16-2dev-ctx", "dense-1b", "F16", [1700, 1700]),
    case("dense-f16-2dev-layers", "dense-1b", "F16", [1200, 1000]),
    case("dense-f16-2dev-uneven", "dense-1b", "F16", [2400, 800], ctx=8192),
    case("dense-f16-2dev-c16384", "dense-1b", "F16", [1500, 1500], ctx=16384),
    case("dense-q4km-ctx", "dense-1b", "Q4_K_M", [1500]),
    case("dense-q4km-layers-c8192", "dense-1b", "Q4_K_M", [700], ctx=8192),
    case("dense-q4km-2dev", "dense-1b", "Q4_K_M", [800, 700]),
    # dense, 12 layers, 151936-token vocabulary (a big output layer)
    case("bigvocab-f16-ctx", "gqa-bigvocab-500m", "F16", [1400]),
    case("bigvocab-f16-layers", "gqa-bigvocab-500m", "F16", [900]),
    case("bigvocab-f16-2dev", "gqa-bigvocab-500m", "F16", [700, 600], ctx=8192),
    # sliding window (gemma3, 12 layers)
    case("gemma3-f16-ctx", "gemma3-swa", "F16", [1050]),
    case("gemma3-f16-layers", "gemma3-swa", "F16", [700], ctx=8192),
    # MoE: qwen3moe 8 layers x 16 experts (top 4), llama 8 layers x 8 experts (top 2)
    case("qwen3moe-f16-full", "qwen3moe-16x", "F16", [1500]),
    case("qwen3moe-f16-ctx", "qwen3moe-16x", "F16", [1100]),
    case("qwen3moe-f16-experts", "qwen3moe-16x", "F16", [750]),
    case("qwen3moe-f16-experts-c8192", "qwen3moe-16x", "F16", [650], ctx=8192),
    case("qwen3moe-f16-layers", "qwen3moe-16x", "F16", [420]),
    case("qwen3moe-f16-2dev-full", "qwen3moe-16x", "F16", [800, 800], ctx=16384),
    case("qwen3moe-f16-2dev-experts", "qwen3moe-16x", "F16", [500, 500]),
    case("qwen3moe-q8-experts", "qwen3moe-16x", "Q8_0", [520]),
    case("moe8x-f16-ctx", "moe-llama-8x", "F16", [1200]),
    case("moe8x-f16-experts", "moe-llama-8x", "F16", [700]),
    case("moe8x-f16-experts-c16384", "moe-llama-8x", "F16", [800], ctx=16384),
    case("moe8x-f16-2dev-experts", "moe-llama-8x", "F16", [450, 450], ctx=8192),
    # more devices and quants: the split layer (step 4's last try) to the next device or the host
    case("moe8x-q8-experts", "moe-llama-8x", "Q8_0", [450]),
    case("moe8x-f16-2dev-c16384", "moe-llama-8x", "F16", [600, 500], ctx=16384),
    case("qwen3moe-f16-2dev-uneven", "qwen3moe-16x", "F16", [900, 300]),
    case("qwen3moe-f16-3dev-ctx", "qwen3moe-16x", "F16", [700, 600, 500]),
    case("qwen3moe-f16-3dev-c8192", "qwen3moe-16x", "F16", [600, 500, 400], ctx=8192),
    case("moe8x-f16-3dev-c8192", "moe-llama-8x", "F16", [500, 400, 400], ctx=8192),
    case("moe8x-q8-3dev", "moe-llama-8x", "Q8_0", [400, 400, 300]),
]

# The lines common_params_fit_impl prints (LOG_TRC), kept in the row.
FIT_LINE = re.compile(r"(common_params_fit_impl|common_fit_params): (.*)$")
BREAKDOWN = re.compile(r"common_memory_breakdown_print: \|\s+- (\S+).*?(\d+) =\s+(\d+) \+\s+(\d+) \+\s+(\d+)\)? ")
OT_WHAT = {
    r"ffn_(up|down|gate_up|gate)_(ch|)exps": "exps",
    r"ffn_(gate|gate_up|down).*": "up",
    r"ffn_down.*": "gate",
    r"ffn_(gate|up|gate_up|down).*": "ffn",
}


def parse_flags(flags: str) -> dict:
    plan = dict(n_ctx=None, ngl=None, ts=[], ot=[])
    m = re.search(r"-c (\d+)", flags)
    plan["n_ctx"] = int(m.group(1)) if m else None
    m = re.search(r"-ngl (-?\d+)", flags)
    plan["ngl"] = int(m.group(1)) if m else None
    m = re.search(r"-ts ([\d,]+)", flags)
    plan["ts"] = [int(x) for x in m.group(1).split(",")] if m else []
    m = re.search(r'-ot "([^"]*)"', flags)
    if m:
        for item in m.group(1).split(","):
            pat, buft = item.rsplit("=", 1)
            pm = re.fullmatch(r"blk\\\.(\d+)\\\.(.*)", pat)
            if not pm or pm.group(2) not in OT_WHAT:
                raise ValueError(f"unexpected override {item!r}")
            # a device's buffer type prints as RPC<server device>[host:port]: name it by --rpc position
            bm = re.fullmatch(r"RPC\d+\[(DEV\d+)\]", buft)
            if bm:
                buft = bm.group(1)
            plan["ot"].append([int(pm.group(1)), OT_WHAT[pm.group(2)], buft])
    return plan


def run_case(c: dict) -> dict:
    path = os.path.join(GGUF_DIR, f"{c['gguf']['name']}-{c['gguf']['quant']}.gguf")
    with rpc_devices(BIN, c["devices_mib"]) as endpoints:
        cmd = [os.path.join(BIN, "llama-fit-params"), "-m", path, "--rpc", ",".join(endpoints),
               "-fitt", str(c["fit_target_mib"]), "-lv", "4"]
        if c["ctx"]:
            cmd += ["-c", str(c["ctx"])]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    out, err = r.stdout, r.stderr
    for k, ep in enumerate(endpoints):  # ports change from run to run: name devices by --rpc position
        out, err = out.replace(ep, f"DEV{k}"), err.replace(ep, f"DEV{k}")
    flags = out.strip().splitlines()[-1] if out.strip() else ""
    log = [m.group(2).rstrip() for line in err.splitlines() if (m := FIT_LINE.search(line))]
    breakdown, seen = [], set()
    for line in err.splitlines():
        m = BREAKDOWN.search(line)
        if m and m.group(1) not in seen:  # the first table only
            seen.add(m.group(1))
            breakdown.append([m.group(1), int(m.group(3)), int(m.group(4)), int(m.group(5))])
    row = dict(c, rc=r.returncode, breakdown=breakdown, flags=flags, plan=parse_flags(flags) if r.returncode == 0 else None,
               log=log, command=" ".join(["llama-fit-params"] + cmd[1:]).replace(GGUF_DIR + "/", ""))
    return row


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="")
    ap.add_argument("--out", default=OUT)
    a = ap.parse_args()
    version = open(os.path.join(FIT_DIR, "VERSION")).read().split()[0] if os.path.exists(
        os.path.join(FIT_DIR, "VERSION")) else "?"
    rows = []
    for c in CASES:
        if a.only and a.only not in c["id"]:
            continue
        t0 = time.time()
        row = run_case(c)
        row["llamacpp"] = version
        rows.append(row)
        print(f"{c['id']:32s} rc={row['rc']} {row['flags']}  ({time.time() - t0:.1f} s)", flush=True)
    if not a.only:
        with open(a.out, "w") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
        print(f"wrote {len(rows)} rows to {a.out}")
    else:
        for row in rows:
            print("\n".join("  " + l for l in row["log"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
