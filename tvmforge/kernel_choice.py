"""Pick, per convolution or matmul workload, the fastest of TVM's tuned kernel and the library
kernels that can run it (oneDNN's direct one, Winograd's two for 3x3 convolutions, im2col's and
the shallow one for short reductions; see ``offload.LIBRARY_KERNELS``), by measuring.

Each distinct workload (shapes, attributes, epilogue) is built as a one-operator function once
lowered by TVM with the tuning databases applied (exactly as in the model) and once per library
kernel. All run here with the thread count the artifact will use; the fastest wins.
"""

from __future__ import annotations

import logging
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import kernels
from .offload import LIBRARY_KERNELS, Site, find_sites
from .targets import TargetPreset

log = logging.getLogger(__name__)

#: TVM must beat the library by this factor to be kept (measurement noise favours no one).
_MARGIN = 1.0
#: A first run this many times slower than the rival's best is not repeated.
_HOPELESS = 3.0


@dataclass(frozen=True, slots=True)
class KernelChoice:
    """The measured winner for one workload."""

    key: str
    workload: str
    sites: int
    tvm_us: float | None  # None: not measured, a library kernel was asked for
    library_us: Mapping[str, float]  # microseconds by library kernel ("onednn", "winograd", ...)

    @property
    def fastest_library(self) -> str:
        return min(self.library_us, key=self.library_us.__getitem__)

    @property
    def winner(self) -> str:
        """ "tvm" or the fastest library kernel's name."""
        library = self.fastest_library
        if self.tvm_us is None or self.library_us[library] * _MARGIN < self.tvm_us:
            return library
        return "tvm"

    def to_json(self) -> dict:
        return {
            "key": self.key,
            "workload": self.workload,
            "sites": self.sites,
            "tvm_us": None if self.tvm_us is None else round(self.tvm_us, 2),
            **{f"{kernel}_us": round(us, 2) for kernel, us in self.library_us.items()},
            "winner": self.winner,
        }


def summarize(choices: Sequence[Mapping]) -> str:
    """``"library/offered (n onednn, m winograd, ...)"`` layers from a manifest's kernel choices
    (those a library kernel runs, of those one could), or "" when none was offered."""
    per_kernel: Counter[str] = Counter()
    for choice in choices:
        per_kernel[choice["winner"]] += choice["sites"]
    offered = sum(per_kernel.values())
    library = offered - per_kernel.pop("tvm", 0)
    detail = ", ".join(f"{n} {kernel}" for kernel, n in sorted(per_kernel.items()))
    return f"{library}/{offered} ({detail})" if offered else ""


def choose(
    graph,
    preset: TargetPreset,
    databases: Sequence[Path],
    threads: int,
    *,
    measure_tvm: bool = True,
) -> list[KernelChoice]:
    """Measure every distinct convolution workload of ``graph`` (NHWC) in TVM and in each library
    kernel that can run it; without ``measure_tvm``, the library kernels only (every site then
    runs in the fastest of them)."""
    from .session import configure_threads

    sites = find_sites(graph["main"])
    if not sites:
        return []
    unique: dict[str, Site] = {}
    counts: dict[str, int] = {}
    for site in sites:
        unique.setdefault(site.key, site)
        counts[site.key] = counts.get(site.key, 0) + 1
    configure_threads(threads, library=True)
    with tempfile.TemporaryDirectory(prefix="tvmforge-choice-") as tmp:
        lib_times = _time_library(unique, preset, Path(tmp))
        best = {key: min(times.values()) for key, times in lib_times.items()}
        tvm_times: dict[str, float | None] = dict.fromkeys(unique)
        if measure_tvm:
            tvm_mod = _tvm_module(unique, preset, databases)
            tvm_times.update(_time_all(tvm_mod, unique, preset, Path(tmp) / "tvm.so", rivals=best))
    choices = [
        KernelChoice(key, site.describe(), counts[key], tvm_times[key], lib_times[key])
        for key, site in unique.items()
    ]
    for c in choices:
        log.info("%s: tvm %s us, %s -> %s", c.workload, c.tvm_us, c.library_us, c.winner)
    return choices


def library_times(graph, preset: TargetPreset, threads: int) -> dict[str, float]:
    """The fastest library kernel's microseconds per convolution workload of ``graph``, keyed by
    ``task_key`` of the TVM task that computes the same workload (so tuning can compare as it
    goes)."""
    from ._tvm import relax
    from .optimize import lower
    from .session import configure_threads

    unique = {site.key: site for site in find_sites(graph["main"])}
    if not unique:
        return {}
    configure_threads(threads, library=True)
    lowered = lower(_functions(unique, _chain), preset)
    with tempfile.TemporaryDirectory(prefix="tvmforge-choice-") as tmp:
        times = {
            key: min(t.values()) for key, t in _time_library(unique, preset, Path(tmp)).items()
        }
    keyed = {}
    for key in unique:
        for binding in lowered[f"f_{key}"].body.blocks[0].bindings:
            call = binding.value
            if isinstance(call, relax.Call) and call.op.name == "relax.call_tir":
                keyed[task_key(lowered[call.args[0]])] = times[key]
    return keyed


