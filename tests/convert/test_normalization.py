"""LayerNormalization (with Mean and InvStdDev), RMSNormalization and BatchNormalization in
training mode, against onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.convert.conftest import assert_matches_onnxruntime, one_node_model

F = TensorProto.FLOAT


@pytest.mark.parametrize("axis", [-1, 1])
def test_layer_normalization_three_outputs(axis: int, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    norm_shape = [3, 4][axis:] if axis == -1 else [3, 4]
    inits = [
        numpy_helper.from_array(rng.standard_normal(norm_shape).astype(np.float32), "scale"),
        numpy_helper.from_array(rng.standard_normal(norm_shape).astype(np.float32), "bias"),
    ]
    stat = [2, 3, 1] if axis == -1 else [2, 1, 1]
    node = helper.make_node(
        "LayerNormalization", ["x", "scale", "bias"], ["y", "mean", "inv_std"], axis=axis
    )
    model = one_node_model(
        node,
        [("x", F, [2, 3, 4])],
        [("y", F, [2, 3, 4]), ("mean", F, stat), ("inv_std", F, stat)],
        opset=17,
        initializers=inits,
    )
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    assert_matches_onnxruntime(model, {"x": x}, tmp_path)


def test_rms_normalization_over_every_axis(tmp_path: Path) -> None:
    scale = numpy_helper.from_array(np.linspace(0.5, 1.5, 12, dtype=np.float32).reshape(3, 4), "s")
    node = helper.make_node("RMSNormalization", ["x", "s"], ["y"], axis=0)
    model = one_node_model(
        node, [("x", F, [3, 4])], [("y", F, [3, 4])], opset=23, initializers=[scale]
    )
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    assert_matches_onnxruntime(model, {"x": x}, tmp_path)


def test_batch_normalization_training_mode(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.uniform(0.5, 1.5, 3).astype(np.float32), name)
        for name in ("scale", "bias", "mean", "var")
    ]
    node = helper.make_node(
        "BatchNormalization",
        ["x", "scale", "bias", "mean", "var"],
        ["y", "running_mean", "running_var"],
        training_mode=1,
        momentum=0.8,
    )
    outputs = [("y", F, [2, 3, 4, 5]), ("running_mean", F, [3]), ("running_var", F, [3])]
    model = one_node_model(node, [("x", F, [2, 3, 4, 5])], outputs, opset=15, initializers=inits)
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    assert_matches_onnxruntime(model, {"x": x}, tmp_path)
