#!/usr/bin/env bash
# One estimate three ways, same model and settings (llama-3.1-8b, batch 8,
# context 4096): native C (build/bench_estimate, and the whole gpumem process),
# the Python binding (python/bench_binding.py, after python/run_tests.sh made
# python/.venv), and the browser (web/test/bench_web.mjs, after web/build.sh
# and `npm ci` in web/test).
set -euo pipefail
cd "$(dirname "$0")/.."
build/bench_estimate llama-3.1-8b
start=$(date +%s%N)
for ((i = 0; i < 200; i++)); do build/gpumem estimate llama-3.1-8b --batch 8 --context 4096 --json >/dev/null; done
end=$(date +%s%N)
awk -v t=$((end - start)) 'BEGIN { printf "native process: gpumem estimate ... --json   %.0f us (200 runs, incl. exec)\n", t / 200 / 1e3 }'
if [[ -x python/.venv/bin/python ]]; then
  python/.venv/bin/python python/bench_binding.py llama-3.1-8b 20000 | head -2
else
  echo "Python binding: python/.venv missing (run python/run_tests.sh)"
fi
node web/test/bench_web.mjs 500
