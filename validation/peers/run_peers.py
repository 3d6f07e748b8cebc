#!/usr/bin/env python3
"""Peer estimators beside gpumem and the measurement, on the PyTorch cases.

For every case in validation/measurements/torch_inference.jsonl (or --limit N
of them) this records what each peer answers for the case's model, dtype,
batch, context and new tokens, and what gpumem answers, and appends one JSON
line per (case, tool) to validation/measurements/peers.jsonl:

  {case, family, measured_bytes, tool, tool_version, estimate_bytes, includes, note}

measured_bytes is the case's measured peak of live tensor bytes. A peer that
cannot express a case gets estimate_bytes null and the reason in note.

Run with the peers venv (bash validation/peers/setup.sh):
  validation/peers/.venv/bin/python validation/peers/run_peers.py [--limit N]
Nothing is downloaded: every model is built from the local config on the meta
device (accelerate's init_empty_weights).
"""
import argparse
import contextlib
import importlib.metadata as md
import io
import json
import logging
import os
import subprocess
import sys
import tempfile
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MEAS = os.path.join(ROOT, "validation", "measurements")
GPUMEM = os.path.join(ROOT, "build", "gpumem")

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("DS_ACCELERATOR", "cpu")
warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM  # noqa: E402

DT_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2}
DT_TORCH = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def ver(pkg):
    try:
        return md.version(pkg)
    except md.PackageNotFoundError:
        return None


def config_path(case):
    if case.get("model"):
        return os.path.join(ROOT, "data", "models", case["model"] + ".json")
    return os.path.join(ROOT, case["config"])


def is_encoder(raw):
    return any("ForMaskedLM" in a or a.endswith("Model") and "CausalLM" not in a
               for a in raw.get("architectures", [])) and raw.get("model_type") in ("bert", "roberta")


# ---------------------------------------------------------------- empty models
_models = {}


def empty_models(path):
    """(accelerate's model, the measured model class) on the meta device, fp32."""
    if path in _models:
        return _models[path]
    from accelerate import init_empty_weights
    cfg = AutoConfig.from_pretrained(path)
    raw = json.load(open(path))
    with init_empty_weights():
        # accelerate.commands.estimate.create_empty_model, transformers branch,
        # minus its Hub look-up: AutoModel.from_config in float32.
        acc = AutoModel.from_config(cfg, torch_dtype=torch.float32)
    if is_encoder(raw):
        meas = acc
    else:
        with init_empty_weights():
            meas = AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.float32)
    _models[path] = (acc, meas)
    return _models[path]


# ---------------------------------------------------------------- accelerate
def accelerate_est(case, path):
    from accelerate.commands.estimate import estimate_training_usage  # noqa: F401 (same module as the CLI)
    from accelerate.utils import calculate_maximum_sizes
    acc, _ = empty_models(path)
    total_size, largest = calculate_maximum_sizes(acc)
    # gather_data(): float32 as is, "float16" halves; it has no bfloat16 row, so
    # bf16 cases take the float16 row (same bytes per parameter).
    est = total_size if case["dtype"] == "fp32" else total_size / 2
    row = "float32" if case["dtype"] == "fp32" else "float16"
    return int(est), f"estimate-memory '{row}' Total Size (AutoModel, {type(acc).__name__})"


# ---------------------------------------------------------------- deepspeed
def ds_params(model):
    """deepspeed.runtime.zero.stage3.model_to_params, keyed by parameter identity.

    model_to_params de-duplicates shared parameters by data_ptr(), which is 0
    for every tensor on the meta device, so on an empty model it counts one
    tensor (768 params for BERT). The same sums keyed by id(p) instead."""
    total = sum({id(p): p.numel() for p in model.parameters()}.values())
    largest = 0
    for m in model.modules():
        largest = max(largest, sum(p.numel() for p in m.parameters(recurse=False)))
    return total, largest


