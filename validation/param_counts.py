#!/usr/bin/env python3
"""Reference parameter counts for every catalog config, measured with transformers.

For each ``data/models/*.json`` (a genuine Hugging Face ``config.json``) this
builds the model on the ``meta`` device (no weights, no memory) and records
``model.num_parameters()`` -- tied weights counted once, buffers excluded.

Which class is built:
  * decoder / causal LMs: ``AutoModelForCausalLM.from_config(config)``;
  * encoder-only models (BERT family, i.e. ``architectures`` has no
    ``*ForCausalLM`` / ``*LMHeadModel`` / ``*ForConditionalGeneration`` entry):
    ``AutoModel.from_config(config)`` (the bare encoder, pooler included);
  * multimodal configs that nest a ``text_config`` (gemma3 4B+, llava, ...):
    the text-only causal LM, ``AutoModelForCausalLM.from_config(config.text_config)``.
    The full multimodal model's count is recorded too, as ``full_params`` /
    ``full_class`` (built with ``AutoModelForImageTextToText`` or ``AutoModel``);
    gpumem's count is compared with ``full_params``.  A text tower with no
    causal-LM class of its own (Qwen2.5-VL's) is built with ``AutoModel``
    (no lm_head: ``lm_head_params`` null).

One JSON object per line goes to ``validation/measurements/param_counts.jsonl``:
  id              file stem of the catalog entry
  model_type      config ``model_type`` (top level)
  class           class name of the model that was counted
  params          model.num_parameters()
  embed_params    numel of the input embedding module's parameters
  lm_head_params  numel of the output embedding (lm_head) if it is NOT tied to
                  the input embedding, else 0; null when the model has no head
  expert_params   MoE only: sum of numel of parameters whose name contains
                  "experts" but not "shared_expert" (routed experts, all of
                  them); null for dense models.  active = params - expert_params
                  + expert_params * experts_per_tok / num_experts
  tied            whether lm_head.weight is the same tensor as the input embedding
  torch, transformers  library versions used
A config that cannot be built gets ``{"id", "model_type", "error": "..."}``
instead (e.g. a model_type unknown to this transformers that would need
trust_remote_code); the run continues.

Reproduce (from the repository root):

    bash validation/setup.sh && validation/.venv/bin/python validation/param_counts.py

Check mode: ``validation/.venv/bin/python validation/param_counts.py --check``
recomputes everything and compares it with the committed jsonl (ignoring the
version fields), exiting 1 on any difference.  Pass config paths to restrict
the run to those files (printing rows to stdout with ``--out -``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_OUT = HERE / "measurements" / "param_counts.jsonl"

CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")
VERSION_KEYS = ("torch", "transformers")


def _numel(params) -> int:
    seen = set()
    total = 0
    for p in params:
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
    return total


def _load_config(path: Path):
    from transformers import CONFIG_MAPPING

    with open(path) as f:
        d = json.load(f)
    mt = d.get("model_type")
    if not mt:
        raise ValueError("config has no model_type")
    if mt not in CONFIG_MAPPING:
        auto = d.get("auto_map")
        hint = " (auto_map present: needs trust_remote_code)" if auto else ""
        raise ValueError(f"model_type {mt!r} unknown to transformers{hint}")
    return CONFIG_MAPPING[mt].from_dict(d), d


def _is_encoder_only(cfg, raw: dict) -> bool:
    archs = raw.get("architectures") or []
    if any(a.endswith(CAUSAL_SUFFIXES) for a in archs):
        return False
    if getattr(cfg, "is_encoder_decoder", False):
        return False
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    mt = raw["model_type"]
    if mt not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        return True
    # BERT-likes are registered for causal LM (BertLMHeadModel) but their
    # checkpoints are encoders: trust the architectures field.
    return bool(archs) and not getattr(cfg, "is_decoder", False)


def _text_config(cfg):
    try:
        tc = cfg.get_text_config(decoder=True)
    except Exception:
        tc = getattr(cfg, "text_config", None)
    if tc is None or tc is cfg:
        return None
    return tc


def _build(auto_cls, cfg):
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.device("meta"):
            return auto_cls.from_config(cfg)


def _describe(model) -> dict:
    inp = model.get_input_embeddings()
    try:
        out = model.get_output_embeddings()
    except Exception:
        out = None
    in_w = getattr(inp, "weight", None) if inp is not None else None
    out_w = getattr(out, "weight", None) if out is not None else None
    tied = out_w is not None and in_w is not None and out_w is in_w
    if out is None:
        lm_head = None
    elif tied:
        # a bias on a tied head is still its own parameter
        lm_head = _numel(p for p in out.parameters() if p is not in_w)
    else:
        lm_head = _numel(out.parameters())
    experts = [
        p
        for n, p in model.named_parameters()
        if "experts" in n and "shared_expert" not in n
    ]
    return {
        "class": type(model).__name__,
        "params": model.num_parameters(),
        "embed_params": _numel(inp.parameters()) if inp is not None else None,
        "lm_head_params": lm_head,
        "expert_params": _numel(experts) if experts else None,
        "tied": tied,
    }


def measure(path: Path, versions: dict) -> dict:
    from transformers import AutoModel, AutoModelForCausalLM

    row = {"id": path.stem, "model_type": None}
    try:
        cfg, raw = _load_config(path)
    except Exception as e:  # unreadable / unknown model_type
        try:
            row["model_type"] = json.loads(path.read_text()).get("model_type")
        except Exception:
            pass
        row["error"] = _err(e)
        row.update(versions)
        return row
    row["model_type"] = raw["model_type"]
    try:
        tc = _text_config(cfg)
        if tc is not None:
            try:
                model = _build(AutoModelForCausalLM, tc)
            except ValueError:
                # text towers without a causal-LM class of their own
                # (qwen2_5_vl_text): the bare text model, no head
                model = _build(AutoModel, tc)
            row.update(_describe(model))
            del model
            row["text_model_type"] = getattr(tc, "model_type", None)
            full = _full_multimodal(cfg)
            if full is not None:
                row["full_class"], row["full_params"] = full
        elif _is_encoder_only(cfg, raw):
            row.update(_describe(_build(AutoModel, cfg)))
        else:
            row.update(_describe(_build(AutoModelForCausalLM, cfg)))
    except Exception as e:
        row["error"] = _err(e)
    row.update(versions)
    return row


def _full_multimodal(cfg):
    """Count of the whole multimodal model (vision tower + projector + LM)."""
    import transformers

    for name in ("AutoModelForImageTextToText", "AutoModelForCausalLM", "AutoModel"):
        auto = getattr(transformers, name, None)
        if auto is None:
            continue
        try:
            m = _build(auto, cfg)
        except Exception:
            continue
        return type(m).__name__, m.num_parameters()
    return None


def _err(e: Exception) -> str:
    return " ".join(f"{type(e).__name__}: {e}".split())[:500]


def _strip(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in VERSION_KEYS}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("configs", nargs="*", type=Path,
                    help="config files (default: data/models/*.json)")
    ap.add_argument("--out", default=str(DEFAULT_OUT),
                    help="output jsonl ('-' for stdout)")
    ap.add_argument("--check", action="store_true",
                    help="recompute and compare with --out instead of writing it")
    args = ap.parse_args(argv)

    import torch
    import transformers

    transformers.logging.set_verbosity_error()
    versions = {"torch": torch.__version__, "transformers": transformers.__version__}
    paths = args.configs or sorted((ROOT / "data" / "models").glob("*.json"))
    if not paths:
        print("no configs found under data/models/", file=sys.stderr)
        return 1

    rows = []
    for p in paths:
        t0 = time.time()
        row = measure(p, versions)
        rows.append(row)
        status = row.get("error") or f"{row['class']} params={row['params']:,}"
        print(f"{p.stem:40s} {time.time() - t0:6.1f}s  {status}", file=sys.stderr)

    if args.check:
        old = {}
        with open(args.out) as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    old[r["id"]] = r
        bad = 0
        for r in rows:
            o = old.get(r["id"])
            if o is None:
                print(f"MISSING {r['id']}: not in {args.out}")
                bad += 1
            elif _strip(o) != _strip(r):
                print(f"DIFF {r['id']}:\n  old {_strip(o)}\n  new {_strip(r)}")
                bad += 1
        print(f"check: {len(rows) - bad} match, {bad} differ")
        return 1 if bad else 0

    text = "".join(json.dumps(r, sort_keys=False) + "\n" for r in rows)
    if args.out == "-":
        sys.stdout.write(text)
    else:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
        print(f"wrote {len(rows)} rows to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
