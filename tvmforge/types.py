"""Frozen values handed from one pipeline stage to the next."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import ml_dtypes  # noqa: F401 - registers bfloat16, float8_*, int4, ... as numpy dtype names
import numpy as np

#: ONNX TensorProto element type -> numpy dtype name (ml_dtypes names the exotic ones).
ONNX_TO_NUMPY: dict[int, str] = {
    1: "float32",
    2: "uint8",
    3: "int8",
    4: "uint16",
    5: "int16",
    6: "int32",
    7: "int64",
    9: "bool",
    10: "float16",
    11: "float64",
    12: "uint32",
    13: "uint64",
    16: "bfloat16",
    17: "float8_e4m3fn",
    18: "float8_e4m3fnuz",
    19: "float8_e5m2",
    20: "float8_e5m2fnuz",
    21: "uint4",
    22: "int4",
    23: "float4_e2m1fn",
    24: "float8_e8m0fnu",
    25: "uint2",
    26: "int2",
}

#: numpy dtype name -> the type string onnxruntime's NodeArg shows.
ONNX_TYPE_NAMES: dict[str, str] = {
    "float32": "tensor(float)", "float16": "tensor(float16)", "float64": "tensor(double)",
    "bfloat16": "tensor(bfloat16)", "int8": "tensor(int8)", "uint8": "tensor(uint8)",
    "int16": "tensor(int16)", "uint16": "tensor(uint16)", "int32": "tensor(int32)",
    "uint32": "tensor(uint32)", "int64": "tensor(int64)", "uint64": "tensor(uint64)",
    "bool": "tensor(bool)", "float8_e4m3fn": "tensor(float8e4m3fn)",
    "float8_e4m3fnuz": "tensor(float8e4m3fnuz)", "float8_e5m2": "tensor(float8e5m2)",
    "float8_e5m2fnuz": "tensor(float8e5m2fnuz)", "float8_e8m0fnu": "tensor(float8e8m0)",
    "float4_e2m1fn": "tensor(float4e2m1)", "int4": "tensor(int4)", "uint4": "tensor(uint4)",
    "int2": "tensor(int2)", "uint2": "tensor(uint2)",
}  # fmt: skip

#: Element types TVM's CPU code cannot compute or pass (sub-byte types, float8 without
#: saturation or NaN rules) -> the byte dtype that carries them: the bit pattern for the
#: floats, the sign- or zero-extended value for the integers. Their conversions are ours
#: (``convert/ops/cast.py``); everything else only moves the bytes.
STORAGE: dict[str, str] = {
    "float8_e4m3fn": "uint8",
    "float8_e4m3fnuz": "uint8",
    "float8_e5m2": "uint8",
    "float8_e5m2fnuz": "uint8",
    "float8_e8m0fnu": "uint8",
    "float4_e2m1fn": "uint8",
    "uint4": "uint8",
    "int4": "int8",
    "uint2": "uint8",
    "int2": "int8",
}


#: Sub-byte integer types: numpy kind 'V', not np.integer.
SMALL_INTS = frozenset({"int4", "uint4", "int2", "uint2"})


def storage_dtype(dtype: str) -> str:
    """The dtype a tensor of ``dtype`` has inside the compiled module."""
    return STORAGE.get(dtype, dtype)


def to_storage(array: np.ndarray) -> np.ndarray:
    """``array`` in its storage dtype (ml_dtypes keeps an int4 as its low nibble: widen it)."""
    dtype = str(array.dtype)
    if dtype not in STORAGE:
        return array
    return array.view(STORAGE[dtype]) if dtype.startswith("float") else array.astype(STORAGE[dtype])


def from_storage(array: np.ndarray, dtype: str) -> np.ndarray:
    """A storage array as the element type ``dtype`` it carries."""
    if dtype not in STORAGE:
        return array
    return array.view(dtype) if dtype.startswith("float") else array.astype(dtype)


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """Name, static shape and numpy dtype name of a model input or output."""

    name: str
    shape: tuple[int, ...]
    dtype: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TensorSpec:
        return cls(data["name"], tuple(int(d) for d in data["shape"]), data["dtype"])

    def random(self, rng: np.random.Generator) -> np.ndarray:
        """A seeded random array of this spec (floats ~N(0,1), ints in [0, 4), bools)."""
        if self.dtype == "bool":
            return rng.integers(0, 2, self.shape).astype(bool)
        if np.issubdtype(np.dtype(self.dtype), np.integer) or self.dtype in SMALL_INTS:
            return rng.integers(0, 4, self.shape).astype(self.dtype)
        return rng.standard_normal(self.shape).astype(self.dtype)


@dataclass(frozen=True, slots=True)
class Model:
    """A loaded, checked ONNX model."""

    path: Path
    name: str
    sha256: str
    proto: Any = field(repr=False, compare=False)  # onnx.ModelProto
    opset: int = 0


@dataclass(frozen=True, slots=True)
class BoundModel:
    """A model whose every input dim is bound, simplified and ready to import."""

    model: Model
    proto: Any = field(repr=False, compare=False)  # onnx.ModelProto, bound and simplified
    inputs: tuple[TensorSpec, ...] = ()

    @property
    def input_shapes(self) -> dict[str, tuple[int, ...]]:
        return {spec.name: spec.shape for spec in self.inputs}


@dataclass(frozen=True, slots=True)
class TaskReport:
    """One tuning task after tuning."""

    name: str
    weight: int
    flops: float
    trials: int
    best_us: float | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class TuningResult:
    """What a tuning run left in its database."""

    work_dir: Path
    target: str
    tasks: tuple[TaskReport, ...]
    trials_spent: int
    seconds: float
    database_digest: str
    curve: tuple[tuple[int, float], ...] = ()  # (trials so far, estimated total latency us)
    reused_tasks: int = 0

    @property
    def trials_total(self) -> int:
        return sum(task.trials for task in self.tasks)


@dataclass(frozen=True, slots=True)
class OutputCheck:
    """The comparison of one output against onnxruntime."""

    name: str
    max_abs_err: float
    max_rel_err: float
    passed: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Validation:
    """Outputs of an artifact compared against onnxruntime on the same feeds."""

    passed: bool
    outputs: tuple[OutputCheck, ...]
    feeds: str  # "random(seed=0)" or the .npz path
    #: Why nothing was compared (onnxruntime cannot run the model: float4, int2, ...); "" if run.
    skipped: str = ""

    @property
    def max_abs_err(self) -> float:
        return max((o.max_abs_err for o in self.outputs), default=0.0)

    @property
    def max_rel_err(self) -> float:
        return max((o.max_rel_err for o in self.outputs), default=0.0)

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "feeds": self.feeds,
            "outputs": [asdict(o) for o in self.outputs],
            "skipped": self.skipped,
        }


@dataclass(frozen=True, slots=True)
class Artifact:
    """An exported shared library and the manifest beside it."""

    library: Path
    manifest_path: Path
    manifest: dict[str, Any] = field(repr=False, compare=False)
    validation: Validation | None = None
    tuning: TuningResult | None = None


@dataclass(frozen=True, slots=True)
class Timing:
    """Latency figures of one runtime, in milliseconds."""

    median_ms: float
    p90_ms: float
    repeats: int


@dataclass(frozen=True, slots=True)
class BenchReport:
    """tvmforge against onnxruntime, measured interleaved in one process."""

    model: str
    target: str
    threads: int
    tvmforge: Timing
    onnxruntime: Timing

    @property
    def ratio(self) -> float:
        """tvmforge median / onnxruntime median: below 1.0 means tvmforge is faster."""
        return self.tvmforge.median_ms / self.onnxruntime.median_ms
