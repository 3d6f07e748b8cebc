#!/usr/bin/env python3
"""Ground-truth memory of PyTorch/transformers inference, measured tensor by tensor.

Builds a real transformers model from a config (a catalog entry
``data/models/<id>.json`` via ``--model <id>``, or a file under
``validation/configs/`` via ``--config``), runs one workload and records every
tensor storage allocation and free, in order.  From that trace it takes the
peak of live bytes -- counting the weights and buffers that were live before
the workload began -- and classifies what was live at the peak:

  weights      parameters and buffers (live before the workload)
  kv_cache     storages allocated inside the cache (``Cache.update``, a cache
               layer's ``lazy_initialization``/``__init__``) that are still live
               at the peak; ``detail.kv_held`` says how much of that the cache
               object itself held (dispatch method only)
  logits       storages allocated inside the output embedding (lm_head), and
               storages of at least batch x vocab elements allocated outside the
               model's forward (generate()'s fp32 copy, processors, argmax input)
  activations  everything else (including, for the profiler method, kernel
               scratch buffers no Python-visible tensor ever owns)

Two methods:

  profiler   (CPU only) torch.profiler with profile_memory=True: every
             allocation/free the c10 CPU allocator makes, including kernel-
             internal scratch. Labels come from record_function ranges that the
             harness opens around lm_head, the cache methods and the forward.
  dispatch   (CPU or meta) a TorchDispatchMode that sees every output storage of
             every aten op and attaches a weakref finalizer for its free. Works on
             the meta device (no memory), so 8B-70B shapes can be traced. It does
             not see allocations a kernel makes internally and frees before
             returning.

On CPU both run at once on the same workload (one row per method).

Workloads: ``prefill`` = ``generate(ids, max_new_tokens=1, do_sample=False)``;
``generate`` = the same with ``--new-tokens N``; ``forward`` = ``model(ids)``
(encoders such as BERT, built with AutoModel).  ``--cache dynamic|static``.

Each measured case appends one JSON line to
``validation/measurements/torch_inference.jsonl`` (see README.md).

Usage:
  validation/.venv/bin/python validation/measure_torch.py --model qwen3-0.6b \
      --workload prefill --dtype bf16 --batch 1 --context 512 --attn sdpa --device cpu
  validation/.venv/bin/python validation/measure_torch.py --cases-json FILE   # many cases, one build per model
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
import warnings
import weakref
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_OUT = HERE / "measurements" / "torch_inference.jsonl"

import torch  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")


# --------------------------------------------------------------------------- labels

class Labels:
    """A stack of context labels, mirrored into profiler record_function ranges."""

    def __init__(self):
        self.stack: list[str] = []
        self.module: list[str] = []
        self._rf: list = []
        self.profiling = False

    def push(self, label: str):
        self.stack.append(label)
        if self.profiling:
            h = torch.ops.profiler._record_function_enter_new("gpumem::" + label, None)
            self._rf.append(h)

    def pop(self):
        self.stack.pop()
        if self.profiling and self._rf:
            h = self._rf.pop()
            torch.ops.profiler._record_function_exit._RecordFunction(h)

    def current(self) -> str:
        # innermost meaningful label wins; "cache" and "lm_head" beat "forward"
        for lab in reversed(self.stack):
            if lab in ("cache", "lm_head"):
                return lab
        return "forward" if self.stack else "outside"


LABELS = Labels()


def _wrap_method(cls, name, label):
    orig = cls.__dict__.get(name)
    if orig is None or getattr(orig, "_gpumem_wrapped", False):
        return

    def wrapper(self, *a, **k):
        LABELS.push(label)
        try:
            out = orig(self, *a, **k)
        finally:
            LABELS.pop()
        if label == "cache" and name == "update" and TRACKER is not None:
            TRACKER.note_cache(self)
        return out

    wrapper._gpumem_wrapped = True
    setattr(cls, name, wrapper)


def install_cache_hooks():
    from transformers import cache_utils as cu

    for obj in list(vars(cu).values()):
        if isinstance(obj, type) and (
            issubclass(obj, getattr(cu, "Cache", ())) or issubclass(obj, getattr(cu, "CacheLayerMixin", ()))
        ):
            for name in ("update", "lazy_initialization", "__init__", "early_initialization",
                         "update_conv_state", "update_recurrent_state"):
                _wrap_method(obj, name, "cache")


def install_module_hooks(model):
    out = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    handles = []

    def pre(lab):
        def f(mod, args):
            LABELS.push(lab)
        return f

    def post(mod, args, output):
        LABELS.pop()

    # whole-model forward
    handles.append(model.register_forward_pre_hook(pre("forward")))
    handles.append(model.register_forward_hook(post))
    if out is not None:
        handles.append(out.register_forward_pre_hook(pre("lm_head")))
        handles.append(out.register_forward_hook(post))
    # module path stack (for the "where was the peak" report)
    for name, mod in model.named_modules():
        if not name or name.count(".") > 4:
            continue

        def mpre(m, a, _n=name):
            LABELS.module.append(_n)

        def mpost(m, a, o):
            if LABELS.module:
                LABELS.module.pop()

        handles.append(mod.register_forward_pre_hook(mpre))
        handles.append(mod.register_forward_hook(mpost))
    return handles


# -------------------------------------------------------------- dispatch tracker

TRACKER = None


def _storages(x, out):
    if isinstance(x, torch.Tensor):
        out.append(x)
    elif isinstance(x, (list, tuple)):
        for y in x:
            _storages(y, out)
    elif isinstance(x, dict):
        for y in x.values():
            _storages(y, out)


class StorageTracker(TorchDispatchMode):
    """Sees every output storage of every aten op; a weakref finalizer records its free."""

    def __init__(self, fake_scalars: bool = False, meta_sdpa: str | None = None):
        super().__init__()
        self.meta_sdpa = meta_sdpa
        self.events: list[tuple[int, int]] = []  # (uid, +bytes | -bytes)
        self.info: dict[int, dict] = {}
        self.live: dict[int, tuple[int, object]] = {}  # cdata -> (uid, weakref)
        self.known: set[int] = set()  # cdata of baseline storages
        self.next_uid = 0
        self.fake_scalars = fake_scalars
        self.holds: list[tuple[int, frozenset]] = []  # (event index, uids held by cache)
        self.active = False

    def add_baseline(self, tensors):
        for t in tensors:
            self.known.add(t.untyped_storage()._cdata)

    def _on_free(self, cdata, uid, nbytes):
        if self.active:
            self.events.append((uid, -nbytes))
        cur = self.live.get(cdata)
        if cur is not None and cur[0] == uid:
            del self.live[cdata]

    def _record(self, t: torch.Tensor, opname: str):
        st = t.untyped_storage()
        cd = st._cdata
        if cd in self.known:
            return
        nb = st.nbytes()
        cur = self.live.get(cd)
        if cur is not None:
            uid = cur[0]
            old = self.info[uid]["nbytes"]
            if nb != old:  # resized in place (out= / resize_)
                self.events.append((uid, nb - old))
                self.info[uid]["nbytes"] = nb
            return
        uid = self.next_uid
        self.next_uid += 1
        self.info[uid] = {
            "nbytes": nb,
            "label": LABELS.current(),
            "shape": list(t.shape),
            "dtype": str(t.dtype).replace("torch.", ""),
            "op": opname,
            "module": LABELS.module[-1] if LABELS.module else "",
            "ptr": t.data_ptr() if t.device.type != "meta" else 0,
        }
        ref = weakref.ref(st, lambda r, cd=cd, uid=uid, nb=nb: self._on_free(cd, uid, self.info[uid]["nbytes"]))
        self.live[cd] = (uid, ref)
        self.events.append((uid, nb))

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.fake_scalars and func is torch.ops.aten._local_scalar_dense.default:
            t = args[0]
            if t.device.type == "meta":
                if t.dtype == torch.bool:
                    return True
                if t.dtype.is_floating_point:
                    return 0.0
                return 0
        out = func(*args, **kwargs)
        if self.active:
            ts: list = []
            _storages(out, ts)
            name = str(func.overloadpacket.__name__)
            for t in ts:
                self._record(t, name)
        return out

    def note_cache(self, cache):
        """After each Cache.update: which storages does the cache hold now?"""
        uids = set()
        layers = getattr(cache, "layers", None) or []
        for layer in layers:
            for attr in ("keys", "values", "conv_states", "recurrent_states"):
                v = getattr(layer, attr, None)
                vs = v if isinstance(v, (list, tuple)) else [v]
                for x in vs:
                    if isinstance(x, torch.Tensor):
                        cur = self.live.get(x.untyped_storage()._cdata)
                        if cur is not None:
                            uids.add(cur[0])
        self.holds.append((len(self.events), frozenset(uids)))


# -------------------------------------------------------------- peak analysis

VISION_MODULES = ("model.vision_tower", "model.visual", "model.multi_modal_projector")


def analyse_dispatch(tr: StorageTracker, weights: int, batch: int, vocab: int | None) -> dict:
    live = 0
    peak = 0
    peak_i = -1
    vision_peak = 0  # the most bytes live while a vision module was running
    for i, (uid, d) in enumerate(tr.events):
        live += d
        if live > peak:
            peak, peak_i = live, i
        if d > 0 and live > vision_peak and tr.info[uid]["module"].startswith(VISION_MODULES):
            vision_peak = live
    # replay to the peak
    alive: dict[int, int] = {}
    for uid, d in tr.events[: peak_i + 1]:
        alive[uid] = alive.get(uid, 0) + d
        if alive[uid] <= 0:
            del alive[uid]
    held = frozenset()
    for idx, h in tr.holds:
        if idx <= peak_i + 1:
            held = h
    comp = {"kv_cache": 0, "logits": 0, "activations": 0}
    kv_held = 0
    items = []
    for uid, nb in alive.items():
        inf = tr.info[uid]
        cls = ("activations" if inf["module"].startswith(VISION_MODULES) else
               classify(inf["label"], nb, batch, vocab))
        comp[cls] += nb
        if uid in held:
            kv_held += nb
        items.append((nb, cls, inf))
    items.sort(key=lambda x: -x[0])
    top = [
        {"bytes": nb, "class": cls, "shape": inf["shape"], "dtype": inf["dtype"], "op": inf["op"],
         "module": inf["module"]}
        for nb, cls, inf in items[:12]
    ]
    at = tr.info[tr.events[peak_i][0]] if peak_i >= 0 else {}
    return {
        "peak_bytes": weights + peak,
        "weights": weights,
        **comp,
        "detail": {
            **({"vision_phase_bytes": vision_peak} if vision_peak else {}),
            "kv_held": kv_held,
            "n_live": len(alive),
            "n_events": len(tr.events),
            "peak_at": {"op": at.get("op"), "module": at.get("module"), "shape": at.get("shape")},
            "top": top,
        },
    }


def classify(label: str, nbytes: int, batch: int, vocab: int | None) -> str:
    if label == "cache":
        return "kv_cache"
    if label == "lm_head":
        return "logits"
    if label == "outside" and vocab and nbytes >= batch * vocab * 2:
        return "logits"
    return "activations"


def analyse_profiler(prof, weights: int, batch: int, vocab: int | None) -> dict:
    from torch._C._profiler import _EventType

    allocs = []
    ranges = []  # (time, +1/-1, label): gpumem:: record_function ranges
    stack = list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:
        e = stack.pop()
        if e.tag == _EventType.Allocation:
            ex = e.extra_fields
            if ex.device.type == "cpu":
                allocs.append((e.start_time_ns, ex.ptr, ex.alloc_size, e))
        elif e.name.startswith("gpumem::"):
            lab = e.name[len("gpumem::"):]
            ranges.append((e.start_time_ns, 1, lab))
            ranges.append((e.end_time_ns, -1, lab))
        stack.extend(e.children)
    # Under a TorchDispatchMode the event tree loses the parent link to the
    # ranges, so allocations are labelled by time: sweep the range boundaries.
    ranges.sort(key=lambda x: (x[0], x[1]))
    allocs.sort(key=lambda x: x[0])
    labels_at = []
    open_n = {"cache": 0, "lm_head": 0, "forward": 0}
    j = 0
    for t, ptr, sz, e in allocs:
        while j < len(ranges) and ranges[j][0] <= t:
            open_n[ranges[j][2]] = open_n.get(ranges[j][2], 0) + ranges[j][1]
            j += 1
        lab = ("cache" if open_n["cache"] > 0 else "lm_head" if open_n["lm_head"] > 0
               else "forward" if open_n["forward"] > 0 else "outside")
        labels_at.append(lab)

    def label_of(i):
        e = allocs[i][3]
        return labels_at[i], [e.parent.name] if e.parent is not None else []

    live = 0
    peak = 0
    peak_i = -1
    cur: dict[int, int] = {}
    for i, (t, ptr, sz, e) in enumerate(allocs):
        if sz > 0:
            cur[ptr] = i
            live += sz
        else:
            if ptr in cur:  # frees of pre-profiling allocations are ignored
                del cur[ptr]
                live += sz
        if live > peak:
            peak, peak_i = live, i
    alive: dict[int, int] = {}
    for i, (t, ptr, sz, e) in enumerate(allocs[: peak_i + 1]):
        if sz > 0:
            alive[ptr] = i
        elif ptr in alive:
            del alive[ptr]
    comp = {"kv_cache": 0, "logits": 0, "activations": 0}
    items = []
    for ptr, i in alive.items():
        t, _, sz, e = allocs[i]
        lab, names = label_of(i)
        cls = classify(lab, sz, batch, vocab)
        comp[cls] += sz
        items.append((sz, cls, names[0] if names else ""))
    items.sort(key=lambda x: -x[0])
    at = allocs[peak_i][3] if peak_i >= 0 else None
    return {
        "peak_bytes": weights + peak,
        "weights": weights,
        **comp,
        "detail": {
            "n_live": len(alive),
            "n_events": len(allocs),
            "peak_at": {"op": at.parent.name if at is not None and at.parent is not None else None},
            "top": [{"bytes": s, "class": c, "op": o} for s, c, o in items[:12]],
        },
    }


# --------------------------------------------------------------- model building

def load_config(model_id: str | None, config_path: str | None):
    from transformers import CONFIG_MAPPING

    p = Path(config_path) if config_path else ROOT / "data" / "models" / f"{model_id}.json"
    if not p.is_absolute() and not p.exists():
        p = ROOT / p
    raw = json.loads(p.read_text())
    cfg = CONFIG_MAPPING[raw["model_type"]].from_dict(raw)
    return cfg, raw


def is_encoder(raw: dict) -> bool:
    archs = raw.get("architectures") or []
    if not archs:
        return raw.get("model_type") in ("bert", "roberta", "distilbert")
    return not any(a.endswith(CAUSAL_SUFFIXES) for a in archs)


def build_model(cfg, raw, dtype: str, attn: str, device: str):
    from transformers import AutoModel, AutoModelForCausalLM, AutoModelForImageTextToText

    cls = (AutoModel if is_encoder(raw) else
           AutoModelForImageTextToText if "vision_config" in raw else AutoModelForCausalLM)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.device(device):
            model = cls.from_config(cfg, dtype=DTYPES[dtype], attn_implementation=attn)
    model.eval()
    return model


def weight_tensors(model):
    seen = {}
    for t in list(model.parameters()) + list(model.buffers()):
        st = t.untyped_storage()
        seen[st._cdata] = (t, st.nbytes())
    return [v[0] for v in seen.values()], sum(v[1] for v in seen.values())


def vocab_size(model):
    cfg = model.config
    try:
        cfg = cfg.get_text_config()
    except Exception:
        pass
    return getattr(cfg, "vocab_size", None)


# --------------------------------------------------------------------- workload

def image_inputs(model, ids, n_images: int, device: str) -> dict:
    """`n_images` square images per sequence at the tower's image_size, as the
    model's processor would give them: pixel_values and, in the prompt, the
    image token repeated for each image's features right after the first
    token (llava: (image_size / patch)^2 per image, the CLS dropped by the
    default feature strategy; gemma3: mm_tokens_per_image)."""
    cfg = model.config
    vc = cfg.vision_config
    size = vc.image_size
    if cfg.model_type == "llava":
        per = (size // vc.patch_size) ** 2
    elif cfg.model_type == "gemma3":
        per = cfg.mm_tokens_per_image
    else:
        raise ValueError(f"image inputs for {cfg.model_type} are not built here")
    B, S = ids.shape
    if S < n_images * per + 1:
        raise ValueError(f"context {S} cannot hold {n_images} x {per} image tokens")
    if device != "meta":
        ids[:, 1:1 + n_images * per] = cfg.image_token_id
    dtype = next(model.parameters()).dtype
    gen = torch.Generator().manual_seed(1)
    shape = (B * n_images, vc.num_channels, size, size)
    pix = (torch.empty(shape, dtype=dtype, device="meta") if device == "meta" else
           torch.randn(shape, generator=gen).to(dtype))
    return {"pixel_values": pix}


def run_workload(model, case: dict, device: str):
    B, S = case["batch"], case["context"]
    wl = case["workload"]
    vocab = vocab_size(model) or 1000
    gen = torch.Generator().manual_seed(0)
    if device == "meta":
        ids = torch.empty((B, S), dtype=torch.long, device="meta")
    else:
        ids = torch.randint(3, min(vocab, 30000), (B, S), generator=gen, dtype=torch.long)
    extra = image_inputs(model, ids, case["images"], device) if case.get("images") else {}
    if wl == "forward":
        with torch.no_grad():
            out = model(input_ids=ids)
        del out
        return
    new = 1 if wl == "prefill" else int(case["new_tokens"])
    kw = dict(max_new_tokens=new, min_new_tokens=new, do_sample=False, attention_mask=torch.ones_like(ids),
              pad_token_id=0, eos_token_id=None, **extra)
    if case.get("cache", "dynamic") == "static":
        kw["cache_implementation"] = "static"
    # generate() sizes a StaticCache for the longest of all calls on this
    # model object (_previous_max_cache_length); cases share models, so
    # forget earlier calls to measure each case as a fresh process would.
    if hasattr(model, "_previous_max_cache_length"):
        del model._previous_max_cache_length
    with torch.no_grad():
        out = model.generate(ids, **kw)
    del out


_ORIG_SDPA = torch.nn.functional.scaled_dot_product_attention


def _sdpa_meta_flash(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                     enable_gqa=False):
    """SDPA on meta as CPU/CUDA run it. aten's scaled_dot_product_attention picks its
    backend through a DispatchStub that has no meta entry, so on meta it always
    takes the math path ([B, H, q, k] fp32 scores, K/V repeated for GQA). CPU (and
    CUDA) take the fused flash kernel: output + fp32 logsumexp, GQA without
    repeating K/V. Call that kernel's meta function directly."""
    if query.device.type != "meta":
        return _ORIG_SDPA(query, key, value, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal,
                          scale=scale, enable_gqa=enable_gqa)
    if query.shape[-1] == value.shape[-1]:
        return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
            query, key, value, dropout_p, is_causal, attn_mask=attn_mask, scale=scale)[0]
    # q/k and v head dims differ (MLA: 192 vs 128): CPU's flash kernel refuses
    # and CPU falls back to math; CUDA takes memory-efficient attention, whose
    # memory is the same as flash's: the output and an fp32 logsumexp.
    lse = query.new_empty(query.shape[:-1], dtype=torch.float32)
    out = query.new_empty(query.shape[:-1] + (value.shape[-1],))
    del lse
    return out


