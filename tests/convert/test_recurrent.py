"""LSTM, GRU and RNN converters against onnxruntime (one-node models)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper

from tests.convert.conftest import assert_matches_onnxruntime, one_node_model

F = TensorProto.FLOAT
SEQ, BATCH, IN, HID = 3, 2, 4, 5


def _model(op: str, gates: int, direction: str, *, opset: int = 17, **attrs):
    dirs = 2 if direction == "bidirectional" else 1
    names = ["X", "W", "R", "B", "seq_lens", "init_h"]
    shapes = [
        [SEQ, BATCH, IN],
        [dirs, gates * HID, IN],
        [dirs, gates * HID, HID],
        [dirs, 2 * gates * HID],
        [BATCH],
        [dirs, BATCH, HID],
    ]
    types = [F, F, F, F, TensorProto.INT32, F]
    if op == "LSTM":
        names += ["init_c", "P"]
        shapes += [[dirs, BATCH, HID], [dirs, 3 * HID]]
        types += [F, F]
    outputs = ["Y", "Y_h"] + (["Y_c"] if op == "LSTM" else [])
    out_shapes = [[SEQ, dirs, BATCH, HID], [dirs, BATCH, HID], [dirs, BATCH, HID]]
    node = helper.make_node(op, names, outputs, hidden_size=HID, direction=direction, **attrs)
    model = one_node_model(
        node,
        list(zip(names, types, shapes, strict=True)),
        [(o, F, s) for o, s in zip(outputs, out_shapes, strict=False)],
        opset=opset,
    )
    rng = np.random.default_rng(0)
    feeds = {
        n: (rng.standard_normal(s) * 0.5).astype(np.float32)
        for n, s, t in zip(names, shapes, types, strict=True)
        if t == F
    }
    feeds["seq_lens"] = np.array([SEQ, SEQ - 1], dtype=np.int32)
    return model, feeds


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_lstm(direction: str, tmp_path: Path) -> None:
    model, feeds = _model("LSTM", 4, direction)
    assert_matches_onnxruntime(model, feeds, tmp_path)


def test_lstm_clip_and_input_forget(tmp_path: Path) -> None:
    model, feeds = _model("LSTM", 4, "forward", clip=0.5, input_forget=1)
    assert_matches_onnxruntime(model, feeds, tmp_path)


@pytest.mark.parametrize("linear_before_reset", [0, 1])
def test_gru(linear_before_reset: int, tmp_path: Path) -> None:
    model, feeds = _model("GRU", 3, "bidirectional", linear_before_reset=linear_before_reset)
    assert_matches_onnxruntime(model, feeds, tmp_path)


def test_rnn_with_relu_activation(tmp_path: Path) -> None:
    model, feeds = _model("RNN", 1, "forward", activations=["Relu"])
    assert_matches_onnxruntime(model, feeds, tmp_path)


def test_lstm_opset_22(tmp_path: Path) -> None:
    model, feeds = _model("LSTM", 4, "forward", opset=22)
    assert_matches_onnxruntime(model, feeds, tmp_path)
