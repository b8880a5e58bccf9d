"""``tvmforge conformance`` and ``benchmarks/conformance.py`` on one case each."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tvmforge import cli

REPO = Path(__file__).resolve().parent.parent


def test_cli_verb_writes_the_table(tmp_path: Path, capsys) -> None:
    table = tmp_path / "conformance.md"
    code = cli.main(
        ["conformance", "--pattern", "^test_abs$", "--results", str(tmp_path / "r.jsonl"),
         "--table", str(table)]
    )  # fmt: skip
    assert code == 0
    assert "1 cases: tvmforge 100.0%, onnxruntime 100.0%" in capsys.readouterr().out
    assert "| Abs | 1 | 1 | 1 | 1 |" in table.read_text()


def test_benchmark_script_resumes(tmp_path: Path) -> None:
    results = tmp_path / "r.jsonl"
    results.write_text(
        '{"name": "test_relu", "op": "Relu", "tvmforge": true, "onnxruntime": true}\n'
    )
    run = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "conformance.py"), "--pattern", "^test_relu$",
         "--results", str(results), "--table", str(tmp_path / "t.md")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "1 cases: tvmforge 100.0%" in run.stdout
    assert results.read_text().count("test_relu") == 1  # resumed: nothing ran again


def test_scalar_inputs_reach_onnxruntime_as_arrays() -> None:
    """test_clip feeds min and max as 0-d inputs; onnxruntime must get the same comparison."""
    import onnx.backend.test.case.node as cases

    from tvmforge.convert.conformance import run_onnxruntime

    case = next(c for c in cases.collect_testcases(None) if c.name == "test_clip")
    assert run_onnxruntime(case) == ""
