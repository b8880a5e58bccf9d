"""oneDNN convolutions: the kernel's numerics, the per-operator choice and the artifact's needs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tvmforge
from tests import models
from tests.conftest import subprocess_env
from tvmforge import kernels

pytestmark = pytest.mark.skipif(
    not kernels.available(), reason=f"oneDNN not installed: pip install {kernels.PIP_PACKAGE}"
)


def _model_fixture(build, name: str | None = None):
    """A module-scoped fixture (named after ``build`` unless ``name``) of the model it builds."""

    name = name or build.__name__

    @pytest.fixture(scope="module", name=name)
    def fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
        return build(tmp_path_factory.mktemp("models") / f"{name}.onnx")

    return fixture


conv_zoo = _model_fixture(models.conv_zoo)
deconv_net = _model_fixture(models.deconv_net)
winograd_net = _model_fixture(models.winograd_net)
stem_net = _model_fixture(models.stem_net)
shallow_net = _model_fixture(models.shallow_net)
fire_net = _model_fixture(models.fire_net)
winograd_batch2 = _model_fixture(lambda path: models.winograd_net(path, batch=2), "winograd_batch2")
attention = _model_fixture(models.self_attention, "attention")


def _graph(model: Path):
    from tvmforge.convert import to_relax
    from tvmforge.load import load_model
    from tvmforge.optimize import prepare_graph
    from tvmforge.shapes import bind_shapes
    from tvmforge.targets import resolve_target

    preset = resolve_target("host")
    return prepare_graph(to_relax(bind_shapes(load_model(model))), preset, nhwc=True), preset


def test_every_epilogue_becomes_one_kernel_call(conv_zoo: Path) -> None:
    from tvmforge.offload import find_sites

    graph, _ = _graph(conv_zoo)
    described = sorted(site.describe() for site in find_sites(graph["main"]))
    assert described == sorted([
        "conv2d 1x28x28x16 * 32x3x3x16 s1 g1 +bias relu",
        "conv2d 1x28x28x32 * 32x3x3x32 s2 g1 +bias",
        "conv2d 1x14x14x32 * 32x3x3x1 s1 g32 +bias clip",
        "conv2d 1x14x14x32 * 32x1x1x32 s1 g1 +bias+res relu",
        "conv2d 1x14x14x32 * 32x1x1x32 s1 g1 +bias relu+res",  # the residual after the ReLU
        "conv2d 1x14x14x32 * 8x3x3x32 s1 g1 +bias",
    ])  # fmt: skip


def test_transposed_convolutions_are_sites(deconv_net: Path) -> None:
    from tvmforge.offload import find_sites

    graph, _ = _graph(deconv_net)
    described = sorted(site.describe() for site in find_sites(graph["main"]))
    assert described == [
        "conv2d_transpose 1x10x10x8 * 8x6x2x2 s2 +bias relu",
        "conv2d_transpose 1x20x20x6 * 6x4x3x3 s2 +bias",  # output padding folded in
    ]


def test_dense_layers_are_sites(mlp: Path) -> None:
    from tvmforge.offload import find_sites

    graph, _ = _graph(mlp)
    described = sorted(site.describe() for site in find_sites(graph["main"]))
    assert described == ["dense 4x32 * 32x64 +bias relu", "dense 4x64 * 64x5 +bias"]


def test_products_of_two_run_time_tensors_are_sites(attention: Path) -> None:
    from tvmforge.offload import find_sites

    graph, _ = _graph(attention)
    described = sorted(site.describe() for site in find_sites(graph["main"]))
    assert described == ["batch_matmul 2x3x8x4 * 2x3x4x8", "batch_matmul 2x3x8x8 * 2x3x8x4"]


def test_winograd_runs_3x3_stride_1_convolutions_of_16_channel_multiples(
    conv_zoo: Path, winograd_net: Path
) -> None:
    from tvmforge.offload import WINOGRAD, find_sites

    for model, expected in [(conv_zoo, ["conv2d 1x28x28x16 * 32x3x3x16 s1 g1 +bias relu"]),
                            (winograd_net, [
                                "conv2d 1x15x15x16 * 32x3x3x16 s1 g1 +bias relu",
                                "conv2d 1x15x15x32 * 16x3x3x32 s1 g1 +bias clip",
                                "conv2d 1x15x15x32 * 32x3x3x32 s1 g1 +bias relu+res",
                                "conv2d 1x15x15x32 * 32x3x3x32 s1 g1 +bias+res relu"])]:  # fmt: skip
        graph, _ = _graph(model)
        sites = find_sites(graph["main"])
        assert sorted(s.describe() for s in sites if WINOGRAD in s.library_kernels) == expected


@pytest.mark.parametrize(
    ("fixture", "kernel", "calls", "shape"),
    [("conv_zoo", "tvmforge_dnnl_conv2d", 6, (1, 16, 28, 28)),
     ("winograd_net", "tvmforge_winograd_conv2d", 4, (1, 16, 15, 15)),
     ("winograd_net", "tvmforge_winograd2_conv2d", 4, (1, 16, 15, 15)),
     ("winograd_batch2", "tvmforge_winograd_conv2d", 4, (2, 16, 15, 15)),
     ("winograd_batch2", "tvmforge_winograd2_conv2d", 4, (2, 16, 15, 15)),
     ("winograd_batch2", "tvmforge_im2col_conv2d", 1, (2, 16, 15, 15)),  # 3x3x16
     ("conv_zoo", "tvmforge_im2col_conv2d", 1, (1, 16, 28, 28)),  # 3x3x16 (not 1x1 stride 1)
     ("stem_net", "tvmforge_im2col_conv2d", 2, (1, 3, 17, 17)),
     ("stem_net", "tvmforge_shallow_conv2d_nchw", 1, (1, 3, 17, 17)),  # no input transpose
     ("shallow_net", "tvmforge_shallow_conv2d", 2, (1, 3, 40, 40)),
     ("fire_net", "tvmforge_winograd_conv2d_concat", 1, (1, 16, 15, 15)),
     ("fire_net", "tvmforge_winograd2_conv2d_concat", 1, (1, 16, 15, 15)),
     ("shallow_net", "tvmforge_im2col_conv2d", 2, (1, 3, 40, 40)),
     ("deconv_net", "tvmforge_dnnl_conv2d_transpose", 2, (1, 8, 10, 10)),
     ("deconv_net", "tvmforge_dnnl_conv2d_transpose", 0, (1, 8, 10, 10)),  # TVM's, in NCHW
     ("mlp", "tvmforge_dnnl_dense", 2, (4, 32)),
     ("attention", "tvmforge_dnnl_batch_matmul", 2, (2, 3, 8, 4))],
)  # fmt: skip
def test_offloaded_model_matches_onnxruntime(
    request: pytest.FixtureRequest, fixture: str, kernel: str, calls: int, shape, tmp_path: Path
) -> None:
    """Every site ``kernel``'s library can run forced into it, the others into oneDNN (or none,
    ``calls`` 0): outputs equal onnxruntime's."""
    from tvmforge._tvm import relax, tvm
    from tvmforge.offload import LIBRARY_KERNELS, ONEDNN, find_sites, offload
    from tvmforge.optimize import lower
    from tvmforge.types import TensorSpec
    from tvmforge.validation import make_feeds, onnxruntime_outputs

    model = request.getfixturevalue(fixture)
    graph, preset = _graph(model)
    library = next(k for k in LIBRARY_KERNELS if f"_{k}_" in kernel.replace("dnnl", ONEDNN))
    sites = find_sites(graph["main"]) if calls else []
    chosen = {s.key: library if library in s.library_kernels else ONEDNN for s in sites}
    mod = lower(offload(graph, chosen), preset)
    script = mod["main"].script()
    assert script.count(kernel) == calls
    assert ("R.concat" in script) == (fixture == "fire_net" and not kernel.endswith("_concat"))
    executable = tvm.compile(kernels.attach(mod), tvm.target.Target(preset.target))
    executable.export_library(str(tmp_path / "m.so"), options=kernels.link_options())
    kernels.preload()
    vm = relax.VirtualMachine(tvm.runtime.load_module(str(tmp_path / "m.so")), tvm.cpu())
    name = load_input_name(model)
    feeds = make_feeds((TensorSpec(name, shape, "float32"),), seed=4)
    ours = vm["main"](tvm.runtime.tensor(feeds[name]))
    theirs = onnxruntime_outputs(model, feeds)
    for got, want in zip([ours[0].numpy(), ours[1].numpy()], theirs.values(), strict=True):
        assert float(np.std(want)) > 0.1  # not saturated: the comparison means something
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def load_input_name(model: Path) -> str:
    import onnx

    return onnx.load(str(model)).graph.input[0].name


