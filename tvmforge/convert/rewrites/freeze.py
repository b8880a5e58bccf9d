"""Turn chosen graph inputs into initializers: what a model with static parameters looks like.

tvmforge compiles for static shapes, so an op whose output shape depends on an input's *value*
(Reshape's shape, Resize's sizes, a reduction's axes, TopK's k, Pad's pads, ...) converts only
when that input is a constant. Real models carry these as initializers; the ONNX conformance
cases feed them as graph inputs. ``SHAPE_PARAMETERS`` lists those positions per op.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import onnx
from onnx import numpy_helper

from .fold import _used_names

_REDUCE = ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
           "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare")  # fmt: skip

#: op -> positions of inputs whose values decide output shapes (or must be constants to TVM).
SHAPE_PARAMETERS: dict[str, tuple[int, ...]] = {
    **{op: (1,) for op in _REDUCE},
    "Reshape": (1,),
    "Resize": (1, 2, 3),
    "Upsample": (1,),
    "Pad": (1, 2, 3),
    "Slice": (1, 2, 3, 4),
    "Split": (1,),
    "TopK": (1,),
    "Tile": (1,),
    "Expand": (1,),
    "Unsqueeze": (1,),
    "Squeeze": (1,),
    "ConstantOfShape": (0,),
    "OneHot": (1,),
    "Range": (0, 1, 2),
    "CumSum": (1,),
    "CumProd": (1,),
    "HannWindow": (0,),
    "HammingWindow": (0,),
    "BlackmanWindow": (0,),
    "CenterCropPad": (1,),
    "NonMaxSuppression": (2, 3, 4),
    "Trilu": (1,),
    "MaxUnpool": (2,),
    "AffineGrid": (1,),
    "Col2Im": (1, 2),
    "DFT": (1, 2),
    "STFT": (1, 3),
    "Loop": (0, 1),  # trip count and first condition: how long its scan outputs are
    "Dropout": (1, 2),
    "MelWeightMatrix": (0, 1, 2, 3, 4),
}


def shape_parameter_inputs(proto: onnx.ModelProto) -> list[str]:
    """Graph inputs whose values reach a shape-parameter position of some top-level node.

    Values are followed back through the nodes computing them, subgraphs included (an expanded
    CenterCropPad computes Pad's pads from its ``shape`` input), but not through Shape or Size,
    which read only their input's shape.
    """
    inits = {i.name for i in proto.graph.initializer}
    graph_inputs = [vi.name for vi in proto.graph.input if vi.name not in inits]
    producers = {out: node for node in proto.graph.node for out in node.output}
    todo = [
        node.input[pos]
        for node in proto.graph.node
        if node.domain in ("", "ai.onnx")
        for pos in SHAPE_PARAMETERS.get(node.op_type, ())
        if pos < len(node.input)
    ]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if not name or name in seen:
            continue
        seen.add(name)
        node = producers.get(name)
        if node is not None and node.op_type not in ("Shape", "Size"):
            todo.extend(node.input)
            for attr in node.attribute:  # If branches read outer values by name
                if attr.type == onnx.AttributeProto.GRAPH:
                    todo.extend(_used_names(attr.g))
    return [name for name in graph_inputs if name in seen]


def freeze_inputs(proto: onnx.ModelProto, values: Mapping[str, np.ndarray]) -> onnx.ModelProto:
    """A copy of ``proto`` where each input named in ``values`` is an initializer of that value."""
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    keep = [vi for vi in out.graph.input if vi.name not in values]
    del out.graph.input[:]
    out.graph.input.extend(keep)
    for name, value in values.items():
        out.graph.initializer.append(numpy_helper.from_array(np.asarray(value), name))
    return out
