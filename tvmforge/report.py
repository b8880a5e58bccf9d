"""Nightly results -> regressions, and a report in Markdown and HTML with plots."""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from .types import BenchReport, Timing

OK = "ok"


@dataclass(frozen=True, slots=True)
class EntryResult:
    """What one model on one target gave on one night (``status``: ok, failed, error)."""

    model: str
    target: str
    status: str
    error: str = ""
    median_ms: float | None = None
    p90_ms: float | None = None
    ort_median_ms: float | None = None
    ort_p90_ms: float | None = None
    ratio: float | None = None
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    trials: int | None = None
    trials_spent: int | None = None
    tasks: int | None = None
    tuning_seconds: float | None = None
    run_id: str | None = None

    @property
    def key(self) -> str:
        return f"{self.model}@{self.target}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EntryResult:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def bench_report(self) -> BenchReport | None:
        if self.median_ms is None or self.ort_median_ms is None:
            return None
        return BenchReport(
            self.model,
            self.target,
            0,
            Timing(self.median_ms, self.p90_ms or self.median_ms, 0),
            Timing(self.ort_median_ms, self.ort_p90_ms or self.ort_median_ms, 0),
        )


@dataclass(frozen=True, slots=True)
class Regression:
    """A flagged entry and why."""

    key: str
    reason: str


def find_regressions(
    tonight: list[EntryResult], history: dict[str, list[EntryResult]], threshold: float
) -> list[Regression]:
    """Entries that failed, or run slower than the best previous good night by > threshold.

    ``history`` maps a night to its results (tonight excluded).
    """
    found = []
    for entry in tonight:
        if entry.status != OK:
            found.append(Regression(entry.key, f"{entry.status}: {entry.error}"))
            continue
        best = _best_before(entry.key, history)
        if best is not None and entry.median_ms is not None:
            if entry.median_ms > best[1] * (1 + threshold):
                slower = entry.median_ms / best[1] - 1
                found.append(
                    Regression(
                        entry.key,
                        f"{entry.median_ms:.3f} ms is {slower:.0%} slower than "
                        f"{best[1]:.3f} ms on {best[0]} (threshold {threshold:.0%})",
                    )
                )
    return found


def _best_before(key: str, history: dict[str, list[EntryResult]]) -> tuple[str, float] | None:
    best = None
    for night, entries in history.items():
        for e in entries:
            if e.key == key and e.status == OK and e.median_ms is not None:
                if best is None or e.median_ms < best[1]:
                    best = (night, e.median_ms)
    return best


def is_champion(entry: EntryResult, history: dict[str, list[EntryResult]]) -> bool:
    """A good entry at least as fast as every earlier good night."""
    if entry.status != OK or entry.median_ms is None:
        return False
    best = _best_before(entry.key, history)
    return best is None or entry.median_ms <= best[1]


def _table(entries: list[EntryResult], flagged: set[str]) -> list[list[str]]:
    def num(value: float | None, fmt: str = ".3f") -> str:
        return "-" if value is None else format(value, fmt)

    rows = []
    for e in entries:
        rows.append(
            [
                e.model, e.target, e.status, num(e.median_ms), num(e.p90_ms), num(e.ort_median_ms),
                num(e.ratio, ".2f"), num(e.max_abs_err, ".2g"), "-" if e.trials is None else
                str(e.trials), num(e.tuning_seconds, ".0f"),
                "REGRESSION" if e.key in flagged else "",
            ]
        )  # fmt: skip
    return rows


_HEADER = [
    "model", "target", "status", "tvmforge median ms", "p90", "onnxruntime median ms", "ratio",
    "max abs err", "trials", "tuning s", "flag",
]  # fmt: skip


def write(
    out_dir: Path,
    job_name: str,
    night: str,
    tonight: list[EntryResult],
    history: dict[str, list[EntryResult]],
    regressions: list[Regression],
) -> tuple[Path, Path, list[Path]]:
    """Write ``report.md``, ``report.html`` and ``plots/*.png`` into ``out_dir``."""
    from . import plots

    out_dir.mkdir(parents=True, exist_ok=True)
    pngs = []
    reports = [r for r in (e.bench_report() for e in tonight) if r is not None]
    if reports:
        pngs.append(
            plots.bench_bars(reports, out_dir / "plots" / "bench.png", f"{job_name} {night}")
        )
    every = {**history, night: tonight}
    for metric, label in (("median_ms", "tvmforge median ms"), ("ratio", "tvmforge / onnxruntime")):
        series: dict[str, list[tuple[str, float]]] = {}
        for day in sorted(every):
            for e in every[day]:
                value = getattr(e, metric)
                if value is not None:
                    series.setdefault(e.key, []).append((day, value))
        pngs.append(plots.history(series, out_dir / "plots" / f"history_{metric}.png", label))
    flagged = {r.key for r in regressions}
    rows = _table(tonight, flagged)
    verdict = (
        f"**{len(regressions)} regression(s)**" if regressions else "no regressions"
    )  # fmt: skip
    md = [f"# Nightly {job_name}: {night}", "", f"{len(tonight)} model/target runs, {verdict}.", ""]
    md += ["| " + " | ".join(_HEADER) + " |", "|" + "---|" * len(_HEADER)]
    md += ["| " + " | ".join(row) + " |" for row in rows]
    if regressions:
        md += ["", "## Regressions", ""] + [f"- `{r.key}`: {r.reason}" for r in regressions]
    md += ["", "## Plots", ""] + [f"![{p.stem}](plots/{p.name})" for p in pngs]
    md_path = out_dir / "report.md"
    _atomic_write(md_path, "\n".join(md) + "\n")
    html_path = out_dir / "report.html"
    _atomic_write(html_path, _html(job_name, night, verdict, rows, regressions, pngs))
    return md_path, html_path, pngs


def _html(
    job: str, night: str, verdict: str, rows: list[list[str]], regressions: list[Regression],
    pngs: list[Path],
) -> str:  # fmt: skip
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in _HEADER)
    body = "".join(
        "<tr" + (' class="bad"' if row[-1] else "") + ">"
        + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>"
        for row in rows
    )  # fmt: skip
    regs = "".join(f"<li><code>{e(r.key)}</code>: {e(r.reason)}</li>" for r in regressions)
    imgs = "".join(f'<p><img src="plots/{e(p.name)}" alt="{e(p.stem)}"></p>' for p in pngs)
    verdict_html = e(verdict.replace("**", ""))
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>Nightly {e(job)} {e(night)}</title><style>"
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        "tr.bad td{background:#fdd}</style></head><body>"
        f"<h1>Nightly {e(job)}: {e(night)}</h1><p>{len(rows)} model/target runs, "
        f"{verdict_html}.</p><table><tr>{head}</tr>{body}</table>"
        + (f"<h2>Regressions</h2><ul>{regs}</ul>" if regs else "")
        + f"<h2>Plots</h2>{imgs}</body></html>\n"
    )


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
