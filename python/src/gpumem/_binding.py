"""The Python face of libgpumem: keyword arguments named like the CLI's
options fill gpumem_settings / gpumem_train_settings, the C library does all
the estimating, and gpumem_report_json gives the answer, the same JSON that
`gpumem estimate --json` prints."""

import ctypes
import json
import re
from ctypes import byref, c_double, c_int, c_uint64, c_void_p

from . import _capi
from .errors import from_c, usage, InvalidError

_lib = _capi.lib

# --------------------------------------------------------------- helpers


def _new_error():
    err = _capi.Error()
    err.offset = -1
    return err


def _check(status, err):
    if status != _capi.OK:
        raise from_c(status, err)


def _text(name, value):
    if not isinstance(value, str):
        raise usage("%s must be a string, got %r" % (name, value))
    return value.encode("utf-8")


def _enum(parse, name, value):
    """Parses a name with the C library's own parser (dtype, engine, ...)."""
    out = c_int()
    err = _new_error()
    # An unknown name fails with NOT_FOUND and the accepted names in the message.
    _check(parse(_text(name, value), byref(out), byref(err)), err)
    return out.value


def _count(name, value, maximum):
    """A positive integer, strictly (the CLI's parse_count): an int or a
    string of digits, 1..maximum."""
    if isinstance(value, bool):
        raise usage("%s must be a positive integer, got %r" % (name, value))
    if isinstance(value, str) and re.fullmatch(r"[0-9]+", value):
        value = int(value)
    if not isinstance(value, int) or value < 1:
        raise usage("%s must be a positive integer, got %r" % (name, value))
    if value > maximum:
        raise usage("%s %d is too large (at most %d)" % (name, value, maximum))
    return value


_SIZE_UNITS = [("TiB", 1099511627776.0), ("GiB", 1073741824.0), ("MiB", 1048576.0),
               ("KiB", 1024.0), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3), ("B", 1.0)]


def _size(name, value):
    """Bytes: an int, or a string such as "20GiB", "512MiB", "24GB" (the CLI's sizes)."""
    if isinstance(value, bool):
        raise usage("%s wants a size such as 20GiB, 512MiB or bytes, got %r" % (name, value))
    if isinstance(value, (int, float)):
        number, mult = float(value), 1.0
    elif isinstance(value, str):
        m = re.fullmatch(r"\s*([0-9.eE+-]+)\s*([A-Za-z]*)", value)
        units = dict(_SIZE_UNITS)
        if not m or (m.group(2) and m.group(2) not in units):
            raise usage("%s wants a size such as 20GiB, 512MiB or bytes, got %r" % (name, value))
        try:
            number = float(m.group(1))
        except ValueError:
            raise usage("%s wants a size such as 20GiB, 512MiB or bytes, got %r" % (name, value))
        mult = units.get(m.group(2), 1.0)
    else:
        raise usage("%s wants a size such as 20GiB, 512MiB or bytes, got %r" % (name, value))
    if not number > 0 or number * mult > 1e15:
        raise usage("%s wants a size such as 20GiB, 512MiB or bytes, got %r" % (name, value))
    return int(number * mult)


def _gpu(value):
    out = ctypes.POINTER(_capi.Gpu)()
    err = _new_error()
    _check(_lib.gpumem_gpu_find(_text("gpu", value), byref(out), byref(err)), err)
    return out


def _gpu_list(value):
    """gpu: a name, "a,b" (the CLI's list) or a list of names."""
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not names:
        raise usage("gpu wants a name, a comma list or a list of names, got %r" % (value,))
    for n in names:
        if not isinstance(n, str) or not n.strip():
            raise usage("gpu list has an empty item: %r" % (value,))
    return [_gpu(n.strip()) for n in names]


def _sizes(name, value, gpus):
    """budget / margin: one size for every GPU or one per GPU ("20GiB,10GiB"
    or a list), as the CLI's --budget / --margin."""
    items = value.split(",") if isinstance(value, str) else (
        list(value) if isinstance(value, (list, tuple)) else [value])
    if len(items) not in (1, gpus):
        raise usage("%s has %d sizes for %d GPUs (give one for all, or one per GPU)"
                    % (name, len(items), gpus))
    sizes = [_size(name, v.strip() if isinstance(v, str) else v) for v in items]
    return [sizes[0 if len(sizes) == 1 else d] for d in range(gpus)]