def test_new_weights_at_a_reused_address_are_not_served_from_the_cache(
    stem_net: Path, tmp_path: Path
) -> None:
    """A model loaded after another was unloaded can get its weights at the same address (a
    retrained model swapped in): the kernels' caches (oneDNN's reordered weights, the shallow
    kernel's repacked ones) must not hand back the old ones. Simulated by overwriting one
    weight tensor in place."""
    from tvmforge._tvm import tvm

    artifact = tvmforge.compile(stem_net, tmp_path / "stem.so", kernels="onednn")
    kernels.preload()
    module = tvm.runtime.load_module(str(artifact.library))
    for kernel in ("tvmforge_dnnl_conv2d", "tvmforge_shallow_conv2d"):
        _check_reused_address(module.get_function(kernel, query_imports=True))


def _check_reused_address(conv) -> None:
    """``conv`` (a conv2d kernel function) after its weights are overwritten in place computes
    with the new values, as it does given them in a new tensor."""
    from tvmforge._tvm import tvm

    rng = np.random.default_rng(0)
    x = tvm.runtime.tensor(rng.standard_normal((1, 17, 17, 3), dtype=np.float32))
    bias = tvm.runtime.tensor(np.zeros(16, np.float32))
    clip = tvm.runtime.tensor(np.zeros(2, np.float32))
    old, new = (rng.standard_normal((16, 3, 3, 3), dtype=np.float32) for _ in range(2))

    def run(weights) -> np.ndarray:
        out = tvm.runtime.tensor(np.zeros((1, 8, 8, 16), np.float32))
        conv(x, weights, bias, 2, 2, 0, 0, 0, 0, 1, 1, 1, 0, clip, out)  # 3x3/2, no activation
        return out.numpy()

    reused = tvm.runtime.tensor(old)
    before = run(reused)
    reused.copyfrom(new)  # same address, new values
    np.testing.assert_allclose(run(reused), run(tvm.runtime.tensor(new)), rtol=1e-5, atol=1e-5)
    assert not np.allclose(before, run(reused))


