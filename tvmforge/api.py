"""The verbs of the public API: each composes the pipeline stages for one job."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import manifest
from .errors import ValidationError
from .session import default_threads
from .targets import TargetPreset, can_run_here, resolve_target
from .track import tracked
from .types import Artifact, BenchReport, BoundModel, TuningResult

log = logging.getLogger(__name__)

#: Curated tuning databases shipped with tvmforge, one folder per target.
SHIPPED_SCHEDULES = Path(__file__).resolve().parent.parent / "schedules"


@dataclass(frozen=True, slots=True)
class CompileOptions:
    """Options shared by compile, tune and bench; CLI flags carry the same names."""

    target: str = "host"
    input_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    tune: bool = False
    trials: int = 64
    time_budget_s: float | None = None
    min_trials_per_task: int = 8
    strategy: str = "evolutionary"
    tuning_dir: Path = Path("tuning_logs")
    schedules_dir: Path | None = SHIPPED_SCHEDULES
    validate: bool = True
    inputs: Path | None = None
    seed: int = 0
    simplify: bool = True
    rpc_tracker: str | None = None  # HOST:PORT: tune, validate and bench on devices there
    rpc_key: str | None = None
    rpc_wait_s: float = 60.0  # how long to wait for a free device with the key
    track: bool = True  # log the call as an MLflow run (see tvmforge/track.py)
    tracking_uri: str | None = None  # default: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db
    experiment: str | None = None  # default: one experiment per model, named after it
    register: str | None = None  # compile: register the pyfunc model under this name
    kernels: str = "auto"  # "auto": oneDNN layers as measured candidates; "onednn": all; "tvm"
    transfer: bool = False  # replay the nearest record on functions without one (see transfer.py)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in data.items()}


@dataclass(frozen=True, slots=True)
class Prepared:
    """A model loaded, bound and lowered for one target: what tuning and building start from."""

    bound: BoundModel
    preset: TargetPreset
    graph: Any  # Relax operators, before lowering (where library kernels are swapped in)
    mod: Any  # lowered and fused: its PrimFuncs are the tuning tasks
    library: bool  # oneDNN kernels are candidates in this build
    work_dir: Path
    related: list[Path]


def prepare(model_path: str | Path, options: CompileOptions) -> Prepared:
    """Load, bind, import and lower ``model_path`` for ``options.target``."""
    from . import kernels
    from .convert import to_relax
    from .load import load_model
    from .optimize import lower, prepare_graph
    from .shapes import bind_shapes
    from .tuning import related_databases, tuning_dir

    preset = resolve_target(options.target)
    library = kernels.wanted(options.kernels, preset, remote=bool(options.rpc_tracker))
    model = load_model(model_path)
    bound = bind_shapes(model, options.input_shapes, simplify=options.simplify)
    graph = prepare_graph(to_relax(bound), preset, nhwc=library)
    work_dir = tuning_dir(options.tuning_dir, model, preset)
    related = related_databases(options.tuning_dir, work_dir, preset, options.schedules_dir)
    return Prepared(bound, preset, graph, lower(graph, preset), library, work_dir, related)


def tune_prepared(
    prepared: Prepared, options: CompileOptions, builder=None, runner=None
) -> TuningResult:
    """Tune a prepared model; ``builder``/``runner`` replace MetaSchedule's defaults."""
    from .tuning import tune as run_tuning

    if runner is None and options.rpc_tracker:
        from .remote_tune import pool_measurement

        builder, runner = pool_measurement(
            prepared.preset, options.rpc_tracker, options.rpc_key, options.rpc_wait_s
        )
    library_us = None
    if prepared.library:
        from .kernel_choice import library_times

        library_us = library_times(prepared.graph, prepared.preset, default_threads())
    return run_tuning(
        prepared.mod,
        prepared.preset,
        prepared.work_dir,
        trials=options.trials,
        time_budget_s=options.time_budget_s,
        min_trials_per_task=options.min_trials_per_task,
        reuse_from=prepared.related,
        strategy=options.strategy,
        builder=builder,
        runner=runner,
        library_us=library_us,
    )


@tracked("tune")
def tune(
    model_path: str | Path, options: CompileOptions | None = None, **overrides: Any
) -> TuningResult:
    """Tune ``model_path`` for ``options.target``; records go to the per-model database.

    Keyword overrides replace fields of ``options`` (``tune(m, trials=200, target="host")``).
    """
    options = dataclasses.replace(options or CompileOptions(), **overrides)
    return tune_prepared(prepare(model_path, options), options)


