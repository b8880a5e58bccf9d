"""RoiAlign with a fixed ``sampling_ratio``, as onnx.reference computes it.

The frontend's lowering scales half-pixel ROIs wrongly when ``spatial_scale`` is not 1 (off by
0.59 at 0.25), and its ``max`` takes the largest bilinear value where ONNX takes the largest
weighted corner of each sample. With a fixed ``sampling_ratio`` every ROI has the same number
of samples: per axis, their clamped corners and weights are tensors of shape (rois, samples),
one gather per corner reads the image, and a reduction per bin averages or takes the maximum.
"""

from __future__ import annotations

import numpy as np

from ..registry import converter
from ._common import const, dtype_of, frontend_converter, static_shape, text


def _axis(bb, start, stop, pooled: int, grid: int, size: int, dtype: str, clamp_one: bool):
    """Per ROI and sample along one axis: (low, high, low weight, high weight, inside)."""
    from tvm import relax

    op = relax.op
    extent = op.subtract(stop, start)
    if clamp_one:  # output_half_pixel: malformed ROIs become 1 pixel wide
        extent = op.maximum(extent, const(1, dtype))
    step = bb.normalize(op.divide(extent, const(pooled, dtype)))
    fraction = (np.arange(pooled)[:, None] + (np.arange(grid)[None, :] + 0.5) / grid).reshape(-1)
    c = bb.normalize(
        op.add(
            op.expand_dims(start, [1]),
            op.multiply(op.expand_dims(step, [1]), const(fraction, dtype)),
        )
    )
    inside = op.logical_and(
        op.greater_equal(c, const(-1, dtype)), op.less_equal(c, const(size, dtype))
    )
    c = bb.normalize(op.maximum(c, const(0, dtype)))
    low = bb.normalize(op.floor(c))
    edge = bb.normalize(op.greater_equal(low, const(size - 1, dtype)))
    last = const(size - 1, dtype)
    low = bb.normalize(op.where(edge, last, low))
    high = op.where(edge, last, op.add(low, const(1, dtype)))
    weight_high = bb.normalize(op.subtract(op.where(edge, low, c), low))
    weight_low = op.subtract(const(1, dtype), weight_high)
    return low, bb.normalize(high), bb.normalize(weight_low), weight_high, bb.normalize(inside)


def _roi_align_fixed(bb, inputs, attr, half_pixel: bool):
    from tvm import relax

    op = relax.op
    x, rois, batch_indices = inputs
    dtype = dtype_of(x)
    _, channels, height, width = static_shape(x)
    count = static_shape(rois)[0]
    ph, pw = int(attr.get("output_height", 1)), int(attr.get("output_width", 1))
    grid = int(attr["sampling_ratio"])
    scaled = op.multiply(rois, const(float(attr.get("spatial_scale", 1.0)), dtype))
    scaled = bb.normalize(op.subtract(scaled, const(0.5 if half_pixel else 0.0, dtype)))

    def column(k: int):
        return bb.normalize(op.take(scaled, const(k, "int64"), axis=1))

    ys = _axis(bb, column(1), column(3), ph, grid, height, dtype, not half_pixel)
    xs = _axis(bb, column(0), column(2), pw, grid, width, dtype, not half_pixel)
    samples = ph * grid * pw * grid
    inside = op.logical_and(op.expand_dims(ys[4], [2]), op.expand_dims(xs[4], [1]))
    image = op.take(x, op.astype(batch_indices, "int64"), axis=0)
    image = bb.normalize(op.reshape(image, [count, channels, height * width]))
    largest = text(attr.get("mode", "avg")) == "max"
    best = None
    for y, wy in ((ys[0], ys[2]), (ys[1], ys[3])):
        for xx, wx in ((xs[0], xs[2]), (xs[1], xs[3])):
            weight = op.multiply(op.expand_dims(wy, [2]), op.expand_dims(wx, [1]))
            weight = op.where(inside, weight, const(0, dtype))
            flat = op.add(
                op.multiply(op.expand_dims(y, [2]), const(width, dtype)), op.expand_dims(xx, [1])
            )
            index = op.reshape(
                op.astype(op.where(inside, flat, const(0, dtype)), "int64"), [count, 1, samples]
            )
            index = bb.normalize(op.broadcast_to(bb.normalize(index), [count, channels, samples]))
            value = op.gather_elements(image, index, axis=2)
            term = bb.normalize(
                op.multiply(value, op.reshape(bb.normalize(weight), [count, 1, samples]))
            )
            combine = op.maximum if largest else op.add
            best = term if best is None else bb.normalize(combine(best, term))
    best = bb.normalize(op.reshape(best, [count, channels, ph, grid, pw, grid]))
    return op.max(best, axis=[3, 5]) if largest else op.mean(best, axis=[3, 5])


def _roi_align(bb, inputs, attr, params, default_mode: str):
    """A fixed sampling ratio here; adaptive sampling as the frontend converts it."""
    mode = text(attr.get("coordinate_transformation_mode", default_mode))
    if int(attr.get("sampling_ratio", 0)) <= 0:
        return frontend_converter("RoiAlign")(bb, inputs, attr, params)
    return _roi_align_fixed(bb, inputs, attr, mode == "half_pixel")


@converter("RoiAlign", since=10)
def roi_align_10(bb, inputs, attr, params):
    """RoiAlign-10: coordinates are ``output_half_pixel``."""
    return _roi_align(bb, inputs, attr, params, "output_half_pixel")


@converter("RoiAlign", since=16, onward=True)
def roi_align(bb, inputs, attr, params):
    """RoiAlign-16 on: ``coordinate_transformation_mode`` defaults to ``half_pixel``."""
    return _roi_align(bb, inputs, attr, params, "half_pixel")
