"""LpNormalization, CumSum, CumProd and Pow against onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.convert.conftest import assert_matches_onnxruntime, one_node_model

F = TensorProto.FLOAT


@pytest.mark.parametrize("p", [1, 2])
def test_lp_normalization(p: int, tmp_path: Path) -> None:
    node = helper.make_node("LpNormalization", ["x"], ["y"], axis=1, p=p)
    model = one_node_model(node, [("x", F, [2, 3, 4])], [("y", F, [2, 3, 4])], opset=22)
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    assert_matches_onnxruntime(model, {"x": x}, tmp_path)


def test_cumprod_reverse_exclusive(tmp_path: Path) -> None:
    axis = numpy_helper.from_array(np.array(1, dtype=np.int64), "axis")
    node = helper.make_node("CumProd", ["x", "axis"], ["y"], reverse=1, exclusive=1)
    model = one_node_model(
        node, [("x", F, [2, 5])], [("y", F, [2, 5])], opset=26, initializers=[axis]
    )
    x = np.random.default_rng(0).uniform(0.5, 1.5, (2, 5)).astype(np.float32)
    assert_matches_onnxruntime(model, {"x": x}, tmp_path)


@pytest.mark.parametrize("axis", [0, -1])
def test_cumsum_with_runtime_axis(axis: int, tmp_path: Path) -> None:
    node = helper.make_node("CumSum", ["x", "axis"], ["y"], reverse=1)
    model = one_node_model(
        node, [("x", F, [3, 4]), ("axis", TensorProto.INT32, [])], [("y", F, [3, 4])], opset=14
    )
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    assert_matches_onnxruntime(model, {"x": x, "axis": np.array(axis, dtype=np.int32)}, tmp_path)


@pytest.mark.parametrize(
    "base, exponent",
    [(TensorProto.FLOAT, TensorProto.INT64), (TensorProto.INT32, TensorProto.FLOAT),
     (TensorProto.INT64, TensorProto.INT64)],
)  # fmt: skip
def test_pow_mixed_types(base: int, exponent: int, tmp_path: Path) -> None:
    node = helper.make_node("Pow", ["x", "y"], ["z"])
    model = one_node_model(node, [("x", base, [5]), ("y", exponent, [5])], [("z", base, [5])],
                           opset=15)  # fmt: skip
    x = np.array([1, 2, 3, -2, 5]).astype(helper.tensor_dtype_to_np_dtype(base))
    y = np.array([3, 0, 2, 3, 1]).astype(helper.tensor_dtype_to_np_dtype(exponent))
    assert_matches_onnxruntime(model, {"x": x, "y": y}, tmp_path)
