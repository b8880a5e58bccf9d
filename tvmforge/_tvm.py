"""The one place that imports TVM's compiler APIs, which move between releases.

Importing this module imports the TVM compiler; the Session (``session.py``) must not.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import tvm
from tvm import relax
from tvm.relax.frontend.onnx import from_onnx, onnx_frontend
from tvm.s_tir import dlight
from tvm.s_tir import meta_schedule as ms
from tvm.s_tir.analysis import estimate_tir_flops
from tvm.target import codegen

from .errors import InternalError, TvmforgeError

SUPPORTED_TVM = "0.27"

if not tvm.__version__.startswith(SUPPORTED_TVM):
    raise ImportError(
        f"tvmforge needs apache-tvm {SUPPORTED_TVM}.x (found {tvm.__version__}); "
        "reinstall with: pip install apache-tvm==0.27.0.post1 apache-tvm-ffi==0.1.14.post1"
    )

__all__ = [
    "codegen",
    "dlight",
    "estimate_tir_flops",
    "from_onnx",
    "ms",
    "onnx_frontend",
    "is_scheduled",
    "random_tensor",
    "relax",
    "seconds_per_call",
    "rewrite_functions",
    "tvm",
    "tvm_errors",
]


@contextlib.contextmanager
def tvm_errors(stage: str) -> Iterator[None]:
    """Translate TVM's exceptions raised inside ``stage`` into ``InternalError``, keeping the cause.

    TVM 0.27 raises Python's builtin exception types through tvm-ffi, so everything but our own
    errors (and KeyboardInterrupt, which is no Exception) is translated.
    """
    try:
        yield
    except TvmforgeError:
        raise
    except Exception as exc:  # noqa: BLE001 - see the docstring
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise InternalError(f"TVM failed during {stage}: {first} (rerun with --debug)") from exc


def random_tensor(ty, rng: np.random.Generator) -> tvm.runtime.Tensor:
    """A seeded random tensor for a Relax tensor type or TIR buffer (static shape).

    Floats are ~N(0,1); integers and bools are 0 or 1, valid as indices into any dim.
    """
    shape = [int(d) for d in ty.shape]
    dtype = str(ty.dtype)
    value = rng.standard_normal(shape) if "float" in dtype else rng.integers(0, 2, shape)
    return tvm.runtime.tensor(np.asarray(value).astype(dtype))


def rewrite_functions(mod, mutator) -> tvm.IRModule:
    """``mod`` with every Relax function passed through ``mutator``, a ``PyExprMutator``
    constructed over ``mod``."""
    for gv, func in mod.functions.items():
        if isinstance(func, relax.Function):
            mutator.builder_.update_func(gv, mutator.visit_expr(func))
    return mutator.builder_.get()


def seconds_per_call(func, args: list, target) -> float:
    """Best of three timed repeats of the PrimFunc ``func`` on ``args``, built for ``target``."""
    lib = tvm.tirx.build(
        tvm.IRModule({"main": func.with_attr("global_symbol", "main")}), target=target
    )
    timer = lib.time_evaluator("main", tvm.cpu(), number=1, repeat=3, min_repeat_ms=5)
    return float(min(timer(*args).results))


def is_scheduled(func) -> bool:
    """Whether the PrimFunc ``func`` carries a schedule (a record's, a transfer's or a default)."""
    return func.attrs is not None and bool(func.attrs.get("tirx.is_scheduled", False))
