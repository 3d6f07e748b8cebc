"""ctypes mirror of include/gpumem.h: structs, enums (plain ints) and
function prototypes. Nothing here computes anything; it only describes the
C ABI. tests/test_gpumem.py checks every size and offset against a C
compiler's view of the header."""

import ctypes
import os
from ctypes import (
    c_uint,
    POINTER,
    Structure,
    c_char,
    c_char_p,
    c_double,
    c_int,
    c_int16,
    c_int32,
    c_int64,
    c_size_t,
    c_uint32,
    c_uint64,
    c_void_p,
)

# ------------------------------------------------------------------ enums
# C enums are ints; the values follow the header's declaration order.

(OK, ERR_USAGE, ERR_IO, ERR_PARSE, ERR_INVALID, ERR_UNSUPPORTED, ERR_NOT_FOUND,
 ERR_OVERFLOW, ERR_NOMEM) = range(9)

DTYPE_FP32, DTYPE_FP16, DTYPE_BF16, DTYPE_FP8, DTYPE_INT8, DTYPE_INT4 = range(6)
SOURCE_CATALOG, SOURCE_CONFIG, SOURCE_PARAMS, SOURCE_GGUF, SOURCE_SAFETENSORS = range(5)
ENGINE_TRANSFORMERS, ENGINE_SIMPLE, ENGINE_VLLM, ENGINE_LLAMACPP = range(4)
FSDP_NONE, FSDP_FULL, FSDP_HYBRID = range(3)
POOLING_DEFAULT, POOLING_NONE, POOLING_MEAN, POOLING_CLS, POOLING_LAST, POOLING_RANK = range(6)

MAX_COMPONENTS = 16
MAX_DEVICES = 65
NAME_LEN = 32
NOTE_LEN = 128

# ---------------------------------------------------------------- structs


class Error(Structure):
    _fields_ = [
        ("code", c_int),
        ("message", c_char * 320),
        ("file", c_char * 256),
        ("offset", c_int64),
        ("line", c_int),
        ("column", c_int),
    ]


class ModelInfo(Structure):
    _fields_ = [
        ("name", c_char_p),
        ("architecture", c_char_p),
        ("source", c_int),
        ("params", c_uint64),
        ("active_params", c_uint64),
        ("n_layers", c_uint32),
        ("hidden_size", c_uint32),
        ("vocab_size", c_uint32),
        ("max_context", c_uint32),
        ("dtype", c_int),
        ("tied_embeddings", c_int),
        ("is_encoder", c_int),
        ("architecture_known", c_int),
        ("note", c_char_p),
        ("vision_params", c_uint64),
    ]


class CatalogModel(Structure):
    _fields_ = [
        ("id", c_char_p),
        ("hf_id", c_char_p),
        ("aliases", c_char_p),
        ("source", c_char_p),
    ]


class Gpu(Structure):
    _fields_ = [
        ("id", c_char_p),
        ("aliases", c_char_p),
        ("vendor", c_char_p),
        ("name", c_char_p),
        ("memory_bytes", c_uint64),
        ("unified", c_int),
        ("compute_capability", c_uint),
        ("source", c_char_p),
    ]


class DeviceTarget(Structure):
    _fields_ = [
        ("gpu", POINTER(Gpu)),
        ("budget", c_uint64),
        ("margin", c_uint64),
    ]


class FfnMove(Structure):
    _fields_ = [
        ("layer", c_uint32),
        ("part", c_int),
        ("device", c_int),
    ]


