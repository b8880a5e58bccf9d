"""Build functions MetaSchedule's builder workers run, for local and remote tuning alike.

Kept apart from ``remote_tune`` so that a builder worker, which imports this module to find
them, loads TVM's runtime and driver only, not tvmforge's compiler-side modules.
"""

from __future__ import annotations

import os


def lean_build(mod, target, _params):
    """MetaSchedule's build without importing ``tvm.s_tir.tensor_intrin`` (~20 s per pool).

    The scheduled module arrives already tensorized where a rule tensorized it, so CPU fp32 code
    does not need the intrinsics registered again.
    """
    import tvm
    from tvm.s_tir.transform import RemoveWeightLayoutRewriteBlock

    return tvm.build(RemoveWeightLayoutRewriteBlock(skip_tensor_rewrite=True)(mod), target=target)


def export_so(rt_mod, cross_compiler: str | None = None) -> str:
    """Export a candidate as a ``.so`` the device can dlopen (the stock ``.tar`` needs a compiler)."""
    import tempfile

    from tvm.support import cc

    path = os.path.join(tempfile.mkdtemp(prefix="tvmforge-cand-"), "candidate.so")
    fcompile = cc.cross_compiler(cross_compiler) if cross_compiler else cc.create_shared
    rt_mod.export_library(path, fcompile=fcompile)
    return path


def warm_up() -> None:
    """Import what a measurement needs, so the first trial does not pay for it."""
    import tvm.s_tir.meta_schedule.runner.rpc_runner  # noqa: F401
