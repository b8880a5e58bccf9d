"""Default schedules for the functions no tuning record covers, so no pathological kernel ships.

A fused function TVM has no record for is left as the frontend wrote it: one loop nest per
operator, each writing a whole intermediate buffer that the next reads back. On a feature map
that is tens of megabytes allocated, written and read per call: PP-OCRv4's batch-norm +
hard-swish chains on 320x320x16 took 33 ms where the same arithmetic with its producers
inlined takes 0.2 ms. On CPUs the default schedule inlines the blocks of such elementwise and
layout functions, and runs the leading spatial loops of each large loop nest in parallel (inner
loops as written, for LLVM to vectorize; small nests stay serial, where a launch costs more than
the work). Parallel defaults took PP-OCRv4's detector from 55.7 to 40.2 ms and Inception-v1 from
16.5 to 13.6 ms (onnxruntime 51.7 and 20.1) in oneDNN builds, whose loops run on OpenMP.
Reductions get three rules of their own: softmaxes and norms over many rows TVM's CPU
row-reduction rule, reductions over outer dimensions (NHWC global pools) channels innermost, and
strided poolings their padding inlined. On GPUs DLight's rules schedule every kernel (a naive one
runs on one thread). Functions that tuning records or transfer scheduled are left alone. Imports
the compiler.
"""

from __future__ import annotations

import logging

import numpy as np

from ._tvm import dlight, is_scheduled, tvm
from .targets import TargetPreset

log = logging.getLogger(__name__)


def apply_default_schedules(mod, preset: TargetPreset):
    """``mod`` with every unscheduled PrimFunc given a default schedule for ``preset``."""
    if preset.is_cuda:
        gpu = dlight.gpu
        rules = [gpu.Matmul(), gpu.GEMV(), gpu.Reduction(), gpu.GeneralReduction(), gpu.Fallback()]
    else:
        rules = [_RowReduction(), _CpuDefault()]
    with tvm.target.Target(preset.target):
        return dlight.ApplyDefaultSchedule(*rules)(mod)


def prefer_faster_defaults(scheduled, unscheduled, preset: TargetPreset, threads: int):
    """``scheduled`` with each parallel record replaced by the default schedule (what a function
    without a record gets, or its naive form where the rule leaves it as written) where that
    measures faster here, with TVM's pool as a oneDNN artifact runs it.

    Records are tuned with TVM's workers spinning; an artifact with oneDNN kernels lets them
    sleep, so a parallel record pays a wake-up per call its tuning never saw (ShuffleNet's
    channel shuffles: 1.33 ms with the shipped records, 0.63 ms with the default schedule).
    And MetaSchedule never measures the naive form: after a few trials a softmax record over
    1000 classes recomputed its sum per element, 2.8 ms against 2 us as written.
    Returns ``(module, records replaced)``.
    """
    from ._tvm import random_tensor, seconds_per_call
    from .session import configure_threads

    configure_threads(threads, library=True)
    target = tvm.target.Target(preset.target)
    rng = np.random.default_rng(0)
    out = scheduled.clone()
    replaced = 0
    for gv, func in scheduled.functions.items():
        original = unscheduled[gv.name_hint] if gv.name_hint in unscheduled else None
        if not _from_record(func, original):
            continue
        with target:
            sch = _CpuDefault().apply(original, target, False)
        default = (original if sch is None else sch.mod["main"]).with_attr(
            "tirx.is_scheduled", True
        )
        args = [random_tensor(param.ty, rng) for param in original.params]
        record_s = seconds_per_call(func, args, target)
        default_s = seconds_per_call(default, args, target)
        log.info(
            "%s: record %.1f us, default %.1f us", gv.name_hint, record_s * 1e6, default_s * 1e6
        )
        if default_s < record_s:
            out[gv] = default.with_attr("global_symbol", gv.name_hint)
            replaced += 1
    return out, replaced


