"""Signal ops the frontend lacks: DFT and STFT as matmuls with constant DFT matrices, and
MelWeightMatrix (a constant computed at import)."""

from __future__ import annotations

import numpy as np

from ...errors import UnsupportedOperatorError
from ..registry import converter
from ._common import (
    const,
    constant_value,
    dtype_of,
    optional_input,
    runtime_tensor,
    scalar_dim,
    select_axis,
    static_shape,
)

#: Largest DFT matrix (rows x columns) we build.
_MAX_MATRIX = 1 << 22


@converter("DFT", since=17)
def dft17(bb, inputs, attr, params):
    """DFT-17: the signal axis is an attribute (default 1)."""
    return _dft(bb, inputs, int(attr.get("axis", 1)), attr, params)


@converter("DFT", since=20)
def dft20(bb, inputs, attr, params):
    """DFT-20: the signal axis is an optional input (default -2), constant or not.

    A run-time axis selects among the transforms along every signal axis when they all have
    one output shape (not one-sided, no ``dft_length``).
    """
    axis_expr = inputs[2] if len(inputs) > 2 else None
    axis = None if axis_expr is None else constant_value(axis_expr, params)
    if axis_expr is None or axis is not None:
        return _dft(bb, inputs, -2 if axis is None else int(axis.reshape(-1)[0]), attr, params)
    rank = len(static_shape(inputs[0]))
    candidates = {a: bb.normalize(_dft(bb, inputs, a, attr, params)) for a in range(rank - 1)}
    if len({tuple(static_shape(v)) for v in candidates.values()}) > 1:
        raise UnsupportedOperatorError(
            "DFT's axis input decides its output shape here (one-sided or dft_length); "
            "make it an initializer"
        )
    return select_axis(bb, axis_expr, rank, list(candidates), candidates.__getitem__)


def _dft(bb, inputs, axis: int, attr, params):
    """DFT, inverse DFT and their one-sided forms (rfft, irfft) along one signal axis."""
    n = _constant_int(inputs[1] if len(inputs) > 1 else None, "DFT", "dft_length", params)
    inverse, onesided = bool(attr.get("inverse", 0)), bool(attr.get("onesided", 0))
    return _transform(bb, inputs[0], axis, n, inverse=inverse, onesided=onesided)


@converter("STFT", since=17)
def stft(bb, inputs, attr, params):
    """Frames gathered at constant offsets, windowed, then a (one-sided) DFT of each."""
    from tvm import relax

    op = relax.op
    x = inputs[0]
    signal = static_shape(x)[1]
    window, frame_length = optional_input(inputs, 2), optional_input(inputs, 3)
    if any(runtime_tensor(e, params) for e in (inputs[1], frame_length)):
        return _run_time_stft(bb, x, inputs[1], window, frame_length, attr, params)
    step = _constant_int(inputs[1], "STFT", "frame_step", params)
    length = _constant_int(frame_length, "STFT", "frame_length", params)
    if length is None:
        length = signal if window is None else static_shape(window)[0]
    frames = 1 + (signal - length) // step
    offsets = np.arange(frames)[:, None] * step + np.arange(length)[None, :]
    framed = op.take(x, const(offsets, "int64"), axis=1)  # [batch, frames, length, 1 or 2]
    if window is not None:
        framed = op.multiply(framed, op.reshape(window, [length, 1]))
    onesided = bool(attr.get("onesided", 1))
    return _transform(bb, bb.normalize(framed), 2, None, inverse=False, onesided=onesided)


def _run_time_stft(bb, x, frame_step, window, frame_length, attr, params):
    """STFT with a frame_step or frame_length fed at run time: frames and frequencies are
    symbolic dims, each output a sum over the frame in TE."""
    from tvm import tirx

    step = scalar_dim(bb, frame_step, params, "frame_step")
    if frame_length is not None:
        length = scalar_dim(bb, frame_length, params, "frame_length")
    else:
        signal = static_shape(x)[1]
        length = tirx.IntImm("int64", signal if window is None else static_shape(window)[0])
    args = [x] if window is None else [x, window]
    onesided = bool(attr.get("onesided", 1))
    return bb.emit_te(_stft_te, *args, step=step, length=length, onesided=onesided)


