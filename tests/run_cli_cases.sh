#!/usr/bin/env bash
# Runs each row of a cases file: arguments, expected exit code, and a
# regular expression that stdout+stderr must match. Prints one line per case
# and a closing "N passed, N failed".
set -u
bin=$1 cases=$2
pass=0 failn=0
while IFS=$'\t' read -r args code pattern; do
  [[ -z "$args" || "$args" == \#* ]] && continue
  if [[ "$args" == "(none)" ]]; then set --; else eval "set -- $args"; fi
  out=$("$bin" "$@" 2>&1)
  rc=$?
  if { [[ $code == any ]] || [[ $rc -eq $code ]]; } && grep -qE -- "$pattern" <<<"$out"; then
    pass=$((pass + 1))
    echo "ok    gpumem $args -> $rc"
  else
    failn=$((failn + 1))
    echo "FAIL  gpumem $args -> exit $rc (want $code), output:"
    sed 's/^/      /' <<<"$out" | head -20
    echo "      wanted /$pattern/"
  fi
done <"$cases"
echo "$pass passed, $failn failed"
[[ $failn -eq 0 ]]
