"""Shared fixtures: small models on disk and an isolated working directory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import models

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="session")
def _no_tracking_in_fixtures() -> Iterator[None]:
    """Module and session fixtures run before ``_isolated_cwd``: keep them off MLflow too."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TVMFORGE_NO_TRACK", "1")
        yield


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs in its own folder, so tuning_logs/ and mlflow.db never land in the repo.

    MLflow tracking is off unless a test turns it on (tests/test_track.py and the nightly tests).
    """
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("TVMFORGE_NO_TRACK", "1")


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def conv_net(model_dir: Path) -> Path:
    return models.conv_net(model_dir / "convnet.onnx")


@pytest.fixture(scope="session")
def mlp(model_dir: Path) -> Path:
    return models.mlp(model_dir / "mlp.onnx")


@pytest.fixture(scope="session")
def single_matmul(model_dir: Path) -> Path:
    return models.single_matmul(model_dir / "matmul.onnx")


@pytest.fixture(scope="session")
def built_mlp(tmp_path_factory: pytest.TempPathFactory, mlp: Path) -> Path:
    """The MLP compiled untuned for the host (validated), shared by Session tests."""
    import tvmforge

    out = tmp_path_factory.mktemp("built") / "mlp.so"
    tvmforge.compile(mlp, out, target="host", tuning_dir=out.parent / "tuning_logs")
    return out


def subprocess_env() -> dict[str, str]:
    """The environment for running tvmforge in a child process from the tests."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return env