def deepspeed_est(case, path, stage):
    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs
    from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs
    _, meas = empty_models(path)
    total_params, largest_layer_params = ds_params(meas)
    if stage == 2:
        _, gpu = estimate_zero2_model_states_mem_needs(total_params, 1, 1, cpu_offload=False)
        row = "offload_optimizer=none"
    else:
        _, gpu, _ = estimate_zero3_model_states_mem_needs(total_params, largest_layer_params, 1, 1,
                                                          cpu_offload=False, cpu_offload_params=False)
        row = "offload_param=none, offload_optimizer=none"
    return int(gpu), (f"the {row} row of estimate_zero{stage}_model_states_mem_needs_all_live's table, "
                      f"1 GPU; {total_params} params, largest layer {largest_layer_params}")


# ---------------------------------------------------------------- llm-analysis
def llm_analysis_setup(path, dtype, max_seq_len=None):
    """(LLMAnalysis for the config at a 16-bit dtype, notes, n_experts), or
    (None, why, 0) where llm-analysis cannot express the model."""
    raw = json.load(open(path))
    if raw.get("kv_lora_rank") or raw.get("q_lora_rank"):
        return None, "multi-head latent attention (kv_lora_rank): no field for a compressed KV cache", 0
    if dtype not in ("fp16", "bf16"):
        return None, (f"{dtype}: DtypeConfig accepts 4, 8 or 16 bits only "
                      "(AssertionError: weight_bits and activation_bits must be 4, 8, or 16)"), 0
    from llm_analysis.analysis import LLMAnalysis
    from llm_analysis.config import DtypeConfig, GPUConfig, ModelConfig
    from llm_analysis import logger as la_logger
    la_logger.logger.setLevel(logging.ERROR)
    hidden = raw.get("hidden_size") or raw["n_embd"]
    n_experts = raw.get("num_local_experts") or raw.get("num_experts") or 1
    ffn = (raw.get("moe_intermediate_size") if n_experts > 1 and raw.get("moe_intermediate_size")
           else raw.get("intermediate_size") or raw.get("n_inner") or 4 * hidden)
    notes = []
    n_head = raw.get("num_attention_heads") or raw["n_head"]
    if raw.get("head_dim") and raw["head_dim"] * n_head != hidden:
        notes.append(f"head_dim taken as hidden/n_head={hidden // n_head} (config: {raw['head_dim']})")
    if raw.get("sliding_window") and raw.get("use_sliding_window", True) is not False:
        notes.append("sliding window not modelled (full KV)")
    mc = ModelConfig(
        name=os.path.basename(path), num_layers=raw.get("num_hidden_layers") or raw["n_layer"],
        n_head=n_head, hidden_dim=hidden,
        vocab_size=raw["vocab_size"], max_seq_len=max_seq_len,
        num_key_value_heads=raw.get("num_key_value_heads"), ffn_embed_dim=ffn,
        expansion_ratio=ffn / hidden, model_type=raw.get("model_type"),
        moe_num_experts=n_experts, moe_top_k=raw.get("num_experts_per_tok") or 1)
    bits = DT_BYTES[dtype] * 8
    dc = DtypeConfig(name=f"w{bits}a{bits}e{bits}", weight_bits=bits, activation_bits=bits, embedding_bits=bits)
    # A GPU large enough that the tool's fit assertions never fire; its size
    # does not enter the memory figures.
    gc = GPUConfig(name="unbounded", mem_per_GPU_in_GB=1e6, hbm_bandwidth_in_GB_per_sec=3350,
                   intra_node_bandwidth_in_GB_per_sec=450, intra_node_min_message_latency=8e-6,
                   peak_fp16_TFLOPS=989)
    if n_experts > 1:
        notes.append(f"MoE: {n_experts} experts, top {mc.moe_top_k}, expert ffn {ffn}")
    return LLMAnalysis(mc, gc, dc, flops_efficiency=0.5, hbm_memory_efficiency=0.9), notes, n_experts


