"""vLLM's own KV-cache arithmetic on catalog configs, recorded as data.

Runs inside a venv made by validation/vllm/setup.sh VERSION (vLLM installed
from PyPI without its GPU kernels). No GPU is needed: vLLM's config objects
are built by vLLM itself (EngineArgs.create_engine_config on a directory that
holds the catalog config.json), the per-layer KVCacheSpec objects are built
the way the layers' get_kv_cache_spec() builds them in that version, and the
engine core's planning functions are called on them with an available-memory
figure, as vLLM does after profiling or with --kv-cache-memory.

Usage: python kv_utils_reference.py OUT.jsonl [--switched] [MODEL ...]
(MODEL names limit the run to those catalog models' cases; --switched runs
the cases with the hybrid KV-cache manager switched by hand instead.)
Writes one JSON line per case: the vLLM version, the inputs, and what vLLM
computed (page size, groups, num_blocks, bytes per block, the token count and
concurrency it prints, or the error it raises when one request does not fit).
"""

import contextlib
import io
import json
import logging
import os
import re
import shutil
import sys
import tempfile
from importlib import metadata

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
MODELS = os.path.join(ROOT, "data", "models")
VERSION = metadata.version("vllm")
GiB = 1 << 30

# (catalog model, max_model_len, [(tp, block_size, kv_cache_dtype, memory)])
CASES = [
    ("llama-3.1-8b", 8192, [(1, 16, "auto", 10 * GiB), (2, 16, "fp8", 7 * GiB + 12345),
                            (8, 32, "auto", 3 * GiB)]),
    ("llama-3.2-1b", 131072, [(1, 16, "auto", 20 * GiB + 777)]),
    ("llama-3.1-70b", 32768, [(4, 16, "auto", 30 * GiB), (8, 16, "fp8", 40 * GiB)]),
    ("qwen3-8b", 40960, [(1, 16, "auto", 18 * GiB + 4096), (2, 32, "fp8", 25 * GiB)]),
    ("qwen3-0.6b", 40960, [(1, 16, "auto", 5 * GiB)]),
    ("qwen2.5-7b", 32768, [(1, 16, "auto", 12 * GiB), (4, 16, "auto", 12 * GiB)]),
    ("mistral-nemo", 16384, [(1, 16, "auto", 9 * GiB)]),
    ("phi-3-mini-4k", 4096, [(1, 16, "auto", 6 * GiB + 99)]),
    ("mixtral-8x7b", 32768, [(2, 16, "auto", 11 * GiB)]),
    ("mistral-7b-v0.1", 32768, [(1, 16, "auto", 8 * GiB), (2, 16, "fp8", 3 * GiB),
                                (1, 16, "auto", 300 * (1 << 20))]),
    ("starcoder2-3b", 16384, [(1, 16, "auto", 4 * GiB), (1, 32, "fp8", 2 * GiB)]),
    ("starcoder2-15b", 16384, [(2, 16, "auto", 10 * GiB)]),
    ("gemma-2-9b-it", 8192, [(1, 16, "auto", 12 * GiB), (2, 16, "fp8", 6 * GiB + 5)]),
    ("gpt-oss-20b", 131072, [(1, 16, "auto", 20 * GiB), (2, 16, "fp8", 9 * GiB)]),
    ("gpt-oss-120b", 131072, [(4, 16, "auto", 25 * GiB), (8, 32, "auto", 30 * GiB)]),
    ("deepseek-v2-lite", 32768, [(1, 16, "auto", 10 * GiB), (1, 64, "fp8", 10 * GiB),
                                 (2, 64, "auto", 4 * GiB)]),
    ("deepseek-v3", 163840, [(8, 64, "auto", 20 * GiB), (8, 64, "fp8", 6 * GiB)]),
    ("mamba-130m", 2048, [(1, 16, "auto", 1 * GiB), (2, 16, "auto", 2 * GiB)]),
    ("mamba-2.8b", 2048, [(1, 16, "auto", 8 * GiB)]),
    # Too small for one request: vLLM refuses and estimates a length.
    ("llama-3.1-8b", 131072, [(1, 16, "auto", 8 * GiB)]),
    # Hybrid attention + Mamba (nemotron_h, jamba).
    ("nemotron-3-nano-30b-a3b", 32768, [(1, 16, "auto", 10 * GiB), (2, 16, "fp8", 6 * GiB + 321),
                                        (1, 16, "auto", 1 * GiB)]),
    ("nemotron-h-56b", 8192, [(4, 16, "auto", 12 * GiB), (8, 64, "auto", 5 * GiB)]),
    ("jamba-1.5-mini", 65536, [(1, 16, "auto", 9 * GiB), (2, 32, "auto", 4 * GiB + 77),
                               (1, 16, "fp8", 20 * GiB)]),
    ("nemotron-3-nano-30b-a3b", 262144, [(1, 16, "auto", 1 * GiB)]),
    # Granite 4.0-H-Tiny's shape (a repository path: not in the catalog).
    ("validation/configs/arch/granitemoehybrid-tiny-shape", 131072,
     [(1, 16, "auto", 6 * GiB), (2, 16, "fp8", 3 * GiB + 1), (4, 64, "auto", 2 * GiB)]),
    ("jamba-1.5-mini", 262144, [(2, 16, "auto", 2 * GiB)]),
    # Llama 4: chunked local attention (8192-token chunks) in 3 of 4 layers.
    ("llama-4-scout", 131072, [(1, 16, "auto", 40 * GiB), (4, 16, "fp8", 20 * GiB + 333),
                               (8, 16, "auto", 10 * GiB), (8, 32, "auto", 3 * GiB)]),
    ("llama-4-scout", 1048576, [(8, 16, "auto", 30 * GiB), (4, 16, "fp8", 10 * GiB)]),
    ("llama-4-maverick", 65536, [(8, 16, "auto", 20 * GiB), (8, 16, "fp8", 5 * GiB),
                                 (4, 64, "auto", 12 * GiB + 7), (1, 16, "auto", 2 * GiB)]),
    ("llama-4-maverick", 1048576, [(8, 16, "auto", 16 * GiB)]),
]

