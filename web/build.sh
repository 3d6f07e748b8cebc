#!/usr/bin/env bash
# Builds the web calculator: the same C library and gpumem program, compiled to
# WebAssembly with Debian's emscripten (3.1.6 in bookworm), inlined with the page
# into one file, web/dist/index.html, that works from a local file or any static
# host and needs no network once loaded.
#
#   bash web/build.sh        # then open web/dist/index.html
#
# Needs (installed here with apt-get when missing, as scripts/deps.sh does):
# emscripten, and jansson's Debian source package (jansson 2.14, compiled to
# WebAssembly here; the native build uses libjansson-dev instead).
set -euo pipefail
cd "$(dirname "$0")/.."
cache=web/.cache
dist=web/dist
mkdir -p "$cache" "$dist"

sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
if ! command -v emcc >/dev/null; then
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq emscripten
fi
# Debian's emscripten runs its JavaScript tools with whatever `node` is first on
# PATH; a node that is not Debian's does not look in /usr/share/nodejs (acorn).
export NODE_PATH=/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}

# jansson 2.14 from Debian's source archive (signed index, checked by apt).
jansson_ver=2.14
jdir=$cache/jansson-$jansson_ver
if [[ ! -f $cache/jansson-wasm/lib/libjansson.a ]]; then
  if [[ ! -f $cache/jansson_$jansson_ver.orig.tar.gz ]]; then
    if ! grep -rqs "deb-src" /etc/apt/sources.list /etc/apt/sources.list.d/; then
      printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' |
        $sudo tee /etc/apt/sources.list.d/gpumem-web-src.sources >/dev/null
      $sudo apt-get update -qq
    fi
    (cd "$cache" && apt-get source --download-only -qq "jansson=$jansson_ver-2" 2>/dev/null ||
       apt-get source --download-only -qq jansson)
  fi
  rm -rf "$jdir" && tar -xzf "$cache/jansson_$jansson_ver.orig.tar.gz" -C "$cache"
  emcmake cmake -S "$jdir" -B "$cache/jansson-build" -DCMAKE_BUILD_TYPE=Release \
    -DJANSSON_BUILD_DOCS=OFF -DJANSSON_WITHOUT_TESTS=ON -DJANSSON_EXAMPLES=OFF \
    -DCMAKE_INSTALL_PREFIX="$PWD/$cache/jansson-wasm" >/dev/null
  cmake --build "$cache/jansson-build" -j"$(nproc)" --target install >/dev/null
fi

# The catalogs (data/) as C, by the same generator the native build runs.
cc -O2 -o "$cache/embed" tools/embed.c
"$cache/embed" "$cache/catalog_data.c" data

# hub.c includes curl/curl.h for its types only (libcurl is opened at run time,
# never in the browser): give emcc that one header directory, not the host's.
mkdir -p "$cache/include"
curl_h=$(dirname "$(find /usr/include -name curl.h -path '*curl/curl.h' | head -1)")
ln -sfn "$curl_h" "$cache/include/curl"

emcc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror \
  -Iinclude -Isrc -I"$cache/jansson-wasm/include" -I"$cache/include" \
  src/*.c cli/*.c "$cache/catalog_data.c" "$cache/jansson-wasm/lib/libjansson.a" \
  -o "$cache/gpumem.js" \
  -sMODULARIZE=1 -sEXPORT_NAME=createGpumem -sINVOKE_RUN=0 -sEXIT_RUNTIME=0 \
  -sALLOW_MEMORY_GROWTH=1 -sFORCE_FILESYSTEM=1 -sSINGLE_FILE=1 -lworkerfs.js \
  -sEXPORTED_RUNTIME_METHODS=callMain,FS,WORKERFS -sEXPORTED_FUNCTIONS=_main,_fflush \
  -sENVIRONMENT=worker,node

# One page: style, app and the worker (gpumem.js + worker.js, base64 so that no
# byte sequence of the compiled code can end the <script> element early).
inline_page() {
  cat "$cache/gpumem.js" web/src/worker.js | base64 -w0 >"$cache/worker.b64"
  awk -v style=web/src/style.css -v app=web/src/app.js -v w="$cache/worker.b64" '
    /<!-- STYLE -->/ { while ((getline l < style) > 0) print l; next }
    /<!-- APP -->/ { while ((getline l < app) > 0) print l; next }
    /<!-- WORKER -->/ { while ((getline l < w) > 0) print l; next }
    { print }' web/src/index.html >"$dist/index.html"
}
inline_page
echo "web/dist/index.html: $(wc -c <"$dist/index.html") bytes (gpumem.js $(wc -c <"$cache/gpumem.js"))"
