"""ConvTranspose whose output_shape asks for more than the plain output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.convert.conftest import assert_matches_onnxruntime, one_node_model

F = TensorProto.FLOAT


@pytest.mark.parametrize("auto_pad", ["NOTSET", "SAME_UPPER"])
def test_conv_transpose_1d_output_shape(auto_pad: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((2, 3, 3)).astype(np.float32), "w")
    node = helper.make_node(
        "ConvTranspose", ["x", "w"], ["y"], strides=[2], output_shape=[10], auto_pad=auto_pad
    )
    model = one_node_model(
        node, [("x", F, [1, 2, 4])], [("y", F, [1, 3, 10])], opset=22, initializers=[w]
    )
    x = rng.standard_normal((1, 2, 4)).astype(np.float32)
    assert_matches_onnxruntime(model, {"x": x}, tmp_path)