# The hybrid KV-cache manager switched by hand (a 5th element per run):
# "off" is --disable-hybrid-kv-cache-manager; "on" sets
# VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE=1 (0.11.0's default is
# 0), "chunked-off" sets it to 0 (0.33.0's default is 1).
SWITCHED = [
    ("gemma-2-9b-it", 8192, [(1, 16, "auto", 12 * GiB, "off"), (2, 16, "fp8", 3 * GiB, "off")]),
    ("gpt-oss-20b", 131072, [(1, 16, "auto", 20 * GiB, "off"), (2, 16, "auto", 3 * GiB, "off")]),
    ("mistral-7b-v0.1", 32768, [(1, 16, "auto", 8 * GiB, "off")]),
    ("llama-4-scout", 131072, [(8, 16, "auto", 10 * GiB, "on"), (4, 16, "fp8", 5 * GiB, "on"),
                               (8, 16, "auto", 10 * GiB, "chunked-off"),
                               (8, 16, "auto", 10 * GiB, "off")]),
    ("llama-4-maverick", 1048576, [(8, 16, "auto", 16 * GiB, "on"),
                                   (8, 16, "auto", 16 * GiB, "chunked-off")]),
]
BATCHED_TOKENS = 8192
# Models a version cannot build, left out of its run: 0.11.0's nemotron_h.py
# has no MoE ("E") block type (ALL_DECODER_LAYER_TYPES: M, -, *).
UNBUILDABLE = {"0.11.0": {"nemotron-3-nano-30b-a3b"}}


def load_vllm():
    """Imports vLLM with two answers of its CUDA platform (platforms/cuda.py)
    given to the unspecified platform it resolves with no GPU here: the
    device type "cuda" (an empty one stops config construction) and
    support_hybrid_kv_cache() True (False would make VllmConfig disable the
    hybrid KV-cache manager, turning sliding-window layers into full ones).
    Nothing else of the platform reaches the arithmetic checked here."""
    from vllm.platforms import current_platform

    current_platform.device_type = "cuda"
    current_platform.support_hybrid_kv_cache = lambda: True
    logging.getLogger("vllm").setLevel(logging.WARNING)
    import transformers

    if "nemotron_h" not in transformers.CONFIG_MAPPING:
        # 0.11.0's transformers 4.57 has no nemotron_h config, and vLLM
        # 0.11.0 does not register its own (transformers_utils/configs/
        # nemotron_h.py, the class its nemotron_h.py reads) with
        # _CONFIG_REGISTRY: register that class with AutoConfig instead of
        # running the checkpoint's remote code.
        from vllm.transformers_utils.configs import NemotronHConfig

        transformers.AutoConfig.register("nemotron_h", NemotronHConfig)


