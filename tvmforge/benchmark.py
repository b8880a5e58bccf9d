"""Interleaved timing of an artifact against onnxruntime in one process -> ``BenchReport``."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .types import BenchReport, Timing

#: Consecutive runs of one runtime before switching to the other.
BLOCK = 5
#: Pause between blocks: lets the other runtime's spinning threads go to sleep. onnxruntime's
#: intra-op worker spins for more than 20 ms after a run: with a 20 ms pause our first runs of
#: a block measured 14 ms on SqueezeNet instead of 5 (both runtimes measure as if alone at 0.2 s).
_PAUSE_S = 0.2


def timing(samples_ms: list[float]) -> Timing:
    """Median and p90 of latency samples."""
    arr = np.asarray(samples_ms)
    return Timing(float(np.median(arr)), float(np.percentile(arr, 90)), len(samples_ms))


def _time_once(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000.0


def bench_artifact(
    library: str | Path,
    model_path: str | Path,
    *,
    threads: int | None = None,
    warmup: int = 5,
    repeats: int = 30,
    seed: int = 0,
) -> BenchReport:
    """Time ``library`` and onnxruntime (ORT_ENABLE_ALL) on the same feeds, same threads.

    After ``warmup`` discarded runs each, the two alternate in blocks of ``BLOCK`` runs with a
    short pause between blocks, so machine noise hits both alike while neither runs into the
    other's idle-spinning threads (which alternating single runs would measure).
    """
    import onnxruntime as ort

    from .session import Session
    from .validation import make_feeds

    session = Session(library, threads=threads)
    threads = session.threads
    feeds = make_feeds(session.input_specs, seed)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    reference = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])

    def run_tvm() -> object:
        return session.run(None, feeds)

    def run_ort() -> object:
        return reference.run(None, feeds)

    for _ in range(warmup):
        run_tvm()
        run_ort()
    ours, theirs = [], []
    while len(ours) < repeats:
        n = min(BLOCK, repeats - len(ours))
        time.sleep(_PAUSE_S)
        ours += [_time_once(run_tvm) for _ in range(n)]
        time.sleep(_PAUSE_S)
        theirs += [_time_once(run_ort) for _ in range(n)]
    return BenchReport(
        model=session.manifest["model"]["name"],
        target=session.manifest["target"]["name"],
        threads=threads,
        tvmforge=timing(ours),
        onnxruntime=timing(theirs),
    )


def markdown_table(reports: list[BenchReport], label: str = "") -> str:
    """A Markdown table of reports: medians, p90s and the ratio (below 1.0: tvmforge faster)."""
    rows = [
        "| model | target | build | threads | tvmforge median ms | p90 | onnxruntime median ms | p90 | ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in reports:
        rows.append(
            f"| {r.model} | {r.target} | {label} | {r.threads} | {r.tvmforge.median_ms:.3f} | "
            f"{r.tvmforge.p90_ms:.3f} | {r.onnxruntime.median_ms:.3f} | {r.onnxruntime.p90_ms:.3f} | "
            f"{r.ratio:.2f} |"
        )
    return "\n".join(rows)
