#!/usr/bin/env bash
# Golden CLI outputs: each tests/golden/NAME.cmd holds the arguments, and
# NAME.out the exact expected stdout. Run from the source root so paths in
# the arguments resolve. Set GPUMEM_UPDATE_GOLDEN=1 to rewrite the .out files.
set -u
bin=$1 dir=$2
cd "$dir/../.." || exit 1
pass=0 failn=0
for cmd in "$dir"/*.cmd; do
  name=${cmd%.cmd}
  eval "set -- $(cat "$cmd")"
  actual=$("$bin" "$@" 2>&1)
  if [[ "${GPUMEM_UPDATE_GOLDEN:-}" == 1 ]]; then
    printf '%s\n' "$actual" >"$name.out"
  fi
  if diff -u "$name.out" <(printf '%s\n' "$actual") >/tmp/gpumem-golden.diff; then
    pass=$((pass + 1))
    echo "ok    $(basename "$name")"
  else
    failn=$((failn + 1))
    echo "FAIL  $(basename "$name")"
    cat /tmp/gpumem-golden.diff
  fi
done
echo "$pass passed, $failn failed"
[[ $failn -eq 0 ]]
