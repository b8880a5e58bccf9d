"""Graph-level inference optimizations, the same the tuner and the builder see.

Two steps: ``prepare_graph`` works on Relax operators (folding, layout), ``lower`` legalizes to
TensorIR and fuses; between them, ``offload`` may hand convolutions to a library kernel.
"""

from __future__ import annotations

import logging

from .targets import TargetPreset

log = logging.getLogger(__name__)

#: The layout library kernels want: oneDNN picks its fastest (brgconv) kernels for NHWC.
_NHWC = {
    "relax.nn.conv2d": ["NHWC", "OHWI"],
    "relax.nn.conv2d_transpose": ["NCHW", "IOHW"],  # its legalization knows NCHW only
}


def prepare_graph(mod, preset: TargetPreset, *, nhwc: bool = False):
    """Fold batch-norms and constants; with ``nhwc``, convert convolutions to NHWC/OHWI."""
    from ._tvm import relax, tvm, tvm_errors

    transform = relax.transform
    passes = [
        transform.FoldBatchnormToConv2D(),
        transform.DecomposeOpsForInference(),
        transform.CanonicalizeBindings(),
        transform.FoldConstant(),
    ]
    with tvm_errors("graph optimization"), tvm.target.Target(preset.target):
        mod = tvm.transform.Sequential(passes)(mod)
        if nhwc and _has_conv2d(mod):
            mod = _to_nhwc(mod)
        return transform.CanonicalizeBindings()(mod)


def _to_nhwc(mod):
    """Convolutions in NHWC; TVM's layout pass failing leaves the graph as it was (logged)."""
    from ._tvm import relax, tvm

    passes = [relax.transform.ConvertLayout(_NHWC), relax.transform.FoldConstant()]
    try:
        return tvm.transform.Sequential(passes)(mod)
    except Exception as exc:  # noqa: BLE001 - an optimization, not a requirement
        log.warning("NHWC layout conversion failed (%s); convolutions stay in TVM", exc)
        return mod


def _has_conv2d(mod) -> bool:
    """Whether ``main`` convolves (layout conversion is for convolutions only)."""
    from ._tvm import relax

    return any(
        isinstance(b.value, relax.Call) and getattr(b.value.op, "name", "") == "relax.nn.conv2d"
        for block in mod["main"].body.blocks
        for b in block.bindings
    )


def lower(graph, preset: TargetPreset):
    """Legalize to TensorIR and fuse: the fused PrimFuncs are the tuning tasks."""
    from ._tvm import relax, tvm, tvm_errors

    transform = relax.transform
    passes = [
        transform.LegalizeOps(),
        transform.AnnotateTIROpPattern(),
        transform.FoldConstant(),
        transform.FuseOps(),
        transform.FuseTIR(),
        transform.DeadCodeElimination(),
    ]
    with tvm_errors("graph optimization"), tvm.target.Target(preset.target):
        return tvm.transform.Sequential(passes)(graph)


def optimize(mod, preset: TargetPreset, *, nhwc: bool = False):
    """``lower(prepare_graph(mod))``: an optimized module with no library kernels."""
    return lower(prepare_graph(mod, preset, nhwc=nhwc), preset)
