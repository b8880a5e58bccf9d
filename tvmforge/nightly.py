"""Nightly jobs: tune on (resuming the records), rebuild, validate, bench, log and report.

A night lives in ``<output_dir>/<night>/``: ``state.json`` (rewritten atomically after every
step), ``artifacts/``, ``report.md``, ``report.html`` and ``plots/``. Kill the job at any moment
and run it again: finished models are skipped, the model in progress resumes from its tuning
records (the tuner counts records already present as done) and its MLflow runs are reopened,
not duplicated. A lock on the output and tuning folders keeps a second copy out.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import report as reporting
from . import track
from .errors import JobError, TrackingError, ValidationError
from .job import Job, JobModel, load_job
from .locks import pid_lock
from .report import EntryResult, Regression

log = logging.getLogger(__name__)

STATE = "state.json"


@dataclass(frozen=True, slots=True)
class NightlyReport:
    """The outcome of one night: results, regressions and where the report lies."""

    job: str
    night: str
    entries: tuple[EntryResult, ...]
    regressions: tuple[Regression, ...]
    markdown: Path
    html: Path
    run_id: str | None = None


def run_job(
    job: Job | str | Path,
    *,
    night: str | None = None,
    track_runs: bool = True,
    tracking_uri: str | None = None,
) -> NightlyReport:
    """Run (or finish) tonight's pass of a job.

    Args:
        job: a ``Job`` or the path of its TOML file.
        night: the night's name (default: today's UTC date, ``2026-11-25``); rerunning a
            night continues it.
        track_runs: log a parent MLflow run and one nested run per model and target.
        tracking_uri: the MLflow store (default: ``MLFLOW_TRACKING_URI``, else mlflow.db).

    Raises:
        JobError: a malformed job file, or another copy of the job is running.
    """
    job = job if isinstance(job, Job) else load_job(job)
    night = night or datetime.now(UTC).date().isoformat()
    if not re.fullmatch(r"[\w.-]+", night):
        raise JobError(f"night '{night}' must be a plain name such as 2026-11-25")
    night_dir = job.output_dir / night
    tracking = track.enabled(track_runs)
    with _exclusive([job.output_dir, job.tuning_dir], job):
        state = _load_state(night_dir) or {"job": job.name, "night": night, "entries": {}}
        save = _saver(night_dir, state)
        history = _history(job.output_dir, night)
        parent = (
            track.run("nightly", experiment=job.experiment, uri=tracking_uri,
                      run_id=state.get("run_id"),
                      tags={"tvmforge.job": job.name, "tvmforge.night": night})
            if tracking else contextlib.nullcontext(None)
        )  # fmt: skip
        with parent as run_id:
            if run_id and state.get("run_id") != run_id:
                state["run_id"] = run_id
                save()
            for model in job.models:
                for target in model.targets:
                    entry = state["entries"].setdefault(f"{model.name}@{target}", {})
                    if entry.get("result", {}).get("status") in (reporting.OK, "failed"):
                        continue
                    ctx = _Context(job, model, target, night_dir, night, history, tracking)
                    entry["result"] = _run_entry(ctx, entry, save, tracking_uri).to_json()
                    save()
            result = _report(job, night, night_dir, state, history, run_id, tracking)
        state["finished"] = True
        save()
    return result


@dataclass(frozen=True, slots=True)
class _Context:
    job: Job
    model: JobModel
    target: str
    night_dir: Path
    night: str
    history: dict[str, list[EntryResult]]
    tracking: bool


def _run_entry(
    ctx: _Context, entry: dict[str, Any], save: Callable[[], None], uri: str | None
) -> EntryResult:
    """One model on one target, in its own nested run; errors become an ``error`` result."""
    key = f"{ctx.model.name}@{ctx.target}"
    run = (
        track.run(key, experiment=ctx.job.experiment, uri=uri, run_id=entry.get("run_id"),
                  tags={"tvmforge.model": ctx.model.name, "tvmforge.target": ctx.target,
                        "tvmforge.night": ctx.night})
        if ctx.tracking else contextlib.nullcontext(None)
    )  # fmt: skip
    try:
        with run as run_id:
            if run_id and entry.get("run_id") != run_id:
                entry["run_id"] = run_id
                save()
            if "trials_total" not in entry:  # fixed at the first start: reruns tune no more
                entry["trials_total"] = _records(ctx) + ctx.model.trials_per_night
                save()
            return _measure(ctx, entry["trials_total"], run_id)
    except (KeyboardInterrupt, TrackingError):
        raise
    except Exception as exc:  # noqa: BLE001 - one model failing never stops the night
        log.warning("nightly %s failed: %s", key, exc)
        return EntryResult(ctx.model.name, ctx.target, "error", f"{type(exc).__name__}: {exc}",
                           run_id=entry.get("run_id"))  # fmt: skip


def _records(ctx: _Context) -> int:
    """Tuning records already in this model's database for the target."""
    from .load import load_model
    from .targets import resolve_target
    from .tuning import tuning_dir
    from .tuning_db import RECORDS

    folder = tuning_dir(ctx.job.tuning_dir, load_model(ctx.model.path), resolve_target(ctx.target))
    path = folder / RECORDS
    if not path.is_file():
        return 0
    return sum(1 for line in path.read_bytes().splitlines() if line.strip())