def _stft_te(x, window=None, *, step, length, onesided: bool):
    """TE: [batch, frames, frequencies, 2] of ``x`` [batch, signal, 1 or 2] framed every
    ``step`` samples ``length`` long, each frame windowed and transformed."""
    from tvm import te, tirx

    batch, signal, parts = x.shape
    frames = (signal - length) // step + 1
    outputs = length // 2 + 1 if onesided else length
    j = te.reduce_axis((0, length), "j")
    zero = tirx.const(0, x.dtype)

    def value(b, f, t, p):
        weight = window[j].astype(x.dtype) if window is not None else tirx.const(1, x.dtype)
        re = x[b, f * step + j, 0] * weight
        im = x[b, f * step + j, 1] * weight if int(parts) == 2 else zero
        angle = (t * j % length).astype("float64") * (-2 * np.pi) / length.astype("float64")
        cos, sin = tirx.cos(angle).astype(x.dtype), tirx.sin(angle).astype(x.dtype)
        term = tirx.if_then_else(p == 0, re * cos - im * sin, re * sin + im * cos)
        return te.sum(term, axis=j)

    return te.compute((batch, frames, outputs, 2), value, name="stft")


def _transform(bb, x, axis: int, n: int | None, *, inverse: bool, onesided: bool):
    """The DFT of ``x`` along ``axis``, padded or cut to ``n`` points.

    The last dim holds (real) or (real, imaginary); the signal axis moves last and is
    multiplied by cosine and sine matrices built for the static signal length.
    """
    from tvm import relax

    op = relax.op
    shape = static_shape(x)
    rank = len(shape)
    axis %= rank
    length = shape[axis]
    if n is None:
        n = 2 * (length - 1) if inverse and onesided else length
    cos, sin, real_only = _matrices(length, n, inverse=inverse, onesided=onesided)
    dtype = dtype_of(x)
    perm = [d for d in range(rank - 1) if d != axis] + [axis]
    back = [int(d) for d in np.argsort(perm)]

    def part(k: int):
        value = op.take(x, const(k, "int64"), axis=rank - 1)
        return op.permute_dims(value, perm)

    def times(value, matrix):
        return op.matmul(value, const(matrix, dtype))

    re = part(0)
    if shape[-1] == 2:
        im = part(1)
        real = op.subtract(times(re, cos), times(im, sin))
        imag = op.add(times(re, sin), times(im, cos))
    else:
        real, imag = times(re, cos), times(re, sin)
    outputs = [real] if real_only else [real, imag]
    parts = [op.expand_dims(op.permute_dims(bb.normalize(v), back), rank - 1) for v in outputs]
    return parts[0] if real_only else op.concat(parts, axis=rank - 1)


def _constant_int(expr, op: str, what: str, params) -> int | None:
    if expr is None:
        return None
    value = constant_value(expr, params)
    if value is None:
        raise UnsupportedOperatorError(
            f"{op}'s {what} input must be a constant (the output shape depends on it); "
            "make it an initializer"
        )
    return int(value.reshape(-1)[0])


def _matrices(length: int, n: int, *, inverse: bool, onesided: bool):
    """(cos, sin, real_only): ``length`` x outputs matrices of the transform, in float64.

    For input ``a + ib`` the output is ``a @ cos - b @ sin`` (+ ``i (a @ sin + b @ cos)``).
    """
    if onesided and inverse:
        outputs, used = n, n // 2 + 1
    else:
        outputs, used = (n // 2 + 1 if onesided else n), n
    if length * outputs > _MAX_MATRIX:
        raise UnsupportedOperatorError(
            f"DFT of length {n} over {length} inputs needs a {length}x{outputs} matrix, "
            f"more than {_MAX_MATRIX} entries"
        )
    k = np.arange(length)[:, None]
    t = np.arange(outputs)[None, :]
    angle = 2 * np.pi * k * t / n * (1 if inverse else -1)
    cos, sin = np.cos(angle), np.sin(angle)
    if inverse:
        weight = np.ones(length)
        if onesided:  # irfft: the missing half is the conjugate mirror of the given one
            weight[1:] = 2
            if n % 2 == 0 and n // 2 < length:
                weight[n // 2] = 1
        cos, sin = cos * weight[:, None] / n, sin * weight[:, None] / n
    cos[used:] = 0
    sin[used:] = 0
    return cos, sin, inverse and onesided


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
