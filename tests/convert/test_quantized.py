"""QLinearMatMul and QLinearConv against onnxruntime (scales as initializers)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.convert.conftest import assert_matches_onnxruntime, one_node_model

U8, I8 = TensorProto.UINT8, TensorProto.INT8


def _init(name: str, value) -> TensorProto:
    return numpy_helper.from_array(np.asarray(value), name)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
def test_qlinear_matmul(dtype, tmp_path: Path) -> None:
    onnx_type = U8 if dtype == np.uint8 else I8
    zp = dtype(3)
    inits = [
        _init("a_s", np.float32(0.05)), _init("a_zp", zp), _init("b_s", np.float32(0.03)),
        _init("b_zp", zp), _init("y_s", np.float32(0.1)), _init("y_zp", zp),
    ]  # fmt: skip
    node = helper.make_node(
        "QLinearMatMul", ["a", "a_s", "a_zp", "b", "b_s", "b_zp", "y_s", "y_zp"], ["y"]
    )
    model = one_node_model(
        node, [("a", onnx_type, [3, 4]), ("b", onnx_type, [4, 5])], [("y", onnx_type, [3, 5])],
        opset=21, initializers=inits,
    )  # fmt: skip
    info = np.iinfo(dtype)
    rng = np.random.default_rng(0)
    feeds = {
        "a": rng.integers(info.min, info.max, (3, 4)).astype(dtype),
        "b": rng.integers(info.min, info.max, (4, 5)).astype(dtype),
    }
    assert_matches_onnxruntime(model, feeds, tmp_path, atol=0)


def test_qlinear_conv_per_channel(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    w = rng.integers(-50, 50, (4, 3, 3, 3)).astype(np.int8)
    inits = [
        _init("x_s", np.float32(0.02)), _init("x_zp", np.uint8(128)), _init("w", w),
        _init("w_s", np.array([0.01, 0.02, 0.03, 0.04], np.float32)),
        _init("w_zp", np.zeros(4, np.int8)), _init("y_s", np.float32(0.05)),
        _init("y_zp", np.uint8(120)), _init("bias", rng.integers(-100, 100, 4).astype(np.int32)),
    ]  # fmt: skip
    node = helper.make_node(
        "QLinearConv",
        ["x", "x_s", "x_zp", "w", "w_s", "w_zp", "y_s", "y_zp", "bias"],
        ["y"],
        pads=[1, 1, 1, 1],
    )
    model = one_node_model(
        node, [("x", U8, [1, 3, 8, 8])], [("y", U8, [1, 4, 8, 8])], opset=13, initializers=inits
    )
    feeds = {"x": rng.integers(0, 255, (1, 3, 8, 8)).astype(np.uint8)}
    assert_matches_onnxruntime(model, feeds, tmp_path, atol=1)
