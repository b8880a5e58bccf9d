"""Small ONNX models built with onnx.helper for the tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _save(model: onnx.ModelProto, path: Path) -> Path:
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def conv_net(path: Path, batch: int | str = "N", seed: int = 0) -> Path:
    """Conv + BatchNorm + Relu + Flatten + MatMul, 3x16x16 input; batch may be symbolic."""
    rng = np.random.default_rng(seed)

    def arr(name: str, *shape: int) -> onnx.TensorProto:
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)

    inits = [
        arr("W", 8, 3, 3, 3),
        arr("B", 8),
        numpy_helper.from_array(np.ones(8, np.float32), "scale"),
        numpy_helper.from_array(np.zeros(8, np.float32), "bias"),
        arr("mean", 8),
        numpy_helper.from_array(rng.uniform(0.5, 2, 8).astype(np.float32), "var"),
        arr("W2", 8 * 16 * 16, 10),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "W", "B"], ["c"], pads=[1, 1, 1, 1], name="conv"),
        helper.make_node("BatchNormalization", ["c", "scale", "bias", "mean", "var"], ["bn"]),
        helper.make_node("Relu", ["bn"], ["r"]),
        helper.make_node("Flatten", ["r"], ["f"]),
        helper.make_node("MatMul", ["f", "W2"], ["y"], name="head"),
    ]
    graph = helper.make_graph(
        nodes,
        "convnet",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 10])],
        inits,
    )
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def conv_pool(path: Path, seed: int = 0) -> Path:
    """Conv then a 3x3 max-pool over 64x64x16: the pooling is a large TVM loop nest."""
    w = np.random.default_rng(seed).standard_normal((16, 3, 3, 3)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("MaxPool", ["c"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    ]
    graph = helper.make_graph(
        nodes,
        "conv_pool",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 64, 64])],
        [numpy_helper.from_array(w, "w")],
    )
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def mlp(path: Path, hidden: int = 64, seed: int = 1) -> Path:
    """MatMul + Add + Relu + MatMul with two outputs (logits and hidden), batch 4."""
    rng = np.random.default_rng(seed)
    inits = [
        numpy_helper.from_array(rng.standard_normal((32, hidden)).astype(np.float32), "W1"),
        numpy_helper.from_array(rng.standard_normal(hidden).astype(np.float32), "b1"),
        numpy_helper.from_array(rng.standard_normal((hidden, 5)).astype(np.float32), "W2"),
    ]
    nodes = [
        helper.make_node("MatMul", ["features", "W1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["hidden"]),
        helper.make_node("MatMul", ["hidden", "W2"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [4, 32])],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, [4, 5]),
            helper.make_tensor_value_info("hidden", TensorProto.FLOAT, [4, hidden]),
        ],
        inits,
    )
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def self_attention(path: Path) -> Path:
    """Attention's two batched products on a (2, 3, 8, 4) input ``x`` (batch, heads, tokens,
    width): ``scores = x @ x^T`` and ``y = softmax(scores) @ x``, both outputs."""
    nodes = [
        helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 1, 3, 2]),
        helper.make_node("MatMul", ["x", "xt"], ["scores"]),
        helper.make_node("Softmax", ["scores"], ["p"], axis=-1),
        helper.make_node("MatMul", ["p", "x"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "self_attention",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 8, 4])],
        [
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, [2, 3, 8, 8]),
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3, 8, 4]),
        ],
    )
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def single_matmul(path: Path, n: int = 64) -> Path:
    """One MatMul with a constant weight: exactly one tuning task."""
    rng = np.random.default_rng(2)
    weight = numpy_helper.from_array(rng.standard_normal((n, n)).astype(np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "W"], ["out"])],
        "matmul",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [n, n])],
        [weight],
    )
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def identity(path: Path) -> Path:
    """Identity of a 2x3x4 input: the compiled model returns its input tensor itself."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "identity",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3, 4])],
    )
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def custom_ops(path: Path) -> Path:
    """A model using two operators no converter handles (custom domain ops)."""
    nodes = [
        helper.make_node("FancyOp", ["x"], ["y1"], domain="com.example", name="fancy_a"),
        helper.make_node("FancyOp", ["y1"], ["y2"], domain="com.example", name="fancy_b"),
        helper.make_node("OtherOp", ["y2"], ["y"], domain="com.example", name="other"),
    ]
    graph = helper.make_graph(
        nodes,
        "custom",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 2])],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)],
    )
    model.ir_version = 8
    onnx.save(model, path)
    return path


def _random(rng: np.random.Generator, name: str, *shape: int, scale: float) -> onnx.TensorProto:
    return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)


def _relu6_bounds() -> list[onnx.TensorProto]:
    """Clip's bounds 0 and 6 as initializers ``lo`` and ``hi``."""
    return [
        numpy_helper.from_array(np.array(0.0, np.float32), "lo"),
        numpy_helper.from_array(np.array(6.0, np.float32), "hi"),
    ]


