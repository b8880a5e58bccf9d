"""ReduceMax and ReduceMin keep infinities and take bools, against onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.convert.conftest import assert_matches_onnxruntime, one_node_model


@pytest.mark.parametrize("op, inf", [("ReduceMax", -np.inf), ("ReduceMin", np.inf)])
def test_all_infinite_slice_gives_infinity(op: str, inf: float, tmp_path: Path) -> None:
    axes = numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")
    node = helper.make_node(op, ["x", "axes"], ["y"], keepdims=0)
    model = one_node_model(
        node,
        [("x", TensorProto.FLOAT, [3, 4])],
        [("y", TensorProto.FLOAT, [3])],
        opset=20,
        initializers=[axes],
    )
    x = np.array([[inf] * 4, [1, inf, 2, inf], [-1, 0, 3, 5]], dtype=np.float32)
    assert_matches_onnxruntime(model, {"x": x}, tmp_path)


@pytest.mark.parametrize("op", ["ReduceMax", "ReduceMin"])
def test_bool(op: str, tmp_path: Path) -> None:
    axes = numpy_helper.from_array(np.array([0], dtype=np.int64), "axes")
    node = helper.make_node(op, ["x", "axes"], ["y"], keepdims=1)
    model = one_node_model(
        node,
        [("x", TensorProto.BOOL, [2, 3])],
        [("y", TensorProto.BOOL, [1, 3])],
        opset=20,
        initializers=[axes],
    )
    x = np.array([[True, False, False], [True, True, False]])
    assert_matches_onnxruntime(model, {"x": x}, tmp_path)