def _measure(ctx: _Context, trials: int, run_id: str | None) -> EntryResult:
    """Tune and build (validating), bench, log: the night's result for one model and target."""
    from .api import CompileOptions
    from .api import compile as compile_model
    from .benchmark import bench_artifact

    m = ctx.model
    options = CompileOptions(
        target=ctx.target, input_shapes=m.input_shapes, tune=m.trials_per_night > 0,
        trials=trials, time_budget_s=m.time_budget_s, min_trials_per_task=m.min_trials_per_task,
        strategy=m.strategy, kernels=m.kernels, tuning_dir=ctx.job.tuning_dir, track=False,
    )  # fmt: skip
    if ctx.tracking:
        track.log_params(
            {**track.options_params(options), **track.environment_params(ctx.job.threads),
             "trials_per_night": m.trials_per_night, "job": ctx.job.name, "night": ctx.night}
        )  # fmt: skip
    library = ctx.night_dir / "artifacts" / f"{m.name}-{ctx.target}.so"
    library.parent.mkdir(parents=True, exist_ok=True)
    try:
        artifact = compile_model(m.path, library, options)
    except ValidationError as exc:
        if ctx.tracking:
            track.log_metrics({"validation_passed": 0.0})
        return EntryResult(m.name, ctx.target, "failed", str(exc), run_id=run_id)
    bench = bench_artifact(library, m.path, threads=ctx.job.threads, repeats=ctx.job.repeats)
    tuning, validation = artifact.tuning, artifact.validation
    result = EntryResult(
        m.name, ctx.target, reporting.OK,
        median_ms=bench.tvmforge.median_ms, p90_ms=bench.tvmforge.p90_ms,
        ort_median_ms=bench.onnxruntime.median_ms, ort_p90_ms=bench.onnxruntime.p90_ms,
        ratio=bench.ratio,
        max_abs_err=validation.max_abs_err if validation else None,
        max_rel_err=validation.max_rel_err if validation else None,
        trials=tuning.trials_total if tuning else None,
        trials_spent=tuning.trials_spent if tuning else None,
        tasks=len(tuning.tasks) if tuning else None,
        tuning_seconds=tuning.seconds if tuning else None, run_id=run_id,
    )  # fmt: skip
    if ctx.tracking:
        model_uri = track.log_artifact(artifact)
        track.log_bench(bench, label=ctx.night)
        if ctx.job.register:
            _register(model_uri, f"{m.name}-{ctx.target}", run_id, result, ctx.history)
    return result


def _register(
    model_uri: str, name: str, run_id: str | None, result: EntryResult, history: dict
) -> None:
    """A new version as ``candidate``; also ``champion`` when no earlier night was faster."""
    version = track.register_model(model_uri, name, run_id=run_id)
    track.set_alias(name, track.CANDIDATE, version)
    if reporting.is_champion(result, history):
        track.set_alias(name, track.CHAMPION, version)


def _report(
    job: Job,
    night: str,
    night_dir: Path,
    state: dict[str, Any],
    history: dict[str, list[EntryResult]],
    run_id: str | None,
    tracking: bool,
) -> NightlyReport:
    tonight = [EntryResult.from_json(e["result"]) for e in state["entries"].values()]
    regressions = reporting.find_regressions(tonight, history, job.regression_threshold)
    md, html, pngs = reporting.write(night_dir, job.name, night, tonight, history, regressions)
    if tracking:
        import mlflow

        track.log_metrics(
            {"regressions": len(regressions),
             "models_ok": sum(e.status == reporting.OK for e in tonight),
             "models_failed": sum(e.status != reporting.OK for e in tonight)}
        )  # fmt: skip
        for path in (md, html):
            mlflow.log_artifact(str(path), "report")
        for png in pngs:
            mlflow.log_artifact(str(png), "report/plots")
    return NightlyReport(job.name, night, tuple(tonight), tuple(regressions), md, html, run_id)


def _history(output_dir: Path, night: str) -> dict[str, list[EntryResult]]:
    """Results of the nights before ``night`` (by name order) in ``output_dir``."""
    nights: dict[str, list[EntryResult]] = {}
    for path in sorted(output_dir.glob(f"*/{STATE}")):
        if path.parent.name >= night:
            continue
        data = _load_state(path.parent) or {}
        results = [e["result"] for e in data.get("entries", {}).values() if "result" in e]
        if results:
            nights[path.parent.name] = [EntryResult.from_json(r) for r in results]
    return nights


def _load_state(night_dir: Path) -> dict[str, Any] | None:
    path = night_dir / STATE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise JobError(
            f"nightly state '{path}' is unreadable ({exc}); delete it to start the night afresh"
        ) from exc


def _saver(night_dir: Path, state: dict[str, Any]) -> Callable[[], None]:
    """A function writing ``state`` atomically (a kill leaves the old or the new file)."""

    def save() -> None:
        night_dir.mkdir(parents=True, exist_ok=True)
        tmp = night_dir / f".{STATE}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
        tmp.replace(night_dir / STATE)

    return save


@contextlib.contextmanager
def _exclusive(folders: list[Path], job: Job) -> Iterator[None]:
    """Hold ``.nightly.lock`` in each folder for the whole job (the kernel drops it on a kill)."""
    with contextlib.ExitStack() as stack:
        for folder in sorted({f.resolve() for f in folders}):
            stack.enter_context(_flock(folder, job))
        yield


def _flock(folder: Path, job: Job) -> contextlib.AbstractContextManager[None]:
    def busy(holder: str) -> JobError:
        return JobError(
            f"nightly job '{job.name}' cannot start: '{folder}' is in use by another nightly "
            f"run (pid {holder}); wait for it to finish, or set another output_dir and "
            "tuning_dir"
        )

    return pid_lock(folder / ".nightly.lock", busy)
