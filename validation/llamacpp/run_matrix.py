#!/usr/bin/env python3
"""Run the real llama.cpp (CPU build from build.sh) over a matrix of settings
for every synthetic GGUF from make_gguf.py, parse every buffer-size line it
prints, and append one JSON object per run to
validation/measurements/llamacpp.jsonl. Resumable: a case already present in
the output file is skipped.

    validation/.venv/bin/python validation/llamacpp/run_matrix.py            # everything
    validation/.venv/bin/python validation/llamacpp/run_matrix.py --dry-run  # list cases
    validation/.venv/bin/python validation/llamacpp/run_matrix.py --only dense-1b-F16 --limit 5

Drivers:
  * llama-completion: `-p "hello world" -n 1 -no-cnv -fit off -v --no-warmup`;
    n_seq_max = -np, KV never unified (this tool has no -kvu option).
  * llama-batched-bench: `-npp 1 -ntg 1 -npl N [-kvu]`; n_seq_max = max(npl);
    used for the unified-KV cases (and a few cross-checks).
Defaults used everywhere unless the case says otherwise: weight repacking off
(-nr, so all weights sit in one model buffer, as on a GPU), mmap load, -t 2.

Row format (one JSON object per line):
  case       stable id (gguf file stem + settings)
  llama_cpp  {"commit", "describe", "version", "binary"}
  gguf       {"name", "file", "file_type", "file_size", "tensor_types": {type: count},
              "tensor_bytes": {type: bytes}, "n_tensors", "spec": {arch, n_layer, n_embd, n_head,
              n_head_kv, head_dim, n_ff, n_vocab, experts, experts_used, tied, swa, n_ctx_train}}
  settings   {"tool", "ctx", "batch", "ubatch", "n_seq", "kv_unified", "flash_attn",
              "ctk", "ctv", "threads", "repack", "load_mode", "swa_full"}
  printed    buffers in MiB as printed (floats):
               model:   {buffer_name: MiB}            e.g. {"CPU_Mapped": 2107.02}
               output:  {buffer_name: MiB}
               kv:      list, one per llama_kv_cache constructed (ISWA -> 2, first non-SWA):
                        {"buffers": {name: MiB}, "size": MiB, "cells", "layers", "n_seq_max",
                         "n_stream", "k_type", "k", "v_type", "v", "role": "base"|"non-SWA"|"SWA"}
               kv_total, k_total, v_total: sums over kv
               compute: {buffer_name: MiB}; compute_precise: {buffer_name: MiB (4 decimals, from
                        the destructor's debug line)}
               context: n_seq_max, n_ctx, n_ctx_seq, n_batch, n_ubatch, flash_attn, kv_unified,
                        n_outputs_max, ...  (ints/strings as printed by llama_context)
               swa_cells: {"non-SWA": n, "SWA": n} when printed
               graph: {"nodes", "splits", ...} raw strings
               flash_attn_resolved: "enabled"/"not supported" when -fa auto
               file_size_mib, bpw: from print_info
  raw        the matched log lines verbatim
  ok / error rc and a tail of the log when the run failed (no buffer data)
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from make_gguf import SPECS  # noqa: E402

REPO = HERE.parent.parent
OUT_DEFAULT = REPO / "validation" / "measurements" / "llamacpp.jsonl"
LLAMACPP_DIR = Path(os.environ.get("LLAMACPP_DIR", os.path.join(os.environ.get("XDG_CACHE_HOME", "/tmp"), "llamacpp-nlc3.22.1")))
GGUF_DIR = Path(os.environ.get("GGUF_DIR", "/tmp/gpumem-gguf"))

RAW_PATTERNS = [
    r"model buffer size", r"output buffer size", r"KV buffer size", r"llama_kv_cache: size = ",
    r"compute buffer size", r"creating (non-SWA|    SWA) KV cache", r"^llama_context: n_", r"^llama_context: (causal_attn|flash_attn|kv_unified)",
    r"graph(?: \(pp[^)]*\))?: nodes", r"Flash Attention", r"print_info: file (type|size)", r"n_ctx is not divisible",
    r"full-size SWA", r"padding V cache", r"print_info: n_swa", r"print_info: n_ctx_train", r"error|failed",
    r"reserving \.\.\.", r"reserve took", r"build: ", r"system_info", r"memory_breakdown",
    r"worst-case: n_tokens", r"graph_reserve: reserving a graph",
]
PREFIX_RE = re.compile(r"^\d+\.\d+\.\d+\.\d+ [A-Z] ")
RAW_RE = re.compile("|".join(f"(?:{p})" for p in RAW_PATTERNS))

RE_MODEL = re.compile(r"^\S+: +(\S+) model buffer size = +([\d.]+) MiB")
RE_OUTPUT = re.compile(r"^\S+: +(\S+) +output buffer size = +([\d.]+) MiB")
RE_KVBUF = re.compile(r"^llama_kv_cache: +(\S+) KV buffer size = +([\d.]+) MiB")
RE_KVSIZE = re.compile(r"^llama_kv_cache: size = +([\d.]+) MiB \( *(\d+) cells, +(\d+) layers, +(\d+)/(\d+) seqs\), "
                       r"K \((\w+)\): +([\d.]+) MiB, V \((\w+)\): +([\d.]+) MiB")
RE_SWA = re.compile(r"creating +(non-SWA|SWA) KV cache, size = (\d+) cells")
RE_COMPUTE = re.compile(r"^\S+: +(\S+) compute buffer size = +([\d.]+) MiB")
RE_COMPUTE_PRECISE = re.compile(r"^\S+: +(\S+) compute buffer size (?:is|of) +([\d.]+) MiB")
RE_CTX = re.compile(r"^llama_context: (\w+) += (.+)$")
RE_GRAPH = re.compile(r"graph(?: \(pp bs=(\d+), tg bs=(\d+)\))?: nodes = ([^,]+), splits = ([^,]+), input objects = ([^,]+), input tensors = (.+)$")
RE_FA = re.compile(r"Flash Attention (enabled|not supported)")
RE_FSIZE = re.compile(r"print_info: file size += ([\d.]+) MiB \(([\d.]+) BPW\)")


def binpath(tool: str) -> Path:
    return LLAMACPP_DIR / "build" / "bin" / tool


def version_info() -> dict:
    d = {}
    vf = LLAMACPP_DIR / "VERSION"
    if vf.exists():
        for line in vf.read_text().splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                d[k] = v
    return {"commit": d.get("commit"), "describe": d.get("describe"), "version": d.get("version"),
            "source": "node-llama-cpp@3.22.1 llama/gitRelease.bundle"}


_GGUF_CACHE: dict[str, dict] = {}


def gguf_info(path: Path) -> dict:
    key = str(path)
    if key in _GGUF_CACHE:
        return _GGUF_CACHE[key]
    import gguf
    r = gguf.GGUFReader(str(path))
    hist: dict[str, int] = {}
    tbytes: dict[str, int] = {}
    for t in r.tensors:
        n = t.tensor_type.name
        hist[n] = hist.get(n, 0) + 1
        tbytes[n] = tbytes.get(n, 0) + int(t.n_bytes)
    ft = r.fields.get("general.file_type")
    ftype = None
    if ft is not None:
        v = int(ft.parts[ft.data[0]][0])
        try:
            ftype = gguf.LlamaFileType(v).name
        except ValueError:
            ftype = v
    stem = path.stem
    name, qt = stem.rsplit("-", 1)
    if name.endswith("-Q4_K"):  # Q4_K_M splits badly
        name, qt = name[:-5], "Q4_K_" + qt
    spec = next(s for s in SPECS if s["name"] == name)
    info = {"name": name, "file": path.name, "quant": qt, "file_type": ftype, "file_size": path.stat().st_size,
            "n_tensors": len(r.tensors), "tensor_types": hist, "tensor_bytes": tbytes,
            "spec": {k: v for k, v in spec.items() if k != "name"}}
    _GGUF_CACHE[key] = info
    return info


def build_cmd(gguf_path: Path, st: dict) -> list[str]:
    common = ["-m", str(gguf_path), "-c", str(st["ctx"]), "-b", str(st["batch"]), "-ub", str(st["ubatch"]),
              "-fa", st["flash_attn"], "-ctk", st["ctk"], "-ctv", st["ctv"], "-t", str(st["threads"]), "-v"]
    if not st["repack"]:
        common.append("-nr")
    if st["load_mode"] != "auto":
        common += ["-lm", st["load_mode"]]
    if st["swa_full"]:
        common.append("--swa-full")
    if st["tool"] == "llama-completion":
        assert not st["kv_unified"]
        return [str(binpath("llama-completion")), *common, "-p", "hello world", "-n", "1", "-no-cnv",
                "-fit", "off", "--no-warmup", "-np", str(st["n_seq"]), "--temp", "0"]
    if st["tool"] == "llama-batched-bench":
        cmd = [str(binpath("llama-batched-bench")), *common, "-npp", "1", "-ntg", "1", "-npl", str(st["n_seq"])]
        cmd.append("-kvu" if st["kv_unified"] else "-no-kvu")
        return cmd
    raise ValueError(st["tool"])


def parse(log: str) -> tuple[dict, list[str]]:
    p: dict = {"model": {}, "output": {}, "kv": [], "compute": {}, "compute_precise": {}, "context": {}}
    raw: list[str] = []
    pending_role = None
    cur_kv: dict | None = None
    for orig in log.splitlines():
        orig = orig.rstrip()
        # this version prefixes every log line with "<time> <level> ", e.g. "0.00.240.817 I llama_kv_cache: ..."
        line = PREFIX_RE.sub("", orig)
        if RAW_RE.search(line) and not line.startswith("llama_model_loader: - "):
            raw.append(orig)
        if "memory breakdown" in line or line.startswith("common_memory_breakdown_print: |"):
            p.setdefault("memory_breakdown", []).append(line.split(": ", 1)[1])
        if m := RE_MODEL.search(line):
            p["model"][m[1]] = p["model"].get(m[1], 0.0) + float(m[2])
        elif m := RE_OUTPUT.search(line):
            p["output"][m[1]] = float(m[2])
        elif m := RE_SWA.search(line):
            p.setdefault("swa_cells", {})[m[1]] = int(m[2])
            pending_role = m[1]
        elif m := RE_KVBUF.search(line):
            if cur_kv is None:
                cur_kv = {"buffers": {}, "role": pending_role or "base"}
            cur_kv["buffers"][m[1]] = float(m[2])
        elif m := RE_KVSIZE.search(line):
            if cur_kv is None:
                cur_kv = {"buffers": {}, "role": pending_role or "base"}
            cur_kv.update(size=float(m[1]), cells=int(m[2]), layers=int(m[3]), n_seq_max=int(m[4]),
                          n_stream=int(m[5]), k_type=m[6], k=float(m[7]), v_type=m[8], v=float(m[9]))
            p["kv"].append(cur_kv)
            cur_kv = None
            pending_role = None
        elif m := RE_COMPUTE.search(line):
            p["compute"][m[1]] = float(m[2])
        elif m := RE_COMPUTE_PRECISE.search(line):
            p["compute_precise"][m[1]] = float(m[2])
        elif m := RE_CTX.search(line):
            k, v = m[1], m[2].strip()
            if k.startswith("n_") or k in ("causal_attn", "flash_attn", "kv_unified", "freq_base", "freq_scale"):
                if k not in p["context"]:
                    p["context"][k] = int(v) if re.fullmatch(r"\d+", v) else v
        elif m := RE_GRAPH.search(line):
            p["graph"] = {"pp_bs": m[1], "tg_bs": m[2], "nodes": m[3], "splits": m[4], "input_objects": m[5], "input_tensors": m[6]}
        elif m := RE_FA.search(line):
            p["flash_attn_resolved"] = m[1]
        elif m := RE_FSIZE.search(line):
            p["file_size_mib"] = float(m[1])
            p["bpw"] = float(m[2])
    if p["kv"]:
        p["kv_total"] = round(sum(sum(k["buffers"].values()) for k in p["kv"]), 2)
        p["k_total"] = round(sum(k.get("k", 0.0) for k in p["kv"]), 2)
        p["v_total"] = round(sum(k.get("v", 0.0) for k in p["kv"]), 2)
    return p, raw


def case_id(gguf_stem: str, st: dict) -> str:
    keys = ["tool", "ctx", "batch", "ubatch", "n_seq", "kv_unified", "flash_attn", "ctk", "ctv", "repack", "load_mode", "swa_full"]
    return gguf_stem + "|" + ",".join(f"{k}={st[k]}" for k in keys)


def S(tool="llama-completion", ctx=4096, batch=2048, ubatch=512, n_seq=1, kvu=False, fa="on",
      ctk="f16", ctv="f16", repack=False, load_mode="auto", swa_full=False) -> dict:
    return dict(tool=tool, ctx=ctx, batch=batch, ubatch=ubatch, n_seq=n_seq, kv_unified=kvu, flash_attn=fa,
                ctk=ctk, ctv=ctv, threads=2, repack=repack, load_mode=load_mode, swa_full=swa_full)


def cases_for(spec: dict, quant: str) -> list[dict]:
    out: list[dict] = []
    if quant == "F16":
        for ctx in (512, 2048, 8192, 32768):
            for fa in ("on", "off"):
                out.append(S(ctx=ctx, fa=fa))
        for b, ub in ((512, 128), (512, 512), (2048, 256), (2048, 1024), (4096, 4096), (256, 256), (2048, 64)):
            for fa in ("on", "off"):
                out.append(S(ctx=4096, batch=b, ubatch=ub, fa=fa))
        for ctx in (1000, 3000, 5000, 300):
            out.append(S(ctx=ctx, fa="on"))
        for np_ in (2, 4):
            for fa in ("on", "off"):
                out.append(S(ctx=8192, n_seq=np_, fa=fa))
        out.append(S(ctx=8192, n_seq=3, fa="on"))
        out.append(S(ctx=1000, n_seq=3, fa="on"))
        for np_ in (1, 2, 4):
            for kvu in (True, False):
                out.append(S(tool="llama-batched-bench", ctx=8192, n_seq=np_, kvu=kvu, fa="on"))
        out.append(S(tool="llama-batched-bench", ctx=8192, n_seq=4, kvu=True, fa="off"))
        out.append(S(tool="llama-batched-bench", ctx=8192, n_seq=4, kvu=True, fa="on", ubatch=128))
        for ctk, ctv, fa in (("q8_0", "q8_0", "on"), ("q4_0", "q4_0", "on"), ("q8_0", "f16", "on"),
                             ("q8_0", "f16", "off"), ("bf16", "bf16", "on"), ("f32", "f32", "off"), ("q4_0", "q8_0", "on")):
            out.append(S(ctx=8192, ctk=ctk, ctv=ctv, fa=fa))
        out.append(S(ctx=8192, fa="auto"))
        out.append(S(ctx=4096, load_mode="none"))
        out.append(S(ctx=4096, repack=True))
        if spec["swa"]:
            out.append(S(ctx=8192, swa_full=True))
            out.append(S(ctx=32768, swa_full=True, fa="on"))
            out.append(S(ctx=8192, ubatch=2048, fa="on"))
            out.append(S(tool="llama-batched-bench", ctx=32768, n_seq=4, kvu=True, fa="on"))
            out.append(S(tool="llama-batched-bench", ctx=32768, n_seq=4, kvu=False, fa="on"))
    else:
        for ctx in (2048, 8192):
            for fa in ("on", "off"):
                out.append(S(ctx=ctx, fa=fa))
        out.append(S(ctx=4096, batch=512, ubatch=128, fa="on"))
        out.append(S(ctx=4096, load_mode="none"))
        out.append(S(ctx=4096, repack=True))
    return out


def all_cases(only: set[str] | None) -> list[tuple[Path, dict]]:
    res = []
    for spec in SPECS:
        for q in ("F16", "Q8_0", "Q4_K_M", "IQ4_XS"):
            f = GGUF_DIR / f"{spec['name']}-{q}.gguf"
            if only and f.stem not in only and spec["name"] not in only:
                continue
            if not f.exists():
                print(f"missing {f}, skipping", file=sys.stderr)
                continue
            for st in cases_for(spec, q):
                res.append((f, st))
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(OUT_DEFAULT))
    ap.add_argument("--only", default="", help="comma-separated gguf stems or spec names")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--dry-run", action="store_true")
    ap.add_argument("--timeout", type=int, default=600)
    a = ap.parse_args()
    out = Path(a.out)
    done = set()
    if out.exists():
        for line in out.read_text().splitlines():
            try:
                done.add(json.loads(line)["case"])
            except Exception:
                pass
    only = set(a.only.split(",")) if a.only else None
    todo = [(f, st) for f, st in all_cases(only) if case_id(f.stem, st) not in done]
    print(f"{len(done)} done, {len(todo)} to run", flush=True)
    if a.dry_run:
        for f, st in todo:
            print(case_id(f.stem, st))
        return
    ver = version_info()
    n = 0
    for f, st in todo:
        if a.limit and n >= a.limit:
            break
        cid = case_id(f.stem, st)
        cmd = build_cmd(f, st)
        t0 = time.time()
        try:
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               errors="replace", timeout=a.timeout, env={**os.environ, "LLAMA_LOG_COLORS": "0"})
            log, rc = r.stdout, r.returncode
        except subprocess.TimeoutExpired as e:
            log, rc = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or ""), -1
        dt = time.time() - t0
        printed, raw = parse(log)
        ok = bool(printed["compute"]) and bool(printed["kv"] or printed["model"])
        row = {"case": cid, "llama_cpp": {**ver, "binary": st["tool"]}, "gguf": gguf_info(f), "settings": st,
               "printed": printed, "raw": raw, "ok": ok, "rc": rc, "seconds": round(dt, 2),
               "cmd": " ".join(os.path.basename(c) if i == 0 else c for i, c in enumerate(cmd))}
        if not ok:
            row["error_tail"] = log[-2000:]
        with out.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
        n += 1
        kv = printed.get("kv_total")
        print(f"[{n}/{len(todo)}] {cid} ok={ok} rc={rc} {dt:.1f}s model={printed['model']} kv={kv} "
              f"out={printed['output']} compute={printed['compute']}", flush=True)


if __name__ == "__main__":
    main()