def _apply_budgets(s, o, t=None):
    """The CLI's --budget / --margin. llama.cpp: per-GPU targets. Other
    engines and training: one budget, the usable memory of the GPU (a copy
    of its catalog entry kept on the settings object)."""
    if "budget" not in o and "margin" not in o:
        return
    gpu = t.gpu if t is not None else s.gpu
    if not gpu:
        raise usage("budget and margin need a gpu")
    if t is not None or (s.engine != _capi.ENGINE_LLAMACPP and not s.device_map):
        if "margin" in o:
            raise usage("margin applies to llama.cpp: give a GGUF file or engine='llamacpp'")
        sized = _capi.Gpu.from_buffer_copy(gpu.contents)
        sized.memory_bytes = _sizes("budget", o["budget"], 1)[0]
        for target in (s, t):
            if target is not None:
                target.gpu = ctypes.pointer(sized)
                target._sized_gpu = sized  # keeps the copy alive with the settings
        return
    if s.engine != _capi.ENGINE_LLAMACPP and "margin" in o:
        raise usage("margin applies to llama.cpp: give a GGUF file or engine='llamacpp'")
    gpus = s.n_targets or s.gpus
    if gpus > 16:
        raise usage("budget and margin take at most 16 GPUs")
    budgets = _sizes("budget", o["budget"], gpus) if "budget" in o else [0] * gpus
    margins = _sizes("margin", o["margin"], gpus) if "margin" in o else [0] * gpus
    for d in range(gpus):
        if not s.n_targets:
            s.targets[d].gpu = s.gpu
        s.targets[d].budget, s.targets[d].margin = budgets[d], margins[d]
    s.n_targets = gpus


def _report_json(model, est):
    ptr = _lib.gpumem_report_json(model, byref(est))
    text = _capi.take_string(ptr)
    if text is None:
        raise from_c(_capi.ERR_NOMEM, _new_error())
    return json.loads(text)


def _str(raw):
    return raw.decode("utf-8", "replace") if raw is not None else None


# ----------------------------------------------------------------- options
# Keyword names are the CLI's long options with '-' as '_'; the CLI's short
# multi-letter forms (tp, ngl, ...) are accepted as aliases.

ALIASES = {
    "ctx_size": "context",
    "tp": "tensor_parallel_size",
    "pp": "pipeline_parallel_size",
    "ub": "ubatch_size",
    "np": "parallel",
    "kvu": "kv_unified",
    "fa": "flash_attn",
    "ctk": "cache_type_k",
    "ctv": "cache_type_v",
    "ngl": "n_gpu_layers",
    "ts": "tensor_split",
    "sm": "split_mode",
    "mg": "main_gpu",
    "nkvo": "no_kv_offload",
    "md": "model_draft",
    "ngld": "gpu_layers_draft",
    "ctkd": "cache_type_k_draft",
    "ctvd": "cache_type_v_draft",
    "cd": "ctx_size_draft",
}

LLAMACPP_OPTIONS = {"ubatch_size", "parallel", "kv_unified", "flash_attn", "cache_type_k", "tensor_split",
                    "cache_type_v", "n_gpu_layers", "swa_full", "llamacpp_version"}
VLLM_OPTIONS = {"gpu_memory_utilization", "max_model_len", "max_num_seqs",
                "max_num_batched_tokens", "kv_cache_dtype", "block_size", "enforce_eager",
                "enable_hybrid_kv_cache_manager", "disable_hybrid_kv_cache_manager",
                "kv_cache_memory", "quantization", "vllm_version", "limit_mm_per_prompt",
                "mm_processor_kwargs"}
TRAIN_ONLY = ["method", "lora_rank", "lora_targets", "precision", "optimizer", "checkpointing",
              "seq", "zero", "fsdp", "ep", "cp", "dp", "micro_batches", "freeze_embeddings",
              "no_flash", "sequence_parallel", "keep_grads", "head"]
# llama.cpp options of estimates only (the CLI's estimate command).
LLAMACPP_EXTRA_OPTIONS = {"split_mode", "main_gpu", "no_kv_offload", "mmproj", "no_mmproj_offload",
                          "model_draft", "gpu_layers_draft", "cache_type_k_draft",
                          "cache_type_v_draft", "ctx_size_draft", "lora", "embedding", "pooling",
                          "rerank"}
INFERENCE_OPTIONS = ({"dtype", "quant", "kv_dtype", "batch", "context", "new_tokens", "images", "cache", "attn",
                      "gpu", "gpus", "budget", "margin", "engine", "simple", "tensor_parallel_size",
                      "pipeline_parallel_size", "cpu_moe", "n_cpu_moe", "max_context",
                      "max_batch", "device_map", "max_memory", "target_concurrency"}
                     | LLAMACPP_OPTIONS | LLAMACPP_EXTRA_OPTIONS
                     | VLLM_OPTIONS)
# What a training estimate reads (the CLI's apply_train).
TRAIN_OPTIONS = set(TRAIN_ONLY) | {"batch", "context", "gpus", "gpu", "budget", "tensor_parallel_size",
                                   "pipeline_parallel_size"}
FIT_OPTIONS = {"batch", "context", "gpu", "margin", "budget", "fit_ctx"} | LLAMACPP_OPTIONS

ESTIMATE_OPTIONS = sorted(INFERENCE_OPTIONS | TRAIN_OPTIONS)

