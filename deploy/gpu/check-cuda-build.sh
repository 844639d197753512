#!/usr/bin/env bash
# Checks that the `cuda` Maven profile builds: a clean clone of this checkout's HEAD (committed work only),
# built with `mvn -Pcuda -DskipTests package`, whose application jar must hold ND4J's CUDA backend and not the
# CPU one. Needs no GPU. Run by hand, before a release or from a scheduled job, not by every CI run: the CUDA
# jars are ~600 MB (fetched once into ~/.m2). Usage: check-cuda-build.sh [OUT_DIR] (default runs/cuda-build);
# prints OUT_DIR, whose spark-jobs/target/lorafleet-app.jar and benchmarks/target/lorafleet-bench.jar are the
# CUDA distribution (deploy/bin/lorafleet bench gpu runs a training step with it).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [[ ${1:-} == --help || ${1:-} == -h ]]; then
  sed -n '2,7s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
  exit 0
fi
OUT="$(realpath -m "${1:-$ROOT/runs/cuda-build}")"
fail() { echo "check-cuda-build: $*" >&2; exit 1; }

rm -rf "$OUT.tmp"
mkdir -p "$(dirname "$OUT")"
git clone -q "$ROOT" "$OUT.tmp"
echo "check-cuda-build: building $(git -C "$OUT.tmp" log -1 --format='%h %s' | cut -c1-80) with -Pcuda in $OUT.tmp" >&2
(cd "$OUT.tmp" && mvn -B -q -Pcuda -DskipTests package -pl benchmarks -am >&2) || fail "mvn -Pcuda -DskipTests package failed (output above)"
jar="$OUT.tmp/spark-jobs/target/lorafleet-app.jar"
listing="$(unzip -Z1 "$jar")"
grep -qx 'org/nd4j/linalg/jcublas/JCublasBackend.class' <<<"$listing" || fail "$jar has no CUDA backend (org/nd4j/linalg/jcublas/JCublasBackend.class)"
! grep -qx 'org/nd4j/linalg/cpu/nativecpu/CpuBackend.class' <<<"$listing" || fail "$jar also holds the CPU backend: ND4J would pick one at random"
rm -rf "$OUT"
mv "$OUT.tmp" "$OUT"
echo "check-cuda-build: OK, $(du -m "$OUT/spark-jobs/target/lorafleet-app.jar" | cut -f1) MB application jar with the CUDA backend" >&2
echo "$OUT"