def llm_analysis_est(case, path):
    raw = json.load(open(path))
    if raw.get("model_type") in ("bert", "roberta"):
        return None, ("encoder-only model: llm-analysis' inference() models a decoder's prefill + "
                      "decode with a KV cache; no encoder forward")
    la, notes, n_experts = llm_analysis_setup(path, case["dtype"])
    if la is None:
        return None, notes
    with contextlib.redirect_stdout(io.StringIO()):
        s = la.inference(batch_size_per_gpu=case["batch"], seq_len=case["context"],
                         num_tokens_to_generate=max(1, case.get("new_tokens") or 0),
                         use_kv_cache=True, layernorm_dtype_bytes=DT_BYTES[case["dtype"]],
                         kv_cache_dtype_bytes=DT_BYTES[case["dtype"]])
    est = (s["weight_memory_per_gpu"] + s["kv_cache_memory_per_gpu"] +
           max(s["prefill_activation_memory_per_gpu"], s["decode_activation_memory_per_gpu"]))
    notes.append(f"weights {int(s['weight_memory_per_gpu'])} + kv {int(s['kv_cache_memory_per_gpu'])} + "
                 f"max(prefill act {int(s['prefill_activation_memory_per_gpu'])}, decode act "
                 f"{int(s['decode_activation_memory_per_gpu'])})")
    return int(est), "; ".join(notes)


# ---------------------------------------------------------------- vramscout
def vramscout_est(case, path):
    from vramscout.modern_cli import main as vs_main
    dt = case["dtype"]
    argv = [path, "--context", str(case["context"] + (case.get("new_tokens") or 0)),
            "--batch-size", str(case["batch"]), "--dtype", dt, "--kv-dtype", dt,
            "--vram-gib", "100000", "--reserve-gib", "0", "--json"]
    buf, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(err):
        try:
            rc = vs_main(argv)
        except SystemExit as e:
            rc = e.code
    try:
        out = json.loads(buf.getvalue())
    except ValueError:
        msg = (err.getvalue() or buf.getvalue()).strip().splitlines()
        return None, f"vramscout refused (rc {rc}): {msg[-1] if msg else ''}"[:300]
    if "parts_gib" not in out:
        return None, f"vramscout refused: {out.get('error', out)}"[:300]
    p = out["parts_gib"]
    keep = {k: v for k, v in p.items() if k not in ("CUDA / runtime", "Safety reserve")}
    est = sum(keep.values()) * 2**30
    note = ", ".join(f"{k} {v:.4f}" for k, v in p.items()) + " GiB; estimate excludes CUDA / runtime and safety reserve"
    return int(est), note


# ---------------------------------------------------------------- vllm-wizard
def vllm_wizard_est(case, path):
    from vllm_wizard.models.metadata import load_model_metadata
    from vllm_wizard.planning.memory import compute_kv_cache_memory, compute_weights_memory
    from vllm_wizard.schemas.inputs import DType
    with tempfile.TemporaryDirectory() as d:
        # A neutral directory name: load_model_metadata first looks the name up
        # in its table of known model sizes.
        os.symlink(path, os.path.join(d, "config.json"))
        try:
            meta = load_model_metadata(d)
        except Exception as e:  # noqa: BLE001
            return None, f"load_model_metadata failed: {e}"[:300]
    dt = DType(case["dtype"])
    w = compute_weights_memory(meta.num_params / 1e9, dt)
    kv = compute_kv_cache_memory(meta, case["context"] + (case.get("new_tokens") or 0), case["batch"], dtype=dt)
    return int(w + kv), (f"weights {w} ({meta.num_params} params estimated from config) + kv {kv} "
                         "(x1.15 fragmentation factor); excludes its framework overhead max(1 GiB, 2% of VRAM)")


