"""GGUF headers (metadata and tensor infos, no tensor data) for the models of
the public llama.cpp logs in tests/data/engine_logs/llamacpp.tsv whose
architecture the log prints in full, and the settings each log ran with, so
that a test can re-estimate every buffer the log printed without the
multi-GB files.

The tensor set is the architecture's (names and shapes from the printed
n_layer, n_embd, heads, n_ff, experts, vocabulary); the tensor types are the
file type's main type, so model buffers are not expected to match the log
(the real files mix types); KV, output and compute buffers do not depend on
them, except the streamed expert tensor of op offload, whose type (Q6_K,
Q8_0) is the file's uniform expert type in the logs used here.

    validation/.venv/bin/python validation/llamacpp/public_log_headers.py

writes tests/data/engine_logs/headers/<id>.gguf-header and
tests/data/engine_logs/llamacpp_cases.json.
"""
import json
import os

import gguf
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
LOGS = os.path.join(ROOT, "tests", "data", "engine_logs")
T = gguf.GGMLQuantizationType

PYTHIA_2_8B = dict(arch="gptneox", n_layer=32, n_embd=2560, n_head=32, n_head_kv=32, head_dim=80,
                   n_ff=10240, n_vocab=50304, tied=False, gated=False)


def pythia_2_8b(case_id, qtype, n_batch=2048):
    """A ggml-org/ci Pythia-2.8B run (build 4192, V100): -c 2048, -ngl 99."""
    return dict(id=case_id, type=qtype, model=PYTHIA_2_8B,
                settings=dict(n_ctx=2048, n_batch=n_batch, n_ubatch=512, flash_attn="off",
                              ctk="f16", ctv="f16", gpus=1))


QWEN3_235B = dict(arch="qwen3moe", n_layer=94, n_embd=4096, n_head=64, n_head_kv=4, head_dim=128,
                  n_ff=12288, n_ff_exp=1536, n_expert=128, n_expert_used=8, n_vocab=151936,
                  qk_norm=True, tied=False)
QWEN3_30B_A3B = dict(arch="qwen3moe", n_layer=48, n_embd=2048, n_head=32, n_head_kv=4, head_dim=128,
                     n_ff=6144, n_ff_exp=768, n_expert=128, n_expert_used=8, n_vocab=151936,
                     qk_norm=True, tied=False)
GEMMA3_1B = dict(arch="gemma3", n_layer=26, n_embd=1152, n_head=4, n_head_kv=1, head_dim=256,
                 n_ff=6912, n_vocab=262144, n_swa=512, qk_norm=True, tied=True)
