"""Carry exotic element types (float8, float4, int4, int2, ...) in byte storage types.

TVM's CPU code cannot hold sub-byte tensors and converts float8 without ONNX's saturation and
NaN rules. This pass retypes every such graph input, output, initializer and Constant to its
storage dtype (``types.STORAGE``) and records, on each node that converts values (Cast,
CastLike, QuantizeLinear, DequantizeLinear), the element types of its inputs and outputs in
the attributes ``tvmforge_input_types`` and ``tvmforge_output_types``: a uint8 tensor alone no
longer says whether it holds uint8 values or float8 bits, and these converters need to know.
"""

from __future__ import annotations

import logging

import onnx
from onnx import helper, numpy_helper

from ...types import ONNX_TO_NUMPY, STORAGE, to_storage

log = logging.getLogger(__name__)

#: Ops whose converters read the recorded element types.
CONVERTING_OPS = frozenset({"Cast", "CastLike", "QuantizeLinear", "DequantizeLinear"})
INPUT_TYPES = "tvmforge_input_types"
OUTPUT_TYPES = "tvmforge_output_types"

_NUMPY_TO_ONNX = {name: code for code, name in ONNX_TO_NUMPY.items()}
_STORED = frozenset(_NUMPY_TO_ONNX[name] for name in STORAGE)


def is_stored(elem_type: int) -> bool:
    """Whether tensors of ONNX ``elem_type`` are carried in a storage dtype."""
    return elem_type in _STORED


def storage_elem_type(elem_type: int) -> int:
    """The ONNX element type of the storage dtype that carries ``elem_type``."""
    name = ONNX_TO_NUMPY.get(elem_type, "")
    return _NUMPY_TO_ONNX[STORAGE[name]] if name in STORAGE else elem_type


def carry_in_storage(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Retype stored tensors to their storage dtype and annotate converting nodes."""
    if not _uses_stored_types(proto.graph):
        return proto
    out = onnx.ModelProto()
    out.CopyFrom(_with_types(proto))
    types = _elem_types(out.graph)
    graph = out.graph
    for node in graph.node:
        if node.op_type in CONVERTING_OPS and node.domain in ("", "ai.onnx"):
            ins = [types.get(name, 0) for name in node.input]
            outs = [types.get(name, 0) for name in node.output]
            if any(is_stored(t) for t in ins + outs):
                node.attribute.extend(
                    [
                        helper.make_attribute(INPUT_TYPES, ins),
                        helper.make_attribute(OUTPUT_TYPES, outs),
                    ]
                )
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value" and is_stored(attr.t.data_type):
                    attr.t.CopyFrom(_stored_tensor(attr.t))
    for i, init in enumerate(graph.initializer):
        if is_stored(init.data_type):
            graph.initializer[i].CopyFrom(_stored_tensor(init))
    for vi in [*graph.input, *graph.output, *graph.value_info]:
        tensor_type = vi.type.tensor_type
        if vi.type.HasField("tensor_type") and is_stored(tensor_type.elem_type):
            tensor_type.elem_type = storage_elem_type(tensor_type.elem_type)
    return out


def _uses_stored_types(graph: onnx.GraphProto) -> bool:
    values = [*graph.input, *graph.output, *graph.value_info]
    return (
        any(is_stored(vi.type.tensor_type.elem_type) for vi in values)
        or any(is_stored(init.data_type) for init in graph.initializer)
        or any(
            node.op_type == "Cast"
            and any(a.name == "to" and is_stored(a.i) for a in node.attribute)
            for node in graph.node
        )
        or any(
            a.name == "value" and is_stored(a.t.data_type)
            for node in graph.node
            if node.op_type == "Constant"
            for a in node.attribute
        )
    )


def _with_types(proto: onnx.ModelProto) -> onnx.ModelProto:
    """``proto`` with inferred value types (best effort: the graph's own ones otherwise)."""
    try:
        return onnx.shape_inference.infer_shapes(proto)
    except Exception as exc:  # noqa: BLE001 - inference is best effort here
        log.debug("shape inference failed before retyping stored types (%s)", exc)
        return proto


def _elem_types(graph: onnx.GraphProto) -> dict[str, int]:
    """Element type of every named value the graph declares or a Cast/Constant makes."""
    types = {init.name: init.data_type for init in graph.initializer}
    for vi in [*graph.input, *graph.output, *graph.value_info]:
        if vi.type.HasField("tensor_type"):
            types[vi.name] = vi.type.tensor_type.elem_type
    for node in graph.node:
        for attr in node.attribute:
            if node.op_type == "Cast" and attr.name == "to":
                types.setdefault(node.output[0], attr.i)
            if node.op_type == "Constant" and attr.name == "value":
                types.setdefault(node.output[0], attr.t.data_type)
    return types


def _stored_tensor(tensor: onnx.TensorProto) -> onnx.TensorProto:
    return numpy_helper.from_array(to_storage(numpy_helper.to_array(tensor)), tensor.name)
