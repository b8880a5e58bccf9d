"""Resize (opsets 10 to 19) and Upsample as gathers and weighted sums, one axis at a time.

Scales or sizes (and roi, for tf_crop_and_resize) must be constants: the output shape depends
on them. The sampling of each axis is computed in numpy at import time (``_resample``), which
makes every mode, coordinate transformation, antialias and rank exact. Where TOPI's 2-D kernel
(``relax.op.image.resize2d``) computes the same thing, it is used instead: it was 1.5x to 3x
faster than the gathers (untuned, one thread, NCHW float32 upsampling by 2).
"""

from __future__ import annotations

import math

import numpy as np

from ...errors import UnsupportedOperatorError
from ..registry import converter
from ._common import const, constant_value, dtype_of, static_shape, text
from ._resample import ResizeAttrs, Taps, axis_taps, output_plan

_NATIVE = ("float32", "float64")
#: Coordinate transformations TOPI's resize2d computes as ONNX does (for whole output sizes).
_TOPI_COORDS = ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric")
_TOPI_METHODS = {"nearest": "nearest_neighbor", "linear": "linear", "cubic": "cubic"}


def _optional_constant(inputs, i: int, params, what: str) -> np.ndarray | None:
    """Input ``i`` as a numpy array; None when absent or empty; an error when not constant."""
    if len(inputs) <= i or inputs[i] is None:
        return None
    value = constant_value(inputs[i], params)
    if value is None:
        raise UnsupportedOperatorError(
            f"{what} must be a constant (an initializer) for a static output shape; "
            "freeze it into the model"
        )
    return value if value.size else None


def _gather_axis(bb, x, axis: int, taps: Taps, shape: list[int]):
    """``x`` resampled along ``axis`` by ``taps``."""
    from tvm import relax

    op = relax.op
    single = taps.single()
    if single is not None:
        return bb.normalize(op.take(x, const(single, "int64"), axis=axis))
    n_out, n = taps.index.shape
    gathered = op.take(x, const(taps.index.reshape(-1), "int64"), axis=axis)
    gathered = op.reshape(bb.normalize(gathered), [*shape[:axis], n_out, n, *shape[axis + 1 :]])
    weights = taps.weights.reshape((n_out, n) + (1,) * (len(shape) - axis - 1))
    weighted = op.multiply(bb.normalize(gathered), const(weights, dtype_of(x)))
    return bb.normalize(op.sum(bb.normalize(weighted), axis=[axis + 1]))


def _topi_resize2d(x, factors: list[float], out_shape: list[int], attrs: ResizeAttrs):
    """TOPI's kernel where it agrees with ONNX (H and W of NCHW, sizes = scales x input), else None."""
    from tvm import relax

    shape = static_shape(x)
    if len(shape) != 4:
        return None
    if (
        out_shape[:2] != shape[:2]
        or any(factors[a] * shape[a] != out_shape[a] for a in (2, 3))
        or attrs.antialias
        or attrs.coordinate_mode not in _TOPI_COORDS
        or (attrs.mode != "nearest" and dtype_of(x) not in _NATIVE)
    ):
        return None
    return relax.op.image.resize2d(
        x,
        out_shape[2:],
        layout="NCHW",
        method=_TOPI_METHODS[attrs.mode],
        coordinate_transformation_mode=attrs.coordinate_mode,
        rounding_method=attrs.nearest_mode,
        cubic_alpha=attrs.cubic_coeff_a,
        cubic_exclude=int(attrs.exclude_outside),
    )


