#!/usr/bin/env bash
# Spark's GPU discovery script (spark.executor.resource.gpu.discoveryScript and
# spark.worker.resource.gpu.discoveryScript): prints the GPUs of this machine as Spark's
# ResourceInformation JSON, e.g. {"name": "gpu", "addresses": ["0", "1"]}. CUDA_VISIBLE_DEVICES, when set,
# limits the list to the GPUs it names (by index), as CUDA itself would.
set -euo pipefail
smi="${NVIDIA_SMI:-nvidia-smi}"
if ! command -v "$smi" >/dev/null 2>&1; then
  echo "discover-gpus.sh: $smi not found; no NVIDIA driver on $(hostname)" >&2
  exit 1
fi
mapfile -t indices < <("$smi" --query-gpu=index --format=csv,noheader | tr -d ' \r' | grep -E '^[0-9]+$')
if [[ -n "${CUDA_VISIBLE_DEVICES:-}" ]]; then
  IFS=',' read -r -a visible <<<"$CUDA_VISIBLE_DEVICES"
  kept=()
  for i in "${indices[@]}"; do
    for v in "${visible[@]}"; do [[ "$i" == "$v" ]] && kept+=("$i"); done
  done
  indices=("${kept[@]}")
fi
json='{"name": "gpu", "addresses": ['
for n in "${!indices[@]}"; do
  [[ $n -gt 0 ]] && json+=', '
  json+="\"${indices[$n]}\""
done
echo "$json]}"
