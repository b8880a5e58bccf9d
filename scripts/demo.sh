#!/usr/bin/env bash
# demo.sh: set up, then tune, compile, validate and benchmark the shipped small model for this
# machine, logged to the local MLflow store (./mlflow.db). A few minutes on 2 cores.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
exec .venv/bin/tvmforge demo "$@"
