"""Schedules for functions no database has a record of: replay the nearest record, if faster.

A record's trace names blocks and loops; it replays on any function with the same blocks and
loop kinds (another shape of the same operator, e.g. a softmax over 1000 classes instead of 10).
Each replayed candidate is built and timed here against TVM's naive code; it is kept only when
faster. Nearest means: same block names and iterator kinds, then the closest output size.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import tuning_db
from .targets import TargetPreset

log = logging.getLogger(__name__)

#: Candidates replayed per function, nearest first.
_TRIES = 2
#: Wall-clock budget for the whole transfer: each candidate is compiled, about a second apiece.
BUDGET_S = 90.0
#: Functions with larger outputs are left alone: compiling a replayed schedule for a 640x640
#: feature map took minutes (PP-OCRv4 det), and no budget can interrupt one compilation.
MAX_OUTPUT_ELEMENTS = 1 << 22
_BLOCK = re.compile(r'T\.sblock\("([^"]+)"\)')
_ITERS = re.compile(r'T\.axis\.remap\("([SR]+)"')


def transfer_schedules(mod, preset: TargetPreset, databases: Sequence[Path], threads: int):
    """``mod`` with each unscheduled PrimFunc given the best transferable schedule, if any.

    Returns ``(mod, transferred)``; ``mod`` must already have its exact records applied.
    """
    from ._tvm import is_scheduled, tvm
    from .session import configure_threads

    pending = [
        (gv, f)
        for gv, f in mod.functions.items()
        if isinstance(f, tvm.tirx.PrimFunc) and not is_scheduled(f)
    ]
    if not pending:
        return mod, 0
    index = _index(databases)
    if not index:
        return mod, 0
    configure_threads(threads)
    target = tvm.target.Target(preset.target)
    mod = mod.clone()
    done = 0
    started = time.monotonic()
    for gv, func in pending:
        if time.monotonic() - started > BUDGET_S:
            log.info("transfer stopped after %.0f s (time budget)", BUDGET_S)
            break
        size = _output_size(func)
        if size > MAX_OUTPUT_ELEMENTS:
            continue
        candidates = index.get(_signature(func), [])
        candidates = sorted(candidates, key=lambda c: abs(math.log(c[0] / size)))[:_TRIES]
        best = _fastest(func, [trace for _, trace in candidates], target)
        if best is not None:
            mod[gv] = best.with_attr("global_symbol", gv.name_hint)
            done += 1
    log.info("transferred schedules to %d of %d unscheduled functions", done, len(pending))
    return mod, done


def _index(databases: Sequence[Path]) -> dict[tuple, list[tuple[int, object]]]:
    """Signature -> [(output size, trace)], the fastest record of each workload."""
    import tvm_ffi

    index: dict[tuple, list[tuple[int, object]]] = defaultdict(list)
    for db in tuning_db.open_readonly(list(databases)):
        best: dict[int, tuple[float, object]] = {}
        for rec in db.get_all_tuning_records():
            secs = [float(s) for s in (rec.run_secs or [])]
            if not secs or min(secs) >= 1e9:
                continue
            key = tvm_ffi.structural_hash(rec.workload.mod)
            mean = sum(secs) / len(secs)
            if key not in best or mean < best[key][0]:
                best[key] = (mean, rec)
        for _, rec in best.values():
            func = rec.workload.mod["main"]
            index[_signature(func)].append((_output_size(func), rec.trace))
    return index


def _signature(func) -> tuple:
    """Block names and iterator kinds, in order: what a trace needs to replay."""
    script = func.script()
    return tuple(_BLOCK.findall(script)) + tuple(_ITERS.findall(script)) + (len(func.params),)


def _output_size(func) -> int:
    buffer = func.params[-1].ty
    return max(1, int(np.prod([int(d) for d in buffer.shape])))


def _fastest(func, traces: list, target):
    """The fastest replayed schedule of ``func``, or None when none beats the naive code."""
    from ._tvm import random_tensor, seconds_per_call, tvm

    args = None
    naive_s = None
    best, best_s = None, math.inf
    for trace in traces:
        try:
            sch = tvm.s_tir.Schedule(
                tvm.IRModule({"main": func.with_attr("global_symbol", "main")})
            )
            trace.apply_to_schedule(sch, remove_postproc=False)
            candidate = sch.mod["main"].with_attr("tirx.is_scheduled", True)
            if args is None:
                rng = np.random.default_rng(0)
                args = [random_tensor(param.ty, rng) for param in func.params]
                naive_s = seconds_per_call(func, args, target)
            secs = seconds_per_call(candidate, args, target)
        except Exception as exc:  # noqa: BLE001 - a trace that does not fit is skipped
            log.debug("trace does not transfer: %s", str(exc).splitlines()[0] if str(exc) else exc)
            continue
        if secs < best_s:
            best, best_s = candidate, secs
    log.debug("naive %s s, best transferred %s s", naive_s, best_s)
    return best if naive_s is not None and best_s < naive_s else None
