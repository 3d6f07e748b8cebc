#!/usr/bin/env bash
# Builds and installs the Python binding into python/.venv and runs its
# tests. Needs, on Debian 12: python3 python3-venv, and what the C library
# builds with (scripts/deps.sh: build-essential cmake pkg-config
# libjansson-dev libcurl4-openssl-dev). PyPI gives scikit-build-core (pinned
# in pyproject.toml) and pytest (pinned below); ninja too when the system has
# none. The tests compare answers with the CLI: $GPUMEM_CLI, else
# build/gpumem, which this script brings up to date with the sources (a
# stale CLI would disagree with the freshly built library).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=python/.venv
pytest_version=9.0.3

if [[ -z ${GPUMEM_CLI:-} ]]; then
  [[ -f build/CMakeCache.txt ]] || cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build --target gpumem_cli -j"$(nproc)" >/dev/null
  GPUMEM_CLI=build/gpumem
fi
# The tests run from python/tests: an absolute path, and one that must exist
# (the CLI comparisons are the point of these tests, never silently skipped).
GPUMEM_CLI=$(realpath "$GPUMEM_CLI")
[[ -x $GPUMEM_CLI ]] || { echo "run_tests.sh: no gpumem CLI at $GPUMEM_CLI" >&2; exit 1; }
export GPUMEM_CLI

[[ -x $venv/bin/python ]] || python3 -m venv "$venv"
export PIP_DISABLE_PIP_VERSION_CHECK=1
"$venv/bin/python" -m pip install -q "pytest==$pytest_version"
# A local directory is always rebuilt: the package holds today's libgpumem.so.
"$venv/bin/python" -m pip install -q ./python
# Run from outside python/ so that `import gpumem` is the installed package.
cd python/tests
exec ../.venv/bin/python -m pytest -v "$@" .
