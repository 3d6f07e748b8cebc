#!/usr/bin/env bash
# gpumem validate's known-deviations list: the committed list passes; a
# listed case that is no longer under by more than 3% (stale) fails; a
# malformed line is an error naming file and line. Prints "N passed, N failed".
set -u
gpumem=$1 meas=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 failn=0
check() { if [[ $2 -eq 0 ]]; then pass=$((pass + 1)); echo "ok    $1"; else failn=$((failn + 1)); echo "FAIL  $1"; fi; }
cp "$meas/torch_training.jsonl" "$meas/known_deviations.tsv" "$tmp/"
out=$("$gpumem" validate --check "$tmp/torch_training.jsonl"); rc=$?
[[ $rc -eq 0 && $out == *"known: "* && $out == *"check passed"* ]]; check "committed list passes" $?
# Without the list the same cases count as under-estimates and fail.
rm "$tmp/known_deviations.tsv"
"$gpumem" validate --check "$tmp/torch_training.jsonl" >/dev/null; [[ $? -eq 1 ]]; check "without the list: fails" $?
cp "$meas/known_deviations.tsv" "$tmp/"
printf 'qwen3-0.6b|full|bf16|adamw-foreach|ckpt-none|b2|s1024|sdpa|meta\twithin 3%%\n' >>"$tmp/known_deviations.tsv"
out=$("$gpumem" validate --check "$tmp/torch_training.jsonl"); rc=$?
[[ $rc -eq 1 && $out == *"STALE known deviation"*"qwen3-0.6b|full|bf16"* ]]; check "stale entry fails" $?
printf 'no tab here\n' >>"$tmp/known_deviations.tsv"
err=$("$gpumem" validate --check "$tmp/torch_training.jsonl" 2>&1 >/dev/null); rc=$?
[[ $rc -eq 1 && $err == *"known_deviations.tsv:"*"expected CASE<tab>REASON"* ]]; check "malformed line: error with file:line" $?
echo "$pass passed, $failn failed"
[[ $failn -eq 0 ]]
