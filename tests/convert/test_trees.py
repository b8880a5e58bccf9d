"""ai.onnx.ml TreeEnsemble against onnx.reference, for every aggregate function."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import tvmforge


def _ensemble(aggregate: int) -> onnx.ModelProto:
    """Two trees over two features and two targets (a LEQ/GT tree and a one-split tree)."""
    node = helper.make_node(
        "TreeEnsemble",
        ["X"],
        ["Y"],
        domain="ai.onnx.ml",
        aggregate_function=aggregate,
        n_targets=2,
        tree_roots=[0, 2],
        nodes_featureids=[0, 1, 1],
        nodes_modes=numpy_helper.from_array(np.array([0, 3, 1], np.uint8)),
        nodes_splits=numpy_helper.from_array(np.array([0.5, -1.0, 0.0], np.float32)),
        nodes_truenodeids=[1, 0, 3],
        nodes_trueleafs=[0, 1, 1],
        nodes_falsenodeids=[2, 1, 4],
        nodes_falseleafs=[1, 1, 1],
        nodes_missing_value_tracks_true=[1, 0, 0],
        leaf_targetids=[0, 1, 1, 0, 1],
        leaf_weights=numpy_helper.from_array(np.array([1, 2, 4, 8, 16], np.float32)),
    )
    graph = helper.make_graph(
        [node],
        "trees",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [6, 2])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [6, 2])],
    )
    opsets = [helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 5)]
    return helper.make_model(graph, opset_imports=opsets)


@pytest.mark.parametrize("aggregate", [0, 1, 2, 3])  # AVERAGE, SUM, MIN, MAX
def test_tree_ensemble_matches_reference(aggregate: int, tmp_path: Path) -> None:
    model = _ensemble(aggregate)
    path = tmp_path / "trees.onnx"
    onnx.save(model, path)
    x = np.array([[0, 0], [1, -2], [1, 3], [np.nan, 1], [0.5, -1], [2, np.nan]], np.float32)
    artifact = tvmforge.compile(path, tmp_path / "trees.so", validate=False, schedules_dir=None)
    (got,) = tvmforge.Session(artifact.library, threads=1).run(None, {"X": x})
    (want,) = ReferenceEvaluator(model).run(None, {"X": x})
    np.testing.assert_allclose(got, want, rtol=1e-6)
