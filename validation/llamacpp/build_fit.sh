#!/usr/bin/env bash
# Build llama.cpp's own fit planner (llama-fit-params) and rpc-server (target ggml-rpc-server), with GGML_RPC=ON, from the
# same source as build.sh (node-llama-cpp 3.22.1 bundle, commit de3ff81), for fit_matrix.py.
# Usage: bash validation/llamacpp/build_fit.sh   (run build.sh first: it fetches the source)
# Env: LLAMACPP_DIR (as in build.sh), FIT_DIR (default $LLAMACPP_DIR-fit), JOBS (default 2).
#
# Harness-only change to llama.cpp (never part of gpumem): rpc-server reports the memory of the
# device it serves (here the CPU: the machine's RAM). To give llama.cpp's planner a device of a
# chosen size, the copy built here answers RPC_CMD_GET_DEVICE_MEMORY with free = total =
# $GPUMEM_RPC_MEM_MIB MiB when that variable is set (older rpc-server versions had a -m/--mem
# option doing the same). The patch is a single sed below, applied to a local clone, so the shared
# source tree stays untouched. Nothing else in llama.cpp is changed.
set -euo pipefail
NLC_VERSION="${NLC_VERSION:-3.22.1}"
base="${LLAMACPP_DIR:-${XDG_CACHE_HOME:-/tmp}/llamacpp-nlc${NLC_VERSION}}"
dir="${FIT_DIR:-${base}-fit}"
jobs="${JOBS:-2}"
test -d "$base/src/.git" || { echo "no $base/src: run validation/llamacpp/build.sh first" >&2; exit 1; }
if [ ! -d "$dir/src/.git" ]; then
    mkdir -p "$dir"
    git clone -q "$base/src" "$dir/src"
fi
rpc="$dir/src/ggml/src/ggml-rpc/ggml-rpc.cpp"
if ! grep -q GPUMEM_RPC_MEM_MIB "$rpc"; then
    # after the server's ggml_backend_dev_memory(dev, &free, &total) in rpc_server::get_device_memory
    sed -i '/^bool rpc_server::get_device_memory/,/^}/ s|^\(    ggml_backend_dev_memory(dev, &free, &total);\)$|\1\n    if (const char * mib = getenv("GPUMEM_RPC_MEM_MIB")) { free = total = (size_t) strtoull(mib, nullptr, 10) * 1024 * 1024; }|' "$rpc"
    grep -q GPUMEM_RPC_MEM_MIB "$rpc" || { echo "patch did not apply to $rpc" >&2; exit 1; }
fi
git -C "$dir/src" diff --stat
cmake -S "$dir/src" -B "$dir/build" -DCMAKE_BUILD_TYPE=Release \
    -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF -DGGML_RPC=ON \
    -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF >/dev/null
cmake --build "$dir/build" -j "$jobs" --target ggml-rpc-server llama-fit-params 2>&1 | grep -E 'error|Built target' || true
for t in ggml-rpc-server llama-fit-params; do test -x "$dir/build/bin/$t" || { echo "missing $t" >&2; exit 1; }; done
printf 'commit=%s\npatch=GPUMEM_RPC_MEM_MIB in rpc_server::get_device_memory\n' \
    "$(git -C "$dir/src" rev-parse --short=7 HEAD)" > "$dir/VERSION"
cat "$dir/VERSION"
