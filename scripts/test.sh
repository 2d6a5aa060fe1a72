#!/usr/bin/env bash
# Set up (first run only) and run the test suite (fast tier; add -m slow for the slow checks).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec "${LENSBLUR_VENV:-.venv}/bin/python" -m pytest "$@"
