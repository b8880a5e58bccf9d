"""Tuning throughput over a pool of emulated aarch64 boards: one, two, two with one killed or hung.

    nice -n 10 .venv/bin/python benchmarks/remote_pool.py [--trials 32] [--n 64] [--out DIR]

Each scenario starts its own tracker and boards on free loopback ports (tests/remote_fixtures.py),
tunes the same one-task model for arm-neon from an empty database, and reports trials per minute
(new records / wall time of ``tvmforge.tune``). The kill scenario SIGKILLs one board's process
group during its first measurement batch, then checks that every trial has a record with a real
latency, that the records are applied at build (scheduled functions), and validates the artifact
on the surviving board. The hang scenario does the same with SIGSTOP (sockets stay open; the
measurement times out after ``remote_tune.ATTEMPT_TIMEOUT_S``). The boards are qemu user-mode emulation: the figures prove the plumbing
and the scaling of the pool, not ARM speed.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.remote_fixtures import Lab, board_skip_reason, matmul_model  # noqa: E402


def _records(work_dir: Path) -> list[list[float]]:
    """run_secs of every record in a MetaSchedule JSON database folder."""
    out = []
    for path in work_dir.glob("*tuning_record*.json"):
        for line in path.read_text().splitlines():
            if line.strip():
                out.append([float(s) for s in json.loads(line)[1][1]])
    return out


def _kill_mid_measurement(board, skip: int, note: dict, hang: bool = False) -> None:
    """SIGKILL (or SIGSTOP) ``board`` as it accepts its ``skip + 1``-th RPC session."""
    start = board.log.stat().st_size
    while board.alive():
        text = board.log.read_bytes()[start:].decode(errors="replace")
        if text.count("connected from") > skip:
            note["killed_at_s"] = time.monotonic()
            note["sessions_before_kill"] = text.count("connected from")
            board.freeze() if hang else board.kill()
            return
        time.sleep(0.05)


def _phases(log: Path) -> dict:
    """Seconds spent in the builder and the runner, from MetaSchedule's log timestamps."""
    import datetime

    def stamp(line: str) -> float:
        return datetime.datetime.strptime(line[:19], "%Y-%m-%d %H:%M:%S").timestamp()

    build = run = 0.0
    sent_build = sent_run = None
    for line in log.read_text(errors="replace").splitlines():
        if "to builder" in line:
            sent_build = stamp(line)
        elif "to runner" in line and sent_build is not None:
            sent_run = stamp(line)
            build += sent_run - sent_build
        elif "[Updated]" in line and sent_run is not None:
            run += stamp(line) - sent_run
            sent_build = sent_run = None
    return {"build_s": build, "measure_s": run}


def scenario(name: str, boards: int, kill: bool, args, root: Path) -> dict:
    from tvmforge import api

    lab = Lab(root / f"logs-{name}")
    lab.logdir.mkdir(parents=True)
    key = f"pool-{name}"
    model = matmul_model(root / "matmul.onnx", args.n)
    try:
        lab.start_tracker()
        started = [lab.start_board(key) for _ in range(boards)]
        options = api.CompileOptions(
            target="arm-neon",
            trials=args.trials,
            min_trials_per_task=args.trials,
            strategy=args.strategy,
            tuning_dir=root / f"tuning-{name}",
            rpc_tracker=lab.tracker,
            rpc_key=key,
        )
        note: dict = {}
        if kill:
            watcher = threading.Thread(
                target=_kill_mid_measurement,
                args=(started[-1], args.kill_after, note, name == "hang"),
                daemon=True,
            )
            watcher.start()
        t0 = time.monotonic()
        result = api.tune(model, options)
        seconds = time.monotonic() - t0
        records = _records(result.work_dir)
        good = [r for r in records if r and all(s < 1e9 for s in r)]
        phases = _phases(result.work_dir / "tvm.log")
        retried = (
            (result.work_dir / "tvm.log").read_text(errors="replace").count("retrying on the pool")
        )
        out = {
            "scenario": name,
            "boards": boards,
            "killed_one": kill and "killed_at_s" in note,
            "kill_after_s": round(note["killed_at_s"] - t0, 1) if "killed_at_s" in note else None,
            "trials_spent": result.trials_spent,
            "records": len(records),
            "records_with_latency": len(good),
            "seconds": round(seconds, 1),
            "trials_per_min": round(60.0 * result.trials_spent / seconds, 2),
            "build_s": phases["build_s"],
            "measure_s": phases["measure_s"],
            "measured_per_min": round(60.0 * result.trials_spent / max(phases["measure_s"], 1), 1),
            "retried_measurements": retried,
            "sessions_on_killed_board": note.get("sessions_before_kill"),
            "best_us": min((t.best_us for t in result.tasks if t.best_us), default=None),
        }
        if kill:
            built = api.compile(model, root / f"{name}.so", options)
            m = built.manifest
            out["scheduled_functions"] = (
                f"{m['tuning']['scheduled_functions']}/{m['tuning']['functions']}"
            )
            out["validated_on"] = m["validation"].get("device") if m["validation"] else None
            out["validation_passed"] = bool(built.validation and built.validation.passed)
        return out
    finally:
        lab.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=32)
    parser.add_argument("--n", type=int, default=64, help="matmul size")
    parser.add_argument("--strategy", default="replay-trace")
    parser.add_argument("--kill-after", type=int, default=2,
                        help="sessions the doomed board serves before it is killed")  # fmt: skip
    parser.add_argument(
        "--only",
        choices=["warm", "one", "two", "one-again", "two-again", "kill", "hang"],
        action="append",
    )
    parser.add_argument("--work", type=Path, help="keep logs and databases here (default: temp)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()
    reason = board_skip_reason()
    if reason:
        print(f"remote_pool: skipped: {reason}", file=sys.stderr)
        return 0
    # "warm" pays this process's one-time costs (TVM imports, first search-space generation) so
    # that the timed scenarios compare alike; one and two alternate to show the noise.
    plan = [("warm", 1, False), ("one", 1, False), ("two", 2, False), ("one-again", 1, False),
            ("two-again", 2, False), ("kill", 2, True), ("hang", 2, True)]  # fmt: skip
    results = []
    work = Path(args.work or tempfile.mkdtemp(prefix="tvmforge-pool-"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for name, boards, kill in plan:
        if args.only and name not in args.only:
            continue
        results.append(scenario(name, boards, kill, args, work))
        print(json.dumps(results[-1]), flush=True)
    report = {
        "machine": f"{platform.machine()} host, {__import__('os').cpu_count()} cores; boards: "
        "qemu-aarch64 user-mode emulation (plumbing and scaling, not ARM speed)",
        "model": f"MatMul {args.n}x{args.n} + Relu (one task)",
        "trials": args.trials,
        "strategy": args.strategy,
        "results": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "remote_pool.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"remote_pool: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