def model_dir(name, tmp):
    """A directory holding the catalog config as config.json. The weights'
    quantization_config is dropped: it changes no KV-cache figure, and the
    no-GPU platform rejects MXFP4 checkpoints before any KV arithmetic."""
    src = os.path.join(ROOT, name + ".json") if "/" in name else os.path.join(MODELS, name + ".json")
    with open(src) as f:
        cfg = json.load(f)
    cfg.pop("quantization_config", None)
    cfg.pop("auto_map", None)  # the config class comes from transformers or vLLM
    if cfg.get("architectures") == ["Llama4ForConditionalGeneration"]:
        # The text model alone (Llama4ForCausalLM): the same language model
        # and KV-cache layers; vLLM's mllama4.py imports transformers'
        # Llama 4 image processor, which needs torchvision (not installed).
        text = dict(cfg["text_config"])
        text.update(architectures=["Llama4ForCausalLM"], model_type="llama4_text",
                    torch_dtype=cfg.get("torch_dtype", text.get("torch_dtype")))
        cfg = text
    d = os.path.join(tmp, os.path.basename(name))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f)
    return d


def engine_config(path, max_len, tp, block, kv_dtype, switch=None):
    import dataclasses

    from vllm.engine.arg_utils import EngineArgs

    extra = {}
    os.environ.pop("VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE", None)
    if switch == "off":
        extra["disable_hybrid_kv_cache_manager"] = True
    elif switch in ("on", "chunked-off"):
        os.environ["VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE"] = (
            "1" if switch == "on" else "0")
    if "swap_space" in {f.name for f in dataclasses.fields(EngineArgs)}:
        # 0.11.0 checks its CPU swap (4 GiB per rank) against this
        # machine's memory; the swap plays no part in the GPU pool.
        extra["swap_space"] = 0
    args = EngineArgs(model=path, skip_tokenizer_init=True, max_model_len=max_len,
                      block_size=block, kv_cache_dtype=kv_dtype, tensor_parallel_size=tp,
                      max_num_batched_tokens=BATCHED_TOKENS, **extra)
    return args.create_engine_config()


# ------------------------------------------------------------------ specs


def sliding_layers(vc, n):
    """Which layers get a sliding window, as the model files decide."""
    hf = vc.model_config.hf_text_config
    arch = vc.model_config.architectures[0]
    window = getattr(hf, "sliding_window", None)
    types = getattr(hf, "layer_types", None)
    if arch == "GptOssForCausalLM":  # gpt_oss.py: even layers
        return [window if i % 2 == 0 else None for i in range(n)]
    if types:  # llama.py, gemma2.py, transformers backend: layer_types
        return [window if types[i] == "sliding_attention" else None for i in range(n)]
    # No per-layer window: Attention falls back to the model-level
    # cache_config.sliding_window (attention.py Attention.__init__).
    return [vc.cache_config.sliding_window] * n


def chunked_layers(vc, n):
    """Llama 4 (llama4.py Llama4Attention): a layer with RoPE
    (no_rope_layers[i] != 0) is a ChunkedLocalAttention of
    attention_chunk_size tokens; the NoPE layers attend to everything.
    None per layer for models without chunked attention."""
    hf = vc.model_config.hf_text_config
    chunk = getattr(vc.model_config, "attention_chunk_size", None)
    if not chunk:
        return [None] * n
    return [chunk if hf.no_rope_layers[i] else None for i in range(n)]


def layer_kinds(vc, n):
    """Per layer "attention", "mamba" or None (MLP/MoE only), as the hybrid
    model files lay them out: nemotron_h.py hybrid_override_pattern ("*"
    attention, "M" Mamba-2), jamba.py attn_layer_period/offset (the rest
    Mamba-1), granitemoehybrid.py layer_types."""
    hf = vc.model_config.hf_text_config
    pattern = getattr(hf, "hybrid_override_pattern", None)
    if pattern:
        return [{"*": "attention", "M": "mamba"}.get(ch) for ch in pattern[:n]]
    if getattr(hf, "attn_layer_period", None):
        return ["attention" if i % hf.attn_layer_period == hf.attn_layer_offset else "mamba"
                for i in range(n)]
    # transformers 5 names granitemoehybrid's Mamba layers "linear_attention"
    # (and vLLM 0.33.0's granitemoehybrid.py reads those names).
    return ["mamba" if t in ("mamba", "linear_attention") else "attention"
            for t in hf.layer_types[:n]]


