"""STFT and MelWeightMatrix with constant parameters, against onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from tests.convert.conftest import assert_matches_onnxruntime, one_node_model

F = TensorProto.FLOAT


def test_stft_with_window_and_constant_step(tmp_path: Path) -> None:
    step = numpy_helper.from_array(np.array(6, np.int64), "step")
    node = helper.make_node("STFT", ["signal", "step", "window"], ["y"])
    model = one_node_model(
        node,
        [("signal", F, [2, 64, 1]), ("window", F, [16])],
        [("y", F, [2, 9, 9, 2])],
        opset=17,
        initializers=[step],
    )
    rng = np.random.default_rng(0)
    feeds = {
        "signal": rng.standard_normal((2, 64, 1)).astype(np.float32),
        "window": np.hanning(16).astype(np.float32),
    }
    assert_matches_onnxruntime(model, feeds, tmp_path, rtol=1e-4, atol=1e-4)


def test_mel_weight_matrix_is_folded(tmp_path: Path) -> None:
    values = [np.int64(8), np.int64(32), np.int64(16000), np.float32(100), np.float32(6000)]
    names = ["bins", "dft", "rate", "low", "high"]
    node = helper.make_node("MelWeightMatrix", names, ["mel"])
    inits = [numpy_helper.from_array(np.array(v), n) for v, n in zip(values, names, strict=True)]
    model = one_node_model(
        helper.make_node("Add", ["mel", "x"], ["y"]),
        [("x", F, [17, 8])],
        [("y", F, [17, 8])],
        opset=17,
        initializers=inits,
    )
    model.graph.node.insert(0, node)
    x = np.zeros((17, 8), np.float32)
    assert_matches_onnxruntime(model, {"x": x}, tmp_path)
