"""Validation against onnxruntime: per-dtype tolerances, and a mismatch fails the build."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tvmforge.errors import ValidationError
from tvmforge.validation import compare, describe_failure


def test_floats_within_tolerance_pass() -> None:
    want = np.linspace(-1, 1, 10, dtype=np.float32)
    result = compare({"y": want + 1e-6}, {"y": want}, "given")
    assert result.passed and result.max_abs_err < 2e-6


def test_integer_outputs_must_match_exactly() -> None:
    want = np.arange(6, dtype=np.int64)
    got = want.copy()
    got[2] = 7
    result = compare({"idx": got}, {"idx": want}, "given")
    assert not result.passed
    assert result.outputs[0].detail == "1 element(s) differ"


def test_nan_pattern_and_shape_are_checked() -> None:
    want = np.array([1.0, np.nan], np.float32)
    assert compare({"y": want.copy()}, {"y": want}, "given").passed
    assert not compare({"y": np.array([1.0, 2.0], np.float32)}, {"y": want}, "given").passed
    assert not compare({"y": np.zeros(3, np.float32)}, {"y": np.zeros(2, np.float32)}, "x").passed


def test_failure_names_the_output_and_error() -> None:
    result = compare({"y": np.ones(4, np.float32)}, {"y": np.zeros(4, np.float32)}, "given")
    assert describe_failure(result).startswith("output 'y': 4 of 4 element(s) outside rtol=")


def test_mismatch_fails_the_build_and_removes_the_artifact(
    mlp: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tvmforge.validation
    from tvmforge import api

    monkeypatch.setitem(tvmforge.validation.TOLERANCES, "float32", (0.0, 0.0))
    monkeypatch.setattr(
        tvmforge.validation,
        "onnxruntime_outputs",
        lambda path, feeds, threads=None: {
            "logits": np.zeros((4, 5), np.float32),
            "hidden": np.zeros((4, 64), np.float32),
        },
    )
    out = tmp_path / "m.so"
    with pytest.raises(ValidationError, match="output 'logits'.*the artifact was removed"):
        api.compile(mlp, out)
    assert not out.exists() and not Path(str(out) + ".json").exists()
    kept = api.compile(mlp, out, validate=False)  # --no-validate keeps it
    assert kept.library.exists() and kept.validation is None


def _cast_model(path: Path, to: int, opset: int) -> Path:
    """x (float) -> Cast to ``to`` -> y, and y cast back to float -> z."""
    import onnx
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Cast", ["x"], ["y"], to=to),
        helper.make_node("Cast", ["y"], ["z"], to=TensorProto.FLOAT),
    ]
    graph = helper.make_graph(
        nodes,
        "cast",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 8])],
        [
            helper.make_tensor_value_info("y", to, [4, 8]),
            helper.make_tensor_value_info("z", TensorProto.FLOAT, [4, 8]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    onnx.save(model, str(path))
    return path


def test_float8_outputs_are_validated_against_onnxruntime(tmp_path: Path) -> None:
    from onnx import TensorProto

    from tvmforge import api

    model = _cast_model(tmp_path / "f8.onnx", TensorProto.FLOAT8E4M3FN, 21)
    artifact = api.compile(model, tmp_path / "f8.so", schedules_dir=None)
    assert not artifact.validation.skipped  # onnxruntime's uint8 bits are read as float8
    assert [o.name for o in artifact.validation.outputs] == ["y", "z"]
    assert [o["dtype"] for o in artifact.manifest["outputs"]] == ["float8_e4m3fn", "float32"]


def test_types_onnxruntime_lacks_skip_the_comparison(tmp_path: Path) -> None:
    from onnx import TensorProto

    from tvmforge import api
    from tvmforge.session import Session

    model = _cast_model(tmp_path / "i4.onnx", TensorProto.INT4, 21)
    artifact = api.compile(model, tmp_path / "i4.so", schedules_dir=None)
    assert artifact.validation.skipped.startswith("onnxruntime cannot run it")
    assert artifact.manifest["validation"]["skipped"] == artifact.validation.skipped
    session = Session(artifact.library, threads=1)
    # int4's range only: numpy's (and onnx.reference's) cast of an out-of-range float is
    # CPU-dependent (0 on Emerald Rapids, wrapped on Zen 4)
    x = np.tile(np.arange(-8, 8, dtype=np.float32), 2).reshape(4, 8)
    y, z = session.run(None, {"x": x})
    assert str(y.dtype) == "int4" and session.get_outputs()[0].type == "tensor(int4)"
    np.testing.assert_array_equal(z, x)


def test_small_integer_outputs_must_match_exactly() -> None:
    want = np.array([-8, 7, 0], dtype="int4")
    assert compare({"y": want.copy()}, {"y": want}, "given").passed
    assert not compare({"y": np.array([-8, 6, 0], "int4")}, {"y": want}, "given").passed
