"""Elementwise and scan ops the frontend lacks or gets wrong: LpNormalization,
CumSum/CumProd (any axis), Pow."""

from __future__ import annotations

from ...errors import UnsupportedOperatorError
from ..registry import converter
from ._common import const, constant_value, dtype_of, select_axis


@converter("LpNormalization", since=1, onward=True)
def lp_normalization(bb, inputs, attr, params):
    """``x / ||x||_p`` along ``axis`` (p is 1 or 2); a zero norm gives 0."""
    from tvm import relax

    op = relax.op
    x = inputs[0]
    dtype = dtype_of(x)
    axis = int(attr.get("axis", -1))
    p = int(attr.get("p", 2))
    if p == 1:
        norm = op.sum(op.abs(x), axis=[axis], keepdims=True)
    elif p == 2:
        norm = op.sqrt(op.sum(op.multiply(x, x), axis=[axis], keepdims=True))
    else:
        raise UnsupportedOperatorError(f"LpNormalization with p={p}: ONNX allows only 1 or 2")
    norm = bb.normalize(norm)
    zero = const(0, dtype)
    return op.where(op.equal(norm, zero), op.zeros_like(x), op.divide(x, norm))


@converter("CumSum", since=11, onward=True)
def cumsum(bb, inputs, attr, params):
    """Cumulative sum along ``axis`` (a constant, or a run-time scalar in strict mode)."""
    from tvm import relax

    return _cumulative(bb, relax.op.cumsum, inputs, attr, params)


@converter("CumProd", since=26)
def cumprod(bb, inputs, attr, params):
    """Cumulative product along ``axis`` (a constant, or a run-time scalar in strict mode)."""
    from tvm import relax

    return _cumulative(bb, relax.op.cumprod, inputs, attr, params)


def _cumulative(bb, scan, inputs, attr, params):
    """``scan`` along the axis input, with ``exclusive`` and ``reverse``.

    A run-time axis selects among the scans along every axis: the output shape never depends
    on it.
    """
    from tvm import relax

    op = relax.op
    x, axis_expr = inputs[0], inputs[1]
    exclusive = bool(attr.get("exclusive", 0))
    reverse = bool(attr.get("reverse", 0))

    def along(axis: int):
        y = op.flip(x, axis) if reverse else x
        y = bb.normalize(scan(y, axis=axis, exclusive=exclusive))
        return bb.normalize(op.flip(y, axis)) if reverse else y

    axis = constant_value(axis_expr, params)
    if axis is not None:
        return along(int(axis.reshape(-1)[0]))
    rank = len(x.ty.shape)
    return select_axis(bb, axis_expr, rank, list(range(rank)), along)


@converter("Pow", since=12, onward=True)
def pow_(bb, inputs, attr, params):
    """``x ** y`` in x's type, for any mix of integer and float base and exponent."""
    from tvm import relax

    op = relax.op
    x, y = inputs[0], inputs[1]
    dtype = dtype_of(x)
    if dtype.startswith(("float", "bfloat")):
        return op.power(x, y if dtype_of(y) == dtype else bb.normalize(op.astype(y, dtype)))
    # integer base: in float64 (exact for powers below 2**53), truncated as numpy's astype does
    wide = op.power(op.astype(x, "float64"), op.astype(y, "float64"))
    return op.astype(bb.normalize(wide), dtype)
