"""Traditional-ML ops of the ai.onnx.ml domain: Binarizer, ArrayFeatureExtractor."""

from __future__ import annotations

from ..registry import converter
from ._common import const, dtype_of, static_shape

ML = "ai.onnx.ml"


@converter("Binarizer", since=1, domain=ML)
def binarizer(bb, inputs, attr, params):
    """1 where ``x > threshold``, else 0, in ``x``'s dtype."""
    from tvm import relax

    x = inputs[0]
    dtype = dtype_of(x)
    above = relax.op.greater(x, const(attr.get("threshold", 0.0), dtype))
    return relax.op.astype(above, dtype)


@converter("ArrayFeatureExtractor", since=1, domain=ML)
def array_feature_extractor(bb, inputs, attr, params):
    """The last axis gathered at the flattened indices; a vector input gives one row."""
    from tvm import relax

    op = relax.op
    x, indices = inputs
    flat = bb.normalize(op.reshape(indices, [-1]))
    if len(static_shape(x)) == 1:
        x = op.expand_dims(x, [0])
    return op.take(x, op.astype(flat, "int64"), axis=-1)
