"""MetaSchedule tuning: tasks, budget split, resumable per-model databases -> ``TuningResult``."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import tuning_db
from .errors import TargetError
from .targets import TargetPreset
from .types import Model, TaskReport, TuningResult

log = logging.getLogger(__name__)

#: Trials measured per MetaSchedule call; also the step of the early-stop check.
ROUND = 16
#: A task whose best latency improved less than this over its last round has converged.
CONVERGED = 0.01
#: A task whose best schedule is this much slower than the library kernel for its workload
#: (measured before tuning) gets no rounds past its floor: the library will run it.
LIBRARY_LEAD = 1.5
#: A task whose first schedule is this much slower than the library kernel gets no more of its
#: floor either: ResNet-50 from an empty database spent 20 of its 26 minutes on the floors of
#: convolutions oneDNN then ran, every one 3-40x faster than TVM's schedules.
LIBRARY_FAR_AHEAD = 3.0
#: Per-candidate limits; generous because a worker's first build imports TVM on a busy machine.
BUILD_TIMEOUT_S = 180
RUN_TIMEOUT_S = 60


@dataclass(slots=True)
class _Task:
    extracted: object  # ms.ExtractedTask
    name: str
    weight: int
    flops: float
    workload: object = None  # ms.database.Workload in our database
    start_records: int = 0
    spent: int = 0
    converged: bool = False
    library_us: float | None = None  # a library kernel's time for the same workload

    @property
    def score(self) -> float:
        return self.weight * max(self.flops, 1.0)


def tuning_dir(root: Path, model: Model, preset: TargetPreset) -> Path:
    """``<root>/<model>-<sha12>/<target>/``: one database per model and target."""
    return Path(root) / f"{model.name}-{model.sha256[:12]}" / preset_key(preset)


def preset_key(preset: TargetPreset) -> str:
    """Folder name of a target: the preset name, or a digest for raw target dicts."""
    if preset.name != "custom":
        return preset.name
    import hashlib
    import json

    return (
        "custom-"
        + hashlib.sha256(json.dumps(preset.target, sort_keys=True).encode()).hexdigest()[:10]
    )


def related_databases(
    root: Path, own: Path, preset: TargetPreset, schedules: Path | None
) -> list[Path]:
    """Other models' databases for the same target, then the shipped schedules for it.

    ``host`` also uses the shipped schedules of the widest x86 preset this CPU can run.
    """
    key = preset_key(preset)
    found = sorted(p for p in Path(root).glob(f"*/{key}") if p.resolve() != own.resolve())
    if schedules is not None:
        found += [Path(schedules) / k for k in (key, *_shipped_fallbacks(preset))]
    return [p for p in found if tuning_db.is_database(p)]


def _shipped_fallbacks(preset: TargetPreset) -> list[str]:
    """For ``host``: the first of x86-avx512, x86-avx2 whose features the host CPU has."""
    from .targets import static_presets

    if preset.name != "host":
        return []
    have = set(preset.cpu_features)
    candidates = [static_presets()[name] for name in ("x86-avx512", "x86-avx2")]
    return [p.name for p in candidates if p.arch == preset.arch and set(p.cpu_features) <= have][:1]


def allocate_trials(scores: Sequence[float], total: int, floor: int) -> list[int]:
    """Split ``total`` trials: ``floor`` each, the rest in proportion to ``scores``.

    Every task gets at least one trial even when ``total`` is smaller than the task count.
    """
    n = len(scores)
    if n == 0:
        return []
    floor = max(1, min(floor, total // n))
    rest = max(0, total - floor * n)
    weight_sum = sum(scores) or 1.0
    shares = [rest * s / weight_sum for s in scores]
    plan = [floor + math.floor(x) for x in shares]
    leftover = total - sum(plan)
    for i in sorted(range(n), key=lambda i: shares[i] - math.floor(shares[i]), reverse=True):
        if leftover <= 0:
            break
        plan[i] += 1
        leftover -= 1
    return plan


def extract_tasks(mod, preset: TargetPreset) -> list[_Task]:
    """The tuning tasks of an optimized module, with weight (call sites) and FLOPs."""
    from ._tvm import estimate_tir_flops, ms, tvm, tvm_errors

    with tvm_errors("task extraction"):
        extracted = ms.relax_integration.extract_tasks(mod, tvm.target.Target(preset.target))
    tasks = []
    for task in extracted:
        try:
            flops = float(estimate_tir_flops(task.dispatched[0]))
        except Exception:  # noqa: BLE001 - FLOPs only weigh the budget split
            flops = 0.0
        tasks.append(_Task(task, task.task_name, int(task.weight), flops))
    return tasks


def tune(
    mod,
    preset: TargetPreset,
    work_dir: Path,
    *,
    trials: int,
    time_budget_s: float | None = None,
    min_trials_per_task: int = 8,
    reuse_from: Sequence[Path] = (),
    strategy: str = "evolutionary",
    builder=None,
    runner=None,
    progress: bool = True,
    library_us: Mapping[str, float] | None = None,
) -> TuningResult:
    """Tune every task of ``mod`` (an optimized module) into the database in ``work_dir``.

    Every task first gets ``min_trials_per_task`` trials (one once the time budget is spent, so
    none is left at the naive schedule), then the rest of ``trials`` goes to the tasks with the largest weight x FLOPs
    until the time budget runs out or the task converges. Records already in the database,
    or found for the same workload in ``reuse_from``, count as done: a rerun resumes.

    Args:
        mod: the module from ``optimize``.
        preset: the target.
        work_dir: this model's and target's database folder (locked while tuning).
        trials: total trial budget for this run, records already present included.
        time_budget_s: wall-clock budget; the guaranteed first pass may overrun it.
        min_trials_per_task: the floor every task gets first.
        reuse_from: other databases for the same target to copy matching records from.
        strategy: MetaSchedule search strategy, "evolutionary" (XGBoost-guided) or
            "replay-trace" (random sampling: cheaper per round, for smoke tests).
        builder: a MetaSchedule builder (default: local, or cross-compiling for the preset).
        runner: a MetaSchedule runner (default: local; an RPC runner for remote boards).
        progress: show a progress bar on stderr.
        library_us: library kernel microseconds by ``kernel_choice.task_key``; a task the
            library beats by ``LIBRARY_LEAD`` after its floor is left to the library.
    """
    from ._tvm import ms, tvm, tvm_errors

    work_dir = Path(work_dir)
    started = time.monotonic()
    os.environ.setdefault("TVM_NUM_THREADS", str(os.cpu_count() or 1))
    with tuning_db.locked(work_dir), _tvm_output_to(work_dir / "tvm.log") as console:
        tuning_db.repair(work_dir)
        db = tuning_db.open_database(work_dir)
        tasks = extract_tasks(mod, preset)
        _attach_library_times(tasks, library_us or {})
        target = tvm.target.Target(preset.target)
        for task in tasks:
            task.workload = db.commit_workload(task.extracted.dispatched[0])
        reused = _copy_matching_records(
            db, tasks, tuning_db.open_readonly(list(reuse_from)), target
        )
        plan = allocate_trials([t.score for t in tasks], trials, min_trials_per_task)
        if runner is None:
            builder = builder or _default_builder(preset)
            runner = ms.runner.LocalRunner(timeout_sec=RUN_TIMEOUT_S)
        cost_models: dict[str, object] = {}
        bar = _progress_bar(sum(plan), len(tasks), console, progress)
        curve: list[tuple[int, float]] = []
        spent = 0

        def run_round(task: _Task, n: int) -> None:
            nonlocal spent
            before = _best_seconds(db, task)
            with tvm_errors(f"tuning task {task.name}"):
                ms.tune_tasks(
                    tasks=ms.relax_integration.extracted_tasks_to_tune_contexts(
                        [task.extracted], str(work_dir / "ms"), strategy=strategy
                    )[0],
                    task_weights=[float(task.weight)],
                    work_dir=str(work_dir / "ms"),
                    max_trials_global=n,
                    max_trials_per_task=n,
                    num_trials_per_iter=n,
                    builder=builder,
                    runner=runner,
                    database=db,
                    cost_model=cost_models.setdefault(task.name, ms.cost_model.XGBModel()),
                    task_scheduler="round-robin",
                )
            after = _best_seconds(db, task)
            task.spent += n
            # Converged: no faster schedule this round; a round with no valid record stops too.
            task.converged = after is None or (
                before is not None and after > before * (1 - CONVERGED)
            )
            spent += n
            latency = _estimated_latency_us(db, tasks)
            curve.append((spent, latency))
            bar.update(n)
            bar.set_postfix_str(f"task {task.name[:28]} | est. {latency / 1000:.3f} ms")

        order = sorted(tasks, key=lambda t: t.score, reverse=True)
        plan_of = {t.name: p for t, p in zip(tasks, plan, strict=True)}
        floor = min(plan)
        for task in order:
            task.start_records = _record_count(db, task)
        for task in order:  # pass 1: every task leaves the naive schedule
            # past the time budget, one trial each: a real schedule, not a search
            goal = 1 if _out_of_time(started, time_budget_s) else floor
            if task.name not in reused:
                _first_pass(db, task, goal - task.start_records, run_round)
        for task in order:  # pass 2: the rest of the budget, largest tasks first
            while not task.converged and not _library_wins(db, task):
                need = min(ROUND, plan_of[task.name] - task.start_records - task.spent)
                if need <= 0 or _out_of_time(started, time_budget_s):
                    break
                run_round(task, need)
        failed = [t.name for t in tasks if _record_count(db, t) == 0]
        if failed:
            log.warning(
                "no valid schedule found for %s; see %s", ", ".join(failed), work_dir / "tvm.log"
            )
        bar.close()
        reports = tuple(
            TaskReport(t.name, t.weight, t.flops, _record_count(db, t), _best_us(db, t))
            for t in tasks
        )
    return TuningResult(
        work_dir=work_dir,
        target=preset_key(preset),
        tasks=reports,
        trials_spent=spent,
        seconds=time.monotonic() - started,
        database_digest=tuning_db.digest(work_dir),
        curve=tuple(curve),
        reused_tasks=len(reused),
    )


def _attach_library_times(tasks: list[_Task], library_us: Mapping[str, float]) -> None:
    if not library_us:
        return
    from .kernel_choice import task_key

    for task in tasks:
        task.library_us = library_us.get(task_key(task.extracted.dispatched[0]["main"]))


def _library_wins(db, task: _Task, lead: float = LIBRARY_LEAD) -> bool:
    """The library kernel is ``lead`` times faster than the best schedule found so far."""
    best = _best_us(db, task)
    return task.library_us is not None and best is not None and best > task.library_us * lead


def _first_pass(db, task: _Task, need: int, run_round) -> None:
    """``need`` trials for ``task`` (``run_round(task, n)`` runs ``n``); where a library kernel
    may run the task, one first, and no more when the library is ``LIBRARY_FAR_AHEAD`` ahead."""
    if need > 0 and task.library_us is not None:
        run_round(task, 1)
        need -= 1
        if _library_wins(db, task, LIBRARY_FAR_AHEAD):
            return
    if need > 0:
        run_round(task, need)


def _default_builder(preset: TargetPreset):
    from ._tvm import ms

    if preset.is_cross:
        raise TargetError(
            f"tuning for '{preset.name}' measures on a device of that kind; pass a runner "
            "(--rpc-tracker HOST:PORT --rpc-key KEY) or compile without --tune"
        )
    from .candidates import lean_build

    return ms.builder.LocalBuilder(
        max_workers=os.cpu_count() or 1,
        timeout_sec=BUILD_TIMEOUT_S,
        f_build=None if preset.is_cuda else lean_build,
    )


def _copy_matching_records(db, tasks: list[_Task], others: list, target) -> set[str]:
    """Copy the best record of each task found in another database; returns the tasks served."""
    from ._tvm import ms

    served = set()
    for task in tasks:
        if _record_count(db, task):
            continue
        mod = task.extracted.dispatched[0]
        for other in others:
            if not other.has_workload(mod):
                continue
            best = other.get_top_k(other.commit_workload(mod), 1)
            if best:
                rec = best[0]
                db.commit_tuning_record(
                    ms.database.TuningRecord(
                        rec.trace, task.workload, rec.run_secs, target, rec.args_info
                    )
                )
                served.add(task.name)
                break
    if served:
        log.info("reused records for %d task(s) from other databases", len(served))
    return served


def _record_count(db, task: _Task) -> int:
    return len(db.get_top_k(task.workload, 1 << 30))


def _best_seconds(db, task: _Task) -> float | None:
    best = db.get_top_k(task.workload, 1)
    if not best or not best[0].run_secs:
        return None
    secs = [float(s) for s in best[0].run_secs]
    return sum(secs) / len(secs)


def _best_us(db, task: _Task) -> float | None:
    best = _best_seconds(db, task)
    return None if best is None else best * 1e6


def _estimated_latency_us(db, tasks: list[_Task]) -> float:
    """Sum over tasks of weight x best latency (tasks without records count zero)."""
    return sum(t.weight * (_best_us(db, t) or 0.0) for t in tasks)


def _out_of_time(started: float, budget: float | None) -> bool:
    return budget is not None and time.monotonic() - started >= budget


def _progress_bar(total: int, n_tasks: int, console, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=f"tuning {n_tasks} tasks",
        unit="trial",
        file=console,
        disable=not enabled,
        dynamic_ncols=True,
    )


@contextlib.contextmanager
def _tvm_output_to(log_path: Path) -> Iterator[object]:
    """Send TVM's C++ and Python logs (fds 1 and 2, sys.stdout, sys.stderr) to ``log_path``.

    Yields a stream on the original stderr for the progress bar.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    console = os.fdopen(os.dup(2), "w", buffering=1)
    _drop_unnamed_handlers()
    with open(log_path, "a", buffering=1, encoding="utf-8") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                yield console
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved_out, 1)
            os.dup2(saved_err, 2)
            os.close(saved_out)
            os.close(saved_err)
            console.close()
            _repoint_handlers(sink, sys.stdout)


def _repoint_handlers(old, new) -> None:
    """Point logging handlers MetaSchedule bound to ``old`` (closed after tuning) at ``new``."""
    import logging

    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in getattr(logger, "handlers", []):
            if getattr(handler, "stream", None) is old:
                handler.setStream(new)


def _drop_unnamed_handlers() -> None:
    """MetaSchedule rebuilds its logger config from the names of the handlers on its logger;
    an unnamed one (pytest's capture handler, a notebook's) makes that config fail."""
    import logging

    logger = logging.getLogger("tvm.s_tir.meta_schedule")
    for handler in list(logger.handlers):
        if handler.get_name() is None:
            logger.removeHandler(handler)
