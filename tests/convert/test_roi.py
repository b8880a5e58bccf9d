"""RoiAlign with a fixed sampling ratio against onnx.reference (a real-model spatial_scale)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import tvmforge


@pytest.mark.parametrize("mode", ["avg", "max"])
@pytest.mark.parametrize("transform", ["half_pixel", "output_half_pixel"])
def test_roi_align_at_quarter_scale(mode: str, transform: str, tmp_path: Path) -> None:
    node = helper.make_node(
        "RoiAlign",
        ["X", "rois", "batch"],
        ["Y"],
        mode=mode,
        output_height=3,
        output_width=3,
        sampling_ratio=2,
        spatial_scale=0.25,
        coordinate_transformation_mode=transform,
    )
    graph = helper.make_graph(
        [node],
        "roi",
        [
            helper.make_tensor_value_info("X", TensorProto.FLOAT, [2, 2, 16, 16]),
            helper.make_tensor_value_info("rois", TensorProto.FLOAT, [3, 4]),
            helper.make_tensor_value_info("batch", TensorProto.INT64, [3]),
        ],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [3, 2, 3, 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 16)])
    model.ir_version = 8
    path = tmp_path / "roi.onnx"
    onnx.save(model, path)
    feeds = {
        "X": np.random.default_rng(0).standard_normal((2, 2, 16, 16)).astype(np.float32),
        "rois": np.array([[4, 8, 40, 36], [10, 2, 30, 60], [-8, 50, 70, 66]], np.float32),
        "batch": np.array([0, 1, 1], np.int64),
    }
    artifact = tvmforge.compile(path, tmp_path / "roi.so", validate=False, schedules_dir=None)
    (got,) = tvmforge.Session(artifact.library, threads=1).run(None, feeds)
    (want,) = ReferenceEvaluator(model).run(None, feeds)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
