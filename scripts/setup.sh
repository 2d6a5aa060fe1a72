#!/usr/bin/env bash
# One-time, idempotent set-up: a virtual environment in .venv with a pinned CPU torch and lensblur
# installed editable with every extra the demo and the tests need. Safe to run again; it only installs
# what is missing. Override the interpreter with PYTHON=..., the venv folder with LENSBLUR_VENV=...
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${LENSBLUR_VENV:-.venv}
# torch 2.13.0 CPU: a plain `torch` requirement with nothing installed can resolve to a ~5.5 GB CUDA
# build (see ../shared/reference/environment.md), so the CPU build is installed first and pinned.
TORCH_PIN=${LENSBLUR_TORCH:-torch==2.13.0}

if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup] creating virtual environment in $VENV"
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
stamp="$VENV/.lensblur-setup-$(cat pyproject.toml scripts/setup.sh | cksum | cut -d' ' -f1)"
if [ -f "$stamp" ]; then
    exit 0
fi
"$PY" -m pip install --quiet --upgrade pip
if ! "$PY" -c "import torch" 2>/dev/null; then
    echo "[setup] installing $TORCH_PIN (CPU build)"
    "$PY" -m pip install --quiet "$TORCH_PIN"
fi
echo "[setup] installing lensblur with its extras"
"$PY" -m pip install --quiet -e ".[all,dev]"
# compile the numba kernels now (cached on disk), so the first render is as fast as the next ones
"$PY" -m lensblur.render.warm
rm -f "$VENV"/.lensblur-setup-*
touch "$stamp"
echo "[setup] done: $VENV"