def hybrid_specs(vc, mamba_block, make_attn, **mamba_kw):
    """Specs of a hybrid: the model class's own state shapes and dtypes
    (get_mamba_state_shape_from_config / get_mamba_state_dtype_from_config,
    which the Mamba layers' get_state_shape/get_state_dtype mirror) with
    the padded page the config now holds."""
    from vllm.model_executor.models import ModelRegistry
    from vllm.v1.kv_cache_interface import MambaSpec

    mc, cc, pc = vc.model_config, vc.cache_config, vc.parallel_config
    cls, _ = ModelRegistry.resolve_model_cls(mc.architecture, model_config=mc)
    shapes = tuple(cls.get_mamba_state_shape_from_config(vc))
    dtypes = tuple(cls.get_mamba_state_dtype_from_config(vc))
    specs = {}
    for i, kind in enumerate(layer_kinds(vc, mc.get_num_layers(pc))):
        if kind == "attention":
            specs[f"layers.{i}"] = make_attn()
        elif kind == "mamba":
            specs[f"layers.{i}"] = MambaSpec(shapes=shapes, dtypes=dtypes, block_size=mamba_block,
                                             page_size_padded=cc.mamba_page_size_padded,
                                             **mamba_kw)
    return specs


def specs_0_33(vc):
    """Per-layer specs as 0.33.0's get_kv_cache_spec() methods build them:
    Attention (attention.py), MLAAttention (mla_attention.py), MambaBase
    (mamba/abstract.py with mamba_mixer.py's shapes)."""
    import torch
    from vllm.model_executor.layers.attention.attention import _largest_kernel_block_within
    from vllm.utils.torch_utils import kv_cache_dtype_str_to_dtype
    from vllm.v1.attention.backend import AttentionBackend, MultipleOf
    from vllm.v1.kv_cache_interface import (ChunkedLocalAttentionSpec, FullAttentionSpec,
                                            MambaSpec, MLAAttentionSpec, SlidingWindowSpec,
                                            get_kv_quant_mode)

    class FlashAttentionBlocks(AttentionBackend):
        """FlashAttention 2/3's kernel block declaration on CUDA
        (flash_attn.py get_supported_kernel_block_sizes: MultipleOf(16))."""

        @staticmethod
        def get_supported_kernel_block_sizes(kv_cache_spec=None):
            return [MultipleOf(16)]

    mc, cc, pc = vc.model_config, vc.cache_config, vc.parallel_config
    n = mc.get_num_layers(pc)
    specs = {}
    if mc.is_hybrid:
        # Platform.register_custom_kv_cache_specs phase 2 with the CUDA
        # backend of every attention layer (FlashAttention): its kernel
        # block sizes are what _find_non_ssm_backends would report.
        from vllm.platforms import current_platform
        from vllm.v1.attention.backends.registry import MambaAttentionBackendEnum

        platform = type(current_platform)
        platform._find_non_ssm_backends = classmethod(lambda cls, _vc: [FlashAttentionBlocks])
        platform._align_hybrid_block_size(vc, FlashAttentionBlocks)
        kv_dtype = kv_cache_dtype_str_to_dtype(cc.cache_dtype, mc)
        quant = get_kv_quant_mode(cc.cache_dtype)
        heads, head = mc.get_num_kv_heads(pc), mc.get_head_size()
        mamba1 = mc.architectures[0].startswith("Jamba")
        return hybrid_specs(
            vc, cc.mamba_block_size,
            lambda: FullAttentionSpec(block_size=cc.block_size, num_kv_heads=heads,
                                      head_size=head, dtype=kv_dtype, kv_quant_mode=quant),
            mamba_type=(MambaAttentionBackendEnum.MAMBA1 if mamba1
                        else MambaAttentionBackendEnum.MAMBA2),
            mamba_cache_mode=cc.mamba_cache_mode)
    block = cc.block_size
    if mc.architectures[0] in ("MambaForCausalLM",):
        from vllm.model_executor.layers.mamba.mamba_utils import (MambaStateDtypeCalculator,
                                                                  MambaStateShapeCalculator)

        hf = mc.hf_text_config
        shapes = MambaStateShapeCalculator.mamba1_state_shape(
            pc.tensor_parallel_size, hf.intermediate_size, hf.state_size, hf.conv_kernel)
        dtypes = MambaStateDtypeCalculator.mamba1_state_dtype(
            mc.dtype, cc.mamba_cache_dtype, cc.mamba_ssm_cache_dtype)
        from vllm.v1.attention.backends.registry import MambaAttentionBackendEnum

        for i in range(n):
            specs[f"layers.{i}"] = MambaSpec(
                shapes=tuple(shapes), dtypes=dtypes, block_size=cc.mamba_block_size,
                page_size_padded=cc.mamba_page_size_padded,
                mamba_type=MambaAttentionBackendEnum.MAMBA1,
                mamba_cache_mode=cc.mamba_cache_mode)
        return specs
    kv_dtype = kv_cache_dtype_str_to_dtype(cc.cache_dtype, mc)
    quant = get_kv_quant_mode(cc.cache_dtype)
    if mc.use_mla:
        for i in range(n):
            specs[f"layers.{i}"] = MLAAttentionSpec(
                block_size=block, num_kv_heads=1, max_tp_shards=1, head_size=mc.get_head_size(),
                dtype=kv_dtype, cache_dtype_str=cc.cache_dtype, kv_quant_mode=quant)
        return specs
    heads, head = mc.get_num_kv_heads(pc), mc.get_head_size()
    chunks = chunked_layers(vc, n)
    for i, window in enumerate(sliding_layers(vc, n)):
        if chunks[i]:
            # chunked_local_attention.py get_kv_cache_spec: the configured
            # block size, no kernel-block reduction.
            specs[f"layers.{i}"] = ChunkedLocalAttentionSpec(
                block_size=block, num_kv_heads=heads, head_size=head, dtype=kv_dtype,
                kv_quant_mode=quant, attention_chunk_size=chunks[i])
            continue
        if window is None:
            specs[f"layers.{i}"] = FullAttentionSpec(block_size=block, num_kv_heads=heads,
                                                     head_size=head, dtype=kv_dtype,
                                                     kv_quant_mode=quant)
            continue
        per_token = SlidingWindowSpec(block_size=1, num_kv_heads=heads, head_size=head,
                                      dtype=kv_dtype, kv_quant_mode=quant,
                                      sliding_window=window).real_page_size_bytes
        sw_block = _largest_kernel_block_within(FlashAttentionBlocks, per_token,
                                                per_token * block, block)
        specs[f"layers.{i}"] = SlidingWindowSpec(block_size=sw_block, num_kv_heads=heads,
                                                 head_size=head, dtype=kv_dtype,
                                                 kv_quant_mode=quant, sliding_window=window)
    del torch
    return specs


