#!/usr/bin/env python3
"""Write synthetic GGUF models (random weights; only the shapes matter) for
measuring llama.cpp's buffer sizes, then quantise them with the real
llama-quantize.

    validation/.venv/bin/python validation/llamacpp/make_gguf.py            # all specs, all types
    validation/.venv/bin/python validation/llamacpp/make_gguf.py --list
    validation/.venv/bin/python validation/llamacpp/make_gguf.py --only dense-1b --types F16,Q8_0

Files go to $GGUF_DIR (default /tmp/gpumem-gguf): <name>-F16.gguf and
<name>-<TYPE>.gguf. Existing files are kept (delete to regenerate).
The quantiser is found via $LLAMACPP_DIR (see build.sh) or --quantize.

Every model carries a working byte-level BPE ("gpt2") tokenizer: the 256
byte symbols, a few merges, two control tokens (BOS/EOS) and filler tokens
up to n_vocab, so llama.cpp loads it and can tokenise a short ASCII prompt.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import gguf

# ---------------------------------------------------------------------------
# Shape specs. Keys follow llama.cpp's hparams names.
#   arch: llama | qwen3moe | gemma3 | gemma2
#   head_dim: n_embd_head_k == n_embd_head_v
#   n_ff: dense FFN width (llama MoE: per-expert width; qwen3moe: expert_ff)
#   experts / experts_used: 0 for dense
#   tied: no output.weight (output reuses token_embd)
#   swa: sliding window (gemma3: every 6th layer is global, pattern 6; gemma2: every 2nd, pattern 2)
# ---------------------------------------------------------------------------
SPECS: list[dict] = [
    dict(name="dense-1b", arch="llama", n_layer=16, n_embd=2048, n_head=32, n_head_kv=8,
         head_dim=64, n_ff=8192, n_vocab=32000, experts=0, experts_used=0, tied=False,
         swa=0, n_ctx_train=32768),
    dict(name="mha-tied-130m", arch="llama", n_layer=8, n_embd=1024, n_head=16, n_head_kv=16,
         head_dim=64, n_ff=2816, n_vocab=32000, experts=0, experts_used=0, tied=True,
         swa=0, n_ctx_train=32768),
    dict(name="gqa-bigvocab-500m", arch="llama", n_layer=12, n_embd=1536, n_head=12, n_head_kv=2,
         head_dim=128, n_ff=4096, n_vocab=151936, experts=0, experts_used=0, tied=True,
         swa=0, n_ctx_train=32768),
    dict(name="moe-llama-8x", arch="llama", n_layer=8, n_embd=1024, n_head=16, n_head_kv=4,
         head_dim=64, n_ff=1408, n_vocab=32000, experts=8, experts_used=2, tied=False,
         swa=0, n_ctx_train=32768),
    dict(name="qwen3moe-16x", arch="qwen3moe", n_layer=8, n_embd=1024, n_head=16, n_head_kv=4,
         head_dim=128, n_ff=512, n_vocab=49152, experts=16, experts_used=4, tied=True,
         swa=0, n_ctx_train=32768),
    dict(name="gemma3-swa", arch="gemma3", n_layer=12, n_embd=1152, n_head=4, n_head_kv=1,
         head_dim=256, n_ff=6912, n_vocab=65536, experts=0, experts_used=0, tied=True,
         swa=512, n_ctx_train=32768),
    dict(name="gemma2-swa", arch="gemma2", n_layer=10, n_embd=1024, n_head=8, n_head_kv=4,
         head_dim=128, n_ff=4096, n_vocab=32000, experts=0, experts_used=0, tied=True,
         swa=1024, n_ctx_train=32768),
]

# sliding-window layer pattern per arch (llama.cpp load_swa_pattern default):
# layer il is SWA iff il % pattern < pattern - 1
SWA_PATTERN = {"gemma2": 2, "gemma3": 6}

QUANT_TYPES = ["Q8_0", "Q4_K_M", "IQ4_XS"]


def bytes_to_unicode() -> dict[int, str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def make_vocab(n_vocab: int):
    b2u = bytes_to_unicode()
    tokens = [b2u[b] for b in range(256)]
    types = [gguf.TokenType.NORMAL] * 256
    merges = []
    for a, b in [("Ġ", "t"), ("h", "e"), ("Ġ", "w"), ("o", "r"), ("l", "l"), ("Ġt", "he")]:
        merges.append(f"{a} {b}")
        tokens.append(a + b)
        types.append(gguf.TokenType.NORMAL)
    bos, eos = len(tokens), len(tokens) + 1
    tokens += ["<|bos|>", "<|eos|>"]
    types += [gguf.TokenType.CONTROL] * 2
    i = 0
    while len(tokens) < n_vocab:
        tokens.append(f"<|filler_{i}|>")
        types.append(gguf.TokenType.NORMAL)
        i += 1
    assert len(tokens) == n_vocab and len(set(tokens)) == n_vocab
    return tokens, types, merges, bos, eos


def tensor_list(s: dict) -> list[tuple[str, tuple[int, ...], str]]:
    """(name, ggml shape ne0..ne{n-1}, 'f16'|'f32') in llama.cpp's expected layout."""
    E, V, L, F = s["n_embd"], s["n_vocab"], s["n_layer"], s["n_ff"]
    hd, nh, nkv = s["head_dim"], s["n_head"], s["n_head_kv"]
    q, kv = hd * nh, hd * nkv
    X = s["experts"]
    out = [("token_embd.weight", (E, V), "f16"), ("output_norm.weight", (E,), "f32")]
    if not s["tied"]:
        out.append(("output.weight", (E, V), "f16"))
    for i in range(L):
        p = f"blk.{i}."
        out += [(p + "attn_norm.weight", (E,), "f32"),
                (p + "attn_q.weight", (E, q), "f16"),
                (p + "attn_k.weight", (E, kv), "f16"),
                (p + "attn_v.weight", (E, kv), "f16"),
                (p + "attn_output.weight", (q, E), "f16"),
                (p + "ffn_norm.weight", (E,), "f32")]
        if s["arch"] in ("qwen3moe", "gemma3"):
            out += [(p + "attn_q_norm.weight", (hd,), "f32"), (p + "attn_k_norm.weight", (hd,), "f32")]
        if s["arch"] in ("gemma2", "gemma3"):
            out += [(p + "post_attention_norm.weight", (E,), "f32"), (p + "post_ffw_norm.weight", (E,), "f32")]
        if X:
            out += [(p + "ffn_gate_inp.weight", (E, X), "f32"),
                    (p + "ffn_gate_exps.weight", (E, F, X), "f16"),
                    (p + "ffn_up_exps.weight", (E, F, X), "f16"),
                    (p + "ffn_down_exps.weight", (F, E, X), "f16")]
        else:
            out += [(p + "ffn_gate.weight", (E, F), "f16"),
                    (p + "ffn_up.weight", (E, F), "f16"),
                    (p + "ffn_down.weight", (F, E), "f16")]
    return out


