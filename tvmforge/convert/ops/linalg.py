"""Linear algebra on small static matrices: Det."""

from __future__ import annotations

import itertools

import numpy as np

from ...errors import UnsupportedOperatorError
from ..registry import converter
from ._common import const, dtype_of, static_shape

#: Leibniz's formula sums n! products: fine for the small matrices ONNX models carry.
MAX_DET_SIZE = 6


@converter("Det", since=11, onward=True)
def det(bb, inputs, attr, params):
    """Determinants of the trailing n x n matrices, by Leibniz's formula (n <= 6)."""
    from tvm import relax

    op = relax.op
    x = inputs[0]
    *batch, n, m = static_shape(x)
    if n != m or n > MAX_DET_SIZE:
        raise UnsupportedOperatorError(
            f"Det of {n}x{m} matrices: tvmforge computes square matrices up to "
            f"{MAX_DET_SIZE}x{MAX_DET_SIZE}"
        )
    perms = np.array(list(itertools.permutations(range(n))), dtype="int64")
    signs = [np.linalg.det(np.eye(n)[p]) for p in perms]
    flat = bb.normalize(op.reshape(x, [*batch, n * n]))
    picked = op.take(flat, const(np.arange(n) * n + perms, "int64"), axis=len(batch))
    products = op.prod(picked, axis=[-1])
    return op.sum(op.multiply(products, const(np.round(signs), dtype_of(x))), axis=[-1])
