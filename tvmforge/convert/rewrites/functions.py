"""Expand ops we cannot convert into their ONNX function bodies (e.g. CenterCropPad, Attention-23).

Many ONNX ops are defined by a function of simpler ops. When neither the frontend nor our
registry converts such an op (or the frontend's converter is for another op of the same name,
as TVM's ``Attention`` is the com.microsoft one), the node is replaced by its function body,
instantiated for the model's opset and the node's input types, and inlined.
"""

from __future__ import annotations

import logging

import onnx
import onnx.inliner
from onnx import helper

from ...load import default_opset

log = logging.getLogger(__name__)

_DOMAIN = "tvmforge.expand"

#: (op, first since_version) where the frontend has a converter of the same name for another op.
PREFER_EXPANSION: dict[str, int] = {"Attention": 23}


def _convertible(op: str, opset: int) -> bool:
    from ..overlay import frontend_table
    from ..registry import covers

    if covers(op, opset):
        return True
    since = PREFER_EXPANSION.get(op)
    if since is not None and opset >= since:
        return False
    return op in frontend_table()


def value_types(proto: onnx.ModelProto) -> dict[str, onnx.TypeProto]:
    """The type of every value shape inference (or the graph) knows, by name."""
    try:
        inferred = onnx.shape_inference.infer_shapes(proto)
    except Exception:  # noqa: BLE001 - best effort
        inferred = proto
    g = inferred.graph
    types = {vi.name: vi.type for vi in [*g.input, *g.value_info, *g.output]}
    for init in g.initializer:
        types[init.name] = helper.make_tensor_type_proto(init.data_type, list(init.dims))
    return types


def _function(node: onnx.NodeProto, opset: int, types) -> onnx.FunctionProto | None:
    try:
        schema = onnx.defs.get_schema(node.op_type, opset, "")
    except onnx.defs.SchemaError:
        return None
    body = None
    if schema.has_function:
        body = schema.get_function_with_opset_version(opset) or schema.function_body
        if isinstance(body, bytes):
            parsed = onnx.FunctionProto()
            parsed.ParseFromString(body)
            body = parsed
    elif schema.has_context_dependent_function:
        if not all(i in types for i in node.input if i):
            return None
        arg_types = [types[i].SerializeToString() if i else b"" for i in node.input]
        raw = schema.get_context_dependent_function_with_opset_version(
            opset, node.SerializeToString(), arg_types
        )
        if raw:
            body = onnx.FunctionProto()
            body.ParseFromString(raw)
    if body is None or not body.node:
        return None
    return body


def _fill_default_attributes(node: onnx.NodeProto, opset: int) -> None:
    """Spell out defaulted attributes: an inlined body refers to them by name."""
    try:
        schema = onnx.defs.get_schema(node.op_type, opset, "")
    except onnx.defs.SchemaError:
        return
    present = {a.name for a in node.attribute}
    for name, attr in schema.attributes.items():
        default = attr.default_value
        if name in present or default is None or not default.name and default.type == 0:
            continue
        copy = onnx.AttributeProto()
        copy.CopyFrom(default)
        copy.name = name
        node.attribute.append(copy)


def expand_functions(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Replace top-level nodes that nothing converts by their ONNX function bodies."""
    opset = default_opset(proto)
    todo = [
        n
        for n in proto.graph.node
        if n.domain in ("", "ai.onnx") and not _convertible(n.op_type, opset)
    ]
    if not todo:
        return proto
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    types = value_types(out)
    functions: dict[str, onnx.FunctionProto] = {}
    for i, node in enumerate(out.graph.node):
        if node.domain not in ("", "ai.onnx") or _convertible(node.op_type, opset):
            continue
        _fill_default_attributes(node, opset)
        body = _function(node, opset, types)
        if body is None:
            continue
        name = f"{node.op_type}_{i}"
        fn = onnx.FunctionProto()
        fn.CopyFrom(body)
        fn.name = name
        fn.domain = _DOMAIN
        functions[name] = fn
        node.op_type = name
        node.domain = _DOMAIN
    if not functions:
        return proto
    out.functions.extend(functions.values())
    out.opset_import.append(helper.make_opsetid(_DOMAIN, 1))
    try:
        inlined = onnx.inliner.inline_local_functions(out)
    except Exception as exc:  # noqa: BLE001 - keep the original; the import reports the op
        log.debug("function expansion failed: %s", exc)
        return proto
    if any(n.domain == _DOMAIN for n in inlined.graph.node):
        log.debug("function expansion left calls in place; keeping the original nodes")
        return proto
    kept = [o for o in inlined.opset_import if o.domain != _DOMAIN]
    del inlined.opset_import[:]
    inlined.opset_import.extend(kept)
    return inlined
