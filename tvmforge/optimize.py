"""Graph-level inference optimizations, the same the tuner and the builder see."""

from __future__ import annotations

from .targets import TargetPreset


def optimize(mod, preset: TargetPreset):
    """Fold batch-norms and constants, legalize to TensorIR and fuse operators.

    Returns a new IRModule whose fused PrimFuncs are the tuning tasks.
    """
    from ._tvm import relax, tvm, tvm_errors

    transform = relax.transform
    passes = [
        transform.FoldBatchnormToConv2D(),
        transform.DecomposeOpsForInference(),
        transform.CanonicalizeBindings(),
        transform.FoldConstant(),
        transform.LegalizeOps(),
        transform.AnnotateTIROpPattern(),
        transform.FoldConstant(),
        transform.FuseOps(),
        transform.FuseTIR(),
        transform.DeadCodeElimination(),
    ]
    with tvm_errors("graph optimization"), tvm.target.Target(preset.target):
        return tvm.transform.Sequential(passes)(mod)
