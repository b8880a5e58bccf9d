"""Regenerate models/tinynet.onnx: the small conv net the README demo compiles.

A 64x64 RGB classifier with the shapes real CNNs have: strided 3x3 convs with batch-norm and
ReLU, a depthwise conv, a residual add, global average pooling and a dense head. Random weights,
seeded, so the file is reproducible.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def build(seed: int = 0) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    inits: list[onnx.TensorProto] = []

    def weight(name: str, *shape: int, scale: float = 0.1) -> str:
        inits.append(
            numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)
        )
        return name

    def bn(prefix: str, x: str, ch: int) -> tuple[onnx.NodeProto, str]:
        names = [
            weight(f"{prefix}_gamma", ch, scale=0.1),
            weight(f"{prefix}_beta", ch, scale=0.1),
            weight(f"{prefix}_mean", ch, scale=0.1),
        ]
        inits[-3] = numpy_helper.from_array(1 + numpy_helper.to_array(inits[-3]), names[0])
        var = numpy_helper.from_array(rng.uniform(0.5, 1.5, ch).astype(np.float32), f"{prefix}_var")
        inits.append(var)
        out = f"{prefix}_out"
        return helper.make_node("BatchNormalization", [x, *names, var.name], [out]), out

    nodes = []

    def conv_bn_relu(prefix: str, x: str, cin: int, cout: int, stride: int, groups: int = 1) -> str:
        w = weight(f"{prefix}_w", cout, cin // groups, 3, 3)
        nodes.append(helper.make_node("Conv", [x, w], [f"{prefix}_c"], pads=[1, 1, 1, 1],
                                      strides=[stride, stride], group=groups))  # fmt: skip
        node, out = bn(prefix, f"{prefix}_c", cout)
        nodes.append(node)
        nodes.append(helper.make_node("Relu", [out], [f"{prefix}_r"]))
        return f"{prefix}_r"

    x = conv_bn_relu("stem", "image", 3, 16, 2)
    x = conv_bn_relu("b1", x, 16, 32, 2)
    y = conv_bn_relu("dw", x, 32, 32, 1, groups=32)
    y = conv_bn_relu("pw", y, 32, 32, 1)
    nodes.append(helper.make_node("Add", [x, y], ["res"]))
    nodes.append(helper.make_node("GlobalAveragePool", ["res"], ["pool"]))
    nodes.append(helper.make_node("Flatten", ["pool"], ["flat"]))
    nodes.append(helper.make_node("Gemm", ["flat", weight("fc_w", 10, 32), weight("fc_b", 10)],
                                  ["logits"], transB=1))  # fmt: skip
    graph = helper.make_graph(
        nodes, "tinynet",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])],
        inits,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


if __name__ == "__main__":
    out = Path(__file__).with_name("tinynet.onnx")
    onnx.save(build(), out)
    print(f"wrote {out} ({out.stat().st_size} bytes)")
