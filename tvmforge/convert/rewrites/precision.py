"""Attention on float16/bfloat16 tensors computed in float32, as onnxruntime does.

Attention's function body computes in the input type, and TVM then rounds after every op (and
accumulates matmuls in 16 bits), which leaves outputs a few ulps off. Casting the inputs to
float32 and the outputs back rounds once.
"""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper

from .functions import value_types

_HALF = (TensorProto.FLOAT16, TensorProto.BFLOAT16)
#: Attention's floating inputs: Q, K, V, attn_mask (when not bool), past_key, past_value.
_FLOAT_INPUTS = (0, 1, 2, 3, 4, 5)


def _elem_type(types: dict[str, onnx.TypeProto], name: str) -> int:
    t = types.get(name)
    return t.tensor_type.elem_type if t is not None and t.HasField("tensor_type") else 0


def attention_in_float32(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Wrap each Attention on float16/bfloat16 inputs in casts to and from float32."""
    nodes = proto.graph.node
    if not any(n.op_type == "Attention" and n.domain in ("", "ai.onnx") for n in nodes):
        return proto
    types = value_types(proto)
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    rebuilt: list[onnx.NodeProto] = []
    for k, node in enumerate(out.graph.node):
        half = _elem_type(types, node.input[0]) if node.input else 0
        if node.op_type != "Attention" or node.domain not in ("", "ai.onnx") or half not in _HALF:
            rebuilt.append(node)
            continue
        after = []
        for i, name in enumerate(node.input):
            if i in _FLOAT_INPUTS and name and _elem_type(types, name) in _HALF:
                node.input[i] = f"{name}__f32_{k}"
                rebuilt.append(
                    helper.make_node("Cast", [name], [node.input[i]], to=TensorProto.FLOAT)
                )
        for i, name in enumerate(node.output):
            if name:
                node.output[i] = f"{name}__f32_{k}"
                after.append(helper.make_node("Cast", [node.output[i]], [name], to=half))
        rebuilt += [node, *after]
    del out.graph.node[:]
    out.graph.node.extend(rebuilt)
    return out