# The logs' own transcription: settings from each log's command line and its
# printed n_ctx/n_batch/n_ubatch/flash_attn/type_k/type_v lines; n_cpu_moe
# stands for the -ot patterns that keep the experts of all but the first
# few layers on the host.
CASES = [
    dict(id="glm-z1-32b-iq4xs-3090ti-32k-fa", type=T.IQ4_XS,
         model=dict(arch="glm4", n_layer=61, n_embd=6144, n_head=48, n_head_kv=2, head_dim=128,
                    n_ff=23040, n_vocab=151552, tied=False),
         settings=dict(n_ctx=32768, n_batch=2048, n_ubatch=512, flash_attn="on", ctk="f16",
                       ctv="f16", gpus=1)),
    dict(id="qwen3-235b-q6k-1x3090-ot-q8kv", type=T.Q6_K, model=QWEN3_235B,
         settings=dict(n_ctx=16384, n_batch=2048, n_ubatch=512, flash_attn="on", ctk="q8_0",
                       ctv="q8_0", gpus=1, n_cpu_moe=89)),
    dict(id="qwen3-235b-q6k-2x3090-ot-q8kv", type=T.Q6_K, model=QWEN3_235B,
         settings=dict(n_ctx=16384, n_batch=2048, n_ubatch=512, flash_attn="on", ctk="q8_0",
                       ctv="q8_0", gpus=2, n_cpu_moe=80)),
    # -ngl 0 with two GPUs visible: op offload on CUDA0; the CPU backend's
    # graph is "CPU compute" here, and "CUDA_Host compute" holds pinned
    # staging copies gpumem does not model.
    dict(id="qwen3-235b-q6k-ngl0-q8kv", type=T.Q6_K, model=QWEN3_235B,
         settings=dict(n_ctx=16384, n_batch=2048, n_ubatch=512, flash_attn="on", ctk="q8_0",
                       ctv="q8_0", gpus=1, n_gpu_layers=0),
         compare={"CPU compute": "host compute", "CUDA_Host compute": None}),
    dict(id="qwen3-235b-q8-a6000-ot-q8kv", type=T.Q8_0, model=QWEN3_235B,
         settings=dict(n_ctx=32768, n_batch=2048, n_ubatch=512, flash_attn="on", ctk="q8_0",
                       ctv="q8_0", gpus=1, n_cpu_moe=80)),
    dict(id="qwen3-235b-q8-a6000-ot-f16kv", type=T.Q8_0, model=QWEN3_235B,
         settings=dict(n_ctx=32768, n_batch=2048, n_ubatch=512, flash_attn="on", ctk="f16",
                       ctv="f16", gpus=1, n_cpu_moe=81)),
    dict(id="llama3-8b-bllossom-q4km-3070-512", type=T.Q4_K,
         model=dict(arch="llama", n_layer=32, n_embd=4096, n_head=32, n_head_kv=8, head_dim=128,
                    n_ff=14336, n_vocab=128256, tied=False),
         settings=dict(n_ctx=512, n_batch=512, n_ubatch=512, flash_attn="off", ctk="f16",
                       ctv="f16", gpus=1)),
    # ggml-org/ci, build 4192, Tesla V100: the printed gptneox shapes (no
    # GQA, no gate, fused QKV in the file; the tensor set here is the
    # generic one, which KV, output and compute do not depend on).
    pythia_2_8b("pythia-2.8b-q4_0-v100-ci", T.Q4_0),
    # The same CI run's f16 and q6_K files (130 tensors of the one type,
    # output included): other weights, the same KV, output and graphs.
    pythia_2_8b("pythia-2.8b-f16-v100-ci", T.F16),
    pythia_2_8b("pythia-2.8b-q6_k-v100-ci", T.Q6_K),
    # Mainline build 6699, RTX 3070: sliding-window layers (n_swa 128, every
    # other layer), 32 experts with --n-cpu-moe 99 (all on the host), the
    # file's type counts: q8_0 attention/embeddings/output, MXFP4 experts.
    dict(id="gpt-oss-20b-mxfp4-3070-128k-cpumoe", type=T.Q8_0,
         types=dict(experts=T.MXFP4),
         model=dict(arch="gpt-oss", n_layer=24, n_embd=2880, n_head=64, n_head_kv=8, head_dim=64,
                    n_ff=2880, n_ff_exp=2880, n_expert=32, n_expert_used=4, n_vocab=201088,
                    n_swa=128, biases=True, tied=False),
         settings=dict(n_ctx=131072, n_batch=2048, n_ubatch=512, flash_attn="on", ctk="f16",
                       ctv="f16", gpus=1, n_cpu_moe=99),
         # CUDA0's graph under op offload: layer 0 slides and streams its
         # experts before layer 1 first attends over the 131072-cell mask,
         # so the f32 mask copy goes above the space layer 0 left (4 B per
         # element) and its f16 cast into it: 134.5 + 73.1 + 256 = 463.6
         # MiB against 456.98 printed (the 8 B rule of the Qwen3-235B logs,
         # whose layer 0 attends first, gave 719.6). The host's inputs
         # print 263.15 MiB, 0.02 over
         # gpumem's 263.13: a build with the set_rows KV path (b6699) also
         # feeds int64 K and V row indices per ubatch token for each of the
         # two caches (4 x 512 x 8 B = 0.016 MiB), which gpumem does not
         # count; held to the graph tolerance instead of the 0.01 MiB.
         compare={"CUDA_Host compute": "host compute"}),
    # The same CI files' llama-perplexity runs (-ngl 99 -c 2048 -b 512):
    # n_batch 512 instead of 2048, the same buffers printed.
    pythia_2_8b("pythia-2.8b-f16-v100-ci-ppl-b512", T.F16, n_batch=512),
    pythia_2_8b("pythia-2.8b-q8_0-v100-ci", T.Q8_0),
    pythia_2_8b("pythia-2.8b-q6_k-v100-ci-ppl-b512", T.Q6_K, n_batch=512),
    pythia_2_8b("pythia-2.8b-q4_k-v100-ci-ppl-b512", T.Q4_K, n_batch=512),
    # -ngl 22 of TinyLlama's 22 layers: b6699's rule puts all 22 repeating
    # layers on CUDA0 and the output layer on the CPU, as the log prints
    # (22/23 offloaded, CPU output); de3ff81 would offload the output and
    # 21 layers (84 MiB of KV). The log prints n_layer only; the rest is
    # TinyLlama-1.1B's published shape, which the printed KV (88 MiB =
    # 22 layers x 4096 cells x 4 KV heads x 64 x 2 x f16) and output
    # (0.12 MiB = 32000 x 4 B) confirm. Compute buffers not in the excerpt.
    dict(id="tinyllama-1.1b-3060-partial22-4k", type=T.Q4_K,
         model=dict(arch="llama", n_layer=22, n_embd=2048, n_head=32, n_head_kv=4, head_dim=64,
                    n_ff=5632, n_vocab=32000, tied=False),
         settings=dict(n_ctx=4096, n_batch=2048, n_ubatch=512, flash_attn="off", ctk="f16",
                       ctv="f16", gpus=1, n_gpu_layers=22)),
    # CPU build 4192, -c 128 without flash attention: 128 cells (b6699's
    # padding 32; de3ff81 would pad to 256). The CPU backend's graph is
    # compared to gpumem's host graph (fitted to de3ff81's CPU build).
    dict(id="pythia-1.4b-q4_0-cpu-ci-128", type=T.Q4_0,
         model=dict(arch="gptneox", n_layer=24, n_embd=2048, n_head=16, n_head_kv=16, head_dim=128,
                    n_ff=8192, n_vocab=50304, tied=False, gated=False),
         settings=dict(n_ctx=128, n_batch=128, n_ubatch=128, flash_attn="off", ctk="f16",
                       ctv="f16", gpus=0),
         compare={"CPU compute": "host compute"}),
    # Gemma 3 1B before PR #13194 (b5050, Jetson Nano CUDA; b4879, Vulkan):
    # 22 of 26 layers slide (n_swa 512, pattern 6) but cache the full
    # context; their own f32 mask beside the full layers' one gives the
    # host's inputs 2 x 4096 x 512 x 4 B + 512 x 1152 x 4 B = 18.25 MiB
    # (printed 18.26; 34.26 at 8192 cells). Gemma 3 ties the output to the
    # token embeddings (no output.weight). Rows of 1152 do not fit Q4_K's
    # 256-blocks (the Q4_K_M file stores them in q5_0/q8_0): q8_0 stands in.
    dict(id="gemma3-1b-q4km-jetson-4k", type=T.Q8_0, model=GEMMA3_1B,
         settings=dict(n_ctx=4096, n_batch=2048, n_ubatch=512, flash_attn="off", ctk="f16",
                       ctv="f16", gpus=1)),
    dict(id="gemma3-1b-q8-vulkan-8k", type=T.Q8_0, model=GEMMA3_1B,
         settings=dict(n_ctx=8192, n_batch=2048, n_ubatch=512, flash_attn="off", ctk="f16",
                       ctv="f16", gpus=1)),
    # Mainline b5622 on an RTX 4090 (CUDA0, 9862 MiB free) and an RTX 5090
    # (CUDA1, 31518 MiB free), -ngl 99 -ot ".ffn_.*_exps.=CPU" -c 16384, no
    # -ts: llama.cpp splits the 49 offloaded layers by free memory, so the
    # free MiB stand in as -ts (12 layers and 384 MiB of KV on CUDA0, 36
    # and the output on CUDA1). Every expert tensor stays on the host and
    # op offload streams it to CUDA0; the Q4_K_M file stores ffn_down_exps
    # of 24 layers in q6_K (49 q6_K tensors with attn_v and the output), the
    # largest streamed tensor, so the experts are q6_K here.
    dict(id="qwen3-30b-a3b-q4km-4090+5090-16k", type=T.Q4_K, types=dict(experts=T.Q6_K),
         model=QWEN3_30B_A3B,
         settings=dict(n_ctx=16384, n_batch=2048, n_ubatch=512, flash_attn="off", ctk="f16",
                       ctv="f16", gpus=2, n_cpu_moe=48, tensor_split=[9862, 31518])),
]


