"""Tensor reinterpretation and rearrangement the frontend lacks: BitCast, Col2Im."""

from __future__ import annotations

import functools
import operator

import numpy as np

from ...errors import UnsupportedOperatorError
from ..registry import converter
from ._common import const, constant_value, dtype_of, shape_value, static_shape

#: Largest Col2Im scatter matrix (rows x columns) we build.
_MAX_MATRIX = 1 << 24


@converter("BitCast", since=26)
def bitcast(bb, inputs, attr, params):
    """Reinterpret the bits as type ``to`` (bool, one bit in TVM, converts as 0/1 bytes)."""
    from onnx import helper
    from tvm import relax, topi

    x = inputs[0]
    dtype = helper.tensor_dtype_to_np_dtype(int(attr["to"])).name
    if "bool" in (dtype, dtype_of(x)):
        return relax.op.astype(x, dtype)
    return bb.emit_te(topi.reinterpret, x, dtype)


@converter("Col2Im", since=18)
def col2im(bb, inputs, attr, params):
    """Sum sliding blocks back into an image: a matmul with a constant 0/1 scatter matrix."""
    from tvm import relax

    op = relax.op
    x = inputs[0]
    if any(constant_value(e, params) is None for e in inputs[1:3]):
        image, block = (shape_value(bb, e, params, name).values
                        for e, name in zip(inputs[1:3], ("image", "block"), strict=True))  # fmt: skip
        return bb.emit_te(_col2im, x, list(image), list(block), *_window(attr, len(image)))
    image, block = (_constant_ints(e, name, params) for e, name in
                    zip(inputs[1:3], ("image_shape", "block_shape"), strict=True))  # fmt: skip
    dims = len(image)
    strides, dilations, pads = _window(attr, dims)
    n, channels_blocks, count = static_shape(x)
    matrix = _scatter_matrix(image, block, strides, dilations, pads)
    blocks = int(np.prod(block))
    if matrix.shape[0] != blocks * count or channels_blocks % blocks:
        raise UnsupportedOperatorError(
            f"Col2Im input of shape {[n, channels_blocks, count]} does not hold blocks "
            f"{block} sliding over image {image}"
        )
    channels = channels_blocks // blocks
    flat = op.reshape(x, [n, channels, blocks * count])
    out = op.matmul(flat, const(matrix, dtype_of(x)))
    return op.reshape(out, [n, channels, *image])


def _window(attr, dims: int) -> tuple[list[int], list[int], list[int]]:
    """Col2Im's strides, dilations and pads, defaults filled in."""
    strides = list(attr.get("strides", [1] * dims))
    dilations = list(attr.get("dilations", [1] * dims))
    return strides, dilations, list(attr.get("pads", [0] * 2 * dims))


def _col2im(x, image, block, strides, dilations, pads):
    """TE: each pixel sums the block elements that land on it, over image and block extents
    that may be symbolic (fed at run time)."""
    from tvm import te, tirx

    dims = len(image)
    n, channels_blocks, _ = x.shape
    blocks = functools.reduce(operator.mul, block)
    counts = [
        (image[d] + pads[d] + pads[d + dims] - dilations[d] * (block[d] - 1) - 1) // strides[d] + 1
        for d in range(dims)
    ]
    ks = [te.reduce_axis((0, b), f"k{d}") for d, b in enumerate(block)]

    def value(b, c, *pixel):
        offsets = [pixel[d] + pads[d] - ks[d] * dilations[d] for d in range(dims)]
        at = [o // strides[d] for d, o in enumerate(offsets)]
        inside = [
            tirx.all(o % strides[d] == 0, o >= 0, at[d] < counts[d]) for d, o in enumerate(offsets)
        ]
        row = c * blocks + _row_major(ks, block)
        column = _row_major(at, counts)
        return te.sum(
            tirx.if_then_else(tirx.all(*inside), x[b, row, column], tirx.const(0, x.dtype)), axis=ks
        )

    return te.compute((n, channels_blocks // blocks, *image), value, name="col2im")


def _row_major(index, extents):
    """The flat row-major position of ``index`` in ``extents``."""
    flat = index[0]
    for i, e in zip(index[1:], extents[1:], strict=True):
        flat = flat * e + i
    return flat


def _constant_ints(expr, what: str, params) -> list[int]:
    value = constant_value(expr, params)
    if value is None:
        raise UnsupportedOperatorError(
            f"Col2Im's {what} input must be a constant (the output shape depends on it); "
            "make it an initializer"
        )
    return [int(v) for v in value.reshape(-1)]


def _scatter_matrix(image, block, strides, dilations, pads) -> np.ndarray:
    """[blocks * positions, pixels]: 1 where a block element lands on a pixel."""
    dims = len(image)
    image_, strides_, dilations_ = (np.array(v)[:, None, None] for v in (image, strides, dilations))
    begin = np.array(pads[:dims])[:, None, None]
    counts = [
        (image[d] + pads[d] + pads[d + dims] - dilations[d] * (block[d] - 1) - 1) // strides[d] + 1
        for d in range(dims)
    ]
    size = int(np.prod(block)) * int(np.prod(counts)) * int(np.prod(image))
    if size > _MAX_MATRIX:
        raise UnsupportedOperatorError(f"Col2Im needs a scatter matrix of {size} entries")
    k = np.indices(block).reshape(dims, -1)[:, :, None]
    p = np.indices(counts).reshape(dims, -1)[:, None, :]
    where = p * strides_ + k * dilations_ - begin  # [dims, blocks, positions]
    inside = np.all((where >= 0) & (where < image_), axis=0)
    pixel = np.ravel_multi_index(tuple(np.where(inside, where, 0)), image)
    rows = np.arange(inside.size).reshape(inside.shape)
    matrix = np.zeros((inside.size, int(np.prod(image))))
    matrix[rows[inside], pixel[inside]] = 1
    return matrix
