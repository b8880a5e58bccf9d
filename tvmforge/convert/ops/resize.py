"""Resize (opsets 10 to 19) and Upsample as gathers and weighted sums, one axis at a time.

With constant scales or sizes (and roi, for tf_crop_and_resize), as real models carry them,
the sampling of each axis is computed in numpy at import time (``_resample``), which makes
every mode, coordinate transformation, antialias and rank exact. Where TOPI's 2-D kernel
(``relax.op.image.resize2d``) computes the same thing, it is used instead: it was 1.5x to 3x
faster than the gathers (untuned, one thread, NCHW float32 upsampling by 2).

Fed at run time, they give symbolic output dims (read at run time) and the same sampling is
computed by Relax ops (``_resample.runtime_*``), still one axis at a time; every axis in
``axes`` is resampled, since a scale of 1 is not known to be one before run time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...errors import UnsupportedOperatorError
from ..registry import converter
from ._common import const, constant_value, dtype_of, shape_value, static_shape, text
from ._resample import (
    ResizeAttrs,
    Taps,
    axis_taps,
    output_plan,
    runtime_nearest,
    runtime_source_coords,
    runtime_taps,
)

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


def _gather_axis(bb, x, axis: int, taps: Taps):
    """``x`` resampled along ``axis`` by ``taps``."""
    from tvm import relax

    op = relax.op
    single = taps.single()
    if single is not None:
        return bb.normalize(op.take(x, const(single, "int64"), axis=axis))
    n_out, n = taps.index.shape
    weights = taps.weights.reshape((n_out, n) + (1,) * (len(x.ty.shape) - axis - 1))
    index = const(taps.index.reshape(-1), "int64")
    return _weighted_taps(bb, x, axis, index, const(weights, dtype_of(x)), n_out, n)


def _weighted_taps(bb, x, axis: int, index, weights, n_out, n):
    """``x`` resampled along ``axis``: output ``i`` sums ``n`` inputs at the flat ``index``
    ``[i * n, i * n + n)`` times ``weights`` (shaped ``(n_out, n, 1, ...)``)."""
    from tvm import relax

    op = relax.op
    shape = list(x.ty.shape)
    gathered = op.take(x, index, axis=axis)
    gathered = op.reshape(bb.normalize(gathered), [*shape[:axis], n_out, n, *shape[axis + 1 :]])
    weighted = op.multiply(bb.normalize(gathered), weights)
    return bb.normalize(op.sum(bb.normalize(weighted), axis=[axis + 1]))


def _fill(bb, y, outside, value: float):
    """``y`` with ``value`` where the bool tensor ``outside`` is true (extrapolation)."""
    from tvm import relax

    return bb.normalize(relax.op.where(outside, const(value, dtype_of(y)), y))


def _cast_back(y, dtype: str):
    """Float32 ``y`` as ``dtype``; integers rounded and saturated."""
    from tvm import relax

    op = relax.op
    if dtype.startswith(("int", "uint")):  # (numpy knows no bfloat16)
        info = np.iinfo(dtype)
        y = op.clip(op.round(y), float(info.min), float(info.max))
    return op.astype(y, dtype)


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
        y = _gather_axis(bb, y, axis, taps)
        shape[axis] = out_shape[axis]
        if taps.outside is not None:
            outside = outside | taps.outside.reshape((1,) * axis + (-1,) + (1,) * (rank - axis - 1))
    if outside.any():
        y = _fill(bb, y, relax.const(outside), extrapolation_value)
    return _cast_back(y, dtype) if cast else y


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


def _fed(inputs, i: int, params) -> bool:
    """Input ``i`` is given (present and not of length 0) and known only at run time."""
    if len(inputs) <= i or inputs[i] is None or static_shape(inputs[i]) == [0]:
        return False
    return constant_value(inputs[i], params) is None


@converter("Resize", since=11, onward=True)
def resize(bb, inputs, attr, params):
    """Resize from opset 11 on: roi, scales or sizes, axes and keep_aspect_ratio_policy."""
    x = inputs[0]
    shape = static_shape(x)
    rank = len(shape)
    axes = [int(a) % rank for a in attr.get("axes", range(rank))]
    policy = text(attr.get("keep_aspect_ratio_policy", "stretch"))
    attrs = _attrs(attr)
    extrapolation = float(attr.get("extrapolation_value", 0.0))
    crop = attrs.coordinate_mode == "tf_crop_and_resize"
    if any(_fed(inputs, i, params) for i in ((1, 2, 3) if crop else (2, 3))):
        plan = _runtime_plan(bb, shape, (inputs + [None, None])[2:4], axes, policy, params)
        roi = _runtime_roi(inputs, len(axes)) if crop else None
        return _resample_runtime(bb, x, axes, plan, attrs, roi, extrapolation, params)
    scales = _optional_constant(inputs, 2, params, "Resize scales")
    sizes = _optional_constant(inputs, 3, params, "Resize sizes")
    factors, out_shape = output_plan(shape, scales, sizes, axes, policy)
    roi = None
    if crop:
        given = _optional_constant(inputs, 1, params, "Resize roi")
        if given is None:
            raise UnsupportedOperatorError("Resize tf_crop_and_resize needs a roi input")
        given = given.astype(np.float64).tolist()
        roi = [0.0] * rank + [1.0] * rank
        for i, a in enumerate(axes):
            roi[a], roi[rank + a] = given[i], given[len(axes) + i]
    return resample(bb, x, factors, out_shape, attrs, roi, extrapolation)


@converter("Resize", since=10)
@converter("Upsample", since=9)
@converter("Upsample", since=10)
def resize_v10(bb, inputs, attr, params):
    """Resize-10 and Upsample-9/10: scales only, asymmetric coordinates, nearest rounds down."""
    x = inputs[0]
    if _fed(inputs, 1, params):
        axes = list(range(len(static_shape(x))))
        plan = _runtime_plan(bb, static_shape(x), [inputs[1], None], axes, "stretch", params)
        return _resample_runtime(bb, x, axes, plan, _upsample_attrs(attr), None, 0.0, params)
    scales = _optional_constant(inputs, 1, params, "Resize-10/Upsample scales")
    return _upsample(bb, x, scales, attr)


@converter("Upsample", since=7)
def upsample_v7(bb, inputs, attr, params):
    """Upsample-7: scales as an attribute."""
    return _upsample(bb, inputs[0], np.asarray(attr.get("scales", []), dtype=np.float64), attr)


def _upsample_attrs(attr) -> ResizeAttrs:
    return ResizeAttrs(mode=_mode(attr), coordinate_mode="asymmetric", nearest_mode="floor")


def _upsample(bb, x, scales: np.ndarray | None, attr):
    shape = static_shape(x)
    factors, out_shape = output_plan(shape, scales, None, list(range(len(shape))))
    return resample(bb, x, factors, out_shape, _upsample_attrs(attr))


# --- scales, sizes or roi fed at run time ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plan:
    """The output shape (symbolic dims where read at run time) and, per resized axis, its
    scale and output length as float64 scalar tensors."""

    shape: list
    scales: list
    sizes: list


def _runtime_plan(bb, shape: list[int], given: list, axes: list[int], policy: str, params):
    """The plan from ``given`` = [scales] or [scales, sizes] (either may be absent or empty)."""
    from tvm import relax

    op = relax.op
    scales, sizes = [g if g is not None and static_shape(g) != [0] else None for g in given]
    values = [None if g is None else constant_value(g, params) for g in (scales, sizes)]
    if all(g is None or v is not None for g, v in zip((scales, sizes), values, strict=True)):
        factors, out = output_plan(shape, *values, axes, policy)  # only the roi is fed
        as_f64 = [[const(float(v[a]), "float64") for a in axes] for v in (factors, out)]
        return _Plan(out, *as_f64)
    n_in = const([shape[a] for a in axes], "float64")
    if sizes is not None:
        ratio = bb.normalize(op.divide(op.astype(sizes, "float64"), n_in))
        if policy == "stretch":
            scale, size = ratio, op.astype(sizes, "float64")
        elif policy in ("not_larger", "not_smaller"):
            pick = op.min if policy == "not_larger" else op.max
            scale = op.broadcast_to(pick(ratio, axis=[0], keepdims=True), [len(axes)])
            size = op.floor(op.add(op.multiply(scale, n_in), const(0.5, "float64")))
        else:
            raise UnsupportedOperatorError(f"Resize keep_aspect_ratio_policy={policy!r}")
    elif scales is not None:
        scale = op.astype(scales, "float64")
        size = op.floor(op.multiply(scale, n_in))
    else:
        raise UnsupportedOperatorError("Resize needs scales or sizes")
    scale, size = bb.normalize(scale), bb.normalize(size)
    dims = shape_value(bb, bb.normalize(op.astype(size, "int64")), params, "resized").values
    out = list(shape)
    for a, d in zip(axes, dims, strict=True):
        out[a] = d
    return _Plan(out, _items(bb, scale, len(axes)), _items(bb, size, len(axes)))


def _items(bb, vector, n: int) -> list:
    """The ``n`` elements of a 1-D tensor as scalar tensors."""
    from tvm import relax

    return [bb.normalize(relax.op.take(vector, const(i, "int64"), axis=0)) for i in range(n)]


def _runtime_roi(inputs, n_axes: int) -> list:
    """Per resized axis, (start, end) of the crop as float64 scalar tensors."""
    from tvm import relax

    if len(inputs) <= 1 or inputs[1] is None:
        raise UnsupportedOperatorError("Resize tf_crop_and_resize needs a roi input")
    roi = relax.op.astype(inputs[1], "float64")
    take = [relax.op.take(roi, const(i, "int64"), axis=0) for i in range(2 * n_axes)]
    return list(zip(take[:n_axes], take[n_axes:], strict=True))


def _resample_runtime(bb, x, axes, plan: _Plan, attrs: ResizeAttrs, roi, extrapolation, params):
    """``x`` resized along ``axes`` as ``plan`` says, the sampling computed at run time."""
    from tvm import relax

    op = relax.op
    dtype = dtype_of(x)
    rank = len(plan.shape)
    cast = attrs.mode != "nearest" and dtype not in _NATIVE
    y = bb.normalize(op.astype(x, "float32")) if cast else x
    outside = None
    for j, axis in enumerate(axes):
        n_in, n_out = int(x.ty.shape[axis]), plan.shape[axis]
        span = roi[j] if roi else None
        coords, out_j = runtime_source_coords(
            bb, attrs.coordinate_mode, n_out, n_in, plan.scales[j], plan.sizes[j], span
        )
        coords = bb.normalize(coords)
        if attrs.mode == "nearest":
            index = runtime_nearest(bb, coords, attrs.nearest_mode, n_in)
            y = bb.normalize(op.take(y, bb.normalize(index), axis=axis))
        else:
            index, w = runtime_taps(bb, coords, plan.scales[j], attrs, n_in, params, f"taps{axis}")
            n = index.ty.shape[1]
            w = op.reshape(op.astype(w, dtype_of(y)), [n_out, n] + [1] * (rank - axis - 1))
            index = op.reshape(index, [n_out * n])
            y = _weighted_taps(bb, y, axis, bb.normalize(index), bb.normalize(w), n_out, n)
        if out_j is not None:
            out_j = op.reshape(out_j, [1] * axis + [n_out] + [1] * (rank - axis - 1))
            outside = out_j if outside is None else op.logical_or(outside, out_j)
    if outside is not None:
        y = _fill(bb, y, bb.normalize(outside), extrapolation)
    return _cast_back(y, dtype) if cast else y
