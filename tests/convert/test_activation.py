"""Elu (float16), IsInf and Dropout converters against onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.convert.conftest import assert_matches_onnxruntime, one_node_model
from tvmforge.errors import UnsupportedOperatorError


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
