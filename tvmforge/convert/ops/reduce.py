"""ReduceMax and ReduceMin that keep infinities: TVM starts max at the lowest finite value.

``relax.op.max`` of a slice that is all ``-inf`` gives ``-3.4e38``, not ``-inf`` (and ``min`` of
all ``+inf`` gives ``+3.4e38``), which breaks tests like ``ReduceMax(mask) == -inf`` that
Attention's function body uses to find fully masked rows. These wrap the frontend's converter
and put the infinity back where every reduced value is that infinity.
"""

from __future__ import annotations

from ..registry import Converter, converter
from ._common import const, dtype_of, frontend_converter

#: Schema versions of ReduceMax and ReduceMin.
_SINCE = (1, 11, 12, 13, 18, 20)


def _keeping(op_type: str, since: int, infinity: float) -> Converter:
    def convert(bb, inputs, attr, params):
        from tvm import relax

        op = relax.op
        reduce = frontend_converter(op_type, since)
        x = inputs[0]
        dtype = dtype_of(x)
        if dtype == "bool":  # TOPI has no initial value for bool: reduce 0/1 bytes
            flags = bb.normalize(op.astype(x, "uint8"))
            return op.astype(bb.normalize(reduce(bb, [flags, *inputs[1:]], attr, params)), "bool")
        y = bb.normalize(reduce(bb, inputs, attr, params))
        if not dtype.startswith(("float", "bfloat")):
            return y
        inf = const(infinity, dtype)
        # 1 (-1 for min) where a value is not the infinity: reduced, it is 1 (-1) iff some value
        # is not; otherwise every value is the infinity or there are none
        finite = 1 if infinity < 0 else -1
        flags = op.multiply(op.astype(op.not_equal(x, inf), dtype), const(finite, dtype))
        seen = bb.normalize(reduce(bb, [bb.normalize(flags), *inputs[1:]], attr, params))
        return op.where(op.equal(seen, const(finite, dtype)), y, inf)

    convert.__doc__ = f"{op_type} (schema {since}) with slices of {infinity} giving {infinity}."
    convert.__qualname__ = f"{op_type.lower()}_v{since}"
    return convert


for _since in _SINCE:
    converter("ReduceMax", since=_since)(_keeping("ReduceMax", _since, float("-inf")))
    converter("ReduceMin", since=_since)(_keeping("ReduceMin", _since, float("inf")))
