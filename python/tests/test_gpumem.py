"""Tests of the Python binding: its answers equal the CLI's --json, field by
field; errors carry the C library's class, message and position; the ctypes
structs match the C header's layout."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import gpumem
from gpumem import _capi

REPO = Path(__file__).resolve().parents[2]
GGUF = REPO / "tests" / "fixtures" / "gguf"


def _cli_path():
    path = os.environ.get("GPUMEM_CLI") or str(REPO / "build" / "gpumem")
    return path if os.path.exists(path) else None


CLI = _cli_path()
needs_cli = pytest.mark.skipif(
    CLI is None, reason="no gpumem CLI: build it (cmake -S . -B build && cmake --build build) "
                        "or set GPUMEM_CLI")


def cli_json(*args):
    proc = subprocess.run([CLI, *args, "--json"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def assert_same(got, want, path="$"):
    """Field by field: the first difference is named by its JSON path."""
    assert type(got) is type(want), "%s: %r (binding) vs %r (CLI)" % (path, got, want)
    if isinstance(want, dict):
        assert list(got) == list(want), "%s: keys %s vs %s" % (path, list(got), list(want))
        for key in want:
            assert_same(got[key], want[key], "%s.%s" % (path, key))
    elif isinstance(want, list):
        assert len(got) == len(want), "%s: %d vs %d items" % (path, len(got), len(want))
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, "%s[%d]" % (path, i))
    else:
        assert got == want, "%s: %r (binding) vs %r (CLI)" % (path, got, want)


# ------------------------------------------------------------ ABI layout


def test_struct_layout_matches_header(tmp_path):
    """Every ctypes struct has the C sizeof and every field its offsetof."""
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler to read the header's layout")
    lines = ["#include <stddef.h>", "#include <stdio.h>", '#include "gpumem.h"',
             "int main(void) {"]
    expected = []
    for cname, cls in _capi.STRUCTS.items():
        lines.append('printf("%%zu\\n", sizeof(%s));' % cname)
        expected.append(("sizeof(%s)" % cname, ctypes_sizeof(cls)))
        for field, _ in cls._fields_:
            lines.append('printf("%%zu\\n", offsetof(%s, %s));' % (cname, field))
            expected.append(("offsetof(%s, %s)" % (cname, field), getattr(cls, field).offset))
    lines += ["return 0;", "}"]
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines) + "\n")
    exe = tmp_path / "layout"
    subprocess.run([cc, "-std=c11", "-I", str(REPO / "include"), str(src), "-o", str(exe)],
                   check=True)
    got = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()
    assert len(got) == len(expected)
    for (what, py), c in zip(expected, got):
        assert py == int(c), "%s: ctypes %d, C %s" % (what, py, c)


def ctypes_sizeof(cls):
    import ctypes
    return ctypes.sizeof(cls)


def test_enum_values_match_names():
    """The enum constants used by the binding name what the C library names."""
    lib = _capi.lib
    assert [lib.gpumem_dtype_name(i).decode() for i in range(6)] == \
        ["fp32", "fp16", "bf16", "fp8", "int8", "int4"]
    assert lib.gpumem_strerror(_capi.ERR_NOT_FOUND)
    assert gpumem.version() == gpumem.__version__ == "0.1.0"


# -------------------------------------------------------------- estimates

ESTIMATES = [
    # (binding kwargs, CLI args)
    (("llama-3.1-8b",), {}, []),
    (("llama-3.1-8b",), dict(dtype="bf16", kv_dtype="fp8", batch=8, context=8192,
                             new_tokens=128, cache="static", attn="eager", gpu="rtx-4090"),
     ["--dtype", "bf16", "--kv-dtype", "fp8", "--batch", "8", "--context", "8192",
      "--new-tokens", "128", "--cache", "static", "--attn", "eager", "--gpu", "rtx-4090"]),
    (("llama-2-7b",), dict(dtype="int4", gpus=2, gpu="rtx-4090"),
     ["-d", "int4", "--gpus", "2", "-g", "rtx-4090"]),
    (("llama-3.1-8b",), dict(engine="vllm", gpu="h100-sxm", gpu_memory_utilization=0.85,
                             max_model_len=16384, max_num_seqs=64, kv_cache_dtype="fp8",
                             vllm_version="0.11.0"),
     ["--engine", "vllm", "--gpu", "h100-sxm", "--gpu-memory-utilization", "0.85",
      "--max-model-len", "16384", "--max-num-seqs", "64", "--kv-cache-dtype", "fp8",
      "--vllm-version", "0.11.0"]),
    (("llama-3.1-8b",), dict(engine="simple"), ["--simple"]),
    (("llama-3.1-8b",), dict(gpu="rtx-4090", max_context=True),
     ["--gpu", "rtx-4090", "--max-context"]),
    ((str(GGUF / "tiny-llama-q4k.gguf"),), dict(gpu="rtx-4090", context=1024, ngl=2,
                                                ctk="q8_0", ctv="q8_0", fa="on", np=2),
     [str(GGUF / "tiny-llama-q4k.gguf"), "--gpu", "rtx-4090", "-c", "1024", "-ngl", "2",
      "-ctk", "q8_0", "-ctv", "q8_0", "-fa", "on", "-np", "2"]),
    ((str(GGUF / "tiny-llama-q4k.gguf"),), dict(gpu="rtx-4090", ngl=2, ts=[1, 3]),
     [str(GGUF / "tiny-llama-q4k.gguf"), "--gpu", "rtx-4090", "-ngl", "2", "-ts", "1,3"]),
    ((str(GGUF / "tiny-moe-mixed.gguf"),), dict(gpu="rtx-4090", cpu_moe=True),
     [str(GGUF / "tiny-moe-mixed.gguf"), "--gpu", "rtx-4090", "--cpu-moe"]),
    ((str(GGUF / "tiny-llama-q4k.gguf"),), dict(gpu="rtx-4090", ngl=2, fa="off", context=300,
                                                llamacpp_version="b6699"),
     [str(GGUF / "tiny-llama-q4k.gguf"), "--gpu", "rtx-4090", "-ngl", "2", "-fa", "off",
      "-c", "300", "--llamacpp-version", "b6699"]),
    ((str(GGUF / "tiny-llama-f16.gguf"),),
     dict(gpu="rtx-4090", gpus=2, sm="none", mg=1, nkvo=True,
          lora=str(GGUF / "tiny-lora.gguf"), mmproj=str(GGUF / "tiny-mmproj.gguf"),
          md=str(GGUF / "tiny-llama-q8.gguf"), ngld=1, ctkd="q8_0"),
     [str(GGUF / "tiny-llama-f16.gguf"), "--gpu", "rtx-4090", "--gpus", "2", "-sm", "none",
      "-mg", "1", "-nkvo", "--lora", str(GGUF / "tiny-lora.gguf"), "--mmproj",
      str(GGUF / "tiny-mmproj.gguf"), "-md", str(GGUF / "tiny-llama-q8.gguf"), "-ngld", "1",
      "-ctkd", "q8_0"]),
    (("llama-4-scout",), dict(engine="vllm", gpu="h100-sxm", gpus=8, vllm_version="0.11.0",
                              enable_hybrid_kv_cache_manager=True),
     ["--engine", "vllm", "--gpu", "h100-sxm", "--gpus", "8", "--vllm-version", "0.11.0",
      "--enable-hybrid-kv-cache-manager"]),
    (("qwen2.5-vl-7b",), dict(engine="vllm", gpu="h100-sxm", max_model_len=8192,
                              limit_mm_per_prompt={"video": 0},
                              mm_processor_kwargs='{"max_pixels": 1003520}'),
     ["--engine", "vllm", "--gpu", "h100-sxm", "--max-model-len", "8192",
      "--limit-mm-per-prompt", '{"video": 0}', "--mm-processor-kwargs",
      '{"max_pixels": 1003520}']),
    (("llama-3.1-8b",), dict(gpu="rtx-4090", quant="bnb-nf4-dq", attn="flash"),
     ["--gpu", "rtx-4090", "--quant", "bnb-nf4-dq", "--attn", "flash"]),
    (("gemma-3-4b-it",), dict(gpu="rtx-4090", images=2, context=1024, batch=2),
     ["--gpu", "rtx-4090", "--images", "2", "--context", "1024", "--batch", "2"]),
    ((str(GGUF / "tiny-bert.gguf"),), dict(gpu="rtx-4090", context=512, fa="off", rerank=True),
     [str(GGUF / "tiny-bert.gguf"), "--gpu", "rtx-4090", "-c", "512", "-fa", "off", "--rerank"]),
    ((str(GGUF / "tiny-llama-f16.gguf"),), dict(gpu="rtx-4090", embedding=True, pooling="mean"),
     [str(GGUF / "tiny-llama-f16.gguf"), "--gpu", "rtx-4090", "--embedding", "--pooling",
      "mean"]),
]


def _gpu_known(name):
    return any(g["id"] == name for g in gpumem.gpus())


@needs_cli
@pytest.mark.parametrize("args,kwargs,cli", ESTIMATES,
                         ids=["default", "transformers-all", "int4-tp2", "vllm", "simple",
                              "max-context", "gguf-llamacpp", "gguf-tensor-split", "gguf-cpu-moe",
                              "gguf-llamacpp-b6699", "gguf-llamacpp-extras", "vllm-chunked-hma", "vllm-qwen-vl-mm",
                              "nf4-dq-flash", "images",
                              "gguf-reranker",
                              "gguf-decoder-embedding"])
def test_estimate_equals_cli(args, kwargs, cli):
    if "gpu" in kwargs and not _gpu_known(kwargs["gpu"]):
        pytest.skip("GPU %s not in this catalog" % kwargs["gpu"])
    got = gpumem.estimate(*args, **kwargs)
    want = cli_json("estimate", *(cli if cli and cli[0].startswith("/") else [*args, *cli]))
    assert_same(got, want)


def test_llamacpp_version_changes_the_rules():
    """b6699 pads -c 300 to 320 cells without flash attention (de3ff81:
    512) and puts -ngl 2 on both repeating layers, the output (tied to the
    embeddings here) on the host; an unknown version is a usage error."""
    path = str(GGUF / "tiny-llama-q4k.gguf")
    old = gpumem.estimate(path, gpu="rtx-4090", ngl=2, fa="off", context=300,
                          llamacpp_version="b6699")
    new = gpumem.estimate(path, gpu="rtx-4090", ngl=2, fa="off", context=300)
    assert old["settings"]["description"].startswith("llama.cpp b6699: ")
    assert new["settings"]["description"].startswith("llama.cpp de3ff81: ")

    def kv(r):
        return sum(c["bytes"] for d in r["devices"] for c in d["components"]
                   if c["name"] == "kv_cache")
    # 2 layers x 2 KV heads x 64 x (K + V) x f16 per cell
    assert kv(old) == 2 * 2 * 64 * 2 * 2 * 320
    assert kv(new) == 2 * 2 * 64 * 2 * 2 * 512
    with pytest.raises(gpumem.UsageError, match="b6699"):
        gpumem.estimate(path, gpu="rtx-4090", llamacpp_version="b1")


def test_llamacpp_extra_files():
    """--lora: rank 8 on attn_q and attn_v of 2 layers of n_embd 256, F16:
    2 x 2 x (8 x 256 x 2) x 2 = 32,768 bytes beside the layers (GPU 0);
    the projector with --no-mmproj-offload on the host; a file of the wrong
    kind, a missing file, -sm row and -cd are refused."""
    path = str(GGUF / "tiny-llama-f16.gguf")
    r = gpumem.estimate(path, gpu="rtx-4090", lora=GGUF / "tiny-lora.gguf",
                        mmproj=str(GGUF / "tiny-mmproj.gguf"), no_mmproj_offload=True)
    by = {(d["name"], c["name"]): c["bytes"] for d in r["devices"] for c in d["components"]}
    assert by[("gpu0", "lora")] == 2 * 2 * 8 * 256 * 2 * 2
    assert ("host", "mmproj") in by and ("gpu0", "mmproj") not in by
    with pytest.raises(gpumem.UsageError, match="--lora takes a LoRA adapter"):
        gpumem.estimate(path, lora=str(GGUF / "tiny-llama-q8.gguf"))
    with pytest.raises(gpumem.ReadError, match="cannot open"):
        gpumem.estimate(path, mmproj="/nonexistent/mmproj.gguf")
    with pytest.raises(gpumem.UnsupportedError, match="split buffers"):
        gpumem.estimate(path, gpu="rtx-4090", split_mode="row")
    with pytest.raises(gpumem.UsageError, match="ctx-size-draft"):
        gpumem.estimate(path, md=str(GGUF / "tiny-llama-q8.gguf"), cd=1024)
    with pytest.raises(gpumem.UsageError, match="gpu_layers_draft"):
        gpumem.estimate(path, ngld=2)
    with pytest.raises(gpumem.UsageError):
        gpumem.fit(path, gpu="rtx-4090", lora=str(GGUF / "tiny-lora.gguf"))


@needs_cli
@pytest.mark.parametrize("kwargs,cli", [
    (dict(gpu="rtx-4090,rtx-4060-ti-8gb", device_map="auto", budget="20GiB,8GiB"),
     ["--gpu", "rtx-4090,rtx-4060-ti-8gb", "--device-map", "auto", "--budget", "20GiB,8GiB"]),
    (dict(gpu="rtx-4090", gpus=2, device_map="sequential", max_memory=["6GiB", "6GiB"]),
     ["--gpu", "rtx-4090", "--gpus", "2", "--device-map", "sequential",
      "--max-memory", "6GiB,6GiB"]),
], ids=["list-budget", "max-memory"])
def test_device_map_equals_cli(kwargs, cli):
    got = gpumem.estimate("llama-3.1-8b", **kwargs)
    assert_same(got, cli_json("estimate", "llama-3.1-8b", *cli))
    assert got["device_map"]["strategy"] == kwargs["device_map"]
    # max_memory 6 GiB each, sequential: 13 layers, then 14, the rest on the host
    if "max_memory" in kwargs:
        assert [d["device"] for d in got["device_map"]["devices"]] == ["gpu0", "gpu1", "host"]


def test_device_map_bad_settings():
    with pytest.raises(gpumem.NotFoundError):
        gpumem.estimate("llama-3.1-8b", gpu="rtx-4090", device_map="greedy")
    with pytest.raises(gpumem.UsageError):
        gpumem.estimate("llama-3.1-8b", gpu="rtx-4090", max_memory="4GiB")
    with pytest.raises(gpumem.UsageError):
        gpumem.estimate("llama-3.1-8b", gpu="rtx-4090", device_map="auto", engine="vllm")
    with pytest.raises(gpumem.UsageError):
        gpumem.estimate("llama-3.1-8b", gpu="rtx-4090", device_map="auto", margin="1GiB")


@needs_cli
def test_estimate_params_equals_cli():
    assert_same(gpumem.estimate(params="7B", dtype="int4"),
                cli_json("estimate", "--params", "7B", "--dtype", "int4"))


@needs_cli
def test_training_equals_cli():
    got = gpumem.estimate("llama-3.1-8b", train=True, method="qlora", lora_rank=64,
                          lora_targets="all-linear", optimizer="paged-adamw8bit",
                          checkpointing="full", seq=4096, batch=2, gpu="rtx-4090")
    want = cli_json("estimate", "llama-3.1-8b", "--train", "--method", "qlora", "--lora-rank",
                    "64", "--lora-targets", "all-linear", "--optimizer", "paged-adamw8bit",
                    "--checkpointing", "full", "--seq", "4096", "--batch", "2",
                    "--gpu", "rtx-4090")
    assert_same(got, want)


@needs_cli
def test_training_parallel_equals_cli():
    got = gpumem.estimate("llama-3.1-8b", train=True, precision="bf16-mixed", zero=3, gpus=8,
                          micro_batches=4, keep_grads=True, freeze_embeddings=True,
                          no_flash=True)
    want = cli_json("estimate", "llama-3.1-8b", "--train", "--precision", "bf16-mixed",
                    "--zero", "3", "--gpus", "8", "--micro-batches", "4", "--keep-grads",
                    "--freeze-embeddings", "--no-flash")
    assert_same(got, want)


@needs_cli
@pytest.mark.parametrize("head", ["mlm", "classifier"])
def test_encoder_head_equals_cli(head):
    got = gpumem.estimate("bert-base-uncased", train=True, head=head, batch=8, seq=512)
    want = cli_json("estimate", "bert-base-uncased", "--train", "--head", head, "--batch", "8",
                    "--seq", "512")
    assert_same(got, want)
    logits = [c["bytes"] for c in got["components"] if c["name"] == "logits"]
    assert (logits[0] > 0) == (head == "mlm")


def test_training_estimate_keys():
    r = gpumem.estimate("llama-3.1-8b", train=True, method="lora", zero=0)
    assert r["mode"] == "training"
    for key in ("model", "mode", "engine", "settings", "components", "devices", "total_bytes",
                "per_gpu_bytes", "gpu", "fits", "headroom_bytes", "reserved_bytes"):
        assert key in r, key
    assert isinstance(r.get("note", ""), str)  # optional in the JSON contract
    assert r["settings"]["description"].startswith("lora")
    names = {c["name"] for c in r["components"]}
    assert "weights" in names
    assert sum(c["bytes"] for c in r["components"]) == r["per_gpu_bytes"]


def test_model_object_reuse():
    with gpumem.Model("llama-3.1-8b") as m:
        assert m.info["architecture"] == "llama"
        a = m.estimate(context=1024)
        b = m.estimate(context=2048)
        assert b["components"] and a["per_gpu_bytes"] < b["per_gpu_bytes"]
        assert a == gpumem.estimate("llama-3.1-8b", context=1024)
    with pytest.raises(gpumem.UsageError):
        m.estimate()


# ------------------------------------------------------------------ errors


def test_unknown_model_is_not_found_with_suggestions():
    with pytest.raises(gpumem.NotFoundError) as info:
        gpumem.estimate("llama-2-7x")
    e = info.value
    assert isinstance(e, gpumem.Error) and isinstance(e, LookupError)
    assert "did you mean" in e.message and "llama-2-7b" in e.message
    assert e.code == _capi.ERR_NOT_FOUND
    assert e.file is None and e.line is None


def test_malformed_config_is_parse_error_with_position():
    path = str(REPO / "tests" / "bad" / "trailing_comma.json")
    with pytest.raises(gpumem.ParseError) as info:
        gpumem.estimate(path)
    e = info.value
    assert (e.line, e.column) == (4, 1)
    assert e.file == path
    assert e.offset is None or e.offset >= 0
    assert "malformed JSON" in e.message
    assert str(e).startswith("%s:4:1: " % path)


@needs_cli
def test_error_text_equals_cli():
    path = str(REPO / "tests" / "bad" / "trailing_comma.json")
    proc = subprocess.run([CLI, "estimate", path], capture_output=True, text=True)
    with pytest.raises(gpumem.ParseError) as info:
        gpumem.estimate(path)
    assert proc.stderr.strip() == "gpumem: error: " + str(info.value)


def test_missing_file_is_read_error():
    with pytest.raises(gpumem.ReadError) as info:
        gpumem.inspect(str(REPO / "tests" / "no-such-file.gguf"))
    assert isinstance(info.value, OSError)
    assert info.value.code == _capi.ERR_IO


def test_bad_gguf_reports_byte_offset():
    bad = sorted((REPO / "tests" / "bad_gguf").glob("*.gguf"))
    if not bad:
        pytest.skip("no tests/bad_gguf files")
    for path in bad:
        try:
            gpumem.inspect(str(path))
        except gpumem.Error as e:
            assert e.message and type(e) is not gpumem.Error
            if e.file:
                assert e.offset is None or e.offset >= 0


@pytest.mark.parametrize("kwargs", [dict(batch=0), dict(batch=-3), dict(batch="8x"),
                                    dict(batch=True), dict(context=1 << 40),
                                    dict(flash_attn="maybe"), dict(no_such_option=1),
                                    dict(method="lora"), dict(gpus=2, tp=2),
                                    dict(gpu_memory_utilization=1.5), dict(kv_cache_memory="lots")])
def test_bad_settings_are_usage_errors(kwargs):
    with pytest.raises(gpumem.UsageError):
        gpumem.estimate("llama-3.1-8b", **kwargs)


@pytest.mark.parametrize("kwargs,cli", [
    (dict(max_model_len=4096), ["--max-model-len", "4096"]),
    (dict(ngl=10), ["-ngl", "10"]),
    (dict(ctk="q8_0"), ["-ctk", "q8_0"]),
    (dict(engine="vllm", gpu="h100-sxm", new_tokens=5),
     ["--engine", "vllm", "--gpu", "h100-sxm", "--new-tokens", "5"])])
def test_options_of_another_engine_refused_as_cli(kwargs, cli):
    """An option the chosen engine would ignore is refused, as the CLI does."""
    with pytest.raises(gpumem.UsageError):
        gpumem.estimate("llama-3.1-8b", **kwargs)
    if CLI:
        p = subprocess.run([CLI, "estimate", "llama-3.1-8b", *cli], capture_output=True, text=True)
        assert p.returncode == 2, p.stderr


@pytest.mark.parametrize("kwargs,hint", [(dict(gpu="rtx-4099"), "rtx-4090"),
                                         (dict(dtype="fp7"), "bf16"),
                                         (dict(engine="tensorrt"), "vllm"),
                                         (dict(ctk="q3"), "q8_0"),
                                         (dict(train=True, optimizer="adam"), "adamw")])
def test_unknown_names_are_not_found_with_the_choices(kwargs, hint):
    with pytest.raises(gpumem.NotFoundError) as info:
        gpumem.estimate("llama-3.1-8b", **kwargs)
    assert hint in info.value.message


def test_model_or_params():
    with pytest.raises(gpumem.UsageError):
        gpumem.estimate()
    with pytest.raises(gpumem.UsageError):
        gpumem.estimate("llama-3.1-8b", params="7B")


# ----------------------------------------------------------------- inspect


def test_inspect_gguf():
    path = str(GGUF / "tiny-moe-mixed.gguf")
    r = gpumem.inspect(path)
    assert r["format"] == "gguf"
    assert r["architecture"] == "qwen3moe"
    assert r["metadata"]["qwen3moe.expert_count"] == 4
    assert sum(t["bytes"] for t in r["tensor_types"]) == r["weights_bytes"]
    assert "qwen3moe" in gpumem.inspect(path, text=True)


@needs_cli
def test_inspect_equals_cli():
    path = str(GGUF / "tiny-moe-mixed.gguf")
    assert_same(gpumem.inspect(path), cli_json("inspect", path))


# --------------------------------------------------------------------- fit


def test_fit_tiny_llama():
    r = gpumem.fit(str(GGUF / "tiny-llama-q4k.gguf"), gpu="rtx-4090")
    plan = r["plan"]
    assert plan["fits"] is True
    assert plan["flags"] == "-c 2048 -ngl 3"
    assert (plan["context"], plan["n_gpu_layers"], plan["n_cpu_moe"]) == (2048, 3, 0)
    assert r["engine"] == "llamacpp" and r["fits"] is True


@needs_cli
@pytest.mark.parametrize("kwargs,cli", [
    ({}, []),
    (dict(context=1024, margin="2GiB"), ["-c", "1024", "--margin", "2GiB"]),
    (dict(budget=1410 << 20, fit_ctx=256), ["--budget", str(1410 << 20), "--fit-ctx", "256"]),
])
def test_fit_equals_cli(kwargs, cli):
    path = str(GGUF / "tiny-llama-q4k.gguf")
    assert_same(gpumem.fit(path, gpu="rtx-4090", **kwargs),
                cli_json("fit", path, "--gpu", "rtx-4090", *cli))


@needs_cli
@pytest.mark.parametrize("kwargs,cli", [
    (dict(gpu="rtx-3090,rtx-4060-ti-16gb"), ["--gpu", "rtx-3090,rtx-4060-ti-16gb"]),
    (dict(gpu=["rtx-3090", "rtx-4060-ti-16gb"], budget="394MiB,394MiB", margin="2MiB"),
     ["--gpu", "rtx-3090,rtx-4060-ti-16gb", "--budget", "394MiB,394MiB", "--margin", "2MiB"]),
])
def test_fit_two_gpus_equals_cli(kwargs, cli):
    path = str(GGUF / "tiny-llama-q4k.gguf")
    gpu = kwargs.pop("gpu")
    r = gpumem.fit(path, gpu=gpu, **kwargs)
    assert_same(r, cli_json("fit", path, *cli))
    assert len(r["plan"]["devices"]) == 2


@needs_cli
@pytest.mark.parametrize("model,kwargs,cli", [
    ("tiny-llama-q4k.gguf", dict(gpu="rtx-3090,rtx-4060-ti-16gb"), ["--gpu", "rtx-3090,rtx-4060-ti-16gb"]),
    ("tiny-llama-q4k.gguf", dict(gpu=["rtx-3090", "rtx-4060-ti-16gb"], ts="1,1", budget="1GiB,2GiB"),
     ["--gpu", "rtx-3090,rtx-4060-ti-16gb", "-ts", "1,1", "--budget", "1GiB,2GiB"]),
    ("llama-3.1-8b", dict(gpu="rtx-4090", budget="16GiB"), ["--gpu", "rtx-4090", "--budget", "16GiB"]),
])
def test_estimate_gpu_lists_and_budgets_equal_cli(model, kwargs, cli):
    spec = str(GGUF / model) if model.endswith(".gguf") else model
    assert_same(gpumem.estimate(spec, **kwargs), cli_json("estimate", spec, *cli))


@needs_cli
def test_target_concurrency_equals_cli():
    kw = dict(engine="vllm", gpu="h100-sxm", max_model_len=8192)
    r = gpumem.estimate("llama-3.1-8b", target_concurrency=10, **kw)
    assert_same(r, cli_json("estimate", "llama-3.1-8b", "--engine", "vllm", "--gpu", "h100-sxm",
                            "--max-model-len", "8192", "--target-concurrency", "10"))
    assert r["vllm"]["max_concurrency"] >= 10
    with pytest.raises(gpumem.Error, match="do not fit"):
        gpumem.estimate("llama-3.1-8b", target_concurrency=1000, **kw)


def test_budget_is_the_gpu_memory():
    # llama-3.1-8b needs 16.47 GiB at the defaults: a 16 GiB card is short.
    r = gpumem.estimate("llama-3.1-8b", gpu="rtx-4090", budget="16GiB")
    assert r["gpu"]["memory_bytes"] == 16 << 30 and r["fits"] is False
    t = gpumem.estimate("llama-3.1-8b", train=True, gpu="m2-ultra-192gb", budget=144 << 30)
    assert t["gpu"]["memory_bytes"] == 144 << 30


@pytest.mark.parametrize("kwargs,message", [
    (dict(gpu="rtx-3090,,rtx-4090"), "empty item"),
    (dict(gpu="rtx-4090", budget="1GiB,2GiB"), "2 sizes for 1 GPUs"),
    (dict(gpu="rtx-4090", margin="1GiB"), "margin applies to llama.cpp"),
    (dict(budget="1GiB"), "need a gpu"),
    (dict(gpu="rtx-3090,rtx-4090"), "a list of GPUs applies to llama.cpp"),
])
def test_gpu_list_and_budget_errors(kwargs, message):
    with pytest.raises(gpumem.Error, match=message):
        gpumem.estimate("llama-3.1-8b", **kwargs)


def test_fit_needs_gpu():
    with pytest.raises(gpumem.UsageError):
        gpumem.fit(str(GGUF / "tiny-llama-q4k.gguf"))


# ---------------------------------------------------------------- catalogs


@needs_cli
def test_models_and_gpus_equal_cli():
    assert_same(gpumem.models(), cli_json("models"))
    assert_same(gpumem.gpus(), cli_json("gpus"))


def test_catalog_lists():
    ids = [m["id"] for m in gpumem.models()]
    assert "llama-3.1-8b" in ids
    gpus = {g["id"]: g for g in gpumem.gpus()}
    assert gpus["rtx-4090"]["memory_bytes"] > 20 << 30


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v"]))
