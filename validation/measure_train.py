#!/usr/bin/env python3
"""Ground-truth memory of a PyTorch/transformers TRAINING step, tensor by tensor.

Builds a transformers model from a config (``data/models/<id>.json`` or a file
under ``validation/configs/``) on CPU (real data) or the meta device (shapes
only, 1B-8B), optionally wraps it with peft LoRA, and runs two training steps:

    forward(input_ids, attention_mask, labels) -> loss   (HF's own loss)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)

Every tensor storage allocation and free is recorded with the dispatch tracker
of ``measure_torch.py`` (a TorchDispatchMode + weakref finalizers; works on
meta).  Step 1 allocates the optimizer states lazily; step 2 is the steady
state and is what ``measured`` describes.  Classes at the step-2 peak:

  weights           parameters + buffers (unique storages), live before the step
  gradients         storages that became a parameter's ``.grad`` (tagged by a
                    post-accumulate-grad hook, by storage identity)
  optimizer_states  storages in ``optimizer.state`` (live before step 2)
  logits            storages made inside the output embedding (lm_head) or after
                    it in the model's forward (the loss: fp32 upcast,
                    log_softmax), and backward storages whose last dim is the
                    vocabulary with >= tokens x vocab elements (dlogits)
  activations       everything else: saved activations, backward transients,
                    autocast weight copies (``detail.weight_casts``), optimizer
                    temporaries (``detail.by_phase.optimizer``)

Precision: ``fp32`` (fp32 weights); ``bf16-mixed`` = fp32 weights under
``torch.autocast(bf16)`` as HF Trainer does with bf16=True (real autocast on
CPU; on meta autocast does not dispatch -- meta tensors carry no Autocast key --
so the harness emulates it with a TorchFunctionMode that casts the inputs of
linear/matmul/bmm/sdpa to bf16, caching the weight casts per forward, and the
inputs of softmax/log_softmax/cross_entropy/layer_norm to fp32: see
``AutocastEmu``); ``bf16`` = ``model.to(bfloat16)`` + the optimizer on bf16
parameters.

Usage:
  validation/.venv/bin/python validation/measure_train.py --model qwen3-0.6b --device meta \
      --precision bf16-mixed --optimizer adamw --batch 1 --seq 512
  validation/.venv/bin/python validation/measure_train.py --cases-json FILE
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import sys
import time
import traceback
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import torch  # noqa: E402
from torch.overrides import TorchFunctionMode  # noqa: E402

import measure_torch as mt  # noqa: E402

DEFAULT_OUT = HERE / "measurements" / "torch_training.jsonl"
PHASE = {"p": "setup"}


# ----------------------------------------------------------------- tracker

class TrainTracker(mt.StorageTracker):
    def __init__(self, fake_scalars=False):
        super().__init__(fake_scalars=fake_scalars)
        self.grad_uids: set[int] = set()
        self.state_uids: set[int] = set()
        self.cast_uids: set[int] = set()
        self.marks: dict[str, int] = {}  # phase -> event index at its end

    def _record(self, t, opname):
        n0 = self.next_uid
        super()._record(t, opname)
        if self.next_uid > n0:
            self.info[n0]["phase"] = PHASE["p"]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = super().__torch_dispatch__(func, types, args, kwargs)
        if (self.active and func is torch.ops.aten._to_copy.default and args
                and isinstance(args[0], torch.Tensor) and args[0].untyped_storage()._cdata in self.known
                and isinstance(out, torch.Tensor)):
            cur = self.live.get(out.untyped_storage()._cdata)
            if cur is not None:
                self.cast_uids.add(cur[0])
        return out

    def uid_of(self, t):
        cur = self.live.get(t.untyped_storage()._cdata)
        return None if cur is None else cur[0]

    def mark(self, phase):
        self.marks[phase] = len(self.events)


TR: TrainTracker | None = None


# ------------------------------------------------------------- autocast emu

_LOW = {torch.nn.functional.linear, torch.matmul, torch.bmm, torch.mm, torch.baddbmm, torch.addmm,
        torch.Tensor.matmul, torch.Tensor.__matmul__, torch.Tensor.bmm, torch.Tensor.mm,
        torch.nn.functional.scaled_dot_product_attention, torch.einsum}
_F32 = {torch.nn.functional.softmax, torch.softmax, torch.Tensor.softmax, torch.nn.functional.log_softmax,
        torch.log_softmax, torch.Tensor.log_softmax, torch.nn.functional.cross_entropy,
        torch.nn.functional.layer_norm, torch.nn.functional.nll_loss}


class AutocastEmu(TorchFunctionMode):
    """torch.autocast(bf16) for meta tensors, above autograd like the real one.

    Casts floating fp32 tensor args of the lower-precision ops to bf16 (weight
    casts cached until ``reset()``, as autocast caches leaf casts within the
    autocast region) and bf16 args of the fp32 ops to fp32."""

    def __init__(self):
        super().__init__()
        self.cache: dict[int, torch.Tensor] = {}
        self.caching = True

    def reset(self):
        self.cache.clear()

    def _low(self, x):
        if isinstance(x, torch.Tensor) and x.dtype == torch.float32:
            if x.is_leaf and x.requires_grad and self.caching:
                k = id(x)
                c = self.cache.get(k)
                if c is None:
                    c = x.to(torch.bfloat16)
                    self.cache[k] = c
                return c
            return x.to(torch.bfloat16)
        if isinstance(x, (list, tuple)):
            return type(x)(self._low(y) for y in x)
        return x

    def _hi(self, x):
        if isinstance(x, torch.Tensor) and x.dtype in (torch.bfloat16, torch.float16):
            return x.to(torch.float32)
        return x

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _LOW:
            args = tuple(self._low(a) for a in args)
            kwargs = {k: self._low(v) for k, v in kwargs.items()}
        elif func in _F32:
            args = tuple(self._hi(a) for a in args)
            kwargs = {k: (self._hi(v) if k not in ("target", "weight") or v is None else v)
                      for k, v in kwargs.items()}
            if kwargs.get("dtype") in (torch.bfloat16, torch.float16):
                kwargs["dtype"] = torch.float32
        return func(*args, **kwargs)


# ------------------------------------------------------------------ building

def build(case):
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM

    cfg, raw = mt.load_config(case.get("model"), case.get("config"))
    device = case["device"]
    prec = case["precision"]
    dtype = torch.bfloat16 if prec == "bf16" else torch.float32
    cls = AutoModelForMaskedLM if mt.is_encoder(raw) else AutoModelForCausalLM
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.device(device):
            model = cls.from_config(cfg, dtype=dtype, attn_implementation=case["attn"])
    model.train()
    if hasattr(model.config, "use_cache"):
        model.config.use_cache = False
    if case["checkpointing"] == "full":
        kw = {"use_reentrant": False}
        if device == "meta" and prec == "bf16-mixed":
            # torch.utils.checkpoint re-enters the real autocast for recomputation;
            # the emulation has to be re-entered explicitly (a fresh mode: its casts
            # live only within the recomputed region, like autocast's cache there)
            def ctx_fn():
                e = AutocastEmu()
                e.caching = False
                return contextlib.nullcontext(), e
            kw["context_fn"] = ctx_fn
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kw)
    hf = model
    if case["method"] == "lora":
        from peft import LoraConfig, get_peft_model

        tg = case["lora_targets"]
        targets = "all-linear" if tg == "all-linear" else tg.split(",")
        lc = LoraConfig(r=case.get("lora_rank", 16), lora_alpha=2 * case.get("lora_rank", 16),
                        target_modules=targets, lora_dropout=0.0,
                        task_type="CAUSAL_LM" if cls is AutoModelForCausalLM else None)
        model = get_peft_model(model, lc)
        model.train()
    return model, hf, raw


def make_optimizer(model, case):
    params = [p for p in model.parameters() if p.requires_grad]
    impl = case.get("optimizer_impl", "foreach")
    if impl == "fused" and case["device"] == "meta":
        # torch refuses fused=True for meta params (device check only); the fused
        # kernel has a meta function (in place, no temporaries): allow meta.
        import torch.optim.adam as _adam
        import torch.optim.adamw as _adamw

        for mod in (_adam, _adamw):
            if hasattr(mod, "_device_dtype_check_for_fused"):
                mod._device_dtype_check_for_fused = lambda p, cuda_unsupported=False: None
    kw = {"foreach": True} if impl == "foreach" else {"fused": True} if impl == "fused" else {"foreach": False}
    if case["optimizer"] == "adamw":
        return torch.optim.AdamW(params, lr=1e-5, weight_decay=0.0, **kw)
    if case["optimizer"] == "sgd":
        return torch.optim.SGD(params, lr=1e-3, **kw)
    raise ValueError(case["optimizer"])


def install_hooks(hf):
    """Labels: 'lm_head' from the output embedding's forward until the end of the model forward."""
    out = hf.get_output_embeddings()
    handles = []

    def fpre(m, a):
        mt.LABELS.push("forward")

    def fpost(m, a, o):
        while mt.LABELS.stack:
            if mt.LABELS.stack.pop() == "forward":
                break

    def lpre(m, a):
        mt.LABELS.push("lm_head")

    handles.append(hf.register_forward_pre_hook(fpre))
    handles.append(hf.register_forward_hook(fpost))
    if out is not None:
        handles.append(out.register_forward_pre_hook(lpre))
    for name, mod in hf.named_modules():
        if not name or name.count(".") > 3:
            continue

        def mpre(m, a, _n=name):
            mt.LABELS.module.append(_n)

        def mpost(m, a, o):
            if mt.LABELS.module:
                mt.LABELS.module.pop()

        handles.append(mod.register_forward_pre_hook(mpre))
        handles.append(mod.register_forward_hook(mpost))
    return handles