def patch_meta_generate(model, new_tokens: int):
    """On meta, the stop check reads a tensor value; run exactly new_tokens steps instead."""
    state = {"n": 0}

    def has_unfinished(this_peer_finished, synced_gpus, device):
        state["n"] += 1
        return state["n"] <= new_tokens

    model._has_unfinished_sequences = has_unfinished
    return state


def measure_case(model, case: dict, device: str, methods: list[str]) -> list[dict]:
    weights_t, weights_b = weight_tensors(model)
    vocab = vocab_size(model)
    B = case["batch"]
    gc.collect()
    tr = None
    prof = None
    global TRACKER
    t0 = time.time()
    if device == "meta":
        nt = 1 if case["workload"] == "prefill" else int(case.get("new_tokens") or 1)
        patch_meta_generate(model, nt)
        if case.get("meta_sdpa", "flash") == "flash":
            torch.nn.functional.scaled_dot_product_attention = _sdpa_meta_flash
    if "dispatch" in methods:
        tr = StorageTracker(fake_scalars=(device == "meta"),
                            meta_sdpa=case.get("meta_sdpa", "flash") if device == "meta" else None)
        tr.add_baseline(weights_t)
        TRACKER = tr
    ctxs = []
    try:
        if "profiler" in methods:
            from torch.profiler import ProfilerActivity, profile

            prof = profile(activities=[ProfilerActivity.CPU], profile_memory=True)
            prof.__enter__()
            LABELS.profiling = True
        if tr is not None:
            tr.__enter__()
            tr.active = True
        run_workload(model, case, device)
        gc.collect()
    finally:
        if tr is not None:
            tr.active = False
            tr.__exit__(None, None, None)
        if prof is not None:
            LABELS.profiling = False
            prof.__exit__(None, None, None)
        TRACKER = None
        torch.nn.functional.scaled_dot_product_attention = _ORIG_SDPA
        LABELS.stack.clear()
        LABELS.module.clear()
        if device == "meta" and "_has_unfinished_sequences" in model.__dict__:
            del model._has_unfinished_sequences
    dur = time.time() - t0
    rows = []
    for m in methods:
        if m == "dispatch":
            meas = analyse_dispatch(tr, weights_b, B, vocab)
        else:
            meas = analyse_profiler(prof, weights_b, B, vocab)
        rows.append((m, meas))
    return rows, dur


