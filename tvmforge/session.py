"""Session: load an exported artifact and run it, shaped like ``onnxruntime.InferenceSession``.

Imports no compiler code: only TVM's runtime (set ``TVM_USE_RUNTIME_LIB=1`` in a service to
load TVM's runtime library alone). The manifest is checked before the ``.so`` is opened, so an
artifact for another CPU is refused with a message instead of dying with SIGILL.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import manifest
from .errors import ArtifactError, FeedError
from .targets import cuda_device_arch
from .types import ONNX_TYPE_NAMES, STORAGE, TensorSpec, from_storage, to_storage

#: Byte alignment TVM's compiled code assumes for tensor data.
_ALIGN = 64


@dataclass(frozen=True, slots=True)
class NodeArg:
    """An input or output as onnxruntime describes it (``name``, ``shape``, ``type``)."""

    name: str
    shape: list[int]
    type: str


class Session:
    """Run an artifact built by ``tvmforge.compile``; safe to call from several threads.

    Args:
        path: the ``.so``; its manifest ``<path>.json`` must lie beside it.
        threads: TVM runtime threads per calling thread (default: TVM_NUM_THREADS or all cores).
    """

    def __init__(self, path: str | Path, *, threads: int | None = None) -> None:
        import tvm.runtime

        self.path = Path(path)
        self.manifest: dict[str, Any] = manifest.read(self.path)
        manifest.check_loadable(self.path, self.manifest, tvm.__version__)
        self._inputs = manifest.tensor_specs(self.manifest, "inputs")
        self._outputs = manifest.tensor_specs(self.manifest, "outputs")
        self._input_names = [spec.name for spec in self._inputs]
        self._input_dtypes = [np.dtype(spec.dtype) for spec in self._inputs]
        self._output_names = [spec.name for spec in self._outputs]
        self._output_dtypes = {spec.name: spec.dtype for spec in self._outputs}
        self._cuda = self.manifest["requires"].get("cuda_arch") is not None
        if self._cuda and cuda_device_arch() is None:
            raise ArtifactError(
                f"artifact '{self.path}' runs on a CUDA GPU ({self.manifest['requires']['cuda_arch']}) "
                "and none is visible here; run it on a GPU host or compile with --target host"
            )
        self.threads = threads or default_threads()
        self._library = bool(self.manifest["requires"].get("libraries"))
        if self._library:
            from .kernels import preload

            preload()
        try:
            self._module = tvm.runtime.load_module(str(self.path))
        except Exception as exc:  # noqa: BLE001 - any loader failure is the artifact's
            raise ArtifactError(f"cannot load artifact '{self.path}': {exc}") from exc
        self._local = threading.local()

    def get_inputs(self) -> list[NodeArg]:
        """The inputs, as onnxruntime's ``get_inputs()``."""
        return [_node_arg(spec) for spec in self._inputs]

    def get_outputs(self) -> list[NodeArg]:
        """The outputs, as onnxruntime's ``get_outputs()``."""
        return [_node_arg(spec) for spec in self._outputs]

    @property
    def input_specs(self) -> tuple[TensorSpec, ...]:
        return self._inputs

    @property
    def output_specs(self) -> tuple[TensorSpec, ...]:
        return self._outputs

    def run(
        self, output_names: Sequence[str] | None, input_feed: Mapping[str, np.ndarray]
    ) -> list[np.ndarray]:
        """Run the model; ``output_names`` None or empty returns every output, in manifest order.

        Raises:
            FeedError: missing, unknown, mis-shaped or mis-typed feeds (all listed at once), or
                an unknown output name.
        """
        arrays = self._check_feeds(input_feed)
        wanted = list(output_names) if output_names else self._output_names
        unknown = [n for n in wanted if n not in self._output_dtypes]
        if unknown:
            raise FeedError(f"unknown output(s) {unknown}; outputs are {self._output_names}")
        state = self._thread_state()
        if self._cuda:
            import tvm.runtime

            result = state.main(*(tvm.runtime.tensor(a, self._device()) for a in arrays))
        else:
            result = state.main(*(state.inputs.tensor(i, a) for i, a in enumerate(arrays)))
        values = [result] if len(self._outputs) == 1 else list(result)
        if self._cuda:
            outputs = [v.numpy() for v in values]
        else:
            outputs = [_host_array(v) for v in values]
            state.inputs.release_shared(outputs)
        by_name = dict(zip(self._output_names, outputs, strict=True))
        return [from_storage(by_name[n], self._output_dtypes[n]) for n in wanted]

    def _device(self):
        import tvm

        return tvm.cuda(0) if self._cuda else tvm.cpu(0)

    def virtual_machine(self):
        """The calling thread's TVM VirtualMachine (for instrumentation, as the profiler does)."""
        return self._thread_state().vm

    def _thread_state(self) -> _ThreadState:
        """One VirtualMachine (and input buffers) per calling thread over the one loaded module."""
        state = getattr(self._local, "state", None)
        if state is None:
            import tvm.runtime
            from tvm.runtime.vm import VirtualMachine

            configure_threads(self.threads, library=self._library)
            if self.manifest["requires"].get("parallel") == "openmp":
                from .kernels import use_openmp

                use_openmp(self._module, self.threads)
            devices = [self._device(), tvm.cpu(0)] if self._cuda else [tvm.cpu(0)]
            vm = VirtualMachine(self._module, devices)
            state = self._local.state = _ThreadState(vm, vm["main"], _AlignedInputs())
        return state

    def _check_feeds(self, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        problems = []
        names = self._input_names
        missing = [n for n in names if n not in feeds]
        if missing:
            problems.append(f"missing input(s) {missing}")
        if len(feeds) + len(missing) != len(names):
            extra = [n for n in feeds if n not in names]
            problems.append(f"unknown input(s) {extra} (inputs are {names})")
        arrays = []
        for spec, dtype in zip(self._inputs, self._input_dtypes, strict=True):
            if spec.name not in feeds:
                continue
            value = np.asarray(feeds[spec.name])
            if value.dtype != dtype:
                problems.append(f"input '{spec.name}' must be {spec.dtype} (got {value.dtype})")
            if value.shape != spec.shape:
                problems.append(
                    f"input '{spec.name}' must have shape {list(spec.shape)} (got {list(value.shape)}); "
                    "recompile with --input-shape for other shapes"
                )
            # reshape keeps 0-d scalars; stored types (float8, int4, ...) travel as bytes
            value = np.ascontiguousarray(value).reshape(value.shape)
            arrays.append(to_storage(value) if spec.dtype in STORAGE else value)
        if problems:
            raise FeedError("; ".join(problems))
        return arrays


@dataclass(slots=True)
class _ThreadState:
    """What each calling thread owns: its VirtualMachine, ``main`` looked up once, its inputs."""

    vm: Any
    main: Any
    inputs: _AlignedInputs


class _AlignedInputs:
    """Inputs as TVM tensors: the caller's memory when it is 64-byte aligned (as compiled code
    assumes) and writeable (DLPack cannot mark a tensor read-only), else a copy in a buffer kept
    for the next run (allocating one per run cost tinynet 5 us of 110). Empty arrays and dtypes
    numpy's DLPack does not know (bfloat16) are copied by TVM."""

    def __init__(self) -> None:
        self._buffers: dict[int, tuple[np.ndarray, Any]] = {}

    def tensor(self, index: int, array: np.ndarray):
        """Input ``index`` of this run as a TVM tensor."""
        import tvm_ffi

        if array.nbytes == 0 or array.dtype.kind not in "biufc":
            import tvm.runtime

            return tvm.runtime.tensor(array)
        if array.flags.writeable:
            shared = tvm_ffi.from_dlpack(array)
            if shared.data_ptr() % _ALIGN == 0:
                return shared
        kept = self._buffers.get(index)
        if kept is None:
            buffer = np.empty(array.nbytes + _ALIGN, np.uint8)
            start = -buffer.ctypes.data % _ALIGN
            buffer = buffer[start : start + array.nbytes].view(array.dtype).reshape(array.shape)
            kept = self._buffers[index] = (
                buffer,
                tvm_ffi.from_dlpack(buffer, require_alignment=_ALIGN),
            )
        np.copyto(kept[0], array)
        return kept[1]

    def release_shared(self, outputs: list[np.ndarray]) -> None:
        """Drop the buffers an output shares memory with (an Identity returns its input itself),
        so the next run cannot overwrite a result the caller holds."""
        for index, (buffer, _) in list(self._buffers.items()):
            if any(np.may_share_memory(buffer, out) for out in outputs):
                del self._buffers[index]


def _host_array(tensor) -> np.ndarray:
    """A host output as numpy, sharing its memory (the array keeps the tensor alive); dtypes
    numpy's DLPack does not know are copied."""
    try:
        return np.from_dlpack(tensor)
    except (BufferError, TypeError, ValueError, RuntimeError):
        return tensor.numpy()


def default_threads() -> int:
    """Threads when none are asked for: ``TVM_NUM_THREADS``, else every core (not TVM's half)."""
    return int(os.environ.get("TVM_NUM_THREADS") or os.cpu_count() or 1)


def configure_threads(threads: int, library: bool = False) -> None:
    """Size TVM's thread pool for the calling thread, without pinning it to a core.

    TVM binds the calling thread to core 0 by default; every thread it starts later (oneDNN's
    OpenMP team, onnxruntime's pool) would inherit that single core. With ``library`` kernels
    (oneDNN's OpenMP team shares the cores), TVM's workers sleep as soon as an operator ends
    instead of spinning: spinning workers held the cores oneDNN's team waits for, 8 ms instead
    of 0.24 ms per tinynet run. Both settings are read when TVM's pool is first made.
    """
    import tvm

    os.environ.setdefault("TVM_BIND_THREADS", "0")
    if library:
        os.environ.setdefault("TVM_THREAD_POOL_SPIN_COUNT", "0")
    tvm.get_global_func("runtime.config_threadpool")(0, threads)


def _node_arg(spec: TensorSpec) -> NodeArg:
    return NodeArg(
        spec.name, list(spec.shape), ONNX_TYPE_NAMES.get(spec.dtype, f"tensor({spec.dtype})")
    )