def _from_record(func, original) -> bool:
    """Whether ``func`` is a PrimFunc a record scheduled with parallel loops (``original`` being
    its unscheduled form): serial records run as they were tuned, and are not timed again."""
    return (
        isinstance(func, tvm.tirx.PrimFunc)
        and isinstance(original, tvm.tirx.PrimFunc)
        and is_scheduled(func)
        and not is_scheduled(original)
        and "T.parallel" in func.script()
    )


class _RowReduction(dlight.cpu.Reduction):
    """TVM's CPU rule for softmax and norms (rows in parallel, each row's reductions and
    elementwise steps computed together, vectorized), for functions whose every reduction runs
    over one tensor along its last, contiguous axis: BERT-base's softmaxes 5.6 -> 2.3 ms of 78
    (the parallel default schedule streamed each step over the whole tensor). Contractions of two
    tensors (convolutions, matmuls) are left to the other rules, and so are single rows and
    nests below ``PARALLEL_MIN_ITERATIONS`` (a classifier's one softmax row took 2.3 ms, not 2 us)."""

    def apply(self, func, target, tunable: bool):
        sch = tvm.s_tir.Schedule(func)
        blocks = dlight.normalize_prim_func(sch)
        if blocks is None or not all(_reduces_one_row(sch, b) for b in blocks):
            return None
        reductions = [b for b in blocks if not b.is_injective()]
        if not reductions or not all(_rows_to_share(b) for b in reductions):
            return None
        return super().apply(func, target, tunable)


def _rows_to_share(block) -> bool:
    """Whether a reduction block has several rows and enough work for a parallel launch."""
    if not _static(block.iters):
        return False
    rows = _size([it for it in block.iters if it.kind == "S"])
    return rows >= 2 and _size(block.iters) >= PARALLEL_MIN_ITERATIONS


def _static(iters) -> bool:
    """Whether every iterator's extent is a known integer."""
    return all(isinstance(it.dom, int) for it in iters)


def _size(iters) -> int:
    """Iterations of a static loop nest (1 for none)."""
    return int(np.prod([it.dom for it in iters]))


def _reduces_one_row(sch, block) -> bool:
    """Whether ``block`` is elementwise, or reduces a single tensor along its last axis only."""
    if block.is_injective():
        return True
    reads = sch.get(block.block_rv).reads
    reduction = [it for it in block.iters if it.kind == "R"]
    return (
        len(reads) == 1
        and len(reduction) == 1
        and block.iters[-1] is reduction[0]
        and len(reads[0].region) > 0
        and reads[0].region[-1].min.same_as(reduction[0].var)
    )


class _CpuDefault(dlight.ScheduleRule):
    """Inline every block of an elementwise/layout function (no reductions) or of a padded
    strided pooling that can be, then run each large loop nest's leading spatial loops in
    parallel, reductions over outer dimensions reordered first.

    Other functions with a reduction are not inlined into, where inlining measured both ways
    (Inception's convolutions 0.69x-1.28x). None when nothing changes.
    """

    def apply(self, func, target, _tunable: bool):
        sch = tvm.s_tir.Schedule(func)
        blocks = dlight.normalize_prim_func(sch)
        if blocks is None:
            return None
        changed = False
        if _inlinable(sch, blocks):
            before = len(blocks)
            blocks = dlight.try_inline(sch, blocks)  # pops what it inlines from ``blocks``
            changed = len(blocks) < before
        for block in blocks:
            reordered = _reduce_along_memory(sch, block)
            changed |= _parallelize(sch, reordered or block.iters)
            if reordered is not None:  # hoist the init out (after the fuse, which it would stop)
                first = next(it for it in reordered if it.kind == "R")
                sch.decompose_reduction(block.block_rv, first.loop_rv)
                changed = True
        return sch if changed else None


#: Iterations of a loop nest below which it stays serial: a parallel launch costs more.
PARALLEL_MIN_ITERATIONS = 16384
#: Leading spatial loops are fused until they give at least this many parallel chunks.
_PARALLEL_CHUNKS = 64


