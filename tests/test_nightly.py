"""Nightly jobs: job files, regressions, the report, the lock, and a kill in the middle."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from tvmforge import nightly
from tvmforge.errors import JobError
from tvmforge.job import load_job
from tvmforge.report import EntryResult, find_regressions, write

REPO = Path(__file__).resolve().parent.parent
NIGHT = "2026-01-02"
EXAMPLES = REPO / "examples" / "nightly"


@pytest.fixture(autouse=True)
def _tracking_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about tracking: on, whatever the suite's default."""
    monkeypatch.delenv("TVMFORGE_NO_TRACK", raising=False)


def _job(folder: Path) -> Path:
    """A copy of examples/nightly/pair.toml and its two tiny models in ``folder``."""
    shutil.copytree(EXAMPLES / "models", folder / "models")
    return Path(shutil.copy(EXAMPLES / "pair.toml", folder / "pair.toml"))


def test_job_file_problems_are_listed_at_once(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        'colour = "red"\nstrategy = "fastest"\nkernels = "mkl"\n[[models]]\n'
        'path = "missing.onnx"\ninput_shapes = { x = [1, -3] }\n[[models]]\nname = "no path"\n',
        encoding="utf-8",
    )
    with pytest.raises(JobError) as err:
        load_job(path)
    message = str(err.value)
    assert "\n" not in message
    for piece in ("unknown key 'colour'", "missing.onnx", "strategy", "kernels must be one of",
                  "input_shapes.x", "models[1] needs a 'path'"):  # fmt: skip
        assert piece in message


def test_example_jobs_load() -> None:
    job = load_job(EXAMPLES / "pair.toml")
    assert [m.name for m in job.models] == ["alpha", "beta"]
    zoo = tomllib.loads((EXAMPLES / "zoo.toml").read_text())  # its models are obtained on demand
    for entry in zoo["models"]:
        path = (EXAMPLES / entry["path"]).resolve()
        assert path.is_file() or path.parent == REPO / "benchmarks" / ".cache", path


def _entry(model: str, median: float, status: str = "ok") -> EntryResult:
    return EntryResult(model, "host", status, "" if status == "ok" else "outputs differ",
                       median_ms=median, p90_ms=median * 1.1, ort_median_ms=1.0,
                       ort_p90_ms=1.1, ratio=median)  # fmt: skip


def test_regressions_compare_with_the_best_previous_night(tmp_path: Path) -> None:
    history = {"n1": [_entry("a", 1.0), _entry("b", 1.0)], "n2": [_entry("a", 2.0)]}
    tonight = [_entry("a", 1.05), _entry("b", 1.5), _entry("c", 9.0, "failed")]
    found = {r.key: r.reason for r in find_regressions(tonight, history, 0.10)}
    assert set(found) == {"b@host", "c@host"}  # a: within 10% of its best night (n1)
    assert "50% slower" in found["b@host"] and "n1" in found["b@host"]
    assert found["c@host"].startswith("failed")
    regressions = find_regressions(tonight, history, 0.10)
    md, html, pngs = write(tmp_path, "job", "n3", tonight, history, regressions)
    assert "REGRESSION" in md.read_text() and 'class="bad"' in html.read_text()
    assert all(p.stat().st_size > 0 for p in pngs) and len(pngs) == 3


def test_a_second_copy_is_refused(tmp_path: Path) -> None:
    job = load_job(_job(tmp_path))
    with nightly._exclusive([job.output_dir, job.tuning_dir], job):
        with pytest.raises(JobError, match="in use by another nightly run"):
            nightly.run_job(job, night=NIGHT, track_runs=False)


def _command(job: Path, uri: str) -> list[str]:
    return [sys.executable, "-m", "tvmforge.cli", "nightly", str(job), "--night", NIGHT,
            "--tracking-uri", uri]  # fmt: skip


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TVM_NUM_THREADS": "1"}
    env.pop("TVMFORGE_NO_TRACK", None)
    return env


