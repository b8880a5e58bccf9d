"""ONNX Resize sampling computed in numpy: per axis, which inputs each output reads, and weights.

Resize is separable: resizing one axis at a time gives the ONNX result. With constant scales
or sizes every output position reads a fixed set of ``n`` input positions with fixed weights
(``n`` = 2 for nearest and linear, 4 for cubic, more with antialias), so the converter only
gathers and sums. The arithmetic follows ``onnx/reference/ops/op_resize.py``. The ``runtime_*``
functions at the end compute the same positions and weights as Relax ops, for scales, sizes
or roi fed at run time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import UnsupportedOperatorError


@dataclass(frozen=True, slots=True)
class ResizeAttrs:
    """The attributes that decide sampling (defaults of Resize-19)."""

    mode: str = "nearest"
    coordinate_mode: str = "half_pixel"
    nearest_mode: str = "round_prefer_floor"
    cubic_coeff_a: float = -0.75
    exclude_outside: bool = False
    antialias: bool = False


@dataclass(frozen=True, slots=True)
class Taps:
    """One axis: ``out[i] = sum_k weights[i, k] * in[index[i, k]]``; ``outside`` rows extrapolate."""

    index: np.ndarray
    weights: np.ndarray
    outside: np.ndarray | None = None

    def single(self) -> np.ndarray | None:
        """The one index each output copies, when every row has a single weight of 1."""
        picked = self.weights == 1.0
        if not (picked.sum(axis=1) == 1).all() or (self.weights[~picked] != 0).any():
            return None
        return self.index[picked]


def output_plan(
    shape: list[int],
    scales: np.ndarray | None,
    sizes: np.ndarray | None,
    axes: list[int],
    policy: str = "stretch",
) -> tuple[list[float], list[int]]:
    """Per-axis scale factors and the output shape, from scales or sizes given for ``axes``."""
    rank = len(shape)
    if sizes is not None:
        out = list(shape)
        for a, s in zip(axes, sizes.tolist(), strict=True):
            out[a] = int(s)
        factors = [out[i] / shape[i] for i in range(rank)]
        if policy == "stretch":
            return factors, out
        if policy not in ("not_larger", "not_smaller"):
            raise UnsupportedOperatorError(f"Resize keep_aspect_ratio_policy={policy!r}")
        pick = min if policy == "not_larger" else max
        scale = pick(factors[a] for a in axes)
        factors = [scale if i in axes else 1.0 for i in range(rank)]
        return factors, [
            int(scale * shape[i] + 0.5) if i in axes else shape[i] for i in range(rank)
        ]
    if scales is None:
        raise UnsupportedOperatorError("Resize needs scales or sizes")
    factors = [1.0] * rank
    for a, s in zip(axes, scales.tolist(), strict=True):
        factors[a] = float(s)
    return factors, [int(factors[i] * shape[i]) for i in range(rank)]


def _source_coords(
    coord_mode: str, n_out: int, n_in: int, scale: float, roi: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Input coordinate of every output position (and, for tf_crop_and_resize, which are out)."""
    y = np.arange(n_out, dtype=np.float64)
    width = scale * n_in
    if coord_mode == "align_corners":
        return (np.zeros(n_out) if width == 1 else y * (n_in - 1) / (width - 1)), None
    if coord_mode == "asymmetric":
        return y / scale, None
    if coord_mode == "tf_crop_and_resize":
        lo, hi = roi
        if width == 1:
            x = np.full(n_out, (hi - lo) * (n_in - 1) / 2)
        else:
            x = y * (hi - lo) * (n_in - 1) / (width - 1)
        x = x + lo * (n_in - 1)
        return x, (x < 0) | (x > n_in - 1)
    if coord_mode == "pytorch_half_pixel":
        return (np.full(n_out, -0.5) if width == 1 else (y + 0.5) / scale - 0.5), None
    if coord_mode == "half_pixel":
        return (y + 0.5) / scale - 0.5, None
    if coord_mode == "half_pixel_symmetric":
        offset = n_in / 2 * (1 - n_out / width)
        return offset + (y + 0.5) / scale - 0.5, None
    raise UnsupportedOperatorError(f"Resize coordinate_transformation_mode={coord_mode!r}")


def _nearest(r: np.ndarray, mode: str) -> np.ndarray:
    exact = r == 1.0
    if mode == "round_prefer_floor":
        right = r > 0.5
    elif mode == "round_prefer_ceil":
        right = r >= 0.5
    elif mode == "floor":
        right = np.zeros_like(exact)
    elif mode == "ceil":
        right = np.ones_like(exact)
    else:
        raise UnsupportedOperatorError(f"Resize nearest_mode={mode!r}")
    right = right | exact
    return np.stack([~right, right], axis=1).astype(np.float64)


