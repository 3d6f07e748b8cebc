#!/usr/bin/env bash
# Set-up command 2: the whole test suite, in a release build and again under
# AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")
# A package registry answers (the C suite never needs the network; the
# binding and the web page need PyPI and npm, and are skipped without them).
reachable() {
  python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=10)' "$1" 2>/dev/null
}
# The Python binding builds with scikit-build-core and tests with pytest, both
# from PyPI.
if reachable https://pypi.org/simple/pytest/; then
  GPUMEM_CLI=build/gpumem python/run_tests.sh -q
else
  echo "SKIPPED: Python binding tests (PyPI unreachable)"
fi
# The web calculator (WebAssembly build + browser test) needs the npm registry
# for playwright-core.
if reachable https://registry.npmjs.org/playwright-core; then
  scripts/test_web.sh
else
  echo "SKIPPED: web calculator browser test (npm registry unreachable)"
fi
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DGPUMEM_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j"$jobs")