def versions():
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__}


def case_name(c: dict, method: str) -> str:
    src = c.get("model") or Path(c["config"]).stem
    wl = c["workload"] + (f"{c['new_tokens']}" if c["workload"] == "generate" else "")
    img = f"|i{c['images']}" if c.get("images") else ""
    return (f"{src}|{wl}|{c['dtype']}|b{c['batch']}|s{c['context']}{img}|{c['attn']}|"
            f"{c.get('cache', 'dynamic')}|{c['device']}|{method}")


def run_cases(cases: list[dict], out_path: Path, done: set[str] | None = None) -> int:
    """Run cases sharing one (model/config, dtype, attn, device) build."""
    install_cache_hooks()
    done = done or set()
    groups: dict[tuple, list[dict]] = {}
    for c in cases:
        k = (c.get("model"), c.get("config"), c["dtype"], c["attn"], c["device"])
        groups.setdefault(k, []).append(c)
    n = 0
    ver = versions()
    for (mid, cpath, dtype, attn, device), cs in groups.items():
        cfg, raw = load_config(mid, cpath)
        tb = time.time()
        model = build_model(cfg, raw, dtype, attn, device)
        build_s = time.time() - tb
        handles = install_module_hooks(model)
        for c in cs:
            methods = c.get("methods") or (["dispatch"] if device == "meta" else ["profiler", "dispatch"])
            names = {m: case_name(c, m) for m in methods}
            todo = [m for m in methods if names[m] not in done]
            if not todo:
                continue
            try:
                rows, dur = measure_case(model, c, device, todo)
            except Exception as e:  # record the failure, go on
                import traceback

                traceback.print_exc()
                rows, dur = [(m, {"error": f"{type(e).__name__}: {e}"[:500]}) for m in todo], 0.0
            for m, meas in rows:
                row = {
                    "case": names[m],
                    **({"model": mid} if mid else {"config": str(Path(cpath))}),
                    "workload": c["workload"],
                    "dtype": dtype,
                    "batch": c["batch"],
                    "context": c["context"],
                    **({"images": c["images"]} if c.get("images") else {}),
                    "new_tokens": (1 if c["workload"] == "prefill" else
                                   0 if c["workload"] == "forward" else int(c["new_tokens"])),
                    "attn": attn,
                    "cache": c.get("cache", "dynamic") if c["workload"] != "forward" else None,
                    "device": device,
                    "method": m,
                    **ver,
                    "duration_s": round(dur, 3),
                    "build_s": round(build_s, 3),
                    "threads": torch.get_num_threads(),
                }
                if "error" in meas:
                    row["error"] = meas["error"]
                else:
                    detail = meas.pop("detail")
                    row["measured"] = meas
                    row["detail"] = detail
                with open(out_path, "a") as f:
                    f.write(json.dumps(row) + "\n")
                done.add(names[m])
                n += 1
                msr = row.get("measured", {})
                print(f"{row['case']}: peak {msr.get('peak_bytes', 0) / 2**20:.1f} MiB "
                      f"(w {msr.get('weights', 0) / 2**20:.1f} kv {msr.get('kv_cache', 0) / 2**20:.1f} "
                      f"act {msr.get('activations', 0) / 2**20:.1f} lg {msr.get('logits', 0) / 2**20:.1f}) "
                      f"{dur:.1f}s {row.get('error', '')}", flush=True)
        for h in handles:
            h.remove()
        del model
        gc.collect()
    return n


