"""The onnx wheel's ``light`` architectures with their ConstantOfShape weights made real.

Each weight of these models is a ConstantOfShape node filled with 0.02, which makes every
activation identical and lets a compiler fold the whole network. We replace each one by a seeded
random initializer scaled for its consumer (He-style for conv/dense weights, a positive
variance for batch-norm), so outputs stay finite and differ per input.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

#: The folder of the light models inside the installed onnx wheel.
LIGHT_DIR = Path(onnx.__file__).resolve().parent / "backend" / "test" / "data" / "light"


def light_path(arch: str) -> Path:
    """The ConstantOfShape original of ``arch`` (e.g. ``resnet50``) in the onnx wheel."""
    return LIGHT_DIR / f"light_{arch}.onnx"


def materialise(arch: str, out: Path, seed: int = 0) -> Path:
    """Write ``light_<arch>.onnx`` with seeded random weights to ``out``; returns ``out``."""
    model = onnx.load(str(light_path(arch)))
    graph = model.graph
    rng = np.random.default_rng(seed)
    inits = {init.name: init for init in graph.initializer}
    consumers: dict[str, tuple[str, int]] = {}
    for node in graph.node:
        for idx, name in enumerate(node.input):
            consumers.setdefault(name, (node.op_type, idx))
    kept = []
    made: set[str] = set()
    for node in graph.node:
        if node.op_type != "ConstantOfShape" or node.input[0] not in inits:
            kept.append(node)
            continue
        shape = tuple(int(d) for d in numpy_helper.to_array(inits[node.input[0]]))
        op, idx = consumers.get(node.output[0], ("", 0))
        value = _random_weight(rng, shape, op, idx)
        graph.initializer.append(numpy_helper.from_array(value, node.output[0]))
        made.add(node.output[0])
    del graph.node[:]
    graph.node.extend(kept)
    used = {name for node in graph.node for name in node.input}
    live = [i for i in graph.initializer if i.name in used or i.name in made]
    del graph.initializer[:]
    graph.initializer.extend(live)
    names = set(inits) | made
    inputs = [vi for vi in graph.input if vi.name not in names]
    del graph.input[:]
    graph.input.extend(inputs)
    model.ir_version = max(model.ir_version, 4)  # IR 3 wants every initializer listed as input
    onnx.checker.check_model(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    return out


def _random_weight(rng: np.random.Generator, shape: tuple[int, ...], op: str, idx: int):
    """A weight for input ``idx`` of an ``op`` node, scaled to keep activations near unit size."""
    if op == "BatchNormalization":
        if idx in (1, 4):  # scale, variance: positive, near 1
            return rng.uniform(0.5, 1.5, shape).astype(np.float32)
        return (rng.standard_normal(shape) * 0.1).astype(np.float32)
    if len(shape) >= 2:
        fan_in = int(np.prod(shape[1:])) if op == "Conv" else shape[0]
        if op == "Gemm":
            fan_in = shape[-1]
        return (rng.standard_normal(shape) * np.sqrt(2.0 / max(fan_in, 1))).astype(np.float32)
    return (rng.standard_normal(shape) * 0.01).astype(np.float32)