def _conv_model(
    path: Path, name: str, nodes: list, inits: list, x: list[int], outputs: dict[str, list[int]]
) -> Path:
    """Save an opset-17 float32 graph of input ``x`` and the named ``outputs``."""
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, x)],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs.items()],
        inits,
    )
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def conv_zoo(path: Path, seed: int = 3) -> Path:
    """One of each convolution the oneDNN kernel fuses, 1x16x28x28 input, outputs not saturated.

    Conv+bias+Relu; strided conv with asymmetric pads; depthwise conv + Clip(0, 6) (ReLU6);
    1x1 conv + residual Add + Relu; 1x1 conv + Relu + residual Add; dilated conv with no bias;
    a second output taps the middle.
    """
    rng = np.random.default_rng(seed)

    def arr(name: str, *shape: int, scale: float = 0.2) -> onnx.TensorProto:
        return _random(rng, name, *shape, scale=scale)

    inits = [
        arr("w1", 32, 16, 3, 3), arr("b1", 32),
        arr("w2", 32, 32, 3, 3), arr("b2", 32),
        arr("w3", 32, 1, 3, 3, scale=0.5), arr("b3", 32),
        arr("w4", 32, 32, 1, 1), arr("b4", 32),
        arr("w5", 8, 32, 3, 3),
        arr("w6", 32, 32, 1, 1), arr("b6", 32),
        *_relu6_bounds(),
    ]  # fmt: skip
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], strides=[2, 2], pads=[0, 0, 1, 1]),
        helper.make_node("Conv", ["c2", "w3", "b3"], ["c3"], group=32, pads=[1, 1, 1, 1]),
        helper.make_node("Clip", ["c3", "lo", "hi"], ["r3"]),
        helper.make_node("Conv", ["r3", "w4", "b4"], ["c4"]),
        helper.make_node("Add", ["c4", "c2"], ["s4"]),
        helper.make_node("Relu", ["s4"], ["middle"]),
        helper.make_node("Conv", ["middle", "w6", "b6"], ["c6"]),
        helper.make_node("Relu", ["c6"], ["r6"]),
        helper.make_node("Add", ["r6", "middle"], ["s6"]),
        helper.make_node("Conv", ["s6", "w5"], ["y"], dilations=[2, 2], pads=[2, 2, 2, 2]),
    ]
    outputs = {"y": [1, 8, 14, 14], "middle": [1, 32, 14, 14]}
    return _conv_model(path, "conv_zoo", nodes, inits, [1, 16, 28, 28], outputs)


def winograd_net(path: Path, seed: int = 7, batch: int = 1) -> Path:
    """3x3 stride-1 convolutions of 16 and 32 channels on a 15x15 map (tiles cut at the edge).

    Conv+bias+Relu; Conv + residual Add + Relu; Conv + Relu + residual Add; Conv with
    asymmetric pads, no bias, Clip(0, 6). Input batchx16x15x15; outputs ``y`` and ``middle``.
    """
    rng = np.random.default_rng(seed)

    def arr(name: str, *shape: int) -> onnx.TensorProto:
        scale = 1.5 / np.sqrt(np.prod(shape[1:])) if len(shape) > 1 else 0.2
        return _random(rng, name, *shape, scale=scale)

    inits = [
        arr("w1", 32, 16, 3, 3), arr("b1", 32),
        arr("w2", 32, 32, 3, 3), arr("b2", 32),
        arr("w3", 32, 32, 3, 3), arr("b3", 32),
        arr("w4", 16, 32, 3, 3),
        *_relu6_bounds(),
    ]  # fmt: skip
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c2", "r1"], ["s2"]),
        helper.make_node("Relu", ["s2"], ["middle"]),
        helper.make_node("Conv", ["middle", "w3", "b3"], ["c3"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c3"], ["r3"]),
        helper.make_node("Add", ["r3", "middle"], ["s3"]),
        helper.make_node("Conv", ["s3", "w4"], ["c4"], pads=[2, 0, 0, 2]),
        helper.make_node("Clip", ["c4", "lo", "hi"], ["y"]),
    ]
    outputs = {"y": [batch, 16, 15, 15], "middle": [batch, 32, 15, 15]}
    return _conv_model(path, "winograd_net", nodes, inits, [batch, 16, 15, 15], outputs)


def stem_net(path: Path, seed: int = 9) -> Path:
    """Convolutions with short reductions, as networks start: 1x3x17x17 input.

    Conv 3->16 3x3 stride 2 with asymmetric pads + Relu; dilated 3x3 Conv + residual Add + Relu
    (``middle``); 1x1 Conv 16->32 + Clip(0, 6) (``y``).
    """
    rng = np.random.default_rng(seed)

    def arr(name: str, *shape: int, scale: float) -> onnx.TensorProto:
        return _random(rng, name, *shape, scale=scale)

    inits = [
        arr("w1", 16, 3, 3, 3, scale=0.5), arr("b1", 16, scale=0.2),
        arr("w2", 16, 16, 3, 3, scale=0.3), arr("b2", 16, scale=0.2),
        arr("w3", 32, 16, 1, 1, scale=0.5), arr("b3", 32, scale=0.2),
        *_relu6_bounds(),
    ]  # fmt: skip
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], strides=[2, 2], pads=[0, 1, 1, 0]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], dilations=[2, 2], pads=[2, 2, 2, 2]),
        helper.make_node("Add", ["c2", "r1"], ["s2"]),
        helper.make_node("Relu", ["s2"], ["middle"]),
        helper.make_node("Conv", ["middle", "w3", "b3"], ["c3"]),
        helper.make_node("Clip", ["c3", "lo", "hi"], ["y"]),
    ]
    outputs = {"y": [1, 32, 9, 9], "middle": [1, 16, 9, 9]}
    return _conv_model(path, "stem_net", nodes, inits, [1, 3, 17, 17], outputs)