def grad_hooks(model):
    hs = []

    def hook(p):
        if TR is not None and p.grad is not None:
            u = TR.uid_of(p.grad)
            if u is not None:
                TR.grad_uids.add(u)

    for p in model.parameters():
        if p.requires_grad:
            hs.append(p.register_post_accumulate_grad_hook(hook))
    return hs


def unique_bytes(tensors):
    seen = {}
    for t in tensors:
        if isinstance(t, torch.Tensor):
            st = t.untyped_storage()
            seen[st._cdata] = st.nbytes()
    return sum(seen.values()), list(seen.keys())


def state_tensors(opt):
    out = []
    for st in opt.state.values():
        for v in st.values():
            if isinstance(v, torch.Tensor):
                out.append(v)
    return out


# ------------------------------------------------------------------ analysis

def classify(tr, uid, tokens, vocab):
    inf = tr.info[uid]
    if uid in tr.grad_uids:
        return "gradients"
    if uid in tr.state_uids:
        return "optimizer_states"
    if uid in tr.cast_uids:
        return "activations"  # autocast's bf16 copy of a weight (detail.weight_casts)
    if inf["label"] == "lm_head" and inf["phase"] == "forward":
        return "logits"
    shp = inf["shape"]
    if vocab and shp and shp[-1] == vocab and inf["nbytes"] >= tokens * vocab and inf["phase"] == "backward":
        return "logits"
    if inf["phase"] in ("optimizer", "zero_grad"):
        return "optimizer_transient"
    return "activations"


