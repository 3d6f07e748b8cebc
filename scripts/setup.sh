#!/usr/bin/env bash
# Set-up command 1: install dependencies, build, and run gpumem on a
# built-in example.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
echo
echo "$ build/gpumem estimate llama-3.1-8b --gpu rtx-4090"
build/gpumem estimate llama-3.1-8b --gpu rtx-4090
