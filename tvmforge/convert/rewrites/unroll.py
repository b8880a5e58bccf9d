"""Unroll Scan and Loop whose iteration count is static into straight-line ONNX.

TVM's Relax importer converts neither op (LinearAttention expands into a Scan, Range's function
into a Loop). Once input shapes are bound, a Scan runs as many steps as its scan inputs are long
on their scan axes; a Loop runs as many as any of its scan outputs is long (the model's shapes
promise it), or a constant trip count when its condition can never turn false. The body is then
inlined once per step with its values renamed: scan inputs are sliced with Gather, scan outputs
stacked with Unsqueeze + Concat, and the result folded again. It runs after constant folding
(a trip count is often computed). Past ``MAX_ITERATIONS`` body copies the rewrite refuses.
A Loop whose trip count is known only at run time is rewritten only when its body is an
arithmetic progression (Range's function): Range + Mul + Add, no unrolling.
"""

from __future__ import annotations

import logging

import numpy as np
import onnx
from onnx import helper

from ...errors import UnsupportedOperatorError
from ...load import default_opset
from .fold import _constant_node, _constant_value, _used_names, fold_constants, inferred_shapes

log = logging.getLogger(__name__)

#: Most body copies one Scan or Loop may unroll into.
MAX_ITERATIONS = 256
#: Rounds of unrolling: a loop nested in a body surfaces once its parent is unrolled.
_ROUNDS = 4

Shapes = dict[str, tuple[int | None, ...]]


