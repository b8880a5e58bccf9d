"""Graph-level inference optimizations, the same the tuner and the builder see.

Two steps: ``prepare_graph`` works on Relax operators (folding, layout), ``lower`` legalizes to
TensorIR and fuses; between them, ``offload`` may hand convolutions to a library kernel.
"""

from __future__ import annotations

from .targets import TargetPreset

#: The layout library kernels want: oneDNN picks its fastest (brgconv) kernels for NHWC.
_NHWC = {"relax.nn.conv2d": ["NHWC", "OHWI"]}


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
    if nhwc:
        passes += [transform.ConvertLayout(_NHWC), transform.FoldConstant()]
    passes.append(transform.CanonicalizeBindings())
    with tvm_errors("graph optimization"), tvm.target.Target(preset.target):
        return tvm.transform.Sequential(passes)(mod)


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