# ---------------------------------------------------------------- gpumem
def gpumem_est(case, path):
    model = case.get("model") or os.path.join(ROOT, case["config"])
    cmd = [GPUMEM, "estimate", model, "--dtype", case["dtype"], "--batch", str(case["batch"]),
           "--context", str(case["context"]), "--attn", case["attn"],
           "--new-tokens", str(max(1, case.get("new_tokens") or 0)), "--json"]
    if case.get("cache"):
        cmd += ["--cache", case["cache"]]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        return None, r.stderr.strip()[:300]
    e = json.loads(r.stdout)
    c = {x["name"]: x["bytes"] for x in e["components"]}
    est = sum(c.get(k, 0) for k in ("weights", "kv_cache", "activations", "logits"))
    return est, "weights + kv_cache + activations + logits (cuda_context and workspace excluded: not tensors)"


def gpumem_version():
    r = subprocess.run([GPUMEM, "--version"], capture_output=True, text=True)
    return r.stdout.strip().split()[-1] if r.returncode == 0 else None


TOOLS = [
    ("gpumem", gpumem_version, gpumem_est,
     "allocator-visible total: weights + kv_cache + activations + logits"),
    ("accelerate estimate-memory", lambda: ver("accelerate"), accelerate_est,
     "weights only (parameters + buffers of AutoModel.from_config at the dtype); the docs say to add up to 20% for inference"),
    ("accelerate estimate-memory x1.2", lambda: ver("accelerate"),
     lambda c, p: (lambda e, n: (int(e * 1.2) if e is not None else None, n + "; x1.2 per its docs' 'up to 20%' for inference"))(*accelerate_est(c, p)),
     "weights x 1.2 (accelerate docs: inference adds up to 20%)"),
    ("deepspeed zero2 estimator", lambda: ver("deepspeed"), lambda c, p: deepspeed_est(c, p, 2),
     "training model states on 1 GPU: 16-bit params + grads + fp32 master + Adam (18+2 bytes/param); no activations"),
    ("deepspeed zero3 estimator", lambda: ver("deepspeed"), lambda c, p: deepspeed_est(c, p, 3),
     "training model states on 1 GPU: as ZeRO-2 + 4 x largest layer params; no activations"),
    ("llm-analysis", lambda: ver("llm-analysis"), llm_analysis_est,
     "weights + kv cache (prompt + generated) + max(prefill, decode) activations"),
    ("vramscout", lambda: ver("vramscout"), vramscout_est,
     "weights + KV cache + prefill scratch (its CUDA/runtime and safety reserve left out)"),
    ("vllm-wizard", lambda: ver("vllm-wizard"), vllm_wizard_est,
     "weights (params from config) + KV x1.15 (its vLLM framework overhead left out)"),
    ("hf-mem", lambda: ver("hf-mem"), lambda c, p: (None, "needs the Hugging Face Hub: --model-id only, reads safetensors headers over HTTP; no local config input"),
     "-"),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=0, help="only the first N cases")
    ap.add_argument("--tools", default="", help="comma-separated subset of tool names")
    ap.add_argument("--out", default=os.path.join(MEAS, "peers.jsonl"))
    a = ap.parse_args()
    cases = [json.loads(l) for l in open(os.path.join(MEAS, "torch_inference.jsonl")) if l.strip()]
    if a.limit:
        cases = cases[:a.limit]
    tools = [t for t in TOOLS if not a.tools or t[0] in a.tools.split(",")]
    versions = {t[0]: t[1]() for t in tools}
    print("versions:", json.dumps(versions), f"torch {torch.__version__} transformers {transformers.__version__}",
          file=sys.stderr)
    n = 0
    with open(a.out, "a") as fo:
        for c in cases:
            path = config_path(c)
            for name, _, fn, includes in tools:
                try:
                    est, note = fn(c, path)
                except Exception as e:  # noqa: BLE001
                    est, note = None, f"error: {type(e).__name__}: {e}"[:300]
                fo.write(json.dumps({
                    "case": c["case"], "family": c["workload"], "measured_bytes": c["measured"]["peak_bytes"],
                    "tool": name, "tool_version": versions[name], "estimate_bytes": est,
                    "includes": includes, "note": note}) + "\n")
                n += 1
            fo.flush()
    print(f"{n} lines appended to {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