def composition(tr, upto, tokens, vocab):
    alive: dict[int, int] = {}
    for uid, d in tr.events[:upto]:
        alive[uid] = alive.get(uid, 0) + d
        if alive[uid] <= 0:
            del alive[uid]
    comp = {"gradients": 0, "optimizer_states": 0, "activations": 0, "logits": 0, "optimizer_transient": 0}
    by_phase: dict[str, int] = {}
    casts = 0
    items = []
    for uid, nb in alive.items():
        c = classify(tr, uid, tokens, vocab)
        comp[c] += nb
        inf = tr.info[uid]
        if c == "activations":
            by_phase[inf["phase"]] = by_phase.get(inf["phase"], 0) + nb
            if uid in tr.cast_uids:
                casts += nb
        items.append((nb, c, inf))
    items.sort(key=lambda x: -x[0])
    return comp, by_phase, casts, items, len(alive)


def analyse(tr, base_w, base_s, tokens, vocab):
    live = peak = 0
    peak_i = -1
    for i, (uid, d) in enumerate(tr.events):
        live += d
        if live > peak:
            peak, peak_i = live, i
    comp, by_phase, casts, items, n_live = composition(tr, peak_i + 1, tokens, vocab)
    comp["optimizer_states"] += base_s
    at = tr.info[tr.events[peak_i][0]] if peak_i >= 0 else {}
    phases = {}
    fwd_casts = 0
    for ph, idx in tr.marks.items():
        c, bp, cz, _, _ = composition(tr, idx, tokens, vocab)
        if ph == "forward":
            fwd_casts = cz
        c["optimizer_states"] += base_s
        phases[ph] = {"live": base_w + sum(c.values()), **c}
    # the peak inside each phase, with its composition
    ppk = {}
    bounds = [("forward", 0, tr.marks.get("forward", 0)),
              ("backward", tr.marks.get("forward", 0), tr.marks.get("backward", 0)),
              ("optimizer", tr.marks.get("backward", 0), tr.marks.get("optimizer", 0))]
    for ph, a, b in bounds:
        live = sum(d for _, d in tr.events[:a])
        best, bi = live, a - 1
        for i in range(a, b):
            live += tr.events[i][1]
            if live > best:
                best, bi = live, i
        c, _, _, _, _ = composition(tr, bi + 1, tokens, vocab)
        c["optimizer_states"] += base_s
        ppk[ph] = {"peak": base_w + sum(c.values()), **c}
    res = {
        "peak_bytes": base_w + base_s + peak,
        "weights": base_w,
        **comp,
    }
    detail = {
        "peak_phase": at.get("phase"),
        "peak_at": {"op": at.get("op"), "module": at.get("module"), "shape": at.get("shape"),
                    "phase": at.get("phase")},
        "by_phase": by_phase,
        "weight_casts": casts,
        "fwd_weight_casts": fwd_casts,
        "at_phase_end": phases,
        "phase_peaks": ppk,
        "n_live": n_live,
        "n_events": len(tr.events),
        "top": [{"bytes": nb, "class": c, "shape": inf["shape"], "dtype": inf["dtype"], "op": inf["op"],
                 "module": inf["module"], "phase": inf["phase"]} for nb, c, inf in items[:14]],
    }
    return res, detail


