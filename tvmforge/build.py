"""Apply tuning records, compile, export the ``.so`` and its manifest -> ``Artifact``."""

from __future__ import annotations

import logging
import math
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import kernels, manifest, tuning_db
from .targets import TargetPreset, can_run_here
from .types import ONNX_TO_NUMPY, Artifact, BoundModel, TensorSpec, storage_dtype

log = logging.getLogger(__name__)


def apply_databases(mod, preset: TargetPreset, databases: Sequence[Path]):
    """Replace each PrimFunc that has a record in ``databases`` by its tuned schedule.

    Databases are searched together and the fastest record wins; all must be for ``preset``
    (MetaSchedule look-ups ignore the target).
    """
    from ._tvm import ms, relax, tvm, tvm_errors

    dbs = tuning_db.open_readonly(list(databases))
    if not dbs:
        return mod
    database = dbs[0] if len(dbs) == 1 else ms.database.UnionDatabase(*dbs)
    with tvm_errors("applying tuning records"), tvm.target.Target(preset.target), database:
        return relax.transform.MetaScheduleApplyDatabase(enable_warning=False)(mod)


def scheduled_functions(mod) -> tuple[int, int]:
    """(PrimFuncs carrying a tuned or default schedule, all PrimFuncs) in ``mod``."""
    from ._tvm import is_scheduled, tvm

    funcs = [f for _, f in mod.functions.items() if isinstance(f, tvm.tirx.PrimFunc)]
    done = sum(1 for f in funcs if is_scheduled(f))
    return done, len(funcs)


def allocate_empty_constants(mod):
    """``mod`` with each 0-element constant made by an allocation instead.

    TVM 0.27 writes a 0-byte constant into the executable but cannot read it back ("Invalid
    DLTensor file format" when the ``.so`` loads); an empty tensor has no contents to keep.
    """
    from ._tvm import relax, rewrite_functions

    @relax.expr_functor.mutator
    class _Allocate(relax.PyExprMutator):
        def visit_generic_const_(self, const):
            value = getattr(const, "value", None)
            if not hasattr(value, "numpy") or math.prod(value.shape):
                return const
            shape = relax.ShapeExpr([int(d) for d in value.shape])
            return relax.op.builtin.alloc_tensor(shape, str(value.dtype), 0)

    return rewrite_functions(mod, _Allocate(mod))


def export(
    mod,
    bound: BoundModel,
    preset: TargetPreset,
    out: str | Path,
    *,
    databases: Sequence[Path] = (),
    tuning: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    kernel_choices: Sequence[dict[str, Any]] = (),
    threads: int | None = None,
    transfer: bool = False,
) -> Artifact:
    """Compile an optimized module for ``preset`` and export ``out`` (.so) with its manifest.

    Args:
        mod: the module from ``optimize``.
        bound: the bound model (names the inputs and outputs in the manifest).
        preset: the target.
        out: path of the shared library to write.
        databases: tuning databases for this target, applied before compiling.
        tuning: tuning facts for the manifest (database digest, trials, tasks).
        config: the effective compile options, recorded in the manifest.
        kernel_choices: the measured TVM-or-oneDNN choice per convolution workload; when any
            chose oneDNN, ``mod`` calls it and the ``.so`` links ``libdnnl``.
        threads: threads to time transferred schedules with (default: all cores).
        transfer: functions without an exact record get the nearest record's schedule when it
            measures faster (opt-in: each candidate is compiled, minutes on large models).
    """
    from ._tvm import tvm, tvm_errors

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    library = any(c["winner"] != "tvm" for c in kernel_choices)
    unscheduled, mod = mod, apply_databases(mod, preset, databases)
    replaced = 0
    if library and databases and can_run_here(preset)[0]:
        from .default_schedules import prefer_faster_defaults
        from .session import default_threads

        with tvm_errors("checking records against default schedules"):
            mod, replaced = prefer_faster_defaults(
                mod, unscheduled, preset, threads or default_threads()
            )
    tuned, total = scheduled_functions(mod)
    tuned -= replaced
    transferred = 0
    if transfer and not preset.is_cuda and can_run_here(preset)[0] and databases:
        from .session import default_threads
        from .transfer import transfer_schedules

        mod, transferred = transfer_schedules(mod, preset, databases, threads or default_threads())
    from .default_schedules import apply_default_schedules

    with tvm_errors("default schedules"):
        mod = apply_default_schedules(mod, preset)
    defaulted = scheduled_functions(mod)[0] - tuned - transferred
    outputs = output_specs(mod, bound)
    with tvm_errors("compilation"):
        executable = tvm.compile(allocate_empty_constants(mod), tvm.target.Target(preset.target))
    with tvm_errors("export"):
        executable.export_library(str(out), **_export_options(preset, library))
    data = {
        "tvmforge_version": _tvmforge_version(),
        "tvm_version": tvm.__version__,
        "model": {
            "name": bound.model.name,
            "path": str(bound.model.path),
            "sha256": bound.model.sha256,
            "opset": bound.model.opset,
        },
        "inputs": [spec.to_json() for spec in bound.inputs],
        "outputs": [spec.to_json() for spec in outputs],
        "target": preset.to_json(),
        "requires": {
            "arch": preset.arch,
            "cpu_features": list(preset.cpu_features),
            "cuda_arch": preset.cuda_arch,
            "libraries": [kernels.LIBRARY] if library else [],
            # who runs the parallel loops: oneDNN's OpenMP team when oneDNN is linked in
            "parallel": "openmp" if library else "tvm",
        },
        "kernels": list(kernel_choices),
        "tuning": {
            **(tuning or {}),
            "scheduled_functions": tuned,
            "transferred_functions": transferred,
            "default_scheduled_functions": defaulted,
            "records_replaced_by_default": replaced,
            "functions": total,
        },
        "validation": None,
        "config": config or {},
        "built_on": {"machine": platform.machine(), "cpu": platform.processor() or ""},
    }
    path = manifest.write(out, data)
    log.info("exported %s (%d/%d functions scheduled)", out, tuned, total)
    return Artifact(library=out, manifest_path=path, manifest=manifest.read(out))


def output_specs(mod, bound: BoundModel) -> tuple[TensorSpec, ...]:
    """Names from the ONNX graph outputs; shapes and dtypes from the compiled ``main``."""
    from ._tvm import relax

    ret = mod["main"].ret_ty
    fields = list(ret.fields) if isinstance(ret, relax.TupleType) else [ret]
    specs = []
    for out, ty in zip(bound.proto.graph.output, fields, strict=False):
        shape = tuple(
            int(d) if hasattr(d, "value") or isinstance(d, int) else -1 for d in _dims(ty)
        )
        specs.append(TensorSpec(out.name, shape, _carried_dtype(out, str(ty.dtype))))
    return tuple(specs)


def _carried_dtype(output, dtype: str) -> str:
    """The ONNX output's element type when the module carries it in ``dtype`` (float8, int4)."""
    declared = ONNX_TO_NUMPY.get(output.type.tensor_type.elem_type)
    return declared if declared is not None and storage_dtype(declared) == dtype else dtype


def _dims(ty) -> list:
    shape = getattr(ty, "shape", None)
    if shape is None:
        return []
    return list(getattr(shape, "values", shape))


def _export_options(preset: TargetPreset, library: bool) -> dict[str, Any]:
    if library:
        return {"options": kernels.link_options()}
    if preset.cross_compiler is None:
        return {}
    from tvm.support import cc

    return {"fcompile": cc.cross_compiler(preset.cross_compiler)}


def _tvmforge_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tvmforge")
    except PackageNotFoundError:
        return "0+unknown"
