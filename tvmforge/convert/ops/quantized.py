"""QLinearMatMul, QLinearConv, ConvInteger: integer-valued float32 sums, ONNX requantization.

``(x - x_zp)`` and ``(w - w_zp)`` are small integers, exact in float32, and so are their
products' sums below 2**24; the result is scaled by ``x_scale * w_scale / y_scale``, rounded
half to even, shifted by ``y_zp`` and saturated, as onnxruntime does.
"""

from __future__ import annotations

from ..registry import converter
from ._common import dtype_of, frontend_converter, round_half_even


def _centered(bb, x, zero_point):
    from tvm import relax

    op = relax.op
    value = op.astype(x, "float32")
    if zero_point is not None:
        value = op.subtract(value, op.astype(zero_point, "float32"))
    return bb.normalize(value)


def _requantize(bb, acc, multiplier, y_zp, out_dtype: str):
    from tvm import relax

    op = relax.op
    y = round_half_even(bb, op.multiply(acc, multiplier))
    if y_zp is not None:
        y = op.add(y, op.astype(y_zp, "float32"))
    info = {"uint8": (0, 255), "int8": (-128, 127), "uint16": (0, 65535), "int16": (-32768, 32767)}
    low, high = info.get(out_dtype, (0, 255))
    return bb.normalize(op.astype(op.clip(y, low, high), out_dtype))


def _scale(x):
    from tvm import relax

    return relax.op.astype(x, "float32")


@converter("QLinearMatMul", since=10, onward=True)
def qlinear_matmul(bb, inputs, attr, params):
    """ONNX QLinearMatMul (per-tensor scales, or per-column for b)."""
    from tvm import relax

    op = relax.op
    a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp = inputs[:8]
    acc = op.matmul(_centered(bb, a, a_zp), _centered(bb, b, b_zp))
    a_s = _scale(a_scale)
    if len(a_scale.ty.shape) == 1 and len(a.ty.shape) >= 2:
        a_s = op.expand_dims(bb.normalize(a_s), [-1])  # per-row scale of a
    multiplier = op.divide(op.multiply(a_s, _scale(b_scale)), _scale(y_scale))
    out_dtype = dtype_of(y_zp) if y_zp is not None else dtype_of(a)
    return _requantize(bb, bb.normalize(acc), multiplier, y_zp, out_dtype)


@converter("QLinearConv", since=10)
def qlinear_conv(bb, inputs, attr, params):
    """ONNX QLinearConv, through the frontend's float Conv on integer-valued tensors."""
    from tvm import relax

    op = relax.op
    x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp = inputs[:8]
    bias = inputs[8] if len(inputs) > 8 else None
    w_f = _centered(bb, w, w_zp if w_zp is not None and len(w_zp.ty.shape) == 0 else None)
    if w_zp is not None and len(w_zp.ty.shape) == 1:  # per-output-channel zero points
        zp = op.reshape(
            bb.normalize(op.astype(w_zp, "float32")), [-1] + [1] * (len(w.ty.shape) - 1)
        )
        w_f = bb.normalize(op.subtract(op.astype(w, "float32"), zp))
    conv = frontend_converter("Conv", 11)
    bias_f = bb.normalize(op.astype(bias, "float32")) if bias is not None else None
    acc = bb.normalize(conv(bb, [_centered(bb, x, x_zp), w_f, bias_f], dict(attr), params))
    ndim = len(acc.ty.shape)
    w_s = _scale(w_scale)
    if len(w_scale.ty.shape) == 1:
        w_s = op.reshape(bb.normalize(w_s), [1, -1] + [1] * (ndim - 2))
    multiplier = op.divide(op.multiply(_scale(x_scale), w_s), _scale(y_scale))
    out_dtype = dtype_of(y_zp) if y_zp is not None else dtype_of(x)
    return _requantize(bb, acc, multiplier, y_zp, out_dtype)


@converter("ConvInteger", since=10)
def conv_integer(bb, inputs, attr, params):
    """``conv(x - x_zp, w - w_zp)`` in int32, through the frontend's float Conv (exact while
    the sums stay below 2**24)."""
    from tvm import relax

    from ..overlay import frontend_table

    op = relax.op
    x, w = inputs[0], inputs[1]
    x_zp = inputs[2] if len(inputs) > 2 else None
    w_zp = inputs[3] if len(inputs) > 3 else None
    if w_zp is not None and len(w_zp.ty.shape) == 1:  # per-output-channel zero points
        w_zp = op.reshape(w_zp, [-1] + [1] * (len(w.ty.shape) - 1))
    conv = frontend_table()["Conv"].get_converter(11)
    acc = conv(bb, [_centered(bb, x, x_zp), _centered(bb, w, w_zp), None], dict(attr), params)
    return op.astype(bb.normalize(acc), "int32")