def _parallelize(sch, iters) -> bool:
    """Fuse a block's leading spatial loops (``iters``: its iterators, outer to inner) until
    there are enough chunks, and run them in parallel, when its whole nest is large and static;
    the inner loops stay for LLVM to vectorize."""
    if not iters or not _static(iters):
        return False
    if _size(iters) < PARALLEL_MIN_ITERATIONS:
        return False
    loops, extent = [], 1
    for it in iters:
        if it.kind != "S" or extent >= _PARALLEL_CHUNKS:
            break
        loops.append(it.loop_rv)
        extent *= it.dom
    if extent < 2:
        return False
    try:
        sch.parallel(sch.fuse(*loops) if len(loops) > 1 else loops[0])
    except tvm.s_tir.schedule.ScheduleError:  # e.g. a loop nest that is not a plain chain
        return False
    return True


def _reduce_along_memory(sch, block) -> list | None:
    """Move a reduction's last spatial loop innermost when that loop walks the contiguous last
    dimension of what it reads and the reduction walks outer ones; returns the iterators in
    their new order, or None when the block is left as it was.

    A global average pool over NHWC as written sums each channel over H and W, a stride of C
    floats per step: PP-OCRv4's over its 160x160x96 map took 13.2 ms (5.8 on two threads)
    where channels innermost, consecutive floats LLVM vectorizes, take 0.32 ms; pooling to 7x7
    maps ran 3-4x faster too. Only where the other spatial loops give fewer than
    ``_PARALLEL_CHUNKS`` parallel chunks: 3x3 max-pools over larger maps ran up to 1.4x slower.
    """
    iters = block.iters
    spatial = [it for it in iters if it.kind == "S"]
    if not spatial or iters[-1].kind != "R" or any(it.kind not in "SR" for it in iters):
        return None
    inner = spatial[-1]
    if not _static(iters):
        return None
    if _size(spatial[:-1]) >= _PARALLEL_CHUNKS:
        return None  # enough outer work (a 3x3 max-pool): the window in registers measured faster
    reads = sch.get(block.block_rv).reads
    if not any(len(r.region) and r.region[-1].min.same_as(inner.var) for r in reads):
        return None
    reductions = [it for it in iters if it.kind == "R"]
    try:
        sch.reorder(*(it.loop_rv for it in reductions), inner.loop_rv)
    except tvm.s_tir.schedule.ScheduleError:
        return None
    return spatial[:-1] + reductions + [inner]


def _inlinable(sch, blocks) -> bool:
    """Whether to inline into the function's last blocks: every block elementwise, or padding
    feeding a strided pooling, whose windows read each input about twice (ResNet-50's and
    DenseNet-121's 3x3/2 max-pools 0.38 -> 0.14 ms without the padded copy; a 3x3/1 pool reads
    each input 9 times, and checking the border on every read measured up to 1.9x slower)."""
    reducing = [b for b in blocks if not _elementwise(sch, b)]
    if not reducing:
        return True
    if len(reducing) != 1 or not _pooling(sch, reducing[0]) or len(blocks) < 2:
        return False
    if not all(_static(b.iters) for b in blocks):
        return False
    sizes = [_size(b.iters) for b in blocks]
    pool = blocks.index(reducing[0])
    return sizes[pool] <= _POOL_READS_PER_INPUT * max(sizes[:pool] or [0])


#: Window reads per padded input element up to which padding is inlined into a pooling.
_POOL_READS_PER_INPUT = 3


def _pooling(sch, block) -> bool:
    """A max- or average-pooling block (TVM's legalization marks them for MetaSchedule)."""
    rule = sch.get(block.block_rv).annotations.get("schedule_rule", "")
    return str(rule) in ("meta_schedule.pool_max", "meta_schedule.pool_avg")


def _elementwise(sch, block) -> bool:
    """Spatial iterators only and no reduction init: a matmul whose reduction has extent 1
    looks spatial once unit loops are dropped, and inlining its consumer into it is wrong in
    TVM 0.27 (the consumer's addend is counted twice)."""
    return block.is_injective() and sch.get(block.block_rv).init is None
