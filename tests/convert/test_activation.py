"""Elu (float16), IsInf and Dropout converters against onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.convert.conftest import assert_matches_onnxruntime, one_node_model
from tvmforge.errors import UnsupportedOperatorError

F32 = TensorProto.FLOAT


def test_elu_float16(tmp_path: Path) -> None:
    node = helper.make_node("Elu", ["x"], ["y"], alpha=0.7)
    h = TensorProto.FLOAT16
    model = one_node_model(node, [("x", h, [3, 4])], [("y", h, [3, 4])], opset=13)
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float16)
    assert_matches_onnxruntime(model, {"x": x}, tmp_path, rtol=1e-3, atol=1e-3)


def test_isinf_negative_only(tmp_path: Path) -> None:
    node = helper.make_node("IsInf", ["x"], ["y"], detect_positive=0)
    model = one_node_model(
        node, [("x", TensorProto.FLOAT, [4])], [("y", TensorProto.BOOL, [4])], opset=20
    )
    x = np.array([1.0, np.inf, -np.inf, np.nan], dtype=np.float32)
    assert_matches_onnxruntime(model, {"x": x}, tmp_path)


def test_dropout_inference_returns_a_boolean_mask(tmp_path: Path) -> None:
    node = helper.make_node("Dropout", ["x"], ["y", "mask"])
    model = one_node_model(
        node,
        [("x", TensorProto.FLOAT, [2, 3])],
        [("y", TensorProto.FLOAT, [2, 3]), ("mask", TensorProto.BOOL, [2, 3])],
        opset=13,
    )
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    assert_matches_onnxruntime(model, {"x": x}, tmp_path)


def _training_dropout(ratio: float):
    inits = [
        numpy_helper.from_array(np.array(ratio, dtype=np.float32), "r"),
        numpy_helper.from_array(np.array(True), "t"),
    ]
    node = helper.make_node("Dropout", ["x", "r", "t"], ["y", "mask"])
    outputs = [("y", TensorProto.FLOAT, [2, 3]), ("mask", TensorProto.BOOL, [2, 3])]
    return one_node_model(
        node, [("x", TensorProto.FLOAT, [2, 3])], outputs, opset=22, initializers=inits
    )


def test_dropout_training_with_ratio_zero_keeps_everything(tmp_path: Path) -> None:
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    assert_matches_onnxruntime(_training_dropout(0.0), {"x": x}, tmp_path)


def test_dropout_training_that_drops_is_refused(tmp_path: Path) -> None:
    x = np.ones((2, 3), np.float32)
    with pytest.raises(UnsupportedOperatorError, match="drops at random"):
        assert_matches_onnxruntime(_training_dropout(0.5), {"x": x}, tmp_path)


def test_swish(tmp_path: Path) -> None:
    node = helper.make_node("Swish", ["x"], ["y"], alpha=0.5)
    f = TensorProto.FLOAT
    model = one_node_model(node, [("x", f, [3, 4])], [("y", f, [3, 4])], opset=24)
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    assert_matches_onnxruntime(model, {"x": x}, tmp_path)


@pytest.mark.parametrize("op", ["Sigmoid", "Tanh"])
def test_sigmoid_and_tanh_run_vectorizable_and_match(op: str, tmp_path: Path) -> None:
    """Float32 sigmoid and tanh lower to TVM's polynomial fast_exp / fast_tanh, not a libm call
    per element, and still match onnxruntime out to where they saturate."""
    from tvmforge.api import CompileOptions, prepare

    node = helper.make_node(op, ["x"], ["y"])
    model = one_node_model(node, [("x", F32, [4, 64])], [("y", F32, [4, 64])], opset=13)
    x = np.random.default_rng(0).uniform(-12, 12, (4, 64)).astype(np.float32)
    x[0, :6] = [-100.0, -30.0, -1e-6, 0.0, 30.0, 100.0]
    assert_matches_onnxruntime(model, {"x": x}, tmp_path, rtol=1e-5, atol=1e-6)
    script = prepare(
        tmp_path / "model.onnx", CompileOptions(target="host", track=False)
    ).mod.script()
    assert "T.exp(" not in script and "T.tanh(" not in script and "T.sigmoid(" not in script
