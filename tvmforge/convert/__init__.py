"""Import a bound ONNX model into TVM Relax, reporting unsupported operators up front."""

from __future__ import annotations

import contextlib
import io
import logging
from collections import defaultdict

import onnx

from ..errors import UnsupportedOperatorError
from ..load import default_opset
from ..types import BoundModel, storage_dtype
from .rewrites import apply_rewrites

log = logging.getLogger(__name__)

#: Ops the frontend handles outside its converter table.
_DIRECTLY_HANDLED = frozenset({"If", "Constant"})


def supported_ops() -> frozenset[str]:
    """ONNX op types (default domain) that the import can convert."""
    from .overlay import frontend_table
    from .registry import registered_ops

    return frozenset(frontend_table()) | registered_ops() | _DIRECTLY_HANDLED


def check_supported(proto: onnx.ModelProto) -> None:
    """Raise one error listing every unsupported op (type, opset, count, node names)."""
    from .overlay import frontend_table
    from .registry import covers

    supported = supported_ops()
    frontend = frontend_table()
    opsets = {o.domain or "ai.onnx": o.version for o in proto.opset_import}
    opset = opsets.get("ai.onnx", 1)
    missing: dict[tuple[str, str], list[str]] = defaultdict(list)
    for node in _all_nodes(proto.graph):
        domain = node.domain or "ai.onnx"
        op = node.op_type
        if domain != "ai.onnx":
            ok = op not in frontend and covers(op, opsets.get(domain, 1), domain)
        else:
            only_ours = op not in frontend and op not in _DIRECTLY_HANDLED
            ok = op in supported and not (only_ours and not covers(op, opset))
        if not ok:
            missing[(domain, node.op_type)].append(node.name or "<unnamed>")
    if not missing:
        return
    parts = []
    for (domain, op), names in sorted(missing.items()):
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        prefix = "" if domain == "ai.onnx" else f"{domain}."
        parts.append(f"{prefix}{op} (opset {opsets.get(domain, '?')}) x{len(names)} [{shown}]")
    total = sum(len(v) for v in missing.values())
    raise UnsupportedOperatorError(
        f"{total} node(s) use {len(missing)} unsupported operator(s): {'; '.join(parts)}; "
        "replace them in the exporter or file an issue with this list"
    )


def _all_nodes(graph: onnx.GraphProto):
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _all_nodes(attr.g)
            for sub in attr.graphs:
                yield from _all_nodes(sub)


def to_relax(bound: BoundModel):
    """Import ``bound`` into a Relax IRModule with weights as constants.

    Raises:
        UnsupportedOperatorError: an op has no converter, or its converter rejected this node.
    """
    from .._tvm import from_onnx
    from .overlay import frontend_overlay

    proto = apply_rewrites(bound.proto)
    check_supported(proto)
    opsets = {o.domain: o.version for o in proto.opset_import}
    opset = default_opset(proto, missing=None)
    chatter = io.StringIO()
    try:
        with contextlib.redirect_stdout(chatter), frontend_overlay(opsets):
            mod = from_onnx(
                proto,
                shape_dict={spec.name: list(spec.shape) for spec in bound.inputs},
                dtype_dict={spec.name: storage_dtype(spec.dtype) for spec in bound.inputs},
                opset=opset,
                keep_params_in_input=False,
            )
    except Exception as exc:  # noqa: BLE001 - the frontend raises anything; ours names the node
        where = chatter.getvalue().strip().splitlines()
        detail = f" ({where[0][:200]})" if where else ""
        reason = str(exc).strip().splitlines()[-1][:300] if str(exc).strip() else type(exc).__name__
        raise UnsupportedOperatorError(
            f"the ONNX importer could not convert model '{bound.model.name}'{detail}: {reason}; "
            "bind more dims with --input-shape or file an issue with this message"
        ) from exc
    if chatter.getvalue():
        log.debug("frontend output: %s", chatter.getvalue())
    return mod
