"""DeformConv (2-D): bilinear samples at offset kernel taps, then a grouped matmul.

Each tap of each output position samples the input at ``(stride * out - pad + dilation * tap
+ offset)``, bilinearly with zeros outside the image (GridSample with ``align_corners=1``, as
onnx.reference does), is scaled by the mask, and the sampled columns meet the weights in one
matmul per group.
"""

from __future__ import annotations

import numpy as np

from ...errors import UnsupportedOperatorError
from ..registry import converter
from ._common import const, dtype_of, static_shape


def _taps(out: int, size: int, stride: int, pad: int, dilation: int) -> np.ndarray:
    """Sampling positions before offsets, shaped (kernel taps, output positions)."""
    return dilation * np.arange(size)[:, None] + stride * np.arange(out)[None, :] - pad


def _bilinear(bb, image, ys, xs, height: int, width: int, dtype: str):
    """``image`` (n, og, c, h*w) sampled at ``ys, xs`` (n, og, 1, points), zeros outside."""
    from tvm import relax

    op = relax.op
    y0 = bb.normalize(op.floor(ys))
    x0 = bb.normalize(op.floor(xs))
    fy, fx = bb.normalize(op.subtract(ys, y0)), bb.normalize(op.subtract(xs, x0))
    one = const(1, dtype)
    total = None
    for dy, wy in ((0, op.subtract(one, fy)), (1, fy)):
        for dx, wx in ((0, op.subtract(one, fx)), (1, fx)):
            y = bb.normalize(op.add(y0, const(dy, dtype)))
            x = bb.normalize(op.add(x0, const(dx, dtype)))
            inside = op.logical_and(
                op.logical_and(
                    op.greater_equal(y, const(0, dtype)), op.less(y, const(height, dtype))
                ),
                op.logical_and(
                    op.greater_equal(x, const(0, dtype)), op.less(x, const(width, dtype))
                ),
            )
            weight = op.where(inside, op.multiply(wy, wx), const(0, dtype))
            flat = op.add(
                op.multiply(op.clip(y, 0, height - 1), const(width, dtype)),
                op.clip(x, 0, width - 1),
            )
            index = bb.normalize(op.astype(flat, "int64"))
            shape = static_shape(image)[:3] + [static_shape(index)[-1]]
            index = bb.normalize(op.broadcast_to(index, shape))
            term = op.multiply(op.gather_elements(image, index, axis=3), weight)
            total = term if total is None else op.add(total, term)
    return bb.normalize(total)


@converter("DeformConv", since=19, onward=True)
def deform_conv(bb, inputs, attr, params):
    """2-D deformable convolution with groups, offset groups, optional bias and mask."""
    from tvm import relax

    op = relax.op
    x, w, offset = inputs[:3]
    bias = inputs[3] if len(inputs) > 3 else None
    mask = inputs[4] if len(inputs) > 4 else None
    dtype = dtype_of(x)
    if len(static_shape(x)) != 4:
        raise UnsupportedOperatorError("DeformConv: tvmforge converts 2-D convolutions only")
    n, ic, ih, iw = static_shape(x)
    oc, icpg, kh, kw = static_shape(w)
    oh, ow = static_shape(offset)[2:]
    groups, og = int(attr.get("group", 1)), int(attr.get("offset_group", 1))
    sh, sw = attr.get("strides", (1, 1))
    dh, dw = attr.get("dilations", (1, 1))
    pads = attr.get("pads", (0, 0, 0, 0))
    taps, points = kh * kw, oh * ow
    base_y = np.repeat(_taps(oh, kh, sh, pads[0], dh), kw, axis=0)[:, :, None]  # (taps, oh, 1)
    base_x = np.tile(_taps(ow, kw, sw, pads[1], dw), (kh, 1))[:, None, :]  # (taps, 1, ow)
    offsets = bb.normalize(op.reshape(offset, [n, og, taps, 2, oh, ow]))
    axes = [n, og, 1, taps * points]

    def coordinate(k: int, base: np.ndarray):
        picked = op.take(offsets, const(k, "int64"), axis=3)
        shifted = op.add(picked, const(np.broadcast_to(base, (taps, oh, ow)), dtype))
        return bb.normalize(op.reshape(shifted, axes))

    image = bb.normalize(op.reshape(x, [n, og, ic // og, ih * iw]))
    sampled = _bilinear(bb, image, coordinate(0, base_y), coordinate(1, base_x), ih, iw, dtype)
    if mask is not None:
        sampled = op.multiply(sampled, op.reshape(mask, axes))
    columns = op.reshape(sampled, [n, groups, icpg * taps, points])
    weights = op.reshape(w, [1, groups, oc // groups, icpg * taps])
    out = op.reshape(op.matmul(weights, bb.normalize(columns)), [n, oc, oh, ow])
    if bias is not None:
        out = op.add(out, op.reshape(bias, [1, oc, 1, 1]))
    return out
