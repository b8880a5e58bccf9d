"""BitCast and Col2Im against onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from tests.convert.conftest import assert_matches_onnxruntime, one_node_model

F = TensorProto.FLOAT


def test_bitcast_float_to_int(tmp_path: Path) -> None:
    node = helper.make_node("BitCast", ["x"], ["y"], to=TensorProto.INT32)
    model = one_node_model(node, [("x", F, [2, 3])], [("y", TensorProto.INT32, [2, 3])], opset=26)
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    assert_matches_onnxruntime(model, {"x": x}, tmp_path)


def test_col2im_with_strides_pads_dilations(tmp_path: Path) -> None:
    image = numpy_helper.from_array(np.array([5, 6], dtype=np.int64), "image")
    block = numpy_helper.from_array(np.array([2, 2], dtype=np.int64), "block")
    node = helper.make_node(
        "Col2Im",
        ["x", "image", "block"],
        ["y"],
        strides=[2, 1],
        pads=[1, 0, 0, 1],
        dilations=[1, 2],
    )
    # rows: (5 + 1 - 2) // 2 + 1 = 3; columns: (6 + 1 - 3) // 1 + 1 = 5
    model = one_node_model(
        node,
        [("x", F, [1, 8, 15])],
        [("y", F, [1, 2, 5, 6])],
        opset=18,
        initializers=[image, block],
    )
    x = np.random.default_rng(0).standard_normal((1, 8, 15)).astype(np.float32)
    assert_matches_onnxruntime(model, {"x": x}, tmp_path)
