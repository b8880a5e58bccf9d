"""PNG charts for MLflow runs and nightly reports (matplotlib, imported lazily).

Figures are drawn on matplotlib's Agg canvas without pyplot, so they never touch the
backend of the caller (a notebook's inline plots keep working).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .types import BenchReport


def best_so_far(curve: Sequence[tuple[int, float]]) -> list[tuple[int, float]]:
    """The tuning curve from the moment every task has a record, as a running minimum.

    The tuner's estimate sums weight x best latency over tasks and counts a task without
    records as zero, so it rises while the first pass reaches each task and falls after;
    points before the peak describe an incomplete model and are dropped.
    """
    if not curve:
        return []
    peak = max(range(len(curve)), key=lambda i: (curve[i][1], -i))
    best, out = float("inf"), []
    for trials, latency in curve[peak:]:
        best = min(best, latency)
        out.append((int(trials), best))
    return out


def _figure(width: float, height: float = 3.5):
    """A figure and its axes on the Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig, fig.subplots()


def tuning_curve(curve: Sequence[tuple[int, float]], path: Path, title: str = "") -> Path:
    """Estimated latency (and its best so far) against trials, saved as ``path``."""
    fig, ax = _figure(6)
    if curve:
        ax.plot([c[0] for c in curve], [c[1] / 1000 for c in curve], "o-", alpha=0.4,
                label="estimate after each round")  # fmt: skip
        best = best_so_far(curve)
        ax.step([b[0] for b in best], [b[1] / 1000 for b in best], where="post",
                label="best so far")  # fmt: skip
        ax.legend()
    ax.set_xlabel("trials")
    ax.set_ylabel("estimated latency (ms)")
    ax.set_title(title or "tuning curve")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def bench_bars(reports: Sequence[BenchReport], path: Path, title: str = "") -> Path:
    """Median latency of tvmforge and onnxruntime per model/target (p90 as whiskers)."""
    fig, ax = _figure(max(4, 1.6 * len(reports) + 2))
    labels = [f"{r.model}\n{r.target}" for r in reports]
    xs = range(len(reports))
    for offset, side, name in ((-0.2, "tvmforge", "tvmforge"), (0.2, "onnxruntime", "onnxruntime")):
        med = [getattr(r, side).median_ms for r in reports]
        p90 = [getattr(r, side).p90_ms - getattr(r, side).median_ms for r in reports]
        ax.bar([x + offset for x in xs], med, 0.4, yerr=[[0] * len(med), p90], label=name)
    ax.set_xticks(list(xs), labels)
    ax.set_ylabel("median latency (ms)")
    ax.set_title(title or "tvmforge vs onnxruntime")
    ax.legend()
    return _save(fig, path)


def history(
    series: dict[str, list[tuple[str, float]]], path: Path, ylabel: str, title: str = ""
) -> Path:
    """One line per key (``model/target``) over nights: ``{key: [(night, value), ...]}``."""
    fig, ax = _figure(7)
    for key, points in sorted(series.items()):
        ax.plot([p[0] for p in points], [p[1] for p in points], "o-", label=key)
    ax.set_xlabel("night")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if series:
        ax.legend(fontsize="small")
    fig.autofmt_xdate()
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path