def unroll_loops(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Replace each top-level Scan and Loop with a static iteration count by its unrolled body.

    Raises:
        UnsupportedOperatorError: one would unroll into more than ``MAX_ITERATIONS`` bodies.
    """
    if not any(_is_loop(n) for n in proto.graph.node):
        return proto
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    opset = default_opset(out)
    for round_ in range(_ROUNDS):
        shapes = _shapes(out)
        consts = _top_level_constants(out.graph)
        taken = _all_names(out.graph)
        nodes: list[onnx.NodeProto] = []
        changed = False
        for index, node in enumerate(out.graph.node):
            unrolled = None
            if _is_loop(node):
                prefix = _fresh_prefix(f"{node.op_type.lower()}{round_}_{index}", taken)
                unrolled = _unroll(node, _Emitter(prefix, opset), shapes, consts)
            changed |= unrolled is not None
            nodes.extend([node] if unrolled is None else unrolled)
        if not changed:
            break
        del out.graph.node[:]
        out.graph.node.extend(nodes)
    return fold_constants(out)  # the copies read constant iteration numbers and slices


def _shapes(proto: onnx.ModelProto) -> Shapes:
    """Inferred shapes, plus those a Cast or Identity's static output gives back to its input.

    Inference forwards shapes only; a Loop's scan output is often cast to a graph output whose
    declared shape is the one static fact about the iteration count (Range's function).
    """
    shapes = inferred_shapes(proto)
    for node in reversed(proto.graph.node):
        if node.op_type in ("Cast", "Identity") and node.output[0] in shapes:
            known = shapes.get(node.input[0])
            if known is None or None in known:
                shapes[node.input[0]] = shapes[node.output[0]]
    return shapes


def _is_loop(node: onnx.NodeProto) -> bool:
    return node.domain in ("", "ai.onnx") and node.op_type in ("Scan", "Loop")


def _unroll(node, emit: _Emitter, shapes: Shapes, consts) -> list[onnx.NodeProto] | None:
    """The nodes replacing ``node``, or None when its iteration count is not static."""
    if node.op_type == "Loop":
        return _loop(node, emit, shapes, consts)
    if emit.opset < 9:
        return _scan8(node, emit, shapes)
    return _scan9(node, emit, shapes)


def _top_level_constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    values = {i.name: onnx.numpy_helper.to_array(i) for i in graph.initializer if len(i.dims) <= 1}
    for node in graph.node:
        if node.op_type == "Constant" and (value := _constant_value(node)) is not None:
            values[node.output[0]] = value
    return values


def _all_names(graph: onnx.GraphProto) -> set[str]:
    names = _used_names(graph) | {vi.name for vi in graph.input}
    for node in graph.node:
        names.update(node.output)
        names.add(node.name)
    return names


def _fresh_prefix(base: str, taken: set[str]) -> str:
    """``base`` with underscores appended until no existing name starts with it."""
    while any(name.startswith(base) for name in taken):
        base += "_"
    return base


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _check_count(node: onnx.NodeProto, copies: int) -> None:
    if copies > MAX_ITERATIONS:
        raise UnsupportedOperatorError(
            f"{node.op_type} '{node.name or node.output[0]}' would unroll into {copies} copies "
            f"of its body, more than the limit of {MAX_ITERATIONS}; tvmforge compiles "
            f"{node.op_type} only by unrolling it: bind a shorter sequence with --input-shape"
        )


def _rank(shapes: Shapes, name: str) -> int | None:
    shape = shapes.get(name)
    return None if shape is None else len(shape)


def _axis(axis: int, rank: int | None) -> int | None:
    """``axis`` made non-negative (None when that needs an unknown rank)."""
    if axis >= 0:
        return axis
    return None if rank is None else axis + rank


class _Emitter:
    """Collects the nodes of one unrolled loop; every name it makes starts with ``prefix``."""

    def __init__(self, prefix: str, opset: int) -> None:
        self.prefix = prefix
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self._consts: dict[tuple, str] = {}
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{self.prefix}__{hint}{self._count}"

    def const(self, value: np.ndarray) -> str:
        """A Constant of ``value``, made once per distinct value."""
        key = (value.dtype.str, value.shape, value.tobytes())
        if key not in self._consts:
            name = self.name("c")
            self.nodes.append(_constant_node(name, value))
            self._consts[key] = name
        return self._consts[key]

    def op(self, op: str, inputs: list[str], out: str | None = None, **attrs) -> str:
        out = out or self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def take(self, x: str, index: int, axis: int) -> str:
        """``x[..., index, ...]`` on ``axis``, the axis removed."""
        return self.op("Gather", [x, self.const(np.array(index, dtype=np.int64))], axis=axis)

    def stack(self, items: list[str], axis: int, out: str) -> None:
        """Stack ``items`` on a new ``axis`` into ``out``."""
        if self.opset >= 13:
            axes = self.const(np.array([axis], dtype=np.int64))
            expanded = [self.op("Unsqueeze", [x, axes]) for x in items[:-1]]
            last = out if len(items) == 1 else None
            expanded.append(self.op("Unsqueeze", [items[-1], axes], last))
        else:
            expanded = [self.op("Unsqueeze", [x], axes=[axis]) for x in items[:-1]]
            last = out if len(items) == 1 else None
            expanded.append(self.op("Unsqueeze", [items[-1]], last, axes=[axis]))
        if len(items) > 1:
            self.op("Concat", expanded, out, axis=axis)

    def inline(self, body: onnx.GraphProto, feeds: list[str]) -> list[str]:
        """Emit one copy of ``body`` fed ``feeds``; the names of its outputs."""
        tag = self.name("it")
        mapping = {vi.name: feed for vi, feed in zip(body.input, feeds, strict=True)}
        for init in body.initializer:
            mapping[init.name] = self.const(onnx.numpy_helper.to_array(init))
        for node in body.node:
            copy = onnx.NodeProto()
            copy.CopyFrom(node)
            _rename_inputs(copy, mapping)
            for k, out in enumerate(node.output):
                if out:
                    mapping[out] = copy.output[k] = f"{tag}__{out}"
            if node.name:
                copy.name = f"{tag}__{node.name}"
            self.nodes.append(copy)
        return [mapping.get(vi.name, vi.name) for vi in body.output]

    def finish(self, finals: list[str], outputs: list[str]) -> list[onnx.NodeProto]:
        """Bind the final values to the loop's outputs (skipping unused ones)."""
        for value, out in zip(finals, outputs, strict=True):
            if out:
                self.op("Identity", [value], out)
        return self.nodes


def _rename_inputs(node: onnx.NodeProto, mapping: dict[str, str]) -> None:
    """Rename ``node``'s inputs, and references from its subgraphs, through ``mapping``."""
    for k, name in enumerate(node.input):
        node.input[k] = mapping.get(name, name)
    for attr in node.attribute:
        graphs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
        for graph in graphs:
            for inner in graph.node:
                _rename_inputs(inner, mapping)
            for vi in graph.output:
                vi.name = mapping.get(vi.name, vi.name)


def _steps(
    emit: _Emitter, body, states: list[str], slices, count: int, directions: list[int]
) -> tuple[list[str], list[list[str]]]:
    """Run a scan body ``count`` times; final states and, per scan output, its items in order.

    ``slices[j](t)`` is scan input ``j`` at step ``t``; reversed directions count down.
    """
    outputs: list[list[str]] = [[] for _ in range(len(body.output) - len(states))]
    for t in range(count):
        feeds = [s(count - 1 - t if d else t) for s, d in zip(slices, directions, strict=True)]
        results = emit.inline(body, [*states, *feeds])
        states = results[: len(states)]
        for items, value in zip(outputs, results[len(states) :], strict=True):
            items.append(value)
    return states, outputs


def _scan9(node, emit: _Emitter, shapes: Shapes) -> list[onnx.NodeProto] | None:
    """Scan 9+: scan inputs sliced on ``scan_input_axes``, outputs stacked on their axes."""
    attrs = _attrs(node)
    body, m = attrs["body"], attrs["num_scan_inputs"]
    n = len(node.input) - m
    scans = list(node.input[n:])
    axes = attrs.get("scan_input_axes", [0] * m)
    in_axes = [_axis(a, _rank(shapes, x)) for a, x in zip(axes, scans, strict=True)]
    shape = shapes.get(scans[0])
    if in_axes[0] is None or shape is None or not shape[in_axes[0]]:
        return None
    length = shape[in_axes[0]]
    _check_count(node, length)
    k = len(body.output) - n
    out_axes = []
    for axis, out in zip(attrs.get("scan_output_axes", [0] * k), node.output[n:], strict=True):
        out_axes.append(_axis(axis, _rank(shapes, out)))
    if any(a is None for a in [*in_axes, *out_axes]):
        return None
    slices = [lambda t, x=x, a=a: emit.take(x, t, a) for x, a in zip(scans, in_axes, strict=True)]
    states, outputs = _steps(
        emit, body, list(node.input[:n]), slices, length,
        list(attrs.get("scan_input_directions", [0] * m)),
    )  # fmt: skip
    out_dirs = attrs.get("scan_output_directions", [0] * k)
    for items, axis, reverse, out in zip(outputs, out_axes, out_dirs, node.output[n:], strict=True):
        if out:
            emit.stack(items[::-1] if reverse else items, axis, out)
    return emit.finish(states, list(node.output[:n]))


def _scan8(node, emit: _Emitter, shapes: Shapes) -> list[onnx.NodeProto] | None:
    """Scan 8: axis 0 is a batch, each item scanned on axis 1; no ``sequence_lens`` support."""
    attrs = _attrs(node)
    body, m = attrs["body"], attrs["num_scan_inputs"]
    if node.input[0]:
        log.debug("Scan-8 '%s' has sequence_lens: not unrolled", node.name)
        return None
    inputs = list(node.input[1:])
    n = len(inputs) - m
    shape = shapes.get(inputs[n])
    if shape is None or len(shape) < 2 or not shape[0] or not shape[1]:
        return None
    batch, length = shape[0], shape[1]
    _check_count(node, batch * length)
    directions = list(attrs.get("directions", [0] * m))
    finals: list[list[str]] = []
    outputs: list[list[str]] = []
    for b in range(batch):
        items = [emit.take(x, b, 0) for x in inputs[n:]]
        slices = [lambda t, x=x: emit.take(x, t, 0) for x in items]
        states = [emit.take(s, b, 0) for s in inputs[:n]]
        states, scanned = _steps(emit, body, states, slices, length, directions)
        finals.append(states)
        per_output = []
        for values in scanned:
            stacked = emit.name("seq")
            emit.stack(values, 0, stacked)
            per_output.append(stacked)
        outputs.append(per_output)
    for values, out in zip(zip(*finals, strict=True), node.output[:n], strict=True):
        if out:
            emit.stack(list(values), 0, out)
    for values, out in zip(zip(*outputs, strict=True), node.output[n:], strict=True):
        if out:
            emit.stack(list(values), 0, out)
    return emit.nodes


def _loop(node, emit: _Emitter, shapes: Shapes, consts) -> list[onnx.NodeProto] | None:
    """Loop: as many steps as a scan output is long, else a constant trip count."""
    body = _attrs(node)["body"]
    trip, cond, carried = node.input[0], node.input[1], list(node.input[2:])
    n = len(carried)
    scan_outputs = list(node.output[n:])
    count = next(
        (s[0] for out in scan_outputs if (s := shapes.get(out)) and s[0] is not None), None
    )
    if count is None and trip in consts and _never_stops(body, cond, consts):
        count = int(consts[trip].reshape(-1)[0])
    if count is None:
        return _progression(node, emit, body)
    if not count:
        return None
    _check_count(node, count)
    flag = cond or emit.const(np.array(True))
    scanned: list[list[str]] = [[] for _ in scan_outputs]
    for t in range(count):
        step = emit.const(np.array(t, dtype=np.int64))
        results = emit.inline(body, [step, flag, *carried])
        flag, carried = results[0], results[1 : 1 + n]
        for items, value in zip(scanned, results[1 + n :], strict=True):
            items.append(value)
    for items, out in zip(scanned, scan_outputs, strict=True):
        if out:
            emit.stack(items, 0, out)
    return emit.finish(carried, list(node.output[:n]))


def _never_stops(body: onnx.GraphProto, cond: str, consts) -> bool:
    """Whether the loop condition starts true (or absent) and the body passes it through."""
    if cond and not (cond in consts and bool(consts[cond].reshape(-1)[0])):
        return False
    out, cond_in = body.output[0].name, body.input[1].name
    for node in body.node:
        if out in node.output:
            if node.op_type == "Identity":
                return node.input[0] == cond_in
            value = _constant_value(node) if node.op_type == "Constant" else None
            return value is not None and bool(value.reshape(-1)[0])
    return out == cond_in


def _progression(node, emit: _Emitter, body: onnx.GraphProto) -> list[onnx.NodeProto] | None:
    """A Loop of a run-time trip count that steps one value by a loop-invariant delta and scans
    the values it passes (Range's function body) as Range + Mul + Add; else None."""
    if len(node.input) != 3 or len(node.output) != 2 or not node.input[0] or emit.opset < 15:
        return None
    step = _progression_delta(body)
    if step is None:
        return None
    delta, constant = step
    if constant is not None:
        delta = emit.const(constant)
    trip, cond, start = node.input
    if cond:
        trip = emit.op("Where", [cond, trip, emit.const(np.array(0, dtype=np.int64))])
    trip = emit.op("Reshape", [trip, emit.const(np.array([], dtype=np.int64))])
    one, zero = (emit.const(np.array(v, dtype=np.int64)) for v in (1, 0))
    steps = emit.op("CastLike", [emit.op("Range", [zero, trip, one]), start])
    if node.output[1]:
        emit.op("Add", [start, emit.op("Mul", [steps, delta])], node.output[1])
    last = emit.op("Mul", [emit.op("CastLike", [trip, start]), delta])
    return emit.finish([emit.op("Add", [start, last])], [node.output[0]])


def _progression_delta(body: onnx.GraphProto) -> tuple[str, np.ndarray | None] | None:
    """(delta, its value when a body initializer) when ``body`` passes its condition through,
    adds a delta defined outside the body to its one state and scans the state it was given."""
    if len(body.input) != 3 or len(body.output) != 3:
        return None
    _, cond_in, state = (vi.name for vi in body.input)
    cond_out, stepped, scanned = (vi.name for vi in body.output)
    made = {out: n for n in body.node for out in n.output}
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in body.initializer}

    def identity_of(name: str) -> str:
        n = made.get(name)
        return n.input[0] if n is not None and n.op_type == "Identity" else name

    add = made.get(stepped)
    if identity_of(cond_out) != cond_in or identity_of(scanned) != state:
        return None
    if add is None or add.op_type != "Add" or state not in add.input or len(body.node) > 3:
        return None
    delta = add.input[1] if add.input[0] == state else add.input[0]
    if delta in made or delta in (cond_in, state, body.input[0].name):
        return None
    return delta, inits.get(delta)