def shallow_net(path: Path, seed: int = 10) -> Path:
    """Two first layers the shallow kernel runs, 1x3x40x40 input, 80 output channels (a block of
    64 and one of 16), rows wide enough for whole pixel blocks and single pixels at the edges.

    Conv 3x3 with asymmetric pads + Relu (``middle``); dilated 3x3 Conv + residual ``middle`` +
    Clip(0, 6) (``y``).
    """
    rng = np.random.default_rng(seed)
    inits = [
        _random(rng, "w1", 80, 3, 3, 3, scale=0.5), _random(rng, "b1", 80, scale=0.2),
        _random(rng, "w2", 80, 3, 3, 3, scale=0.5), _random(rng, "b2", 80, scale=0.2),
        *_relu6_bounds(),
    ]  # fmt: skip
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 0, 1, 2]),
        helper.make_node("Relu", ["c1"], ["middle"]),
        helper.make_node("Conv", ["x", "w2", "b2"], ["c2"], dilations=[2, 2], pads=[2, 2, 2, 2]),
        helper.make_node("Add", ["c2", "middle"], ["s2"]),
        helper.make_node("Clip", ["s2", "lo", "hi"], ["y"]),
    ]
    outputs = {"y": [1, 80, 40, 40], "middle": [1, 80, 40, 40]}
    return _conv_model(path, "shallow_net", nodes, inits, [1, 3, 40, 40], outputs)


def fire_net(path: Path, seed: int = 11) -> Path:
    """SqueezeNet's fire module, 1x16x15x15 input: 1x1 Conv 16->16 + Relu (``middle``) and
    3x3 Conv 16->32 + Relu, concatenated along channels (``y``, 48 channels)."""
    rng = np.random.default_rng(seed)
    inits = [
        _random(rng, "w1", 16, 16, 1, 1, scale=0.3), _random(rng, "b1", 16, scale=0.2),
        _random(rng, "w2", 32, 16, 3, 3, scale=0.2), _random(rng, "b2", 32, scale=0.2),
    ]  # fmt: skip
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"]),
        helper.make_node("Relu", ["c1"], ["middle"]),
        helper.make_node("Conv", ["x", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("Concat", ["middle", "r2"], ["y"], axis=1),
    ]
    outputs = {"y": [1, 48, 15, 15], "middle": [1, 16, 15, 15]}
    return _conv_model(path, "fire_net", nodes, inits, [1, 16, 15, 15], outputs)


def deconv_net(path: Path, seed: int = 5) -> Path:
    """Two transposed convolutions (NCHW), 1x8x10x10 input, two outputs.

    ConvTranspose k2 s2 + bias + Relu (a segmentation head's upsampling) gives ``middle``;
    ConvTranspose k3 s2 pads 1 with output_padding 1 and no bias, then Sigmoid, gives ``y``.
    """
    rng = np.random.default_rng(seed)
    inits = [
        numpy_helper.from_array((rng.standard_normal((8, 6, 2, 2)) * 0.4).astype(np.float32), "w1"),
        numpy_helper.from_array(rng.standard_normal(6).astype(np.float32), "b1"),
        numpy_helper.from_array((rng.standard_normal((6, 4, 3, 3)) * 0.4).astype(np.float32), "w2"),
    ]
    nodes = [
        helper.make_node("ConvTranspose", ["x", "w1", "b1"], ["d1"], strides=[2, 2]),
        helper.make_node("Relu", ["d1"], ["middle"]),
        helper.make_node(
            "ConvTranspose",
            ["middle", "w2"],
            ["d2"],
            strides=[2, 2],
            pads=[1, 1, 1, 1],
            output_padding=[1, 1],
        ),  # fmt: skip
        helper.make_node("Sigmoid", ["d2"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "deconv_net",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 10, 10])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 40, 40]),
            helper.make_tensor_value_info("middle", TensorProto.FLOAT, [1, 6, 20, 20]),
        ],
        inits,
    )
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def softmax_rows(path: Path, rows: int, cols: int = 1024) -> Path:
    """Exp and Softmax over a (rows, cols) input: one fused task whose shape follows ``rows``."""
    graph = helper.make_graph(
        [helper.make_node("Exp", ["x"], ["e"]), helper.make_node("Softmax", ["e"], ["y"], axis=1)],
        "softmax_rows",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, cols])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [rows, cols])],
    )
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