# Options one engine reads, refused for the others as the CLI refuses them
# (they would be ignored).
_ENGINE_ONLY = (
    (_capi.ENGINE_LLAMACPP,
     LLAMACPP_OPTIONS | LLAMACPP_EXTRA_OPTIONS | {"cpu_moe", "n_cpu_moe"},
     "%s applies to llama.cpp: give a GGUF file or engine='llamacpp'"),
    (_capi.ENGINE_VLLM, VLLM_OPTIONS - {"kv_cache_dtype", "quantization"},
     "%s applies to vLLM: add engine='vllm'"),
    (_capi.ENGINE_TRANSFORMERS, {"new_tokens"},
     "%s applies to transformers' generate (the default engine)"),
)


def _check_engine_options(engine, o):
    for owner, names, message in _ENGINE_ONLY:
        for name in sorted(names & set(o)):
            if engine != owner:
                raise usage(message % name)


def _normalise(settings, allowed, what):
    out = {}
    for key, value in settings.items():
        name = ALIASES.get(key, key)
        if name not in allowed:
            if what == "inference" and name in TRAIN_ONLY:
                raise usage("%s applies to training: add train=True" % name)
            raise usage("unknown or inapplicable %s setting %r (see gpumem.ESTIMATE_OPTIONS)"
                        % (what, key))
        if name in out:
            raise usage("setting %r given twice (%s)" % (name, key))
        out[name] = value
    return out


def _flag(opts, name):
    value = opts.get(name, False)
    if not isinstance(value, bool):
        raise usage("%s is a flag: True or False, got %r" % (name, value))
    return value


_KV_CACHE_DTYPES = {"auto": None, "fp8": _capi.DTYPE_FP8, "fp8_e4m3": _capi.DTYPE_FP8,
                    "fp8_e5m2": _capi.DTYPE_FP8}
_QUANTIZATION = {"awq": _capi.DTYPE_INT4, "gptq": _capi.DTYPE_INT4,
                 "awq_marlin": _capi.DTYPE_INT4, "gptq_marlin": _capi.DTYPE_INT4,
                 "bitsandbytes": _capi.DTYPE_INT4, "fp8": _capi.DTYPE_FP8,
                 "w8a8": _capi.DTYPE_INT8, "int8": _capi.DTYPE_INT8, "mxfp4": None, "none": None}
_VLLM_VERSIONS = {"latest", "0.33.0", "v0.33.0", "0.11.0", "v0.11.0"}


def _fill_llamacpp(s, o):
    if "ubatch_size" in o:
        s.n_ubatch = _count("ubatch_size", o["ubatch_size"], 1 << 20)
    if "parallel" in o:
        s.n_parallel = _count("parallel", o["parallel"], 4096)
    s.kv_unified = int(_flag(o, "kv_unified"))
    if _flag(o, "cpu_moe"):
        s.n_cpu_moe = -1
    if "n_cpu_moe" in o:
        s.n_cpu_moe = _count("n_cpu_moe", o["n_cpu_moe"], 100000)
    s.swa_full = int(_flag(o, "swa_full"))
    if "llamacpp_version" in o:
        v = o["llamacpp_version"]
        if not isinstance(v, str):
            raise usage("llamacpp_version: a version name such as de3ff81 or b6699, got %r" % (v,))
        s.llamacpp_version = v.encode()  # the library checks the name
    if "flash_attn" in o:
        fa = o["flash_attn"]
        fa = {True: "on", False: "off", 1: "on", 0: "off"}.get(fa, fa) if not isinstance(fa, str) else fa
        if fa == "on" or fa == "1":
            s.flash_attn = 1
        elif fa == "off" or fa == "0":
            s.flash_attn = 2
        elif fa != "auto":
            raise usage("flash_attn must be on, off or auto")
    if "cache_type_k" in o:
        s.cache_type_k = _enum(_lib.gpumem_cache_type_parse, "cache_type_k", o["cache_type_k"])
    if "cache_type_v" in o:
        s.cache_type_v = _enum(_lib.gpumem_cache_type_parse, "cache_type_v", o["cache_type_v"])
    ngl = o.get("n_gpu_layers", -1)  # the CLI's default: every layer
    if ngl in ("all", "-1", -1):
        s.n_gpu_layers = -1
    elif ngl in ("0", 0) and not isinstance(ngl, bool):
        s.n_gpu_layers = 0
    else:
        s.n_gpu_layers = _count("n_gpu_layers", ngl, 100000)
    if "tensor_split" in o:  # "3,1" or [3, 1], as -ts; sets gpus
        ts = o["tensor_split"]
        if isinstance(ts, (list, tuple)):
            ts = ",".join(repr(float(x)) for x in ts)
        given = s.gpus
        err = _new_error()
        _check(_lib.gpumem_tensor_split_parse(_text("tensor_split", ts), byref(s), byref(err)), err)
        if "gpus" in o and given != s.gpus:
            raise usage("tensor_split has %d shares but gpus is %d" % (s.gpus, given))


