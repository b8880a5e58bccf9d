"""Reshape, Slice and Pad whose shape parameters are fed at run time.

The frontend converts these ops only when the shape, starts/ends/axes/steps or pads are
constants (our constant path hands them to it unchanged). Fed at run time, ONNX's rules (0 and
-1 in a shape, clamping of slice bounds, pads that crop) are computed on small int64 tensors;
the output shape is read from them at run time (``shape_value``) into symbolic dims, and one TE
compute over those dims gathers the elements.
"""

from __future__ import annotations

from ...errors import UnsupportedOperatorError
from ..registry import converter
from ._common import (
    as_int64,
    const,
    dtype_of,
    emit_indexed,
    frontend_converter,
    normalized_axes,
    optional_input,
    runtime_tensor,
    shape_tensor,
    shape_value,
    static_shape,
    text,
)


def _rank(data, op: str) -> int:
    """The rank of ``data``, which the run-time path needs statically."""
    ndim = data.ty.ndim
    if ndim == -1:
        raise UnsupportedOperatorError(
            f"{op} with run-time shape parameters needs a known input rank; "
            "bind its input shape with --input-shape"
        )
    return ndim


def _scatter(bb, base, axes, values):
    """``base`` with ``values`` written at the positions ``axes``."""
    from tvm import relax

    return bb.normalize(relax.op.scatter_elements(base, axes, values, axis=0))


# --------------------------------------------------------------------------- Reshape


@converter("Reshape", since=5, onward=True)
def reshape(bb, inputs, attr, params):
    """A run-time shape: its 0s copy the input's dims (unless ``allowzero``), its -1 takes
    what the other dims leave of the element count."""
    from tvm import relax

    op = relax.op
    data, shape = inputs
    if not runtime_tensor(shape, params):
        return frontend_converter("Reshape", 13)(bb, inputs, attr, params)
    if not isinstance(data.ty, relax.TensorType):  # a shape value
        data = bb.normalize(op.shape_to_tensor(data))
    target = as_int64(bb, shape)
    (length,) = static_shape(target)
    dims = shape_tensor(bb, data)
    if not attr.get("allowzero", 0):
        rank = _rank(data, "Reshape")
        if rank >= length:
            copied = op.strided_slice(dims, axes=[0], begin=[0], end=[length])
        else:
            copied = op.concat([dims, const([0] * (length - rank), "int64")], axis=0)
        zero = op.equal(target, const(0, "int64"))
        target = bb.normalize(op.where(zero, copied, target))
    unknown = bb.normalize(op.equal(target, const(-1, "int64")))
    known = op.prod(op.where(unknown, const(1, "int64"), target))
    inferred = op.floor_divide(op.prod(dims), op.maximum(known, const(1, "int64")))
    target = bb.normalize(op.where(unknown, inferred, target))
    return op.reshape(data, shape_value(bb, target, params, "reshape"))


# --------------------------------------------------------------------------- Slice


@converter("Slice", since=10, onward=True)
def slice_(bb, inputs, attr, params):
    """Run-time starts, ends, axes or steps, clamped as ONNX says; constants go to the
    frontend."""
    data = inputs[0]
    if not any(runtime_tensor(x, params) for x in inputs[1:]):
        return frontend_converter("Slice", 13)(bb, inputs, attr, params)
    rank = _rank(data, "Slice")
    starts, ends, steps, lengths = _slice_bounds(bb, inputs, rank)
    dims = shape_value(bb, lengths, params, "slice").values

    def element(x, tables, i):
        first, step = tables
        return x[tuple(first[k] + i[k] * step[k] for k in range(rank))]

    return emit_indexed(bb, data, dims, element, [starts, steps], name="slice")


def _slice_bounds(bb, inputs, rank: int):
    """Per dim of the input: first index, end, step and output length (int64 tensors)."""
    from tvm import relax

    op = relax.op
    starts, ends = as_int64(bb, inputs[1]), as_int64(bb, inputs[2])
    (count,) = static_shape(starts)
    axes, steps = optional_input(inputs, 3), optional_input(inputs, 4)
    axes = const(list(range(count)), "int64") if axes is None else normalized_axes(bb, axes, rank)
    steps = const([1] * count, "int64") if steps is None else as_int64(bb, steps)
    dims = shape_tensor(bb, inputs[0])
    starts = _scatter(bb, const([0] * rank, "int64"), axes, starts)
    ends = _scatter(bb, dims, axes, ends)
    steps = _scatter(bb, const([1] * rank, "int64"), axes, steps)

    zero, one = const(0, "int64"), const(1, "int64")
    forward = bb.normalize(op.greater(steps, zero))
    high = bb.normalize(op.where(forward, dims, op.subtract(dims, one)))
    end_low = op.where(forward, zero, const(-1, "int64"))

    def clamp(index, low):
        index = op.where(op.less(index, zero), op.add(index, dims), index)
        return bb.normalize(op.minimum(op.maximum(index, low), high))

    starts, ends = clamp(starts, zero), clamp(ends, end_low)
    # ceil((end - start) / step) is -floor((start - end) / step), for either sign of step
    count = op.negative(op.floor_divide(op.subtract(starts, ends), steps))
    lengths = bb.normalize(op.maximum(count, zero))
    return starts, ends, steps, lengths


