"""ONNX node conformance: every backend test case through the tvmforge pipeline and onnxruntime.

Each case runs in a worker subprocess with a time limit, so a crash or hang inside TVM counts as
that case's failure and the run goes on. Results are appended as JSON lines, so an interrupted
run resumes where it stopped.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The comparison used for both engines: floats within rtol/atol, everything else exact.
RTOL = 1e-3
ATOL = 1e-5

_EXPANDED = re.compile(r"_expanded(_ver\d+)?$")


@dataclass(frozen=True, slots=True)
class CaseResult:
    """One case: pass/fail of each engine and why it failed."""

    name: str
    op: str
    tvmforge: bool
    onnxruntime: bool
    reason: str = ""
    ort_reason: str = ""
    seconds: float = 0.0
    #: With shape-parameter inputs frozen (tried only when the strict run failed): None = n/a.
    frozen: bool | None = None
    frozen_reason: str = ""

    @property
    def passes_frozen(self) -> bool:
        """Passes strictly, or with its shape-parameter inputs frozen."""
        return self.tvmforge or bool(self.frozen)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "op": self.op,
            "tvmforge": self.tvmforge,
            "onnxruntime": self.onnxruntime,
            "reason": self.reason,
            "ort_reason": self.ort_reason,
            "seconds": round(self.seconds, 2),
            "frozen": self.frozen,
            "frozen_reason": self.frozen_reason,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CaseResult:
        return cls(**data)


def collect_cases() -> dict[str, Any]:
    """Every node test case of the installed onnx, by name."""
    import warnings

    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = collect_testcases()
    return {case.name: case for case in cases}


def case_op(case, cases: dict[str, Any]) -> str:
    """The op a case tests: its node's type; expanded cases take the op of their original."""
    base = _EXPANDED.sub("", case.name)
    if base != case.name and base in cases:
        case = cases[base]
    nodes = case.model.graph.node
    return nodes[0].op_type if len(nodes) == 1 else (nodes[-1].op_type if nodes else "?")


# --------------------------------------------------------------------------- comparison


def compare(expected: list, got: list) -> str:
    """'' when ``got`` matches ``expected`` (floats within RTOL/ATOL, others exact), else why."""
    import numpy as np

    if len(got) < len(expected):
        return f"{len(got)} outputs, expected {len(expected)}"
    for i, (want, have) in enumerate(zip(expected, got, strict=False)):
        if isinstance(want, list | dict) or want is None:
            return f"output {i} is a sequence/optional"
        want = np.asarray(want)
        have = np.asarray(have)
        if want.shape != have.shape:
            return f"output {i} shape {list(have.shape)}, expected {list(want.shape)}"
        if want.dtype.kind in "fc" or str(want.dtype).startswith(("bfloat16", "float8", "float4")):
            w = want.astype(np.float64)
            try:
                h = have.astype(np.float64)
            except (TypeError, ValueError):
                return f"output {i} dtype {have.dtype}, expected {want.dtype}"
            if not np.allclose(h, w, rtol=RTOL, atol=ATOL, equal_nan=True):
                err = np.nanmax(np.abs(h - w)) if h.size else 0.0
                return f"output {i} differs (max abs err {err:.3g})"
        else:
            if want.dtype != have.dtype and want.dtype.kind != "O":
                return f"output {i} dtype {have.dtype}, expected {want.dtype}"
            if not np.array_equal(want, have):
                return f"output {i} differs"
    return ""


def _arrays(values: list) -> list:
    """Test data as numpy arrays (some cases store TensorProto for exotic dtypes)."""
    import onnx
    from onnx import numpy_helper

    return [numpy_helper.to_array(v) if isinstance(v, onnx.TensorProto) else v for v in values]


def _data_sets(case) -> list[tuple[list, list]]:
    return [(_arrays(list(i)), _arrays(list(o))) for i, o in case.data_sets]


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[-1] if text else ""
    return f"{type(exc).__name__}: {line}"[:240]


# --------------------------------------------------------------------------- one case