def plan_0_33(vc, specs, memory, tp):
    """The engine core's sequence (v1/engine/core.py _initialize_kv_caches)."""
    from vllm.v1.attention.backends.utils import (_DEFAULT_LAYOUT_PREFERENCE,
                                                  resolve_kv_cache_layout)
    from vllm.v1.core.kv_cache_planning import get_global_kv_cache_groups, get_kv_cache_configs
    from vllm.v1.core.kv_cache_utils import (generate_scheduler_kv_cache_config,
                                             get_kv_cache_capacity)
    from vllm.v1.core.single_type_kv_cache_manager import register_all_kvcache_specs

    register_all_kvcache_specs(vc)
    workers = [dict(specs) for _ in range(tp)]
    # FlashAttention declares no layout: the default preference applies.
    layout = resolve_kv_cache_layout(vc, [[m.name for m in _DEFAULT_LAYOUT_PREFERENCE]],
                                     [s for w in workers for s in w.values()])
    groups = get_global_kv_cache_groups(vc, workers)
    cfgs = get_kv_cache_configs(vc, workers, [memory] * tp, groups)
    sched = generate_scheduler_kv_cache_config(cfgs)
    tokens, conc = get_kv_cache_capacity(vc, sched)
    from vllm.v1.core.kv_cache_planning import _pool_bytes_per_block

    return {
        "layout": layout.name,
        "num_groups": len(sched.kv_cache_groups),
        "group_layers": max(len(g.layer_names) for g in sched.kv_cache_groups),
        "page_size_bytes": sched.kv_cache_groups[0].kv_cache_spec.page_size_bytes,
        "block_sizes": [g.kv_cache_spec.block_size for g in sched.kv_cache_groups],
        "bytes_per_block": _pool_bytes_per_block(vc, cfgs[0].kv_cache_groups),
        "num_blocks": cfgs[0].num_blocks,
        "kv_cache_tokens": tokens,
        "max_concurrency": conc,
    }


