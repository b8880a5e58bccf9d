"""MetaSchedule over a pool of RPC devices: a cross-compiling builder and a retrying runner.

Candidates are built here and exported as ``.so`` with the target's cross compiler (a board has
no compiler); they are measured on every free device with the key at once (trials in flight =
devices). A device that dies or hangs mid-measurement is timed out and the trial goes back to
the pool: finished records are never lost, and the run completes while one device is left.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import select
import threading
from dataclasses import dataclass

from tvm.ir.utils import derived_object

from ._tvm import ms, tvm
from .candidates import export_so, lean_build
from .errors import DeviceError
from .remote import DEVICE_WAIT_S, Tracker, device_session, free_devices, message
from .targets import TargetPreset

log = logging.getLogger(__name__)

#: Seconds one measurement may take (session, upload, run) before its device counts as hung.
ATTEMPT_TIMEOUT_S = 30.0
#: Measurements of one candidate before it is given up. Every failure is retried: on a built
#: candidate, runner failures are nearly always the device's (lost, hung, reset), and a
#: candidate that really fails costs two more measurements.
ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class RemoteMeasure:
    """Where tuning measures: the tracker, the device key, and the bounds on each wait."""

    tracker: Tracker
    key: str
    wait_s: float = DEVICE_WAIT_S
    attempt_timeout_s: float = ATTEMPT_TIMEOUT_S
    attempts: int = ATTEMPTS


def make_builder(preset: TargetPreset):
    """A LocalBuilder that cross-compiles candidates to ``.so`` for ``preset``."""
    import functools

    return ms.builder.LocalBuilder(
        max_workers=os.cpu_count() or 1,
        timeout_sec=120,
        f_build=None if preset.is_cuda else lean_build,
        f_export=functools.partial(export_so, cross_compiler=preset.cross_compiler),
    )


def make_runner(remote: RemoteMeasure, preset: TargetPreset) -> PoolRunner:
    """Check the pool (reachable, devices free, right kind), then a runner over all of it."""
    devices = free_devices(remote.tracker, remote.key, remote.wait_s)
    check_device(remote, preset)
    log.info("measuring on %d device(s) with key '%s' via %s", devices, remote.key, remote.tracker)
    return PoolRunner(remote, devices)


def check_device(remote: RemoteMeasure, preset: TargetPreset) -> None:
    """Build a one-op probe for ``preset``, load and run it on one device with the key.

    Raises:
        DeviceError: the device cannot load the code (another architecture), lacks the GPU,
            or lacks ``random_fill_for_measure`` (its server was started without
            ``--load-library libtvm_runtime_extra.so``).
    """
    import tempfile
    from pathlib import Path

    import numpy as np
    from tvm import te

    from ._tvm import dlight

    a = te.placeholder((4,), "float32", name="a")
    b = te.compute((4,), lambda i: a[i] + 1.0, name="b")
    func = te.create_prim_func([a, b]).with_attr("global_symbol", "probe")
    target = tvm.target.Target(preset.target)
    if preset.is_cuda:
        with target:
            func = dlight.ApplyDefaultSchedule(dlight.gpu.Fallback())(
                tvm.IRModule({"probe": func})
            )["probe"]
    with tempfile.TemporaryDirectory(prefix="tvmforge-probe-") as tmp:
        lib = Path(tmp) / "probe.so"
        export_path = export_so(tvm.build(func, target=target), preset.cross_compiler)
        os.replace(export_path, lib)
        with device_session(remote.tracker, remote.key, wait_s=remote.wait_s) as (sess, label):
            what = f"device {label} (key '{remote.key}' on RPC tracker {remote.tracker})"
            try:
                sess.upload(str(lib), lib.name)
                mod = sess.load_module(lib.name)
                dev = sess.cuda(0) if preset.is_cuda else sess.cpu(0)
                if preset.is_cuda:
                    _check_cuda(dev, preset, what)
                zeros = np.zeros(4, "float32")
                mod["probe"](tvm.runtime.tensor(zeros, dev), tvm.runtime.tensor(zeros, dev))
            except DeviceError:
                raise
            except Exception as exc:  # noqa: BLE001 - the device cannot run this target's code
                raise DeviceError(
                    f"{what} cannot run code for {preset.name} ({preset.arch}): {message(exc)}; "
                    "serve that key from a matching device"
                ) from exc
            try:
                sess.get_function("tvm.contrib.random.random_fill_for_measure")
            except Exception as exc:  # noqa: BLE001
                raise DeviceError(
                    f"{what} lacks tvm.contrib.random.random_fill_for_measure; restart its "
                    "rpc_server with --load-library <site-packages>/tvm/lib/libtvm_runtime_extra.so"
                ) from exc


def _check_cuda(dev, preset: TargetPreset, what: str) -> None:
    if not dev.exist:
        raise DeviceError(f"{what} has no CUDA GPU; {preset.name} needs {preset.cuda_arch}")
    found = "sm_" + str(dev.compute_version).replace(".", "")
    if found != preset.cuda_arch:
        raise DeviceError(
            f"{what} has a {found} GPU, the target {preset.name} is {preset.cuda_arch}; pass "
            f"--target cuda-{found.replace('_', '')}"
        )


@derived_object
class PoolRunnerFuture(ms.runner.PyRunnerFuture):
    """A measurement in flight; its retries happen in the runner's thread."""

    def __init__(self, future: concurrent.futures.Future) -> None:
        super().__init__()
        self.future = future

    def done(self) -> bool:
        return self.future.done()

    def result(self) -> ms.runner.RunnerResult:
        return self.future.result()


