#!/usr/bin/env bash
# gpumem's header readers side by side with llama.cpp's gguf-py GGUFReader
# (Python) and @huggingface/gguf (node) on the same 70B-shape GGUF, written
# sparse by build/bench_readers. Needs validation/.venv (validation/setup.sh)
# and npm; prints each parser's time and the ratios (target: gpumem >= 20x
# faster than either).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-/tmp/gpumem-bench}
out=$(build/bench_readers "$dir")
echo "$out" | grep -v '^GPUMEM_'
c_ms=$(echo "$out" | sed -n 's/^GPUMEM_GGUF_MS=//p')
file="$dir/llama-70b-shape-q4km.gguf"

py_ms=$(validation/.venv/bin/python - "$file" <<'PY'
import sys, time
import gguf
t = time.perf_counter(); n = 3
for _ in range(n):
    r = gguf.GGUFReader(sys.argv[1])
    total = sum(int(x.n_bytes) for x in r.tensors)
print(f"{(time.perf_counter() - t) / n * 1e3:.1f}")
PY
)
node_dir=/tmp/gpumem-hf-gguf
if [[ ! -d $node_dir/node_modules/@huggingface/gguf ]]; then
  mkdir -p "$node_dir" && (cd "$node_dir" && npm init -y >/dev/null && npm install --silent @huggingface/gguf@0.4.6 >/dev/null)
fi
node_ms=$(cd "$node_dir" && node --input-type=module - "$file" <<'JS'
import { gguf } from "@huggingface/gguf";
const file = process.argv[2];
const n = 3, t = performance.now();
for (let i = 0; i < n; i++) await gguf(file, { allowLocalFile: true });
console.log(((performance.now() - t) / n).toFixed(1));
JS
)
gv=$(validation/.venv/bin/python -c 'import importlib.metadata as m; print(m.version("gguf"))')
awk -v c="$c_ms" -v p="$py_ms" -v n="$node_ms" -v gv="$gv" 'BEGIN {
  printf "70B GGUF header: gpumem %.2f ms | gguf-py %s GGUFReader %.1f ms (%.0fx) | @huggingface/gguf 0.4.6 (node) %.1f ms (%.0fx)\n", c, gv, p, p / c, n, n / c }'