# --------------------------------------------------------------- 0.11.0


def specs_0_11(vc):
    """Per-layer specs as 0.11.0's GPUModelRunner.get_kv_cache_spec builds
    them (v1/worker/gpu_model_runner.py): the KV dtype is the model dtype
    for "auto", Mamba layers get block_size = max_model_len."""
    from vllm.utils import STR_DTYPE_TO_TORCH_DTYPE
    from vllm.v1.kv_cache_interface import (ChunkedLocalAttentionSpec, FullAttentionSpec,
                                            MambaSpec, MLAAttentionSpec, SlidingWindowSpec)

    mc, cc, pc = vc.model_config, vc.cache_config, vc.parallel_config
    n = mc.get_num_layers(pc)
    block = cc.block_size
    specs = {}
    if mc.is_hybrid:
        # HybridAttentionMambaModelConfig already raised block_size and set
        # mamba_page_size_padded when VllmConfig was built.
        kv_dtype = (mc.dtype if cc.cache_dtype == "auto"
                    else STR_DTYPE_TO_TORCH_DTYPE[cc.cache_dtype])
        heads, head = mc.get_num_kv_heads(pc), mc.get_head_size()
        mamba1 = mc.architectures[0].startswith("Jamba")
        return hybrid_specs(
            vc, mc.max_model_len,
            lambda: FullAttentionSpec(block_size=cc.block_size, num_kv_heads=heads,
                                      head_size=head, dtype=kv_dtype),
            mamba_type="mamba1" if mamba1 else "mamba2")
    if mc.architectures[0] == "MambaForCausalLM":
        from vllm.model_executor.layers.mamba.mamba_utils import (MambaStateDtypeCalculator,
                                                                  MambaStateShapeCalculator)

        hf = mc.hf_text_config
        shapes = MambaStateShapeCalculator.mamba1_state_shape(
            pc.tensor_parallel_size, hf.intermediate_size, hf.state_size, hf.conv_kernel)
        dtypes = MambaStateDtypeCalculator.mamba1_state_dtype(
            mc.dtype, cc.mamba_cache_dtype, cc.mamba_ssm_cache_dtype)
        for i in range(n):
            specs[f"layers.{i}"] = MambaSpec(shapes=tuple(shapes), dtypes=dtypes,
                                             block_size=mc.max_model_len,
                                             page_size_padded=cc.mamba_page_size_padded,
                                             mamba_type="mamba1")
        return specs
    kv_dtype = mc.dtype if cc.cache_dtype == "auto" else STR_DTYPE_TO_TORCH_DTYPE[cc.cache_dtype]
    if mc.use_mla:
        for i in range(n):
            specs[f"layers.{i}"] = MLAAttentionSpec(block_size=block, num_kv_heads=1,
                                                    head_size=mc.get_head_size(), dtype=kv_dtype,
                                                    cache_dtype_str=cc.cache_dtype)
        return specs
    heads, head = mc.get_num_kv_heads(pc), mc.get_head_size()
    chunks = chunked_layers(vc, n)
    for i, window in enumerate(sliding_layers(vc, n)):
        if chunks[i]:
            specs[f"layers.{i}"] = ChunkedLocalAttentionSpec(
                block_size=block, num_kv_heads=heads, head_size=head, dtype=kv_dtype,
                attention_chunk_size=chunks[i])
        elif window is None:
            specs[f"layers.{i}"] = FullAttentionSpec(block_size=block, num_kv_heads=heads,
                                                     head_size=head, dtype=kv_dtype)
        else:
            specs[f"layers.{i}"] = SlidingWindowSpec(block_size=block, num_kv_heads=heads,
                                                     head_size=head, dtype=kv_dtype,
                                                     sliding_window=window)
    return specs