def rule_for(printed):
    """The --llamacpp-version whose rules a log's build follows: b5050 for
    mainline builds before PR #13194 (May 2025; the newest recorded is 5331,
    2025-05-09) and the 2024 llama-cpp-python build; b6699 for builds from
    5466 (2025-05-23, after that PR) up to 6699 (before PR #16812, #18148
    and #23764); de3ff81 for builds from PR #23764 on. The two older rule
    sets differ only for models with sliding-window layers."""
    build = printed.split(" ")[0]
    if build.isdigit():
        if int(build) <= 5331:
            return "b5050"
        if 5466 <= int(build) <= 6699:
            return "b6699"
        raise ValueError("no rule set for build " + build)
    if "2024" in printed:
        return "b5050"
    if "b5913" in printed:
        return "b6699"
    raise ValueError("unknown build: " + printed)


def nbytes(qtype, shape):
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    n = int(np.prod(shape))
    assert n % block == 0, (shape, qtype)
    return n // block * size


def tensors(m, qtype, types=None):
    """(name, shape in GGUF order, type) of the architecture's tensors.
    `types` overrides the main type where the log's type counts say so:
    "output" (the one q6_K tensor of the CI's Pythia files), "attn" and
    "experts" (gpt-oss: q8_0 attention and embeddings, MXFP4 experts)."""
    types = types or {}
    e, hd = m["n_embd"], m["head_dim"]
    q, kv = m["n_head"] * hd, m["n_head_kv"] * hd
    at, xt = types.get("attn", qtype), types.get("experts", qtype)
    out = [("token_embd.weight", (e, m["n_vocab"]), types.get("embd", qtype)),
           ("output_norm.weight", (e,), T.F32)]
    if not m["tied"]:
        out.append(("output.weight", (e, m["n_vocab"]), types.get("output", qtype)))
    for il in range(m["n_layer"]):
        b = f"blk.{il}."
        out += [(b + "attn_norm.weight", (e,), T.F32), (b + "attn_q.weight", (e, q), at),
                (b + "attn_k.weight", (e, kv), at), (b + "attn_v.weight", (e, kv), at),
                (b + "attn_output.weight", (q, e), at), (b + "ffn_norm.weight", (e,), T.F32)]
        if m.get("qk_norm"):
            out += [(b + "attn_q_norm.weight", (hd,), T.F32), (b + "attn_k_norm.weight", (hd,), T.F32)]
        if m.get("biases"):  # gpt-oss: attention biases, sinks, router and expert biases
            out += [(b + "attn_q.bias", (q,), T.F32), (b + "attn_k.bias", (kv,), T.F32),
                    (b + "attn_v.bias", (kv,), T.F32), (b + "attn_output.bias", (e,), T.F32),
                    (b + "attn_sinks.weight", (m["n_head"],), T.F32),
                    (b + "ffn_gate_inp.bias", (m["n_expert"],), T.F32)]
            f, x = m["n_ff_exp"], m["n_expert"]
            out += [(b + "ffn_gate_exps.bias", (f, x), T.F32), (b + "ffn_up_exps.bias", (f, x), T.F32),
                    (b + "ffn_down_exps.bias", (e, x), T.F32)]
        if m.get("n_expert"):
            f, x = m["n_ff_exp"], m["n_expert"]
            out += [(b + "ffn_gate_inp.weight", (e, x), T.F32),
                    (b + "ffn_gate_exps.weight", (e, f, x), xt),
                    (b + "ffn_up_exps.weight", (e, f, x), xt),
                    (b + "ffn_down_exps.weight", (f, e, x), xt)]
        else:
            f = m["n_ff"]
            if m.get("gated", True):
                out.append((b + "ffn_gate.weight", (e, f), qtype))
            out += [(b + "ffn_up.weight", (e, f), qtype), (b + "ffn_down.weight", (f, e), qtype)]
    return out


