#!/usr/bin/env bash
# Create validation/peers/.venv with the pinned peer estimators and build the
# gguf-parser wrapper (validation/peers/ggufparser).
# Usage: bash validation/peers/setup.sh   (from anywhere)
# Env: PYTHON=python3.x to choose the interpreter (default: python3).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
py="${PYTHON:-python3}"
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install --disable-pip-version-check -q)
"${pip[@]}" --upgrade pip setuptools wheel
"${pip[@]}" -r "$here/requirements.txt"
# llm-analysis 0.2.2 pins huggingface-hub<0.15 and transformers<5, which cannot
# sit beside transformers 5.24; it is installed without its dependencies (fire
# is pinned above) and given our configs as dicts, so neither is ever called.
"${pip[@]}" --no-deps llm-analysis==0.2.2
# DeepSpeed is an sdist that imports torch while building: build it against the
# torch above, without compiling any op (the ZeRO estimators are pure Python).
DS_BUILD_OPS=0 DS_SKIP_CUDA_CHECK=1 "${pip[@]}" --no-build-isolation deepspeed==0.19.8 \
    || echo "setup.sh: deepspeed==0.19.8 did not install" >&2
"$venv/bin/python" - <<'PY'
import importlib.metadata as md
for p in ("torch", "transformers", "accelerate", "deepspeed", "llm-analysis",
          "hf-mem", "vllm-wizard", "vramscout"):
    try:
        print(f"{p}=={md.version(p)}")
    except md.PackageNotFoundError:
        print(f"{p}: not installed")
PY
if command -v go >/dev/null 2>&1; then
    (cd "$here/ggufparser" && go build -o ggufparser . && echo "ggufparser built")
else
    echo "setup.sh: go not found; ggufparser not built" >&2
fi
