#!/usr/bin/env bash
# Set up (first run only) and render the bundled Middlebury sample into outputs/demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec "${LENSBLUR_VENV:-.venv}/bin/lensblur" demo --out outputs/demo --overwrite "$@"
