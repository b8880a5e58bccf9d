"""Elu (float16), IsInf and Dropout converters against onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import TensorProto, helper

from tests.convert.conftest import assert_matches_onnxruntime, one_node_model


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


def test_swish(tmp_path: Path) -> None:
    node = helper.make_node("Swish", ["x"], ["y"], alpha=0.5)
    f = TensorProto.FLOAT
    model = one_node_model(node, [("x", f, [3, 4])], [("y", f, [3, 4])], opset=24)
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    assert_matches_onnxruntime(model, {"x": x}, tmp_path)
