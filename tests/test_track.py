"""MLflow tracking against real stores: a local sqlite file and a real ``mlflow server``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import tvmforge
from tests.tiny_models import dense_relu
from tvmforge import api, cli

TINY_TUNING = {"trials": 2, "min_trials_per_task": 1, "strategy": "replay-trace"}


@pytest.fixture(autouse=True)
def _tracking_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about tracking: on, whatever the suite's default."""
    monkeypatch.delenv("TVMFORGE_NO_TRACK", raising=False)


def _runs(uri: str, experiment: str) -> dict[str, object]:
    """The runs of ``experiment`` by verb (the newest of each)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no experiment {experiment!r} in {uri}"
    runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])
    return {r.data.tags["tvmforge.verb"]: r for r in runs}


def _artifacts(uri: str, run_id: str, path: str | None = None) -> list[str]:
    from mlflow.tracking import MlflowClient

    client, found = MlflowClient(uri), []
    for item in client.list_artifacts(run_id, path):
        found += _artifacts(uri, run_id, item.path) if item.is_dir else [item.path]
    return found


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory):
    """One tuned compile and one bench of a tiny model, logged to a sqlite store."""
    tmp = tmp_path_factory.mktemp("tracked")
    uri = f"sqlite:///{tmp / 'store' / 'mlflow.db'}"
    (tmp / "store").mkdir()
    model = dense_relu(tmp / "dense.onnx")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("TVMFORGE_NO_TRACK", raising=False)
        artifact = api.compile(
            model, tmp / "dense.so", tune=True, tuning_dir=tmp / "tuning_logs",
            schedules_dir=None, tracking_uri=uri, register="dense", **TINY_TUNING,
        )  # fmt: skip
        options = api.CompileOptions(tracking_uri=uri)
        report = api.bench(model, artifact.library, repeats=3, warmup=1, options=options)
    return model, artifact, report, uri


def test_compile_run_holds_params_metrics_and_files(tracked) -> None:
    model, artifact, _report, uri = tracked
    run = _runs(uri, "dense")["compile"]
    assert run.info.status == "FINISHED"
    params, metrics = run.data.params, run.data.metrics
    assert params["model_name"] == "dense"
    assert params["model_sha256"] == artifact.manifest["model"]["sha256"]
    assert params["input_shapes"] == "x=1x8"
    assert params["target"] == "host" and params["target_features"]
    assert params["trials"] == "2" and params["strategy"] == "replay-trace"
    for key in ("tvmforge_version", "tvm_version", "onnxruntime_version", "host_cpu", "threads"):
        assert params[key]
    assert metrics["validation_passed"] == 1.0
    assert metrics["max_abs_err"] == pytest.approx(artifact.validation.max_abs_err)
    assert metrics["tasks"] == 1 and metrics["trials"] >= 1 and metrics["tuning_seconds"] > 0
    files = _artifacts(uri, run.info.run_id)
    assert {"artifact/dense.so", "artifact/dense.so.json"} <= set(files)
    assert {"tuning_db/database_workload.json", "tuning_db/database_tuning_record.json"} <= set(
        files
    )
    assert "plots/tuning_curve.png" in files and "tuning/tasks.md" in files


def test_tuning_curve_is_a_step_series(tracked) -> None:
    from mlflow.tracking import MlflowClient

    _model, artifact, _report, uri = tracked
    run = _runs(uri, "dense")["compile"]
    history = MlflowClient(uri).get_metric_history(run.info.run_id, "best_estimated_latency_us")
    assert history, "no tuning curve logged"
    assert [m.step for m in history] == sorted(m.step for m in history)
    assert history[-1].step == artifact.tuning.curve[-1][0]
    values = [m.value for m in history]
    assert values == sorted(values, reverse=True)  # best so far never rises


def test_bench_run_holds_latencies_table_and_plot(tracked) -> None:
    _model, _artifact, report, uri = tracked
    run = _runs(uri, "dense")["bench"]
    metrics = run.data.metrics
    assert metrics["tvmforge_median_ms"] == pytest.approx(report.tvmforge.median_ms)
    assert metrics["onnxruntime_median_ms"] == pytest.approx(report.onnxruntime.median_ms)
    assert metrics["ratio"] == pytest.approx(report.ratio)
    assert run.data.params["target_name"] == "host" and run.data.params["target_features"]
    assert {"bench/bench.md", "plots/bench.png"} <= set(_artifacts(uri, run.info.run_id))


def test_registered_pyfunc_model_runs_the_artifact(tracked) -> None:
    import mlflow

    _model, artifact, _report, uri = tracked
    mlflow.set_tracking_uri(uri)
    served = mlflow.pyfunc.load_model("models:/dense@candidate")
    x = np.random.default_rng(1).standard_normal((1, 8)).astype(np.float32)
    expected = tvmforge.Session(artifact.library).run(None, {"x": x})[0]
    np.testing.assert_allclose(served.predict({"x": x}), expected, rtol=1e-6)
    schema = served.metadata.get_input_schema()
    assert schema.input_names() == ["x"]


def test_default_store_is_a_file_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("TVMFORGE_NO_TRACK", raising=False)
    model = dense_relu(tmp_path / "small.onnx", width=4)
    args = ["compile", str(model), "-o", "small.so", "--schedules-dir", str(tmp_path)]
    assert cli.main([*args, "--no-track"]) == 0
    assert not (tmp_path / "mlflow.db").exists()
    assert cli.main(args) == 0
    assert (tmp_path / "mlflow.db").is_file() and (tmp_path / "mlartifacts").is_dir()
    assert _runs("sqlite:///mlflow.db", "small")["compile"].info.status == "FINISHED"


def test_unreachable_store_fails_first_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    model = dense_relu(tmp_path / "small.onnx", width=4)
    uri = f"http://127.0.0.1:{_free_port()}"
    code = cli.main(["compile", str(model), "-o", "small.so", "--tracking-uri", uri])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert len(err.splitlines()) == 1 and uri in err and "--no-track" in err
    assert not (tmp_path / "small.so").exists()  # failed before compiling


def test_cli_imports_no_mlflow() -> None:
    code = (
        "import sys, tvmforge.cli, tvmforge.api, tvmforge.nightly, tvmforge.track;"
        "tvmforge.cli.build_parser();"
        "bad = [m for m in ('mlflow', 'matplotlib') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def mlflow_server(tmp_path: Path):
    """A real ``mlflow server`` on 127.0.0.1 with a sqlite store; stopped at the end."""
    import urllib.request

    port = _free_port()
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "server-artifacts")],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=5) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start: {(tmp_path / 'server.log').read_text()}")
            time.sleep(1)
        yield url
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=60)
        log.close()


def test_real_server_receives_compile_and_bench(tmp_path: Path, mlflow_server: str) -> None:
    model = dense_relu(tmp_path / "served.onnx", width=4, seed=3)
    track = ["--tracking-uri", mlflow_server, "--experiment", "server-test"]
    common = ["--schedules-dir", str(tmp_path)]
    assert cli.main(["compile", str(model), "-o", "served.so", *common, *track]) == 0
    assert cli.main(["bench", "served.so", "--repeats", "3", "--warmup", "1", *track]) == 0
    runs = _runs(mlflow_server, "server-test")
    assert runs["compile"].data.params["model_name"] == "served"
    assert runs["compile"].data.metrics["validation_passed"] == 1.0
    assert runs["bench"].data.metrics["ratio"] > 0
    assert "artifact/served.so" in _artifacts(mlflow_server, runs["compile"].info.run_id)
    assert not (tmp_path / "mlflow.db").exists()
