"""Shape and count parameters fed at run time: one compiled artifact serves every fed value."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from tests.convert.conftest import assert_each_matches_onnxruntime, one_node_model


def _nms_model() -> onnx.ModelProto:
    node = helper.make_node(
        "NonMaxSuppression", ["boxes", "scores", "max_boxes", "iou", "score"], ["sel"]
    )
    return one_node_model(
        node,
        [
            ("boxes", TensorProto.FLOAT, [1, 6, 4]),
            ("scores", TensorProto.FLOAT, [1, 2, 6]),
            ("max_boxes", TensorProto.INT64, [1]),
            ("iou", TensorProto.FLOAT, [1]),
            ("score", TensorProto.FLOAT, [1]),
        ],
        [("sel", TensorProto.INT64, ["n", 3])],
        opset=11,
    )


def test_nms_parameters_fed_at_run_time(tmp_path: Path) -> None:
    boxes = np.array(
        [[[0, 0, 1, 1], [0, 0.1, 1, 1.1], [0, -0.1, 1, 0.9],
          [0, 10, 1, 11], [0, 10.1, 1, 11.1], [0, 100, 1, 101]]],
        dtype=np.float32,
    )  # fmt: skip
    scores = np.array(
        [[[0.9, 0.75, 0.6, 0.95, 0.5, 0.3], [0.1, 0.8, 0.7, 0.2, 0.9, 0.6]]], dtype=np.float32
    )
    feeds = [
        {"max_boxes": np.array([m]), "iou": np.array([i], np.float32),
         "score": np.array([s], np.float32), "boxes": boxes, "scores": scores}
        for m, i, s in ((3, 0.5, 0.0), (1, 0.5, 0.0), (6, 0.95, 0.4), (2, 0.0, 0.0))
    ]  # fmt: skip
    assert_each_matches_onnxruntime(_nms_model(), feeds, tmp_path)


@pytest.mark.parametrize(
    ("align_corners", "sizes"),
    [(0, ([2, 3, 5, 6], [2, 1, 1, 7])), (1, ([2, 1, 3, 4, 5], [2, 3, 2, 1, 6]))],
)
def test_affine_grid_size_fed_at_run_time(
    tmp_path: Path, align_corners: int, sizes: tuple[list[int], ...]
) -> None:
    nd = len(sizes[0]) - 2
    node = helper.make_node("AffineGrid", ["theta", "size"], ["grid"], align_corners=align_corners)
    model = one_node_model(
        node,
        [("theta", TensorProto.FLOAT, [2, nd, nd + 1]), ("size", TensorProto.INT64, [nd + 2])],
        [("grid", TensorProto.FLOAT, ["n", *(f"s{i}" for i in range(nd)), nd])],
        opset=20,
    )
    theta = np.random.default_rng(0).standard_normal((2, nd, nd + 1)).astype(np.float32)
    feeds = [{"theta": theta, "size": np.array(s, np.int64)} for s in sizes]
    assert_each_matches_onnxruntime(model, feeds, tmp_path)


def test_col2im_shapes_fed_at_run_time(tmp_path: Path) -> None:
    node = helper.make_node("Col2Im", ["x", "image", "block"], ["y"])
    model = one_node_model(
        node,
        [
            ("x", TensorProto.FLOAT, [1, 4, 12]),
            ("image", TensorProto.INT64, [2]),
            ("block", TensorProto.INT64, [2]),
        ],
        [("y", TensorProto.FLOAT, [1, "c", "h", "w"])],
        opset=18,
    )
    x = np.random.default_rng(0).standard_normal((1, 4, 12)).astype(np.float32)
    feeds = [
        {"x": x, "image": np.array(image, np.int64), "block": np.array(block, np.int64)}
        for image, block in (([3, 7], [1, 4]), ([4, 5], [2, 2]), ([2, 7], [1, 2]))
    ]
    assert_each_matches_onnxruntime(model, feeds, tmp_path)


@pytest.mark.parametrize(
    ("op", "periodic"), [("HannWindow", 1), ("HammingWindow", 0), ("BlackmanWindow", 1)]
)
def test_window_size_fed_at_run_time(tmp_path: Path, op: str, periodic: int) -> None:
    node = helper.make_node(op, ["size"], ["w"], periodic=periodic)
    model = one_node_model(
        node, [("size", TensorProto.INT32, [])], [("w", TensorProto.FLOAT, ["n"])], opset=17
    )
    feeds = [{"size": np.array(n, np.int32)} for n in (10, 3, 64)]
    assert_each_matches_onnxruntime(model, feeds, tmp_path)


def test_stft_step_and_length_fed_at_run_time(tmp_path: Path) -> None:
    node = helper.make_node("STFT", ["x", "step", "", "length"], ["y"])
    model = one_node_model(
        node,
        [
            ("x", TensorProto.FLOAT, [1, 64, 1]),
            ("step", TensorProto.INT64, []),
            ("length", TensorProto.INT64, []),
        ],
        [("y", TensorProto.FLOAT, [1, "frames", "bins", 2])],
        opset=17,
    )
    x = np.random.default_rng(0).standard_normal((1, 64, 1)).astype(np.float32)
    feeds = [
        {"x": x, "step": np.array(step, np.int64), "length": np.array(length, np.int64)}
        for step, length in ((8, 16), (5, 12), (64, 64))
    ]
    assert_each_matches_onnxruntime(model, feeds, tmp_path, atol=1e-4)


def _expanded_range(elem_type: int) -> onnx.ModelProto:
    """A model of Range's ONNX function body: a Loop over a trip count computed at run time."""
    import onnx.inliner

    body = onnx.FunctionProto()
    body.CopyFrom(onnx.defs.get_schema("Range", 17).function_body)
    body.domain = "local"
    del body.opset_import[:]  # the body dates from opset 11; the inliner wants the model's
    body.opset_import.append(helper.make_opsetid("", 17))
    node = helper.make_node("Range", ["start", "limit", "delta"], ["y"], domain="local")
    model = one_node_model(
        node,
        [(name, elem_type, []) for name in ("start", "limit", "delta")],
        [("y", elem_type, ["n"])],
        opset=17,
    )
    model.opset_import.append(helper.make_opsetid("local", 1))
    model.functions.append(body)
    return onnx.inliner.inline_local_functions(model)


@pytest.mark.parametrize(("elem_type", "dtype"), [(TensorProto.FLOAT, np.float32),
                                                  (TensorProto.INT32, np.int32)])  # fmt: skip
def test_expanded_range_loop_with_a_run_time_trip_count(
    tmp_path: Path, elem_type: int, dtype: type
) -> None:
    model = _expanded_range(elem_type)
    assert [n.op_type for n in model.graph.node].count("Loop") == 1
    feeds = [
        {"start": np.array(a, dtype), "limit": np.array(b, dtype), "delta": np.array(d, dtype)}
        for a, b, d in ((1, 10, 3), (10, -4, -2), (0, 0, 1), (2, 7, 1))
    ]
    assert_each_matches_onnxruntime(model, feeds, tmp_path)