def n_params(s: dict) -> int:
    return sum(int(np.prod(sh)) for _, sh, _ in tensor_list(s))


def write_f16(s: dict, path: Path) -> None:
    arch = s["arch"]
    w = gguf.GGUFWriter(str(path), arch)
    w.add_name(f"gpumem-synthetic-{s['name']}")
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    w.add_context_length(s["n_ctx_train"])
    w.add_embedding_length(s["n_embd"])
    w.add_block_count(s["n_layer"])
    w.add_head_count(s["n_head"])
    w.add_head_count_kv(s["n_head_kv"])
    w.add_key_length(s["head_dim"])
    w.add_value_length(s["head_dim"])
    w.add_rope_dimension_count(s["head_dim"])
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_vocab_size(s["n_vocab"])
    if s["experts"]:
        w.add_expert_count(s["experts"])
        w.add_expert_used_count(s["experts_used"])
        if arch == "qwen3moe":
            w.add_expert_feed_forward_length(s["n_ff"])
            w.add_feed_forward_length(s["n_ff"] * 4)  # unused by qwen3moe tensors
        else:
            w.add_feed_forward_length(s["n_ff"])
    else:
        w.add_feed_forward_length(s["n_ff"])
    if s["swa"]:
        w.add_sliding_window(s["swa"])
    if arch == "gemma2":
        w.add_attn_logit_softcapping(50.0)
        w.add_final_logit_softcapping(30.0)
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
    block = (rng.standard_normal(1 << 20, dtype=np.float32) * 0.02).astype(np.float16)
    tl = tensor_list(s)
    for name, shape, kind in tl:
        dt = np.float16 if kind == "f16" else np.float32
        nb = int(np.prod(shape)) * np.dtype(dt).itemsize
        w.add_tensor_info(name, tuple(reversed(shape)), np.dtype(dt), nb)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for name, shape, kind in tl:
        n = int(np.prod(shape))
        np_shape = tuple(reversed(shape))
        if kind == "f32":
            if name.endswith("ffn_gate_inp.weight"):
                arr = (rng.standard_normal(n, dtype=np.float32) * 0.02).reshape(np_shape)
            else:
                arr = np.ones(np_shape, dtype=np.float32)
        else:
            reps = -(-n // block.size)
            arr = np.tile(block, reps)[:n].reshape(np_shape)
        w.write_tensor_data(arr)
    w.close()


# ---------------------------------------------------------------------------
# Recurrent (Mamba-2) and hybrid shapes, F16 only (their recurrent state and
# KV cache do not depend on the weight type). Keys as llama.cpp de3ff81 reads
# them (models/mamba2.cpp, models/granite-hybrid.cpp load_arch_hparams):
#   d_inner = ssm.inner_size, d_state = ssm.state_size, heads = ssm.time_step_rank,
#   groups = ssm.group_count, d_conv = ssm.conv_kernel;
#   granitehybrid: layer il is recurrent iff head_count_kv[il] == 0; d_inner == 2 * n_embd.
# ---------------------------------------------------------------------------
SSM_SPECS: list[dict] = [
    dict(name="mamba2-370m", arch="mamba2", n_layer=12, n_embd=768, d_inner=1536, d_state=128,
         ssm_heads=24, groups=1, d_conv=4, n_vocab=32000, tied=True, attn_layers=(), n_ctx_train=32768),
    dict(name="mamba2-g8", arch="mamba2", n_layer=8, n_embd=512, d_inner=1024, d_state=64,
         ssm_heads=16, groups=8, d_conv=4, n_vocab=32000, tied=False, attn_layers=(), n_ctx_train=32768),
    dict(name="granitehybrid-s", arch="granitehybrid", n_layer=10, n_embd=768, d_inner=1536, d_state=128,
         ssm_heads=24, groups=1, d_conv=4, n_vocab=49152, tied=True, attn_layers=(4, 9),
         n_head=12, n_head_kv=4, head_dim=64, n_ff=2048, n_ctx_train=32768),
]


def ssm_tensor_list(s: dict) -> list[tuple[str, tuple[int, ...], str]]:
    E, V, L = s["n_embd"], s["n_vocab"], s["n_layer"]
    di, ds, nh, ng, dc = s["d_inner"], s["d_state"], s["ssm_heads"], s["groups"], s["d_conv"]
    conv = di + 2 * ng * ds
    out = [("token_embd.weight", (E, V), "f16"), ("output_norm.weight", (E,), "f32")]
    if not s["tied"]:
        out.append(("output.weight", (E, V), "f16"))
    for i in range(L):
        p = f"blk.{i}."
        out.append((p + "attn_norm.weight", (E,), "f32"))
        if i in s["attn_layers"]:
            q, kv = s["head_dim"] * s["n_head"], s["head_dim"] * s["n_head_kv"]
            out += [(p + "attn_q.weight", (E, q), "f16"), (p + "attn_k.weight", (E, kv), "f16"),
                    (p + "attn_v.weight", (E, kv), "f16"), (p + "attn_output.weight", (q, E), "f16")]
        else:
            out += [(p + "ssm_in.weight", (E, di + conv + nh), "f16"),
                    (p + "ssm_conv1d.weight", (dc, conv), "f32"),
                    (p + "ssm_conv1d.bias", (conv,), "f32"),
                    (p + "ssm_dt.bias", (nh,), "f32"),
                    (p + "ssm_a", (1, nh), "f32"),
                    (p + "ssm_d", (1, nh), "f32"),
                    (p + "ssm_norm.weight", (di // ng, ng), "f32"),
                    (p + "ssm_out.weight", (di, E), "f16")]
        if s["arch"] == "granitehybrid":
            F = s["n_ff"]
            out += [(p + "ffn_norm.weight", (E,), "f32"), (p + "ffn_gate.weight", (E, F), "f16"),
                    (p + "ffn_up.weight", (E, F), "f16"), (p + "ffn_down.weight", (F, E), "f16")]
    return out


def write_ssm(s: dict, path: Path) -> None:
    w = gguf.GGUFWriter(str(path), s["arch"])
    w.add_name(f"gpumem-synthetic-{s['name']}")
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    w.add_context_length(s["n_ctx_train"])
    w.add_embedding_length(s["n_embd"])
    w.add_block_count(s["n_layer"])
    w.add_ssm_conv_kernel(s["d_conv"])
    w.add_ssm_inner_size(s["d_inner"])
    w.add_ssm_state_size(s["d_state"])
    w.add_ssm_time_step_rank(s["ssm_heads"])
    w.add_ssm_group_count(s["groups"])
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(s["n_vocab"])
    if s["attn_layers"]:
        w.add_head_count(s["n_head"])
        w.add_head_count_kv([s["n_head_kv"] if i in s["attn_layers"] else 0 for i in range(s["n_layer"])])
        w.add_key_length(s["head_dim"])
        w.add_value_length(s["head_dim"])
        w.add_rope_dimension_count(s["head_dim"])
        w.add_rope_freq_base(10000.0)
        w.add_feed_forward_length(s["n_ff"])
    else:
        w.add_head_count(0)
        w.add_head_count_kv(0)
        w.add_feed_forward_length(0)
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
    tl = ssm_tensor_list(s)
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
        elif name.endswith("ssm_a"):
            arr = -np.ones(np_shape, dtype=np.float32)  # A = -exp(A_log) < 0
        elif "norm" in name or name.endswith("ssm_d"):
            arr = np.ones(np_shape, dtype=np.float32)
        else:
            arr = (rng.standard_normal(np_shape, dtype=np.float32) * 0.02)
        w.write_tensor_data(arr)
    w.close()


# ---------------------------------------------------------------------------
# Embedding / reranker shapes (issue #6), F16 only. arch "bert" as de3ff81
# reads it (models/bert.cpp): token_type_count, attention.causal = false,
# pooling_type; rank pooling needs cls, cls.output and classifier labels
# (n_cls_out = number of labels, llama-model.cpp load_hparams).
# pooling: 1 mean, 2 cls, 3 last, 4 rank (gguf.PoolingType).
# ---------------------------------------------------------------------------
EMBED_SPECS: list[dict] = [
    dict(name="bert-small", arch="bert", n_layer=6, n_embd=384, n_head=12, n_ff=1536, n_vocab=30522,
         n_ctx_train=512, pooling=1, cls_labels=()),
    dict(name="bert-base", arch="bert", n_layer=12, n_embd=768, n_head=12, n_ff=3072, n_vocab=30522,
         n_ctx_train=2048, pooling=2, cls_labels=()),
    dict(name="bert-rerank", arch="bert", n_layer=6, n_embd=384, n_head=12, n_ff=1536, n_vocab=30522,
         n_ctx_train=512, pooling=4, cls_labels=("LABEL_0",)),
    # nomic-bert: rotary positions (no position_embd), a gated (SwiGLU) FFN
    dict(name="nomic-small", arch="nomic-bert", n_layer=6, n_embd=384, n_head=12, n_ff=1536, n_vocab=30522,
         n_ctx_train=2048, pooling=1, cls_labels=()),
]


def embed_tensor_list(s: dict) -> list[tuple[str, tuple[int, ...], str]]:
    E, V, L, F, C = s["n_embd"], s["n_vocab"], s["n_layer"], s["n_ff"], s["n_ctx_train"]
    nomic = s["arch"] == "nomic-bert"
    out = [("token_embd.weight", (E, V), "f16"), ("token_types.weight", (E, 2), "f32")]
    if not nomic:
        out += [("position_embd.weight", (E, C), "f16")]
    out += [("token_embd_norm.weight", (E,), "f32"), ("token_embd_norm.bias", (E,), "f32")]
    if s["cls_labels"]:
        out += [("cls.weight", (E, E), "f16"), ("cls.bias", (E,), "f32"),
                ("cls.output.weight", (E, len(s["cls_labels"])), "f16"),
                ("cls.output.bias", (len(s["cls_labels"]),), "f32")]
    for i in range(L):
        p = f"blk.{i}."
        for t in ("attn_q", "attn_k", "attn_v", "attn_output"):
            out += [(p + t + ".weight", (E, E), "f16"), (p + t + ".bias", (E,), "f32")]
        out += [(p + "attn_output_norm.weight", (E,), "f32"), (p + "attn_output_norm.bias", (E,), "f32"),
                (p + "ffn_up.weight", (E, F), "f16"), (p + "ffn_up.bias", (F,), "f32"),
                (p + "ffn_down.weight", (F, E), "f16"), (p + "ffn_down.bias", (E,), "f32"),
                (p + "layer_output_norm.weight", (E,), "f32"), (p + "layer_output_norm.bias", (E,), "f32")]
        if nomic:
            out += [(p + "ffn_gate.weight", (E, F), "f16")]
    return out


def write_embed(s: dict, path: Path) -> None:
    w = gguf.GGUFWriter(str(path), s["arch"])
    w.add_name(f"gpumem-synthetic-{s['name']}")
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    w.add_context_length(s["n_ctx_train"])
    w.add_embedding_length(s["n_embd"])
    w.add_block_count(s["n_layer"])
    w.add_head_count(s["n_head"])
    w.add_feed_forward_length(s["n_ff"])
    w.add_layer_norm_eps(1e-12)
    w.add_causal_attention(False)
    w.add_pooling_type(gguf.PoolingType(s["pooling"]))
    w.add_token_type_count(2)
    w.add_vocab_size(s["n_vocab"])
    if s["cls_labels"]:
        w.add_classifier_output_labels(list(s["cls_labels"]))
    tokens, types, merges, bos, eos = make_vocab(s["n_vocab"])
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(bos)
    w.add_eos_token_id(eos)
    w.add_sep_token_id(eos)
    w.add_add_bos_token(True)
    w.add_add_eos_token(True)
    rng = np.random.default_rng(0)
    tl = embed_tensor_list(s)
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
        elif "norm.weight" in name:
            arr = np.ones(np_shape, dtype=np.float32)
        else:
            arr = rng.standard_normal(np_shape, dtype=np.float32) * 0.02
        w.write_tensor_data(arr)
    w.close()


def quantize(qbin: str, src: Path, dst: Path, qtype: str) -> None:
    tmp = dst.with_suffix(".tmp")
    r = subprocess.run([qbin, str(src), str(tmp), qtype, str(os.cpu_count() or 1)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stdout[-3000:])
        raise SystemExit(f"llama-quantize {qtype} failed for {src}")
    tmp.rename(dst)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.environ.get("GGUF_DIR", "/tmp/gpumem-gguf"))
    ap.add_argument("--only", default="", help="comma-separated spec names")
    ap.add_argument("--types", default="F16," + ",".join(QUANT_TYPES))
    default_dir = os.environ.get("LLAMACPP_DIR", os.path.join(os.environ.get("XDG_CACHE_HOME", "/tmp"), "llamacpp-nlc3.22.1"))
    ap.add_argument("--quantize", default=os.path.join(default_dir, "build", "bin", "llama-quantize"))
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--ssm", action="store_true", help="write SSM_SPECS (Mamba-2, hybrids; F16 only) instead")
    ap.add_argument("--embed", action="store_true", help="write EMBED_SPECS (bert embedding/reranker; F16 only) instead")
    a = ap.parse_args()
    specs = [s for s in SPECS if not a.only or s["name"] in a.only.split(",")]
    if a.list:
        for s in specs:
            print(f"{s['name']:20s} {s['arch']:9s} params={n_params(s)/1e6:8.1f}M")
        return
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if a.ssm or a.embed:
        for s in (SSM_SPECS if a.ssm else EMBED_SPECS):
            if a.only and s["name"] not in a.only.split(","):
                continue
            f16 = out / f"{s['name']}-F16.gguf"
            if not f16.exists():
                tmp = f16.with_suffix(".tmp")
                (write_ssm if a.ssm else write_embed)(s, tmp)
                tmp.rename(f16)
                print(f"wrote {f16} ({f16.stat().st_size} bytes)", flush=True)
        return
    types = a.types.split(",")
    for s in specs:
        f16 = out / f"{s['name']}-F16.gguf"
        if not f16.exists():
            tmp = f16.with_suffix(".tmp")
            write_f16(s, tmp)
            tmp.rename(f16)
            print(f"wrote {f16} ({f16.stat().st_size} bytes)", flush=True)
        for t in types:
            if t == "F16":
                continue
            dst = out / f"{s['name']}-{t}.gguf"
            if not dst.exists():
                quantize(a.quantize, f16, dst, t)
                print(f"wrote {dst} ({dst.stat().st_size} bytes)", flush=True)


if __name__ == "__main__":
    main()
