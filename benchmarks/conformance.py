"""Run the ONNX node conformance suite through tvmforge and onnxruntime; write the per-op table.

nice -n 15 .venv/bin/python benchmarks/conformance.py            # all 1,884 cases, resumable
.venv/bin/python benchmarks/conformance.py --pattern 'resize|lstm' --results /tmp/r.jsonl
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tvmforge.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["conformance", *sys.argv[1:]]))
