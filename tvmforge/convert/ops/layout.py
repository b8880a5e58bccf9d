"""Shape-driven ops the frontend gets partly wrong: SpaceToDepth, EyeLike, Trilu, Expand."""

from __future__ import annotations

import numpy as np

from ..registry import converter
from ._common import const, constant_value, frontend_converter, static_shape, text


@converter("SpaceToDepth", since=1, onward=True)
def space_to_depth(bb, inputs, attr, params):
    """Blocks of ``blocksize``^2 pixels to channels, block-major (DCR) or channel-major (CRD)."""
    from tvm import relax

    op = relax.op
    x = inputs[0]
    size = int(attr["blocksize"])
    b, c, h, w = x.ty.shape  # symbolic dims are fine
    blocks = op.reshape(x, [b, c, h // size, size, w // size, size])
    order = [0, 1, 3, 5, 2, 4] if text(attr.get("mode", "DCR")) == "CRD" else [0, 3, 5, 1, 2, 4]
    return op.reshape(op.permute_dims(blocks, order), [b, c * size * size, h // size, w // size])


@converter("EyeLike", since=9, onward=True)
def eye_like(bb, inputs, attr, params):
    """A constant identity of the input's 2-D shape, shifted by ``k``, in ``dtype`` (default:
    the input's)."""
    import onnx

    rows, cols = static_shape(inputs[0])
    if "dtype" in attr:
        dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(int(attr["dtype"]))).name
    else:
        dtype = str(inputs[0].ty.dtype)
    return const(np.eye(rows, cols, k=int(attr.get("k", 0))), dtype)


@converter("Trilu", since=14)
def trilu(bb, inputs, attr, params):
    """An empty input is its own result (the frontend's mask cannot be built for it)."""
    if any(getattr(d, "value", None) == 0 for d in inputs[0].ty.shape):
        return inputs[0]
    return frontend_converter("Trilu")(bb, inputs, attr, params)


@converter("Expand", since=8, onward=True)
def expand(bb, inputs, attr, params):
    """A run-time target shape is first broadcast with the data's static shape (a 1 in it
    keeps the data's dim), which the frontend's dynamic path skips."""
    from tvm import relax

    op = relax.op
    data, shape = inputs
    static = [getattr(d, "value", None) for d in data.ty.shape]
    if not isinstance(shape.ty, relax.TensorType) or constant_value(shape, params) is not None:
        return frontend_converter("Expand")(bb, inputs, attr, params)
    if None in static:
        return frontend_converter("Expand")(bb, inputs, attr, params)
    (length,) = static_shape(shape)
    rank = max(length, len(static))
    target = op.astype(shape, "int64")
    if length < rank:
        target = op.concat([const([1] * (rank - length), "int64"), target], axis=0)
    target = bb.normalize(target)
    dims = const([1] * (rank - len(static)) + static, "int64")
    target = bb.normalize(op.where(op.equal(target, const(1, "int64")), dims, target))
    return frontend_converter("Expand")(bb, [data, target], attr, params)
