"""Tiny ONNX models for the tracking and nightly tests: one fused MatMul+Add+Relu task each."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def dense_relu(path: Path, width: int = 8, seed: int = 0, name: str = "dense") -> Path:
    """``y = relu(x @ w + b)`` with ``x`` of shape (1, width), seeded random weights."""
    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(rng.standard_normal((width, width)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal((width,)).astype(np.float32), "b")
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["m"]),
        helper.make_node("Add", ["m", "b"], ["a"]),
        helper.make_node("Relu", ["a"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, width])],
        [w, b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.save(model, path)
    return path


def write_pair(folder: Path) -> list[Path]:
    """The two models of ``examples/nightly/pair.toml``: alpha (width 8) and beta (width 16)."""
    folder.mkdir(parents=True, exist_ok=True)
    return [
        dense_relu(folder / "alpha.onnx", width=8, seed=0, name="alpha"),
        dense_relu(folder / "beta.onnx", width=16, seed=1, name="beta"),
    ]


if __name__ == "__main__":  # python -m tests.tiny_models examples/nightly/models
    import sys

    for written in write_pair(Path(sys.argv[1] if len(sys.argv) > 1 else ".")):
        print(written)
