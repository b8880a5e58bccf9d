"""OneHot with values fed at run time (the frontend needs them constant); depth stays constant."""

from __future__ import annotations

import numpy as np

from ...errors import UnsupportedOperatorError
from ..registry import converter
from ._common import const, constant_value


@converter("OneHot", since=9, onward=True)
def one_hot(bb, inputs, attr, params):
    """``values[1]`` where an index (negative ones wrapped) equals the position, else ``values[0]``."""
    from tvm import relax

    op = relax.op
    indices, depth_expr, values = inputs[0], inputs[1], inputs[2]
    depth = constant_value(depth_expr, params)
    if depth is None:
        raise UnsupportedOperatorError(
            "OneHot depth must be a constant (an initializer): it sets the output shape"
        )
    depth = int(np.asarray(depth).reshape(-1)[0])
    rank = len(indices.ty.shape)
    axis = int(attr.get("axis", -1))
    axis = axis + rank + 1 if axis < 0 else axis
    idx = bb.normalize(op.astype(indices, "int64"))
    idx = bb.normalize(
        op.where(op.less(idx, const(0, "int64")), op.add(idx, const(depth, "int64")), idx)
    )
    positions = np.arange(depth, dtype=np.int64).reshape((-1,) + (1,) * (rank - axis))
    hit = op.equal(op.expand_dims(idx, [axis]), const(positions, "int64"))
    off = op.take(values, const(0, "int64"), axis=0)
    on = op.take(values, const(1, "int64"), axis=0)
    return op.where(bb.normalize(hit), bb.normalize(on), bb.normalize(off))
