"""Nightly job files (TOML) -> ``Job``: models, targets, budgets, folders.

Paths written in the file are relative to the file's folder; the folders a file leaves out
default to ``tuning_logs/`` and ``nightly-runs/`` in the working directory, as for the other
commands. Keys share their names with ``CompileOptions`` fields where they mean the same::

    name = "zoo"                    # default: the file's stem
    targets = ["host"]
    trials_per_night = 64           # new trials each night, on top of the records already there
    time_budget = "20m"             # per model and target (seconds, or 90s / 30m / 2h)
    min_trials_per_task = 8
    strategy = "evolutionary"       # or "replay-trace"
    kernels = "auto"                # oneDNN kernels as per-operator candidates: auto, onednn, tvm
    regression_threshold = 0.10     # flag a model 10% slower than its best previous night
    repeats = 30                    # benchmark repeats (warm-up: 5)
    register = true                 # MLflow registry: "<model>-<target>", aliases candidate/champion
    # tuning_dir = "...", output_dir = "...", experiment = "nightly-zoo", threads = 2

    [[models]]
    path = "../../models/tinynet.onnx"
    input_shapes = { image = [1, 3, 64, 64] }
    trials_per_night = 32           # any job-level budget key may be overridden per model
    targets = ["host"]
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import JobError

_BUDGET_KEYS = (
    "trials_per_night", "time_budget", "min_trials_per_task", "strategy", "kernels", "targets",
)  # fmt: skip
_JOB_KEYS = {
    "name", "targets", "trials_per_night", "time_budget", "min_trials_per_task", "strategy",
    "kernels",
    "regression_threshold", "repeats", "register", "tuning_dir", "output_dir", "experiment",
    "threads", "models",
}  # fmt: skip
_MODEL_KEYS = {"path", "input_shapes", "name", *_BUDGET_KEYS}
_STRATEGIES = ("evolutionary", "replay-trace")
_KERNELS = ("auto", "onednn", "tvm")


@dataclass(frozen=True, slots=True)
class JobModel:
    """One model of a job, with its budget for each of its targets."""

    path: Path
    name: str
    input_shapes: dict[str, tuple[int, ...]]
    targets: tuple[str, ...]
    trials_per_night: int
    time_budget_s: float | None
    min_trials_per_task: int
    strategy: str
    kernels: str = "auto"


@dataclass(frozen=True, slots=True)
class Job:
    """A nightly job: what to tune, build, validate and benchmark, and where to keep it."""

    name: str
    source: Path
    models: tuple[JobModel, ...]
    tuning_dir: Path
    output_dir: Path
    experiment: str
    regression_threshold: float = 0.10
    repeats: int = 30
    register: bool = True
    threads: int | None = None


def load_job(path: str | Path) -> Job:
    """Read and check a job file; every problem is reported at once.

    Raises:
        JobError: unreadable TOML, unknown keys, missing models, wrong types.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise JobError(f"cannot read job file '{path}' ({exc}); check the path") from exc
    except tomllib.TOMLDecodeError as exc:
        raise JobError(f"job file '{path}' is not valid TOML ({exc}); fix the syntax") from exc
    problems: list[str] = []
    base = path.resolve().parent
    problems += [f"unknown key '{k}'" for k in sorted(set(data) - _JOB_KEYS)]
    entries = data.get("models")
    if not isinstance(entries, list) or not entries:
        problems.append("no [[models]] tables (each needs at least 'path')")
        entries = []
    defaults = {k: data[k] for k in _BUDGET_KEYS if k in data}
    models = [_model(i, entry, defaults, base, problems) for i, entry in enumerate(entries)]
    name = str(data.get("name", path.stem))
    threshold = _number(data, "regression_threshold", 0.10, problems)
    repeats = int(_number(data, "repeats", 30, problems))
    threads = data.get("threads")
    if problems:
        raise JobError(
            f"job file '{path}' has {len(problems)} problem(s): " + "; ".join(problems)
            + " (see tvmforge/job.py or docs/nightly.md for the format)"
        )  # fmt: skip
    return Job(
        name=name,
        source=path.resolve(),
        models=tuple(m for m in models if m is not None),
        tuning_dir=_folder(data, "tuning_dir", base, "tuning_logs"),
        output_dir=_folder(data, "output_dir", base, "nightly-runs"),
        experiment=str(data.get("experiment", f"nightly-{name}")),
        regression_threshold=threshold,
        repeats=repeats,
        register=bool(data.get("register", True)),
        threads=int(threads) if threads else None,
    )


def _folder(data: dict[str, Any], key: str, base: Path, default: str) -> Path:
    return (base / data[key]).resolve() if key in data else Path(default).resolve()


def _model(
    index: int, entry: Any, defaults: dict[str, Any], base: Path, problems: list[str]
) -> JobModel | None:
    where = f"models[{index}]"
    if not isinstance(entry, dict) or "path" not in entry:
        problems.append(f"{where} needs a 'path' to an .onnx file")
        return None
    problems += [f"{where}: unknown key '{k}'" for k in sorted(set(entry) - _MODEL_KEYS)]
    merged = {**defaults, **entry}
    path = (base / entry["path"]).resolve()
    if not path.is_file():
        problems.append(f"{where}: model '{path}' does not exist")
    targets = merged.get("targets", ["host"])
    if isinstance(targets, str):
        targets = [targets]
    strategy = merged.get("strategy", "evolutionary")
    if strategy not in _STRATEGIES:
        problems.append(f"{where}: strategy must be one of {', '.join(_STRATEGIES)}")
    kernels = merged.get("kernels", "auto")
    if kernels not in _KERNELS:
        problems.append(f"{where}: kernels must be one of {', '.join(_KERNELS)}")
    shapes = {}
    for name, dims in dict(merged.get("input_shapes", {})).items():
        if not isinstance(dims, list) or not all(isinstance(d, int) and d > 0 for d in dims):
            problems.append(f"{where}: input_shapes.{name} must be a list of positive ints")
            continue
        shapes[name] = tuple(dims)
    return JobModel(
        path=path,
        name=str(entry.get("name", path.stem)),
        input_shapes=shapes,
        targets=tuple(str(t) for t in targets),
        trials_per_night=int(_number(merged, "trials_per_night", 64, problems, where)),
        time_budget_s=_seconds(merged.get("time_budget"), where, problems),
        min_trials_per_task=int(_number(merged, "min_trials_per_task", 8, problems, where)),
        strategy=str(strategy),
        kernels=str(kernels),
    )


def _number(
    data: dict[str, Any], key: str, default: float, problems: list[str], where: str = "job"
) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        problems.append(f"{where}: {key} must be a non-negative number (got {value!r})")
        return default
    return value


def _seconds(value: Any, where: str, problems: list[str]) -> float | None:
    """``90``, ``"90s"``, ``"30m"``, ``"2h"`` -> seconds; None when absent."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(value))
    if not match:
        problems.append(f"{where}: time_budget '{value}' is not a duration (use 90s, 30m, 2h)")
        return None
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]
