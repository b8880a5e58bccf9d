"""Split into parts of which some are empty (TVM's split needs strictly increasing indices), or
into parts whose sizes are fed at run time."""

from __future__ import annotations

from ..registry import converter
from ._common import (
    as_int64,
    constant_value,
    emit_indexed,
    frontend_converter,
    runtime_tensor,
    shape_value,
)


@converter("Split", since=13, onward=True)
def split(bb, inputs, attr, params):
    """Constant sizes with a zero become one slice per part; run-time sizes, one window per
    part; anything else goes to the frontend."""
    from tvm import relax

    sizes = None
    if len(inputs) > 1 and inputs[1] is not None:
        if runtime_tensor(inputs[1], params):
            return _split_at_run_time(bb, inputs[0], inputs[1], int(attr.get("axis", 0)), params)
        sizes = constant_value(inputs[1], params)
    if sizes is None or sizes.all():
        return frontend_converter("Split", 13)(bb, inputs, attr, params)
    axis = int(attr.get("axis", 0))
    ends = [int(e) for e in sizes.cumsum()]
    starts = [0, *ends[:-1]]
    return relax.Tuple(
        [
            bb.normalize(relax.op.strided_slice(inputs[0], axes=[axis], begin=[b], end=[e]))
            for b, e in zip(starts, ends, strict=True)
        ]
    )


def _split_at_run_time(bb, data, sizes, axis: int, params):
    """Part ``k`` is the window of ``data`` along ``axis`` at the sum of the sizes before it,
    its length the ``k``-th size read at run time."""
    from tvm import relax

    dims = list(data.ty.shape)
    axis %= len(dims)
    sizes = as_int64(bb, sizes)
    lengths = shape_value(bb, sizes, params, "split").values
    offsets = bb.normalize(relax.op.cumsum(sizes, axis=0, exclusive=True))
    parts = []
    for k, length in enumerate(lengths):

        def element(x, tables, i, k=k):
            return x[(*i[:axis], i[axis] + tables[0][k], *i[axis + 1 :])]

        shape = [*dims[:axis], length, *dims[axis + 1 :]]
        parts.append(emit_indexed(bb, data, shape, element, [offsets], name="split"))
    return relax.Tuple(parts)