def write_header(path, m, qtype, types=None):
    arch = m["arch"]
    w = gguf.GGUFWriter(path, arch)
    w.add_name(os.path.basename(path))
    w.add_context_length(131072)
    w.add_embedding_length(m["n_embd"])
    w.add_block_count(m["n_layer"])
    w.add_head_count(m["n_head"])
    w.add_head_count_kv(m["n_head_kv"])
    w.add_key_length(m["head_dim"])
    w.add_value_length(m["head_dim"])
    w.add_feed_forward_length(m["n_ff"])
    w.add_vocab_size(m["n_vocab"])
    w.add_layer_norm_rms_eps(1e-6)
    if m.get("n_expert"):
        w.add_expert_count(m["n_expert"])
        w.add_expert_used_count(m["n_expert_used"])
        w.add_expert_feed_forward_length(m["n_ff_exp"])
    if m.get("n_swa"):
        w.add_sliding_window(m["n_swa"])
    total = 0
    for name, shape, t in tensors(m, qtype, types):
        n = nbytes(t, shape)
        w.add_tensor_info(name, tuple(reversed(shape)), np.float32, n, raw_dtype=t)
        total += (n + 31) // 32 * 32
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()
    header = os.path.getsize(path)
    return (header + 31) // 32 * 32 + total


def main():
    rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(LOGS, "llamacpp.tsv"))
            if not l.startswith("#")]
    printed = {r[0]: json.loads(r[6]) for r in rows[1:]}
    builds = {r[0]: r[2] for r in rows[1:]}
    os.makedirs(os.path.join(LOGS, "headers"), exist_ok=True)
    out = []
    for c in CASES:
        path = os.path.join(LOGS, "headers", c["id"] + ".gguf-header")
        size = write_header(path, c["model"], c["type"], c.get("types"))
        settings = dict(c["settings"], llamacpp_version=rule_for(builds[c["id"]]))
        out.append(dict(id=c["id"], header=os.path.relpath(path, LOGS), file_size=size,
                        settings=settings, printed_mib=printed[c["id"]],
                        compare=c.get("compare", {})))
    with open(os.path.join(LOGS, "llamacpp_cases.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"{len(out)} cases")


if __name__ == "__main__":
    main()