class Settings(Structure):
    _fields_ = [
        ("engine", c_int),
        ("dtype_set", c_int),
        ("dtype", c_int),
        ("kv_dtype_set", c_int),
        ("kv_dtype", c_int),
        ("batch", c_uint64),
        ("context", c_uint64),
        ("new_tokens", c_uint64),
        ("images", c_uint32),
        ("cache", c_int),
        ("attn", c_int),
        ("gpus", c_uint32),
        ("gpu", POINTER(Gpu)),
        ("gpu_memory_utilization", c_double),
        ("max_model_len", c_uint64),
        ("max_num_seqs", c_uint64),
        ("max_num_batched_tokens", c_uint64),
        ("block_size", c_uint32),
        ("pipeline_parallel", c_uint32),
        ("enforce_eager", c_int),
        ("kv_cache_memory", c_uint64),
        ("vllm_version", c_char_p),
        ("vllm_hybrid_kv_cache_manager", c_int),
        ("n_ubatch", c_uint64),
        ("n_parallel", c_uint32),
        ("kv_unified", c_int),
        ("flash_attn", c_int),
        ("cache_type_k", c_int),
        ("cache_type_v", c_int),
        ("n_gpu_layers", c_int),
        ("swa_full", c_int),
        ("n_cpu_moe", c_int),
        ("llamacpp_version", c_char_p),
        ("tensor_split", c_double * 16),
        ("n_targets", c_uint32),
        ("targets", DeviceTarget * 16),
        ("cpu_moe_mask", c_uint64 * 16),
        ("n_ffn_moves", c_uint32),
        ("ffn_moves", FfnMove * 16),
        ("device_map", c_int),
        ("n_max_memory", c_uint32),
        ("max_memory", c_uint64 * 16),
        ("split_mode", c_int),
        ("main_gpu", c_int),
        ("no_kv_offload", c_int),
        ("embedding", c_int),
        ("pooling", c_int),
        ("rpc_devices", c_int),
        ("mmproj", c_void_p),
        ("no_mmproj_offload", c_int),
        ("draft", c_void_p),
        ("n_gpu_layers_draft", c_int),
        ("cache_type_k_draft", c_int),
        ("cache_type_v_draft", c_int),
        ("ctx_size_draft", c_uint64),
        ("lora", c_void_p),
        ("bnb_double_quant", c_int),
        ("mm_max_pixels", c_uint64),
        ("limit_mm_image", c_int32),
        ("limit_mm_video", c_int32),
    ]


class Component(Structure):
    _fields_ = [
        ("name", c_char * NAME_LEN),
        ("bytes", c_uint64),
        ("note", c_char * NOTE_LEN),
    ]


class Device(Structure):
    _fields_ = [
        ("name", c_char * NAME_LEN),
        ("is_host", c_int),
        ("bytes", c_uint64),
        ("n_components", c_size_t),
        ("components", Component * MAX_COMPONENTS),
    ]


class VllmInfo(Structure):
    _fields_ = [
        ("present", c_int),
        ("version", c_char * 16),
        ("gpu_memory_utilization", c_double),
        ("max_model_len", c_uint64),
        ("kv_cache_tokens", c_uint64),
        ("max_concurrency", c_double),
        ("starts", c_int),
        ("max_model_len_limit", c_uint64),
        ("reason", c_char * NOTE_LEN),
    ]


class DeviceMapInfo(Structure):
    _fields_ = [
        ("present", c_int),
        ("strategy", c_int),
        ("n_gpus", c_uint32),
        ("max_memory", c_uint64 * 16),
        ("n_layers", c_uint32),
        ("layer_device", c_int16 * 1024),
        ("embed_device", c_int16),
        ("norm_device", c_int16),
        ("lm_head_device", c_int16),
        ("main_device", c_int16),
        ("vision_device", c_int16),
        ("projector_device", c_int16),
        ("sized_bytes", c_uint64 * 17),
        ("weight_bytes", c_uint64 * 17),
    ]


class Estimate(Structure):
    _fields_ = [
        ("mode", c_int),
        ("engine", c_int),
        ("dtype", c_int),
        ("kv_dtype", c_int),
        ("batch", c_uint64),
        ("context", c_uint64),
        ("new_tokens", c_uint64),
        ("attn", c_int),
        ("cache", c_int),
        ("gpus", c_uint32),
        ("n_components", c_size_t),
        ("components", Component * MAX_COMPONENTS),
        ("n_devices", c_size_t),
        ("devices", Device * MAX_DEVICES),
        ("total_bytes", c_uint64),
        ("per_gpu_bytes", c_uint64),
        ("gpu", POINTER(Gpu)),
        ("fits", c_int),
        ("headroom_bytes", c_int64),
        ("note", c_char * NOTE_LEN),
        ("vllm", VllmInfo),
        ("description", c_char * NOTE_LEN),
        ("reserved_bytes", c_uint64),
        ("n_targets", c_uint32),
        ("targets", DeviceTarget * 16),
        ("device_map", DeviceMapInfo),
        ("allocated_bytes", c_uint64),
        ("embedding", c_int),
        ("pooling", c_int),
        ("images", c_uint32),
        ("bnb_double_quant", c_int),
    ]