def test_compile_measures_each_workload_and_records_the_choice(
    conv_zoo: Path, tmp_path: Path
) -> None:
    """Each workload is timed in TVM and each library kernel that can run it; the fastest is
    built in and the manifest says so.

    Which one wins is a measurement (on a loaded machine oneDNN's OpenMP team loses), so the
    test holds the bookkeeping, not the winner.
    """
    artifact = tvmforge.compile(conv_zoo, tmp_path / "zoo.so", kernels="auto")
    choices = artifact.manifest["kernels"]
    assert sum(c["sites"] for c in choices) == 6
    assert all(c["tvm_us"] > 0 and c["onednn_us"] > 0 for c in choices)
    assert sum("winograd_us" in c and "winograd2_us" in c for c in choices) == 1  # 3x3 s1
    assert sum("im2col_us" in c for c in choices) == 1  # 3x3x16; 1x1 stride 1 are not offered
    for c in choices:
        timed = {k.removesuffix("_us"): v for k, v in c.items() if k.endswith("_us")}
        assert c["winner"] == min(timed, key=timed.__getitem__)
    library = any(c["winner"] != "tvm" for c in choices)
    assert artifact.manifest["requires"]["libraries"] == ([kernels.LIBRARY] if library else [])
    assert artifact.validation.passed