# ------------------------------------------------------------------ the step

def run_case(case):
    global TR
    device = case["device"]
    t0 = time.time()
    model, hf, raw = build(case)
    build_s = time.time() - t0
    opt = make_optimizer(model, case)
    handles = install_hooks(hf)
    handles += grad_hooks(model)
    vocab = mt.vocab_size(hf)
    B, S = case["batch"], case["seq"]
    if device == "meta":
        ids = torch.empty((B, S), dtype=torch.long, device="meta")
    else:
        g = torch.Generator().manual_seed(0)
        ids = torch.randint(3, min(vocab, 30000), (B, S), generator=g, dtype=torch.long)
    mask = torch.ones_like(ids)
    labels = ids.clone()
    emu = None
    if case["precision"] == "bf16-mixed":
        if device == "meta":
            emu = AutocastEmu()
            actx = lambda: emu  # noqa: E731
        else:
            actx = lambda: torch.autocast("cpu", dtype=torch.bfloat16)  # noqa: E731
    else:
        actx = contextlib.nullcontext
    if device == "meta":
        torch.nn.functional.scaled_dot_product_attention = mt._sdpa_meta_flash
    params = list(model.parameters()) + list(model.buffers())
    w_bytes, _ = unique_bytes(params)
    trainable = [p for p in model.parameters() if p.requires_grad]
    tw_bytes, _ = unique_bytes(trainable)
    results = []
    try:
        for step in (1, 2):
            gc.collect()
            s_bytes, _ = unique_bytes(state_tensors(opt))
            tr = TrainTracker(fake_scalars=(device == "meta"))
            tr.add_baseline(params + state_tensors(opt) + [ids, mask, labels])
            TR = tr
            tr.__enter__()
            tr.active = True
            try:
                PHASE["p"] = "forward"
                with actx():
                    out = hf_forward(model, ids, mask, labels)
                    loss = out.loss
                    del out
                if emu is not None:
                    emu.reset()
                tr.mark("forward")
                PHASE["p"] = "backward"
                loss.backward()
                del loss
                tr.mark("backward")
                PHASE["p"] = "optimizer"
                opt.step()
                for t in state_tensors(opt):
                    u = tr.uid_of(t)
                    if u is not None:
                        tr.state_uids.add(u)
                tr.mark("optimizer")
                PHASE["p"] = "zero_grad"
                opt.zero_grad(set_to_none=True)
                gc.collect()
            finally:
                tr.active = False
                tr.__exit__(None, None, None)
                TR = None
                mt.LABELS.stack.clear()
                mt.LABELS.module.clear()
                PHASE["p"] = "setup"
            res, det = analyse(tr, w_bytes, s_bytes, B * S, vocab)
            results.append((res, det))
    finally:
        torch.nn.functional.scaled_dot_product_attention = mt._ORIG_SDPA
        for h in handles:
            h.remove()
    s_final, _ = unique_bytes(state_tensors(opt))
    dur = time.time() - t0
    extra = {"trainable_bytes": tw_bytes, "n_trainable": sum(p.numel() for p in trainable),
             "n_params": sum(p.numel() for p in model.parameters()), "state_bytes": s_final,
             "build_s": round(build_s, 2)}
    del model, hf, opt
    gc.collect()
    return results, extra, dur


