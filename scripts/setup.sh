#!/usr/bin/env bash
# Create .venv with hippo-memory, its adapters and the test tools.
# CPU torch is pinned: an unpinned torch pulls several GB of CUDA wheels on a
# machine without a GPU. On a CUDA machine run: HIPPO_TORCH=torch bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-}
if [ -z "$python" ]; then
  for candidate in python3.11 python3.12 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then python=$candidate; break; fi
  done
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" --upgrade pip
"${pip[@]}" "${HIPPO_TORCH:-torch==2.13.0}"
packages=(-e ".[dev]")
[ -f integrations/langchain/pyproject.toml ] && packages+=(-e "integrations/langchain[agents,classic,test]")
[ -f integrations/llama_index/pyproject.toml ] && packages+=(-e "integrations/llama_index[test]")
"${pip[@]}" "${packages[@]}"
echo "hippo-memory is installed in .venv"
