"""Run the benchmark suite: each zoo model compiled by tvmforge, timed against onnxruntime.

    nice -n 10 .venv/bin/python -m benchmarks.run_suite --mode shipped --tier small
    nice -n 10 .venv/bin/python -m benchmarks.run_suite --mode tuned --trials 200 --models squeezenet

Modes: ``untuned`` (no records at all), ``shipped`` (only the curated ``schedules/<target>/``,
fresh tuning folder), ``tuned`` (shipped schedules plus ``--trials`` of tuning per model, in
``--tuning-dir`` so a rerun resumes). Each model runs in its own process (a crash or a timeout
costs one row); timing is ``tvmforge.benchmark.bench_artifact``: interleaved with onnxruntime
ORT_ENABLE_ALL, same feeds, same thread count, warm-up discarded. Writes
``benchmarks/results/suite-<mode>.md``, ``.json`` and ``.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import zoo

RESULTS = zoo.ROOT / "results"


def run_one(model: zoo.ZooModel, args: argparse.Namespace) -> dict:
    """Compile and bench one model in this process; returns its row."""
    from tvmforge.api import SHIPPED_SCHEDULES, CompileOptions, compile
    from tvmforge.benchmark import bench_artifact
    from tvmforge.kernel_choice import summarize

    row: dict = {"model": model.name, "tier": model.tier, "mode": args.mode}
    try:
        path = model.path()
    except Exception as exc:  # noqa: BLE001 - an unobtainable model is a skipped row
        return {**row, "status": f"skipped: cannot obtain ({exc})"[:200]}
    with tempfile.TemporaryDirectory(prefix="suite-") as tmp:
        tuned = args.mode == "tuned"
        options = CompileOptions(
            target=args.target,
            input_shapes=model.input_shapes,
            tuning_dir=args.tuning_dir if tuned else Path(tmp) / "tuning_logs",
            schedules_dir=None if args.mode == "untuned" else SHIPPED_SCHEDULES,
            kernels=args.kernels,
            track=False,
        )
        started = time.monotonic()
        try:
            tuning = _tune(model, args) if tuned else None
            artifact = compile(path, Path(tmp) / f"{model.name}.so", options)
        except Exception as exc:  # noqa: BLE001 - an import or build failure is a row too
            return {**row, "status": f"compile failed: {type(exc).__name__}: {exc}"[:300]}
        facts = artifact.manifest["tuning"]
        row.update(
            compile_s=round(time.monotonic() - started, 1),
            scheduled=facts["scheduled_functions"],
            functions=facts["functions"],
            onednn_layers=summarize(artifact.manifest.get("kernels", [])),
            tuning_s=round(tuning.seconds, 1) if tuning else 0.0,
            trials_spent=tuning.trials_spent if tuning else 0,
            trials_in_db=tuning.trials_total if tuning else 0,
            max_abs_err=artifact.validation.max_abs_err if artifact.validation else None,
        )
        report = bench_artifact(
            artifact.library, path, threads=args.threads, warmup=args.warmup, repeats=args.repeats
        )
    return {
        **row,
        "status": "ok",
        "threads": report.threads,
        "tvmforge_median_ms": report.tvmforge.median_ms,
        "tvmforge_p90_ms": report.tvmforge.p90_ms,
        "ort_median_ms": report.onnxruntime.median_ms,
        "ort_p90_ms": report.onnxruntime.p90_ms,
        "ratio": report.ratio,
    }


def _tune(model: zoo.ZooModel, args: argparse.Namespace):
    """``--trials`` of tuning for the model, warm-started from the shipped schedules."""
    from tvmforge.api import SHIPPED_SCHEDULES

    from .tune_zoo import tune_budget

    return tune_budget(model, args.target, args.tuning_dir, trials=args.trials,
                       strategy=args.strategy, schedules_dir=SHIPPED_SCHEDULES,
                       kernels=args.kernels)  # fmt: skip


def run_isolated(model: zoo.ZooModel, argv: list[str], timeout: float) -> dict:
    """``run_one`` in a child process; a crash or a timeout becomes a failed row."""
    cmd = [sys.executable, "-m", "benchmarks.run_suite", *argv, "--one", model.name]
    base = {"model": model.name, "tier": model.tier}
    try:
        done = subprocess.run(cmd, cwd=zoo.REPO, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**base, "status": f"timed out after {timeout:.0f} s"}
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {**base, "status": f"crashed (exit {done.returncode}): {tail}"[:300]}
    return json.loads(lines[-1])


def environment(args: argparse.Namespace) -> dict:
    """Versions, CPU and settings recorded beside the figures."""
    import onnxruntime
    import tvm

    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
         if ln.startswith("model name")), platform.processor(),
    )  # fmt: skip
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "threads": args.threads,
        "target": args.target,
        "tvm": tvm.__version__,
        "onnxruntime": onnxruntime.__version__,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "trials": args.trials if args.mode == "tuned" else 0,
        "kernels": args.kernels,
    }


def markdown(mode: str, env: dict, rows: list[dict]) -> str:
    """The results table with its environment header."""
    head = [
        f"# Benchmark suite: {mode}",
        "",
        f"{env['date']}; {env['cpu']}, {env['cores']} cores; tvmforge and onnxruntime "
        f"(ORT_ENABLE_ALL) both on {env['threads']} threads, interleaved in one process, "
        f"{env['warmup']} warm-up + {env['repeats']} timed runs each; target {env['target']}; "
        f"TVM {env['tvm']}, onnxruntime {env['onnxruntime']}. Ratio = tvmforge / onnxruntime "
        "median (below 1.00: tvmforge faster). The machine is shared: compare ratios, not ms.",
        "",
        f"Kernels: {env.get('kernels', 'tvm')} (`library`: conv, transposed conv and dense layers "
        "a library kernel runs because it measured faster than TVM's, of those one could, and "
        "how many each kernel runs: oneDNN's direct ones, Winograd F(4x4,3x3) and F(2x2,3x3) "
        "(`winograd`, `winograd2`), im2col + matmul (`im2col`), direct first layers "
        "(`shallow`)).",
        "",
        "| model | tier | scheduled | library | tvmforge median ms | p90 | onnxruntime median ms "
        "| p90 | ratio | tuning s | trials | compile s | status |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r.get("status") != "ok":
            head.append(f"| {r['model']} | {r.get('tier', '')} |" + " |" * 10 + f" {r['status']} |")
            continue
        head.append(
            f"| {r['model']} | {r['tier']} | {r['scheduled']}/{r['functions']} | "
            f"{r.get('onednn_layers', '')} | "
            f"{r['tvmforge_median_ms']:.2f} | {r['tvmforge_p90_ms']:.2f} | {r['ort_median_ms']:.2f} "
            f"| {r['ort_p90_ms']:.2f} | **{r['ratio']:.2f}** | {r['tuning_s']:.0f} | "
            f"{r['trials_in_db']} | {r['compile_s']:.0f} | ok |"
        )
    return "\n".join(head) + "\n"


def chart(mode: str, rows: list[dict], out: Path) -> Path | None:
    """Bars of tvmforge and onnxruntime median latency per model (log scale), ratio on top."""
    ok = [r for r in rows if r.get("status") == "ok"]
    if not ok:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    x = np.arange(len(ok))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(ok) + 2), 4.2))
    ours = [r["tvmforge_median_ms"] for r in ok]
    theirs = [r["ort_median_ms"] for r in ok]
    ax.bar(x - 0.2, ours, 0.4, label="tvmforge", color="#d62728")
    ax.bar(x + 0.2, theirs, 0.4, label="onnxruntime (ORT_ENABLE_ALL)", color="#1f77b4")
    for i, r in enumerate(ok):
        ax.annotate(f"{r['ratio']:.2f}x", (x[i], max(ours[i], theirs[i])), ha="center",
                    va="bottom", fontsize=8, xytext=(0, 2), textcoords="offset points")  # fmt: skip
    ax.set_yscale("log")
    ax.set_ylim(top=max(ours + theirs) * 4)  # room for the ratios and the legend
    ax.set_xticks(x, [r["model"] for r in ok], rotation=20, ha="right")
    ax.set_ylabel("median latency, ms (log)")
    ax.set_title(f"tvmforge ({mode}) vs onnxruntime, {ok[0]['threads']} threads")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def summary(results: Path = RESULTS) -> str:
    """One table of the ratio per model (rows) and result file (columns), from suite-*.json."""
    runs = {}
    for path in sorted(results.glob("suite-*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        threads = data["environment"]["threads"]
        runs[f"{path.stem.removeprefix('suite-')} ({threads} thr)"] = {
            r["model"]: r for r in data["rows"] if r.get("status") == "ok"
        }
    models = list(dict.fromkeys(m for rows in runs.values() for m in rows))
    lines = [
        "# Ratio tvmforge / onnxruntime per run (below 1.00: tvmforge faster)",
        "",
        "Each cell is one interleaved run; `scheduled` functions in brackets. Regenerate with "
        "`python -m benchmarks.run_suite --summary`.",
        "",
        "| model | " + " | ".join(runs) + " |",
        "|---|" + "---|" * len(runs),
    ]
    for m in models:
        cells = [
            f"{r[m]['ratio']:.2f} ({r[m]['scheduled']}/{r[m]['functions']})" if m in r else ""
            for r in runs.values()
        ]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mode", choices=["untuned", "shipped", "tuned"])
    p.add_argument("--summary", action="store_true", help="only rewrite results/summary.md")
    p.add_argument("--trials", type=int, default=200, help="tuning trials per model (tuned)")
    p.add_argument("--strategy", choices=["evolutionary", "replay-trace"], default="evolutionary")
    p.add_argument("--models", help="comma-separated zoo names (default: the whole tier)")
    p.add_argument("--tier", choices=["small", "large"], help="restrict to one tier")
    p.add_argument("--target", default="x86-avx512",
                   help="preset; shipped schedules are looked up by its name")  # fmt: skip
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--kernels", choices=["auto", "onednn", "tvm"], default="auto",
                   help="oneDNN convolutions as per-operator candidates (default auto)")  # fmt: skip
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--repeats", type=int, default=100)
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds per model")
    p.add_argument("--tuning-dir", type=Path, default=zoo.CACHE / "tuning_logs")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--tag", help="suffix of the result files: suite-<mode>-<tag>.md")
    p.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one model, print its row
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    os.environ["TVM_NUM_THREADS"] = str(args.threads)
    if args.summary:
        (args.out / "summary.md").write_text(summary(args.out), encoding="utf-8")
        return 0
    if args.mode is None:
        raise SystemExit("pass --mode untuned|shipped|tuned (or --summary)")
    if args.one:
        print(json.dumps(run_one(zoo.select(args.one)[0], args)), flush=True)
        return 0
    env = environment(args)
    rows: list[dict] = []
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / (f"suite-{args.mode}-{args.tag}" if args.tag else f"suite-{args.mode}")
    for model in zoo.select(args.models, args.tier):
        row = run_isolated(model, argv, args.timeout)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
        stem.with_suffix(".md").write_text(markdown(args.mode, env, rows), encoding="utf-8")
        stem.with_suffix(".json").write_text(
            json.dumps({"mode": args.mode, "environment": env, "rows": rows}, indent=1) + "\n",
            encoding="utf-8",
        )
    chart(args.mode, rows, stem.with_suffix(".png"))
    (args.out / "summary.md").write_text(summary(args.out), encoding="utf-8")
    print(f"wrote {stem}.md and .png ({sum(r.get('status') == 'ok' for r in rows)} models ok)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
