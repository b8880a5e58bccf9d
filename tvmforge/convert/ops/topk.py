"""TopK with ``k`` fed at run time: a full sort, then the first ``k`` along the axis.

A constant ``k`` goes to the frontend's converter, as before.
"""

from __future__ import annotations

from ..registry import converter
from ._common import const, constant_value, frontend_converter, scalar_dim


@converter("TopK", since=10, onward=True)
def top_k(bb, inputs, attr, params):
    """Values and int64 indices of the ``k`` largest (or smallest) along ``axis``; the output
    dim ``k`` is symbolic when ``k`` is known only at run time."""
    from tvm import relax

    op = relax.op
    data, k = inputs[0], inputs[1]
    if constant_value(k, params) is not None:
        return frontend_converter("TopK")(bb, inputs, attr, params)
    rank = len(data.ty.shape)
    axis = int(attr.get("axis", -1)) % rank
    largest = bool(attr.get("largest", 1))
    k = op.reshape(op.astype(k, "int64"), [1])
    n = data.ty.shape[axis]
    if hasattr(n, "value"):  # ONNX asks k <= n; never read past the end
        k = op.minimum(k, const(int(n.value), "int64"))
    dim = scalar_dim(bb, bb.normalize(k), params, "k")
    ranked = bb.normalize(op.topk(data, -1, axis, ret_type="both", largest=largest, dtype="int64"))
    first = [
        op.strided_slice(relax.TupleGetItem(ranked, i), [axis], [0], [dim], assume_inbound=True)
        for i in range(2)
    ]
    return relax.Tuple([bb.normalize(f) for f in first])