# --------------------------------------------------------------------------- Pad

_MODES = ("constant", "edge", "reflect")


@converter("Pad", since=11)
@converter("Pad", since=13)
def pad_11(bb, inputs, attr, params):
    """Pad-11/13: pads and the constant value are inputs."""
    return _pad(bb, inputs, attr, params, 11, _MODES)


@converter("Pad", since=18)
def pad_18(bb, inputs, attr, params):
    """Pad-18: an ``axes`` input."""
    return _pad(bb, inputs, attr, params, 18, _MODES)


@converter("Pad", since=19, onward=True)
def pad_19(bb, inputs, attr, params):
    """Pad-19 on: mode ``wrap``."""
    return _pad(bb, inputs, attr, params, 19, (*_MODES, "wrap"))


def _pad(bb, inputs, attr, params, opset: int, modes: tuple[str, ...]):
    """Run-time pads, constant value or axes: the output shape is the input's plus the pads
    (negative ones crop); constants go to the frontend."""
    from tvm import relax

    op = relax.op
    data, pads = inputs[0], inputs[1]
    value, axes = optional_input(inputs, 2), optional_input(inputs, 3)
    if not any(runtime_tensor(x, params) for x in (pads, value, axes)):
        return frontend_converter("Pad", opset)(bb, inputs, attr, params)
    mode = text(attr.get("mode", "constant"))
    if mode not in modes:
        raise UnsupportedOperatorError(f"Pad-{opset} mode {mode!r}: expected one of {modes}")
    rank = _rank(data, "Pad")
    before, after = _pad_amounts(bb, as_int64(bb, pads), axes, rank)
    total = bb.normalize(op.add(op.add(shape_tensor(bb, data), before), after))
    dims = shape_value(bb, total, params, "pad").values
    dtype = dtype_of(data)
    value = const([0], dtype) if value is None else op.astype(op.reshape(value, [1]), dtype)
    tables = [before, bb.normalize(value)] if mode == "constant" else [before]
    return emit_indexed(bb, data, dims, _PAD_SOURCES[mode], tables, name=f"pad_{mode}")


def _pad_amounts(bb, pads, axes, rank: int):
    """Padding before and after every dim (int64 tensors of length ``rank``)."""
    from tvm import relax

    op = relax.op
    (length,) = static_shape(pads)
    count = length // 2
    before = bb.normalize(op.strided_slice(pads, axes=[0], begin=[0], end=[count]))
    after = bb.normalize(op.strided_slice(pads, axes=[0], begin=[count], end=[length]))
    if axes is None:
        return before, after
    axes = normalized_axes(bb, axes, rank)
    zeros = const([0] * rank, "int64")
    return _scatter(bb, zeros, axes, before), _scatter(bb, zeros, axes, after)


def _sources(x, before, i) -> list:
    """The input index each output index ``i`` comes from, before any border rule."""
    return [i[k] - before[k] for k in range(len(x.shape))]


def _constant_pad(x, tables, i):
    from tvm import tirx

    before, value = tables
    src = _sources(x, before, i)
    inside = [tirx.all(s >= 0, s < n) for s, n in zip(src, x.shape, strict=True)]
    return tirx.if_then_else(tirx.all(*inside) if inside else True, x[tuple(src)], value[0])


def _edge_pad(x, tables, i):
    from tvm import te

    src = _sources(x, tables[0], i)
    return x[tuple(te.max(te.min(s, n - 1), 0) for s, n in zip(src, x.shape, strict=True))]


def _reflect_pad(x, tables, i):
    from tvm import te, tirx

    def reflect(s, n):
        period = te.max(2 * (n - 1), 1)
        m = tirx.floormod(s, period)
        return tirx.Select(m >= n, period - m, m)

    src = _sources(x, tables[0], i)
    return x[tuple(reflect(s, n) for s, n in zip(src, x.shape, strict=True))]


def _wrap_pad(x, tables, i):
    from tvm import tirx

    src = _sources(x, tables[0], i)
    return x[tuple(tirx.floormod(s, n) for s, n in zip(src, x.shape, strict=True))]


_PAD_SOURCES = {
    "constant": _constant_pad,
    "edge": _edge_pad,
    "reflect": _reflect_pad,
    "wrap": _wrap_pad,
}


# --------------------------------------------------------------------------- Shape


@converter("Shape", since=1, onward=True)
def shape(bb, inputs, attr, params):
    """Symbolic dims (from a run-time shape parameter upstream) as an int64 tensor, which the
    run-time paths here take; static dims as the frontend gives them (a shape value it folds).
    ``start`` and ``end`` (Shape-15) select dims, negative ones counted back."""
    from tvm import relax

    data = inputs[0]
    dims = getattr(data.ty, "shape", None)
    if dims is None or all(hasattr(d, "value") for d in dims):
        return frontend_converter("Shape", 15)(bb, inputs, attr, params)
    rank = len(dims)
    start, end = attr.get("start", 0), attr.get("end", rank)
    first, last, _ = slice(start, end).indices(rank)
    return relax.op.strided_slice(
        shape_tensor(bb, data), axes=[0], begin=[first], end=[max(first, last)]
    )
