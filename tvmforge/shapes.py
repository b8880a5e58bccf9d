"""Bind every dynamic input dim, then simplify the bound graph -> ``BoundModel``."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import onnx

from .errors import ShapeError
from .types import ONNX_TO_NUMPY, BoundModel, Model, TensorSpec

log = logging.getLogger(__name__)


def parse_input_shapes(items: Iterable[str]) -> dict[str, tuple[int, ...]]:
    """Parse ``--input-shape`` values such as ``pixels=1,3,224,224`` into a dict."""
    shapes: dict[str, tuple[int, ...]] = {}
    for item in items:
        name, sep, dims = item.rpartition("=")
        try:
            shape = tuple(int(d) for d in dims.split(",") if d.strip()) if sep else ()
        except ValueError:
            shape = ()
        if not name or not shape or any(d <= 0 for d in shape):
            raise ShapeError(
                f"--input-shape '{item}' is malformed; expected NAME=D1,D2,... with positive "
                "integers, e.g. --input-shape pixels=1,3,224,224"
            )
        shapes[name] = shape
    return shapes


def graph_inputs(proto: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """The real inputs of a graph (initializers listed as inputs excluded)."""
    initializers = {init.name for init in proto.graph.initializer}
    return [vi for vi in proto.graph.input if vi.name not in initializers]


def bind_shapes(
    model: Model,
    input_shapes: Mapping[str, tuple[int, ...]] | None = None,
    *,
    simplify: bool = True,
) -> BoundModel:
    """Bind every input dim of ``model`` and simplify the graph.

    Args:
        model: a loaded model.
        input_shapes: shapes for inputs with dynamic dims (or to override them).
        simplify: fold constants, shape chains and batch-norms with onnxruntime's basic level,
            which emits standard ONNX ops only.

    Raises:
        ShapeError: every unbound dim and contradicting shape, listed at once.
    """
    input_shapes = dict(input_shapes or {})
    proto = onnx.ModelProto()
    proto.CopyFrom(model.proto)
    inputs = graph_inputs(proto)
    known = {vi.name for vi in inputs}
    problems = [
        f"--input-shape names '{name}', which is not an input (inputs: {', '.join(sorted(known))})"
        for name in input_shapes
        if name not in known
    ]
    specs = []
    for vi in inputs:
        spec, issues = _bind_one(vi, input_shapes.get(vi.name))
        problems += issues
        if spec:
            specs.append(spec)
    if problems:
        raise ShapeError("; ".join(problems))
    for spec, vi in zip(specs, inputs, strict=True):
        _set_static_shape(vi, spec.shape)
    proto = _infer_shapes(proto)
    if simplify:
        proto = _simplify_with_onnxruntime(proto)
    return BoundModel(model=model, proto=proto, inputs=tuple(specs))


def _bind_one(
    vi: onnx.ValueInfoProto, given: tuple[int, ...] | None
) -> tuple[TensorSpec | None, list[str]]:
    tensor_type = vi.type.tensor_type
    if not vi.type.HasField("tensor_type"):
        return None, [f"input '{vi.name}' is not a tensor (sequences and maps are unsupported)"]
    dtype = ONNX_TO_NUMPY.get(tensor_type.elem_type)
    if dtype is None:
        return None, [f"input '{vi.name}' has unsupported element type {tensor_type.elem_type}"]
    if not tensor_type.HasField("shape"):
        if given is None:
            hint = f"--input-shape {vi.name}=D1,D2,..."
            return None, [f"input '{vi.name}' has no declared shape; pass {hint}"]
        return TensorSpec(vi.name, given, dtype), []
    dims = list(tensor_type.shape.dim)
    if given is not None:
        if len(given) != len(dims):
            return None, [
                f"--input-shape for '{vi.name}' has {len(given)} dims but the model declares "
                f"{len(dims)} ({_show_dims(dims)})"
            ]
        clashes = [
            f"dim {i} is {d.dim_value} in the model, not {g}"
            for i, (d, g) in enumerate(zip(dims, given, strict=True))
            if d.dim_value > 0 and d.dim_value != g
        ]
        if clashes:
            return None, [
                f"--input-shape for '{vi.name}' contradicts the model: {', '.join(clashes)}"
            ]
        return TensorSpec(vi.name, tuple(given), dtype), []
    unbound = [d.dim_param or f"#{i}" for i, d in enumerate(dims) if d.dim_value <= 0]
    if unbound:
        example = ",".join(str(d.dim_value) if d.dim_value > 0 else "1" for d in dims)
        return None, [
            f"input '{vi.name}' dim '{u}' is unbound; pass --input-shape {vi.name}={example}"
            for u in unbound
        ]
    return TensorSpec(vi.name, tuple(d.dim_value for d in dims), dtype), []


def _show_dims(dims: list) -> str:
    return "x".join(str(d.dim_value) if d.dim_value > 0 else (d.dim_param or "?") for d in dims)


def _set_static_shape(vi: onnx.ValueInfoProto, shape: tuple[int, ...]) -> None:
    vi.type.tensor_type.ClearField("shape")
    for size in shape:
        vi.type.tensor_type.shape.dim.add().dim_value = size


def _infer_shapes(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Propagate the bound shapes; stale symbolic value_info is dropped first."""
    del proto.graph.value_info[:]
    for out in proto.graph.output:
        if out.type.HasField("tensor_type"):
            out.type.tensor_type.ClearField("shape")
    try:
        return onnx.shape_inference.infer_shapes(proto, data_prop=True)
    except Exception as exc:  # noqa: BLE001 - inference is best effort; import re-infers
        log.warning("ONNX shape inference failed (%s); importing without it", exc)
        return proto


def _simplify_with_onnxruntime(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Constant folding, shape-chain folding and BN folding by onnxruntime's basic level."""
    import onnxruntime as ort

    if proto.ByteSize() > 1_800_000_000:
        log.info("model over 1.8 GB: skipping onnxruntime simplification")
        return proto
    with tempfile.TemporaryDirectory(prefix="tvmforge-simplify-") as tmp:
        out = Path(tmp) / "simplified.onnx"
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(out)
        options.log_severity_level = 3
        try:
            ort.InferenceSession(
                proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
            )
            simplified = onnx.load(str(out))
        except Exception as exc:  # noqa: BLE001 - fall back to the unsimplified graph, logged
            log.warning("onnxruntime could not simplify the model (%s); importing it as is", exc)
            return proto
    return simplified