def plan_0_11(vc, specs, memory, tp):
    """EngineCore._initialize_kv_caches (0.11.0): get_kv_cache_configs, whose
    get_kv_cache_config_from_groups logs the token count and concurrency."""
    from vllm.v1.core.kv_cache_utils import get_kv_cache_configs

    workers = [dict(specs) for _ in range(tp)]
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    log = logging.getLogger("vllm.v1.core.kv_cache_utils")
    old = log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        cfgs = get_kv_cache_configs(vc, workers, [memory] * tp)
    finally:
        log.removeHandler(handler)
        log.setLevel(old)
    text = buf.getvalue()
    tokens = int(re.search(r"GPU KV cache size: ([\d,]+) tokens", text).group(1).replace(",", ""))
    conc = float(re.search(r"per request: ([\d.]+)x", text).group(1))
    from vllm.v1.core.kv_cache_utils import get_max_concurrency_for_kv_cache_config

    groups = cfgs[0].kv_cache_groups
    return {
        "num_groups": len(groups),
        "group_layers": max(len(g.layer_names) for g in groups),
        "page_size_bytes": groups[0].kv_cache_spec.page_size_bytes,
        "block_sizes": [g.kv_cache_spec.block_size for g in groups],
        "bytes_per_block": groups[0].kv_cache_spec.page_size_bytes
        * max(len(g.layer_names) for g in groups),
        "num_blocks": cfgs[0].num_blocks,
        "kv_cache_tokens": tokens,
        "max_concurrency": get_max_concurrency_for_kv_cache_config(vc, cfgs[0]),
        "printed_concurrency": conc,
    }


def run_case(name, path, max_len, tp, block, kv_dtype, memory, switch=None):
    rec = {"vllm": VERSION, "model": name, "max_model_len": max_len, "tp": tp,
           "block_size": block, "kv_cache_dtype": kv_dtype, "available_memory": memory,
           "max_num_batched_tokens": BATCHED_TOKENS}
    if switch:
        rec["hybrid_kv_cache_manager_switch"] = switch
    vc = engine_config(path, max_len, tp, block, kv_dtype, switch)
    rec["max_in_flight_tokens"] = getattr(vc, "max_in_flight_tokens", BATCHED_TOKENS)
    rec["hybrid_kv_cache_manager"] = not vc.scheduler_config.disable_hybrid_kv_cache_manager
    new = tuple(int(x) for x in VERSION.split(".")[:2]) >= (0, 20)
    specs = specs_0_33(vc) if new else specs_0_11(vc)
    if vc.model_config.is_hybrid:
        rec["attention_block_size"] = vc.cache_config.block_size
        rec["mamba_cache_mode"] = getattr(vc.cache_config, "mamba_cache_mode", "none")
    try:
        rec.update((plan_0_33 if new else plan_0_11)(vc, specs, memory, tp))
        rec["starts"] = True
    except ValueError as e:
        msg = str(e)
        m = re.search(r"estimated maximum model length is (\d+)", msg)
        rec["starts"] = False
        rec["max_model_len_limit"] = int(m.group(1)) if m else 0
        rec["error"] = msg.split(". ")[0]
    return rec


def main():
    out, only = sys.argv[1], set(sys.argv[2:])
    switched = "--switched" in only
    only.discard("--switched")
    load_vllm()
    tmp = tempfile.mkdtemp()
    rows = []
    try:
        for name, max_len, runs in SWITCHED if switched else CASES:
            if (only and name not in only) or name in UNBUILDABLE.get(VERSION, ()):
                continue
            path = model_dir(name, tmp)
            for run in runs:
                with contextlib.redirect_stdout(sys.stderr):
                    rows.append(run_case(name, path, max_len, *run))
                r = rows[-1]
                print(f"{name} tp{r['tp']} bs{r['block_size']} {r['kv_cache_dtype']} "
                      f"{r['available_memory']} {r.get('hybrid_kv_cache_manager_switch', '')}: "
                      f"{r.get('num_blocks')} blocks, {r.get('kv_cache_tokens')} tokens, "
                      f"{r.get('error', '')}", file=sys.stderr)
    finally:
        shutil.rmtree(tmp)
    with open(out, "a") as f:
        for r in rows:
            f.write(json.dumps(r, sort_keys=True) + "\n")
    print(f"{len(rows)} cases for vLLM {VERSION} appended to {out}")


if __name__ == "__main__":
    main()
