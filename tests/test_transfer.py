"""A function no database has a record of gets the nearest record's schedule when it is faster.

The replay and the numerics are real (the artifact is validated against onnxruntime); the
timer is replaced, because whether four random trials beat TVM's naive softmax on a busy
2-core CI machine is noise, not behaviour. The keep-or-drop rule is tested both ways.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import tvmforge
from tests import models
from tvmforge import _tvm


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 256-row softmax's tuning database, shipped as if curated for this target."""
    root = tmp_path_factory.mktemp("transfer")
    small = models.softmax_rows(root / "small.onnx", rows=256)
    tuned = tvmforge.tune(small, trials=4, min_trials_per_task=4, tuning_dir=root / "tl",
                          strategy="replay-trace", schedules_dir=None)  # fmt: skip
    assert all(t.best_us is not None for t in tuned.tasks)
    schedules = root / "schedules"
    schedules.mkdir()
    (schedules / "host").symlink_to(tuned.work_dir.resolve(), target_is_directory=True)
    return schedules


def _timer(replayed_s: float):
    """A stand-in for seconds_per_call: naive code takes 1 s, a replayed schedule ``replayed_s``."""

    def seconds(func, args, target) -> float:
        return replayed_s if _tvm.is_scheduled(func) else 1.0

    return seconds


def _compile_large(tmp_path: Path, shipped: Path) -> dict:
    large = models.softmax_rows(tmp_path / "large.onnx", rows=1024)
    artifact = tvmforge.compile(large, tmp_path / "large.so", tuning_dir=tmp_path / "tl2",
                                schedules_dir=shipped, transfer=True)  # fmt: skip
    assert artifact.validation.passed
    return artifact.manifest["tuning"]


def test_faster_replayed_schedule_is_kept_and_correct(
    tmp_path: Path, shipped: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_tvm, "seconds_per_call", _timer(replayed_s=0.5))
    facts = _compile_large(tmp_path, shipped)
    assert facts["scheduled_functions"] == 0  # no exact record for the 1024-row workload
    assert facts["transferred_functions"] >= 1


def test_slower_replayed_schedule_is_dropped(
    tmp_path: Path, shipped: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_tvm, "seconds_per_call", _timer(replayed_s=2.0))
    facts = _compile_large(tmp_path, shipped)
    assert facts["transferred_functions"] == 0
