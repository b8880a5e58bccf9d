"""Reductions: axes fed at run time, and ReduceMax/ReduceMin that keep infinities.

**Run-time axes.** From ReduceSum-13 and the other reductions' schema 18 on, ``axes`` is an
input. The frontend converts only a constant one; fed at run time, it decides which dims
collapse, so the output has symbolic dims: one TE reduction over every dim serves any axes value
(a reduced dim runs its reduction loop over the whole extent and keeps one output index, a kept
dim does the opposite), with both extents read from small shape tensors at run time.

**Infinities.** ``relax.op.max`` of a slice that is all ``-inf`` gives ``-3.4e38``, not ``-inf``
(and ``min`` of all ``+inf`` gives ``+3.4e38``), which breaks tests like
``ReduceMax(mask) == -inf`` that Attention's function body uses to find fully masked rows. The
static converters wrap the frontend's and put the infinity back where every reduced value is
that infinity; the run-time-axes reduction starts max and min at the infinities.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ...errors import UnsupportedOperatorError
from ..registry import Converter, converter, schema_versions
from ._common import (
    const,
    dtype_of,
    frontend_converter,
    normalized_axes,
    optional_input,
    runtime_tensor,
    shape_value,
    static_shape,
)

#: reduction -> the schema version from which ``axes`` is an input.
_AXES_INPUT_SINCE = {
    "ReduceSum": 13,
    **dict.fromkeys(
        ("ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
         "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"),
        18,
    ),
}  # fmt: skip


def _keeping(op_type: str, since: int, infinity: float) -> Converter:
    def convert(bb, inputs, attr, params):
        from tvm import relax

        op = relax.op
        reduce = frontend_converter(op_type, since)
        x = inputs[0]
        dtype = dtype_of(x)
        if dtype == "bool":  # TOPI has no initial value for bool: reduce 0/1 bytes
            flags = bb.normalize(op.astype(x, "uint8"))
            return op.astype(bb.normalize(reduce(bb, [flags, *inputs[1:]], attr, params)), "bool")
        y = bb.normalize(reduce(bb, inputs, attr, params))
        if not dtype.startswith(("float", "bfloat")):
            return y
        inf = const(infinity, dtype)
        # 1 (-1 for min) where a value is not the infinity: reduced, it is 1 (-1) iff some value
        # is not; otherwise every value is the infinity or there are none
        finite = 1 if infinity < 0 else -1
        flags = op.multiply(op.astype(op.not_equal(x, inf), dtype), const(finite, dtype))
        seen = bb.normalize(reduce(bb, [bb.normalize(flags), *inputs[1:]], attr, params))
        return op.where(op.equal(seen, const(finite, dtype)), y, inf)

    convert.__doc__ = f"{op_type} (schema {since}) with slices of {infinity} giving {infinity}."
    convert.__qualname__ = f"{op_type.lower()}_v{since}"
    return convert


# --------------------------------------------------------------------------- run-time axes


def _start(kind: str, dtype: str) -> float | int:
    """Where a ``kind`` reduction (sum, prod, max, min) starts: max and min at -inf and +inf
    for floats, at the type's limits otherwise."""
    if kind in ("sum", "prod"):
        return 0 if kind == "sum" else 1
    low = kind == "max"
    if dtype.startswith(("float", "bfloat")):
        return float("-inf") if low else float("inf")
    info = np.iinfo(dtype)
    return int(info.min if low else info.max)


def _masked_reduce(bb, x, kept, kind: str, name: str, shift=None):
    """``x`` reduced by ``kind`` to shape ``kept``: 1 where a dim is reduced, else its extent.

    Output index ``o`` covers, per dim, the inputs ``o + r`` for ``r`` below the dim's span:
    its extent where reduced (``kept`` is 1 there), else 1. A dim of extent 1 gives the same
    result either way. With ``shift`` (shaped ``kept``), ``exp(x - shift[o])`` is reduced.
    """
    from tvm import te, tirx

    dtype = dtype_of(x)
    start = tirx.const(_start(kind, dtype), dtype)
    combine = {"sum": tirx.Add, "prod": tirx.Mul, "max": tirx.max, "min": tirx.min}[kind]
    reducer = te.comm_reducer(lambda a, b: combine(a, b), lambda t: start, name=kind)
    shape = static_shape(x)
    # TIR starts a reduction inside its loop, so an empty loop never would: a dim of extent 0
    # loops once and, when reduced, reads the start value instead of the (absent) input
    spans = [
        tirx.Select(k == 1, tirx.IntImm("int64", max(n, 1)), tirx.IntImm("int64", 1))
        for k, n in zip(kept, shape, strict=True)
    ]
    empty = [
        tirx.NE(k, tirx.IntImm("int64", 1)) for k, n in zip(kept, shape, strict=True) if n == 0
    ]

    def compute(data, *shifts):
        loops = [te.reduce_axis((0, span), f"r{d}") for d, span in enumerate(spans)]

        def element(*index):
            value = data[tuple(i + r for i, r in zip(index, loops, strict=True))]
            if shifts:
                value = te.exp(value - shifts[0][index])
            if empty:
                value = tirx.if_then_else(tirx.all(*empty), value, start)
            return reducer(value, axis=loops)

        return te.compute(kept, element, name=name)

    args = [x] if shift is None else [x, shift]
    return bb.emit_te(compute, *args, primfunc_name_hint=name)


