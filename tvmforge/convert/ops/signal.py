"""STFT (constant frame step and length: one gather, a DFT as matmuls) and MelWeightMatrix."""

from __future__ import annotations

import numpy as np

from ...errors import UnsupportedOperatorError
from ..registry import converter
from ._common import const, constant_value, dtype_of, static_shape


def _constant_int(expr, params, what: str) -> int:
    value = constant_value(expr, params)
    if value is None:
        raise UnsupportedOperatorError(
            f"STFT needs a constant {what}; freeze it into the model (an initializer)"
        )
    return int(value.reshape(-1)[0])


@converter("STFT", since=17)
def stft(bb, inputs, attr, params):
    """Windowed DFT of each frame: (batch, frames, bins, 2), one-sided by default."""
    from tvm import relax

    op = relax.op
    signal, step = inputs[0], inputs[1]
    window = inputs[2] if len(inputs) > 2 else None
    length_expr = inputs[3] if len(inputs) > 3 else None
    batch, samples, parts = static_shape(signal)
    dtype = dtype_of(signal)
    step = _constant_int(step, params, "frame_step")
    if length_expr is not None:
        size = _constant_int(length_expr, params, "frame_length")
    elif window is not None:
        size = static_shape(window)[0]
    else:
        size = samples
    frames = 1 + (samples - size) // step
    index = (np.arange(frames)[:, None] * step + np.arange(size)[None, :]).reshape(-1)
    framed = op.take(signal, const(index, "int64"), axis=1)
    framed = bb.normalize(op.reshape(framed, [batch, frames, size, parts]))
    if window is not None:
        framed = bb.normalize(op.multiply(framed, op.reshape(window, [1, 1, size, 1])))
    bins = size // 2 + 1 if int(attr.get("onesided", 1)) else size
    angle = 2 * np.pi * np.outer(np.arange(size), np.arange(bins)) / size
    cos, sin = const(np.cos(angle), dtype), const(np.sin(angle), dtype)

    def part(k: int):
        return bb.normalize(op.take(framed, const(k, "int64"), axis=3))

    real = part(0)
    re = op.matmul(real, cos)
    im = op.negative(op.matmul(real, sin))
    if parts == 2:
        imag = part(1)
        re = op.add(re, op.matmul(imag, sin))
        im = op.add(im, op.matmul(imag, cos))
    return op.stack([bb.normalize(re), bb.normalize(im)], axis=3)


@converter("MelWeightMatrix", since=17)
def mel_weight_matrix(bb, inputs, attr, params):
    """A constant: onnx.reference evaluates the node on its constant inputs at import."""
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    values = [constant_value(x, params) for x in inputs]
    if any(v is None for v in values):
        raise UnsupportedOperatorError(
            "MelWeightMatrix needs constant inputs; freeze them into the model (initializers)"
        )
    names = [f"in{i}" for i in range(len(values))]
    extra = {"output_datatype": int(attr["output_datatype"])} if "output_datatype" in attr else {}
    node = helper.make_node("MelWeightMatrix", names, ["out"], **extra)
    graph = helper.make_graph(
        [node],
        "mel",
        [],
        [helper.make_empty_tensor_value_info("out")],
        initializer=[numpy_helper.from_array(v, n) for v, n in zip(values, names, strict=True)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    (out,) = ReferenceEvaluator(model).run(None, {})
    return const(out, out.dtype.name)
