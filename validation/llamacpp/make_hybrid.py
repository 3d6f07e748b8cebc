#!/usr/bin/env python3
"""Write small synthetic GGUFs (random weights; only the shapes matter) of
the hybrid architectures beyond make_gguf.py --ssm: qwen3next (gated
delta-net linear attention + full attention every interval-th layer, MoE),
lfm2 and lfm2moe (short conv + attention), falcon-h1 (attention and
Mamba-2 side by side in every layer), nemotron_h and nemotron_h_moe (one
mixer per layer: Mamba-2, attention, or an MLP / MoE), jamba (Mamba-1 with
dt/B/C norms, attention where head_count_kv > 0, MoE on some layers). F16
only. Keys and tensors as
llama.cpp de3ff81 loads them (src/models/qwen3next.cpp, lfm2.cpp,
lfm2moe.cpp, falcon-h1.cpp, nemotron-h.cpp, jamba.cpp: load_arch_hparams, load_arch_tensors).

    /work/main/validation/.venv/bin/python validation/llamacpp/make_hybrid.py
    /work/main/validation/.venv/bin/python validation/llamacpp/run_ssm.py --hybrid

Files go to $GGUF_DIR (default /tmp/gpumem-gguf) as <name>-F16.gguf.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import gguf
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from make_gguf import make_vocab  # noqa: E402

# qwen3next: linear layers have d_state = head_k_dim = head_v_dim,
# groups = num_k_heads, ssm_heads (time_step_rank) = num_v_heads,
# d_inner = ssm_heads x d_state; attention layers have Q + gate (2 x heads x
# head_dim). interval None: the key is left out (de3ff81 defaults to 4).
# falcon-h1: every layer has attention (n_head, n_head_kv, head_dim) and a
# Mamba-2 mixer (d_inner, d_state, ssm_heads, groups, d_conv) and a gated FFN
# (n_ff); its FFN norm is "blk.N.ffn_norm", without ".weight", as the loader
# asks for it.
# nemotron_h(_moe): pattern has one letter per layer, M Mamba-2 (head_count_kv
# and feed_forward_length 0), * attention (n_ff 0), - relu2 MLP of n_ff, E MoE
# (experts of n_ff_exp, one shared expert of n_ff_shexp, no latent).
# jamba: attention on attn_layers, Mamba-1 (d_inner = 2 n_embd, d_state,
# dt_rank, d_conv) elsewhere; experts (n_ff each) on moe_layers, a gated FFN
# of n_ff on the others.
# lfm2: layer il has attention iff il in attn_layers (head_count_kv[il] > 0),
# the others a short conv of l_cache taps over n_embd channels.
HYBRID_SPECS: list[dict] = [
    dict(name="qwen3next-s", arch="qwen3next", n_layer=8, n_embd=1024, n_head=8, n_head_kv=2, head_dim=128,
         d_state=64, groups=8, ssm_heads=16, d_conv=4, experts=16, experts_used=4, n_ff_exp=256,
         n_ff_shexp=256, n_vocab=32000, tied=False, interval=None, n_ctx_train=32768),
    dict(name="qwen3next-b", arch="qwen3next", n_layer=6, n_embd=512, n_head=4, n_head_kv=1, head_dim=256,
         d_state=128, groups=2, ssm_heads=4, d_conv=4, experts=8, experts_used=2, n_ff_exp=128,
         n_ff_shexp=128, n_vocab=49152, tied=True, interval=3, n_ctx_train=32768),
    dict(name="lfm2-s", arch="lfm2", n_layer=8, n_embd=1024, n_head=16, n_head_kv=8, head_dim=64,
         n_ff=2816, l_cache=3, attn_layers=(2, 5, 7), n_vocab=65536, tied=True, n_ctx_train=32768),
    dict(name="lfm2moe-s", arch="lfm2moe", n_layer=6, n_embd=512, n_head=8, n_head_kv=2, head_dim=64,
         n_ff=1536, l_cache=3, attn_layers=(2, 5), dense_lead=2, experts=8, experts_used=2, n_ff_exp=256,
         n_vocab=32000, tied=True, n_ctx_train=32768),
    dict(name="falcon-h1-s", arch="falcon-h1", n_layer=6, n_embd=1024, n_head=8, n_head_kv=2, head_dim=64,
         d_inner=1536, d_state=128, ssm_heads=24, groups=1, d_conv=4, n_ff=2048, n_vocab=32768, tied=False,
         n_ctx_train=32768),
    dict(name="falcon-h1-b", arch="falcon-h1", n_layer=4, n_embd=768, n_head=12, n_head_kv=4, head_dim=64,
         d_inner=1536, d_state=64, ssm_heads=24, groups=2, d_conv=4, n_ff=1536, n_vocab=49152, tied=True,
         n_ctx_train=32768),
    dict(name="nemotron-h-s", arch="nemotron_h", pattern="M-M*M-M*", n_embd=1024, n_head=8, n_head_kv=2,
         head_dim=128, d_inner=2048, d_state=64, ssm_heads=32, groups=8, d_conv=4, n_ff=4096, n_vocab=32000,
         tied=False, n_ctx_train=32768),
    dict(name="nemotron-h-moe-s", arch="nemotron_h_moe", pattern="MEM*EM", n_embd=768, n_head=12, n_head_kv=4,
         head_dim=64, d_inner=1536, d_state=128, ssm_heads=24, groups=4, d_conv=4, experts=16, experts_used=4,
         n_ff_exp=256, n_ff_shexp=512, n_vocab=49152, tied=True, n_ctx_train=32768),
    dict(name="jamba-s", arch="jamba", n_layer=8, n_embd=1024, n_head=8, n_head_kv=2, head_dim=128,
         d_inner=2048, d_state=16, dt_rank=64, d_conv=4, n_ff=1024, experts=4, experts_used=2,
         attn_layers=(4,), moe_layers=(1, 3, 5, 7), n_vocab=32000, tied=False, n_ctx_train=32768),
    dict(name="jamba-b", arch="jamba", n_layer=4, n_embd=512, n_head=8, n_head_kv=1, head_dim=64,
         d_inner=1024, d_state=16, dt_rank=32, d_conv=4, n_ff=1024, experts=4, experts_used=2,
         attn_layers=(2,), moe_layers=(1, 3), n_vocab=49152, tied=True, n_ctx_train=32768),
]


def qwen3next_tensors(s: dict) -> list[tuple[str, tuple[int, ...], str]]:
    E, V, L = s["n_embd"], s["n_vocab"], s["n_layer"]
    ds, ng, nv, dc = s["d_state"], s["groups"], s["ssm_heads"], s["d_conv"]
    key, val = ds * ng, ds * nv
    hd, nh, nkv = s["head_dim"], s["n_head"], s["n_head_kv"]
    X, F, Fs = s["experts"], s["n_ff_exp"], s["n_ff_shexp"]
    interval = s["interval"] or 4
    out = [("token_embd.weight", (E, V), "f16"), ("output_norm.weight", (E,), "f32")]
    if not s["tied"]:
        out.append(("output.weight", (E, V), "f16"))
    for i in range(L):
        p = f"blk.{i}."
        out += [(p + "attn_norm.weight", (E,), "f32"), (p + "post_attention_norm.weight", (E,), "f32")]
        if (i + 1) % interval == 0:
            out += [(p + "attn_q.weight", (E, hd * nh * 2), "f16"), (p + "attn_k.weight", (E, hd * nkv), "f16"),
                    (p + "attn_v.weight", (E, hd * nkv), "f16"), (p + "attn_output.weight", (hd * nh, E), "f16"),
                    (p + "attn_q_norm.weight", (hd,), "f32"), (p + "attn_k_norm.weight", (hd,), "f32")]
        else:
            out += [(p + "attn_qkv.weight", (E, 2 * key + val), "f16"), (p + "attn_gate.weight", (E, val), "f16"),
                    (p + "ssm_conv1d.weight", (dc, 2 * key + val), "f32"), (p + "ssm_dt.bias", (nv,), "f32"),
                    (p + "ssm_a", (nv,), "f32"), (p + "ssm_ba.weight", (E, 2 * nv), "f16"),
                    (p + "ssm_norm.weight", (ds,), "f32"), (p + "ssm_out.weight", (val, E), "f16")]
        out += [(p + "ffn_gate_inp.weight", (E, X), "f32"), (p + "ffn_gate_exps.weight", (E, F, X), "f16"),
                (p + "ffn_up_exps.weight", (E, F, X), "f16"), (p + "ffn_down_exps.weight", (F, E, X), "f16"),
                (p + "ffn_gate_inp_shexp.weight", (E,), "f32"), (p + "ffn_gate_shexp.weight", (E, Fs), "f16"),
                (p + "ffn_up_shexp.weight", (E, Fs), "f16"), (p + "ffn_down_shexp.weight", (Fs, E), "f16")]
    return out


def lfm2_tensors(s: dict) -> list[tuple[str, tuple[int, ...], str]]:
    E, V, L = s["n_embd"], s["n_vocab"], s["n_layer"]
    hd, nkv = s["head_dim"], s["n_head_kv"]
    out = [("token_embd.weight", (E, V), "f16"), ("token_embd_norm.weight", (E,), "f32")]
    if not s["tied"]:
        out.append(("output.weight", (E, V), "f16"))
    for i in range(L):
        p = f"blk.{i}."
        out += [(p + "ffn_norm.weight", (E,), "f32"), (p + "attn_norm.weight", (E,), "f32")]
        if i >= s.get("dense_lead", L):
            X, F = s["experts"], s["n_ff_exp"]
            out += [(p + "ffn_gate_inp.weight", (E, X), "f32"), (p + "ffn_gate_exps.weight", (E, F, X), "f16"),
                    (p + "ffn_up_exps.weight", (E, F, X), "f16"), (p + "ffn_down_exps.weight", (F, E, X), "f16"),
                    (p + "exp_probs_b.bias", (X,), "f32")]
        else:
            F = s["n_ff"]
            out += [(p + "ffn_gate.weight", (E, F), "f16"), (p + "ffn_up.weight", (E, F), "f16"),
                    (p + "ffn_down.weight", (F, E), "f16")]
        if i in s["attn_layers"]:
            out += [(p + "attn_q_norm.weight", (hd,), "f32"), (p + "attn_k_norm.weight", (hd,), "f32"),
                    (p + "attn_q.weight", (E, E), "f16"), (p + "attn_k.weight", (E, hd * nkv), "f16"),
                    (p + "attn_v.weight", (E, hd * nkv), "f16"), (p + "attn_output.weight", (E, E), "f16")]
        else:
            out += [(p + "shortconv.conv.weight", (s["l_cache"], E), "f32"),
                    (p + "shortconv.in_proj.weight", (E, 3 * E), "f16"),
                    (p + "shortconv.out_proj.weight", (E, E), "f16")]
    return out


def falcon_h1_tensors(s: dict) -> list[tuple[str, tuple[int, ...], str]]:
    E, V, L, F = s["n_embd"], s["n_vocab"], s["n_layer"], s["n_ff"]
    di, ds, nh, ng, dc = s["d_inner"], s["d_state"], s["ssm_heads"], s["groups"], s["d_conv"]
    conv = di + 2 * ng * ds
    q, kv = s["head_dim"] * s["n_head"], s["head_dim"] * s["n_head_kv"]
    out = [("token_embd.weight", (E, V), "f16"), ("output_norm.weight", (E,), "f32")]
    if not s["tied"]:
        out.append(("output.weight", (E, V), "f16"))
    for i in range(L):
        p = f"blk.{i}."
        out += [(p + "ssm_in.weight", (E, di + conv + nh), "f16"), (p + "ssm_conv1d.weight", (dc, conv), "f32"),
                (p + "ssm_conv1d.bias", (conv,), "f32"), (p + "ssm_dt.bias", (nh,), "f32"),
                (p + "ssm_a", (1, nh), "f32"), (p + "ssm_d", (1, nh), "f32"),
                (p + "ssm_norm.weight", (di // ng, ng), "f32"), (p + "ssm_out.weight", (di, E), "f16"),
                (p + "attn_q.weight", (E, q), "f16"), (p + "attn_k.weight", (E, kv), "f16"),
                (p + "attn_v.weight", (E, kv), "f16"), (p + "attn_output.weight", (q, E), "f16"),
                (p + "attn_norm.weight", (E,), "f32"), (p + "ffn_norm", (E,), "f32"),
                (p + "ffn_gate.weight", (E, F), "f16"), (p + "ffn_up.weight", (E, F), "f16"),
                (p + "ffn_down.weight", (F, E), "f16")]
    return out


def nemotron_h_tensors(s: dict) -> list[tuple[str, tuple[int, ...], str]]:
    E, V = s["n_embd"], s["n_vocab"]
    di, ds, nh, ng, dc = s["d_inner"], s["d_state"], s["ssm_heads"], s["groups"], s["d_conv"]
    conv = di + 2 * ng * ds
    q, kv = s["head_dim"] * s["n_head"], s["head_dim"] * s["n_head_kv"]
    out = [("token_embd.weight", (E, V), "f16"), ("output_norm.weight", (E,), "f32")]
    if not s["tied"]:
        out.append(("output.weight", (E, V), "f16"))
    for i, kind in enumerate(s["pattern"]):
        p = f"blk.{i}."
        out.append((p + "attn_norm.weight", (E,), "f32"))
        if kind == "M":
            out += [(p + "ssm_in.weight", (E, 2 * di + 2 * ng * ds + nh), "f16"),
                    (p + "ssm_conv1d.weight", (dc, conv), "f32"), (p + "ssm_conv1d.bias", (conv,), "f32"),
                    (p + "ssm_dt.bias", (nh,), "f32"), (p + "ssm_a", (1, nh), "f32"), (p + "ssm_d", (1, nh), "f32"),
                    (p + "ssm_norm.weight", (di // ng, ng), "f32"), (p + "ssm_out.weight", (di, E), "f16")]
        elif kind == "*":
            out += [(p + "attn_q.weight", (E, q), "f16"), (p + "attn_k.weight", (E, kv), "f16"),
                    (p + "attn_v.weight", (E, kv), "f16"), (p + "attn_output.weight", (q, E), "f16")]
        elif kind == "-":
            out += [(p + "ffn_up.weight", (E, s["n_ff"]), "f16"), (p + "ffn_down.weight", (s["n_ff"], E), "f16")]
        else:
            X, F, Fs = s["experts"], s["n_ff_exp"], s["n_ff_shexp"]
            out += [(p + "ffn_gate_inp.weight", (E, X), "f32"), (p + "exp_probs_b.bias", (X,), "f32"),
                    (p + "ffn_up_exps.weight", (E, F, X), "f16"), (p + "ffn_down_exps.weight", (F, E, X), "f16"),
                    (p + "ffn_up_shexp.weight", (E, Fs), "f16"), (p + "ffn_down_shexp.weight", (Fs, E), "f16")]
    return out


def jamba_tensors(s: dict) -> list[tuple[str, tuple[int, ...], str]]:
    E, V, L, F = s["n_embd"], s["n_vocab"], s["n_layer"], s["n_ff"]
    di, ds, dtr, dc = s["d_inner"], s["d_state"], s["dt_rank"], s["d_conv"]
    kv = s["head_dim"] * s["n_head_kv"]
    out = [("token_embd.weight", (E, V), "f16"), ("output_norm.weight", (E,), "f32")]
    if not s["tied"]:
        out.append(("output.weight", (E, V), "f16"))
    for i in range(L):
        p = f"blk.{i}."
        out.append((p + "attn_norm.weight", (E,), "f32"))
        if i in s["attn_layers"]:
            out += [(p + "attn_q.weight", (E, E), "f16"), (p + "attn_k.weight", (E, kv), "f16"),
                    (p + "attn_v.weight", (E, kv), "f16"), (p + "attn_output.weight", (E, E), "f16")]
        else:
            out += [(p + "ssm_in.weight", (E, 2 * di), "f16"), (p + "ssm_conv1d.weight", (dc, di), "f32"),
                    (p + "ssm_conv1d.bias", (di,), "f32"), (p + "ssm_x.weight", (di, dtr + 2 * ds), "f16"),
                    (p + "ssm_dt_norm.weight", (dtr,), "f32"), (p + "ssm_dt.weight", (dtr, di), "f16"),
                    (p + "ssm_dt.bias", (di,), "f32"), (p + "ssm_b_norm.weight", (ds,), "f32"),
                    (p + "ssm_c_norm.weight", (ds,), "f32"), (p + "ssm_a", (ds, di), "f32"),
                    (p + "ssm_d", (di,), "f32"), (p + "ssm_out.weight", (di, E), "f16")]
        out.append((p + "ffn_norm.weight", (E,), "f32"))
        if i in s["moe_layers"]:
            X = s["experts"]
            out += [(p + "ffn_gate_inp.weight", (E, X), "f32"), (p + "ffn_gate_exps.weight", (E, F, X), "f16"),
                    (p + "ffn_down_exps.weight", (F, E, X), "f16"), (p + "ffn_up_exps.weight", (E, F, X), "f16")]
        else:
            out += [(p + "ffn_gate.weight", (E, F), "f16"), (p + "ffn_down.weight", (F, E), "f16"),
                    (p + "ffn_up.weight", (E, F), "f16")]
    return out


def write_keys(w: gguf.GGUFWriter, s: dict) -> None:
    a = s["arch"]
    if a == "jamba":
        w.add_head_count(s["n_head"])
        w.add_head_count_kv([s["n_head_kv"] if i in s["attn_layers"] else 0 for i in range(s["n_layer"])])
        w.add_ssm_conv_kernel(s["d_conv"])
        w.add_ssm_inner_size(s["d_inner"])
        w.add_ssm_state_size(s["d_state"])
        w.add_ssm_time_step_rank(s["dt_rank"])
        w.add_feed_forward_length(s["n_ff"])
        w.add_expert_count(s["experts"])
        w.add_expert_used_count(s["experts_used"])
    elif a.startswith("nemotron_h"):
        pat = s["pattern"]
        w.add_head_count(s["n_head"])
        w.add_head_count_kv([s["n_head_kv"] if k == "*" else 0 for k in pat])
        ff = {"M": 0, "*": 0, "-": s.get("n_ff", 0), "E": s.get("n_ff_exp", 0) * s.get("experts_used", 1)}
        w.add_feed_forward_length([ff[k] for k in pat])
        w.add_ssm_conv_kernel(s["d_conv"])
        w.add_ssm_inner_size(s["d_inner"])
        w.add_ssm_state_size(s["d_state"])
        w.add_ssm_time_step_rank(s["ssm_heads"])
        w.add_ssm_group_count(s["groups"])
        w.add_layer_norm_eps(1e-5)
        if "E" in pat:
            w.add_expert_count(s["experts"])
            w.add_expert_used_count(s["experts_used"])
            w.add_expert_feed_forward_length(s["n_ff_exp"])
            w.add_expert_shared_feed_forward_length(s["n_ff_shexp"])
            w.add_expert_shared_count(1)
            w.add_expert_weights_norm(True)
            w.add_expert_weights_scale(1.0)
            w.add_expert_gating_func(gguf.ExpertGatingFuncType.SIGMOID)
    elif a == "falcon-h1":
        w.add_head_count(s["n_head"])
        w.add_head_count_kv(s["n_head_kv"])
        w.add_ssm_conv_kernel(s["d_conv"])
        w.add_ssm_inner_size(s["d_inner"])
        w.add_ssm_state_size(s["d_state"])
        w.add_ssm_time_step_rank(s["ssm_heads"])
        w.add_ssm_group_count(s["groups"])
        w.add_feed_forward_length(s["n_ff"])
    elif a == "qwen3next":
        w.add_head_count(s["n_head"])
        w.add_head_count_kv(s["n_head_kv"])
        w.add_ssm_conv_kernel(s["d_conv"])
        w.add_ssm_inner_size(s["d_state"] * s["ssm_heads"])
        w.add_ssm_state_size(s["d_state"])
        w.add_ssm_time_step_rank(s["ssm_heads"])
        w.add_ssm_group_count(s["groups"])
        if s["interval"]:
            w.add_full_attention_interval(s["interval"])
        w.add_expert_count(s["experts"])
        w.add_expert_used_count(s["experts_used"])
        w.add_expert_feed_forward_length(s["n_ff_exp"])
        w.add_expert_shared_feed_forward_length(s["n_ff_shexp"])
        w.add_feed_forward_length(s["n_ff_exp"])
    else:
        w.add_head_count(s["n_head"])
        w.add_head_count_kv([s["n_head_kv"] if i in s["attn_layers"] else 0 for i in range(s["n_layer"])])
        w.add_shortconv_l_cache(s["l_cache"])
        w.add_feed_forward_length(s["n_ff"])
        if a == "lfm2moe":
            w.add_leading_dense_block_count(s["dense_lead"])
            w.add_expert_count(s["experts"])
            w.add_expert_used_count(s["experts_used"])
            w.add_expert_feed_forward_length(s["n_ff_exp"])
            w.add_expert_gating_func(gguf.ExpertGatingFuncType.SIGMOID)
    w.add_key_length(s["head_dim"])
    w.add_value_length(s["head_dim"])
    w.add_rope_dimension_count(s["head_dim"])
    w.add_rope_freq_base(10000.0)


def write_hybrid(s: dict, path: Path) -> None:
    w = gguf.GGUFWriter(str(path), s["arch"])
    w.add_name(f"gpumem-synthetic-{s['name']}")
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    w.add_context_length(s["n_ctx_train"])
    w.add_embedding_length(s["n_embd"])
    w.add_block_count(len(s["pattern"]) if "pattern" in s else s["n_layer"])
    w.add_layer_norm_rms_eps(1e-6)
    w.add_vocab_size(s["n_vocab"])
    write_keys(w, s)
    tokens, types, merges, bos, eos = make_vocab(s["n_vocab"])
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(bos)
    w.add_eos_token_id(eos)
    w.add_add_bos_token(True)
    rng = np.random.default_rng(0)
    tl = {"qwen3next": qwen3next_tensors, "falcon-h1": falcon_h1_tensors, "nemotron_h": nemotron_h_tensors,
          "nemotron_h_moe": nemotron_h_tensors, "jamba": jamba_tensors}.get(s["arch"], lfm2_tensors)(s)
    for name, shape, kind in tl:
        dt = np.float16 if kind == "f16" else np.float32
        w.add_tensor_info(name, tuple(reversed(shape)), np.dtype(dt), int(np.prod(shape)) * np.dtype(dt).itemsize)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for name, shape, kind in tl:
        np_shape = tuple(reversed(shape))
        if kind == "f16":
            arr = (rng.standard_normal(np_shape, dtype=np.float32) * 0.02).astype(np.float16)
        elif name.endswith("ssm_a") or name.endswith("ssm_d") and s["arch"] == "jamba":
            arr = -np.ones(np_shape, dtype=np.float32)
        elif "norm" in name or name.endswith("ssm_d"):
            arr = np.ones(np_shape, dtype=np.float32)
        else:
            arr = rng.standard_normal(np_shape, dtype=np.float32) * 0.02
        w.write_tensor_data(arr)
    w.close()


def main() -> None:
    out = Path(os.environ.get("GGUF_DIR", "/tmp/gpumem-gguf"))
    out.mkdir(parents=True, exist_ok=True)
    only = set(sys.argv[1].split(",")) if len(sys.argv) > 1 else None
    for s in HYBRID_SPECS:
        if only and s["name"] not in only:
            continue
        f16 = out / f"{s['name']}-F16.gguf"
        if not f16.exists():
            tmp = f16.with_suffix(".tmp")
            write_hybrid(s, tmp)
            tmp.rename(f16)
            print(f"wrote {f16} ({f16.stat().st_size} bytes)", flush=True)


if __name__ == "__main__":
    main()
