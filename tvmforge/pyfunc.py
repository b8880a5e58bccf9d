"""An artifact as an MLflow ``pyfunc`` model: ``mlflow models serve`` runs a ``tvmforge.Session``.

Imported only when a model is logged or loaded: it imports MLflow at module level, because
the wrapper subclasses ``mlflow.pyfunc.PythonModel``. Serve a logged model with
``mlflow models serve -m models:/NAME@champion --env-manager local`` from an environment where
tvmforge is installed; POST ``{"inputs": {"<input name>": [...]}}`` to ``/invocations``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np

from .types import Artifact

#: Distributions the served model needs (pinned to the versions that built it).
_REQUIREMENTS = ("apache-tvm", "apache-tvm-ffi", "numpy", "tvmforge")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence MLflow's advice (type hints, input examples, pickling) and its stderr prints."""
    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore", UserWarning)
            yield
    finally:
        logger.setLevel(level)


with _quiet():  # the signature is explicit: no type hints wanted on predict

    class SessionModel(mlflow.pyfunc.PythonModel):
        """Runs the ``.so`` logged beside it; predict takes {name: array}, returns the outputs."""

        def load_context(self, context) -> None:
            from .session import Session

            self._session = Session(Path(context.artifacts["library"]))
            self._outputs = [o.name for o in self._session.get_outputs()]

        def predict(self, context, model_input, params: dict[str, Any] | None = None):
            feeds = _feeds(model_input, self._session.input_specs)
            values = self._session.run(None, feeds)
            if len(values) == 1:
                return values[0]
            return dict(zip(self._outputs, values, strict=True))


def _feeds(model_input, specs) -> dict[str, np.ndarray]:
    """Accept {name: array}, one array for a one-input model, or a DataFrame of one row per call."""
    if isinstance(model_input, dict):
        raw = model_input
    elif isinstance(model_input, np.ndarray) and len(specs) == 1:
        raw = {specs[0].name: model_input}
    else:  # a pandas DataFrame: one column per input, cells hold (nested) lists
        raw = {name: np.asarray(model_input[name].tolist()) for name in model_input.columns}
    feeds = {}
    for spec in specs:
        value = raw.get(spec.name)
        feeds[spec.name] = (
            value if value is None else np.asarray(value, dtype=spec.dtype).reshape(spec.shape)
        )
    return {k: v for k, v in feeds.items() if v is not None}


def signature(manifest: dict[str, Any]):
    """The model signature: one tensor per input and output, with the compiled static shapes."""
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    def schema(key: str) -> Schema:
        return Schema(
            [
                TensorSpec(np.dtype(item["dtype"]), tuple(item["shape"]), item["name"])
                for item in manifest[key]
            ]
        )

    return ModelSignature(inputs=schema("inputs"), outputs=schema("outputs"))


def log_model(artifact: Artifact, name: str = "model"):
    """Log ``artifact`` into the active run as a pyfunc model; returns MLflow's ModelInfo."""
    from importlib.metadata import PackageNotFoundError, version

    requirements = []
    for dist in _REQUIREMENTS:
        try:
            requirements.append(f"{dist}=={version(dist)}")
        except PackageNotFoundError:
            requirements.append(dist)
    with _quiet():
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=SessionModel(),
            artifacts={"library": str(artifact.library), "manifest": str(artifact.manifest_path)},
            signature=signature(artifact.manifest),
            pip_requirements=requirements,
        )


def register(model_uri: str, name: str) -> str:
    """Register ``model_uri`` as a new version of ``name``; returns the version."""
    with _quiet():
        return mlflow.register_model(model_uri, name).version
