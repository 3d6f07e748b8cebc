#!/usr/bin/env bash
# Build the llama.cpp bundled with node-llama-cpp 3.22.1 (CPU only) outside the repo.
# Usage: bash validation/llamacpp/build.sh
# Env: LLAMACPP_DIR (default ${XDG_CACHE_HOME:-/tmp}/llamacpp-nlc3.22.1), JOBS (default nproc).
# Produces $LLAMACPP_DIR/src (git clone of the bundle) and $LLAMACPP_DIR/build/bin/{llama-completion|llama-cli,llama-quantize};
# prints the version line and writes $LLAMACPP_DIR/VERSION.
set -euo pipefail
NLC_VERSION="${NLC_VERSION:-3.22.1}"
dir="${LLAMACPP_DIR:-${XDG_CACHE_HOME:-/tmp}/llamacpp-nlc${NLC_VERSION}}"
jobs="${JOBS:-$(nproc)}"
mkdir -p "$dir"
start=$(date +%s)
if [ ! -d "$dir/src/.git" ]; then
    tmp="$(mktemp -d)"
    ( cd "$tmp" && npm pack --silent "node-llama-cpp@${NLC_VERSION}" >/dev/null && tar xzf node-llama-cpp-*.tgz )
    git clone -q "$tmp/package/llama/gitRelease.bundle" "$dir/src"
    rm -rf "$tmp"
fi
commit="$(git -C "$dir/src" rev-parse --short=7 HEAD)"
describe="$(git -C "$dir/src" describe --tags --always 2>/dev/null || echo "$commit")"
echo "source: $dir/src  commit $commit ($describe)"
cmake -S "$dir/src" -B "$dir/build" -DCMAKE_BUILD_TYPE=Release \
    -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF \
    -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF >/dev/null
# main driver first: llama-completion where it exists (newer trees), else llama-cli
if grep -rqs 'llama-completion' "$dir/src/tools" "$dir/src/examples" 2>/dev/null; then
    targets=(llama-completion)
else
    targets=(llama-cli)
fi
# llama-batched-bench: the only simple driver here that accepts -kvu (unified KV) with -np > 1
targets+=(llama-quantize llama-batched-bench)
cmake --build "$dir/build" -j "$jobs" --target "${targets[@]}" 2>&1 | grep -E 'error|warning: unused|Built target' || true
end=$(date +%s)
for t in "${targets[@]}"; do test -x "$dir/build/bin/$t" || { echo "missing $t" >&2; exit 1; }; done
ver="$("$dir/build/bin/${targets[0]}" --version 2>&1 | grep -i version || true)"
echo "$ver"
printf 'commit=%s\ndescribe=%s\nversion=%s\nbinary=%s\nbuild_seconds=%s\n' \
    "$commit" "$describe" "$ver" "$dir/build/bin/${targets[0]}" "$((end-start))" > "$dir/VERSION"
cat "$dir/VERSION"