def test_kernels_onednn_runs_every_site_in_onednn_and_a_service_loads_it(
    conv_zoo: Path, tmp_path: Path
) -> None:
    artifact = tvmforge.compile(conv_zoo, tmp_path / "zoo.so", kernels="onednn")
    choices = artifact.manifest["kernels"]
    assert sum(c["sites"] for c in choices) == 6
    assert all(c["winner"] in ("onednn", "winograd") and c["tvm_us"] is None for c in choices)
    assert artifact.manifest["requires"]["libraries"] == [kernels.LIBRARY]
    assert artifact.validation.passed
    # a service process loads it with tvmforge's runtime only
    code = (
        "import numpy as np, sys; from tvmforge.session import Session; "
        "s = Session(sys.argv[1]); "
        "print(s.run(None, {'x': np.ones((1, 16, 28, 28), np.float32)})[0].shape)"
    )
    done = subprocess.run([sys.executable, "-c", code, str(artifact.library)],
                          env=subprocess_env(), capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(1, 8, 14, 14)"


def test_tvm_parallel_loops_share_onednn_openmp_team(tmp_path: Path) -> None:
    """An artifact linking oneDNN runs TVM's parallel loops on OpenMP: the redirect finds them,
    and several threads, each with its own VM, still compute onnxruntime's outputs."""
    from concurrent.futures import ThreadPoolExecutor

    from tvmforge.session import Session
    from tvmforge.validation import make_feeds, onnxruntime_outputs

    model = models.conv_pool(tmp_path / "conv_pool.onnx")
    artifact = tvmforge.compile(model, tmp_path / "m.so", kernels="onednn", schedules_dir=None)
    assert artifact.manifest["requires"]["parallel"] == "openmp"
    session = Session(artifact.library, threads=2)
    assert kernels.use_openmp(session._module, 2)  # the pooling's parallel loop is redirected
    feeds = make_feeds(session.input_specs, seed=3)
    (want,) = onnxruntime_outputs(model, feeds).values()
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: session.run(None, feeds)[0], range(6)))
    for got in results:
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_kernels_tvm_builds_pure_tvm(conv_zoo: Path, tmp_path: Path) -> None:
    artifact = tvmforge.compile(conv_zoo, tmp_path / "zoo.so", kernels="tvm")
    assert artifact.manifest["kernels"] == []
    assert artifact.manifest["requires"]["libraries"] == []
    assert artifact.manifest["requires"]["parallel"] == "tvm"
    assert artifact.validation.passed


def test_library_missing_at_load_is_one_clear_error(
    conv_zoo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    artifact = tvmforge.compile(conv_zoo, tmp_path / "zoo.so", kernels="onednn", validate=False)
    monkeypatch.setattr(kernels, "library_dirs", lambda: [])
    monkeypatch.setattr(kernels, "LIBRARY", "libdnnl-not-installed.so.3")
    from tvmforge.errors import ArtifactError
    from tvmforge.session import Session

    with pytest.raises(ArtifactError, match=r"calls oneDNN .* pip install onednn-cpu-gomp"):
        Session(artifact.library)


@pytest.mark.parametrize("target", ["arm-neon", "cuda-sm90"])
def test_onednn_refused_for_targets_it_cannot_serve(mlp: Path, tmp_path: Path, target: str) -> None:
    from tvmforge.errors import TargetError

    with pytest.raises(TargetError, match="pass --kernels tvm"):
        tvmforge.compile(mlp, tmp_path / "m.so", target=target, kernels="onednn")


def test_thread_pool_does_not_pin_the_process() -> None:
    """TVM pins the calling thread to one core unless told not to; threads started later (oneDNN,
    onnxruntime) would inherit that core."""
    code = (
        "import os; from tvmforge.session import configure_threads; configure_threads(2); "
        "print(len(os.sched_getaffinity(0)))"
    )
    done = subprocess.run([sys.executable, "-c", code], env=subprocess_env(),
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.stdout.strip() == str(len(os.sched_getaffinity(0)))


class _FakeDb:
    """A tuning database whose best record of every task runs in ``secs``."""

    def __init__(self, secs: float) -> None:
        self.secs = secs

    def get_top_k(self, _workload, _k):
        return [type("Rec", (), {"run_secs": [self.secs]})()]


@pytest.mark.parametrize(("first_s", "library_us", "rounds"), [
    (500e-6, 100.0, [1]),  # 5x behind the library after one trial: the floor stops there
    (200e-6, 100.0, [1, 7]),  # 2x: within reach of a search, the floor goes on
    (500e-6, None, [8]),  # no library kernel for the task: the whole floor at once
])  # fmt: skip
def test_floor_stops_where_the_library_is_far_ahead(first_s, library_us, rounds) -> None:
    from tvmforge.tuning import _first_pass, _Task

    task = _Task(extracted=None, name="conv", weight=1, flops=1.0, library_us=library_us)
    calls: list[int] = []
    _first_pass(_FakeDb(first_s), task, 8, lambda _task, n: calls.append(n))
    assert calls == rounds


def test_library_won_task_gets_no_rounds_past_its_floor() -> None:
    from tvmforge.tuning import _library_wins, _Task

    task = _Task(extracted=None, name="conv", weight=1, flops=1.0, library_us=100.0)
    assert _library_wins(_FakeDb(200e-6), task)  # TVM 2x slower: leave it to the library
    assert not _library_wins(_FakeDb(120e-6), task)  # within reach: keep tuning
    task.library_us = None
    assert not _library_wins(_FakeDb(1.0), task)  # no library candidate: keep tuning
