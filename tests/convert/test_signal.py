"""DFT and STFT against onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.convert.conftest import assert_matches_onnxruntime, one_node_model

F = TensorProto.FLOAT


@pytest.mark.parametrize(("inverse", "onesided", "parts", "out"), [(0, 1, 1, 5), (1, 0, 2, 8)])
def test_dft17(inverse: int, onesided: int, parts: int, out: int, tmp_path: Path) -> None:
    node = helper.make_node("DFT", ["x"], ["y"], axis=1, inverse=inverse, onesided=onesided)
    model = one_node_model(node, [("x", F, [2, 8, parts])], [("y", F, [2, out, 2])], opset=17)
    x = np.random.default_rng(0).standard_normal((2, 8, parts)).astype(np.float32)
    assert_matches_onnxruntime(model, {"x": x}, tmp_path, atol=1e-4)


def test_stft_with_window(tmp_path: Path) -> None:
    step = numpy_helper.from_array(np.array(4, dtype=np.int64), "step")
    node = helper.make_node("STFT", ["x", "step", "window"], ["y"])
    model = one_node_model(
        node,
        [("x", F, [1, 32, 1]), ("window", F, [8])],
        [("y", F, [1, 7, 5, 2])],
        opset=17,
        initializers=[step],
    )
    rng = np.random.default_rng(0)
    feeds = {
        "x": rng.standard_normal((1, 32, 1)).astype(np.float32),
        "window": np.hanning(8).astype(np.float32),
    }
    assert_matches_onnxruntime(model, feeds, tmp_path, atol=1e-4)


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
