"""Ops whose output shape is a value fed at run time: AffineGrid, the window functions, Range.

A constant shape parameter takes the frontend's path; a run-time one is read into symbolic
dims (``shape_value``) and the values are computed over those extents.
"""

from __future__ import annotations

from ..registry import converter
from ._common import constant_value, frontend_converter, shape_value


@converter("AffineGrid", since=20)
def affine_grid(bb, inputs, attr, params):
    """The frontend's AffineGrid; a ``size`` fed at run time gives symbolic spatial dims."""
    if constant_value(inputs[1], params) is not None:
        return frontend_converter("AffineGrid", 20)(bb, inputs, attr, params)
    spatial = list(shape_value(bb, inputs[1], params, "grid").values[2:])
    return bb.emit_te(_affine_grid, inputs[0], spatial, bool(attr.get("align_corners", 0)))


def _affine_grid(theta, spatial, align_corners: bool):
    """TE: ONNX's grid [N, *spatial, nd] of ``theta`` applied to normalized coordinates
    (x along the last spatial dim), over extents that may be symbolic."""
    from tvm import te, tirx

    nd = len(spatial)
    dtype = theta.dtype

    def normalized(i, n):
        i, n = i.astype(dtype), n.astype(dtype)
        if align_corners:  # one point: onnxruntime puts it at +1 (the spec divides by 0)
            one = tirx.const(1, dtype)
            return tirx.if_then_else(n > one, i * 2 / tirx.max(n - one, one) - one, one)
        return (i * 2 + 1) / n - 1

    def value(b, *index):
        *at, k = index
        coords = [normalized(at[d], spatial[d]) for d in reversed(range(nd))]
        return sum((theta[b, k, j] * c for j, c in enumerate(coords)), theta[b, k, nd])

    return te.compute((theta.shape[0], *spatial, nd), value, name="affine_grid")
