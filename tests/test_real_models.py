"""Third-party models from the PyPI packages that ship them: compile, validate, bench.

The .onnx files are read from the installed packages (never committed). Install them without
their heavy dependencies (silero-vad requires torch, which tvmforge does not need):

    pip install --no-deps rapidocr-onnxruntime==1.4.4 silero-vad==6.2.3

A package that is absent skips its models, saying so.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import tvmforge
from tvmforge import cli

#: (package, file in the package, input shapes to bind, fixed input values for validation)
MODELS = {
    "ppocrv4_det": (
        "rapidocr_onnxruntime", "models/ch_PP-OCRv4_det_infer.onnx", {"x": (1, 3, 64, 64)}, {}
    ),
    "ppocrv4_rec": (
        "rapidocr_onnxruntime", "models/ch_PP-OCRv4_rec_infer.onnx", {"x": (1, 3, 48, 64)}, {}
    ),
    "ppocr_cls": (
        "rapidocr_onnxruntime", "models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
        {"x": (1, 3, 48, 96)}, {},
    ),
    "silero_vad": (
        "silero_vad", "data/silero_vad.onnx", {"input": (1, 576), "state": (2, 1, 128)},
        {"sr": np.array(16000, dtype=np.int64)},
    ),
    "silero_vad_16k_op15": (
        "silero_vad", "data/silero_vad_16k_op15.onnx",
        {"input": (1, 576), "state": (2, 1, 128)}, {"sr": np.array(16000, dtype=np.int64)},
    ),
    "silero_vad_16k_sequence": (
        "silero_vad", "data/silero_vad_16k_sequence.onnx", {"input": (4, 576)}, {}
    ),
    "silero_vad_half": (
        "silero_vad", "data/silero_vad_half.onnx", {"input": (1, 576), "state": (2, 1, 128)}, {}
    ),
    "silero_vad_op18_ifless": (
        "silero_vad", "data/silero_vad_op18_ifless.onnx",
        {"input": (1, 576), "state": (2, 1, 128)}, {"sr": np.array(16000, dtype=np.int64)},
    ),
    "silero_vad_openvino_16k": ("silero_vad", "data/silero_vad_openvino_16k.onnx", {}, {}),
}  # fmt: skip


def _model_path(package: str, relative: str) -> Path:
    spec = importlib.util.find_spec(package)  # finds, does not import (silero_vad imports torch)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"{package} is not installed: pip install --no-deps {package}")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        pytest.skip(f"{package} has no {relative} (another version?)")
    return path


@pytest.mark.parametrize("name", sorted(MODELS))
def test_compiles_and_validates(name: str, tmp_path: Path) -> None:
    package, relative, shapes, values = MODELS[name]
    path = _model_path(package, relative)
    inputs = None
    if values:
        import onnx

        from tvmforge.shapes import graph_inputs

        rng = np.random.default_rng(0)
        feeds = dict(values)
        for vi in graph_inputs(onnx.load(str(path), load_external_data=False)):
            if vi.name not in feeds:
                feeds[vi.name] = rng.standard_normal(shapes[vi.name]).astype(np.float32)
        inputs = tmp_path / "feeds.npz"
        np.savez(inputs, **feeds)
    artifact = tvmforge.compile(
        path, tmp_path / f"{name}.so", input_shapes=shapes, inputs=inputs, schedules_dir=None
    )
    assert artifact.validation is not None and artifact.validation.passed
    assert artifact.validation.max_abs_err < 1e-4


def test_bench_runs_on_a_real_model(tmp_path: Path) -> None:
    path = _model_path("silero_vad", "data/silero_vad_openvino_16k.onnx")
    out = tmp_path / "vad.so"
    tvmforge.compile(path, out, validate=False, schedules_dir=None)
    assert cli.main(["bench", str(out), "--repeats", "3", "--warmup", "1"]) == 0
