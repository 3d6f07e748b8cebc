#!/usr/bin/env bash
# The web calculator's browser test: builds web/dist/index.html (web/build.sh:
# Debian's emscripten, jansson's Debian source), installs playwright-core from
# the npm registry (pinned in web/test/package-lock.json) and runs
# web/test/web_test.mjs in Debian's chromium against the native build/gpumem.
# Called by scripts/test.sh after the release build; needs Debian's packages
# and the npm registry.
set -euo pipefail
cd "$(dirname "$0")/.."
sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v emcc >/dev/null || missing+=(emscripten)
command -v npm >/dev/null || missing+=(npm)
if [[ ${#missing[@]} -gt 0 ]]; then
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
bash web/build.sh
(cd web/test && npm ci --no-audit --no-fund --silent)
node web/test/web_test.mjs
