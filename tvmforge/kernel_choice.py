"""Pick, per convolution or matmul workload, the faster of TVM's tuned kernel and oneDNN's, by measuring.

Each distinct workload (shapes, attributes, epilogue) is built twice as a one-operator function:
once lowered by TVM with the tuning databases applied (exactly as in the model), once as the
oneDNN call. Both run here with the thread count the artifact will use; the faster wins.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import kernels
from .offload import Site, find_sites
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
    tvm_us: float | None  # None: not measured, the library was asked for
    library_us: float

    @property
    def winner(self) -> str:
        if self.tvm_us is None:
            return "onednn"
        return "onednn" if self.library_us * _MARGIN < self.tvm_us else "tvm"

    def to_json(self) -> dict:
        return {
            "key": self.key,
            "workload": self.workload,
            "sites": self.sites,
            "tvm_us": None if self.tvm_us is None else round(self.tvm_us, 2),
            "onednn_us": round(self.library_us, 2),
            "winner": self.winner,
        }


def choose(
    graph,
    preset: TargetPreset,
    databases: Sequence[Path],
    threads: int,
    *,
    measure_tvm: bool = True,
) -> list[KernelChoice]:
    """Measure every distinct convolution workload of ``graph`` (NHWC) both ways; without
    ``measure_tvm``, oneDNN only (every site then runs in oneDNN)."""
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
        lib_mod = _library_module(unique)
        lib_times = _time_all(lib_mod, unique, preset, Path(tmp) / "lib.so", library=True)
        tvm_times: dict[str, float | None] = dict.fromkeys(unique)
        if measure_tvm:
            tvm_mod = _tvm_module(unique, preset, databases)
            tvm_times.update(
                _time_all(tvm_mod, unique, preset, Path(tmp) / "tvm.so", rivals=lib_times)
            )
    choices = [
        KernelChoice(key, site.describe(), counts[key], tvm_times[key], lib_times[key])
        for key, site in unique.items()
    ]
    for c in choices:
        log.info(
            "%s: tvm %s us, onednn %.1f us -> %s", c.workload, c.tvm_us, c.library_us, c.winner
        )
    return choices


def library_times(graph, preset: TargetPreset, threads: int) -> dict[str, float]:
    """oneDNN's microseconds per convolution workload of ``graph``, keyed by ``task_key`` of
    the TVM task that computes the same workload (so tuning can compare as it goes)."""
    from ._tvm import relax
    from .optimize import lower
    from .session import configure_threads

    unique = {site.key: site for site in find_sites(graph["main"])}
    if not unique:
        return {}
    configure_threads(threads, library=True)
    lowered = lower(_functions(unique, _chain), preset)
    with tempfile.TemporaryDirectory(prefix="tvmforge-choice-") as tmp:
        times = _time_all(_library_module(unique), unique, preset, Path(tmp) / "lib.so", True)
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


def _library_module(unique: dict[str, Site]):
    def call(bb, site: Site, inputs: tuple):
        return bb.emit(site.kernel_call(inputs))

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
