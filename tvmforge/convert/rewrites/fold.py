"""Fold what binding made static: shapes, constant subgraphs and If with a constant condition.

onnxruntime's simplification (``shapes.bind_shapes``) does most of this, but it gives up on a
whole model when one subgraph fails its type inference (silero-vad's LSTM inside an If), and it
never descends into If branches. This pass works on the ONNX graph, into subgraphs, with outer
scope values visible, and repeats until nothing changes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ...load import default_opset

log = logging.getLogger(__name__)

#: Ops never evaluated at compile time (random, or with side inputs we cannot see).
_NONDETERMINISTIC = frozenset(
    {
        "RandomNormal",
        "RandomNormalLike",
        "RandomUniform",
        "RandomUniformLike",
        "Multinomial",
        "Bernoulli",
        "Dropout",
    }  # fmt: skip
)
#: Largest tensor (elements) we are willing to create by folding.
_MAX_ELEMENTS = 1 << 22
_ROUNDS = 6
#: Initializers up to this many elements take part in folding.
_MAX_CONST_INPUT = 1 << 16


def fold_constants(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Fold Shape/Size of static tensors, constant-input nodes and constant-condition Ifs."""
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    opset = default_opset(out)
    for _ in range(_ROUNDS):
        shapes = _static_shapes(out)
        consts = _small_initializers(out.graph)
        folder = _Folder(shapes, opset, _input_types(out.graph))
        changed = folder.graph(out.graph, consts)
        _prune(out.graph)
        if not changed:
            break
    return out


def _input_types(graph: onnx.GraphProto) -> dict[str, int]:
    """Element types of the graph's tensor inputs."""
    return {
        vi.name: vi.type.tensor_type.elem_type
        for vi in graph.input
        if vi.type.HasField("tensor_type")
    }


