"""Stub out an If branch that cannot be valid for the bound shapes.

A model may branch on a run-time input to pick code written for another input size (silero-vad
runs its 8 kHz or its 16 kHz network depending on ``sr``). Once the input shapes are bound, one
branch can be ill-typed (an LSTM fed a rank-4 tensor): onnxruntime only fails if it takes that
branch, but a compiler must convert both. When exactly one branch of a top-level If fails ONNX's
strict shape inference, it is replaced by outputs of the other branch's types filled with NaN
(zeros for integers), and a warning names it: taking that branch at run time yields NaN instead
of onnxruntime's shape error.
"""

from __future__ import annotations

import logging

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .fold import _inline_branch

log = logging.getLogger(__name__)


def stub_invalid_branches(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Replace the ill-typed branch of each top-level If whose other branch type-checks."""
    ifs = [i for i, n in enumerate(proto.graph.node) if n.op_type == "If"]
    if not ifs:
        return proto
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    for index in ifs:
        node = out.graph.node[index]
        branches = {a.name: a.g for a in node.attribute if a.type == onnx.AttributeProto.GRAPH}
        checked = {name: _check(out, index, graph) for name, graph in branches.items()}
        bad = [name for name, (ok, _) in checked.items() if not ok]
        if len(bad) != 1 or len(checked) != 2:
            continue
        good = next(name for name in checked if name != bad[0])
        types = checked[good][1]
        reason = checked[bad[0]][1]
        if types is None or any(o not in types for o in node.output):
            continue
        stub = _stub(branches[bad[0]], [types[o] for o in node.output])
        for attr in node.attribute:
            if attr.name == bad[0]:
                attr.g.CopyFrom(stub)
        log.warning(
            "If '%s': its %s cannot run with the bound input shapes (%s); it now yields NaN",
            node.name,
            bad[0],
            reason,
        )
    return out


def _check(proto: onnx.ModelProto, index: int, branch: onnx.GraphProto):
    """(True, {name: TypeProto}) when the model type-checks taking ``branch``; else (False, why)."""
    model = onnx.ModelProto()
    model.CopyFrom(proto)
    node = model.graph.node[index]
    nodes = list(model.graph.node)
    inlined = _inline_branch(branch, node.output, {})
    del model.graph.node[:]
    model.graph.node.extend([*nodes[:index], *inlined, *nodes[index + 1 :]])
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    except Exception as exc:  # noqa: BLE001 - the inference error is the finding
        text = str(exc).strip().splitlines()
        return False, (text[0] if text else type(exc).__name__)[:200]
    g = inferred.graph
    return True, {vi.name: vi.type for vi in [*g.value_info, *g.output]}


def _stub(branch: onnx.GraphProto, types: list[onnx.TypeProto]) -> onnx.GraphProto:
    nodes, outputs = [], []
    for k, (vi, ty) in enumerate(zip(branch.output, types, strict=True)):
        tensor = ty.tensor_type
        dims = [d.dim_value for d in tensor.shape.dim]
        dtype = helper.tensor_dtype_to_np_dtype(tensor.elem_type)
        fill = np.array([np.nan if np.issubdtype(dtype, np.floating) else 0], dtype=dtype)
        shape_name = f"{vi.name}__stub_shape{k}"
        nodes.append(
            helper.make_node(
                "Constant",
                [],
                [shape_name],
                value=numpy_helper.from_array(np.array(dims, dtype=np.int64), shape_name),
            )
        )
        nodes.append(
            helper.make_node(
                "ConstantOfShape",
                [shape_name],
                [vi.name],
                value=numpy_helper.from_array(fill, f"{vi.name}__fill"),
            )
        )
        outputs.append(helper.make_value_info(vi.name, ty))
    return helper.make_graph(nodes, branch.name, [], outputs)