def task_key(primfunc) -> str:
    """Structural identity of a PrimFunc, whatever its name."""
    import tvm_ffi

    return str(tvm_ffi.structural_hash(primfunc.without_attr("global_symbol")))


def _chain(bb, site: Site, inputs: tuple):
    """Re-emit the site's operators on new inputs (what TVM lowers and tunes)."""
    from ._tvm import relax

    mapping = dict(zip(site.inputs, inputs, strict=True))
    value = None
    for binding in site.bindings:
        call = binding.value
        args = [mapping.get(a, a) for a in call.args]
        value = bb.emit(relax.Call(call.op, args, call.attrs, call.ty_args))
        mapping[binding.var] = value
    return value


def _functions(unique: dict[str, Site], body) -> object:
    """An IRModule with one function per workload: ``f_<key>(*site.inputs)``."""
    from ._tvm import relax, tvm

    mod = tvm.IRModule()
    for key, site in unique.items():
        bb = relax.BlockBuilder()
        params = [relax.Var(f"input{i}", var.ty) for i, var in enumerate(site.inputs)]
        with bb.function(f"f_{key}", params):
            with bb.dataflow():
                out = bb.emit_output(body(bb, site, tuple(params)))
            bb.emit_func_output(out)
        mod[f"f_{key}"] = bb.get()[f"f_{key}"]
    return mod


def _tvm_module(unique: dict[str, Site], preset: TargetPreset, databases: Sequence[Path]):
    from .build import apply_databases
    from .default_schedules import apply_default_schedules
    from .optimize import lower

    mod = apply_databases(lower(_functions(unique, _chain), preset), preset, databases)
    return apply_default_schedules(mod, preset)  # as the model will be built


def _time_library(
    unique: dict[str, Site], preset: TargetPreset, folder: Path
) -> dict[str, dict[str, float]]:
    """Microseconds of each workload in each library kernel that can run it, by key then kernel."""
    times: dict[str, dict[str, float]] = {key: {} for key in unique}
    for kernel in LIBRARY_KERNELS:
        sites = {key: site for key, site in unique.items() if kernel in site.library_kernels}
        if not sites:
            continue
        mod = _library_module(sites, kernel)
        measured = _time_all(mod, sites, preset, folder / f"{kernel}.so", library=True)
        for key, us in measured.items():
            times[key][kernel] = us
    return times


def _library_module(unique: dict[str, Site], kernel: str):
    def call(bb, site: Site, inputs: tuple):
        return bb.emit(site.kernel_call(inputs, kernel))

    return kernels.attach(_functions(unique, call))


def _time_all(
    mod,
    unique: dict[str, Site],
    preset: TargetPreset,
    path: Path,
    library: bool = False,
    rivals: dict[str, float] | None = None,
) -> dict[str, float]:
    """Microseconds (best of 7 repeats) of each ``f_<key>`` in ``mod``, built and loaded from
    ``path``. A function whose first run is ``_HOPELESS`` times slower than its rival's best
    keeps that one run's time: repeating a naive kernel that has lost costs minutes."""
    from ._tvm import random_tensor, relax, tvm, tvm_errors

    with tvm_errors("building kernel candidates"):
        executable = tvm.compile(mod, tvm.target.Target(preset.target))
        options = {"options": kernels.link_options()} if library else {}
        executable.export_library(str(path), **options)
    if library:
        kernels.preload()
    vm = relax.VirtualMachine(tvm.runtime.load_module(str(path)), tvm.cpu())
    rng = np.random.default_rng(0)
    times = {}
    for key, site in unique.items():
        args = [random_tensor(var.ty, rng) for var in site.inputs]
        if rivals is not None:
            once = vm.time_evaluator(f"f_{key}", tvm.cpu(), number=1, repeat=1)
            first_us = float(once(*args).results[0]) * 1e6
            if first_us > _HOPELESS * rivals[key]:
                times[key] = first_us
                continue
        timer = vm.time_evaluator(f"f_{key}", tvm.cpu(), number=1, repeat=7, min_repeat_ms=20)
        times[key] = float(np.min(timer(*args).results)) * 1e6  # least disturbed repeat
    return times
