"""Split into parts of which some are empty (TVM's split needs strictly increasing indices)."""

from __future__ import annotations

from ..registry import converter
from ._common import constant_value, frontend_converter


@converter("Split", since=13, onward=True)
def split(bb, inputs, attr, params):
    """Constant sizes with a zero become one slice per part; anything else goes to the frontend."""
    from tvm import relax

    sizes = None
    if len(inputs) > 1 and inputs[1] is not None:
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
