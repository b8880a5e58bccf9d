"""ONNX-to-ONNX rewrites applied before import, each a pure function on a ModelProto."""

from __future__ import annotations

from collections.abc import Callable

import onnx

from .branches import stub_invalid_branches
from .fold import fold_constants
from .functions import expand_functions
from .precision import attention_in_float32
from .storage import carry_in_storage
from .unroll import unroll_loops

Rewrite = Callable[[onnx.ModelProto], onnx.ModelProto]


def sum_of_two_to_add(proto: onnx.ModelProto) -> onnx.ModelProto:
    """``Sum(a, b)`` -> ``Add(a, b)``: TVM imports Sum as broadcast+stack+sum, which blocks fusion."""
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    for node in out.graph.node:
        if node.op_type == "Sum" and node.domain in ("", "ai.onnx") and len(node.input) == 2:
            node.op_type = "Add"
    return out


REWRITES: tuple[Rewrite, ...] = (
    attention_in_float32,
    expand_functions,
    fold_constants,
    unroll_loops,
    stub_invalid_branches,
    sum_of_two_to_add,
    carry_in_storage,  # last: folding evaluates exotic constants with their real types
)


def apply_rewrites(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Apply every registered rewrite in order."""
    for rewrite in REWRITES:
        proto = rewrite(proto)
    return proto
