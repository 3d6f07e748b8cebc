#!/usr/bin/env python3
"""Measure llama.cpp de3ff81's buffers for the embedding / reranker GGUFs of
make_gguf.py --embed with the real `llama-embedding` (CPU build): model,
output, KV (none expected: bert-like models get no memory), compute. One JSON
object per run appended to validation/measurements/llamacpp_embed.jsonl
(resumable: a case already there is skipped).

    cmake --build $LLAMACPP_DIR/build -j2 --target llama-embedding
    /work/main/validation/.venv/bin/python validation/llamacpp/make_gguf.py --embed
    /work/main/validation/.venv/bin/python validation/llamacpp/run_embed.py

Rows have run_matrix.py's format; settings add "pooling" (model default when
"default") and "n_seq" is llama-embedding's -np (1 means: llama-embedding
switches to a unified cache with n_seq_max = LLAMA_MAX_SEQ = 256). The
prompt is 48 short lines (-f, PROMPT_TEXT), so several batches are
encoded and any growth of the output buffer would print a second line
(printed.output_lines keeps every output line in order; printed.batches the
(tokens, sequences) of each batch encoded, the 48 lines being 1958 tokens with
the bert tokenizer). DECODER_SPECS: decoder GGUFs run by llama-embedding with
--pooling (a decoder used as an embedder, e.g. Qwen3-Embedding).
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
from make_gguf import EMBED_SPECS  # noqa: E402

OUT = rm.REPO / "validation" / "measurements" / "llamacpp_embed.jsonl"
RE_OUT = re.compile(r"output buffer size = +([\d.]+) MiB")
RE_BATCH = re.compile(r"batch_decode: n_tokens = (\d+), n_seq = (\d+)")
# Decoder GGUFs of make_gguf.py (causal, no pooling_type key) run as embedders:
# what `--embedding` / `--pooling` on a decoder does (KV cache kept).
DECODER_SPECS: list[dict] = [dict(name="mha-tied-130m", arch="llama", decoder=True, pooling=None)]
PROMPT = Path(os.environ.get("GGUF_DIR", "/tmp/gpumem-gguf")) / "embed-prompt.txt"
# 48 short lines (~40 tokens each with the byte-level tokenizer): every line fits
# bert-small's 512 positions, several batches are encoded
PROMPT_TEXT = "".join(f"line {i}: the weather is fine and the work goes on\n" for i in range(48))


def E(ctx=512, batch=2048, ubatch=512, n_seq=1, pooling="default", fa="off") -> dict:
    return dict(tool="llama-embedding", ctx=ctx, batch=batch, ubatch=ubatch, n_seq=n_seq, pooling=pooling,
                flash_attn=fa, threads=2)


def cases(spec: dict) -> list[dict]:
    if spec.get("decoder"):
        return [E(ctx=4096, pooling="mean"), E(ctx=4096, pooling="mean", fa="on"), E(ctx=4096, pooling="last"),
                E(ctx=4096, pooling="none"), E(ctx=1024, batch=512, pooling="mean"),
                E(ctx=4096, batch=1024, ubatch=256, n_seq=4, pooling="mean")]
    out = [E(ctx=512), E(ctx=512, fa="on"), E(ctx=2048 if spec["n_ctx_train"] >= 2048 else 512, batch=512),
           E(ctx=512, batch=4096, ubatch=4096), E(ctx=1024, n_seq=4), E(ctx=512, n_seq=8, fa="on"),
           E(ctx=256, batch=256, n_seq=16)]
    if spec["pooling"] != 4:
        out += [E(ctx=512, pooling="none"), E(ctx=512, pooling="cls"), E(ctx=512, pooling="last"),
                E(ctx=512, pooling="none", n_seq=4)]
    return out


def build_cmd(f: Path, st: dict) -> list[str]:
    cmd = [str(rm.binpath("llama-embedding")), "-m", str(f), "-f", str(PROMPT), "-c", str(st["ctx"]),
           "-b", str(st["batch"]), "-ub", str(st["ubatch"]), "-np", str(st["n_seq"]), "-fa", st["flash_attn"],
           "-t", str(st["threads"]), "-nr", "-fit", "off", "-v", "--embd-output-format", "array"]
    if st["pooling"] != "default":
        cmd += ["--pooling", st["pooling"]]
    return cmd


def main() -> None:
    PROMPT.parent.mkdir(parents=True, exist_ok=True)
    PROMPT.write_text(PROMPT_TEXT)
    done = set()
    if OUT.exists():
        done = {json.loads(l)["case"] for l in OUT.read_text().splitlines() if l.strip()}
    with OUT.open("a") as fo:
        for spec in EMBED_SPECS + DECODER_SPECS:
            f = rm.GGUF_DIR / f"{spec['name']}-F16.gguf"
            for st in cases(spec):
                cid = f.stem + "|" + ",".join(f"{k}={st[k]}" for k in sorted(st))
                if cid in done:
                    continue
                cmd = build_cmd(f, st)
                r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
                p, raw = rm.parse(r.stdout)
                p["output_lines"] = [float(m[1]) for m in RE_OUT.finditer(r.stdout)]
                # the batches the tool encoded (tokens, sequences): the compute
                # buffer grows at run time to the largest one's graph
                p["batches"] = [[int(m[1]), int(m[2])] for m in RE_BATCH.finditer(r.stdout)]
                for l in r.stdout.splitlines():
                    line = rm.PREFIX_RE.sub("", l)
                    for key in ("n_ctx", "n_batch", "n_ubatch", "n_seq_max", "n_outputs_max", "causal_attn"):
                        if m := re.match(r"llama_context: %s +=  ?(\d+)$" % key, line.strip()):
                            p.setdefault("ctx_params", {})[key] = int(m[1])
                row = {"case": cid, "llama_cpp": rm.version_info(),
                       "gguf": {"name": spec["name"], "file": f.name, "spec": spec},
                       "settings": st, "printed": p, "raw": raw, "ok": r.returncode == 0,
                       "cmd": " ".join(os.path.basename(c) if i == 0 else c for i, c in enumerate(cmd))}
                if r.returncode != 0:
                    row["error"] = r.stdout[-2000:]
                fo.write(json.dumps(row) + "\n")
                fo.flush()
                print(cid, "ok" if row["ok"] else "FAILED", p.get("model"), p.get("output_lines"), p.get("kv"),
                      p.get("compute"), flush=True)


if __name__ == "__main__":
    main()
