"""NonMaxSuppression: a box whose IoU equals the threshold is kept, as in onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from tests.convert.conftest import assert_matches_onnxruntime, one_node_model


def test_nms_keeps_a_box_at_the_iou_threshold(tmp_path: Path) -> None:
    inits = [
        numpy_helper.from_array(np.array([5], dtype=np.int64), "max_boxes"),
        numpy_helper.from_array(np.array([0.5], dtype=np.float32), "iou"),
    ]
    node = helper.make_node("NonMaxSuppression", ["boxes", "scores", "max_boxes", "iou"], ["sel"])
    model = one_node_model(
        node,
        [("boxes", TensorProto.FLOAT, [1, 3, 4]), ("scores", TensorProto.FLOAT, [1, 1, 3])],
        [("sel", TensorProto.INT64, ["n", 3])],
        opset=11,
        initializers=inits,
    )
    boxes = np.array([[[0, 0, 1, 1], [0, 0, 1, 0.5], [0, 0, 1, 0.9]]], dtype=np.float32)
    scores = np.array([[[0.3, 0.2, 0.1]]], dtype=np.float32)
    assert_matches_onnxruntime(model, {"boxes": boxes, "scores": scores}, tmp_path)
