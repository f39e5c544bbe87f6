#!/usr/bin/env bash
# GPU check for `auditkit predict`: CUDA + AMP vs CPU on demo-like data (images/s, max |score diff|).
# Usage: bash bench/gpu_check.sh [--n 1024] [--workers 4] [--gpu-device cpu  # dry run]
# Exits 2 with a message when the machine has no CUDA device.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
if [ ! -x "$PYTHON" ]; then
    echo "gpu_check: $PYTHON not found; create the venv first (or set PYTHON=...)" >&2
    exit 2
fi
exec "$PYTHON" bench/gpu_check.py "$@"
