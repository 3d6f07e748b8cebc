#!/usr/bin/env bash
# The generated bash completion offers the commands, each command's options
# from the option table, and files for arguments; the man page lists every
# option. Prints "N passed, N failed".
set -u
bin=$1
pass=0 failn=0
check() { if [[ $2 -eq 0 ]]; then pass=$((pass + 1)); echo "ok    $1"; else failn=$((failn + 1)); echo "FAIL  $1"; fi; }
source <("$bin" --completions bash)
complete_words() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _gpumem; echo "${COMPREPLY[*]}"; }
out=$(complete_words gpumem es)
check "commands: 'es' completes to estimate" "$([[ $out == estimate ]]; echo $?)"
out=$(complete_words gpumem estimate --max-)
check "estimate options: --max-context and --max-model-len" "$([[ $out == *--max-context* && $out == *--max-model-len* ]]; echo $?)"
out=$(complete_words gpumem fit --mar)
check "fit options: --margin" "$([[ $out == --margin ]]; echo $?)"
out=$(complete_words gpumem gpus --lo)
check "gpus options: --local" "$([[ $out == --local ]]; echo $?)"
bash -n <("$bin" --completions bash); check "bash completion parses" $?
man=$("$bin" --man)
missing=0
for o in $("$bin" estimate --help | grep -oE -- '--[a-z0-9-]+' | sort -u); do
  grep -q -- "${o//-/\\\\-}" <<<"$man" || { echo "man page lacks $o"; missing=1; }
done
check "man page lists every estimate option" $missing
"$bin" --completions fish >/dev/null 2>&1; check "unknown shell is a usage error" "$([[ $? -eq 2 ]]; echo $?)"
echo "$pass passed, $failn failed"
[[ $failn -eq 0 ]]