class TrainSettings(Structure):
    _fields_ = [
        ("method", c_int),
        ("lora_rank", c_uint32),
        ("lora_targets", c_char_p),
        ("freeze_embeddings", c_int),
        ("precision", c_int),
        ("optimizer", c_int),
        ("checkpointing", c_int),
        ("flash_attention", c_int),
        ("sequence_parallel", c_int),
        ("micro_batch", c_uint64),
        ("seq_len", c_uint64),
        ("micro_batches", c_uint32),
        ("gpus", c_uint32),
        ("zero", c_uint32),
        ("fsdp", c_int),
        ("tp", c_uint32),
        ("pp", c_uint32),
        ("ep", c_uint32),
        ("cp", c_uint32),
        ("dp", c_uint32),
        ("gpu", POINTER(Gpu)),
        ("keep_grads", c_int),
        ("encoder_head", c_int),
    ]


class FitRequest(Structure):
    _fields_ = [
        ("margin", c_uint64),
        ("budget", c_uint64),
        ("min_context", c_uint64),
        ("context_set", c_int),
    ]


class FitPlan(Structure):
    _fields_ = [
        ("fits", c_int),
        ("context", c_uint64),
        ("n_gpu_layers", c_int),
        ("n_cpu_moe", c_int),
        ("flags", c_char * 1024),
        ("advice", c_char * 320),
        ("max_context", c_uint64),
        ("estimate", Estimate),
        ("n_devices", c_uint32),
        ("layers", c_int * 16),
        ("dense_only", c_int * 16),
        ("n_ffn_moves", c_uint32),
        ("ffn_moves", FfnMove * 16),
        ("note", c_char * NOTE_LEN),
        ("max_parallel", c_uint32),
        ("parallel_context", c_uint64),
    ]


# C struct name -> ctypes class, for the layout test.
STRUCTS = {
    "gpumem_error": Error,
    "gpumem_model_info": ModelInfo,
    "gpumem_catalog_model": CatalogModel,
    "gpumem_gpu": Gpu,
    "gpumem_device_target": DeviceTarget,
    "gpumem_ffn_move": FfnMove,
    "gpumem_settings": Settings,
    "gpumem_component": Component,
    "gpumem_device": Device,
    "gpumem_vllm_info": VllmInfo,
    "gpumem_device_map_info": DeviceMapInfo,
    "gpumem_estimate": Estimate,
    "gpumem_train_settings": TrainSettings,
    "gpumem_fit_request": FitRequest,
    "gpumem_fit_plan": FitPlan,
}

# -------------------------------------------------------------- functions

_ERR = POINTER(Error)
_PARSE = [c_char_p, POINTER(c_int), _ERR]  # name, enum out, err

