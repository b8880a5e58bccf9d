"""Run an artifact on a remote device: validation against onnxruntime here, and timing there.

The ``.so`` is uploaded through an RPC session from the tracker and run by TVM's Relax VM over
that session; onnxruntime computes the reference outputs on this machine. Timings come from the
device's own ``time_evaluator`` and carry the label of the device they ran on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import manifest
from .errors import DeviceError
from .remote import DEVICE_WAIT_S, DeviceLabel, Tracker, address, device_session, message
from .types import TensorSpec, Timing, Validation, from_storage, to_storage


@dataclass(frozen=True, slots=True)
class RemoteValidation:
    """A validation that ran on a remote device."""

    validation: Validation
    device: DeviceLabel


@dataclass(frozen=True, slots=True)
class RemoteBench:
    """Latency of an artifact measured on a remote device (its own clock, no RPC overhead)."""

    model: str
    target: str
    device: DeviceLabel
    timing: Timing


@dataclass(slots=True)
class _Loaded:
    vm: object
    device: object
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    label: DeviceLabel

    def tensors(self, feeds: Mapping[str, np.ndarray]) -> list:
        import tvm.runtime

        return [
            tvm.runtime.tensor(to_storage(np.ascontiguousarray(feeds[s.name])), self.device)
            for s in self.inputs
        ]


@contextlib.contextmanager
def _loaded(library: Path, tracker: Tracker, key: str, wait_s: float) -> Iterator[_Loaded]:
    """Upload ``library`` to a free device with ``key`` and open it in a VM there."""
    from tvm.runtime.vm import VirtualMachine

    data = manifest.read(library)
    if manifest.file_sha256(library) != data["library"]["sha256"]:
        raise DeviceError(
            f"artifact '{library}' does not match the sha256 in its manifest; recompile it"
        )
    cuda = data["requires"].get("cuda_arch") is not None
    with device_session(tracker, key, wait_s=wait_s) as (session, label):
        try:
            session.upload(str(library), library.name)
            module = session.load_module(library.name)
            device = session.cuda(0) if cuda else session.cpu(0)
            if cuda and not device.exist:
                raise RuntimeError("the device has no CUDA GPU")
            devices = [device, session.cpu(0)] if cuda else [device]
            vm = VirtualMachine(module, devices)
        except DeviceError:
            raise
        except Exception as exc:  # noqa: BLE001 - any loader failure: the device is the wrong kind
            raise DeviceError(
                f"device {label} (key '{key}' on RPC tracker {tracker}) cannot run "
                f"'{library.name}', built for {data['target']['name']} "
                f"({data['requires']['arch']}{', ' + data['requires']['cuda_arch'] if cuda else ''}): "
                f"{message(exc)}; serve that key from a matching device"
            ) from exc
        yield _Loaded(
            vm,
            device,
            manifest.tensor_specs(data, "inputs"),
            manifest.tensor_specs(data, "outputs"),
            label,
        )


def validate_remote(
    library: str | Path,
    model_path: str | Path,
    tracker: Tracker,
    key: str,
    *,
    inputs: Mapping[str, np.ndarray] | None = None,
    seed: int = 0,
    wait_s: float = DEVICE_WAIT_S,
) -> RemoteValidation:
    """Run ``library`` on a device with ``key`` and compare with onnxruntime run here.

    Args:
        library: the exported ``.so`` (built for the device's target).
        model_path: the original ONNX model, run by onnxruntime on this machine.
        tracker: the RPC tracker.
        key: the device key.
        inputs: feeds by input name; default seeded random feeds from ``seed``.
        wait_s: how long to wait for a free device.

    Raises:
        DeviceError: tracker unreachable, no device free, or the device cannot load the library.
    """
    from .validation import compare_with_onnxruntime, make_feeds

    library = Path(library)
    with _loaded(library, tracker, key, wait_s) as run:
        if inputs is None:
            feeds, label = make_feeds(run.inputs, seed), f"random(seed={seed})"
        else:
            feeds, label = dict(inputs), "given arrays"
        result = run.vm["main"](*run.tensors(feeds))
        values = [result] if len(run.outputs) == 1 else list(result)
        actual = {
            spec.name: from_storage(v.numpy(), spec.dtype)
            for spec, v in zip(run.outputs, values, strict=True)
        }
        device = run.label
    return RemoteValidation(compare_with_onnxruntime(actual, model_path, feeds, label), device)


def bench_remote(
    library: str | Path,
    tracker: Tracker,
    key: str,
    *,
    repeats: int = 30,
    number: int = 3,
    seed: int = 0,
    wait_s: float = DEVICE_WAIT_S,
) -> RemoteBench:
    """Time ``library`` on a device with ``key``: ``repeats`` samples of ``number`` runs each.

    The first call (load, first touch of the weights) is discarded; the device's own clock
    times the runs, so RPC latency is not in the figures.
    """
    from .benchmark import timing
    from .validation import make_feeds

    library = Path(library)
    data = manifest.read(library)
    with _loaded(library, tracker, key, wait_s) as run:
        args = run.tensors(make_feeds(run.inputs, seed))
        run.vm["main"](*args)  # warm-up, discarded
        run.vm.save_function("main", "tvmforge_bench", *args)
        timer = run.vm.time_evaluator("tvmforge_bench", run.device, number=number, repeat=repeats)
        samples = [float(s) * 1000.0 for s in timer().results]
        device = run.label
    return RemoteBench(data["model"]["name"], data["target"]["name"], device, timing(samples))


def validate_on_device(library: Path, model_path: str | Path, options) -> tuple[Validation, str]:
    """``validate_remote`` with the tracker, key, inputs and seed of ``CompileOptions``."""
    from .validation import load_feeds

    tracker, key = address(options.rpc_tracker, options.rpc_key)
    feeds = load_feeds(options.inputs) if options.inputs else None
    result = validate_remote(
        library,
        model_path,
        tracker,
        key,
        inputs=feeds,
        seed=options.seed,
        wait_s=options.rpc_wait_s,
    )
    return result.validation, str(result.device)


def bench_on_device(model_or_artifact: str | Path, options, *, repeats: int = 30) -> RemoteBench:
    """Time an artifact (or the model, compiled first into a temporary folder) on a device."""
    import dataclasses
    import tempfile

    tracker, key = address(options.rpc_tracker, options.rpc_key)
    path = Path(model_or_artifact)
    if path.suffix == ".so":
        return bench_remote(path, tracker, key, repeats=repeats, wait_s=options.rpc_wait_s)
    from .api import compile as compile_model

    with tempfile.TemporaryDirectory(prefix="tvmforge-bench-") as tmp:
        built = compile_model(
            path, Path(tmp) / "model.so", dataclasses.replace(options, validate=False)
        )
        return bench_remote(built.library, tracker, key, repeats=repeats, wait_s=options.rpc_wait_s)
