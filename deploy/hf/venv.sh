#!/usr/bin/env bash
# Prints the path of a Python that has deploy/hf/requirements.txt installed, creating its virtualenv first if
# needed (once per machine, 1.2 GB): $LORAFLEET_HF_VENV, or ~/.cache/lorafleet/hf-<hash of the requirements>.
# pip takes the wheels from this machine's local mirror (its pip config); --retries 0 skips an unreachable
# public index at once instead of backing off. Used by the Hugging Face round-trip test (HuggingFaceIT) and
# for deploy/hf/check_peft.py.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
requirements="$here/requirements.txt"
hash="$(sha256sum "$requirements" | cut -c1-12)"
venv="${LORAFLEET_HF_VENV:-$HOME/.cache/lorafleet/hf-$hash}"
if [[ ! -f "$venv/.complete" ]]; then
  command -v python3 >/dev/null || { echo "venv.sh: python3 is needed for the Hugging Face tests" >&2; exit 1; }
  echo "venv.sh: installing $requirements into $venv (once per machine; log: $venv.log)" >&2
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  if ! { python3 -m venv "$venv" && "$venv/bin/pip" install --disable-pip-version-check --retries 0 -r "$requirements"; } >"$venv.log" 2>&1; then
    echo "venv.sh: pip failed; the last lines of $venv.log:" >&2
    tail -5 "$venv.log" >&2
    exit 1
  fi
  touch "$venv/.complete"
fi
echo "$venv/bin/python"