def _plan(op_type: str) -> tuple[Callable | None, str, Callable | None]:
    """(elementwise before, TE reduction, elementwise after) that make ``op_type``."""
    from tvm import relax

    op = relax.op
    return {
        "ReduceSum": (None, "sum", None),
        "ReduceMean": (None, "sum", None),
        "ReduceMax": (None, "max", None),
        "ReduceMin": (None, "min", None),
        "ReduceProd": (None, "prod", None),
        "ReduceL1": (op.abs, "sum", None),
        "ReduceL2": (lambda x: op.multiply(x, x), "sum", op.sqrt),
        "ReduceSumSquare": (lambda x: op.multiply(x, x), "sum", None),
        "ReduceLogSum": (None, "sum", op.log),
        "ReduceLogSumExp": (None, "sum", op.log),  # exp inside the reduction, see below
    }[op_type]


def _axes_mask(bb, axes, rank: int):
    """A (rank,) int64 tensor: 1 where a dim is among ``axes`` (negative ones count back)."""
    from tvm import relax

    op = relax.op
    dims = const(np.arange(rank, dtype=np.int64).reshape(rank, 1), "int64")
    axes = op.reshape(normalized_axes(bb, axes, rank), [1, -1])
    return bb.normalize(op.max(op.astype(op.equal(axes, dims), "int64"), axis=[1]))


def _kept_dims(bb, mask, shape: list[int], count: int):
    """A (count,) int64 tensor: the extents of the dims ``mask`` leaves, in order."""
    from tvm import relax

    op = relax.op
    rank = len(shape)
    left = bb.normalize(op.subtract(const(1, "int64"), mask))
    position = bb.normalize(
        op.subtract(op.cumsum(left, axis=0), const(1, "int64"))
    )  # among the kept dims
    slots = const(np.arange(count, dtype=np.int64).reshape(count, 1), "int64")
    picks = op.multiply(op.astype(op.equal(op.reshape(position, [1, rank]), slots), "int64"),
                        op.reshape(op.multiply(left, const(shape, "int64")), [1, rank]))  # fmt: skip
    return bb.normalize(op.sum(picks, axis=[1]))


def _reduce_runtime_axes(op_type: str, bb, x, axes, keepdims: bool):
    """``op_type`` of ``x`` over the axes fed in ``axes`` (a 1-D tensor of static length)."""
    from tvm import relax

    op = relax.op
    shape = static_shape(x)
    (count,) = static_shape(axes)
    mask = _axes_mask(bb, axes, len(shape))
    extents = const(shape, "int64")
    one = const(1, "int64")
    reduced_extents = op.subtract(extents, op.multiply(mask, op.subtract(extents, one)))
    spans = op.add(one, op.multiply(mask, op.subtract(extents, one)))
    kept = shape_value(bb, bb.normalize(reduced_extents), {}, "reduced").values

    before, kind, after = _plan(op_type)
    data = bb.normalize(before(x)) if before else x
    peak = None
    if op_type == "ReduceLogSumExp":  # exp(x - max) summed, as the frontend does
        peak = _masked_reduce(bb, x, kept, "max", "reduce_peak")
    y = _masked_reduce(bb, data, kept, kind, op_type.lower(), shift=peak)
    if op_type == "ReduceMean":
        size = op.astype(op.prod(spans), dtype_of(x))
        y = op.divide(y, size)
    if after:
        y = after(y)
    if op_type == "ReduceLogSumExp":
        y = op.add(y, peak)
    if keepdims:
        return y
    out = shape_value(bb, _kept_dims(bb, mask, shape, len(shape) - count), {}, "kept")
    return op.reshape(bb.normalize(y), out)


def _runtime_axes(op_type: str, since: int, fallback: Converter) -> Converter:
    def convert(bb, inputs, attr, params):
        from tvm import relax

        axes = optional_input(inputs, 1)
        if not runtime_tensor(axes, params):
            return fallback(bb, inputs, attr, params)
        (count,) = static_shape(axes)
        if count == 0:  # no axes: all of them, or none with noop_with_empty_axes
            if attr.get("noop_with_empty_axes", 0):
                return inputs[0]
            return fallback(bb, inputs[:1], attr, params)
        x = inputs[0]
        keepdims = bool(attr.get("keepdims", 1))
        if dtype_of(x) != "bool":
            return _reduce_runtime_axes(op_type, bb, x, axes, keepdims)
        if op_type not in _INFINITY:
            raise UnsupportedOperatorError(f"{op_type} does not take bool (only ReduceMax/Min)")
        flags = bb.normalize(relax.op.astype(x, "uint8"))  # max/min of bools: of 0/1 bytes
        y = _reduce_runtime_axes(op_type, bb, flags, axes, keepdims)
        return relax.op.astype(bb.normalize(y), "bool")

    convert.__doc__ = f"{op_type} (schema {since}): constant axes as before, or fed at run time."
    convert.__qualname__ = f"{op_type.lower()}_v{since}"
    return convert


_INFINITY = {"ReduceMax": float("-inf"), "ReduceMin": float("inf")}


def _static(op_type: str, since: int) -> Converter:
    """The converter for constant axes: the frontend's, keeping infinities for max and min."""
    if op_type in _INFINITY:
        return _keeping(op_type, since, _INFINITY[op_type])
    return lambda bb, inputs, attr, params: frontend_converter(op_type, since)(
        bb, inputs, attr, params
    )


for _op, _axes_since in _AXES_INPUT_SINCE.items():
    for _since in schema_versions(_op):
        if _since >= _axes_since:
            converter(_op, since=_since)(_runtime_axes(_op, _since, _static(_op, _since)))
        elif _op in _INFINITY:
            converter(_op, since=_since)(_static(_op, _since))
