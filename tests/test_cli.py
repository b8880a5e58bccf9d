"""The command line: verbs in-process, one real subprocess per verb, exit codes and messages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests import models
from tests.conftest import subprocess_env
from tvmforge.cli import main, parse_duration


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tvmforge.cli", *args],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=600,
    )


def test_parse_duration() -> None:
    assert parse_duration("90") == 90
    assert parse_duration("30m") == 1800
    assert parse_duration("2h") == 7200


def test_compile_run_inspect_bench_in_subprocesses(conv_net: Path, tmp_path: Path) -> None:
    out = tmp_path / "convnet.so"
    compiled = _run("compile", str(conv_net), "-o", str(out), "--input-shape", "x=2,3,16,16")
    assert compiled.returncode == 0, compiled.stderr
    assert "validated against onnxruntime" in compiled.stdout

    feeds = tmp_path / "in.npz"
    np.savez(feeds, x=np.ones((2, 3, 16, 16), np.float32))
    ran = _run("run", str(out), "--inputs", str(feeds), "--save", str(tmp_path / "out.npz"))
    assert ran.returncode == 0, ran.stderr
    assert "y: shape=[2, 10] dtype=float32" in ran.stdout
    assert np.load(tmp_path / "out.npz")["y"].shape == (2, 10)

    inspected = _run("inspect", str(out))
    assert inspected.returncode == 0 and '"schema_version": 1' in inspected.stdout

    bench = _run("bench", str(out), "--repeats", "3", "--warmup", "1")
    assert bench.returncode == 0, bench.stderr
    assert "| convnet | host |" in bench.stdout and "tvmforge / onnxruntime =" in bench.stdout


def test_targets_marks_what_runs_here(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["targets"]) == 0
    out = capsys.readouterr().out
    assert "host" in out and "[runs here]" in out
    assert "arm-neon" in out and "build only" in out


def test_compile_validates_with_user_inputs(mlp: Path, tmp_path: Path, capsys) -> None:
    feeds = tmp_path / "feeds.npz"
    np.savez(feeds, features=np.full((4, 32), 0.5, np.float32))
    assert main(["compile", str(mlp), "-o", str(tmp_path / "m.so"), "--inputs", str(feeds)]) == 0
    assert "validated against onnxruntime" in capsys.readouterr().out


def _error_of(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return code, err


@pytest.mark.parametrize(
    ("make_args", "expected"),
    [
        (
            lambda t, m: ["compile", str(t / "missing.onnx"), "-o", str(t / "x.so")],
            "does not exist",
        ),
        (
            lambda t, m: ["compile", str(m), "-o", str(t / "x.so")],
            "dim 'N' is unbound; pass --input-shape x=",
        ),
        (
            lambda t, m: ["compile", str(m), "-o", str(t / "x.so"), "--target", "z80"],
            "unknown target 'z80'",
        ),
        (
            lambda t, m: ["compile", str(m), "-o", str(t / "x.so"), "--input-shape", "x=1"],
            "has 1 dims",
        ),
        (lambda t, m: ["run", str(t / "none.so")], "does not exist"),
        (lambda t, m: ["inspect", str(m)], "manifest"),
    ],
)
def test_user_errors_are_one_line_exit_1(make_args, expected, conv_net, tmp_path, capsys) -> None:
    code, err = _error_of(make_args(tmp_path, conv_net), capsys)
    assert code == 1
    assert err.startswith("tvmforge: error:") and expected in err


def test_unsupported_operator_exit_1(tmp_path: Path, capsys) -> None:
    model = models.custom_ops(tmp_path / "custom.onnx")
    code, err = _error_of(
        ["compile", str(model), "-o", str(tmp_path / "c.so"), "--no-validate"], capsys
    )
    assert code == 1 and "unsupported operator(s)" in err


def test_wrong_feed_shape_exit_1(built_mlp: Path, tmp_path: Path, capsys) -> None:
    feeds = tmp_path / "bad.npz"
    np.savez(feeds, features=np.zeros((3, 32), np.float32))
    code, err = _error_of(["run", str(built_mlp), "--inputs", str(feeds)], capsys)
    assert code == 1 and "must have shape [4, 32] (got [3, 32])" in err


def test_artifact_for_other_cpu_exit_1(built_mlp: Path, tmp_path: Path, capsys) -> None:
    import json
    import shutil

    lib = tmp_path / "other.so"
    shutil.copy(built_mlp, lib)
    data = json.loads(Path(str(built_mlp) + ".json").read_text())
    data["requires"]["cpu_features"].append("amx_tile_fake")
    Path(str(lib) + ".json").write_text(json.dumps(data))
    code, err = _error_of(["run", str(lib)], capsys)
    assert code == 1 and "amx_tile_fake" in err and "recompile" in err


def test_internal_error_exit_2(monkeypatch, mlp, tmp_path, capsys) -> None:
    import tvmforge.api

    def broken(*_a, **_k):
        raise RuntimeError("boom")

    monkeypatch.setattr(tvmforge.api, "compile", broken)
    code, err = _error_of(["compile", str(mlp), "-o", str(tmp_path / "x.so")], capsys)
    assert code == 2 and "internal error" in err and "--debug" in err


def test_subprocess_error_has_no_traceback(tmp_path: Path) -> None:
    done = _run("compile", str(tmp_path / "missing.onnx"), "-o", str(tmp_path / "x.so"))
    assert done.returncode == 1
    assert done.stderr.strip().startswith("tvmforge: error:") and "Traceback" not in done.stderr
