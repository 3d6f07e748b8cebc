#!/usr/bin/env bash
# Stages a measurement file that a running harness may be appending to:
# only whole lines that parse as JSON go into the commit.
set -euo pipefail
for f in "$@"; do
  tmp=$(mktemp)
  python3 -c '
import json, sys
for line in open(sys.argv[1]):
    if not line.endswith("\n"):
        break
    try:
        json.loads(line)
    except ValueError:
        break
    sys.stdout.write(line)
' "$f" >"$tmp"
  blob=$(git hash-object -w "$tmp")
  git update-index --add --cacheinfo 100644,"$blob","$f"
  rm -f "$tmp"
done
