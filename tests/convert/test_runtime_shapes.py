"""Reshape, Slice, Split and Pad with shape parameters fed at run time, against onnxruntime.

Each model is compiled once and run with several parameter values: one artifact serves any
value, its output shape read at run time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper

from tests.convert.conftest import assert_each_matches_onnxruntime, one_node_model

F, I64 = TensorProto.FLOAT, TensorProto.INT64
X = np.arange(24, dtype=np.float32).reshape(2, 3, 4)


def _ints(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def test_reshape_zero_copies_and_minus_one_infers(tmp_path: Path) -> None:
    node = helper.make_node("Reshape", ["x", "shape"], ["y"])
    model = one_node_model(
        node, [("x", F, [2, 3, 4]), ("shape", I64, [3])], [("y", F, ["a", "b", "c"])], opset=14
    )
    runs = [{"x": X, "shape": _ints(4, 0, -1)}, {"x": X, "shape": _ints(0, -1, 2)}]
    assert_each_matches_onnxruntime(model, runs, tmp_path, rtol=0, atol=0)


def test_reshape_allowzero_keeps_zero(tmp_path: Path) -> None:
    node = helper.make_node("Reshape", ["x", "shape"], ["y"], allowzero=1)
    model = one_node_model(
        node, [("x", F, [0, 4]), ("shape", I64, [2])], [("y", F, ["a", "b"])], opset=14
    )
    empty = np.zeros((0, 4), dtype=np.float32)
    runs = [{"x": empty, "shape": _ints(4, 0)}, {"x": empty, "shape": _ints(0, 7)}]
    assert_each_matches_onnxruntime(model, runs, tmp_path, rtol=0, atol=0)


def test_slice_clamps_and_steps_either_way(tmp_path: Path) -> None:
    node = helper.make_node("Slice", ["x", "starts", "ends", "axes", "steps"], ["y"])
    params = [(n, I64, [2]) for n in ("starts", "ends", "axes", "steps")]
    model = one_node_model(
        node, [("x", F, [2, 3, 4]), *params], [("y", F, ["a", "b", "c"])], opset=13
    )
    runs = [
        {"x": X, "starts": _ints(0, 1), "ends": _ints(1000, -1), "axes": _ints(1, 2),
         "steps": _ints(1, 2)},
        {"x": X, "starts": _ints(-1, 20), "ends": _ints(-1000, 0), "axes": _ints(-1, 1),
         "steps": _ints(-2, -1)},
        {"x": X, "starts": _ints(3, 0), "ends": _ints(1, 2), "axes": _ints(2, 0),
         "steps": _ints(1, 1)},
    ]  # fmt: skip
    assert_each_matches_onnxruntime(model, runs, tmp_path, rtol=0, atol=0)


def test_split_sizes_at_run_time(tmp_path: Path) -> None:
    node = helper.make_node("Split", ["x", "sizes"], ["a", "b"], axis=-1)
    outs = [(n, F, [2, 3, "n"]) for n in "ab"]
    model = one_node_model(node, [("x", F, [2, 3, 4]), ("sizes", I64, [2])], outs, opset=18)
    runs = [{"x": X, "sizes": _ints(1, 3)}, {"x": X, "sizes": _ints(4, 0)}]
    assert_each_matches_onnxruntime(model, runs, tmp_path, rtol=0, atol=0)


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "wrap"])
def test_pad_amounts_at_run_time(mode: str, tmp_path: Path) -> None:
    node = helper.make_node("Pad", ["x", "pads"], ["y"], mode=mode)
    model = one_node_model(
        node, [("x", F, [2, 3, 4]), ("pads", I64, [6])], [("y", F, ["a", "b", "c"])], opset=19
    )
    runs = [{"x": X, "pads": _ints(0, 2, 1, 1, 0, 3)}, {"x": X, "pads": _ints(1, 0, 0, 0, 1, 2)}]
    assert_each_matches_onnxruntime(model, runs, tmp_path, rtol=0, atol=0)


def test_pad_value_and_axes_at_run_time_and_negative_pads_crop(tmp_path: Path) -> None:
    node = helper.make_node("Pad", ["x", "pads", "value", "axes"], ["y"])
    inputs = [("x", F, [2, 3, 4]), ("pads", I64, [4]), ("value", F, []), ("axes", I64, [2])]
    model = one_node_model(node, inputs, [("y", F, ["a", "b", "c"])], opset=18)
    value = np.array(-1.5, dtype=np.float32)
    runs = [
        {"x": X, "pads": _ints(1, -1, 2, 0), "value": value, "axes": _ints(-1, 1)},
        {"x": X, "pads": _ints(0, 3, -1, 1), "value": value, "axes": _ints(0, 2)},
    ]
    assert_each_matches_onnxruntime(model, runs, tmp_path, rtol=0, atol=0)
