"""OneHot with a constant depth and values fed at run time, against onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.convert.conftest import assert_matches_onnxruntime, one_node_model


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_one_hot_runtime_values(axis: int, tmp_path: Path) -> None:
    depth = numpy_helper.from_array(np.array(5, dtype=np.int64), "depth")
    node = helper.make_node("OneHot", ["i", "depth", "v"], ["y"], axis=axis)
    out = [2, 3]
    out.insert(axis if axis >= 0 else 2, 5)
    model = one_node_model(
        node,
        [("i", TensorProto.INT64, [2, 3]), ("v", TensorProto.FLOAT, [2])],
        [("y", TensorProto.FLOAT, out)],
        opset=11,
        initializers=[depth],
    )
    feeds = {"i": np.array([[0, 4, -1], [2, 7, -6]]), "v": np.array([-1.5, 3.0], np.float32)}
    assert_matches_onnxruntime(model, feeds, tmp_path)
