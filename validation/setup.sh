#!/usr/bin/env bash
# Create validation/.venv and install the pinned measurement-harness packages.
# Usage: bash validation/setup.sh   (from anywhere)
# Env: PYTHON=python3.x to choose the interpreter (default: python3).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
py="${PYTHON:-python3}"
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --disable-pip-version-check -q --upgrade pip
# PyPI's Linux torch wheel pulls the CUDA runtime libraries (nvidia-*); the
# CPU-only wheels live outside PyPI, so we accept the larger install.
"$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$here/requirements.txt"
"$venv/bin/python" - <<'PY'
import torch, transformers, accelerate, peft, safetensors, gguf, numpy
for m in (torch, transformers, accelerate, peft, safetensors, numpy):
    print(f"{m.__name__}=={m.__version__}")
import importlib.metadata as md
print(f"gguf=={md.version('gguf')}")
PY