def run_onnxruntime(case) -> str:
    """'' when onnxruntime passes ``case``, else the reason."""
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 4
    try:
        session = ort.InferenceSession(
            case.model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        names = [i.name for i in session.get_inputs()]
        for inputs, outputs in _data_sets(case):
            # 0-d inputs arrive as numpy scalars, which onnxruntime's run() rejects
            feeds = [np.asarray(x) if isinstance(x, np.generic) else x for x in inputs]
            got = session.run(None, dict(zip(names, feeds, strict=False)))
            why = compare(outputs, got)
            if why:
                return why
    except Exception as exc:  # noqa: BLE001 - any failure is the case's result
        return _short(exc)
    return ""


def run_tvmforge(case, work: Path, *, freeze: bool = False) -> str:
    """'' when tvmforge passes ``case``, else the reason.

    The pipeline is the one ``tvmforge.compile`` runs, untuned: load -> bind_shapes -> to_relax
    -> optimize -> build.export -> Session. With ``freeze``, the inputs that feed shape
    parameters (``rewrites.freeze.SHAPE_PARAMETERS``) become initializers of the case's values
    and the model is compiled once per data set.
    """
    from ..shapes import graph_inputs
    from .rewrites.freeze import freeze_inputs, shape_parameter_inputs

    try:
        names = [vi.name for vi in graph_inputs(case.model)]
        data = _data_sets(case)
        for inputs, _ in data:
            if any(isinstance(x, list | dict) or x is None for x in inputs):
                return "input is a sequence/optional"
        if not freeze:
            return _compile_and_check(case.model, names, data, work)
        frozen = shape_parameter_inputs(case.model)
        if not frozen:
            return "no shape-parameter inputs to freeze"
        for k, (inputs, outputs) in enumerate(data):
            values = {n: x for n, x in zip(names, inputs, strict=False) if n in frozen}
            rest = [(n, x) for n, x in zip(names, inputs, strict=False) if n not in frozen]
            model = freeze_inputs(case.model, values)
            why = _compile_and_check(
                model, [n for n, _ in rest], [([x for _, x in rest], outputs)], work / str(k)
            )
            if why:
                return why
    except Exception as exc:  # noqa: BLE001 - any failure is the case's result
        return _short(exc)
    return ""


def _compile_and_check(proto, names: list[str], data: list, work: Path) -> str:
    import numpy as np
    import onnx

    from ..build import export
    from ..load import load_model
    from ..optimize import optimize
    from ..session import Session
    from ..shapes import bind_shapes
    from ..targets import resolve_target
    from . import to_relax

    work.mkdir(parents=True, exist_ok=True)
    path = work / "model.onnx"
    onnx.save(proto, str(path))
    shapes = {n: tuple(np.asarray(x).shape) for n, x in zip(names, data[0][0], strict=False)}
    preset = resolve_target("host")
    bound = bind_shapes(load_model(path), shapes)
    mod = optimize(to_relax(bound), preset)
    artifact = export(mod, bound, preset, work / "model.so")
    session = Session(artifact.library, threads=1)
    for inputs, outputs in data:
        got = session.run(None, dict(zip(names, inputs, strict=False)))
        why = compare(outputs, got)
        if why:
            return why
    return ""


# --------------------------------------------------------------------------- workers


def _worker_main() -> None:
    """Serve case names from stdin; answer JSON lines on the original stdout."""
    import logging
    import tempfile
    import warnings

    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the worker
    cases = collect_cases()
    channel.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        name = line.strip()
        if not name:
            continue
        case = cases[name]
        channel.write(json.dumps({"ort": run_onnxruntime(case)}) + "\n")
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="tvmforge-conf-") as tmp:
            reason = run_tvmforge(case, Path(tmp))
        channel.write(json.dumps({"tvm": reason, "seconds": time.perf_counter() - start}) + "\n")
        frozen = None
        if reason:
            with tempfile.TemporaryDirectory(prefix="tvmforge-conf-") as tmp:
                frozen = run_tvmforge(case, Path(tmp), freeze=True)
            if frozen == "no shape-parameter inputs to freeze":
                frozen = None
        channel.write(json.dumps({"frozen": frozen}) + "\n")


