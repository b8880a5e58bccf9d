"""Per-batch index arithmetic along one axis, as one gather: ReverseSequence, TensorScatter."""

from __future__ import annotations

from ..registry import converter
from ._common import const, static_shape, text


def _along(bb, values, rank: int, axis: int, length: int):
    """``values`` (one per position of ``axis``) shaped to broadcast against a rank-``rank``
    tensor."""
    from tvm import relax

    shape = [1] * rank
    shape[axis] = length
    return bb.normalize(relax.op.reshape(values, shape))


def _positions(bb, rank: int, axis: int, length: int):
    """0, 1, ... along ``axis`` of a rank-``rank`` tensor (int64)."""
    from tvm import relax

    return _along(bb, relax.op.arange(0, length, 1, "int64"), rank, axis, length)


@converter("ReverseSequence", since=10, onward=True)
def reverse_sequence(bb, inputs, attr, params):
    """Row ``b`` of ``time_axis`` reversed over its first ``sequence_lens[b]`` steps."""
    from tvm import relax

    op = relax.op
    x, lens = inputs
    shape = static_shape(x)
    rank = len(shape)
    batch_axis, time_axis = int(attr.get("batch_axis", 1)), int(attr.get("time_axis", 0))
    time = _positions(bb, rank, time_axis, shape[time_axis])
    lens = _along(bb, op.astype(lens, "int64"), rank, batch_axis, shape[batch_axis])
    source = op.where(
        op.less(time, lens), op.subtract(op.subtract(lens, const(1, "int64")), time), time
    )
    index = bb.normalize(op.broadcast_to(source, shape))
    return op.gather_elements(x, index, axis=time_axis)


@converter("TensorScatter", since=24)
def tensor_scatter(bb, inputs, attr, params):
    """``past_cache`` with batch ``b``'s ``update`` written from ``write_indices[b]`` along
    ``axis`` (wrapping around in ``circular`` mode)."""
    from tvm import relax

    op = relax.op
    past, update = inputs[0], inputs[1]
    indices = inputs[2] if len(inputs) > 2 else None
    shape, update_shape = static_shape(past), static_shape(update)
    rank = len(shape)
    axis = int(attr.get("axis", -2)) % rank
    size, count = shape[axis], update_shape[axis]
    slot = _positions(bb, rank, axis, size)
    if indices is not None:
        start = _along(bb, op.astype(indices, "int64"), rank, 0, shape[0])
        slot = bb.normalize(op.subtract(slot, start))
    if text(attr.get("mode", "linear")) == "circular":
        slot = bb.normalize(op.floor_mod(slot, const(size, "int64")))
    written = bb.normalize(
        op.logical_and(
            op.greater_equal(slot, const(0, "int64")), op.less(slot, const(count, "int64"))
        )
    )
    source = op.clip(slot, 0, count - 1)
    padded = update
    if count < size:  # gather_elements wants data as long as the index along the axis
        pad = list(update_shape)
        pad[axis] = size - count
        padded = op.concat([update, op.zeros(pad, str(update.ty.dtype))], axis=axis)
    index = bb.normalize(op.broadcast_to(source, shape))
    values = op.gather_elements(bb.normalize(padded), index, axis=axis)
    return op.where(bb.normalize(op.broadcast_to(written, shape)), values, past)