def _wait_for_tuning(folder: Path, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not list(folder.glob("tuning_logs/*/host/database_workload.json")):
        assert proc.poll() is None, "the nightly job ended before it started tuning"
        assert time.monotonic() < deadline, "the nightly job never started tuning"
        time.sleep(0.5)


def test_killed_mid_tuning_then_rerun_finishes_once(tmp_path: Path) -> None:
    job = _job(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    # An impossibly fast earlier night for alpha: tonight must flag it, and exit 3.
    earlier = tmp_path / "nightly-runs" / "2026-01-01"
    earlier.mkdir(parents=True)
    fake = {"entries": {"alpha@host": {"result": _entry("alpha", 1e-6).to_json()}}}
    (earlier / "state.json").write_text(json.dumps(fake), encoding="utf-8")

    first = subprocess.Popen(_command(job, uri), cwd=tmp_path, env=_env(),
                             start_new_session=True, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)  # fmt: skip
    try:
        _wait_for_tuning(tmp_path, first)
        second = subprocess.run(_command(job, uri), cwd=tmp_path, env=_env(), text=True,
                                capture_output=True, timeout=300)  # fmt: skip
        assert second.returncode == 1, second.stderr
        assert "in use by another nightly run" in second.stderr
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=60)
    state_path = tmp_path / "nightly-runs" / NIGHT / "state.json"
    killed = json.loads(state_path.read_text())
    assert not all("result" in e for e in killed["entries"].values()), "killed too late"

    rerun = subprocess.run(_command(job, uri), cwd=tmp_path, env=_env(), text=True,
                           capture_output=True, timeout=900)  # fmt: skip
    assert rerun.returncode == 3, rerun.stdout + rerun.stderr
    assert "alpha@host" in rerun.stderr and "beta@host" not in rerun.stderr

    state = json.loads(state_path.read_text())
    assert state["finished"] and set(state["entries"]) == {"alpha@host", "beta@host"}
    assert [e["result"]["status"] for e in state["entries"].values()] == ["ok", "ok"]
    assert sorted(p.parent.name for p in (tmp_path / "nightly-runs").glob("*/report.md")) == [NIGHT]
    assert "REGRESSION" in (tmp_path / "nightly-runs" / NIGHT / "report.md").read_text()
    assert (tmp_path / "nightly-runs" / NIGHT / "report.html").is_file()
    assert [e["trials_total"] for e in state["entries"].values()] == [1, 1]
    databases = sorted(tmp_path.glob("tuning_logs/*/host/database_tuning_record.json"))
    assert len(databases) == 2
    for records in databases:  # one trial each: the killed round was not counted twice
        lines = [line for line in records.read_text().splitlines() if line.strip()]
        assert len(lines) == 1, f"{len(lines)} records in {records}, the budget is 1"
    _check_runs(uri, state)


def _check_runs(uri: str, state: dict) -> None:
    """One parent run and one nested run per model for the night, all finished."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("nightly-pair")
    runs = client.search_runs([exp.experiment_id], f"tags.`tvmforge.night` = '{NIGHT}'")
    parents = [r for r in runs if r.data.tags["tvmforge.verb"] == "nightly"]
    children = [r for r in runs if r.data.tags["tvmforge.verb"] != "nightly"]
    assert len(parents) == 1 and parents[0].info.run_id == state["run_id"]
    assert sorted(r.info.run_name for r in children) == ["alpha@host", "beta@host"]
    assert all(r.info.status == "FINISHED" for r in runs)
    assert all(r.data.tags["mlflow.parentRunId"] == state["run_id"] for r in children)
    assert parents[0].data.metrics["regressions"] == 1
    beta = next(r for r in children if r.info.run_name == "beta@host")
    assert beta.data.metrics["tvmforge_median_ms"] > 0 and beta.data.params["input_shapes"]
    assert client.get_model_version_by_alias("beta-host", "champion").run_id == beta.info.run_id
