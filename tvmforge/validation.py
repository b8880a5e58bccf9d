"""Run the same feeds through a Session and onnxruntime and compare -> ``Validation``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .errors import ModelLoadError
from .types import ONNX_TYPE_NAMES, SMALL_INTS, STORAGE, OutputCheck, TensorSpec, Validation

log = logging.getLogger(__name__)

_NUMPY_NAMES = {onnx_type: name for name, onnx_type in ONNX_TYPE_NAMES.items()}

#: (rtol, atol) per output dtype; integer and bool outputs must match exactly.
TOLERANCES: dict[str, tuple[float, float]] = {
    "float64": (1e-6, 1e-8),
    "float32": (1e-3, 1e-4),
    "float16": (1e-2, 1e-2),
    "bfloat16": (5e-2, 5e-2),
}


def make_feeds(specs: tuple[TensorSpec, ...], seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded random feeds for ``specs``."""
    rng = np.random.default_rng(seed)
    return {spec.name: spec.random(rng) for spec in specs}


def load_feeds(path: str | Path) -> dict[str, np.ndarray]:
    """Feeds from an ``.npz`` file (keys are input names)."""
    try:
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"cannot read inputs '{path}' ({exc}); pass an .npz saved with numpy.savez"
        ) from exc


def onnxruntime_outputs(
    model_path: str | Path, feeds: Mapping[str, np.ndarray], threads: int | None = None
) -> dict[str, np.ndarray]:
    """The reference: onnxruntime (all optimizations) on the original model."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    outputs = sess.get_outputs()
    names = [o.name for o in outputs]
    values = sess.run(names, dict(feeds))
    return {o.name: _from_onnxruntime(v, o.type) for o, v in zip(outputs, values, strict=True)}


def _from_onnxruntime(value: np.ndarray, onnx_type: str) -> np.ndarray:
    """onnxruntime returns float8 outputs as their bits in uint8: view them as float8."""
    dtype = _NUMPY_NAMES.get(onnx_type)
    if dtype in STORAGE and value.dtype == np.uint8 and dtype.startswith("float"):
        return value.view(dtype)
    return value


def compare_with_onnxruntime(
    actual: Mapping[str, np.ndarray],
    model_path: str | Path,
    feeds: Mapping[str, np.ndarray],
    feeds_label: str,
) -> Validation:
    """``compare`` against onnxruntime's outputs; skipped when onnxruntime cannot run the model.

    onnxruntime lacks kernels for some element types (float4, int2, float8 in Cast, ...) and
    refuses models of newer IR versions: there is then no reference, which is not a failure.
    """
    try:
        expected = onnxruntime_outputs(model_path, feeds)
    except Exception as exc:  # noqa: BLE001 - any onnxruntime refusal means "no reference"
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        log.warning("onnxruntime cannot run '%s' (%s); outputs not compared", model_path, reason)
        return Validation(True, (), feeds_label, skipped=f"onnxruntime cannot run it: {reason}")
    return compare(actual, expected, feeds_label)


def compare(
    actual: Mapping[str, np.ndarray], expected: Mapping[str, np.ndarray], feeds_label: str
) -> Validation:
    """Compare outputs by name with per-dtype tolerances."""
    checks = []
    for name, want in expected.items():
        got = actual.get(name)
        if got is None:
            checks.append(OutputCheck(name, float("inf"), float("inf"), False, "output missing"))
            continue
        checks.append(_check_one(name, np.asarray(got), np.asarray(want)))
    return Validation(all(c.passed for c in checks), tuple(checks), feeds_label)


def _check_one(name: str, got: np.ndarray, want: np.ndarray) -> OutputCheck:
    if got.shape != want.shape:
        return OutputCheck(
            name, float("inf"), float("inf"), False, f"shape {got.shape} != {want.shape}"
        )
    if want.dtype.kind in "biu" or str(want.dtype) in SMALL_INTS:  # int4, int2: kind 'V'
        got, want = got.astype(np.int64), want.astype(np.int64)
        mismatched = int(np.count_nonzero(got != want))
        err = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)), initial=0.0))
        detail = f"{mismatched} element(s) differ" if mismatched else ""
        return OutputCheck(name, err, err, mismatched == 0, detail)
    rtol, atol = TOLERANCES.get(str(want.dtype), TOLERANCES["float32"])
    g, w = got.astype(np.float64), want.astype(np.float64)
    diff = np.abs(g - w)
    abs_err = float(np.nanmax(diff, initial=0.0))
    rel_err = float(np.nanmax(diff / np.maximum(np.abs(w), atol), initial=0.0))
    nan_mismatch = bool(np.any(np.isnan(g) != np.isnan(w)))
    bad = int(np.count_nonzero(~np.isclose(g, w, rtol=rtol, atol=atol, equal_nan=True)))
    passed = bad == 0 and not nan_mismatch
    detail = "" if passed else f"{bad} of {w.size} element(s) outside rtol={rtol}, atol={atol}"
    return OutputCheck(name, abs_err, rel_err, passed, detail)


def validate(
    library: str | Path,
    model_path: str | Path,
    *,
    inputs: str | Path | Mapping[str, np.ndarray] | None = None,
    seed: int = 0,
) -> Validation:
    """Compare an artifact with onnxruntime on seeded random feeds or the given ones.

    Args:
        library: the exported ``.so``.
        model_path: the original ONNX model (onnxruntime runs it as the reference).
        inputs: an ``.npz`` path or a dict of arrays; default random feeds from ``seed``.
    """
    from .session import Session

    session = Session(library)
    if inputs is None:
        feeds, label = make_feeds(session.input_specs, seed), f"random(seed={seed})"
    elif isinstance(inputs, Mapping):
        feeds, label = dict(inputs), "given arrays"
    else:
        feeds, label = load_feeds(inputs), str(inputs)
    names = [o.name for o in session.output_specs]
    actual = dict(zip(names, session.run(None, feeds), strict=True))
    return compare_with_onnxruntime(actual, model_path, feeds, label)


def describe_failure(validation: Validation) -> str:
    """One line naming each failing output and its error."""
    bad = [o for o in validation.outputs if not o.passed]
    return "; ".join(
        f"output '{o.name}': {o.detail} (max abs err {o.max_abs_err:.3g}, max rel err {o.max_rel_err:.3g})"
        for o in bad
    )
