#!/usr/bin/env bash
# setup_armboard.sh: bring up the emulated aarch64 test board used by tests/test_remote.py.
#
# Idempotent: armboard.sh caches the board in ${ARMBOARD_CACHE:-$HOME/.cache/armboard}; a second
# run only checks it (a few seconds). The board tool lives outside the repository, in the shared
# tools folder next to the checkout (../shared/tools/armboard.sh); without it this script skips
# with its reason and exits 0, and the board tests skip with the same reason.
#
#   scripts/setup_armboard.sh            (from anywhere; uses .venv/bin/python as the host python)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BOARD=${TVMFORGE_ARMBOARD:-$ROOT/../shared/tools/armboard.sh}
if [ ! -x "$BOARD" ] && [ ! -f "$BOARD" ]; then
  echo "setup_armboard: skipped: $BOARD not found (the shared board tool is not on this machine);" \
       "board tests will skip" >&2
  exit 0
fi
if [ -z "${ARMBOARD_HOST_PYTHON:-}" ] && [ -x "$ROOT/.venv/bin/python" ]; then
  export ARMBOARD_HOST_PYTHON=$ROOT/.venv/bin/python
fi
exec bash "$BOARD" setup
