"""The public API: __all__ lists what is public, and the verbs stay callable."""

from __future__ import annotations

import subprocess
import sys

import tvmforge
from tests.conftest import subprocess_env


def test_all_matches_public_names() -> None:
    for name in tvmforge.__all__:
        assert getattr(tvmforge, name) is not None
    assert {"compile", "tune", "bench", "validate", "Session", "CompileOptions"} <= set(
        tvmforge.__all__
    )


def test_verbs_are_not_shadowed_by_stage_modules() -> None:
    import tvmforge.benchmark
    import tvmforge.tuning
    import tvmforge.validation  # noqa: F401

    for verb in ("compile", "tune", "bench", "validate"):
        assert callable(getattr(tvmforge, verb)), verb


def test_import_stays_light() -> None:
    """`import tvmforge` and the CLI's --help load no compiler, onnxruntime or MLflow."""
    code = (
        "import sys, tvmforge, tvmforge.cli\n"
        "print([m for m in ('tvm', 'onnxruntime', 'mlflow', 'onnx') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env()
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
