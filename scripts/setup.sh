#!/usr/bin/env bash
# setup.sh: create .venv with the pinned stack (idempotent; a second run takes seconds).
#
#   scripts/setup.sh          the package and its runtime dependencies
#   scripts/setup.sh --test   also the test tools, the aarch64 cross compiler (apt) and the
#                             emulated ARM board used by the remote-target tests
# Needs Python 3.11 (python3.11, or python3 when it is 3.11) and, for --test, apt.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PY=$candidate; break
    fi
  done
fi
[ -n "$PY" ] || { echo "setup: Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2; exit 1; }

[ -x .venv/bin/python ] || "$PY" -m venv .venv
extras=""
[ "${1:-}" = "--test" ] && extras="[test]"
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".${extras}"

if [ "${1:-}" = "--test" ]; then
  # silero-vad's .onnx files for the real-model tests; --no-deps: its torch is not needed
  .venv/bin/python -m pip install --quiet --no-deps silero-vad==6.2.3
  need=()
  command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || need+=(gcc-aarch64-linux-gnu)
  dpkg -s libc6-dev-arm64-cross >/dev/null 2>&1 || need+=(libc6-dev-arm64-cross)
  if [ ${#need[@]} -gt 0 ]; then
    if command -v apt-get >/dev/null 2>&1; then
      sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
      $sudo_cmd apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}" >/dev/null
    else
      echo "setup: apt-get missing: ARM cross-compilation tests will skip" >&2
    fi
  fi
  bash scripts/setup_armboard.sh
fi
echo "setup: ready (.venv, $(.venv/bin/python -c 'import tvm; print("apache-tvm", tvm.__version__)'))"
