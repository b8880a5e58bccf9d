"""Cast to and from float8/float4/int4/int2 and float16/bfloat16, bit for bit against onnx's
reference (onnxruntime runs none of the stored types), through a compiled artifact."""

from __future__ import annotations

from pathlib import Path

import ml_dtypes
import numpy as np
import onnx
import pytest
from onnx import TensorProto as TP
from onnx import helper
from onnx.reference import ReferenceEvaluator

import tvmforge

F8 = [TP.FLOAT8E4M3FN, TP.FLOAT8E4M3FNUZ, TP.FLOAT8E5M2, TP.FLOAT8E5M2FNUZ]
SMALL_INTS = [TP.INT4, TP.UINT4, TP.INT2, TP.UINT2]
STORED = [*F8, TP.FLOAT4E2M1, TP.FLOAT8E8M0, *SMALL_INTS]


def _floats() -> np.ndarray:
    """Every float16 value (grids, midpoints, subnormals, inf, NaN) and random float32 bits."""
    rng = np.random.default_rng(0)
    halves = np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(np.float32)
    bits = rng.integers(0, 1 << 32, 4096, dtype=np.uint64).astype(np.uint32)
    ties = (bits & np.uint32(0xFFFF0000)) | np.uint32(0x8000)  # bfloat16 halfway cases
    return np.concatenate([halves, bits.view(np.float32), ties.view(np.float32)])


def _model(nodes, inputs, outputs) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "casts",
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 25)])
    model.ir_version = 11
    return model


def _run(model: onnx.ModelProto, feeds: dict, tmp_path: Path):
    path = tmp_path / "casts.onnx"
    onnx.save(model, str(path))
    shapes = {k: v.shape for k, v in feeds.items()}
    artifact = tvmforge.compile(
        path, tmp_path / "casts.so", input_shapes=shapes, validate=False, schedules_dir=None
    )
    session = tvmforge.Session(artifact.library, threads=1)
    return session, session.run(None, feeds), ReferenceEvaluator(model).run(None, feeds)


def _same_bits(got: np.ndarray, want: np.ndarray, name: str) -> None:
    assert got.dtype == want.dtype, name
    if got.dtype.itemsize == 1:
        np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8), err_msg=name)
    else:  # float16 / bfloat16 / float32: equal values, same zero signs, NaN where NaN
        g, w = got.astype(np.float32), want.astype(np.float32)
        assert np.array_equal(g, w, equal_nan=True), name
        assert np.array_equal(np.signbit(g), np.signbit(w)) or np.isnan(w).any(), name


def test_float_to_stored_types_matches_reference(tmp_path: Path) -> None:
    nodes, outputs = [], []
    for to in [*F8, TP.FLOAT4E2M1]:
        for saturate in (0, 1):
            name = f"{TP.DataType.Name(to)}_sat{saturate}"
            nodes.append(helper.make_node("Cast", ["x"], [name], to=to, saturate=saturate))
            outputs.append(name)
    for mode in ("up", "nearest", "down"):
        for saturate in (0, 1):
            name = f"E8M0_{mode}_sat{saturate}"
            nodes.append(
                helper.make_node(
                    "Cast", ["x"], [name], to=TP.FLOAT8E8M0, saturate=saturate, round_mode=mode
                )
            )
            outputs.append(name)
    for to in SMALL_INTS:
        name = TP.DataType.Name(to)
        nodes.append(helper.make_node("Cast", ["small"], [name], to=to))
        outputs.append(name)
    for to in (TP.FLOAT16, TP.BFLOAT16):  # and back: the round trip must be exact too
        name = TP.DataType.Name(to)
        nodes.append(helper.make_node("Cast", ["x"], [name], to=to))
        nodes.append(helper.make_node("Cast", [name], [f"{name}_back"], to=TP.FLOAT))
        outputs += [name, f"{name}_back"]
    x = _floats()
    small = np.arange(-20, 20, 0.25, dtype=np.float32)
    model = _model(
        nodes,
        [("x", TP.FLOAT, list(x.shape)), ("small", TP.FLOAT, list(small.shape))],
        [(n, 0, None) for n in outputs],
    )
    model = onnx.shape_inference.infer_shapes(model)
    session, got, want = _run(model, {"x": x, "small": small}, tmp_path)
    small_ints = {TP.DataType.Name(to): to for to in SMALL_INTS}
    for name, g, w in zip(outputs, got, want, strict=True):
        if name in small_ints:  # out of range is undefined: numpy's cast differs by CPU
            info = ml_dtypes.iinfo(helper.tensor_dtype_to_np_dtype(small_ints[name]))
            inside = (np.trunc(small) >= info.min) & (np.trunc(small) <= info.max)
            g, w = g[inside], w[inside]
        _same_bits(g, w, name)
    dtypes = {o.name: o.dtype for o in session.output_specs}
    assert dtypes["FLOAT8E4M3FN_sat0"] == "float8_e4m3fn" and dtypes["INT4"] == "int4"


@pytest.mark.parametrize("to", [TP.FLOAT, TP.FLOAT16])
def test_stored_types_to_float_matches_reference(to, tmp_path: Path) -> None:
    feeds, nodes, inputs = {}, [], []
    for elem in STORED:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(elem))
        if elem in SMALL_INTS:
            info = ml_dtypes.iinfo(dtype)
            values = np.arange(info.min, info.max + 1).astype(dtype)
        else:  # every bit pattern
            count = 16 if elem == TP.FLOAT4E2M1 else 256
            values = np.arange(count, dtype=np.uint8).view(dtype)
        name = TP.DataType.Name(elem)
        feeds[name] = values
        inputs.append((name, elem, [values.size]))
        nodes.append(helper.make_node("Cast", [name], [f"{name}_out"], to=to))
    model = _model(nodes, inputs, [(f"{n}_out", to, [feeds[n].size]) for n in feeds])
    session, got, want = _run(model, feeds, tmp_path)
    for name, g, w in zip(feeds, got, want, strict=True):
        _same_bits(g, w, name)
    types = [i.type for i in session.get_inputs()]
    assert types[:2] == ["tensor(float8e4m3fn)", "tensor(float8e4m3fnuz)"]
