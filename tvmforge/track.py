"""MLflow tracking: every compile, tune, bench and nightly job is a run (MLflow loads lazily).

The default store is embedded, no server: ``sqlite:///mlflow.db`` in the working directory,
artifacts in ``mlartifacts/`` beside the database. ``tracking_uri`` (``--tracking-uri``) or
``MLFLOW_TRACKING_URI`` point elsewhere (another file, an ``http://`` server); ``track=False``
(``--no-track``) or ``TVMFORGE_NO_TRACK=1`` turn tracking off. Runs go to one experiment per
model unless ``experiment`` names another.

What a run holds:
    params     model name and sha256, target and its CPU features, input shapes, trials, time
               budget, strategy, tvmforge/TVM/onnxruntime versions, host CPU and threads
    metrics    tvmforge and onnxruntime median/p90 ms and their ratio, tuning seconds, trials,
               tasks, max abs/rel error against onnxruntime, and the tuning curve as step series
               (``estimated_latency_us``, ``best_estimated_latency_us``; step = trials so far)
    artifacts  ``artifact/`` the .so and manifest, ``model/`` the same as a pyfunc model,
               ``tuning_db/`` the database files, ``bench/`` the Markdown table, ``plots/`` PNGs
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import logging
import os
import platform
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .errors import TrackingError
from .types import Artifact, BenchReport, TuningResult

log = logging.getLogger(__name__)

DEFAULT_URI = "sqlite:///mlflow.db"
#: Aliases the registry moves: the newest good build, and the best one so far.
CANDIDATE, CHAMPION = "candidate", "champion"


def tracking_uri(explicit: str | None = None) -> str:
    """The store to log to: ``explicit``, else ``MLFLOW_TRACKING_URI``, else the embedded file.

    A relative sqlite path is made absolute here: MLflow caches stores by URI, so the same
    relative URI from another working directory would reach the first directory's file.
    """
    uri = explicit or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI
    path = uri.removeprefix("sqlite:///")
    if uri.startswith("sqlite:///") and not Path(path).is_absolute():
        uri = "sqlite:///" + str(Path(path).resolve())
    return uri


def enabled(track: bool = True) -> bool:
    """Whether to log: ``track`` and not switched off by ``TVMFORGE_NO_TRACK=1``."""
    return track and os.environ.get("TVMFORGE_NO_TRACK", "").strip() in ("", "0")


def _mlflow():
    """MLflow, imported on first use; its INFO chatter and progress bars stay off by default."""
    if "MLFLOW_LOGGING_LEVEL" not in os.environ:
        logging.getLogger("mlflow").setLevel(logging.WARNING)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    return mlflow


@contextlib.contextmanager
def _store_errors(uri: str) -> Iterator[None]:
    """Turn any failure of the store into one TrackingError that names the fix."""
    try:
        yield
    except TrackingError:
        raise
    except Exception as exc:  # noqa: BLE001 - MLflow, SQLAlchemy and HTTP errors alike
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise TrackingError(
            f"MLflow tracking store '{uri}' failed ({type(exc).__name__}: {first}); start or "
            "fix the store, pass --tracking-uri / set MLFLOW_TRACKING_URI, or pass --no-track"
        ) from exc


def artifact_root(uri: str) -> str | None:
    """Where a new experiment keeps artifacts: ``mlartifacts/`` beside a local sqlite file."""
    if not uri.startswith("sqlite:///"):
        return None  # a server or other store decides
    return (Path(uri.removeprefix("sqlite:///")).resolve().parent / "mlartifacts").as_uri()


def experiment_id(name: str, uri: str | None = None) -> str:
    """The id of experiment ``name`` in the store, created if missing."""
    mlflow = _mlflow()
    uri = tracking_uri(uri)
    with _store_errors(uri):
        mlflow.set_tracking_uri(uri)
        found = mlflow.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        try:
            return mlflow.create_experiment(name, artifact_location=artifact_root(uri))
        except mlflow.exceptions.MlflowException:  # another process created it meanwhile
            found = mlflow.get_experiment_by_name(name)
            if found is None:
                raise
            return found.experiment_id


@contextlib.contextmanager
def run(
    name: str,
    *,
    experiment: str,
    uri: str | None = None,
    run_id: str | None = None,
    tags: dict[str, str] | None = None,
) -> Iterator[str]:
    """Start a run (or reopen ``run_id``), nested under the active run if any; yields its id.

    The run ends FINISHED, FAILED when the body raises (the error goes to tag
    ``tvmforge.error``) or KILLED on Ctrl-C.
    """
    mlflow = _mlflow()
    uri = tracking_uri(uri)
    exp = experiment_id(experiment, uri)
    with _store_errors(uri):
        parent = mlflow.active_run()
        active = mlflow.start_run(
            run_id=run_id,
            experiment_id=None if run_id else exp,
            run_name=None if run_id else name,
            nested=parent is not None,
            tags={"tvmforge.verb": name, **(tags or {})},
        )
    try:
        yield active.info.run_id
    except BaseException as exc:
        status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
        with contextlib.suppress(Exception):  # the original error matters more
            mlflow.set_tag("tvmforge.error", f"{type(exc).__name__}: {exc}"[:4000])
            mlflow.end_run(status)
        raise
    with _store_errors(uri):
        mlflow.end_run()


def log_params(params: dict[str, Any]) -> None:
    """Log params of the active run, skipping None values and params it already has.

    MLflow refuses to change a param; a reopened run (a nightly rerun) keeps its first value.
    """
    mlflow = _mlflow()
    run_id = mlflow.active_run().info.run_id
    existing = mlflow.tracking.MlflowClient().get_run(run_id).data.params
    fresh = {}
    for key, value in params.items():
        if value is None:
            continue
        text = _text(value)
        if key not in existing:
            fresh[key] = text
        elif existing[key] != text:
            log.warning("run %s keeps param %s=%r (now %r)", run_id, key, existing[key], text)
    if fresh:
        mlflow.log_params(fresh)


def log_metrics(metrics: dict[str, float | None], step: int | None = None) -> None:
    """Log metrics of the active run, skipping None values."""
    _mlflow().log_metrics({k: float(v) for k, v in metrics.items() if v is not None}, step=step)


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return "x".join(str(v) for v in value) if all(isinstance(v, int) for v in value) else (
            ",".join(str(v) for v in value)
        )  # fmt: skip
    return str(value)[:6000]


def environment_params(threads: int | None = None) -> dict[str, Any]:
    """Versions of the stack, the host CPU model and its thread counts."""
    from importlib.metadata import PackageNotFoundError, version

    def ver(dist: str) -> str:
        try:
            return version(dist)
        except PackageNotFoundError:
            return "not installed"

    return {
        "tvmforge_version": ver("tvmforge"),
        "tvm_version": ver("apache-tvm"),
        "onnxruntime_version": ver("onnxruntime"),
        "host_cpu": _cpu_model(),
        "host_arch": platform.machine(),
        "host_cpu_count": os.cpu_count(),
        "threads": threads or os.environ.get("TVM_NUM_THREADS") or os.cpu_count(),
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def options_params(options) -> dict[str, Any]:
    """The request as params: target, tuning budget and strategy (``CompileOptions``)."""
    return {
        "target": options.target,
        "tune": options.tune,
        "trials": options.trials,
        "time_budget_s": options.time_budget_s,
        "min_trials_per_task": options.min_trials_per_task,
        "strategy": options.strategy,
        "requested_input_shapes": dict(options.input_shapes) or None,
        "seed": options.seed,
    }


def model_params(model_path: str | Path, input_shapes: dict[str, Any] | None = None) -> dict:
    """Name, sha256 and input shapes of a model (the declared ones, overridden by the request)."""
    from .load import load_model

    model = load_model(model_path)
    shapes: dict[str, Any] = {}
    initializers = {t.name for t in model.proto.graph.initializer}
    for value in model.proto.graph.input:
        if value.name in initializers:
            continue
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in dims]
    shapes.update({k: list(v) for k, v in (input_shapes or {}).items()})
    return {"model_name": model.name, "model_sha256": model.sha256, "input_shapes": shapes}


def log_artifact(artifact: Artifact, *, register: str | None = None) -> str | None:
    """Log a compiled artifact: facts, validation, tuning, files and a pyfunc model.

    Returns the model URI of the pyfunc model. With ``register``, the model becomes a new
    version of that registered model, with alias ``candidate``.
    """
    mlflow = _mlflow()
    m = artifact.manifest
    inputs = {i["name"]: i["shape"] for i in m["inputs"]}
    log_params(
        {
            "model_name": m["model"]["name"],
            "model_sha256": m["model"]["sha256"],
            "input_shapes": inputs,
            **target_params(m["target"]),
        }
    )
    log_metrics(
        {
            "library_bytes": artifact.library.stat().st_size,
            "scheduled_functions": m["tuning"].get("scheduled_functions"),
            "transferred_functions": m["tuning"].get("transferred_functions"),
            "functions": m["tuning"].get("functions"),
            "library_kernel_sites": sum(c["sites"] for c in m.get("kernels", [])),
            "onednn_sites": sum(
                c["sites"] for c in m.get("kernels", []) if c["winner"] == "onednn"
            ),
        }
    )
    if artifact.validation is not None:
        log_validation(artifact.validation)
    if artifact.tuning is not None:
        log_tuning(artifact.tuning)
    elif m["tuning"].get("database"):
        log_database(Path(m["tuning"]["database"]))
    mlflow.log_artifact(str(artifact.library), "artifact")
    mlflow.log_artifact(str(artifact.manifest_path), "artifact")
    from .pyfunc import log_model

    info = log_model(artifact)
    if register:
        version = register_model(info.model_uri, register, run_id=mlflow.active_run().info.run_id)
        set_alias(register, CANDIDATE, version)
    return info.model_uri


def log_validation(validation) -> None:
    """Max abs/rel error against onnxruntime and whether it passed."""
    log_metrics(
        {
            "max_abs_err": validation.max_abs_err,
            "max_rel_err": validation.max_rel_err,
            "validation_passed": 1.0 if validation.passed else 0.0,
        }
    )


def log_tuning(result: TuningResult) -> None:
    """Tuning figures, the curve as step series, the database files and a curve plot."""
    from .plots import best_so_far, tuning_curve

    log_metrics(
        {
            "tuning_seconds": result.seconds,
            "trials": result.trials_total,
            "trials_spent": result.trials_spent,
            "tasks": len(result.tasks),
            "reused_tasks": result.reused_tasks,
        }
    )
    mlflow = _mlflow()
    stamp = int(time.time() * 1000)
    for key, points in (
        ("estimated_latency_us", result.curve),
        ("best_estimated_latency_us", best_so_far(result.curve)),
    ):
        entries = [mlflow.entities.Metric(key, float(v), stamp, int(step)) for step, v in points]
        if entries:
            mlflow.tracking.MlflowClient().log_batch(
                mlflow.active_run().info.run_id, metrics=entries
            )
    log_database(result.work_dir)
    with tempfile.TemporaryDirectory(prefix="tvmforge-track-") as tmp:
        tasks = Path(tmp) / "tasks.md"
        tasks.write_text(_tasks_table(result), encoding="utf-8")
        mlflow.log_artifact(str(tasks), "tuning")
        if result.curve:
            png = tuning_curve(result.curve, Path(tmp) / "tuning_curve.png", result.target)
            mlflow.log_artifact(str(png), "plots")


def _tasks_table(result: TuningResult) -> str:
    rows = ["| task | weight | GFLOP | trials | best us |", "|---|---|---|---|---|"]
    for t in result.tasks:
        best = "-" if t.best_us is None else f"{t.best_us:.2f}"
        rows.append(f"| {t.name} | {t.weight} | {t.flops / 1e9:.4f} | {t.trials} | {best} |")
    return "\n".join(rows) + "\n"


def log_database(work_dir: Path) -> None:
    """The tuning database files of ``work_dir`` under ``tuning_db/``."""
    from .tuning_db import RECORDS, WORKLOADS

    for name in (WORKLOADS, RECORDS):
        if (Path(work_dir) / name).is_file():
            _mlflow().log_artifact(str(Path(work_dir) / name), "tuning_db")


def log_bench(report: BenchReport, label: str = "") -> None:
    """Latency figures, the Markdown table and a bar chart."""
    from .benchmark import markdown_table
    from .plots import bench_bars

    log_metrics(
        {
            "tvmforge_median_ms": report.tvmforge.median_ms,
            "tvmforge_p90_ms": report.tvmforge.p90_ms,
            "onnxruntime_median_ms": report.onnxruntime.median_ms,
            "onnxruntime_p90_ms": report.onnxruntime.p90_ms,
            "ratio": report.ratio,
            "bench_repeats": report.tvmforge.repeats,
        }
    )
    log_params({"bench_threads": report.threads})
    mlflow = _mlflow()
    with tempfile.TemporaryDirectory(prefix="tvmforge-track-") as tmp:
        table = Path(tmp) / "bench.md"
        table.write_text(markdown_table([report], label) + "\n", encoding="utf-8")
        mlflow.log_artifact(str(table), "bench")
        mlflow.log_artifact(str(bench_bars([report], Path(tmp) / "bench.png")), "plots")


def register_model(model_uri: str, name: str, run_id: str | None = None) -> str:
    """Register ``model_uri`` as a version of ``name`` (once per run); returns the version."""
    mlflow = _mlflow()
    client = mlflow.tracking.MlflowClient()
    if run_id:
        for existing in client.search_model_versions(f"name='{name}'"):
            if existing.run_id == run_id:
                return existing.version
    from .pyfunc import register

    return register(model_uri, name)


def set_alias(name: str, alias: str, version: str) -> None:
    """Point ``name@alias`` (``candidate``, ``champion``) at ``version``."""
    _mlflow().tracking.MlflowClient().set_registered_model_alias(name, alias, version)


def target_params(target: dict[str, Any]) -> dict[str, Any]:
    """A target preset's JSON (``TargetPreset.to_json``, a manifest's ``target``) as params."""
    return {
        "target_name": target["name"],
        "target_json": target["target"],
        "target_features": ",".join(target.get("cpu_features") or []) or "none",
    }


def _log_result(result: Any, options, artifact: str | Path | None) -> None:
    from .manifest import read
    from .targets import resolve_target

    if isinstance(result, Artifact):
        log_artifact(result, register=options.register)
        return
    if artifact is not None:  # bench of a built .so: its manifest knows the target
        log_params(target_params(read(artifact)["target"]))
    else:
        log_params(target_params(resolve_target(options.target).to_json()))
    if isinstance(result, TuningResult):
        log_tuning(result)
    elif isinstance(result, BenchReport):
        log_bench(result)


def tracked(verb: str) -> Callable:
    """Decorate an API verb taking ``model_path`` and ``options``: each call becomes a run.

    Nothing is imported or logged when tracking is off (``options.track`` or the environment).
    """

    def decorate(fn: Callable) -> Callable:
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            from .api import CompileOptions

            call = sig.bind(*args, **kwargs)
            given = call.arguments.get("options") or CompileOptions()
            options = dataclasses.replace(given, **call.arguments.get("overrides", {}))
            if not enabled(options.track):
                return fn(*args, **kwargs)
            model_path = Path(call.arguments["model_path"])
            uri = tracking_uri(options.tracking_uri)
            with run(verb, experiment=options.experiment or model_path.stem, uri=uri):
                with _store_errors(uri):
                    log_params({**options_params(options), **environment_params()})
                started = time.monotonic()
                result = fn(*args, **kwargs)
                with _store_errors(uri):
                    if not isinstance(result, Artifact):
                        log_params(model_params(model_path, options.input_shapes))
                    log_metrics({f"{verb}_seconds": time.monotonic() - started})
                    _log_result(result, options, call.arguments.get("artifact"))
            return result

        return wrapper

    return decorate