class _Worker:
    """A worker subprocess, restarted after a crash or a timeout."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.lines: queue.Queue[str] = queue.Queue()

    def _start(self) -> None:
        env = dict(os.environ)
        env.setdefault("TVM_NUM_THREADS", "1")
        env.setdefault("OMP_NUM_THREADS", "1")
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        code = "from tvmforge.convert.conformance import _worker_main; _worker_main()"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        self.lines = queue.Queue()
        threading.Thread(target=self._pump, args=(self.proc,), daemon=True).start()
        ready = self._read(120.0)
        if not ready or not ready.get("ready"):
            self.stop()
            raise RuntimeError("conformance worker did not start")

    def _read(self, timeout: float) -> dict | None:
        """The worker's next message, or None after ``timeout`` s or when it died."""
        try:
            line = self.lines.get(timeout=max(timeout, 0.01))
        except queue.Empty:
            return None
        return json.loads(line) if line else None

    def _pump(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.put(line)
        self.lines.put("")  # end of stream: the worker died

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def run(self, name: str, timeout: float) -> dict[str, Any]:
        """{"ort": reason or None if lost, "tvm": reason, "seconds", "frozen": reason or None}."""
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        assert self.proc is not None and self.proc.stdin is not None
        start = time.monotonic()
        self.proc.stdin.write(name + "\n")
        self.proc.stdin.flush()
        result: dict[str, Any] = {"ort": None, "tvm": "", "seconds": 0.0, "frozen": None}
        ort = self._read(timeout)
        if ort is None:
            return {**result, "tvm": self._lost(timeout), "seconds": time.monotonic() - start}
        result["ort"] = ort["ort"]
        tvm = self._read(timeout - (time.monotonic() - start))
        if tvm is None:
            return {**result, "tvm": self._lost(timeout), "seconds": time.monotonic() - start}
        result.update(tvm=tvm["tvm"], seconds=tvm["seconds"])
        frozen = self._read(timeout)
        result["frozen"] = self._lost(timeout) if frozen is None else frozen["frozen"]
        return result

    def _lost(self, timeout: float) -> str:
        code = self.proc.poll() if self.proc else None
        self.stop()
        if code is None:
            return f"timeout after {timeout:.0f} s"
        return f"crash (exit code {code})"


def run_cases(
    names: Iterable[str],
    results_path: Path,
    *,
    workers: int = 2,
    timeout: float = 120.0,
    progress: Callable[[CaseResult, int, int], None] | None = None,
) -> list[CaseResult]:
    """Run ``names`` (skipping those already in ``results_path``) and return every result.

    Results are appended to ``results_path`` as they come, one JSON object a line.
    """
    cases = collect_cases()
    names = list(names)
    done = {r.name: r for r in load_results(results_path) if r.name in set(names)}
    todo: queue.Queue[str] = queue.Queue()
    for name in names[::7] + [n for i, n in enumerate(names) if i % 7]:
        if name not in done:  # spread over the alphabet: a partial run is a fair sample
            todo.put(name)
    total = todo.qsize()
    results_path.parent.mkdir(parents=True, exist_ok=True)
    lock = threading.Lock()
    counter = [0]

    def serve() -> None:
        worker = _Worker()
        try:
            while True:
                try:
                    name = todo.get_nowait()
                except queue.Empty:
                    return
                got = worker.run(name, timeout)
                ort = got["ort"]
                if ort is None:
                    ort = run_onnxruntime(cases[name])
                reason, seconds, frozen = got["tvm"], got["seconds"], got["frozen"]
                result = CaseResult(
                    name=name,
                    op=case_op(cases[name], cases),
                    tvmforge=not reason,
                    onnxruntime=not ort,
                    reason=reason,
                    ort_reason=ort,
                    seconds=seconds,
                    frozen=None if frozen is None else not frozen,
                    frozen_reason=frozen or "",
                )
                with lock:
                    done[name] = result
                    with open(results_path, "a") as fh:
                        fh.write(json.dumps(result.to_json()) + "\n")
                    counter[0] += 1
                    if progress:
                        progress(result, counter[0], total)
        finally:
            worker.stop()

    threads = [threading.Thread(target=serve, daemon=True) for _ in range(max(1, workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [done[n] for n in names if n in done]


def load_results(path: Path) -> list[CaseResult]:
    """Results written so far (the last line per case wins)."""
    if not path.exists():
        return []
    by_name: dict[str, CaseResult] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            try:
                result = CaseResult.from_json(json.loads(line))
            except (ValueError, TypeError):
                continue
            by_name[result.name] = result
    return list(by_name.values())


# --------------------------------------------------------------------------- report


def pass_rates(results: list[CaseResult]) -> tuple[float, float]:
    """(tvmforge pass rate, onnxruntime pass rate) over ``results``: every input a runtime input."""
    if not results:
        return 0.0, 0.0
    n = len(results)
    return (
        sum(r.tvmforge for r in results) / n,
        sum(r.onnxruntime for r in results) / n,
    )


def frozen_rate(results: list[CaseResult]) -> float:
    """tvmforge pass rate when shape-parameter inputs may be frozen into constants."""
    return sum(r.passes_frozen for r in results) / len(results) if results else 0.0


def _reason_class(reason: str) -> str:
    reason = re.sub(r"'[^']*'", "'…'", reason)
    reason = re.sub(r"\(Error converting operator (\w+).*?\)", r"[\1]", reason)
    reason = re.sub(r"\d+(\.\d+)?(e-?\d+)?", "N", reason)
    reason = reason.replace("; bind more dims with --input-shape or file an issue with this", "")
    return reason[:120]


def markdown_table(results: list[CaseResult], *, header: str = "") -> str:
    """The per-op table: cases, tvmforge pass (strict, frozen), onnxruntime pass, failure."""
    from collections import Counter, defaultdict

    by_op: dict[str, list[CaseResult]] = defaultdict(list)
    for r in results:
        by_op[r.op].append(r)
    tvm_rate, ort_rate = pass_rates(results)
    n = len(results)
    count = lambda rs, attr: sum(bool(getattr(r, attr)) for r in rs)  # noqa: E731
    lines = [
        "# ONNX node conformance: tvmforge vs onnxruntime",
        "",
        header,
        "",
        f"**{n} cases. Every input fed at run time (the strict comparison): tvmforge passes "
        f"{count(results, 'tvmforge')} ({tvm_rate:.1%}), onnxruntime passes "
        f"{count(results, 'onnxruntime')} ({ort_rate:.1%}).**",
        "",
        f"With shape-parameter inputs frozen into constants (the inputs listed in "
        f"`tvmforge/convert/rewrites/freeze.py`: Reshape's shape, Resize's scales/sizes, "
        f"reduction axes, TopK's k, Pad's pads, Slice's starts/ends, ..., as real models carry "
        f"them), tvmforge passes {count(results, 'passes_frozen')} ({frozen_rate(results):.1%}). "
        "In the strict run, such inputs fed at run time give symbolic output dims (read from "
        "the fed values when the model runs); the frozen run compiles them as constants. "
        "onnxruntime's column is always the strict one.",
        "",
        f"Comparison: floats with rtol {RTOL:g}, atol {ATOL:g} (float16/bfloat16 included); "
        "other types exact. A crash or a timeout of a case counts as its failure.",
        "",
        "| op | cases | tvmforge | tvmforge, params frozen | onnxruntime "
        "| tvmforge failure (most common, strict) |",
        "|---|---|---|---|---|---|",
    ]
    for op in sorted(by_op, key=str.lower):
        group = by_op[op]
        fails = Counter(_reason_class(r.reason) for r in group if not r.tvmforge)
        why = ""
        if fails:
            text, k = fails.most_common(1)[0]
            why = f"{text} ({k})".replace("|", "\\|")
        lines.append(
            f"| {op} | {len(group)} | {count(group, 'tvmforge')} | "
            f"{count(group, 'passes_frozen')} | {count(group, 'onnxruntime')} | {why} |"
        )
    return "\n".join(lines) + "\n"


def pick_subset(results: list[CaseResult], *, per_op: int = 3, limit: int = 180) -> list[str]:
    """Passing cases for a fast CI subset: the cheapest ``per_op`` of every op, up to ``limit``."""
    from collections import defaultdict

    by_op: dict[str, list[CaseResult]] = defaultdict(list)
    for r in sorted(results, key=lambda r: (r.seconds, r.name)):
        if r.tvmforge and len(by_op[r.op]) < per_op:
            by_op[r.op].append(r)
    rounds = [
        [group[k] for group in by_op.values() if len(group) > k] for k in range(per_op)
    ]  # every op's cheapest case first, then every op's second, ...
    picked = [r.name for level in rounds for r in sorted(level, key=lambda r: r.seconds)]
    return sorted(picked[:limit])


def select_cases(
    cases: Iterable[str],
    *,
    pattern: str | None = None,
    names_file: Path | None = None,
    every: int = 1,
) -> list[str]:
    """Case names filtered by a regex, a file of names (one a line, # comments) and sampling."""
    names = sorted(cases)
    if names_file is not None:
        wanted = [line.split("#")[0].strip() for line in Path(names_file).read_text().splitlines()]
        keep = {w for w in wanted if w}
        names = [n for n in names if n in keep]
    if pattern:
        names = [n for n in names if re.search(pattern, n)]
    return names[:: max(1, every)]


def conformance(
    *,
    results_path: Path = Path("build/conformance/results.jsonl"),
    table_path: Path | None = None,
    pattern: str | None = None,
    names_file: Path | None = None,
    every: int = 1,
    workers: int = 2,
    timeout: float = 120.0,
    fresh: bool = False,
    progress: Callable[[CaseResult, int, int], None] | None = None,
) -> list[CaseResult]:
    """Run the selected conformance cases (resuming from ``results_path``), write the table.

    Returns the results of every selected case.
    """
    if fresh and results_path.exists():
        results_path.unlink()
    names = select_cases(collect_cases(), pattern=pattern, names_file=names_file, every=every)
    start = time.monotonic()
    results = run_cases(names, results_path, workers=workers, timeout=timeout, progress=progress)
    if table_path is not None:
        import onnx
        import onnxruntime
        import tvm

        header = (
            f"Generated by `benchmarks/conformance.py` on {time.strftime('%Y-%m-%d')}: onnx "
            f"{onnx.__version__}, onnxruntime {onnxruntime.__version__}, apache-tvm "
            f"{tvm.__version__}, target host, untuned, {workers} workers, {timeout:.0f} s per "
            f"case; this session ran {len(names)} selected cases in "
            f"{time.monotonic() - start:.0f} s (resumed cases not timed)."
        )
        table_path.parent.mkdir(parents=True, exist_ok=True)
        table_path.write_text(markdown_table(results, header=header))
    return results


if __name__ == "__main__":  # pragma: no cover - the worker entry point
    _worker_main()