@tracked("compile")
def compile(  # noqa: A001 - the verb users expect: tvmforge.compile
    model_path: str | Path,
    output: str | Path,
    options: CompileOptions | None = None,
    **overrides: Any,
) -> Artifact:
    """Compile an ONNX model into a ``.so`` and manifest, tuning and validating as asked.

    Args:
        model_path: the ONNX model.
        output: the ``.so`` to write (its manifest goes to ``<output>.json``).
        options: compile options; keyword overrides replace single fields.

    Returns:
        The artifact, with its validation (None when the host cannot run the target) and
        tuning result (None without ``tune``).

    Raises:
        ValidationError: outputs differ from onnxruntime; the artifact is removed.
    """
    from .build import export

    options = dataclasses.replace(options or CompileOptions(), **overrides)
    prepared = prepare(model_path, options)
    tuning = tune_prepared(prepared, options) if options.tune else None
    databases = [prepared.work_dir, *prepared.related]
    facts = {
        "database": str(prepared.work_dir),
        "database_digest": _digest(prepared.work_dir),
        "trials": tuning.trials_total if tuning else None,
        "tasks": len(tuning.tasks) if tuning else None,
        "seconds": round(tuning.seconds, 1) if tuning else None,
        "shipped_or_reused_databases": [str(p) for p in prepared.related],
    }
    measure_tvm = options.kernels != "onednn"
    mod, choices = (
        _with_library_kernels(prepared, databases, measure_tvm)
        if prepared.library
        else (prepared.mod, [])
    )
    artifact = export(
        mod,
        prepared.bound,
        prepared.preset,
        output,
        databases=databases,
        tuning=facts,
        config=options.to_json(),
        kernel_choices=[c.to_json() for c in choices],
        threads=default_threads(),
        transfer=options.transfer,
    )
    validation = None
    runnable, _why = can_run_here(prepared.preset)
    if options.validate and (runnable or options.rpc_tracker):
        validation = _validate_and_record(artifact, prepared.bound.model.path, options)
    return dataclasses.replace(
        artifact, manifest=manifest.read(artifact.library), validation=validation, tuning=tuning
    )


def _with_library_kernels(prepared: Prepared, databases: list[Path], measure_tvm: bool):
    """The module to build, each conv/dense layer run by the fastest of TVM and the library
    kernels here (without ``measure_tvm``, by the fastest library kernel)."""
    from . import kernels
    from .kernel_choice import choose
    from .offload import offload
    from .optimize import lower

    threads = default_threads()
    choices = choose(prepared.graph, prepared.preset, databases, threads, measure_tvm=measure_tvm)
    winners = {c.key: c.winner for c in choices if c.winner != "tvm"}
    if not winners:
        return prepared.mod, choices
    graph = offload(prepared.graph, winners)
    return kernels.attach(lower(graph, prepared.preset)), choices


def _validate_and_record(artifact: Artifact, model_path: Path, options: CompileOptions):
    from .validation import describe_failure, validate

    device = None
    if options.rpc_tracker:  # on a device from the tracker, against onnxruntime here
        from .remote_run import validate_on_device

        result, device = validate_on_device(artifact.library, model_path, options)
    else:
        result = validate(artifact.library, model_path, inputs=options.inputs, seed=options.seed)
    data = {k: v for k, v in artifact.manifest.items() if k not in ("schema_version", "library")}
    data["validation"] = result.to_json()
    if device:
        data["validation"]["device"] = device
    manifest.write(artifact.library, data)
    if not result.passed:
        artifact.library.unlink(missing_ok=True)
        artifact.manifest_path.unlink(missing_ok=True)
        raise ValidationError(
            f"compiled model differs from onnxruntime: {describe_failure(result)}; the artifact "
            "was removed (pass --no-validate to keep it, and please report this)"
        )
    return result


def _digest(work_dir: Path) -> str:
    from .tuning_db import digest

    return digest(work_dir)


@tracked("bench")
def bench(
    model_path: str | Path,
    artifact: str | Path | None = None,
    *,
    threads: int | None = None,
    repeats: int = 30,
    warmup: int = 5,
    options: CompileOptions | None = None,
) -> BenchReport:
    """Time tvmforge against onnxruntime on ``model_path``.

    Uses ``artifact`` when given, else compiles the model first (with whatever tuning records
    and shipped schedules exist for the target) into a temporary folder.
    """
    import tempfile

    from .benchmark import bench_artifact

    if artifact is not None:
        return bench_artifact(artifact, model_path, threads=threads, repeats=repeats, warmup=warmup)
    with tempfile.TemporaryDirectory(prefix="tvmforge-bench-") as tmp:
        built = compile(model_path, Path(tmp) / "model.so", options or CompileOptions())
        return bench_artifact(
            built.library, model_path, threads=threads, repeats=repeats, warmup=warmup
        )
