"""Ops whose output shape is a value fed at run time: AffineGrid, the window functions, Range.

A constant shape parameter takes the frontend's path; a run-time one is read into symbolic
dims (``shape_value``) and the values are computed over those extents.
"""

from __future__ import annotations

import math

import numpy as np

from ..registry import converter
from ._common import const, constant_value, frontend_converter, scalar_dim, shape_value


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


#: a0, a1, a2 of each window: a0 - a1 cos(2 pi n / N) + a2 cos(4 pi n / N)
_WINDOWS = {
    "HannWindow": (0.5, 0.5, 0.0),
    "HammingWindow": (25 / 46, 21 / 46, 0.0),
    "BlackmanWindow": (0.42, 0.5, 0.08),
}


def _window_value(op: str, n, period, cos):
    """Window ``op`` at positions ``n`` over ``period`` (numpy arrays or TIR expressions)."""
    a0, a1, a2 = _WINDOWS[op]
    angle = n * (2 * math.pi) / period
    value = a0 - a1 * cos(angle)
    return value + a2 * cos(angle * 2) if a2 else value


def _window_converter(op: str):
    def convert(bb, inputs, attr, params):
        """A constant for a constant size; else TE over the symbolic length fed at run time."""
        from onnx import helper
        from tvm import te, tirx

        dtype = helper.tensor_dtype_to_np_dtype(int(attr.get("output_datatype", 1))).name
        periodic = bool(attr.get("periodic", 1))
        size = constant_value(inputs[0], params)
        if size is not None:
            n = int(size.reshape(-1)[0])
            values = _window_value(op, np.arange(n), n if periodic else n - 1, np.cos)
            return const(values, dtype)
        n = scalar_dim(bb, inputs[0], params, "window")
        compute = "float64" if dtype == "float64" else "float32"
        period = (n if periodic else n - 1).astype(compute)

        def value(i):
            return _window_value(op, i.astype(compute), period, tirx.cos).astype(dtype)

        return bb.emit_te(lambda: te.compute((n,), value, name=op.lower()))

    convert.__name__ = convert.__qualname__ = op.lower()
    return convert


for _op in _WINDOWS:
    converter(_op, since=17)(_window_converter(_op))