class _ExtraFiles:
    """The GGUF files of mmproj, model_draft and lora, loaded (headers only)
    for as long as the settings that point at them."""

    def __init__(self):
        self.handles = []

    def load(self, name, path):
        path = str(path) if hasattr(path, "__fspath__") else path
        handle = c_void_p()
        err = _new_error()
        _check(_lib.gpumem_model_load_gguf(_text(name, path), byref(handle), byref(err)), err)
        self.handles.append(handle)
        return handle

    def __del__(self):
        for h in self.handles:
            _lib.gpumem_model_free(h)
        self.handles = []


def _fill_llamacpp_extras(s, o):
    """-sm, -mg, -nkvo and the extra files (the CLI's apply_llamacpp and
    load_extras)."""
    if "split_mode" in o:
        s.split_mode = _enum(_lib.gpumem_split_mode_parse, "split_mode", o["split_mode"])
    if "main_gpu" in o:
        g = o["main_gpu"]
        if g in (-1, "-1", 0, "0") and not isinstance(g, bool):
            s.main_gpu = int(g)
        else:
            s.main_gpu = _count("main_gpu", g, 1000)
    s.no_kv_offload = int(_flag(o, "no_kv_offload"))
    # Embedding and reranker models (the CLI's --embedding, --pooling, --rerank).
    s.embedding = int(_flag(o, "embedding") or _flag(o, "rerank"))
    if "pooling" in o:
        s.pooling = _enum(_lib.gpumem_pooling_parse, "pooling", o["pooling"])
    if _flag(o, "rerank"):
        if "pooling" in o and s.pooling != _capi.POOLING_RANK:
            raise usage("rerank sets pooling='rank'; drop the other pooling")
        s.pooling = _capi.POOLING_RANK
    s.no_mmproj_offload = int(_flag(o, "no_mmproj_offload"))
    if "cache_type_k_draft" in o:
        s.cache_type_k_draft = _enum(_lib.gpumem_cache_type_parse, "cache_type_k_draft",
                                     o["cache_type_k_draft"])
    if "cache_type_v_draft" in o:
        s.cache_type_v_draft = _enum(_lib.gpumem_cache_type_parse, "cache_type_v_draft",
                                     o["cache_type_v_draft"])
    if "ctx_size_draft" in o:
        s.ctx_size_draft = _count("ctx_size_draft", o["ctx_size_draft"], 1 << 26)
    if "gpu_layers_draft" in o:
        if "model_draft" not in o:
            raise usage("gpu_layers_draft applies to a draft model: give model_draft")
        g = o["gpu_layers_draft"]
        if g in ("all", "-1", -1):
            s.n_gpu_layers_draft = -1
        elif g in ("0", 0) and not isinstance(g, bool):
            s.n_gpu_layers_draft = 0
        else:
            s.n_gpu_layers_draft = _count("gpu_layers_draft", g, 100000)
    files = _ExtraFiles()
    for key, field in (("mmproj", "mmproj"), ("model_draft", "draft"), ("lora", "lora")):
        if key in o:
            setattr(s, field, files.load(key, o[key]))
    s._extra_files = files  # keeps them loaded while s lives


def _json_object(name, value, example):
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = None
    if not isinstance(value, dict):
        raise usage("%s wants a mapping such as %s" % (name, example))
    return value


def _fill_vllm_mm(s, o):
    """The CLI's --limit-mm-per-prompt and --mm-processor-kwargs (vLLM's JSON
    options; a dict or its JSON text)."""
    if "limit_mm_per_prompt" in o:
        limits = _json_object("limit_mm_per_prompt", o["limit_mm_per_prompt"],
                              '{"image": 2, "video": 0}')
        for modality, v in limits.items():
            count = v.get("count") if isinstance(v, dict) else v
            if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 1 << 20:
                raise usage("limit_mm_per_prompt: each count must be an integer >= 0")
            if modality == "image":
                s.limit_mm_image = count
            elif modality == "video":
                s.limit_mm_video = count
    if "mm_processor_kwargs" in o:
        kw = _json_object("mm_processor_kwargs", o["mm_processor_kwargs"],
                          '{"max_pixels": 1003520}')
        for k, v in kw.items():
            if k not in ("max_pixels", "min_pixels"):
                raise usage("mm_processor_kwargs: %r is not modelled (max_pixels, min_pixels)" % k)
            if isinstance(v, bool) or not isinstance(v, int) or not 0 < v <= 1 << 40:
                raise usage("mm_processor_kwargs: pixel bounds must be positive integers")
            if k == "min_pixels" and v > 56 * 56:
                raise usage("mm_processor_kwargs: only min_pixels up to 3136 (56 x 56) is modelled")
            if k == "max_pixels":
                s.mm_max_pixels = v


