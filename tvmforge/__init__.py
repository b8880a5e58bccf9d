"""tvmforge: ONNX models in, autotuned TVM shared libraries out, proven against onnxruntime.

Heavy modules (TVM's compiler, onnxruntime, MLflow) load only when a verb needs them:
``import tvmforge`` and ``tvmforge.Session`` stay light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (
    ArtifactError,
    FeedError,
    InternalError,
    ModelLoadError,
    ShapeError,
    TargetError,
    TuningLockedError,
    TvmforgeError,
    UnsupportedOperatorError,
    UserError,
    ValidationError,
)
from .session import Session
from .types import Artifact, BenchReport, BoundModel, Model, TensorSpec, TuningResult, Validation

if TYPE_CHECKING:
    from .api import CompileOptions, bench, compile, tune
    from .validation import validate

__all__ = [
    "Artifact",
    "ArtifactError",
    "BenchReport",
    "BoundModel",
    "CompileOptions",
    "FeedError",
    "InternalError",
    "Model",
    "ModelLoadError",
    "Session",
    "ShapeError",
    "TargetError",
    "TensorSpec",
    "TuningLockedError",
    "TuningResult",
    "TvmforgeError",
    "UnsupportedOperatorError",
    "UserError",
    "Validation",
    "ValidationError",
    "bench",
    "compile",
    "tune",
    "validate",
]

_LAZY = {
    "CompileOptions": "api",
    "bench": "api",
    "compile": "api",
    "tune": "api",
    "validate": "validation",
}


def __getattr__(name: str) -> Any:
    """Load the compiler-side verbs on first use."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'tvmforge' has no attribute {name!r}")
