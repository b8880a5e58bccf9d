"""Per-operator latency through the VM instrument hook, and the ``tvmforge profile`` verb."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import subprocess_env
from tvmforge import cli
from tvmforge.profile import profile


def test_profile_accounts_for_the_run(built_mlp: Path) -> None:
    result = profile(built_mlp, threads=1, runs=3, warmup=1)
    names = [op.name for op in result.ops]
    assert result.model == "mlp" and result.threads == 1 and result.runs == 3
    assert any(not n.startswith(("vm.", "(")) for n in names), names  # compiled kernels timed
    assert [op.ms for op in result.ops] == sorted((op.ms for op in result.ops), reverse=True)
    assert sum(op.share for op in result.ops) == pytest.approx(1.0, abs=0.05)
    assert all(op.calls >= 1 for op in result.ops if op.name != "(overhead)")


def test_table_shows_top_rows_then_the_rest(built_mlp: Path) -> None:
    result = profile(built_mlp, runs=2, warmup=1)
    lines = result.table(top=2).splitlines()
    assert lines[0].startswith("| # | function")
    assert lines[2].startswith("| 1 | ") and lines[3].startswith("| 2 | ")
    assert "more)" in lines[-1]


def test_cli_profile_in_process(built_mlp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["profile", str(built_mlp), "--runs", "2", "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert "| 1 |" in out and "ms per run" in out


def test_cli_profile_missing_artifact_is_a_user_error(tmp_path: Path) -> None:
    assert cli.main(["profile", str(tmp_path / "nope.so")]) == 1


def test_cli_profile_subprocess(built_mlp: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tvmforge.cli", "profile", str(built_mlp), "--runs", "2"],
        capture_output=True, text=True, env=subprocess_env(), timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "ms per run" in done.stdout
