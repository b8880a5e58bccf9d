"""A function no database has a record of gets the nearest record's schedule when it is faster."""

from __future__ import annotations

from pathlib import Path

import tvmforge
from tests import models


def test_schedule_of_another_shape_is_replayed_measured_and_kept(tmp_path: Path) -> None:
    small = models.softmax_rows(tmp_path / "small.onnx", rows=256)
    large = models.softmax_rows(tmp_path / "large.onnx", rows=1024)
    tuned = tvmforge.tune(small, trials=4, min_trials_per_task=4, tuning_dir=tmp_path / "tl",
                          strategy="replay-trace", schedules_dir=None)  # fmt: skip
    assert all(t.best_us is not None for t in tuned.tasks)
    # the small model's database, shipped as if curated for this target
    shipped = tmp_path / "schedules"
    shipped.mkdir()
    (shipped / "host").symlink_to(tuned.work_dir.resolve(), target_is_directory=True)
    artifact = tvmforge.compile(large, tmp_path / "large.so", tuning_dir=tmp_path / "tl2",
                                schedules_dir=shipped, transfer=True)  # fmt: skip
    facts = artifact.manifest["tuning"]
    assert facts["scheduled_functions"] == 0  # no exact record for the 1024-row workload
    assert facts["transferred_functions"] >= 1
    assert artifact.validation.passed
