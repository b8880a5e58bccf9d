"""The ``tvmforge`` command: parse arguments, make one API call, print one summary.

Exit codes: 0 ok, 1 user error (the message says the fix), 2 internal error.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .errors import TvmforgeError, UserError

SHIPPED_MODEL = Path(__file__).resolve().parent.parent / "models" / "tinynet.onnx"


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``30m``, ``2h`` -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"'{text}' is not a duration; use e.g. 90s, 30m or 2h")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def _add_compile_options(p: argparse.ArgumentParser, *, tuning_flag: bool) -> None:
    p.add_argument(
        "--target", default="host", help="preset name or TVM target JSON (default: host)"
    )
    p.add_argument("--input-shape", action="append", default=[], metavar="NAME=D1,D2,...",
                   help="bind an input's shape (repeatable)")  # fmt: skip
    if tuning_flag:
        p.add_argument("--tune", action="store_true", help="tune with MetaSchedule before building")
    p.add_argument("--trials", type=int, default=64, help="total tuning trials (default 64)")
    p.add_argument("--time-budget", type=parse_duration, default=None, metavar="DURATION",
                   help="tuning wall-clock budget, e.g. 30m")  # fmt: skip
    p.add_argument("--min-trials-per-task", type=int, default=8,
                   help="trials every task gets first (default 8)")  # fmt: skip
    p.add_argument("--strategy", choices=["evolutionary", "replay-trace"], default="evolutionary")
    p.add_argument("--tuning-dir", type=Path, default=Path("tuning_logs"))
    p.add_argument("--schedules-dir", type=Path, default=None,
                   help="curated databases to apply (default: the shipped schedules/)")  # fmt: skip
    p.add_argument(
        "--no-simplify", action="store_true", help="skip onnxruntime graph simplification"
    )
    p.add_argument("--transfer-schedules", action="store_true",
                   help="give functions with no tuning record the nearest record's schedule "
                        "when it measures faster (compiles each candidate: slower builds)")  # fmt: skip
    p.add_argument("--kernels", choices=["auto", "onednn", "tvm"], default="auto",
                   help="library kernels for conv/dense layers (oneDNN, Winograd, im2col, "
                        "shallow): auto: where one measures faster than TVM's (x86, when oneDNN is "
                        "installed); onednn: every layer in the fastest library kernel, TVM's "
                        "not timed; tvm: none")  # fmt: skip
    _add_rpc_options(p)
    _add_tracking_options(p)


def _add_tracking_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tracking-uri", metavar="URI",
                   help="MLflow store (default: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)")  # fmt: skip
    p.add_argument("--no-track", action="store_true", help="do not log an MLflow run")
    p.add_argument("--experiment", help="MLflow experiment (default: the model's name)")


def _add_rpc_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rpc-tracker", metavar="HOST:PORT",
                   help="TVM RPC tracker: tune, validate and bench on its devices")  # fmt: skip
    p.add_argument("--rpc-key", metavar="KEY", help="device key at the tracker")
    p.add_argument("--rpc-wait", type=parse_duration, default=60.0, metavar="DURATION",
                   help="how long to wait for a free device (default 60s)")  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tvmforge", description="Compile ONNX models into tuned TVM shared libraries."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("compile", help="compile a model into a .so and manifest")
    p.add_argument("model", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True, help="the .so to write")
    _add_compile_options(p, tuning_flag=True)
    p.add_argument("--no-validate", action="store_true", help="skip the onnxruntime comparison")
    p.add_argument("--inputs", type=Path, help=".npz of inputs for validation")
    p.add_argument("--seed", type=int, default=0, help="seed of the random validation inputs")
    p.add_argument("--register", metavar="NAME",
                   help="register the MLflow model under NAME, alias 'candidate'")  # fmt: skip

    p = sub.add_parser("tune", help="tune a model (records only, no build)")
    p.add_argument("model", type=Path)
    _add_compile_options(p, tuning_flag=False)

    p = sub.add_parser("run", help="run an artifact on inputs, print outputs and time")
    p.add_argument("artifact", type=Path)
    p.add_argument("--inputs", type=Path, help=".npz of inputs (default: seeded random)")
    p.add_argument("--save", type=Path, help="write the outputs to this .npz")
    p.add_argument("--threads", type=int)

    p = sub.add_parser("bench", help="time tvmforge against onnxruntime")
    p.add_argument("model_or_artifact", type=Path, help=".onnx (compiled first) or .so")
    p.add_argument(
        "--model", type=Path, help="the ONNX model of a .so (default: from its manifest)"
    )
    p.add_argument("--threads", type=int)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    _add_compile_options(p, tuning_flag=True)

    p = sub.add_parser("inspect", help="print an artifact's manifest")
    p.add_argument("artifact", type=Path)

    p = sub.add_parser("validate", help="compare an artifact with onnxruntime, here or on a device")
    p.add_argument("artifact", type=Path)
    p.add_argument("--model", type=Path, help="the ONNX model (default: from the manifest)")
    p.add_argument("--inputs", type=Path, help=".npz of inputs (default: seeded random)")
    p.add_argument("--seed", type=int, default=0)
    _add_rpc_options(p)

    p = sub.add_parser("devices", help="the device pool as an RPC tracker sees it")
    p.add_argument("--rpc-tracker", metavar="HOST:PORT", required=True)

    p = sub.add_parser("profile", help="latency per operator of an artifact")
    p.add_argument("artifact", type=Path)
    p.add_argument("--threads", type=int)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--top", type=int, default=20, help="rows to show (default 20)")

    sub.add_parser("targets", help="list target presets and what this host runs")

    p = sub.add_parser("demo", help="tune, compile, validate and bench the shipped small model")
    p.add_argument("--trials", type=int, default=48)
    p.add_argument("--output-dir", type=Path, default=Path("build"))

    p = sub.add_parser("conformance", help="ONNX node conformance: tvmforge vs onnxruntime")
    p.add_argument("--pattern", help="regex on case names (default: every case)")
    p.add_argument("--names-file", type=Path, help="file of case names, one a line")
    p.add_argument("--every", type=int, default=1, help="keep every Nth selected case")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per case")
    p.add_argument("--results", type=Path, default=Path("build/conformance/results.jsonl"),
                   help="JSON lines of results; a rerun resumes from it")  # fmt: skip
    p.add_argument("--table", type=Path, default=Path("benchmarks/results/conformance.md"))
    p.add_argument("--fresh", action="store_true", help="discard earlier results first")

    p = sub.add_parser("nightly", help="nightly job: tune on, rebuild, validate, bench, report")
    p.add_argument("job", type=Path, help="the job's TOML file (see docs/nightly.md)")
    p.add_argument("--night", help="the night's name (default: today's UTC date); reruns continue")
    p.add_argument("--tracking-uri", metavar="URI", help="MLflow store (default as for compile)")
    p.add_argument("--no-track", action="store_true", help="do not log MLflow runs")
    return parser


def _options(args: argparse.Namespace, **extra):
    from .api import SHIPPED_SCHEDULES, CompileOptions
    from .shapes import parse_input_shapes

    return CompileOptions(
        target=args.target,
        input_shapes=parse_input_shapes(args.input_shape),
        tune=getattr(args, "tune", False),
        trials=args.trials,
        time_budget_s=args.time_budget,
        min_trials_per_task=args.min_trials_per_task,
        strategy=args.strategy,
        tuning_dir=args.tuning_dir,
        schedules_dir=args.schedules_dir or SHIPPED_SCHEDULES,
        simplify=not args.no_simplify,
        kernels=args.kernels,
        transfer=args.transfer_schedules,
        rpc_tracker=args.rpc_tracker,
        rpc_key=args.rpc_key,
        rpc_wait_s=args.rpc_wait,
        track=not args.no_track,
        tracking_uri=args.tracking_uri,
        experiment=args.experiment,
        **extra,
    )


def _cmd_compile(args: argparse.Namespace) -> str:
    from .api import compile as compile_model

    started = time.monotonic()
    options = _options(args, validate=not args.no_validate, inputs=args.inputs, seed=args.seed,
                       register=args.register)  # fmt: skip
    artifact = compile_model(args.model, args.output, options)
    return _compile_summary(artifact, time.monotonic() - started)


def _compile_summary(artifact, seconds: float) -> str:
    m = artifact.manifest
    tuned = f"{m['tuning']['scheduled_functions']}/{m['tuning']['functions']} functions tuned"
    if m.get("kernels"):
        from .kernel_choice import summarize

        tuned += f", {summarize(m['kernels'])} conv/dense layers faster in library kernels"
    if artifact.validation is None and not m["config"].get("validate", True):
        check = "not validated (--no-validate)"
    elif artifact.validation is None:
        check = "not validated (this host cannot run the target; pass --rpc-tracker)"
    elif artifact.validation.skipped:
        check = f"not validated ({artifact.validation.skipped})"
    else:
        check = f"validated against onnxruntime (max abs err {artifact.validation.max_abs_err:.2g})"
        if m["validation"].get("device"):
            check += f" on {m['validation']['device']}"
    return (
        f"compiled {m['model']['name']} for {m['target']['name']} -> {artifact.library} "
        f"({tuned}, {check}) in {seconds:.0f} s"
    )


def _cmd_tune(args: argparse.Namespace) -> str:
    from .api import tune

    result = tune(args.model, _options(args))
    untuned = [t.name for t in result.tasks if t.trials == 0]
    return (
        f"tuned {len(result.tasks)} tasks: {result.trials_spent} new trials "
        f"({result.trials_total} in the database, {result.reused_tasks} tasks reused) in "
        f"{result.seconds:.0f} s -> {result.work_dir}"
        + (f"; tasks without records: {', '.join(untuned)}" if untuned else "")
    )


def _cmd_run(args: argparse.Namespace) -> str:
    import numpy as np

    from .session import Session
    from .validation import load_feeds, make_feeds

    session = Session(args.artifact, threads=args.threads)
    feeds = load_feeds(args.inputs) if args.inputs else make_feeds(session.input_specs)
    session.run(None, feeds)  # warm-up
    started = time.perf_counter()
    outputs = session.run(None, feeds)
    ms = (time.perf_counter() - started) * 1000
    names = [o.name for o in session.get_outputs()]
    for name, value in zip(names, outputs, strict=True):
        preview = np.array2string(value.ravel()[:6], precision=4, separator=", ")
        print(f"{name}: shape={list(value.shape)} dtype={value.dtype} {preview}")
    if args.save:
        np.savez(args.save, **dict(zip(names, outputs, strict=True)))
    return f"ran {args.artifact} in {ms:.3f} ms ({session.threads} threads)"


def _cmd_bench(args: argparse.Namespace) -> str:
    from .api import bench
    from .benchmark import markdown_table
    from .manifest import read

    path = args.model_or_artifact
    if args.rpc_tracker:  # timed on the device by its own clock, labelled with the device
        from .remote_run import bench_on_device

        got = bench_on_device(path, _options(args, validate=False), repeats=args.repeats)
        t = got.timing
        return (f"{got.model} ({got.target}) on {got.device}: median {t.median_ms:.3f} ms, "
                f"p90 {t.p90_ms:.3f} ms over {t.repeats} repeats (device clock)")  # fmt: skip
    if path.suffix == ".so":
        model = args.model or Path(read(path)["model"]["path"])
        report = bench(model, path, threads=args.threads, repeats=args.repeats, warmup=args.warmup,
                       options=_options(args, validate=False))  # fmt: skip
    else:
        report = bench(path, threads=args.threads, repeats=args.repeats, warmup=args.warmup,
                       options=_options(args, validate=False))  # fmt: skip
    print(markdown_table([report]))
    return f"tvmforge / onnxruntime = {report.ratio:.2f} (below 1.00: tvmforge is faster)"


def _cmd_validate(args: argparse.Namespace) -> str:
    from .errors import ValidationError
    from .manifest import read
    from .validation import describe_failure, load_feeds, validate

    model = args.model or Path(read(args.artifact)["model"]["path"])
    where = "here"
    if args.rpc_tracker:
        from .remote import address
        from .remote_run import validate_remote

        tracker, key = address(args.rpc_tracker, args.rpc_key)
        feeds = load_feeds(args.inputs) if args.inputs else None
        remote = validate_remote(args.artifact, model, tracker, key, inputs=feeds,
                                 seed=args.seed, wait_s=args.rpc_wait)  # fmt: skip
        result, where = remote.validation, f"on {remote.device}"
    else:
        result = validate(args.artifact, model, inputs=args.inputs, seed=args.seed)
    if result.skipped:
        return f"{args.artifact} {where} not compared: {result.skipped}"
    if not result.passed:
        raise ValidationError(f"{args.artifact} {where} differs from onnxruntime: "
                              f"{describe_failure(result)}")  # fmt: skip
    return (f"{args.artifact} {where} matches onnxruntime on {result.feeds} "
            f"(max abs err {result.max_abs_err:.2g}, max rel err {result.max_rel_err:.2g})")  # fmt: skip


def _cmd_devices(args: argparse.Namespace) -> str:
    from .remote import parse_tracker, pool

    found = pool(parse_tracker(args.rpc_tracker))
    for status in found.keys:
        addrs = [f"{h}:{p}" for k, h, p in found.servers if k == status.key]
        print(f"{status.key:20} total {status.total}  free {status.free}  busy {status.busy}  "
              f"queued {status.pending}  {' '.join(addrs)}")  # fmt: skip
    return f"tracker {found.tracker}: {found.describe()}"


def _cmd_inspect(args: argparse.Namespace) -> str:
    from .manifest import read

    print(json.dumps(read(args.artifact), indent=2))
    return ""


def _cmd_profile(args: argparse.Namespace) -> str:
    from .profile import profile

    result = profile(args.artifact, threads=args.threads, runs=args.runs, warmup=args.warmup)
    print(result.table(args.top))
    return f"{result.model}: {result.wall_ms:.3f} ms per run ({result.threads} threads, {result.runs} runs)"


def _cmd_targets(_args: argparse.Namespace) -> str:
    from .targets import can_run_here, presets

    for preset in presets().values():
        ok, why = can_run_here(preset)
        mark = "runs here" if ok else f"build only: {why}"
        print(f"{preset.name:12} {preset.description:70} [{mark}]")
    return ""


def _cmd_demo(args: argparse.Namespace) -> str:
    from .api import CompileOptions, bench
    from .api import compile as compile_model
    from .benchmark import markdown_table

    out = args.output_dir / "tinynet.so"
    started = time.monotonic()
    artifact = compile_model(SHIPPED_MODEL, out, CompileOptions(tune=True, trials=args.trials))
    print(_compile_summary(artifact, time.monotonic() - started), file=sys.stderr)
    report = bench(SHIPPED_MODEL, out)
    print(markdown_table([report], label=f"tuned {args.trials} trials"))
    return (
        f"tvmforge / onnxruntime = {report.ratio:.2f}; artifact and manifest in {args.output_dir}/"
    )


def _cmd_conformance(args: argparse.Namespace) -> str:
    from .convert.conformance import conformance, frozen_rate, pass_rates

    def progress(result, done: int, total: int) -> None:
        if args.verbose or done % 50 == 0 or done == total:
            mark = "ok" if result.tvmforge else f"FAIL {result.reason}"
            print(f"[{done}/{total}] {result.name}: {mark}", file=sys.stderr)

    results = conformance(
        results_path=args.results,
        table_path=args.table,
        pattern=args.pattern,
        names_file=args.names_file,
        every=args.every,
        workers=args.workers,
        timeout=args.timeout,
        fresh=args.fresh,
        progress=progress,
    )
    tvm_rate, ort_rate = pass_rates(results)
    return (
        f"{len(results)} cases: tvmforge {tvm_rate:.1%}, onnxruntime {ort_rate:.1%} "
        f"(tvmforge with shape parameters frozen: {frozen_rate(results):.1%}); "
        f"table in {args.table}"
    )


def _cmd_nightly(args: argparse.Namespace) -> str:
    from .errors import RegressionError
    from .nightly import run_job

    report = run_job(args.job, night=args.night, track_runs=not args.no_track,
                     tracking_uri=args.tracking_uri)  # fmt: skip
    if report.regressions:
        raise RegressionError(
            f"nightly '{report.job}' {report.night}: {len(report.regressions)} regression(s) ("
            + "; ".join(f"{r.key}: {r.reason}" for r in report.regressions)
            + f"); see {report.html}"
        )  # fmt: skip
    return (f"nightly '{report.job}' {report.night}: {len(report.entries)} model/target runs, "
            f"no regressions; report {report.html}")  # fmt: skip


COMMANDS = {
    "nightly": _cmd_nightly,
    "conformance": _cmd_conformance,
    "compile": _cmd_compile,
    "tune": _cmd_tune,
    "run": _cmd_run,
    "bench": _cmd_bench,
    "inspect": _cmd_inspect,
    "validate": _cmd_validate,
    "devices": _cmd_devices,
    "profile": _cmd_profile,
    "targets": _cmd_targets,
    "demo": _cmd_demo,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tvmforge`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="tvmforge: %(levelname)s: %(message)s",
    )
    try:
        summary = COMMANDS[args.command](args)
    except TvmforgeError as exc:
        if args.debug:
            raise
        kind = "error" if isinstance(exc, UserError) else "internal error"
        print(f"tvmforge: {kind}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("tvmforge: interrupted (finished tuning records are kept)", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug: one line, traceback with --debug
        if args.debug:
            raise
        print(
            f"tvmforge: internal error: {type(exc).__name__}: {exc} (rerun with --debug)",
            file=sys.stderr,
        )
        return 2
    if summary:
        print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