def _fill_vllm(s, o):
    if "gpu_memory_utilization" in o:
        u = o["gpu_memory_utilization"]
        try:
            u = float(u) if not isinstance(u, bool) else None
        except (TypeError, ValueError):
            u = None
        if u is None or not (0 < u <= 1):
            raise usage("gpu_memory_utilization must be a number in (0, 1]")
        s.gpu_memory_utilization = u
    if "max_model_len" in o:
        s.max_model_len = _count("max_model_len", o["max_model_len"], 1 << 26)
    if "max_num_seqs" in o:
        s.max_num_seqs = _count("max_num_seqs", o["max_num_seqs"], 1 << 20)
    if "max_num_batched_tokens" in o:
        s.max_num_batched_tokens = _count("max_num_batched_tokens",
                                          o["max_num_batched_tokens"], 1 << 26)
    if "block_size" in o:
        s.block_size = _count("block_size", o["block_size"], 4096)
    if "tensor_parallel_size" in o:
        if "gpus" in o:
            raise usage("give gpus or tensor_parallel_size, not both")
        s.gpus = _count("tensor_parallel_size", o["tensor_parallel_size"], 64)
    if "pipeline_parallel_size" in o:
        s.pipeline_parallel = _count("pipeline_parallel_size", o["pipeline_parallel_size"], 64)
    s.enforce_eager = int(_flag(o, "enforce_eager"))
    # vLLM's hybrid KV-cache manager: 1 on, 2 off, 0 the version's default.
    if _flag(o, "enable_hybrid_kv_cache_manager") and _flag(o, "disable_hybrid_kv_cache_manager"):
        raise usage("enable_ and disable_hybrid_kv_cache_manager: give one of them")
    s.vllm_hybrid_kv_cache_manager = (1 if _flag(o, "enable_hybrid_kv_cache_manager") else
                                      2 if _flag(o, "disable_hybrid_kv_cache_manager") else 0)
    if "kv_cache_memory" in o:
        s.kv_cache_memory = _size("kv_cache_memory", o["kv_cache_memory"])
    _fill_vllm_mm(s, o)
    if "kv_cache_dtype" in o:
        k = o["kv_cache_dtype"]
        if k not in _KV_CACHE_DTYPES:
            raise usage("kv_cache_dtype must be auto, fp8, fp8_e4m3 or fp8_e5m2")
        if _KV_CACHE_DTYPES[k] is None:
            s.kv_dtype_set = 0
        else:
            s.kv_dtype_set, s.kv_dtype = 1, _KV_CACHE_DTYPES[k]
    if "quantization" in o:
        q = o["quantization"]
        if q not in _QUANTIZATION:
            raise usage("quantization: expected awq, gptq, awq_marlin, gptq_marlin, "
                        "bitsandbytes, fp8, w8a8, int8, mxfp4 or none")
        if _QUANTIZATION[q] is not None:
            if "dtype" in o:
                raise usage("give dtype or quantization, not both")
            s.dtype_set, s.dtype = 1, _QUANTIZATION[q]
    if "vllm_version" in o:
        v = o["vllm_version"]
        if v not in _VLLM_VERSIONS:
            raise usage("vllm_version: modelled versions are 0.33.0 (latest) and 0.11.0")
        s.vllm_version = v.encode()


def _settings(o, params_given=False):
    """gpumem_settings from normalised options (the CLI's apply_settings)."""
    s = _capi.Settings()
    _lib.gpumem_settings_init(byref(s))
    if "engine" in o:
        s.engine = _enum(_lib.gpumem_engine_parse, "engine", o["engine"])
    if _flag(o, "simple") or (params_given and "engine" not in o):
        s.engine = _capi.ENGINE_SIMPLE
    if "dtype" in o:
        s.dtype_set, s.dtype = 1, _enum(_lib.gpumem_dtype_parse, "dtype", o["dtype"])
    if "quant" in o:
        # The CLI's --quant: transformers' BitsAndBytesConfig.
        kinds = {"bnb-int8": (_capi.DTYPE_INT8, 0), "bnb-nf4": (_capi.DTYPE_INT4, 0),
                 "bnb-nf4-dq": (_capi.DTYPE_INT4, 1)}
        if o["quant"] not in kinds:
            raise usage("quant must be bnb-int8, bnb-nf4 or bnb-nf4-dq, got %r" % (o["quant"],))
        if "dtype" in o or "quantization" in o:
            raise usage("give quant, dtype or quantization, not two of them")
        s.dtype_set = 1
        s.dtype, s.bnb_double_quant = kinds[o["quant"]]
    if "kv_dtype" in o:
        s.kv_dtype_set, s.kv_dtype = 1, _enum(_lib.gpumem_dtype_parse, "kv_dtype", o["kv_dtype"])
    if "attn" in o:
        s.attn = _enum(_lib.gpumem_attn_parse, "attn", o["attn"])
    if "cache" in o:
        s.cache = _enum(_lib.gpumem_cache_parse, "cache", o["cache"])
    if "new_tokens" in o:
        s.new_tokens = _count("new_tokens", o["new_tokens"], 1 << 26)
    if "images" in o:
        s.images = _count("images", o["images"], 1 << 16)
    if "batch" in o:
        s.batch = _count("batch", o["batch"], 1 << 20)
    if "context" in o:
        s.context = _count("context", o["context"], 1 << 26)
    if "gpus" in o:
        s.gpus = _count("gpus", o["gpus"], 64)
    if "gpu" in o:
        gpus = _gpu_list(o["gpu"])
        s.gpu = gpus[0]
        if len(gpus) > 1:
            if "gpus" in o and s.gpus != len(gpus):
                raise usage("gpus is %d but %d GPUs are listed" % (s.gpus, len(gpus)))
            if len(gpus) > 16:
                raise usage("at most 16 GPUs in a list")
            for d, g in enumerate(gpus):
                s.targets[d].gpu = g
            s.n_targets = s.gpus = len(gpus)
    _fill_llamacpp(s, o)
    _fill_llamacpp_extras(s, o)
    _fill_vllm(s, o)
    _fill_device_map(s, o)
    return s


