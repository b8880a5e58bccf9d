"""Split with empty parts, against onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from tests.convert.conftest import assert_matches_onnxruntime, one_node_model

F = TensorProto.FLOAT


def test_split_with_empty_parts(tmp_path: Path) -> None:
    sizes = numpy_helper.from_array(np.array([0, 2, 0, 3], dtype=np.int64), "sizes")
    node = helper.make_node("Split", ["x", "sizes"], ["a", "b", "c", "d"], axis=1)
    outs = [(n, F, [2, s]) for n, s in zip("abcd", [0, 2, 0, 3], strict=True)]
    model = one_node_model(node, [("x", F, [2, 5])], outs, opset=18, initializers=[sizes])
    x = np.arange(10, dtype=np.float32).reshape(2, 5)
    assert_matches_onnxruntime(model, {"x": x}, tmp_path)
