"""The exception tree. Library code raises these; only ``cli.main`` turns them into exit codes.

::

    TvmforgeError                 base; ``exit_code`` tells the CLI what to return
    ├── UserError                 exit 1: the input or the request is wrong, the message says the fix
    │   ├── ModelLoadError        missing, corrupt or truncated ONNX file, bad external data
    │   ├── ShapeError            unbound dynamic dim, bad --input-shape
    │   ├── UnsupportedOperatorError  ops no converter handles (all of them listed at once)
    │   ├── TargetError           unknown target preset or malformed target dict
    │   ├── FeedError             wrong feed name, shape or dtype given to a Session
    │   ├── ArtifactError         missing/changed .so or manifest, built for another CPU or runtime
    │   ├── TuningLockedError     another process tunes the same database
    │   ├── ValidationError       compiled outputs differ from onnxruntime
    │   ├── DeviceError           RPC tracker unreachable, no device for the key, wrong device kind
    │   ├── TrackingError         MLflow store unreachable or refusing a run (fix the URI or --no-track)
    │   ├── JobError              malformed nightly job TOML, or a job already running on its folders
    │   └── RegressionError       exit 3: a nightly run is slower than the best night, or fails validation
    └── InternalError             exit 2: a bug or a TVM failure we could not attribute to the input
"""

from __future__ import annotations


class TvmforgeError(Exception):
    """Base of every error tvmforge raises on purpose."""

    exit_code = 2


class UserError(TvmforgeError):
    """The input or the request is wrong; the message names the cause and the fix."""

    exit_code = 1


class ModelLoadError(UserError):
    """The ONNX model cannot be read or fails its checks."""


class ShapeError(UserError):
    """Input shapes are unbound, malformed or contradict the model."""


class UnsupportedOperatorError(UserError):
    """The model uses operators that no converter handles."""


class TargetError(UserError):
    """Unknown target preset or malformed target description."""


class FeedError(UserError):
    """Feeds given to a Session do not match the artifact's inputs."""


class ArtifactError(UserError):
    """An artifact cannot be loaded here (missing, changed, other CPU or runtime)."""


class TuningLockedError(UserError):
    """Another process holds the tuning database lock."""


class ValidationError(UserError):
    """Compiled outputs differ from onnxruntime beyond tolerance."""


class DeviceError(UserError):
    """A remote device cannot be reached through the RPC tracker or is of the wrong kind."""


class TrackingError(UserError):
    """The MLflow tracking store cannot be reached or refuses a run."""


class JobError(UserError):
    """A nightly job file is malformed, or another copy of the job holds its folders."""


class RegressionError(UserError):
    """A nightly run found regressions; everything was logged and the report written."""

    exit_code = 3


class InternalError(TvmforgeError):
    """A failure inside TVM or tvmforge that the input does not explain."""