def hf_forward(model, ids, mask, labels):
    return model(input_ids=ids, attention_mask=mask, labels=labels)


def versions():
    import peft
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}


def case_name(c):
    src = c.get("model") or Path(c["config"]).stem
    m = c["method"] + (f"-r{c.get('lora_rank', 16)}-{c['lora_targets']}" if c["method"] == "lora" else "")
    return (f"{src}|{m}|{c['precision']}|{c['optimizer']}-{c.get('optimizer_impl', 'foreach')}|"
            f"ckpt-{c['checkpointing']}|b{c['batch']}|s{c['seq']}|{c['attn']}|{c['device']}")


load_done = mt.load_done  # cases of a results file already measured


def run_cases(cases, out_path: Path, force=False):
    done = set() if force else load_done(out_path)
    ver = versions()
    for c in cases:
        c.setdefault("optimizer_impl", "foreach")
        c.setdefault("attn", "sdpa")
        c.setdefault("checkpointing", "none")
        name = case_name(c)
        if name in done:
            continue
        row = {"case": name, **({"model": c["model"]} if c.get("model") else {"config": c["config"]}),
               "method": c["method"], "lora_rank": c.get("lora_rank") if c["method"] == "lora" else None,
               "lora_targets": c.get("lora_targets") if c["method"] == "lora" else None,
               "precision": c["precision"], "optimizer": c["optimizer"],
               "optimizer_impl": c["optimizer_impl"], "checkpointing": c["checkpointing"],
               "batch": c["batch"], "seq": c["seq"], "attn": c["attn"], "device": c["device"],
               "method_of_measure": "dispatch", **ver, "threads": torch.get_num_threads()}
        try:
            results, extra, dur = run_case(c)
            (r1, d1), (r2, d2) = results
            row["measured"] = r2
            row["step1_peak_bytes"] = r1["peak_bytes"]
            row["step1"] = {**r1, "peak_phase": d1["peak_phase"]}
            row["duration_s"] = round(dur, 2)
            row["detail"] = {**d2, **extra}
        except Exception as e:
            traceback.print_exc()
            row["error"] = f"{type(e).__name__}: {e}"[:500]
        with open(out_path, "a") as f:
            f.write(json.dumps(row) + "\n")
        m = row.get("measured", {})
        G = 2 ** 20
        print(f"{name}: peak {m.get('peak_bytes', 0) / G:.1f} MiB (w {m.get('weights', 0) / G:.1f} "
              f"g {m.get('gradients', 0) / G:.1f} os {m.get('optimizer_states', 0) / G:.1f} "
              f"act {m.get('activations', 0) / G:.1f} lg {m.get('logits', 0) / G:.1f} "
              f"opt-tmp {m.get('optimizer_transient', 0) / G:.1f}) "
              f"step1 {row.get('step1_peak_bytes', 0) / G:.1f} phase {row.get('detail', {}).get('peak_phase')} "
              f"{row.get('duration_s', 0)}s {row.get('error', '')}", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--model")
    g.add_argument("--config")
    g.add_argument("--cases-json")
    ap.add_argument("--method", choices=["full", "lora"], default="full")
    ap.add_argument("--lora-rank", type=int, default=16)
    ap.add_argument("--lora-targets", default="q_proj,v_proj")
    ap.add_argument("--precision", choices=["fp32", "bf16-mixed", "bf16"], default="fp32")
    ap.add_argument("--optimizer", choices=["adamw", "sgd"], default="adamw")
    ap.add_argument("--optimizer-impl", choices=["foreach", "fused", "forloop"], default="foreach")
    ap.add_argument("--checkpointing", choices=["none", "full"], default="none")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--attn", choices=["sdpa", "eager"], default="sdpa")
    ap.add_argument("--device", choices=["cpu", "meta"], default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.cases_json:
        cases = json.loads(Path(a.cases_json).read_text())
    else:
        if not (a.model or a.config):
            ap.error("--model or --config is required")
        cases = [{"model": a.model, "config": a.config, "method": a.method, "lora_rank": a.lora_rank,
                  "lora_targets": a.lora_targets, "precision": a.precision, "optimizer": a.optimizer,
                  "optimizer_impl": a.optimizer_impl, "checkpointing": a.checkpointing, "batch": a.batch,
                  "seq": a.seq, "attn": a.attn, "device": a.device}]
        cases = [{k: v for k, v in c.items() if v is not None} for c in cases]
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    run_cases(cases, out, a.force)


if __name__ == "__main__":
    main()
