"""LayerNormalization with all three outputs (the frontend returns only Y) and RMSNormalization
(the frontend's fails when the axes cover the whole input)."""

from __future__ import annotations

from ..registry import converter
from ._common import const, dtype_of, frontend_converter


def _plan(x, attr) -> tuple[str, str, list[int], float]:
    """Input dtype, the dtype to compute in, the normalized axes and epsilon."""
    dtype = dtype_of(x)
    stash = "float32" if int(attr.get("stash_type", 1)) == 1 else dtype
    rank = len(x.ty.shape)
    axis = int(attr.get("axis", -1))
    axis = axis + rank if axis < 0 else axis
    return dtype, stash, list(range(axis, rank)), float(attr.get("epsilon", 1e-5))


@converter("LayerNormalization", since=17)
def layer_normalization(bb, inputs, attr, params):
    """Y, Mean and InvStdDev over the axes from ``axis`` on, in float32 when ``stash_type=1``."""
    from tvm import relax

    op = relax.op
    x, scale = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 else None
    dtype, stash, axes, eps = _plan(x, attr)
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


@converter("RMSNormalization", since=23)
def rms_normalization(bb, inputs, attr, params):
    """``x / sqrt(mean(x^2) + epsilon) * scale`` over the axes from ``axis`` on."""
    from tvm import relax

    op = relax.op
    x, scale = inputs[0], inputs[1]
    dtype, stash, axes, eps = _plan(x, attr)
    xs = bb.normalize(op.astype(x, stash)) if stash != dtype else x
    mean_square = op.mean(op.multiply(xs, xs), axis=axes, keepdims=True)
    inv_rms = bb.normalize(op.rsqrt(op.add(bb.normalize(mean_square), const(eps, stash))))
    if stash != dtype:
        scale = bb.normalize(op.astype(scale, stash))
    y = op.multiply(bb.normalize(op.multiply(xs, inv_rms)), scale)
    return op.astype(bb.normalize(y), dtype) if stash != dtype else y


@converter("BatchNormalization", since=14, onward=True)
def batch_normalization(bb, inputs, attr, params):
    """In training mode: Y from the batch statistics, and the updated running mean and var."""
    from tvm import relax

    if not int(attr.get("training_mode", 0)):
        inference = frontend_converter("BatchNormalization", 15)
        return inference(bb, inputs, attr, params)
    op = relax.op
    x = inputs[0]
    dtype = dtype_of(x)
    scale, bias, mean, var = (
        p if dtype_of(p) == dtype else bb.normalize(op.astype(p, dtype)) for p in inputs[1:5]
    )
    rank = len(x.ty.shape)
    axes = [0, *range(2, rank)]
    batch_mean = bb.normalize(op.mean(x, axis=axes))
    batch_var = bb.normalize(op.variance(x, axis=axes))
    per_channel = [-1] + [1] * (rank - 2)
    inv_std = op.rsqrt(op.add(batch_var, const(float(attr.get("epsilon", 1e-5)), dtype)))
    gain = bb.normalize(op.reshape(bb.normalize(op.multiply(scale, inv_std)), per_channel))
    centered = op.subtract(x, op.reshape(batch_mean, per_channel))
    y = op.add(op.multiply(bb.normalize(centered), gain), op.reshape(bias, per_channel))
    momentum = float(attr.get("momentum", 0.9))
    keep, take = const(momentum, dtype), const(1 - momentum, dtype)

    def running(old, batch):
        return bb.normalize(op.add(op.multiply(old, keep), op.multiply(batch, take)))

    return relax.Tuple([bb.normalize(y), running(mean, batch_mean), running(var, batch_var)])
