"""Latency per operator of an artifact, through the Relax VM's instrument hook -> ``Profile``.

TVM 0.24 removed the VM's per-op profiler; ``VirtualMachine.set_instrument`` is the hook left:
it calls back before and after every VM call (compiled kernels and VM builtins alike). We time
each call between the two callbacks (synchronising the device for GPU artifacts) and sum per
function symbol over several runs. The callback costs a few microseconds per call, so very small
kernels read slightly high; the ``overhead`` row is wall time no call accounts for.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class OpTime:
    """One function called by the VM, summed over its calls and averaged over runs."""

    name: str
    calls: int  # per run
    ms: float  # per run, all calls together
    share: float  # of the run's wall time


@dataclass(frozen=True, slots=True)
class Profile:
    """Where the time of one run of an artifact goes."""

    model: str
    threads: int
    runs: int
    wall_ms: float  # mean wall time of an instrumented run
    ops: tuple[OpTime, ...]  # slowest first

    def table(self, top: int = 20) -> str:
        """A Markdown table of the ``top`` slowest functions, then the rest summed."""
        rows = [
            "| # | function | calls | ms per run | share |",
            "|---|---|---|---|---|",
        ]
        for i, op in enumerate(self.ops[:top], 1):
            rows.append(f"| {i} | {op.name} | {op.calls} | {op.ms:.3f} | {op.share:.1%} |")
        rest = self.ops[top:]
        if rest:
            ms = sum(o.ms for o in rest)
            calls = sum(o.calls for o in rest)
            rows.append(f"| | ({len(rest)} more) | {calls} | {ms:.3f} | {ms / self.wall_ms:.1%} |")
        return "\n".join(rows)


def profile(
    library: str | Path,
    *,
    threads: int | None = None,
    runs: int = 10,
    warmup: int = 3,
    seed: int = 0,
) -> Profile:
    """Time every VM call of ``library`` over ``runs`` runs on seeded random inputs.

    Args:
        library: the artifact's ``.so`` (its manifest beside it).
        threads: TVM thread pool size (default: TVM_NUM_THREADS or every core).
        runs: instrumented runs averaged; ``warmup`` runs before them are discarded.
        seed: seed of the random inputs.

    Raises:
        ArtifactError: the artifact cannot be loaded here.
    """
    import numpy as np
    import tvm

    from .session import Session
    from .validation import make_feeds

    session = Session(library, threads=threads)  # checks, loads libraries, sizes the pool
    data, threads = session.manifest, session.threads
    cuda = data["requires"].get("cuda_arch") is not None
    device = tvm.cuda(0) if cuda else tvm.cpu(0)
    vm = session.virtual_machine()
    feeds = make_feeds(session.input_specs, seed)
    args = [tvm.runtime.tensor(v, device) for v in feeds.values()]

    totals: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    started: list[float] = []
    recording = [False]

    def instrument(_func, symbol, before, _ret, *_args) -> int:
        if not recording[0]:
            return 0
        if before:
            started.append(time.perf_counter())
        else:
            if cuda:
                device.sync()
            totals[str(symbol)] += time.perf_counter() - started.pop()
            calls[str(symbol)] += 1
        return 0

    vm.set_instrument(instrument)
    for _ in range(warmup):
        vm["main"](*args)
    walls = []
    recording[0] = True
    for _ in range(runs):
        begin = time.perf_counter()
        vm["main"](*args)
        if cuda:
            device.sync()
        walls.append((time.perf_counter() - begin) * 1000.0)
    ops = [OpTime(name, calls[name] // runs, totals[name] * 1000.0 / runs, 0.0) for name in totals]
    accounted = sum(o.ms for o in ops)
    ops.append(OpTime("(overhead)", 0, max(0.0, float(np.mean(walls)) - accounted), 0.0))
    mean_wall = float(np.mean(walls))
    ops = sorted(
        (OpTime(o.name, o.calls, o.ms, o.ms / mean_wall if mean_wall else 0.0) for o in ops),
        key=lambda o: o.ms,
        reverse=True,
    )
    return Profile(data["model"]["name"], threads, runs, mean_wall, tuple(ops))