def _small_initializers(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    """Initializers small enough to fold through (weights are left to onnxruntime's pass)."""
    return {
        i.name: numpy_helper.to_array(i)
        for i in graph.initializer
        if int(np.prod(i.dims)) <= _MAX_CONST_INPUT
    }


def _without_weights(proto: onnx.ModelProto) -> onnx.ModelProto:
    """A model whose large initializers are typed inputs: shape inference needs no weight bytes."""
    src = proto.graph
    graph = onnx.GraphProto(name=src.name)
    graph.node.extend(src.node)
    graph.input.extend(src.input)
    graph.output.extend(src.output)
    listed = {vi.name for vi in src.input}
    for init in src.initializer:
        if int(np.prod(init.dims)) <= _MAX_CONST_INPUT:
            graph.initializer.append(init)
        elif init.name not in listed:
            graph.input.append(
                helper.make_tensor_value_info(init.name, init.data_type, list(init.dims))
            )
    light = onnx.ModelProto(ir_version=proto.ir_version, graph=graph)
    light.opset_import.extend(proto.opset_import)
    light.functions.extend(proto.functions)
    return light


def _static_shapes(proto: onnx.ModelProto) -> dict[str, tuple[int, ...]]:
    """Every fully static shape known after ONNX shape inference, subgraphs included."""
    shapes = {
        name: dims
        for name, dims in inferred_shapes(proto).items()
        if all(d is not None for d in dims)
    }
    for init in proto.graph.initializer:
        shapes[init.name] = tuple(init.dims)
    return shapes


def inferred_shapes(proto: onnx.ModelProto) -> dict[str, tuple[int | None, ...]]:
    """Every tensor shape ONNX shape inference knows (None: unknown dim), subgraphs included."""
    try:
        inferred = onnx.shape_inference.infer_shapes(_without_weights(proto), data_prop=True)
    except Exception as exc:  # noqa: BLE001 - inference is best effort
        log.debug("shape inference failed: %s", exc)
        inferred = proto
    shapes: dict[str, tuple[int | None, ...]] = {}

    def visit(graph: onnx.GraphProto) -> None:
        for vi in [*graph.input, *graph.value_info, *graph.output]:
            t = vi.type.tensor_type
            if vi.type.HasField("tensor_type") and t.HasField("shape"):
                shapes[vi.name] = tuple(
                    d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim
                )
        for node in graph.node:
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    visit(attr.g)

    visit(inferred.graph)
    return shapes


class _Folder:
    def __init__(
        self, shapes: dict[str, tuple[int, ...]], opset: int, elem_types: dict[str, int]
    ) -> None:
        self.shapes = shapes
        self.opset = opset
        self.elem_types = elem_types

    def graph(self, graph: onnx.GraphProto, outer: dict[str, np.ndarray]) -> bool:
        """Fold ``graph`` in place; ``outer`` holds the constants visible from outside."""
        consts = dict(outer)
        consts.update(_small_initializers(graph))
        changed = False
        new_nodes: list[onnx.NodeProto] = []
        for node in graph.node:
            replacement = self.node(node, consts)
            if replacement is None:
                new_nodes.append(node)
                continue
            changed = True
            new_nodes.extend(replacement)
        if changed:
            del graph.node[:]
            graph.node.extend(new_nodes)
        # subgraphs of what is left
        for node in graph.node:
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    changed |= self.graph(attr.g, consts)
        return changed

    def node(
        self, node: onnx.NodeProto, consts: dict[str, np.ndarray]
    ) -> list[onnx.NodeProto] | None:
        """Replacement nodes for ``node`` (recording new constants), or None to keep it."""
        if node.domain not in ("", "ai.onnx"):
            return None
        op = node.op_type
        if op == "Constant":
            value = _constant_value(node)
            if value is None:
                return None
            consts[node.output[0]] = value
            if node.attribute[0].name == "value":
                return None
            return [_constant_node(node.output[0], value)]  # value_float & co -> value
        if op == "If":
            cond = consts.get(node.input[0])
            if cond is None or cond.size != 1:
                return None
            branch = "then_branch" if bool(cond.reshape(())) else "else_branch"
            body = next(a.g for a in node.attribute if a.name == branch)
            return _inline_branch(body, node.output, consts)
        if op in ("Shape", "Size") and node.input[0] in self.shapes:
            shape = self.shapes[node.input[0]]
            if op == "Size":
                value = np.array(int(np.prod(shape)), dtype=np.int64)
            else:
                attrs = {a.name: a.i for a in node.attribute}
                start, end = attrs.get("start", 0), attrs.get("end", len(shape))
                value = np.array(shape, dtype=np.int64)[slice(start, end)]
            consts[node.output[0]] = value
            return [_constant_node(node.output[0], value)]
        if op == "CastLike" and node.input[0] in consts:  # a run-time target still has a type
            to = self.elem_types.get(node.input[1])
            if to is None and node.input[1] in consts:
                to = helper.np_dtype_to_tensor_dtype(consts[node.input[1]].dtype)
            if to is None:
                return None
            node = helper.make_node("Cast", node.input[:1], node.output, to=to)
        if op in _NONDETERMINISTIC or any(
            a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
            for a in node.attribute
        ):
            return None
        ins = [i for i in node.input if i]
        if not ins and op != "ConstantOfShape" or not all(i in consts for i in ins):
            return None
        if any(consts[i].dtype == object for i in ins):
            return None
        values = _evaluate(node, [consts.get(i) if i else None for i in node.input], self.opset)
        if values is None:
            return None
        nodes = []
        for name, value in zip(node.output, values, strict=False):
            if not name:
                continue
            consts[name] = value
            nodes.append(_constant_node(name, value))
        return nodes


def _constant_value(node: onnx.NodeProto) -> np.ndarray | None:
    for attr in node.attribute:
        if attr.name == "value":
            return numpy_helper.to_array(attr.t)
        if attr.name == "value_float":
            return np.array(attr.f, dtype=np.float32)
        if attr.name == "value_floats":
            return np.array(list(attr.floats), dtype=np.float32)
        if attr.name == "value_int":
            return np.array(attr.i, dtype=np.int64)
        if attr.name == "value_ints":
            return np.array(list(attr.ints), dtype=np.int64)
    return None


def _constant_node(name: str, value: np.ndarray) -> onnx.NodeProto:
    return helper.make_node(
        "Constant", [], [name], name=f"{name}__folded", value=numpy_helper.from_array(value, name)
    )


def _evaluate(node: onnx.NodeProto, values: list, opset: int) -> list[np.ndarray] | None:
    """Run one node with onnx's reference evaluator; None when it cannot or the result is big."""
    from onnx.reference import ReferenceEvaluator

    inputs = [
        helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), list(v.shape))
        for n, v in zip(node.input, values, strict=False)
        if n
    ]
    outputs = [helper.make_empty_tensor_value_info(n) for n in node.output if n]
    graph = helper.make_graph([node], "fold", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    try:
        results = ReferenceEvaluator(model).run(
            None, {n: v for n, v in zip(node.input, values, strict=False) if n}
        )
    except Exception as exc:  # noqa: BLE001 - not foldable: keep the node
        log.debug("cannot fold %s: %s", node.op_type, exc)
        return None
    arrays = [np.asarray(r) for r in results]
    if any(a.dtype == object or a.size > _MAX_ELEMENTS for a in arrays):
        return None
    return arrays


def _inline_branch(
    body: onnx.GraphProto, outputs: Iterable[str], consts: dict[str, np.ndarray]
) -> list[onnx.NodeProto]:
    """The nodes of a taken If branch, its outputs renamed to the If's outputs."""
    nodes = [_constant_node(init.name, numpy_helper.to_array(init)) for init in body.initializer]
    nodes.extend(body.node)
    for branch_out, if_out in zip(body.output, outputs, strict=False):
        nodes.append(helper.make_node("Identity", [branch_out.name], [if_out]))
        if branch_out.name in consts:
            consts[if_out] = consts[branch_out.name]
    return nodes


def _used_names(graph: onnx.GraphProto) -> set[str]:
    used = {o.name for o in graph.output}
    for node in graph.node:
        used.update(node.input)
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                used |= _used_names(attr.g)
            for sub in attr.graphs:
                used |= _used_names(sub)
    return used


def _prune(graph: onnx.GraphProto) -> None:
    """Drop nodes whose outputs nothing uses (subgraph references count), repeatedly."""
    while True:
        used = _used_names(graph)
        keep = [n for n in graph.node if any(o in used for o in n.output if o)]
        if len(keep) == len(graph.node):
            break
        del graph.node[:]
        graph.node.extend(keep)
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                _prune(attr.g)
    used = _used_names(graph)
    inits = [i for i in graph.initializer if i.name in used]
    if len(inits) != len(graph.initializer):
        del graph.initializer[:]
        graph.initializer.extend(inits)
