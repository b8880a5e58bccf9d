"""Tune zoo models for a target with a fixed number of trials per task (feeds curate_schedules).

    nice -n 10 .venv/bin/python -m benchmarks.tune_zoo --target x86-avx512 \
        --models squeezenet,shufflenet,tinynet --trials-per-task 8

Records go to ``<tuning-dir>/<model>-<sha12>/<target>/`` as for ``tvmforge tune``; a summary
line per model (tasks, trials, seconds) is appended to ``<tuning-dir>/tune_zoo.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from . import zoo


def in_process_builder():
    """A MetaSchedule builder that compiles in this process.

    ``LocalBuilder`` starts fresh worker processes for every batch, each importing TVM: on a
    shared 2-core machine that import costs more than the builds, and starved workers hit the
    build timeout, which turns every trial into a failure.
    """
    from tvmforge._tvm import ms, tvm

    local = ms.builder.local_builder

    @tvm.ir.utils.derived_object
    class InProcessBuilder(ms.builder.PyBuilder):
        def build(self, build_inputs):
            results = []
            for item in build_inputs:
                try:
                    lib = local.default_build(item.mod, item.target, None)
                    results.append(ms.builder.BuilderResult(local.default_export(lib), None))
                except Exception as exc:  # noqa: BLE001 - a failed candidate, as LocalBuilder says
                    results.append(ms.builder.BuilderResult(None, f"in-process build: {exc}"))
            return results

    return InProcessBuilder()


def tune_budget(
    model: zoo.ZooModel,
    target: str,
    tuning_dir: Path,
    *,
    trials: int | None = None,
    per_task: int = 8,
    strategy: str = "evolutionary",
    schedules_dir: Path | None = None,
    kernels: str = "auto",
):
    """Tune one zoo model into its database under ``tuning_dir`` -> ``TuningResult``.

    ``trials`` is the model's total budget (default ``per_task`` for each task); every task
    gets ``per_task`` first. Records of other models' databases and of ``schedules_dir`` for
    the same workload are copied in first, and oneDNN's kernels are measured first where
    ``kernels`` offers them, exactly as ``tvmforge tune`` does.
    """
    import dataclasses

    from tvmforge._tvm import ms
    from tvmforge.api import CompileOptions, prepare, tune_prepared
    from tvmforge.tuning import extract_tasks

    options = CompileOptions(
        target=target, input_shapes=model.input_shapes, min_trials_per_task=per_task,
        strategy=strategy, tuning_dir=tuning_dir, schedules_dir=schedules_dir, kernels=kernels,
        track=False,
    )  # fmt: skip
    prepared = prepare(model.path(), options)
    if trials is None:
        trials = len(extract_tasks(prepared.mod, prepared.preset)) * per_task
    return tune_prepared(
        prepared,
        dataclasses.replace(options, trials=trials),
        builder=in_process_builder(),
        runner=ms.runner.LocalRunner(timeout_sec=600),
    )


def tune_model(
    model: zoo.ZooModel,
    target: str,
    per_task: int,
    tuning_dir: Path,
    strategy: str,
    kernels: str = "auto",
) -> dict:
    """Tune one zoo model with ``per_task`` trials for each of its tasks; returns a summary."""
    result = tune_budget(
        model, target, tuning_dir, per_task=per_task, strategy=strategy, kernels=kernels
    )
    return {
        "model": model.name,
        "target": target,
        "tasks": len(result.tasks),
        "trials_spent": result.trials_spent,
        "trials_in_database": result.trials_total,
        "reused_tasks": result.reused_tasks,
        "valid_tasks": sum(t.best_us is not None for t in result.tasks),
        "seconds": round(result.seconds, 1),
        "strategy": strategy,
        "database": str(result.work_dir),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="x86-avx512")
    parser.add_argument("--models", default="tinynet,squeezenet,shufflenet")
    parser.add_argument("--trials-per-task", type=int, default=8)
    parser.add_argument("--strategy", choices=["evolutionary", "replay-trace"],
                        default="evolutionary", help="replay-trace: no search overhead per task")  # fmt: skip
    parser.add_argument("--tuning-dir", type=Path, default=zoo.REPO / "tuning_logs")
    parser.add_argument("--kernels", choices=["auto", "onednn", "tvm"], default="auto",
                        help="auto: NHWC graph with oneDNN convolutions as candidates")  # fmt: skip
    args = parser.parse_args(argv)
    log = args.tuning_dir / "tune_zoo.jsonl"
    for model in zoo.select(args.models):
        started = time.monotonic()
        try:
            summary = tune_model(model, args.target, args.trials_per_task, args.tuning_dir,
                                 args.strategy, args.kernels)  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - one model failing must not stop the zoo
            summary = {"model": model.name, "target": args.target, "error": f"{exc}"[:300],
                       "seconds": round(time.monotonic() - started, 1)}  # fmt: skip
        print(json.dumps(summary), flush=True)
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(summary) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
