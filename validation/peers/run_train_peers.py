#!/usr/bin/env python3
"""Training estimators beside gpumem and the measured training steps.

For every full fine-tuning record of validation/measurements/torch_training.jsonl
(the peers size full fine-tuning only) this prints a Markdown table: the
measured peak of live tensor bytes, gpumem's allocator-visible total for the
same settings, llm-analysis' training() (16-bit cases of decoders only), and DeepSpeed's ZeRO-2 and ZeRO-3 model-state estimators
(estimate_zero{2,3}_model_states_mem_needs, 1 GPU, no offload) on the model
class the measurement built; then each tool's median |error| and its counts of
under-estimates (any, and by more than 3%).

  validation/peers/.venv/bin/python validation/peers/run_train_peers.py > table.md

Needs build/gpumem and the peers venv (bash validation/peers/setup.sh).
"""
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_peers as rp  # noqa: E402  (its helpers: config paths, meta models, DeepSpeed)

TRAIN = os.path.join(rp.MEAS, "torch_training.jsonl")
VISIBLE = ("weights", "gradients", "optimizer_states", "lora_weights", "lora_gradients",
           "lora_optimizer_states", "activations", "logits", "optimizer_transient")


def gpumem_train(rec):
    model = rec.get("model") or os.path.join(rp.ROOT, rec["config"])
    optim = {"fused": "adamw", "foreach": "adamw-foreach", "forloop": "adamw"}[rec["optimizer_impl"]]
    if rec["optimizer"] == "sgd":
        optim = "sgd"
    cmd = [rp.GPUMEM, "estimate", model, "--train", "--precision", rec["precision"],
           "--optimizer", optim, "--checkpointing", rec["checkpointing"],
           "--batch", str(rec["batch"]), "--seq", str(rec["seq"]), "--json"]
    if rec["attn"] == "eager":
        cmd.append("--no-flash")
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        return None
    comps = {c["name"]: c["bytes"] for c in json.loads(r.stdout)["components"]}
    return sum(comps.get(k, 0) for k in VISIBLE)


def llm_analysis_train(rec, path):
    """llm-analysis 0.2.2 training(): weights + optimizer states + gradients +
    activations per GPU, no ZeRO, 16-bit only (bf16 and bf16-mixed: fp32
    master weights for mixed; pure bf16 keeps 2-byte masters)."""
    import contextlib
    import io
    from llm_analysis.analysis import ActivationRecomputation
    if rec["precision"] == "fp32":
        return None
    raw = json.load(open(path))
    if raw.get("model_type") in ("bert", "roberta"):
        return None
    la, _, _ = rp.llm_analysis_setup(path, "bf16", max_seq_len=rec["seq"])
    if la is None:
        return None
    gated = raw.get("model_type") not in ("gpt2", "gpt_neox", "gpt_bigcode", "phi", "falcon")
    with contextlib.redirect_stdout(io.StringIO()):
        s = la.training(batch_size_per_gpu=rec["batch"], seq_len=rec["seq"],
                        gradient_accumulation_steps=1,
                        activation_recomputation=(ActivationRecomputation.FULL
                                                  if rec["checkpointing"] == "full"
                                                  else ActivationRecomputation.NONE),
                        master_weights_dtype_bytes=4 if rec["precision"] == "bf16-mixed" else 2,
                        flash_attn=rec["attn"] == "sdpa", mlp_gated_linear_units=gated)
    return int(s["(weight+op_state+grad+act)_memory_per_gpu"])


def main():
    rows = []
    errs = {"gpumem": [], "llm-analysis": [], "deepspeed zero2": [], "deepspeed zero3": []}
    seen = set()
    for line in open(TRAIN):
        rec = json.loads(line)
        if rec.get("method") != "full" or "measured" not in rec or rec["case"] in seen:
            continue
        seen.add(rec["case"])
        meas = rec["measured"]["peak_bytes"]
        path = rp.config_path(rec)
        est = {"gpumem": gpumem_train(rec),
               "llm-analysis": llm_analysis_train(rec, path),
               "deepspeed zero2": rp.deepspeed_est(rec, path, 2)[0],
               "deepspeed zero3": rp.deepspeed_est(rec, path, 3)[0]}
        cells = []
        for tool, v in est.items():
            if v is None:
                cells.append("-")
                continue
            e = (v - meas) / meas
            errs[tool].append(e)
            cells.append("%.2f (%+.1f%%)" % (v / 2**30, 100 * e))
        rows.append("| %s | %.2f | %s |" % (rec["case"], meas / 2**30, " | ".join(cells)))
    print("| case | measured GiB | gpumem | llm-analysis | DeepSpeed ZeRO-2 | DeepSpeed ZeRO-3 |")
    print("| --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    print()
    print("| tool | version | cases | median abs error | under-estimates | under by > 3% |")
    print("| --- | --- | --- | --- | --- | --- |")
    for tool, e in errs.items():
        version = (rp.gpumem_version() if tool == "gpumem" else
                   rp.ver("llm-analysis") if tool == "llm-analysis" else rp.ver("deepspeed"))
        print("| %s | %s | %d | %.2f%% | %d | %d |" % (tool, version, len(e),
                                                      100 * statistics.median(abs(x) for x in e),
                                                      sum(x < 0 for x in e),
                                                      sum(x < -0.03 for x in e)))


if __name__ == "__main__":
    main()