def _fill_device_map(s, o):
    """The CLI's --device-map and --max-memory (transformers' from_pretrained)."""
    if "device_map" in o:
        s.device_map = _enum(_lib.gpumem_device_map_parse, "device_map", o["device_map"])
        if s.device_map == 0:
            raise usage("device_map must be auto, balanced, balanced_low_0 or sequential")
    if "max_memory" not in o:
        return
    if "device_map" not in o:
        raise usage("max_memory applies to device_map")
    value = o["max_memory"]
    items = value.split(",") if isinstance(value, str) else (
        list(value) if isinstance(value, (list, tuple)) else [value])
    if len(items) > 16:
        raise usage("max_memory takes at most 16 sizes")
    for d, v in enumerate(items):
        s.max_memory[d] = _size("max_memory", v.strip() if isinstance(v, str) else v)
    s.n_max_memory = len(items)


def _train_settings(o):
    """gpumem_train_settings from normalised options (the CLI's apply_train)."""
    t = _capi.TrainSettings()
    _lib.gpumem_train_settings_init(byref(t))
    if "method" in o:
        t.method = _enum(_lib.gpumem_train_method_parse, "method", o["method"])
    if "precision" in o:
        t.precision = _enum(_lib.gpumem_precision_parse, "precision", o["precision"])
    if "optimizer" in o:
        t.optimizer = _enum(_lib.gpumem_optimizer_parse, "optimizer", o["optimizer"])
    if "checkpointing" in o:
        t.checkpointing = _enum(_lib.gpumem_checkpointing_parse, "checkpointing",
                                o["checkpointing"])
    if "fsdp" in o:
        kinds = {"full": _capi.FSDP_FULL, "hybrid": _capi.FSDP_HYBRID}
        if o["fsdp"] not in kinds:
            raise usage("fsdp must be full or hybrid")
        t.fsdp = kinds[o["fsdp"]]
    if "lora_targets" in o:
        t.lora_targets = _text("lora_targets", o["lora_targets"])
    if "batch" in o:
        t.micro_batch = _count("batch", o["batch"], 1 << 20)
    seq = "seq" if "seq" in o else "context" if "context" in o else None
    if seq:
        t.seq_len = _count(seq, o[seq], 1 << 26)
    if "lora_rank" in o:
        t.lora_rank = _count("lora_rank", o["lora_rank"], 65536)
    if "zero" in o:
        z = o["zero"]
        t.zero = 0 if z in (0, "0") and not isinstance(z, bool) else _count("zero", z, 3)
    for key, field in (("tensor_parallel_size", "tp"), ("pipeline_parallel_size", "pp"),
                       ("ep", "ep"), ("cp", "cp"), ("dp", "dp"), ("gpus", "gpus")):
        if key in o:
            setattr(t, field, _count(key, o[key], 64))
    if "micro_batches" in o:
        t.micro_batches = _count("micro_batches", o["micro_batches"], 1 << 16)
    t.freeze_embeddings = int(_flag(o, "freeze_embeddings"))
    t.sequence_parallel = int(_flag(o, "sequence_parallel"))
    t.keep_grads = int(_flag(o, "keep_grads"))
    if "head" in o:
        t.encoder_head = _enum(_lib.gpumem_encoder_head_parse, "head", o["head"])
    if _flag(o, "no_flash"):
        t.flash_attention = 0
    if "gpu" in o:
        t.gpu = _gpu(o["gpu"])
    return t


# ------------------------------------------------------------------ model


