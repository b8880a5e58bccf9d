"""Resize and Upsample against onnxruntime, for what the ONNX node cases leave out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.convert.conftest import assert_matches_onnxruntime, one_node_model

F = TensorProto.FLOAT


def _resize_model(shape, out, elem, *, sizes=None, scales=None, opset=19, **attrs):
    inits, names = [], ["x", ""]
    if scales is not None:
        inits.append(numpy_helper.from_array(np.asarray(scales, np.float32), "scales"))
        names.append("scales")
    else:
        inits.append(numpy_helper.from_array(np.asarray(sizes, np.int64), "sizes"))
        names += ["", "sizes"]
    node = helper.make_node("Resize", names, ["y"], **attrs)
    return one_node_model(
        node, [("x", elem, shape)], [("y", elem, out)], opset=opset, initializers=inits
    )


def test_trilinear_5d_sizes(tmp_path: Path) -> None:
    model = _resize_model([1, 2, 3, 4, 5], [1, 2, 5, 3, 8], F, sizes=[1, 2, 5, 3, 8], mode="linear")
    x = np.random.default_rng(0).standard_normal((1, 2, 3, 4, 5)).astype(np.float32)
    assert_matches_onnxruntime(model, {"x": x}, tmp_path)


def test_nearest_uint8_2x(tmp_path: Path) -> None:
    model = _resize_model(
        [1, 3, 4, 4],
        [1, 3, 8, 8],
        TensorProto.UINT8,
        scales=[1, 1, 2, 2],
        opset=13,
        mode="nearest",
        coordinate_transformation_mode="asymmetric",
        nearest_mode="floor",
    )
    x = np.random.default_rng(0).integers(0, 255, (1, 3, 4, 4)).astype(np.uint8)
    assert_matches_onnxruntime(model, {"x": x}, tmp_path)


# not align_corners: with scale * size not whole, onnxruntime maps by the rounded size and the
# ONNX reference (which the node cases hold us to) by the exact one
@pytest.mark.parametrize("coord", ["half_pixel", "asymmetric", "pytorch_half_pixel"])
def test_cubic_scales(coord: str, tmp_path: Path) -> None:
    model = _resize_model(
        [1, 2, 5, 7],
        [1, 2, 10, 10],
        F,
        scales=[1, 1, 2, 1.5],
        opset=13,
        mode="cubic",
        coordinate_transformation_mode=coord,
    )
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 7)).astype(np.float32)
    assert_matches_onnxruntime(model, {"x": x}, tmp_path)


def test_upsample_linear(tmp_path: Path) -> None:
    scales = numpy_helper.from_array(np.array([1, 1, 2, 3], np.float32), "scales")
    node = helper.make_node("Upsample", ["x", "scales"], ["y"], mode="linear")
    model = one_node_model(
        node, [("x", F, [1, 2, 3, 4])], [("y", F, [1, 2, 6, 12])], opset=9, initializers=[scales]
    )
    x = np.random.default_rng(0).standard_normal((1, 2, 3, 4)).astype(np.float32)
    assert_matches_onnxruntime(model, {"x": x}, tmp_path)


def test_linear_uint8_downsample_rounds(tmp_path: Path) -> None:
    model = _resize_model(
        [1, 1, 4, 6], [1, 1, 3, 4], TensorProto.UINT8, sizes=[1, 1, 3, 4], mode="linear"
    )
    x = np.random.default_rng(0).integers(0, 255, (1, 1, 4, 6)).astype(np.uint8)
    assert_matches_onnxruntime(model, {"x": x}, tmp_path, atol=1)


def test_cubic_float16(tmp_path: Path) -> None:
    h = TensorProto.FLOAT16
    model = _resize_model([1, 1, 4, 5], [1, 1, 6, 7], h, sizes=[1, 1, 6, 7], mode="cubic")
    x = np.random.default_rng(0).standard_normal((1, 1, 4, 5)).astype(np.float16)
    assert_matches_onnxruntime(model, {"x": x}, tmp_path, rtol=1e-2, atol=1e-2)
