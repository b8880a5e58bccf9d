#!/usr/bin/env bash
# test.sh: set up (with test tools) and run the test suite. Extra arguments go to pytest.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
bash "$ROOT/scripts/setup.sh" --test
cd "$ROOT"
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
