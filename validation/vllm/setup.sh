#!/usr/bin/env bash
# Create validation/vllm/.venv-VERSION with vLLM VERSION from PyPI, for
# kv_utils_reference.py. vLLM goes in with --no-deps (its GPU kernel
# packages are not needed to call its config and KV-cache planning code);
# requirements-VERSION.txt pins what that import chain needs, torch included
# (PyPI's Linux torch wheel pulls the CUDA runtime libraries: about 6 GiB).
# Usage: bash validation/vllm/setup.sh 0.33.0   (or 0.11.0)
# Env: PYTHON=python3.x chooses the interpreter (default python3);
#      VLLM_WHEELS=DIR looks for an already downloaded vLLM wheel there first.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version="${1:?usage: setup.sh VERSION (0.11.0 or 0.33.0)}"
reqs="$here/requirements-$version.txt"
[ -f "$reqs" ] || { echo "no $reqs: version $version is not pinned" >&2; exit 2; }
venv="$here/.venv-$version"
[ -x "$venv/bin/python" ] || "${PYTHON:-python3}" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
"${pip[@]}" install --upgrade pip
links=()
[ -n "${VLLM_WHEELS:-}" ] && links=(--find-links "$VLLM_WHEELS")
"${pip[@]}" install --no-deps "${links[@]}" "vllm==$version"
"${pip[@]}" install -r "$reqs"
"$venv/bin/python" -c "import importlib.metadata as m; print('vllm', m.version('vllm'), 'torch', m.version('torch'))"
