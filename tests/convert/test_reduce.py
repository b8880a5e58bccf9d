"""Reductions against onnxruntime: axes fed at run time (one artifact, any axes), and\nReduceMax/ReduceMin keeping infinities and taking bools."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.convert.conftest import (
    assert_each_matches_onnxruntime,
    assert_matches_onnxruntime,
    one_node_model,
)


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


_REDUCTIONS = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
               "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"]  # fmt: skip


@pytest.mark.parametrize("keepdims", [1, 0])
@pytest.mark.parametrize("op", _REDUCTIONS)
def test_axes_fed_at_run_time(op: str, keepdims: int, tmp_path: Path) -> None:
    """One artifact reduces over whichever two axes are fed (negative ones included)."""
    node = helper.make_node(op, ["x", "axes"], ["y"], keepdims=keepdims)
    model = one_node_model(
        node,
        [("x", TensorProto.FLOAT, [2, 3, 4]), ("axes", TensorProto.INT64, [2])],
        [("y", TensorProto.FLOAT, ["a", "b", "c"][: 1 + 2 * keepdims])],
        opset=18,
    )
    x = np.random.default_rng(0).uniform(0.5, 2.0, (2, 3, 4)).astype(np.float32)
    feeds = [{"x": x, "axes": np.array(axes, dtype=np.int64)} for axes in ([0, 2], [-1, 1], [1, 0])]
    assert_each_matches_onnxruntime(model, feeds, tmp_path)


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMax", "ReduceProd", "ReduceLogSumExp"])
def test_run_time_axes_over_an_empty_dim_give_the_start_value(op: str, tmp_path: Path) -> None:
    node = helper.make_node(op, ["x", "axes"], ["y"], keepdims=1)
    model = one_node_model(
        node,
        [("x", TensorProto.FLOAT, [2, 0, 3]), ("axes", TensorProto.INT64, [1])],
        [("y", TensorProto.FLOAT, ["a", "b", "c"])],
        opset=18,
    )
    feeds = {"x": np.zeros((2, 0, 3), np.float32), "axes": np.array([1], dtype=np.int64)}
    assert_matches_onnxruntime(model, feeds, tmp_path)


def test_run_time_axes_of_bools(tmp_path: Path) -> None:
    node = helper.make_node("ReduceMax", ["x", "axes"], ["y"], keepdims=0)
    model = one_node_model(
        node,
        [("x", TensorProto.BOOL, [2, 3]), ("axes", TensorProto.INT64, [1])],
        [("y", TensorProto.BOOL, ["a"])],
        opset=20,
    )
    x = np.array([[True, False, False], [False, False, False]])
    feeds = [{"x": x, "axes": np.array([axis], dtype=np.int64)} for axis in (1, 0)]
    assert_each_matches_onnxruntime(model, feeds, tmp_path)
