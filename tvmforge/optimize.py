"""Graph-level inference optimizations, the same the tuner and the builder see.

Two steps: ``prepare_graph`` works on Relax operators (folding, layout), ``lower`` legalizes to
TensorIR and fuses; between them, ``offload`` may hand convolutions to a library kernel.
"""

from __future__ import annotations

import logging

from .targets import TargetPreset

log = logging.getLogger(__name__)

#: The layout library kernels want: oneDNN picks its fastest (brgconv) kernels for NHWC (an
#: NCHW transposed convolution fell back to its gemm kernel, 3.7 ms against 0.53).
_NHWC = {
    "relax.nn.conv2d": ["NHWC", "OHWI"],
    "relax.nn.conv2d_transpose": ["NHWC", "IOHW"],
}
#: TVM's own transposed convolution (its legalization) knows NCHW only.
_TVM_CONV2D_TRANSPOSE = {"relax.nn.conv2d_transpose": ["NCHW", "IOHW"]}


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
        if nhwc and _convolves(mod):
            mod = _to_nhwc(mod)
        return transform.CanonicalizeBindings()(mod)


def _to_nhwc(mod):
    """Convolutions in NHWC; TVM's layout pass failing leaves the graph as it was (logged)."""
    from ._tvm import relax, tvm

    passes = [relax.transform.ConvertLayout(_NHWC), relax.transform.FoldConstant()]
    try:
        return tvm.transform.Sequential(passes)(_layout_friendly(mod))
    except Exception as exc:  # noqa: BLE001 - an optimization, not a requirement
        log.warning("NHWC layout conversion failed (%s); convolutions stay in TVM", exc)
        return mod


#: Elementwise binary ops whose constant operand may have a lower rank than the other.
_BROADCASTING = frozenset(
    f"relax.{op}" for op in ("add", "subtract", "multiply", "divide", "maximum", "minimum", "power")
)
_COMMUTATIVE = frozenset(f"relax.{op}" for op in ("add", "multiply", "maximum", "minimum"))


def _layout_friendly(mod):
    """Rewrite what TVM's layout pass cannot convert into equivalents it can.

    It wraps such an op in NHWC<->NCHW transposes (PP-OCRv4's detector had 81 of them):
    - ``multiply(scale[1], x[1,C,H,W])``: a constant first, or of lower rank, next to a 4-D
      tensor; it becomes ``multiply(x, scale[1,1,1,1])``;
    - ``clip(x, lo, hi)`` (HardSigmoid's import): it becomes ``minimum(maximum(x, lo), hi)``.
    """
    from ._tvm import relax, rewrite_functions

    @relax.expr_functor.mutator
    class LayoutFriendly(relax.PyExprMutator):
        def visit_call_(self, call):
            call = super().visit_call_(call)
            name = getattr(call.op, "name", "")
            if name == "relax.clip":
                return _clip_as_min_max(call)
            if name in _BROADCASTING and len(call.args) == 2:
                return _constant_last_full_rank(call)
            return call

    return rewrite_functions(mod, LayoutFriendly(mod))


def _clip_as_min_max(call):
    from ._tvm import relax

    x, lo, hi = call.args
    dtype = str(x.ty.dtype)
    low = relax.op.maximum(x, relax.const(float(lo.value), dtype))
    return relax.op.minimum(low, relax.const(float(hi.value), dtype))


def _constant_last_full_rank(call):
    from ._tvm import relax, tvm

    rank = max(len(arg.ty.shape) for arg in call.args)
    if rank != 4:
        return call  # only 4-D (NCHW) operands are converted; other workloads stay as tuned
    args = []
    for arg in call.args:
        if isinstance(arg, tvm.ir.expr.Constant) and 0 < len(arg.ty.shape) < rank:
            value = arg.value.numpy()
            arg = relax.const(value.reshape((1,) * (rank - value.ndim) + value.shape))
        args.append(arg)
    if call.op.name in _COMMUTATIVE and isinstance(args[0], tvm.ir.expr.Constant):
        args.reverse()
    return relax.Call(call.op, args, call.attrs, call.ty_args)


def _convolves(mod, ops=tuple(_NHWC), layout: str | None = None) -> bool:
    """Whether a Relax function of ``mod`` calls one of ``ops`` (with data in ``layout``, if
    given)."""
    from ._tvm import relax

    return any(
        isinstance(b.value, relax.Call)
        and getattr(b.value.op, "name", "") in ops
        and (layout is None or b.value.attrs.data_layout == layout)
        for func in mod.functions.values()
        if isinstance(func, relax.Function)
        for block in func.body.blocks
        for b in block.bindings
    )