def _cubic(x: np.ndarray, a: float) -> np.ndarray:
    """The cubic convolution kernel at distances ``x``."""
    x = np.abs(x)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return np.where(x <= 1, near, np.where(x < 2, far, 0.0))


def _coeffs(r: np.ndarray, scale: float, attrs: ResizeAttrs) -> np.ndarray:
    """Weights (out, n) over the n inputs around each output, ``r`` its offset in (0, 1]."""
    if attrs.mode == "nearest":
        return _nearest(r, attrs.nearest_mode)
    s = min(scale, 1.0) if attrs.antialias else 1.0
    if attrs.mode == "linear":
        start = int(np.floor(-1 / s) + 1)
        dist = (np.arange(start, 2 - start)[None, :] - r[:, None]) * s
        w = np.clip(1 - np.abs(dist), 0, 1)
    elif attrs.mode == "cubic":
        start = int(np.floor(-2 / s) + 1)
        dist = (np.arange(start, 2 - start)[None, :] - r[:, None]) * s
        w = _cubic(dist, attrs.cubic_coeff_a)
    else:
        raise UnsupportedOperatorError(f"Resize mode={attrs.mode!r}")
    return w / w.sum(axis=1, keepdims=True) if attrs.antialias else w


def axis_taps(
    n_in: int, n_out: int, scale: float, attrs: ResizeAttrs, roi: tuple[float, float] = (0, 1)
) -> Taps:
    """The taps resizing an axis of ``n_in`` to ``n_out`` positions at ``scale``."""
    x, outside = _source_coords(attrs.coordinate_mode, n_out, n_in, scale, roi)
    floor = np.floor(x)
    ratio = np.where(x == floor, 1.0, x - floor)
    w = _coeffs(ratio, scale, attrs)
    n = w.shape[1]
    # the n inputs nearest to x, ties to the left (the reference pads by ceil(n/2) at the edge)
    pad = -(-n // 2)
    xp = x + pad
    p = np.floor(xp)
    frac = xp - p
    if n % 2 == 0:
        start = p + np.where(frac == 0, -(n // 2), -(n // 2) + 1)
    else:
        start = p - (n - 1) // 2 + (frac > 0.5)
    index = start.astype(np.int64)[:, None] + np.arange(n)[None, :] - pad
    if attrs.exclude_outside:
        w = np.where((index < 0) | (index >= n_in), 0.0, w)
        total = w.sum(axis=1, keepdims=True)
        w = w / np.where(total == 0, 1.0, total)
    index = np.clip(index, 0, n_in - 1)
    return Taps(index, w, outside if outside is not None and outside.any() else None)


# --- The same sampling as Relax ops, for scales, sizes or roi known only at run time ---------
#
# ``x`` below is a float64 Relax tensor of the input coordinate of each output position; a
# scale is a float64 scalar tensor. Linear and cubic read the ``2 m`` integer positions around
# ``x`` (``m`` = the kernel's support, divided by the scale with antialias, rounded up): the
# kernel is zero beyond them, so this gives the reference's weights whichever window it picks.


def _f64(value: float):
    """A float64 scalar constant."""
    from tvm import relax

    return relax.const(value, "float64")


def runtime_source_coords(bb, coord_mode: str, n_out, n_in: int, scale, size, roi):
    """Input coordinate of every output position as a float64 tensor of ``n_out`` (a dim),
    and, for tf_crop_and_resize, a bool tensor of those outside the input (else None).
    ``size`` is the output length as a float64 scalar tensor; ``roi`` is (start, end)."""
    from tvm import relax

    op = relax.op
    y = bb.normalize(op.arange(0, n_out, 1, "float64"))
    width = bb.normalize(op.multiply(scale, _f64(float(n_in))))
    single = op.equal(width, _f64(1.0))
    half = op.subtract(op.divide(op.add(y, _f64(0.5)), scale), _f64(0.5))
    if coord_mode == "align_corners":
        ratio = op.divide(_f64(n_in - 1.0), op.subtract(width, _f64(1.0)))
        return op.where(single, _f64(0.0), op.multiply(y, ratio)), None
    if coord_mode == "asymmetric":
        return op.divide(y, scale), None
    if coord_mode == "tf_crop_and_resize":
        lo, hi = (op.multiply(r, _f64(n_in - 1.0)) for r in roi)
        span = op.subtract(hi, lo)
        step = op.divide(span, op.subtract(width, _f64(1.0)))
        x = op.where(single, op.multiply(span, _f64(0.5)), op.multiply(y, step))
        x = bb.normalize(op.add(x, lo))
        low = op.less(x, _f64(0.0))
        return x, op.logical_or(low, op.greater(x, _f64(n_in - 1.0)))
    if coord_mode == "pytorch_half_pixel":
        return op.where(single, _f64(-0.5), half), None
    if coord_mode == "half_pixel":
        return half, None
    if coord_mode == "half_pixel_symmetric":
        fill = op.subtract(_f64(1.0), op.divide(size, width))
        return op.add(op.multiply(_f64(n_in / 2), fill), half), None
    raise UnsupportedOperatorError(f"Resize coordinate_transformation_mode={coord_mode!r}")


def runtime_nearest(bb, x, mode: str, n_in: int):
    """The int64 input position each output copies (``x`` rounded as ``mode`` says, clamped)."""
    from tvm import relax

    op = relax.op
    half = _f64(0.5)
    rounding = {
        "round_prefer_floor": lambda: op.ceil(op.subtract(x, half)),
        "round_prefer_ceil": lambda: op.floor(op.add(x, half)),
        "floor": lambda: op.floor(x),
        "ceil": lambda: op.ceil(x),
    }
    if mode not in rounding:
        raise UnsupportedOperatorError(f"Resize nearest_mode={mode!r}")
    return op.astype(op.clip(bb.normalize(rounding[mode]()), 0, n_in - 1), "int64")


def _horner(d, coeffs: list[float]):
    """The polynomial with ``coeffs`` (highest power first) at float64 ``d``."""
    from tvm import relax

    op = relax.op
    result = _f64(coeffs[0])
    for c in coeffs[1:]:
        result = op.add(op.multiply(result, d), _f64(c))
    return result


def _runtime_kernel(d, attrs: ResizeAttrs):
    """The linear or cubic kernel (as ``_cubic``) at float64 distances ``d``."""
    from tvm import relax

    op = relax.op
    zero = _f64(0.0)
    d = op.abs(d)
    if attrs.mode == "linear":
        return op.maximum(op.subtract(_f64(1.0), d), zero)
    a = attrs.cubic_coeff_a
    near = _horner(d, [a + 2, -(a + 3), 0.0, 1.0])
    far = _horner(d, [a, -5 * a, 8 * a, -4 * a])
    outer = op.where(op.less(d, _f64(2.0)), far, zero)
    return op.where(op.less_equal(d, _f64(1.0)), near, outer)


def runtime_taps(bb, x, scale, attrs: ResizeAttrs, n_in: int, params, name: str):
    """Linear or cubic taps of each output: int64 positions and float64 weights, both
    (outputs, taps); with antialias the number of taps depends on the run-time scale."""
    from tvm import relax

    from ._common import scalar_dim

    op = relax.op
    if attrs.mode not in ("linear", "cubic"):
        raise UnsupportedOperatorError(f"Resize mode={attrs.mode!r}")
    support = 1.0 if attrs.mode == "linear" else 2.0
    m = int(support)
    if attrs.antialias:  # the kernel widens by 1 / scale when downsampling
        s = bb.normalize(op.minimum(scale, _f64(1.0)))
        wide = op.ceil(op.divide(_f64(support), s))  # at most support * n_in for any output
        wide = op.minimum(wide, _f64(support * n_in))
        m = scalar_dim(bb, bb.normalize(wide), params, name)
    offsets = bb.normalize(op.arange(1 - m, m + 1, 1, "float64"))
    x = op.expand_dims(x, [1])
    pos = bb.normalize(op.add(op.floor(x), offsets))
    dist = op.subtract(pos, x)
    w = bb.normalize(_runtime_kernel(op.multiply(dist, s) if attrs.antialias else dist, attrs))
    if attrs.antialias:
        w = bb.normalize(op.divide(w, op.sum(w, axis=[1], keepdims=True)))
    if attrs.exclude_outside:
        inside = op.logical_and(
            op.greater_equal(pos, _f64(0.0)),
            op.less_equal(pos, _f64(n_in - 1.0)),
        )
        w = bb.normalize(op.where(inside, w, _f64(0.0)))
        total = bb.normalize(op.sum(w, axis=[1], keepdims=True))
        one = _f64(1.0)
        w = op.divide(w, op.where(op.equal(total, _f64(0.0)), one, total))
    index = op.astype(op.clip(pos, 0, n_in - 1), "int64")
    return bb.normalize(index), bb.normalize(w)
