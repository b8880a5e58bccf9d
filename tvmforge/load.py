"""Read and check an ONNX file (and its external data) -> ``Model``."""

from __future__ import annotations

import hashlib
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from .errors import ModelLoadError
from .types import Model


def load_model(path: str | Path) -> Model:
    """Load and check an ONNX model.

    Args:
        path: the ``.onnx`` file; external data files must lie in its folder (or below).

    Returns:
        The checked model with its sha256 (of the file and its external data).

    Raises:
        ModelLoadError: missing, not ONNX, truncated, or external data that is missing or
            points outside the model's folder.
    """
    path = Path(path)
    if not path.exists():
        raise ModelLoadError(f"model file '{path}' does not exist; check the path")
    if not path.is_file():
        raise ModelLoadError(f"model path '{path}' is not a file; pass the .onnx file itself")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except (DecodeError, RuntimeError, ValueError, OSError) as exc:
        raise ModelLoadError(
            f"'{path}' is not a readable ONNX model (corrupt or truncated: {exc}); "
            "re-export or re-download it"
        ) from exc
    if not proto.graph.node and not proto.graph.output:
        raise ModelLoadError(f"'{path}' holds no ONNX graph (empty or not an ONNX file)")
    data_files = _external_data_files(proto, path.parent)
    if data_files:
        try:
            onnx.load_external_data_for_model(proto, str(path.parent))
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot read external data of '{path}': {exc}") from exc
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as exc:
        reason = str(exc).strip().splitlines()[0]
        raise ModelLoadError(f"'{path}' fails the ONNX checker: {reason}") from exc
    opset = default_opset(proto, missing=0)
    return Model(
        path=path.resolve(),
        name=path.stem,
        sha256=_sha256([path, *data_files]),
        proto=proto,
        opset=opset,
    )


def _external_data_files(proto: onnx.ModelProto, base: Path) -> list[Path]:
    """The external data files a model refers to, each checked to exist inside ``base``."""
    base = base.resolve()
    files: dict[Path, None] = {}
    for tensor in onnx.external_data_helper._get_all_tensors(proto):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = {e.key: e.value for e in tensor.external_data}.get("location", "")
        target = (base / location).resolve()
        if Path(location).is_absolute() or not target.is_relative_to(base):
            raise ModelLoadError(
                f"tensor '{tensor.name}' points to external data '{location}' outside the "
                f"model's folder '{base}'; move the data next to the model"
            )
        if not target.is_file():
            raise ModelLoadError(
                f"external data file '{location}' of tensor '{tensor.name}' is missing from "
                f"'{base}'; copy it next to the model"
            )
        files[target] = None
    return list(files)


def _sha256(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def default_opset(proto: onnx.ModelProto, missing: int | None = 1) -> int | None:
    """The opset ``proto`` imports for the default ONNX domain; ``missing`` when it imports none."""
    return next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), missing)
