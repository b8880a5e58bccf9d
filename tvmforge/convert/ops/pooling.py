"""MaxPool's Indices output and MaxUnpool to a given shape, which the frontend lacks."""

from __future__ import annotations

import itertools
import math

import numpy as np

from ..registry import converter
from ._common import (
    const,
    dtype_of,
    frontend_converter,
    shape_value,
    static_shape,
    text,
)


def _begin_pads(attr, size, out, kernel, stride, dilation) -> list[int]:
    """Padding before each spatial dim, as ONNX's auto_pad or pads say."""
    mode = text(attr.get("auto_pad", "NOTSET"))
    nd = len(size)
    if mode == "NOTSET":
        return list(attr.get("pads", [0] * 2 * nd))[:nd]
    if mode == "VALID":
        return [0] * nd
    totals = [
        max(0, (o - 1) * s + (k - 1) * d + 1 - n)
        for n, o, k, s, d in zip(size, out, kernel, stride, dilation, strict=True)
    ]
    return [t // 2 if mode == "SAME_UPPER" else t - t // 2 for t in totals]


def _flat_indices(bb, shape: list[int], column_major: bool):
    """Each element's index in ONNX's flattening: (n, c) blocks, spatial dims in row-major
    (``storage_order=0``) or column-major order."""
    from tvm import relax

    op = relax.op
    spatial = shape[2:]
    rank = len(shape)
    block = op.reshape(
        op.arange(0, shape[0] * shape[1], 1, "int64"), shape[:2] + [1] * len(spatial)
    )
    index = op.multiply(block, const(math.prod(spatial), "int64"))
    for i, n in enumerate(spatial):
        stride = math.prod(spatial[:i]) if column_major else math.prod(spatial[i + 1 :])
        along = [1] * rank
        along[2 + i] = n
        position = op.reshape(op.arange(0, n, 1, "int64"), along)
        index = op.add(index, op.multiply(position, const(stride, "int64")))
    return bb.normalize(op.broadcast_to(index, shape))


def _lowest(dtype: str) -> float:
    """The padding value no element can lose to: -inf, or an integer type's minimum."""
    return -np.inf if dtype.startswith(("float", "bfloat")) else float(np.iinfo(dtype).min)


def _argmax_indices(bb, x, y, attr):
    """The flat index of the first maximum of each pooling window."""
    from tvm import relax

    op = relax.op
    shape, out = static_shape(x), static_shape(y)
    size, out_size = shape[2:], out[2:]
    nd = len(size)
    kernel = list(attr["kernel_shape"])
    stride = list(attr.get("strides", [1] * nd))
    dilation = list(attr.get("dilations", [1] * nd))
    begin = _begin_pads(attr, size, out_size, kernel, stride, dilation)
    reach = [
        (o - 1) * s + (k - 1) * d + 1
        for o, k, s, d in zip(out_size, kernel, stride, dilation, strict=True)
    ]
    end = [max(0, r - n - b) for r, n, b in zip(reach, size, begin, strict=True)]
    width = [0, 0, 0, 0] + [p for b, e in zip(begin, end, strict=True) for p in (b, e)]
    values = bb.normalize(op.nn.pad(x, width, pad_value=_lowest(dtype_of(x))))
    index = _flat_indices(bb, shape, bool(attr.get("storage_order", 0)))
    index = bb.normalize(op.nn.pad(index, width))
    axes = list(range(2, 2 + nd))
    best_v = best_i = None
    for offset in itertools.product(*(range(k) for k in kernel)):
        starts = [o * d for o, d in zip(offset, dilation, strict=True)]
        stops = [a + (o - 1) * s + 1 for a, o, s in zip(starts, out_size, stride, strict=True)]
        v = bb.normalize(op.strided_slice(values, axes, starts, stops, stride))
        i = bb.normalize(op.strided_slice(index, axes, starts, stops, stride))
        if best_v is None:
            best_v, best_i = v, i
            continue
        better = bb.normalize(op.greater(v, best_v))
        best_v = bb.normalize(op.where(better, v, best_v))
        best_i = bb.normalize(op.where(better, i, best_i))
    return best_i


@converter("MaxPool", since=8, onward=True)
def max_pool(bb, inputs, attr, params):
    """The frontend's MaxPool plus Indices (dead code, and removed, when the node has one
    output; not computed for dynamic shapes)."""
    from tvm import relax

    y = bb.normalize(frontend_converter("MaxPool")(bb, inputs, dict(attr), params))
    dims = [*inputs[0].ty.shape, *y.ty.shape]
    if not all(hasattr(d, "value") for d in dims):
        return y
    return relax.Tuple([y, _argmax_indices(bb, inputs[0], y, attr)])


def _unpooled_shape(x_shape: list[int], attr) -> list[int]:
    """The shape MaxUnpool infers from the pooled shape, kernel, strides and pads."""
    kernel = list(attr["kernel_shape"])
    nd = len(kernel)
    strides = list(attr.get("strides", [1] * nd))
    pads = list(attr.get("pads", [0] * 2 * nd))
    return x_shape[:2] + [
        (n - 1) * s - (pads[i] + pads[nd + i]) + k
        for i, (n, k, s) in enumerate(zip(x_shape[2:], kernel, strides, strict=True))
    ]


@converter("MaxUnpool", since=9, onward=True)
def max_unpool(bb, inputs, attr, params):
    """Values scattered to their flat indices in zeros of the inferred shape, which sits at
    the origin of ``output_shape`` when given (constant or fed at run time)."""
    from tvm import relax

    op = relax.op
    if len(inputs) < 3 or inputs[2] is None:
        return frontend_converter("MaxUnpool")(bb, inputs, attr, params)
    data, indices = inputs[0], inputs[1]
    inferred = _unpooled_shape(static_shape(data), attr)
    shape = shape_value(bb, inputs[2], params, "unpooled")
    out_dims = bb.normalize(op.astype(inputs[2], "int64"))
    rest = bb.normalize(op.reshape(bb.normalize(op.astype(indices, "int64")), [-1]))
    coords = []
    for n in reversed(inferred):  # unravel in the inferred shape ...
        coords.append(bb.normalize(op.floor_mod(rest, const(n, "int64"))))
        rest = bb.normalize(op.floor_divide(rest, const(n, "int64")))
    target = coords.pop()
    for i in range(1, len(inferred)):  # ... ravel in the output shape
        dim = bb.normalize(op.take(out_dims, const(i, "int64"), axis=0))
        target = bb.normalize(op.add(bb.normalize(op.multiply(target, dim)), coords.pop()))
    zeros = bb.normalize(op.zeros(shape, dtype_of(data)))
    zeros = bb.normalize(op.reshape(zeros, [-1]))
    values = bb.normalize(op.reshape(data, [-1]))
    flat = op.scatter_elements(zeros, bb.normalize(target), values, axis=0)
    return op.reshape(bb.normalize(flat), shape)
