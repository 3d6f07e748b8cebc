#!/usr/bin/env bash
# cmake --install into a temporary prefix, then build a small program against
# the installed library with pkg-config and run it; check the man page and
# completions are in place. Prints "N passed, N failed".
set -u
build=$1
extra_cflags=${2:-}   # e.g. the sanitizer flags the library was built with
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 failn=0
check() { if [[ $2 -eq 0 ]]; then pass=$((pass + 1)); echo "ok    $1"; else failn=$((failn + 1)); echo "FAIL  $1"; fi; }
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null; check "cmake --install" $?
p=$tmp/prefix
for f in bin/gpumem include/gpumem.h share/man/man1/gpumem.1 \
         share/bash-completion/completions/gpumem share/zsh/site-functions/_gpumem; do
  [[ -e $p/$f ]]; check "installed $f" $?
done
pc=$(find "$p" -name gpumem.pc | head -1)
[[ -n $pc ]]; check "installed gpumem.pc" $?
cat >"$tmp/use.c" <<'C'
#include <gpumem.h>
#include <stdio.h>
#include <stdlib.h>
int main(void)
{
    gpumem_model *m;
    gpumem_error err;
    if (gpumem_model_load("llama-3.1-8b", &m, &err) != GPUMEM_OK)
        return 1;
    gpumem_settings s;
    gpumem_settings_init(&s);
    gpumem_estimate *e = malloc(sizeof *e);
    if (gpumem_estimate_inference(m, &s, e, &err) != GPUMEM_OK)
        return 1;
    printf("%llu\n", (unsigned long long)e->per_gpu_bytes);
    free(e);
    gpumem_model_free(m);
    return 0;
}
C
export PKG_CONFIG_PATH=$(dirname "$pc")
cc $extra_cflags "$tmp/use.c" -o "$tmp/use" $(pkg-config --cflags --libs --static gpumem); check "compiles with pkg-config" $?
got=$("$tmp/use"); want=$("$p/bin/gpumem" estimate llama-3.1-8b --json | sed -n 's/^  "per_gpu_bytes": \([0-9]*\).*/\1/p')
[[ -n $got && $got == "$want" ]]; check "program built against the installed library agrees with the CLI ($got)" $?
echo "$pass passed, $failn failed"
[[ $failn -eq 0 ]]