@derived_object
class PoolRunner(ms.runner.PyRunner):
    """Measure candidates on every device with the key at once, retrying lost devices.

    One thread per device, each owning a worker process that opens an RPC session through the
    tracker (which hands out a free device), uploads, runs and times. A device that dies shows
    as a connection error; one that hangs is caught by a host-side timeout that kills the
    worker. Either way the candidate is measured again on whatever device is free next.
    """

    def __init__(self, remote: RemoteMeasure, workers: int) -> None:
        super().__init__()
        self.remote = remote
        self.workers = max(1, workers)
        self.rpc_config = ms.runner.RPCConfig(
            tracker_host=remote.tracker.host,
            tracker_port=remote.tracker.port,
            tracker_key=remote.key,
            session_timeout_sec=int(remote.attempt_timeout_s),
        )
        self.evaluator = ms.runner.EvaluatorConfig(
            number=3, repeat=1, min_repeat_ms=100, enable_cpu_cache_flush=False
        )
        self.threads = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.workers, thread_name_prefix="tvmforge-measure"
        )
        self.local = threading.local()
        self.retried = 0
        # Start every thread's worker process now (each imports TVM, seconds), one per thread.
        barrier = threading.Barrier(self.workers)
        for _ in range(self.workers):
            self.threads.submit(self._warm, barrier)

    def _warm(self, barrier: threading.Barrier) -> None:
        from .candidates import warm_up

        with contextlib.suppress(Exception):
            self._call(warm_up, ())
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=120)

    def run(self, runner_inputs: list) -> list:
        return [PoolRunnerFuture(self.threads.submit(self._measure, r)) for r in runner_inputs]

    def _measure(self, runner_input) -> ms.runner.RunnerResult:
        from tvm.s_tir.meta_schedule.runner import rpc_runner

        args = (
            None, None, None, None, None,  # the stock session, upload, alloc, run, clean-up
            self.rpc_config, self.evaluator, 1,
            str(runner_input.artifact_path), str(runner_input.device_type),
            tuple(info.as_json() for info in runner_input.args_info),
        )  # fmt: skip
        errors = []
        for attempt in range(self.remote.attempts):
            try:
                return ms.runner.RunnerResult(self._call(rpc_runner._worker_func, args), None)
            except Exception as exc:  # noqa: BLE001 - measured again elsewhere, then reported
                errors.append(f"attempt {attempt + 1}: {type(exc).__name__}: {message(exc)}")
                if attempt + 1 < self.remote.attempts:
                    self.retried += 1
                    log.warning("measurement failed (%s); retrying on the pool", errors[-1])
        return ms.runner.RunnerResult(None, "tvmforge PoolRunner: " + " | ".join(errors))

    def _call(self, fn, args):
        """Run ``fn(*args)`` in this thread's worker process, killing it past the timeout."""
        from tvm.support.popen_pool import PopenWorker

        worker = getattr(self.local, "worker", None)
        if worker is None:
            worker = self.local.worker = PopenWorker()
        timeout = self.remote.attempt_timeout_s
        worker.send(fn, args, None, timeout)
        ready, _, _ = select.select([worker._reader], [], [], timeout + 10)
        if not ready:  # the worker is stuck in C code (a hung device): kill it, start afresh
            worker.kill()
            raise TimeoutError(f"measurement timed out after {timeout:.0f} s")
        return worker.recv()


def pool_measurement(preset: TargetPreset, tracker: str, key: str | None, wait_s: float):
    """(builder, runner) measuring on the devices with ``key`` at ``tracker`` (``HOST:PORT``)."""
    from .remote import address

    measure = RemoteMeasure(*address(tracker, key), wait_s=wait_s)
    return make_builder(preset), make_runner(measure, preset)
