#!/usr/bin/env bash
# Builds the libFuzzer targets with clang + ASan/UBSan and runs each for a
# short time (FUZZ_SECONDS, default 30) on its seed corpus: the fixtures and
# the malformed-input corpora.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-30}
if ! command -v clang >/dev/null; then
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo=sudo
  $sudo apt-get install -y -qq clang >/dev/null
fi
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DGPUMEM_SANITIZE=ON \
  -DGPUMEM_FUZZ=ON -DGPUMEM_TESTS=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz_gguf fuzz_safetensors fuzz_config
run() { # target, seed dirs...
  local t=$1; shift
  local corpus=build-fuzz/corpus-$t
  mkdir -p "$corpus"
  for d in "$@"; do cp "$d" "$corpus/" 2>/dev/null || true; done
  echo "fuzzing $t for ${secs}s"
  build-fuzz/fuzz_$t -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 "$corpus" 2>&1 | tail -2
}
run gguf tests/fixtures/gguf/*.gguf tests/bad_gguf/*.gguf validation/llamacpp/headers/*.gguf-header
run safetensors tests/fixtures/safetensors/*.safetensors tests/bad_safetensors/*.safetensors
run config data/models/*.json tests/bad/*.json validation/configs/*.json validation/configs/arch/*.json
