"""Elementwise ops the frontend lacks or mishandles: Elu (fp16), Swish, IsInf, Dropout."""

from __future__ import annotations

from ..registry import converter
from ._common import const, dtype_of


@converter("Elu", since=6, onward=True)
def elu(bb, inputs, attr, params):
    """``x`` if positive else ``alpha * (exp(x) - 1)``, with constants in ``x``'s dtype (fp16)."""
    from tvm import relax

    op = relax.op
    x = inputs[0]
    dtype = dtype_of(x)
    alpha = const(float(attr.get("alpha", 1.0)), dtype)
    negative = op.multiply(alpha, op.subtract(op.exp(x), const(1, dtype)))
    return op.where(op.greater(x, const(0, dtype)), x, negative)


@converter("Swish", since=24)
def swish(bb, inputs, attr, params):
    """``x * sigmoid(alpha * x)``."""
    from tvm import relax

    op = relax.op
    x = inputs[0]
    alpha = const(float(attr.get("alpha", 1.0)), dtype_of(x))
    return op.multiply(x, op.sigmoid(op.multiply(alpha, x)))


@converter("IsInf", since=10, onward=True)
def is_inf(bb, inputs, attr, params):
    """Infinity test honouring ``detect_positive`` and ``detect_negative``."""
    from tvm import relax

    op = relax.op
    x = inputs[0]
    dtype = dtype_of(x)
    positive = op.equal(x, const(float("inf"), dtype))
    negative = op.equal(x, const(float("-inf"), dtype))
    pos, neg = int(attr.get("detect_positive", 1)), int(attr.get("detect_negative", 1))
    if pos and neg:
        return op.logical_or(positive, negative)
    if pos:
        return positive
    if neg:
        return negative
    return op.zeros_like(x, "bool")


@converter("Dropout", since=12, onward=True)
def dropout(bb, inputs, attr, params):
    """The input unchanged and an all-true boolean mask: inference, or training with ratio 0."""
    from tvm import relax

    from ...errors import UnsupportedOperatorError
    from ._common import constant_value

    x = inputs[0]
    training, ratio = (
        None if len(inputs) <= i or inputs[i] is None else constant_value(inputs[i], params)
        for i in (2, 1)
    )
    trains = len(inputs) > 2 and inputs[2] is not None and (training is None or training.any())
    if trains and (ratio is None or ratio.any()):
        raise UnsupportedOperatorError(
            "Dropout in training mode drops at random; tvmforge supports it only with constant "
            "training_mode false or ratio 0"
        )
    mask = relax.op.ones_like(x, "bool")
    return relax.Tuple([x, bb.normalize(mask)])


@converter("Clip", since=11, onward=True)
def clip(bb, inputs, attr, params):
    """``minimum(maximum(x, lo), hi)`` as Relax operators (the frontend emits opaque
    ``call_tir``s), so layout conversion passes through and library kernels can fuse ReLU6."""
    from tvm import relax

    x = inputs[0]
    out = x
    lo, hi = (inputs[i] if len(inputs) > i else None for i in (1, 2))
    if lo is not None:
        out = relax.op.maximum(out, lo)
    if hi is not None:
        out = relax.op.minimum(bb.normalize(out), hi)
    return out
