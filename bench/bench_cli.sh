#!/usr/bin/env bash
# Times whole `gpumem estimate` processes (target: < 5 ms each).
set -euo pipefail
bin=${1:-build/gpumem}
n=${2:-200}
start=$(date +%s%N)
for ((i = 0; i < n; i++)); do "$bin" estimate llama-3.1-8b --gpu rtx-4090 >/dev/null; done
end=$(date +%s%N)
awk -v t=$((end - start)) -v n="$n" 'BEGIN { printf "gpumem estimate process: %.2f ms each (%d runs; target < 5 ms)\n", t / n / 1e6, n }'
