"""One-node ONNX models compiled by tvmforge and compared with onnxruntime."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import helper


def one_node_model(
    node: onnx.NodeProto,
    inputs: Sequence[tuple[str, int, list[int]]],
    outputs: Sequence[tuple[str, int, list[int] | None]],
    *,
    opset: int,
    initializers: Sequence[onnx.TensorProto] = (),
) -> onnx.ModelProto:
    graph = helper.make_graph(
        [node],
        "one_node",
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
        initializer=list(initializers),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def assert_matches_onnxruntime(
    model: onnx.ModelProto,
    feeds: Mapping[str, np.ndarray],
    tmp_path: Path,
    *,
    rtol: float = 1e-4,
    atol: float = 1e-5,
) -> None:
    """Compile ``model`` untuned for the host and compare every output with onnxruntime."""
    assert_each_matches_onnxruntime(model, [feeds], tmp_path, rtol=rtol, atol=atol)


def assert_each_matches_onnxruntime(
    model: onnx.ModelProto,
    runs: Sequence[Mapping[str, np.ndarray]],
    tmp_path: Path,
    *,
    rtol: float = 1e-4,
    atol: float = 1e-5,
) -> None:
    """Compile ``model`` once (input shapes from the first feeds) and compare every output
    with onnxruntime for each feeds in ``runs``: one artifact serves run-time shape parameters."""
    import onnxruntime as ort

    import tvmforge

    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    shapes = {k: tuple(v.shape) for k, v in runs[0].items()}
    artifact = tvmforge.compile(
        path, tmp_path / "model.so", input_shapes=shapes, validate=False, schedules_dir=None
    )
    session = tvmforge.Session(artifact.library, threads=1)
    reference = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for feeds in runs:
        got = session.run(None, dict(feeds))
        want = reference.run(None, dict(feeds))
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert g.shape == w.shape, feeds
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
