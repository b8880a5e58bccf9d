"""OneHot with values fed at run time (the frontend needs them constant), and depth too."""

from __future__ import annotations

import numpy as np

from ..registry import converter
from ._common import const, constant_value, scalar_dim


@converter("OneHot", since=9, onward=True)
def one_hot(bb, inputs, attr, params):
    """``values[1]`` where an index (negative ones wrapped) equals the position, else ``values[0]``;
    the output dim ``depth`` is symbolic when depth is known only at run time."""
    from tvm import relax

    op = relax.op
    indices, depth_expr, values = inputs[0], inputs[1], inputs[2]
    rank = len(indices.ty.shape)
    axis = int(attr.get("axis", -1))
    axis = axis + rank + 1 if axis < 0 else axis
    trailing = (1,) * (rank - axis)
    depth = constant_value(depth_expr, params)
    if depth is None:
        dim = scalar_dim(bb, depth_expr, params, "depth")
        positions = op.reshape(op.arange(0, dim, 1, "int64"), [dim, *trailing])
        depth = bb.normalize(op.reshape(op.astype(depth_expr, "int64"), []))
    else:
        depth = int(np.asarray(depth).reshape(-1)[0])
        positions = const(np.arange(depth, dtype=np.int64).reshape((-1, *trailing)), "int64")
        depth = const(depth, "int64")
    idx = bb.normalize(op.astype(indices, "int64"))
    idx = bb.normalize(op.where(op.less(idx, const(0, "int64")), op.add(idx, depth), idx))
    hit = op.equal(op.expand_dims(idx, [axis]), bb.normalize(positions))
    off = op.take(values, const(0, "int64"), axis=0)
    on = op.take(values, const(1, "int64"), axis=0)
    return op.where(bb.normalize(hit), bb.normalize(on), bb.normalize(off))