PROTOTYPES = {
    "gpumem_strerror": (c_char_p, [c_int]),
    "gpumem_version": (c_char_p, []),
    "gpumem_dtype_parse": (c_int, _PARSE),
    "gpumem_dtype_name": (c_char_p, [c_int]),
    "gpumem_model_load": (c_int, [c_char_p, POINTER(c_void_p), _ERR]),
    "gpumem_model_load_catalog": (c_int, [c_char_p, POINTER(c_void_p), _ERR]),
    "gpumem_model_load_gguf": (c_int, [c_char_p, POINTER(c_void_p), _ERR]),
    "gpumem_split_mode_parse": (c_int, _PARSE),
    "gpumem_pooling_parse": (c_int, _PARSE),
    "gpumem_model_from_params": (c_int, [c_double, POINTER(c_void_p), _ERR]),
    "gpumem_params_parse": (c_int, [c_char_p, POINTER(c_double), _ERR]),
    "gpumem_model_free": (None, [c_void_p]),
    "gpumem_model_get_info": (None, [c_void_p, POINTER(ModelInfo)]),
    "gpumem_inspect": (c_int, [c_char_p, c_int, POINTER(c_void_p), _ERR]),
    "gpumem_catalog_model_count": (c_size_t, []),
    "gpumem_catalog_model_at": (POINTER(CatalogModel), [c_size_t]),
    "gpumem_gpu_count": (c_size_t, []),
    "gpumem_gpu_at": (POINTER(Gpu), [c_size_t]),
    "gpumem_gpu_find": (c_int, [c_char_p, POINTER(POINTER(Gpu)), _ERR]),
    "gpumem_cache_type_parse": (c_int, _PARSE),
    "gpumem_tensor_split_parse": (c_int, [c_char_p, POINTER(Settings), _ERR]),
    "gpumem_expert_override_parse": (c_int, [c_char_p, POINTER(Settings), _ERR]),
    "gpumem_settings_init": (None, [POINTER(Settings)]),
    "gpumem_device_map_parse": (c_int, _PARSE),
    "gpumem_device_map_name": (c_char_p, [c_int]),
    "gpumem_estimate_inference": (c_int, [c_void_p, POINTER(Settings), POINTER(Estimate), _ERR]),
    "gpumem_max_context": (c_int, [c_void_p, POINTER(Settings), POINTER(c_uint64), _ERR]),
    "gpumem_max_batch": (c_int, [c_void_p, POINTER(Settings), POINTER(c_uint64), _ERR]),
    "gpumem_vllm_utilization_for": (c_int, [c_void_p, POINTER(Settings), c_double,
                                            POINTER(c_double), _ERR]),
    "gpumem_engine_parse": (c_int, _PARSE),
    "gpumem_cache_parse": (c_int, _PARSE),
    "gpumem_attn_parse": (c_int, _PARSE),
    "gpumem_train_settings_init": (None, [POINTER(TrainSettings)]),
    "gpumem_estimate_training": (c_int, [c_void_p, POINTER(TrainSettings), POINTER(Estimate), _ERR]),
    "gpumem_train_method_parse": (c_int, _PARSE),
    "gpumem_precision_parse": (c_int, _PARSE),
    "gpumem_optimizer_parse": (c_int, _PARSE),
    "gpumem_checkpointing_parse": (c_int, _PARSE),
    "gpumem_encoder_head_parse": (c_int, _PARSE),
    "gpumem_fit": (c_int, [c_void_p, POINTER(Settings), POINTER(FitRequest), POINTER(FitPlan), _ERR]),
    # malloc'd strings come back as void* so that they can be freed.
    "gpumem_report_json": (c_void_p, [c_void_p, POINTER(Estimate)]),
    "gpumem_report_text": (c_void_p, [c_void_p, POINTER(Estimate), c_int, c_int]),
    "gpumem_report_fit_json": (c_void_p, [c_void_p, POINTER(FitPlan)]),
}


def _library_path():
    override = os.environ.get("GPUMEM_LIBRARY")
    if override:
        return override
    here = os.path.dirname(os.path.abspath(__file__))
    for name in ("libgpumem.so", "libgpumem.dylib", "gpumem.dll"):
        path = os.path.join(here, name)
        if os.path.exists(path):
            return path
    raise ImportError(
        "gpumem: libgpumem is not installed beside the package (%s); reinstall with "
        "'pip install ./python' or set GPUMEM_LIBRARY to a libgpumem.so" % here
    )


def load():
    lib = ctypes.CDLL(_library_path())
    for name, (restype, argtypes) in PROTOTYPES.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


lib = load()
# The library's malloc'd strings are released with the C runtime's free().
_libc = ctypes.CDLL(None)
free = _libc.free
free.restype = None
free.argtypes = [c_void_p]


def take_string(ptr):
    """Copies a malloc'd C string into a Python str and frees it."""
    if not ptr:
        return None
    try:
        return ctypes.string_at(ptr).decode("utf-8", "replace")
    finally:
        free(ptr)
