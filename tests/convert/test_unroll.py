"""Unrolling Scan and Loop: the unrolled model computes what onnxruntime computes on the original."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tvmforge.convert.rewrites.unroll import MAX_ITERATIONS, unroll_loops
from tvmforge.errors import UnsupportedOperatorError

F, I64, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL


def _model(node, inputs, outputs, opset, initializers=()):
    graph = helper.make_graph([node], "g", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def _run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def _assert_unrolls(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> onnx.ModelProto:
    unrolled = unroll_loops(model)
    assert not {"Scan", "Loop"} & {n.op_type for n in unrolled.graph.node}
    for want, got in zip(_run(model, feeds), _run(unrolled, feeds), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    return unrolled


def _sum_body(state_shape: list[int], item_shape: list[int]) -> onnx.GraphProto:
    """state += item; emits the new state and state * item."""
    return helper.make_graph(
        [
            helper.make_node("Add", ["s_in", "item"], ["s_out"]),
            helper.make_node("Mul", ["s_out", "item"], ["scan_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("s_in", F, state_shape),
            helper.make_tensor_value_info("item", F, item_shape),
        ],
        [
            helper.make_tensor_value_info("s_out", F, state_shape),
            helper.make_tensor_value_info("scan_out", F, item_shape),
        ],
    )


def _scan9(length: int) -> onnx.ModelProto:
    node = helper.make_node(
        "Scan",
        ["init", "x"],
        ["final", "ys"],
        num_scan_inputs=1,
        body=_sum_body([3], [3]),
        scan_input_axes=[1],
        scan_input_directions=[1],
        scan_output_axes=[-1],
        scan_output_directions=[1],
    )
    return _model(
        node,
        [
            helper.make_tensor_value_info("init", F, [3]),
            helper.make_tensor_value_info("x", F, [3, length]),
        ],
        [
            helper.make_tensor_value_info("final", F, [3]),
            helper.make_tensor_value_info("ys", F, [3, length]),
        ],
        opset=17,
    )


def test_scan9_axes_and_directions_unroll() -> None:
    rng = np.random.default_rng(0)
    feeds = {"init": rng.random(3, dtype=np.float32), "x": rng.random((3, 4), dtype=np.float32)}
    unrolled = _assert_unrolls(_scan9(4), feeds)
    assert [n.op_type for n in unrolled.graph.node].count("Add") == 4


def test_scan8_unrolls_each_batch_item() -> None:
    node = helper.make_node(
        "Scan", ["", "init", "x"], ["final", "ys"], num_scan_inputs=1, body=_sum_body([2], [2])
    )
    model = _model(
        node,
        [
            helper.make_tensor_value_info("init", F, [2, 2]),
            helper.make_tensor_value_info("x", F, [2, 3, 2]),
        ],
        [
            helper.make_tensor_value_info("final", F, [2, 2]),
            helper.make_tensor_value_info("ys", F, [2, 3, 2]),
        ],
        opset=8,
    )
    rng = np.random.default_rng(1)
    feeds = {
        "init": rng.random((2, 2), dtype=np.float32),
        "x": rng.random((2, 3, 2), dtype=np.float32),
    }
    _assert_unrolls(model, feeds)


def _loop(trip: str, scan_len: int | None) -> onnx.ModelProto:
    """y += iteration number (as float) per step; scan output y when ``scan_len`` is given."""
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Cast", ["i"], ["fi"], to=F),
            helper.make_node("Add", ["y_in", "fi"], ["y_out"]),
            helper.make_node("Identity", ["y_out"], ["scanned"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", I64, []),
            helper.make_tensor_value_info("cond_in", B, []),
            helper.make_tensor_value_info("y_in", F, [2]),
        ],
        [
            helper.make_tensor_value_info("cond_out", B, []),
            helper.make_tensor_value_info("y_out", F, [2]),
            helper.make_tensor_value_info("scanned", F, [2]),
        ],
    )
    node = helper.make_node("Loop", [trip, "", "y"], ["final", "ys"], body=body)
    trip_value = numpy_helper.from_array(np.array(5, dtype=np.int64), "trip")
    inputs = [helper.make_tensor_value_info("y", F, [2])]
    if trip == "m":
        inputs.append(helper.make_tensor_value_info("m", I64, []))
    return _model(
        node,
        inputs,
        [
            helper.make_tensor_value_info("final", F, [2]),
            helper.make_tensor_value_info("ys", F, [scan_len, 2] if scan_len else None),
        ],
        opset=17,
        initializers=[trip_value] if trip == "trip" else [],
    )


def test_loop_with_constant_trip_count_unrolls() -> None:
    _assert_unrolls(_loop("trip", None), {"y": np.ones(2, dtype=np.float32)})


def test_loop_runs_as_long_as_its_static_scan_output() -> None:
    feeds = {"y": np.ones(2, dtype=np.float32), "m": np.array(5, dtype=np.int64)}
    _assert_unrolls(_loop("m", 5), feeds)


def test_loop_with_runtime_trip_count_is_left_alone() -> None:
    model = _loop("m", None)
    assert [n.op_type for n in unroll_loops(model).graph.node] == ["Loop"]


def test_too_many_iterations_refused_in_one_line() -> None:
    with pytest.raises(
        UnsupportedOperatorError, match=f"more than the limit of {MAX_ITERATIONS}"
    ) as err:
        unroll_loops(_scan9(MAX_ITERATIONS + 1))
    assert "\n" not in str(err.value)