class Model:
    """A loaded model description (gpumem_model). Load once, estimate many
    times; close() or a `with` block frees it (so does garbage collection).

    `spec` is what `gpumem estimate` takes: a catalog name, alias or Hugging
    Face id, a config.json, a directory, a .gguf or .safetensors file, or
    hf:ORG/NAME[@REV]. Or give `params` ("7B", 7e9) for a bare parameter
    count."""

    def __init__(self, spec=None, *, params=None):
        self._ptr = None
        handle = c_void_p()
        err = _new_error()
        if (spec is None) == (params is None):
            raise usage("give either a model or params, not both" if spec is not None
                        else "missing model (a catalog name, config.json or directory), "
                             "or params")
        if params is not None:
            count = c_double()
            if isinstance(params, (int, float)) and not isinstance(params, bool):
                count.value = float(params)
            else:
                _check(_lib.gpumem_params_parse(_text("params", params), byref(count),
                                                byref(err)), err)
            _check(_lib.gpumem_model_from_params(count, byref(handle), byref(err)), err)
        else:
            spec = str(spec) if hasattr(spec, "__fspath__") else spec
            _check(_lib.gpumem_model_load(_text("model", spec), byref(handle), byref(err)), err)
        self._ptr = handle
        self.from_params = params is not None

    def close(self):
        if self._ptr:
            _lib.gpumem_model_free(self._ptr)
            self._ptr = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _handle(self):
        if not self._ptr:
            raise usage("this gpumem.Model is closed")
        return self._ptr

    @property
    def info(self):
        """gpumem_model_info as a dict."""
        i = _capi.ModelInfo()
        _lib.gpumem_model_get_info(self._handle(), byref(i))
        sources = ["catalog", "config", "params", "gguf", "safetensors"]
        return {
            "name": _str(i.name),
            "architecture": _str(i.architecture),
            "source": sources[i.source] if 0 <= i.source < len(sources) else i.source,
            "params": i.params,
            "active_params": i.active_params,
            "vision_params": i.vision_params,
            "n_layers": i.n_layers,
            "hidden_size": i.hidden_size,
            "vocab_size": i.vocab_size,
            "max_context": i.max_context,
            "dtype": _str(_lib.gpumem_dtype_name(i.dtype)),
            "tied_embeddings": bool(i.tied_embeddings),
            "is_encoder": bool(i.is_encoder),
            "architecture_known": bool(i.architecture_known),
            "note": _str(i.note) or "",
        }

    def _source(self):
        i = _capi.ModelInfo()
        _lib.gpumem_model_get_info(self._handle(), byref(i))
        return i.source

    def estimate(self, train=False, **settings):
        """The estimate as `gpumem estimate MODEL --json` prints it."""
        if not isinstance(train, bool):
            raise usage("train is a flag: True or False, got %r" % (train,))
        est = _capi.Estimate()
        err = _new_error()
        if train:
            o = _normalise(settings, TRAIN_OPTIONS, "training")
            t = _train_settings(o)
            _apply_budgets(None, o, t)
            _check(_lib.gpumem_estimate_training(self._handle(), byref(t), byref(est),
                                                 byref(err)), err)
            return _report_json(self._handle(), est)
        o = _normalise(settings, INFERENCE_OPTIONS, "inference")
        s = _settings(o, params_given=self.from_params)
        # A GGUF file runs on llama.cpp unless another engine is asked for.
        if (not self.from_params and "engine" not in o and not _flag(o, "simple")
                and self._source() == _capi.SOURCE_GGUF):
            s.engine = _capi.ENGINE_LLAMACPP
        _check_engine_options(s.engine, o)
        _apply_budgets(s, o)
        if "target_concurrency" in o:
            # The CLI's --target-concurrency: the smallest utilisation for it.
            want = o["target_concurrency"]
            if isinstance(want, bool) or not isinstance(want, (int, float)):
                raise usage("target_concurrency wants a number of requests, got %r" % (want,))
            if "gpu_memory_utilization" in o:
                raise usage("target_concurrency finds gpu_memory_utilization: give one of them")
            u = ctypes.c_double()
            _check(_lib.gpumem_vllm_utilization_for(self._handle(), byref(s), float(want),
                                                    byref(u), byref(err)), err)
            if not u.value:
                raise InvalidError("%g concurrent requests do not fit %s even at "
                                   "--gpu-memory-utilization 1.00"
                                   % (want, _str(s.gpu.contents.id)), code=_capi.ERR_INVALID)
            s.gpu_memory_utilization = u.value
        want_context, want_batch = _flag(o, "max_context"), _flag(o, "max_batch")
        if want_context or want_batch:
            best = c_uint64()
            search = _lib.gpumem_max_context if want_context else _lib.gpumem_max_batch
            _check(search(self._handle(), byref(s), byref(best), byref(err)), err)
            what = "context" if want_context else "batch"
            if not best.value:
                raise InvalidError("nothing fits %s with these settings, not even %s 1"
                                   % (_str(s.gpu.contents.id), what), code=_capi.ERR_INVALID)
            if want_context:
                s.context = best.value
                if s.engine == _capi.ENGINE_VLLM:
                    s.max_model_len = best.value
            else:
                s.batch = best.value
        _check(_lib.gpumem_estimate_inference(self._handle(), byref(s), byref(est),
                                              byref(err)), err)
        return _report_json(self._handle(), est)

    def fit(self, gpu, margin=None, budget=None, context=None, **settings):
        """What llama.cpp's --fit would choose on `gpu` (gpumem_fit), as
        `gpumem fit MODEL.gguf --gpu GPU --json` prints it: the plan's
        estimate with a "plan" object (fits, flags, context, n_gpu_layers,
        n_cpu_moe, max_context, advice)."""
        o = _normalise(settings, FIT_OPTIONS - {"gpu", "margin", "budget", "context"}, "fit")
        if gpu is None:
            raise usage("fit needs a gpu")
        o["gpu"] = gpu
        if context is not None:
            o["context"] = context
        s = _settings(o)
        req = _capi.FitRequest()
        req.context_set = int(context is not None)
        sizes = {k: v for k, v in (("budget", budget), ("margin", margin)) if v is not None}
        if len(_gpu_list(gpu)) == 1 and all(
                not isinstance(v, (list, tuple)) and "," not in str(v) for v in sizes.values()):
            # One size for the GPU goes through the request, as the CLI does.
            req.margin = _size("margin", margin) if margin is not None else 0
            req.budget = _size("budget", budget) if budget is not None else 0
        else:
            s.engine = _capi.ENGINE_LLAMACPP
            _apply_budgets(s, sizes)
        if "fit_ctx" in o:
            req.min_context = _count("fit_ctx", o["fit_ctx"], 1 << 26)
        plan = _capi.FitPlan()
        err = _new_error()
        _check(_lib.gpumem_fit(self._handle(), byref(s), byref(req), byref(plan), byref(err)),
               err)
        text = _capi.take_string(_lib.gpumem_report_fit_json(self._handle(), byref(plan)))
        if text is None:
            raise from_c(_capi.ERR_NOMEM, _new_error())
        out = json.loads(text)
        return out


