"""LayerNormalization with all three outputs (the frontend returns only Y)."""

from __future__ import annotations

from ..registry import converter
from ._common import const, dtype_of


@converter("LayerNormalization", since=17)
def layer_normalization(bb, inputs, attr, params):
    """Y, Mean and InvStdDev over the axes from ``axis`` on, in float32 when ``stash_type=1``."""
    from tvm import relax

    op = relax.op
    x, scale = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 else None
    dtype = dtype_of(x)
    stash = "float32" if int(attr.get("stash_type", 1)) == 1 else dtype
    rank = len(x.ty.shape)
    axis = int(attr.get("axis", -1))
    axis = axis + rank if axis < 0 else axis
    axes = list(range(axis, rank))
    eps = float(attr.get("epsilon", 1e-5))
    xs = bb.normalize(op.astype(x, stash)) if stash != dtype else x
    mean = bb.normalize(op.mean(xs, axis=axes, keepdims=True))
    centered = bb.normalize(op.subtract(xs, mean))
    var = op.mean(op.multiply(centered, centered), axis=axes, keepdims=True)
    inv_std = bb.normalize(op.rsqrt(op.add(var, const(eps, stash))))
    y = bb.normalize(op.multiply(centered, inv_std))
    if stash != dtype:
        y = bb.normalize(op.astype(y, dtype))
    y = op.multiply(y, scale)
    if bias is not None:
        y = op.add(bb.normalize(y), bias)
    return relax.Tuple([bb.normalize(y), mean, inv_std])
