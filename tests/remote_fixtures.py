"""A TVM RPC tracker and emulated aarch64 boards on free loopback ports, for tests and benchmarks.

Boards come from the shared ``armboard.sh`` (qemu user mode, see scripts/setup_armboard.sh).
Every process starts in its own process group and is stopped by group (an rpc_server's worker
outlives its parent otherwise); everything binds 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ARMBOARD = Path(
    os.environ.get("TVMFORGE_ARMBOARD", REPO.parent / "shared" / "tools" / "armboard.sh")
)


def board_skip_reason() -> str | None:
    """Why board tests cannot run here, or None when they can."""
    if not ARMBOARD.is_file():
        return f"no emulated board: {ARMBOARD} is absent (shared tools not on this machine)"
    if shutil.which("aarch64-linux-gnu-gcc") is None:
        return "no aarch64-linux-gnu-gcc: run scripts/setup_armboard.sh"
    paths = board_paths()
    if paths is None or not Path(paths["board py"]).exists():
        return "the emulated board is not set up: run scripts/setup_armboard.sh"
    return None


def board_paths() -> dict[str, str] | None:
    """``armboard.sh env`` as a dict (board python, site folder, ...)."""
    try:
        out = subprocess.run(
            ["bash", str(ARMBOARD), "env"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())}


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (and the next one, for rpc_server's --port-end)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 65000 and _free(port + 1):
            return port


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class Group:
    """A process started in its own process group, logging to a file."""

    name: str
    proc: subprocess.Popen
    log: Path

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, grace_s: float = 2.0) -> None:
        """Signal the whole group, then SIGKILL what is left after ``grace_s``."""
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and _group_alive(self.proc.pid):
            time.sleep(0.1)
        if _group_alive(self.proc.pid):
            os.killpg(self.proc.pid, signal.SIGKILL)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def kill(self) -> None:
        """Pull the plug: SIGKILL to the group, no clean-up (a board that dies)."""
        self.stop(signal.SIGKILL, 0.0)

    def freeze(self) -> None:
        """SIGSTOP the group: a board that hangs with its sockets open."""
        os.killpg(self.proc.pid, signal.SIGSTOP)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _start(name: str, cmd: list[str], logdir: Path) -> Group:
    log = logdir / f"{name}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    return Group(name, proc, log)


@dataclass
class Lab:
    """A tracker and the servers registered with it; ``close()`` stops them all."""

    logdir: Path
    tracker_port: int = 0
    groups: list[Group] = field(default_factory=list)

    @property
    def tracker(self) -> str:
        return f"127.0.0.1:{self.tracker_port}"

    def start_tracker(self) -> Group:
        self.tracker_port = free_port()
        group = _start(
            "tracker",
            [sys.executable, "-m", "tvm.exec.rpc_tracker", "--host", "127.0.0.1",
             "--port", str(self.tracker_port), "--port-end", str(self.tracker_port + 1)],
            self.logdir,
        )  # fmt: skip
        self.groups.append(group)
        _wait(lambda: not _free(self.tracker_port), 30, f"tracker did not listen ({group.log})")
        return group

    def start_board(self, key: str) -> Group:
        """An emulated aarch64 board serving ``key``; returns once the tracker lists it."""
        paths = board_paths() or {}
        extra = Path(paths.get("site", "")) / "tvm" / "lib" / "libtvm_runtime_extra.so"
        cmd = [paths["board py"], *self._server_args(key)]
        if extra.exists():
            cmd += ["--load-library", str(extra)]
        return self._start_server(f"board-{len(self.groups)}", cmd, key, 120)

    def start_host_server(self, key: str) -> Group:
        """An x86-64 rpc_server (this machine) serving ``key``: the wrong device for ARM code."""
        cmd = [sys.executable, *self._server_args(key)]
        return self._start_server(f"host-{len(self.groups)}", cmd, key, 60)

    def _server_args(self, key: str) -> list[str]:
        port = free_port()
        return ["-m", "tvm.exec.rpc_server", "--host", "127.0.0.1", "--port", str(port),
                "--port-end", str(port + 1), "--tracker", self.tracker, "--key", key]  # fmt: skip

    def _start_server(self, name: str, cmd: list[str], key: str, timeout_s: float) -> Group:
        from tvmforge import remote

        before = remote.pool(remote.parse_tracker(self.tracker)).status(key).free
        group = _start(name, cmd, self.logdir)
        self.groups.append(group)
        tracker = remote.parse_tracker(self.tracker)
        _wait(
            lambda: remote.pool(tracker).status(key).free > before or not group.alive(),
            timeout_s,
            f"{name} did not register with the tracker ({group.log})",
        )
        if not group.alive():
            raise RuntimeError(f"{name} exited: {group.log.read_text()[-2000:]}")
        return group

    def close(self) -> None:
        for group in reversed(self.groups):
            group.stop()
        self.groups.clear()


def _wait(ready, timeout_s: float, message: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.5)
    raise RuntimeError(message)


def matmul_model(path: Path, n: int = 64, seed: int = 2) -> Path:
    """x[n, n] @ W[n, n] + relu: one small tuning task, quick to import under emulation."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = np.random.default_rng(seed).standard_normal((n, n)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["m"]), helper.make_node("Relu", ["m"], ["y"])],
        "matmul_relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, n])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, n])],
        [numpy_helper.from_array(weight, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path