# --------------------------------------------------------------- functions


def estimate(model=None, *, params=None, train=False, **settings):
    """Estimates `model` (what `gpumem estimate` takes) and returns the dict
    that `gpumem estimate MODEL --json` prints. Settings are the CLI's
    options with '_' for '-': dtype, kv_dtype, batch, context, new_tokens,
    cache, attn, gpu, gpus, engine, simple; vLLM's gpu_memory_utilization,
    max_model_len, ...; llama.cpp's n_gpu_layers (ngl), cache_type_k (ctk),
    ...; train=True with method, precision, optimizer, seq, zero, ... for a
    training step. params="7B" sizes a model by its parameter count."""
    with Model(model, params=params) as m:
        return m.estimate(train=train, **settings)


def fit(model_path, gpu=None, margin=None, budget=None, context=None, **settings):
    """`gpumem fit MODEL.gguf --gpu GPU --json`: the llama.cpp flags (plan)
    and the plan's estimate. margin/budget: bytes or "1GiB", "20GiB"."""
    with Model(model_path) as m:
        return m.fit(gpu, margin=margin, budget=budget, context=context, **settings)


def inspect(path, text=False):
    """`gpumem inspect FILE --json` as a dict (text=True: the text summary)."""
    if hasattr(path, "__fspath__"):
        path = str(path)
    out = c_void_p()
    err = _new_error()
    _check(_lib.gpumem_inspect(_text("path", path), int(not text), byref(out), byref(err)), err)
    result = _capi.take_string(out.value)
    return result if text else json.loads(result)


def models():
    """The catalog, as `gpumem models --json` lists it."""
    out = []
    for i in range(_lib.gpumem_catalog_model_count()):
        c = _lib.gpumem_catalog_model_at(i).contents
        with Model(_str(c.id)) as m:
            info = m.info
        out.append({"id": _str(c.id), "hf_id": _str(c.hf_id),
                    "architecture": info["architecture"], "params": info["params"],
                    "active_params": info["active_params"], "aliases": _str(c.aliases)})
    return out


def gpus():
    """The GPU catalog, as `gpumem gpus --json` lists it."""
    out = []
    for i in range(_lib.gpumem_gpu_count()):
        g = _lib.gpumem_gpu_at(i).contents
        out.append({"id": _str(g.id), "name": _str(g.name), "vendor": _str(g.vendor),
                    "memory_bytes": g.memory_bytes, "unified": bool(g.unified),
                    "compute_capability": ("%d.%d" % divmod(g.compute_capability, 10)
                                           if g.compute_capability else None),
                    "aliases": _str(g.aliases)})
    return out


def version():
    """The C library's version (GPUMEM_VERSION)."""
    return _str(_lib.gpumem_version())
