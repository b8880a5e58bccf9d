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


def count_tasks(model_path: Path, target: str, shapes: dict[str, tuple[int, ...]]) -> int:
    """Number of MetaSchedule tasks of a model for ``target``."""
    from tvmforge.convert import to_relax
    from tvmforge.load import load_model
    from tvmforge.optimize import optimize
    from tvmforge.shapes import bind_shapes
    from tvmforge.targets import resolve_target
    from tvmforge.tune import extract_tasks

    preset = resolve_target(target)
    bound = bind_shapes(load_model(model_path), shapes)
    return len(extract_tasks(optimize(to_relax(bound), preset), preset))


def tune_model(
    model: zoo.ZooModel, target: str, per_task: int, tuning_dir: Path, strategy: str
) -> dict:
    """Tune one zoo model with ``per_task`` trials for each of its tasks; returns a summary."""
    from tvmforge.api import tune

    path = model.path()
    n_tasks = count_tasks(path, target, model.input_shapes)
    result = tune(
        path,
        target=target,
        input_shapes=model.input_shapes,
        trials=n_tasks * per_task,
        min_trials_per_task=per_task,
        tuning_dir=tuning_dir,
        schedules_dir=None,
        strategy=strategy,
    )
    return {
        "model": model.name,
        "target": target,
        "tasks": len(result.tasks),
        "trials_spent": result.trials_spent,
        "trials_in_database": result.trials_total,
        "reused_tasks": result.reused_tasks,
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
    args = parser.parse_args(argv)
    log = args.tuning_dir / "tune_zoo.jsonl"
    for model in zoo.select(args.models):
        started = time.monotonic()
        try:
            summary = tune_model(
                model, args.target, args.trials_per_task, args.tuning_dir, args.strategy
            )
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
