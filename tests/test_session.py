"""The Session: onnxruntime-shaped, checks the manifest first, thread-safe, compiler-free."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from tests import models
from tests.conftest import subprocess_env
from tvmforge import ArtifactError, FeedError, Session
from tvmforge.validation import make_feeds


def _copy(artifact: Path, folder: Path) -> Path:
    out = folder / artifact.name
    shutil.copy(artifact, out)
    shutil.copy(artifact.with_name(artifact.name + ".json"), folder / (artifact.name + ".json"))
    return out


def _edit_manifest(library: Path, **changes) -> None:
    path = library.with_name(library.name + ".json")
    data = json.loads(path.read_text())
    for dotted, value in changes.items():
        node = data
        *parents, leaf = dotted.split("__")
        for key in parents:
            node = node[key]
        node[leaf] = value
    path.write_text(json.dumps(data))


def test_mirrors_onnxruntime(built_mlp: Path, mlp: Path) -> None:
    session = Session(built_mlp)
    reference = ort.InferenceSession(str(mlp), providers=["CPUExecutionProvider"])
    assert [(i.name, i.shape, i.type) for i in session.get_inputs()] == [
        (i.name, i.shape, i.type) for i in reference.get_inputs()
    ]
    assert [o.name for o in session.get_outputs()] == [o.name for o in reference.get_outputs()]
    feeds = make_feeds(session.input_specs, seed=3)
    ours = session.run(None, feeds)
    theirs = reference.run(None, feeds)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    (hidden,) = session.run(["hidden"], feeds)
    np.testing.assert_allclose(hidden, theirs[1], rtol=1e-4, atol=1e-4)


def test_read_only_aligned_inputs_run(built_mlp: Path) -> None:
    """DLPack cannot share a read-only array; the Session copies it instead of failing."""
    session = Session(built_mlp)
    feeds = make_feeds(session.input_specs, seed=3)
    expected = session.run(None, feeds)
    for name, value in feeds.items():
        buffer = np.empty(value.nbytes + 64, np.uint8)
        start = -buffer.ctypes.data % 64
        frozen = buffer[start : start + value.nbytes].view(value.dtype).reshape(value.shape)
        frozen[...] = value
        frozen.flags.writeable = False
        feeds[name] = frozen
    for a, b in zip(session.run(None, feeds), expected, strict=True):
        np.testing.assert_array_equal(a, b)


def _unaligned(value: np.ndarray) -> np.ndarray:
    """A copy of ``value`` 4 bytes past a 64-byte boundary."""
    buffer = np.empty(value.nbytes + 68, np.uint8)
    start = -buffer.ctypes.data % 64 + 4
    copy = buffer[start : start + value.nbytes].view(value.dtype).reshape(value.shape)
    copy[...] = value
    return copy


def test_unaligned_inputs_reuse_a_buffer_safely(built_mlp: Path, tmp_path: Path) -> None:
    """Unaligned inputs are copied into a buffer kept for the next run; every run sees its own
    values, and an output that is a view of that buffer is not overwritten by the next run."""
    session = Session(built_mlp)
    runs = [make_feeds(session.input_specs, seed=s) for s in (3, 4)]
    expected = [session.run(None, feeds) for feeds in runs]
    for feeds, want in zip(runs + runs, expected + expected, strict=True):
        got = session.run(None, {n: _unaligned(v) for n, v in feeds.items()})
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)

    import tvmforge

    library = tmp_path / "identity.so"
    tvmforge.compile(models.identity(tmp_path / "identity.onnx"), library, target="host",
                     tuning_dir=tmp_path / "tuning_logs")  # fmt: skip
    identity = Session(library)
    values = [np.arange(24, dtype=np.float32).reshape(2, 3, 4) * k for k in (1, 2)]
    held = [identity.run(None, {"x": _unaligned(v)})[0] for v in values]
    for got, value in zip(held, values, strict=True):
        np.testing.assert_array_equal(got, value)


def test_feed_errors_are_reported_together(built_mlp: Path) -> None:
    session = Session(built_mlp)
    with pytest.raises(FeedError) as err:
        session.run(None, {"feature": np.zeros((4, 32), np.float32)})
    assert "missing input(s) ['features']" in str(err.value)
    assert "unknown input(s) ['feature']" in str(err.value)
    with pytest.raises(FeedError, match=r"must have shape \[4, 32\] \(got \[2, 32\]\)"):
        session.run(None, {"features": np.zeros((2, 32), np.float32)})
    with pytest.raises(FeedError, match="must be float32 \\(got float64\\)"):
        session.run(None, {"features": np.zeros((4, 32))})
    with pytest.raises(FeedError, match="unknown output"):
        session.run(["nope"], {"features": np.zeros((4, 32), np.float32)})


def test_refuses_missing_cpu_features(built_mlp: Path, tmp_path: Path) -> None:
    library = _copy(built_mlp, tmp_path)
    _edit_manifest(library, requires__cpu_features=["sse2", "avx512_imaginary"])
    with pytest.raises(ArtifactError, match="lacks \\(avx512_imaginary\\)"):
        Session(library)


def test_refuses_other_architecture(built_mlp: Path, tmp_path: Path) -> None:
    library = _copy(built_mlp, tmp_path)
    _edit_manifest(library, requires__arch="riscv64")
    with pytest.raises(ArtifactError, match="built for riscv64"):
        Session(library)


def test_refuses_changed_library(built_mlp: Path, tmp_path: Path) -> None:
    library = _copy(built_mlp, tmp_path)
    with open(library, "ab") as fh:
        fh.write(b"tampered")
    with pytest.raises(ArtifactError, match="does not match the sha256"):
        Session(library)


def test_refuses_missing_manifest_and_other_runtime(built_mlp: Path, tmp_path: Path) -> None:
    library = _copy(built_mlp, tmp_path)
    _edit_manifest(library, tvm_version="0.19.0")
    with pytest.raises(ArtifactError, match="built with TVM 0.19.0"):
        Session(library)
    library.with_name(library.name + ".json").unlink()
    with pytest.raises(ArtifactError, match="manifest .* is missing"):
        Session(library)


def test_thread_safe(built_mlp: Path) -> None:
    session = Session(built_mlp, threads=1)
    feeds = [make_feeds(session.input_specs, seed=s) for s in range(8)]
    expected = [session.run(None, f)[0] for f in feeds]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda f: session.run(None, f)[0], feeds * 4))
    for got, want in zip(results, expected * 4, strict=True):
        np.testing.assert_array_equal(got, want)


def test_fresh_process_with_runtime_only(built_mlp: Path) -> None:
    """A service: TVM's runtime library alone, no compiler, no onnx, no onnxruntime."""
    code = (
        "import sys, numpy as np\n"
        "from tvmforge import Session\n"
        f"s = Session({str(built_mlp)!r})\n"
        "out = s.run(None, {'features': np.ones((4, 32), np.float32)})\n"
        "heavy = [m for m in ('tvm.relax', 'onnx', 'onnxruntime', 'mlflow', 'tvm.s_tir.meta_schedule')"
        " if m in sys.modules]\n"
        "print(out[0].shape, heavy)\n"
    )
    env = {**subprocess_env(), "TVM_USE_RUNTIME_LIB": "1"}
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "(4, 5) []"