def lower(graph, preset: TargetPreset):
    """Legalize to TensorIR and fuse: the fused PrimFuncs are the tuning tasks. Transposed
    convolutions left to TVM in NHWC go back to NCHW, the layout its legalization knows."""
    from ._tvm import relax, tvm, tvm_errors

    transform = relax.transform
    if _convolves(graph, tuple(_TVM_CONV2D_TRANSPOSE), "NHWC"):
        graph = transform.ConvertLayout(_TVM_CONV2D_TRANSPOSE)(graph)
    passes = [
        _fast_math(),
        transform.LegalizeOps(),
        transform.AnnotateTIROpPattern(),
        transform.FoldConstant(),
        transform.FuseOps(),
        transform.FuseTIR(),
        transform.DeadCodeElimination(),
    ]
    with tvm_errors("graph optimization"), tvm.target.Target(preset.target):
        return tvm.transform.Sequential(passes)(graph)


def _fast_math():
    """A pass replacing float32 ``erf`` (GELU's), softmax, sigmoid and tanh with forms built on
    TVM's ``fast_erf``, ``fast_exp`` and ``fast_tanh``, and ``power`` by a constant multiple of
    1/4 with square roots and products.

    TVM lowers ``erf``, ``exp``, ``tanh`` and ``power`` to a scalar libm call per element that
    LLVM cannot vectorize: BERT-base's 12 GELUs took 25 ms and its softmaxes 17 ms of 175,
    Inception-v1's two local response norms (``x / (k + a * sum(x^2)) ^ 0.75``) 2.5 ms of 16 and
    PP-OCRv4's final 640x640 sigmoid 0.6 ms. The fast forms are vectorizable polynomials (Eigen's
    erf), within about 1e-7 in float32 (``fast_exp`` saturates beyond +-88, where a sigmoid is
    0 or 1 and ``tanh`` +-1 in float32 anyway); ``sqrt`` is exact, so
    ``x^0.75 = sqrt(x) * sqrt(sqrt(x))`` is within a few ulp of ``powf``. Softmax subtracts its
    maximum first, so ``fast_exp``'s clamp at -88 changes nothing measurable."""
    from tvm import topi

    from ._tvm import relax, rewrite_functions, tvm

    @relax.expr_functor.mutator
    class FastMath(relax.PyExprMutator):
        def visit_call_(self, call):
            call = super().visit_call_(call)
            name = getattr(call.op, "name", "")
            if str(getattr(call.ty, "dtype", "")) != "float32":
                return call
            if name == "relax.erf":
                return self.builder_.call_te(topi.fast_erf, call.args[0])
            if name == "relax.nn.softmax":
                return self.builder_.call_te(topi.nn.fast_softmax, call.args[0], call.attrs.axis)
            if name == "relax.power":
                return _power_by_roots(call)
            if name == "relax.sigmoid":
                return self.builder_.call_te(_fast_sigmoid, call.args[0])
            if name == "relax.tanh":
                return self.builder_.call_te(topi.fast_tanh, call.args[0])
            return call

    @tvm.transform.module_pass(opt_level=0, name="TvmforgeFastMath")
    def fast_math(mod, _ctx):
        return rewrite_functions(mod, FastMath(mod))

    return fast_math


def _fast_sigmoid(x):
    """``1 / (1 + fast_exp(-x))`` as a TE tensor."""
    from tvm import topi

    return topi.divide(1.0, topi.add(1.0, topi.fast_exp(topi.negative(x))))


#: ``power`` exponents rewritten, in quarters: up to x^4 (LRN's 0.75, squares, cubes, roots).
_MAX_QUARTERS = 16


def _power_by_roots(call):
    """``x ^ c`` for a constant scalar ``c = n / 4`` (``0 < |n| <= 16``) as products of ``x``,
    ``sqrt(x)`` and ``sqrt(sqrt(x))`` (and a reciprocal for negative ``c``); other calls as
    they are. Negative ``x`` with a fractional ``c`` gives NaN, as ``powf`` does."""
    from ._tvm import relax, tvm

    x, exponent = call.args
    if not isinstance(exponent, tvm.ir.expr.Constant) or exponent.value.numpy().size != 1:
        return call
    if len(exponent.ty.shape) > len(x.ty.shape):
        return call  # the exponent would broadcast x to a higher rank
    quarters = float(exponent.value.numpy().reshape(())) * 4
    n = int(round(quarters))
    if n != quarters or not 0 < abs(n) <= _MAX_QUARTERS:
        return call
    whole, half, quarter = abs(n) // 4, abs(n) % 4 // 2, abs(n) % 2
    factors = [x] * whole
    root = relax.op.sqrt(x)
    factors += [root] * half + [relax.op.sqrt(root)] * quarter
    result = factors[0]
    for factor in factors[1:]:
        result = relax.op.multiply(result, factor)
    if n < 0:
        result = relax.op.divide(relax.const(1.0, "float32"), result)
    return result


def optimize(mod, preset: TargetPreset, *, nhwc: bool = False):
    """``lower(prepare_graph(mod))``: an optimized module with no library kernels."""
    return lower(prepare_graph(mod, preset, nhwc=nhwc), preset)