def resample(
    bb,
    x,
    factors: list[float],
    out_shape: list[int],
    attrs: ResizeAttrs,
    roi: list[float] | None = None,
    extrapolation_value: float = 0.0,
):
    """``x`` resized to ``out_shape``; ``roi`` is [starts..., ends...] over all axes."""
    from tvm import relax

    op = relax.op
    dtype = dtype_of(x)
    shape = static_shape(x)
    rank = len(shape)
    roi = roi if attrs.coordinate_mode == "tf_crop_and_resize" and roi else None
    fast = _topi_resize2d(x, factors, out_shape, attrs)
    if fast is not None:
        return fast
    outside = np.zeros((1,) * rank, dtype=bool)
    y, cast = x, False
    for axis in range(rank):
        span = (0.0, 1.0) if roi is None else (float(roi[axis]), float(roi[rank + axis]))
        if math.isclose(factors[axis], 1.0) and out_shape[axis] == shape[axis] and span == (0, 1):
            continue
        taps = axis_taps(shape[axis], out_shape[axis], factors[axis], attrs, span)
        if taps.single() is None and not cast and dtype not in _NATIVE:
            y, cast = bb.normalize(op.astype(y, "float32")), True
        y = _gather_axis(bb, y, axis, taps, shape)
        shape[axis] = out_shape[axis]
        if taps.outside is not None:
            outside = outside | taps.outside.reshape((1,) * axis + (-1,) + (1,) * (rank - axis - 1))
    if outside.any():
        fill = const(extrapolation_value, dtype_of(y))
        y = bb.normalize(op.where(relax.const(outside), fill, y))
    if cast:
        if dtype.startswith(("int", "uint")):  # (numpy knows no bfloat16)
            info = np.iinfo(dtype)
            y = op.clip(op.round(y), float(info.min), float(info.max))
        y = op.astype(y, dtype)
    return y


def _mode(attr) -> str:
    mode = text(attr.get("mode", "nearest"))
    return "linear" if mode in ("bilinear", "trilinear") else mode


def _attrs(attr) -> ResizeAttrs:
    return ResizeAttrs(
        mode=_mode(attr),
        coordinate_mode=text(attr.get("coordinate_transformation_mode", "half_pixel")),
        nearest_mode=text(attr.get("nearest_mode", "round_prefer_floor")),
        cubic_coeff_a=float(attr.get("cubic_coeff_a", -0.75)),
        exclude_outside=bool(attr.get("exclude_outside", 0)),
        antialias=bool(attr.get("antialias", 0)),
    )


@converter("Resize", since=11, onward=True)
def resize(bb, inputs, attr, params):
    """Resize from opset 11 on: roi, scales or sizes, axes and keep_aspect_ratio_policy."""
    x = inputs[0]
    shape = static_shape(x)
    rank = len(shape)
    axes = [int(a) % rank for a in attr.get("axes", range(rank))]
    scales = _optional_constant(inputs, 2, params, "Resize scales")
    sizes = _optional_constant(inputs, 3, params, "Resize sizes")
    policy = text(attr.get("keep_aspect_ratio_policy", "stretch"))
    factors, out_shape = output_plan(shape, scales, sizes, axes, policy)
    attrs = _attrs(attr)
    roi = None
    if attrs.coordinate_mode == "tf_crop_and_resize":
        given = _optional_constant(inputs, 1, params, "Resize roi")
        if given is None:
            raise UnsupportedOperatorError("Resize tf_crop_and_resize needs a roi input")
        given = given.astype(np.float64).tolist()
        roi = [0.0] * rank + [1.0] * rank
        for i, a in enumerate(axes):
            roi[a], roi[rank + a] = given[i], given[len(axes) + i]
    extrapolation = float(attr.get("extrapolation_value", 0.0))
    return resample(bb, x, factors, out_shape, attrs, roi, extrapolation)


@converter("Resize", since=10)
@converter("Upsample", since=9)
@converter("Upsample", since=10)
def resize_v10(bb, inputs, attr, params):
    """Resize-10 and Upsample-9/10: scales only, asymmetric coordinates, nearest rounds down."""
    scales = _optional_constant(inputs, 1, params, "Resize-10/Upsample scales")
    return _upsample(bb, inputs[0], scales, attr)


@converter("Upsample", since=7)
def upsample_v7(bb, inputs, attr, params):
    """Upsample-7: scales as an attribute."""
    return _upsample(bb, inputs[0], np.asarray(attr.get("scales", []), dtype=np.float64), attr)


def _upsample(bb, x, scales: np.ndarray | None, attr):
    shape = static_shape(x)
    factors, out_shape = output_plan(shape, scales, None, list(range(len(shape))))
    attrs = ResizeAttrs(mode=_mode(attr), coordinate_mode="asymmetric", nearest_mode="floor")
    return resample(bb, x, factors, out_shape, attrs)
