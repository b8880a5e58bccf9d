"""Export for every kind of target, including the ones this machine cannot run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import tvmforge
from tvmforge.manifest import read


def test_manifest_describes_the_artifact(built_mlp: Path) -> None:
    data = read(built_mlp)
    assert data["schema_version"] == 1
    assert [i["name"] for i in data["inputs"]] == ["features"]
    assert data["outputs"] == [
        {"name": "logits", "shape": [4, 5], "dtype": "float32"},
        {"name": "hidden", "shape": [4, 64], "dtype": "float32"},
    ]
    assert data["target"]["name"] == "host"
    assert "sse2" in data["requires"]["cpu_features"]
    assert data["tvm_version"].startswith("0.27")
    assert len(data["model"]["sha256"]) == 64 and len(data["library"]["sha256"]) == 64
    assert data["validation"]["passed"] is True
    assert data["config"]["target"] == "host"


@pytest.mark.parametrize("target", ["x86-avx512", "x86-avx2", "x86-64"])
def test_x86_presets_build_and_validate_where_supported(
    mlp: Path, tmp_path: Path, target: str
) -> None:
    from tvmforge.targets import can_run_here, resolve_target

    artifact = tvmforge.compile(mlp, tmp_path / f"{target}.so", target=target)
    runnable, _ = can_run_here(resolve_target(target))
    assert (artifact.validation is not None) == runnable
    if runnable:
        assert artifact.validation.passed


@pytest.mark.skipif(
    shutil.which("aarch64-linux-gnu-gcc") is None,
    reason="aarch64-linux-gnu-gcc missing: apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross",
)
def test_arm_neon_is_an_aarch64_elf(mlp: Path, tmp_path: Path) -> None:
    artifact = tvmforge.compile(mlp, tmp_path / "arm.so", target="arm-neon")
    header = artifact.library.read_bytes()[:20]
    assert header[:4] == b"\x7fELF"
    assert int.from_bytes(header[18:20], "little") == 183  # EM_AARCH64
    assert artifact.validation is None  # cannot run here; validated on a board instead
    assert artifact.manifest["requires"] == {
        "arch": "aarch64",
        "cpu_features": ["asimd"],
        "cuda_arch": None,
        "libraries": [],  # oneDNN kernels are for x86 builds
        "parallel": "tvm",  # so TVM's pool runs the parallel loops
    }


def test_cuda_sm90_embeds_device_code(mlp: Path, tmp_path: Path) -> None:
    """TVM 0.27 embeds each kernel as CUDA C in the .so; the GPU host's runtime compiles it
    (NVRTC) for its own arch at load. The manifest pins the arch the schedules were made for."""
    artifact = tvmforge.compile(mlp, tmp_path / "cuda.so", target="cuda-sm90")
    blob = artifact.library.read_bytes()
    assert b'extern "C" __global__' in blob  # the device code
    assert b"fused_matmul_add_relu_kernel" in blob
    assert artifact.manifest["requires"]["cuda_arch"] == "sm_90"
    assert artifact.validation is None  # no GPU here


def test_an_empty_constant_output_loads(tmp_path: Path) -> None:
    """TVM cannot reload a 0-byte constant from a .so; export allocates it instead."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from tvmforge.session import Session

    empty = numpy_helper.from_array(np.zeros((2, 0), np.float32), "empty")
    graph = helper.make_graph(
        [
            helper.make_node("Relu", ["x"], ["y"]),
            helper.make_node("Constant", [], ["nothing"], value=empty),
        ],
        "empty_constant",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [3]),
            helper.make_tensor_value_info("nothing", TensorProto.FLOAT, [2, 0]),
        ],
    )
    path = tmp_path / "empty.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    artifact = tvmforge.compile(path, tmp_path / "empty.so")
    y, nothing = Session(artifact.library).run(None, {"x": np.array([-1, 0, 2], np.float32)})
    assert y.tolist() == [0, 0, 2] and nothing.shape == (2, 0)
