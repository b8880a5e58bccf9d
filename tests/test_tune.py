"""Tuning: budget split, records applied, resume, kill safety and the database lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import subprocess_env
from tvmforge import tuning_db
from tvmforge.errors import TuningLockedError
from tvmforge.tuning import allocate_trials

TINY = {"trials": 2, "min_trials_per_task": 2, "strategy": "replay-trace"}


def test_allocation_gives_every_task_the_floor_then_follows_scores() -> None:
    plan = allocate_trials([100.0, 10.0, 1.0], total=60, floor=8)
    assert sum(plan) == 60
    assert min(plan) >= 8
    assert plan[0] > plan[1] > plan[2] - 1


def test_allocation_never_leaves_a_task_without_trials() -> None:
    assert allocate_trials([5.0, 1.0, 1.0, 1.0], total=2, floor=8) == [1, 1, 1, 1]
    assert allocate_trials([], total=10, floor=8) == []


def test_tuned_schedule_is_applied_and_resumed(single_matmul: Path, tmp_path: Path) -> None:
    import tvmforge

    # kernels="tvm": this is about TVM's schedules (with oneDNN's dense kernel as a candidate,
    # a first trial 3x slower than it ends the task's floor: 1 trial, not 2)
    logs = tmp_path / "logs"
    result = tvmforge.tune(single_matmul, tuning_dir=logs, kernels="tvm", **TINY)
    assert [t.name for t in result.tasks] == ["matmul"]
    assert result.trials_spent == 2
    assert result.tasks[0].trials >= 1 and result.tasks[0].best_us is not None
    assert (result.work_dir / "tvm.log").stat().st_size > 0  # TVM's chatter went to the file
    assert len(result.curve) == 1  # a latency estimate per round

    again = tvmforge.tune(single_matmul, tuning_dir=logs, kernels="tvm", **TINY)
    assert again.trials_spent == 0  # everything asked for is already in the database

    tuned = tvmforge.compile(single_matmul, tmp_path / "tuned.so", tuning_dir=logs, kernels="tvm")
    plain = tvmforge.compile(single_matmul, tmp_path / "plain.so", tuning_dir=tmp_path / "empty",
                             schedules_dir=None, kernels="tvm")  # fmt: skip
    assert tuned.manifest["tuning"]["scheduled_functions"] == 1
    assert plain.manifest["tuning"]["scheduled_functions"] == 0
    assert tuned.manifest["tuning"]["database_digest"] == result.database_digest
    assert tuned.library.read_bytes() != plain.library.read_bytes()
    assert tuned.validation.passed and plain.validation.passed


def test_records_of_another_model_are_reused(single_matmul: Path, tmp_path: Path) -> None:
    import tvmforge

    logs = tmp_path / "logs"
    first = tvmforge.tune(single_matmul, tuning_dir=logs, **TINY)
    import onnx

    twin = tmp_path / "twin.onnx"
    proto = onnx.load(single_matmul)
    proto.doc_string = "same graph, other bytes: another model hash"
    onnx.save(proto, twin)
    second = tvmforge.tune(twin, tuning_dir=logs, **TINY)
    assert second.work_dir != first.work_dir
    assert second.reused_tasks == 1  # the first pass is skipped: the copied record is a schedule
    assert second.trials_spent < first.trials_spent


def test_truncated_tail_is_repaired(tmp_path: Path) -> None:
    (tmp_path / tuning_db.WORKLOADS).write_text('["abc", "def"]\n')
    (tmp_path / tuning_db.RECORDS).write_text("[0, [1, 2]]\n[0, [3, 4]]\n[0, [5,")
    assert tuning_db.repair(tmp_path) == 1
    assert (tmp_path / tuning_db.RECORDS).read_text() == "[0, [1, 2]]\n[0, [3, 4]]\n"


def test_a_record_metaschedule_cannot_load_is_left_out(tmp_path: Path) -> None:
    """One record MetaSchedule cannot replay would make the whole database fail to open (and a
    build skip every record): reading leaves it out, repair drops it."""
    import shutil

    shipped = tuning_db.readable(Path(__file__).parents[1] / "schedules" / "x86-avx512")
    good = [line for line in (shipped / tuning_db.RECORDS).read_bytes().split(b"\n") if line][:3]
    bad = good[1].replace(b'["GetSBlock",[],["', b'["GetSBlock",[],["no_such_block_', 1)
    assert bad != good[1]
    shutil.copy(shipped / tuning_db.WORKLOADS, tmp_path / tuning_db.WORKLOADS)
    (tmp_path / tuning_db.RECORDS).write_bytes(b"\n".join([good[0], bad, good[2]]) + b"\n")
    (db,) = tuning_db.open_readonly([tmp_path])
    assert len(db.get_all_tuning_records()) == 2
    assert tuning_db.repair(tmp_path) == 1
    assert (tmp_path / tuning_db.RECORDS).read_bytes() == good[0] + b"\n" + good[2] + b"\n"
    assert tuning_db.repair(tmp_path) == 0


def test_lock_refuses_a_second_tuner(tmp_path: Path) -> None:
    with tuning_db.locked(tmp_path):
        code = (
            "import sys; from pathlib import Path; from tvmforge import tuning_db\n"
            "try:\n"
            f"    with tuning_db.locked(Path({str(tmp_path)!r})): pass\n"
            "except Exception as e: print(type(e).__name__, e); sys.exit(3)\n"
        )
        child = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env()
        )
    assert child.returncode == 3
    assert "TuningLockedError" in child.stdout and str(os.getpid()) in child.stdout
    with tuning_db.locked(tmp_path):  # released: can be taken again
        pass
    assert TuningLockedError.exit_code == 1


def _record_lines(work_dir: Path) -> list[str]:
    path = work_dir / tuning_db.RECORDS
    return path.read_text().splitlines() if path.exists() else []


def test_killed_tuning_keeps_records_and_resumes(mlp: Path, tmp_path: Path) -> None:
    """SIGKILL in the middle of tuning, then a rerun finishes the budget without duplicates."""
    logs = tmp_path / "logs"
    cmd = [sys.executable, "-m", "tvmforge.cli", "tune", str(mlp), "--tuning-dir", str(logs),
           "--trials", "6", "--min-trials-per-task", "2", "--strategy", "replay-trace"]  # fmt: skip
    child = subprocess.Popen(
        cmd, env=subprocess_env(), stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 400
    work_dirs: list[Path] = []
    while time.monotonic() < deadline and child.poll() is None:
        work_dirs = list(logs.glob("*/host"))
        if work_dirs and _record_lines(work_dirs[0]):
            break
        time.sleep(0.5)
    assert child.poll() is None, "tuning finished before it could be killed; raise --trials"
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    work_dir = work_dirs[0]
    kept = _record_lines(work_dir)
    assert kept
    with open(work_dir / tuning_db.RECORDS, "a") as fh:  # what a kill mid-write leaves behind
        fh.write('[0, [["GetSBlock", [], ["mat')
    done = subprocess.run(cmd, env=subprocess_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    final = _record_lines(work_dir)
    assert all(json.loads(line) for line in final)  # the torn line is gone
    assert final[: len(kept)] == kept  # nothing finished was lost
    assert len(final) == len(set(final))  # nothing duplicated
    assert "tuned 3 tasks" in done.stdout or "tuned 2 tasks" in done.stdout


@pytest.mark.parametrize("target", ["arm-neon"])
def test_cross_target_tuning_needs_a_device(mlp: Path, tmp_path: Path, target: str) -> None:
    import tvmforge
    from tvmforge.errors import TargetError

    with pytest.raises(TargetError, match="--rpc-tracker"):
        tvmforge.tune(mlp, target=target, tuning_dir=tmp_path, **TINY)