def load_done(out_path: Path) -> set[str]:
    done = set()
    if out_path.exists():
        for line in out_path.read_text().splitlines():
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if "measured" in r:
                done.add(r["case"])
    return done


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--model", help="catalog id (data/models/<id>.json)")
    g.add_argument("--config", help="config file, e.g. validation/configs/tiny-mixtral.json")
    g.add_argument("--cases-json", help="a JSON list of case objects (driver use)")
    ap.add_argument("--workload", choices=["prefill", "generate", "forward"], default="prefill")
    ap.add_argument("--new-tokens", type=int, default=8)
    ap.add_argument("--dtype", choices=list(DTYPES), default="bf16")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--context", type=int, default=512)
    ap.add_argument("--images", type=int, default=0,
                    help="images per sequence (multimodal models; their tokens count in --context)")
    ap.add_argument("--attn", choices=["sdpa", "eager"], default="sdpa")
    ap.add_argument("--cache", choices=["dynamic", "static"], default="dynamic")
    ap.add_argument("--device", choices=["cpu", "meta"], default="cpu")
    ap.add_argument("--method", choices=["profiler", "dispatch", "both"], default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--force", action="store_true", help="measure even if the case is in the jsonl")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if a.cases_json:
        cases = json.loads(Path(a.cases_json).read_text())
    else:
        if not (a.model or a.config):
            ap.error("--model or --config is required")
        m = a.method
        methods = None if m is None else (["profiler", "dispatch"] if m == "both" else [m])
        cases = [{
            "model": a.model, "config": a.config, "workload": a.workload, "new_tokens": a.new_tokens,
            "dtype": a.dtype, "batch": a.batch, "context": a.context, "images": a.images,
            "attn": a.attn, "cache": a.cache,
            "device": a.device, "methods": methods,
        }]
    done = set() if a.force else load_done(out)
    run_cases(cases, out, done)


if __name__ == "__main__":
    main()
