"""Resize, Upsample, TopK and OneHot with their shape parameters fed at run time: one compiled
artifact serves several fed values, each checked against onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from tests.convert.conftest import assert_each_matches_onnxruntime, one_node_model

F, I64 = TensorProto.FLOAT, TensorProto.INT64


def _resize(x_shape, fed: dict[str, tuple[int, int]], elem=F, opset: int = 19, **attrs):
    """A Resize whose inputs named in ``fed`` (roi, scales, sizes: (elem type, length)) are
    graph inputs; the output shape is left unknown."""
    names = ["x"] + [n if n in fed else "" for n in ("roi", "scales", "sizes")]
    while not names[-1]:
        names.pop()
    node = helper.make_node("Resize", names, ["y"], **attrs)
    inputs = [("x", elem, list(x_shape))] + [(n, t, [k]) for n, (t, k) in fed.items()]
    return one_node_model(node, inputs, [("y", elem, _unknown(len(x_shape)))], opset=opset)


def _unknown(rank: int) -> list[str]:
    """An output shape of ``rank`` dims, each named (its size is known only at run time)."""
    return [f"d{i}" for i in range(rank)]


def _x(shape, dtype=np.float32) -> np.ndarray:
    x = np.random.default_rng(0).standard_normal(shape) * 50 + 100
    return x.astype(dtype)


@pytest.mark.parametrize(
    ("mode", "extra"),
    [
        ("linear", {}),
        ("cubic", {"exclude_outside": 1, "cubic_coeff_a": -0.5}),
        ("linear", {"coordinate_transformation_mode": "align_corners"}),
        ("cubic", {"coordinate_transformation_mode": "asymmetric"}),
    ],
)
def test_sizes_fed(mode: str, extra: dict, tmp_path: Path) -> None:
    model = _resize([1, 2, 5, 7], {"sizes": (I64, 4)}, mode=mode, **extra)
    x = _x((1, 2, 5, 7))
    sizes = ([1, 2, 9, 12], [1, 2, 3, 4], [1, 2, 5, 7])
    assert_each_matches_onnxruntime(
        model, [{"x": x, "sizes": np.array(s)} for s in sizes], tmp_path
    )


@pytest.mark.parametrize("nearest", ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"])
def test_nearest_scales_fed(nearest: str, tmp_path: Path) -> None:
    model = _resize([1, 1, 4, 6], {"scales": (F, 4)}, mode="nearest", nearest_mode=nearest)
    x = _x((1, 1, 4, 6))
    scales = ([1, 1, 2, 1.5], [1, 1, 0.5, 0.5], [2, 1, 1.25, 3])
    feeds = [{"x": x, "scales": np.array(s, np.float32)} for s in scales]
    assert_each_matches_onnxruntime(model, feeds, tmp_path)


@pytest.mark.parametrize("mode", ["linear", "cubic"])
def test_antialias_sizes_fed(mode: str, tmp_path: Path) -> None:
    """The number of taps follows the fed size: 1/2 and 1/4 need different windows."""
    model = _resize([1, 1, 8, 8], {"sizes": (I64, 2)}, mode=mode, antialias=1, axes=[2, 3])
    x = _x((1, 1, 8, 8))
    sizes = ([4, 4], [2, 3], [8, 16])
    assert_each_matches_onnxruntime(
        model, [{"x": x, "sizes": np.array(s)} for s in sizes], tmp_path
    )


@pytest.mark.parametrize("policy", ["not_larger", "not_smaller"])
def test_keep_aspect_ratio_axes_fed(policy: str, tmp_path: Path) -> None:
    attrs = {"axes": [3, 2], "keep_aspect_ratio_policy": policy, "mode": "linear"}
    model = _resize([1, 1, 4, 6], {"sizes": (I64, 2)}, **attrs)
    x = _x((1, 1, 4, 6))
    sizes = ([9, 6], [3, 3])
    assert_each_matches_onnxruntime(
        model, [{"x": x, "sizes": np.array(s)} for s in sizes], tmp_path
    )


def test_tf_crop_and_resize_roi_and_sizes_fed(tmp_path: Path) -> None:
    attrs = {"coordinate_transformation_mode": "tf_crop_and_resize", "extrapolation_value": 7.0}
    model = _resize([1, 1, 5, 5], {"roi": (F, 4), "sizes": (I64, 2)}, axes=[2, 3], **attrs)
    x = _x((1, 1, 5, 5))
    feeds = [
        {"x": x, "roi": np.array([0.2, 0.1, 0.9, 0.6], np.float32), "sizes": np.array([3, 4])},
        {"x": x, "roi": np.array([-0.3, 0.5, 1.2, 1.5], np.float32), "sizes": np.array([6, 2])},
    ]
    assert_each_matches_onnxruntime(model, feeds, tmp_path)


def test_uint8_linear_sizes_fed(tmp_path: Path) -> None:
    model = _resize([1, 1, 4, 6], {"sizes": (I64, 4)}, elem=TensorProto.UINT8, mode="linear")
    x = np.random.default_rng(0).integers(0, 255, (1, 1, 4, 6)).astype(np.uint8)
    sizes = ([1, 1, 3, 4], [1, 1, 8, 9])
    feeds = [{"x": x, "sizes": np.array(s)} for s in sizes]
    assert_each_matches_onnxruntime(model, feeds, tmp_path, atol=1)


def test_upsample_scales_fed(tmp_path: Path) -> None:
    node = helper.make_node("Upsample", ["x", "scales"], ["y"], mode="nearest")
    model = one_node_model(
        node, [("x", F, [1, 2, 3, 4]), ("scales", F, [4])], [("y", F, _unknown(4))], opset=9
    )
    x = _x((1, 2, 3, 4))
    scales = ([1, 1, 2, 3], [1, 2, 1.5, 1])
    feeds = [{"x": x, "scales": np.array(s, np.float32)} for s in scales]
    assert_each_matches_onnxruntime(model, feeds, tmp_path)


@pytest.mark.parametrize(("axis", "largest"), [(1, 1), (-1, 0), (0, 1)])
def test_top_k_fed(axis: int, largest: int, tmp_path: Path) -> None:
    node = helper.make_node("TopK", ["x", "k"], ["v", "i"], axis=axis, largest=largest)
    model = one_node_model(
        node,
        [("x", F, [4, 6]), ("k", I64, [1])],
        [("v", F, _unknown(2)), ("i", I64, _unknown(2))],
        opset=11,
    )
    x = _x((4, 6))
    assert_each_matches_onnxruntime(model, [{"x": x, "k": np.array([k])} for k in (1, 3)], tmp_path)


def test_top_k_opset10_constant_k(tmp_path: Path) -> None:
    """TopK-10 reads k from its input (the frontend's TopK-1 converter read an attribute)."""
    k = helper.make_tensor("k", I64, [1], [3])
    node = helper.make_node("TopK", ["x", "k"], ["v", "i"])
    model = one_node_model(
        node,
        [("x", F, [2, 5])],
        [("v", F, _unknown(2)), ("i", I64, _unknown(2))],
        opset=10,
        initializers=[k],
    )
    assert_each_matches_onnxruntime(model, [{"x": _x((2, 5))}], tmp_path)


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_one_hot_depth_fed(axis: int, tmp_path: Path) -> None:
    node = helper.make_node("OneHot", ["i", "depth", "v"], ["y"], axis=axis)
    model = one_node_model(
        node,
        [("i", I64, [2, 3]), ("depth", F, [1]), ("v", F, [2])],
        [("y", F, _unknown(3))],
        opset=11,
    )
    i = np.array([[0, 4, -1], [2, 7, -6]])
    v = np.array([-1.5, 3.0], np.float32)
    feeds = [{"i": i, "depth": np.array([d], np.float32), "v": v} for d in (5.0, 8.0)]
    assert_each_matches_onnxruntime(model, feeds, tmp_path)


def test_roi_fed_with_constant_sizes_keeps_a_static_shape(tmp_path: Path) -> None:
    from tvmforge.convert import to_relax
    from tvmforge.load import load_model
    from tvmforge.shapes import bind_shapes

    sizes = helper.make_tensor("sizes", I64, [2], [3, 4])
    attrs = {"coordinate_transformation_mode": "tf_crop_and_resize", "axes": [2, 3]}
    node = helper.make_node("Resize", ["x", "roi", "", "sizes"], ["y"], mode="linear", **attrs)
    model = one_node_model(
        node,
        [("x", F, [1, 1, 5, 5]), ("roi", F, [4])],
        [("y", F, [1, 1, 3, 4])],
        opset=19,
        initializers=[sizes],
    )
    path = tmp_path / "crop.onnx"
    onnx.save(model, str(path))
    mod = to_relax(bind_shapes(load_model(path), {}))
    assert [int(d) for d in mod["main"].ret_ty.shape] == [1, 1, 3, 4]
    x = _x((1, 1, 5, 5))
    rois = ([0.2, 0.1, 0.9, 0.6], [-0.3, 0.5, 1.2, 1.5])
    feeds = [{"x": x, "roi": np.array(r, np.float32)} for r in rois]
    assert_each_matches_onnxruntime(model, feeds, tmp_path)
