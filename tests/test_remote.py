"""Remote targets over a TVM RPC tracker: an emulated aarch64 board validates, benches and tunes.

Board tests need the shared board tool and its cache (scripts/setup_armboard.sh); without them
they skip with the reason. The tracker and servers bind 127.0.0.1 on free ports.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import tvmforge
from tests.remote_fixtures import Lab, board_skip_reason, free_port, matmul_model
from tvmforge import api, cli, remote
from tvmforge.errors import DeviceError

REPO = Path(__file__).resolve().parent.parent
NO_BOARD = board_skip_reason()
needs_board = pytest.mark.skipif(NO_BOARD is not None, reason=NO_BOARD or "")
needs_cross_cc = pytest.mark.skipif(
    __import__("shutil").which("aarch64-linux-gnu-gcc") is None,
    reason="no aarch64-linux-gnu-gcc (run scripts/setup_armboard.sh)",
)
ARM = "test-arm"
X86 = "test-x86"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    """A tracker with one emulated aarch64 board (key test-arm) and one x86 server (test-x86)."""
    if NO_BOARD:
        pytest.skip(NO_BOARD)
    found = Lab(tmp_path_factory.mktemp("lab"))
    try:
        found.start_tracker()
        found.start_board(ARM)
        found.start_host_server(X86)
        yield found
    finally:
        found.close()


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return matmul_model(tmp_path_factory.mktemp("remote-models") / "matmul.onnx", n=32)


@pytest.fixture(scope="module")
def arm_so(tmp_path_factory: pytest.TempPathFactory, model: Path) -> Path:
    """The model compiled untuned for arm-neon (not validated: this host is x86)."""
    if __import__("shutil").which("aarch64-linux-gnu-gcc") is None:
        pytest.skip("no aarch64-linux-gnu-gcc (run scripts/setup_armboard.sh)")
    out = tmp_path_factory.mktemp("arm") / "matmul_arm.so"
    tvmforge.compile(model, out, target="arm-neon", tuning_dir=out.parent / "tuning_logs")
    return out


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("tvmforge: error: ")
    return err


# ---------------------------------------------------------------- no board needed


@pytest.mark.parametrize("text", ["localhost", "host:port", ":9190", "h:0", "h:70000"])
def test_malformed_tracker_address_is_refused(text: str) -> None:
    with pytest.raises(DeviceError, match="HOST:PORT"):
        remote.parse_tracker(text)


def test_tracker_address_forms() -> None:
    assert remote.parse_tracker("127.0.0.1:9190") == remote.Tracker("127.0.0.1", 9190)
    assert remote.parse_tracker("[::1]:9190") == remote.Tracker("::1", 9190)


def test_unreachable_tracker_is_one_line_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    assert cli.main(["devices", "--rpc-tracker", f"127.0.0.1:{port}"]) == 1
    err = _one_line_error(capsys)
    assert f"127.0.0.1:{port}" in err and "unreachable" in err


def test_rpc_tracker_without_key_is_refused() -> None:
    with pytest.raises(DeviceError, match="--rpc-key"):
        remote.address("127.0.0.1:9190", None)


@needs_cross_cc
def test_arm_artifact_is_an_aarch64_elf(arm_so: Path) -> None:
    head = arm_so.read_bytes()[:20]
    assert head[:4] == b"\x7fELF" and head[4] == 2  # ELF, 64-bit
    assert int.from_bytes(head[18:20], "little") == 183  # EM_AARCH64
    manifest = json.loads(Path(f"{arm_so}.json").read_text())
    assert manifest["requires"]["arch"] == "aarch64"
    assert manifest["validation"] is None  # this x86 host cannot run it


# ---------------------------------------------------------------- on the board


@needs_board
def test_devices_lists_the_pool(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["devices", "--rpc-tracker", lab.tracker]) == 0
    out = capsys.readouterr().out
    assert ARM in out and X86 in out and "free 1" in out
    found = remote.pool(remote.parse_tracker(lab.tracker))
    assert found.status(ARM).free == 1 and found.status(ARM).busy == 0


@needs_board
def test_devices_as_a_subprocess(lab: Lab) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tvmforge.cli", "devices", "--rpc-tracker", lab.tracker],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"tracker {lab.tracker}: " in done.stdout and f"key '{ARM}': 1 free" in done.stdout


@needs_board
def test_arm_artifact_validated_on_the_board(
    lab: Lab, arm_so: Path, model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--rpc-tracker", lab.tracker, "--rpc-key", ARM]
    assert cli.main(["validate", str(arm_so), "--model", str(model), *args]) == 0
    line = capsys.readouterr().out.strip()
    assert "matches onnxruntime" in line and f"{ARM}@127.0.0.1:" in line
    assert cli.main(["bench", str(arm_so), "--repeats", "3", *args]) == 0
    line = capsys.readouterr().out.strip()
    assert f"on {ARM}@127.0.0.1:" in line and "median" in line


@needs_board
def test_compile_validates_on_the_board(lab: Lab, model: Path, tmp_path: Path) -> None:
    built = tvmforge.compile(
        model, tmp_path / "m.so", target="arm-neon", tuning_dir=tmp_path / "tl",
        rpc_tracker=lab.tracker, rpc_key=ARM,
    )  # fmt: skip
    assert built.validation is not None and built.validation.passed
    assert built.manifest["validation"]["device"].startswith(f"{ARM}@127.0.0.1:")


@needs_board
def test_no_device_with_the_key_is_one_line_exit_1(
    lab: Lab, arm_so: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = cli.main(["validate", str(arm_so), "--rpc-tracker", lab.tracker,
                   "--rpc-key", "no-such-board", "--rpc-wait", "2s"])  # fmt: skip
    assert rc == 1
    err = _one_line_error(capsys)
    assert lab.tracker in err and "'no-such-board'" in err and f"key '{ARM}': 1 free" in err


@needs_board
def test_wrong_architecture_is_one_line_exit_1(
    lab: Lab, arm_so: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = cli.main(["validate", str(arm_so), "--rpc-tracker", lab.tracker, "--rpc-key", X86])
    assert rc == 1
    err = _one_line_error(capsys)
    assert f"{X86}@127.0.0.1:" in err and lab.tracker in err and "aarch64" in err


@needs_board
def test_tuning_probe_refuses_the_wrong_architecture(lab: Lab) -> None:
    from tvmforge.remote_tune import RemoteMeasure, check_device
    from tvmforge.targets import resolve_target

    measure = RemoteMeasure(remote.parse_tracker(lab.tracker), X86, wait_s=10)
    with pytest.raises(DeviceError, match=r"cannot run code for arm-neon \(aarch64\)"):
        check_device(measure, resolve_target("arm-neon"))


@needs_board
def test_tiny_tuning_on_the_board_is_recorded_and_applied(
    lab: Lab, model: Path, tmp_path: Path
) -> None:
    options = api.CompileOptions(
        target="arm-neon", trials=2, min_trials_per_task=2, strategy="replay-trace",
        tuning_dir=tmp_path / "tl", rpc_tracker=lab.tracker, rpc_key=ARM,
    )  # fmt: skip
    result = api.tune(model, options)
    assert result.trials_spent == 2
    assert all(t.trials >= 1 and t.best_us for t in result.tasks)
    built = api.compile(model, tmp_path / "tuned.so", options)
    tuning = built.manifest["tuning"]
    assert tuning["scheduled_functions"] == tuning["functions"]
    assert built.validation is not None and built.validation.passed
