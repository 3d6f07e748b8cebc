#!/usr/bin/env bash
# Hub fetch against a real HTTP server: nginx on a free loopback port serves
# a fake Hub tree /{org}/{name}/resolve/{rev}/{file} (with Range support, as
# nginx serves static files), plus a gated repository (401) and a redirect.
# Checks the estimate equals the local directory's, that only header bytes
# travel, the error messages, and that a second run works offline from the
# cache. Prints "N passed, N failed".
set -u
bin=$1
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
pass=0 failn=0
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
cleanup() { [[ -f $tmp/nginx.pid ]] && "$nginx_bin" -p "$tmp" -c "$tmp/nginx.conf" -s stop 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
check() { # name, condition result (0 ok), detail
  if [[ $2 -eq 0 ]]; then pass=$((pass + 1)); echo "ok    $1"; else failn=$((failn + 1)); echo "FAIL  $1: $3"; fi
}

fx=$src/tests/fixtures/safetensors
for rev in main v1; do
  mkdir -p "$tmp/root/test-org/tiny-llama/resolve/$rev"
  cp "$fx"/tiny-llama-sharded/* "$tmp/root/test-org/tiny-llama/resolve/$rev/"
done
mkdir -p "$tmp/root/test-org/single/resolve/main"
cp "$fx/tiny-llama-sharded/config.json" "$tmp/root/test-org/single/resolve/main/"
cp "$fx/tiny-llama.safetensors" "$tmp/root/test-org/single/resolve/main/model.safetensors"

chmod -R a+rX "$tmp"  # nginx workers run as an unprivileged user
port=""
for _ in $(seq 1 50); do
  p=$((20000 + RANDOM % 20000))
  if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then port=$p; break; fi
done
[[ -n $port ]] || { echo "no free port"; exit 1; }
mkdir -p "$tmp/logs"
cat >"$tmp/nginx.conf" <<CONF
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/logs/error.log;
events { worker_connections 64; }
http {
  log_format bytes '\$request_uri \$status \$body_bytes_sent';
  access_log $tmp/logs/access.log bytes;
  client_body_temp_path $tmp/body; proxy_temp_path $tmp/proxy;
  fastcgi_temp_path $tmp/fcgi; uwsgi_temp_path $tmp/uwsgi; scgi_temp_path $tmp/scgi;
  server {
    listen 127.0.0.1:$port;
    root $tmp/root;
    location /gated-org/ { return 401; }
    location /moved-org/ { rewrite ^/moved-org/(.*)\$ /test-org/\$1 redirect; }
  }
}
CONF
"$nginx_bin" -p "$tmp" -c "$tmp/nginx.conf" || { echo "nginx did not start"; exit 1; }
for _ in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done

export HF_ENDPOINT=http://127.0.0.1:$port XDG_CACHE_HOME=$tmp/cache
weights() { grep -m1 -A1 '"name": "weights"' | sed -n 's/.*"bytes": \([0-9]*\).*/\1/p'; }
want=$("$bin" estimate "$fx/tiny-llama-sharded" --json | weights)

got=$("$bin" estimate hf:test-org/tiny-llama --json 2>&1 | weights)
check "sharded repo: weights equal the local directory ($want)" "$([[ "$got" == "$want" ]]; echo $?)" "got '$got'"
sent=$(awk '/safetensors/ && !/index/ {s += $3} END {print s + 0}' "$tmp/logs/access.log")
total=$(cat "$fx"/tiny-llama-sharded/*.safetensors | wc -c)
check "only header bytes of the shards travelled ($sent of $total)" "$([[ $sent -gt 0 && $sent -lt $((total / 20)) ]]; echo $?)" "sent $sent"
check "range requests used" "$([[ $(grep -c ' 206 ' "$tmp/logs/access.log") -ge 4 ]]; echo $?)" "$(cat "$tmp/logs/access.log")"

got=$("$bin" estimate hf:test-org/tiny-llama@v1 --json 2>&1 | weights)
check "revision @v1" "$([[ "$got" == "$want" ]]; echo $?)" "got '$got'"
got=$("$bin" estimate hf:test-org/single --json 2>&1 | weights)
single=$(stat -c %s "$fx/tiny-llama.safetensors")
check "single-file repo: weights from model.safetensors" "$([[ -n "$got" && $got -lt $single ]]; echo $?)" "got '$got'"
got=$("$bin" estimate hf:moved-org/tiny-llama --json 2>&1 | weights)
check "redirect followed" "$([[ "$got" == "$want" ]]; echo $?)" "got '$got'"

out=$("$bin" estimate hf:gated-org/llama 2>&1); rc=$?
check "gated repo: 401 explained" "$([[ $rc -eq 1 && "$out" == *"HTTP 401"*"gated or private"*"HF_TOKEN"* ]]; echo $?)" "$out"
out=$("$bin" estimate hf:test-org/missing 2>&1); rc=$?
check "missing repo: 404" "$([[ $rc -eq 1 && "$out" == *"HTTP 404"* ]]; echo $?)" "$out"
out=$("$bin" estimate hf:not-a-spec 2>&1); rc=$?
check "bad spec is a usage error" "$([[ $rc -eq 2 && "$out" == *"expected hf:ORG/NAME"* ]]; echo $?)" "$out"

"$nginx_bin" -p "$tmp" -c "$tmp/nginx.conf" -s stop; rm -f "$tmp/nginx.pid"; sleep 0.3
got=$("$bin" estimate hf:test-org/tiny-llama --json 2>&1 | weights)
check "offline: served from the cache" "$([[ "$got" == "$want" ]]; echo $?)" "got '$got'"
out=$("$bin" estimate hf:test-org/never-fetched 2>&1); rc=$?
check "offline, not cached: network error named" "$([[ $rc -eq 1 && "$out" == *"cannot fetch"* ]]; echo $?)" "$out"

echo "$pass passed, $failn failed"
[[ $failn -eq 0 ]]
