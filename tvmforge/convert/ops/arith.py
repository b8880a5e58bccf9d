"""Integer-style arithmetic with ONNX's edge cases: Mod (numpy's float mod) and BitShift."""

from __future__ import annotations

from ..registry import converter
from ._common import const, dtype_of, frontend_converter


@converter("Mod", since=10, onward=True)
def mod(bb, inputs, attr, params):
    """Float ``fmod=0`` as numpy's ``mod``: the C ``fmod`` moved to the sign of the divisor, so
    ``-3 mod inf`` is ``inf`` (``a - floor(a / b) * b`` would give NaN); the rest as the frontend.
    """
    from tvm import relax

    op = relax.op
    a, b = inputs
    dtype = dtype_of(a)
    if attr.get("fmod", 0) or not dtype.startswith(("float", "bfloat")):
        return frontend_converter("Mod")(bb, inputs, attr, params)
    zero = const(0, dtype)
    rem = bb.normalize(op.mod(a, b))
    flip = op.logical_and(
        op.not_equal(rem, zero), op.logical_xor(op.less(b, zero), op.less(rem, zero))
    )
    return op.where(flip, op.add(rem, b), rem)


@converter("BitShift", since=11, onward=True)
def bit_shift(bb, inputs, attr, params):
    """Shifts by a negative amount or by the bit width or more give 0 (a right shift of a
    negative signed value gives -1); left shifts of signed values wrap."""
    from tvm import relax

    op = relax.op
    a, b = inputs
    dtype = dtype_of(a)
    width = int("".join(c for c in dtype if c.isdigit()))
    zero = const(0, dtype)
    valid = bb.normalize(op.logical_and(op.greater_equal(b, zero), op.less(b, const(width, dtype))))
    amount = bb.normalize(op.where(valid, b, zero))
    direction = attr.get("direction", b"LEFT")
    if direction in (b"RIGHT", "RIGHT"):
        shifted = op.right_shift(a, amount)
        fill = op.where(op.less(a, zero), const(-1, dtype), zero) if dtype[0] == "i" else zero
    else:
        shifted = op.left_shift(a, amount)
        fill = zero
    return op.where(valid, shifted, fill)
