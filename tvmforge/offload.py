"""Find the operators a library kernel can run, and hand the chosen ones to it.

A *site* is a chain in the graph's dataflow that starts at an anchor, an NHWC ``conv2d`` with
constant OHWI weights, an NHWC ``conv2d_transpose`` with constant IOHW weights or a 2-D
``matmul`` with a constant weight (a dense layer), then optionally ``add`` of a constant bias,
``add`` of a residual tensor (convolutions), and ``relu`` or a clip (``maximum`` then
``minimum`` with constants), or the residual ``add`` after the activation instead, each
intermediate used only by the next. The chain is replaced by one ``call_dps_packed`` to a
library kernel, which fuses the same epilogue. A ``matmul`` of two run-time tensors of equal
batch dims (attention's ``Q @ K^T`` and ``P @ V``) is a site of its own, without an epilogue.

Each site names the library kernels that can run it (``Site.library_kernels``): oneDNN's direct
kernels run every site; Winograd's (``kernels/winograd.cc``, F(4x4, 3x3) and F(2x2, 3x3)) run
3x3 stride-1 convolutions whose channel counts are multiples of 16; im2col's
(``kernels/im2col.cc``) runs convolutions whose reduction (kernel area x input channels) is
short, as a network's first layer has, and so does the shallow kernel (``kernels/shallow.cc``)
where the input channels are few.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .kernels import FUNCTIONS, IM2COL_FUNCTIONS, SHALLOW_FUNCTIONS, WINOGRAD_FUNCTIONS

#: Activation codes shared with dnnl_kernels.cc; ``_RESIDUAL_LAST`` is or-ed in when the
#: residual is added after the activation (``relu(conv(x)) + y``), not before it.
_RELU, _CLIP, _RESIDUAL_LAST = 1, 2, 4
#: Library kernels, by the name choices and manifests use, with their functions' prefix.
ONEDNN, WINOGRAD, WINOGRAD2 = "onednn", "winograd", "winograd2"
IM2COL, SHALLOW = "im2col", "shallow"
LIBRARY_KERNELS = (ONEDNN, WINOGRAD, WINOGRAD2, IM2COL, SHALLOW)
#: Kernels that can also write their output beside another tensor they are concatenated with.
_CONCATENATING = (WINOGRAD, WINOGRAD2)
#: Kernels that can read their input in NCHW, skipping the transpose of the model's input.
_READS_NCHW = (SHALLOW,)
_PREFIXES = {
    ONEDNN: "tvmforge_dnnl_",
    WINOGRAD: "tvmforge_winograd_",
    WINOGRAD2: "tvmforge_winograd2_",
    IM2COL: "tvmforge_im2col_",
    SHALLOW: "tvmforge_shallow_",
}
#: Channels our kernels handle at a time: Winograd's both channel counts and the shallow
#: kernel's output channels must be multiples.
_LANES = 16
#: The longest reduction (kernel height x width x input channels) offered to im2col and the
#: shallow kernel: 7x7 on three channels (ResNet's first layer) and below.
_SHALLOW_DEPTH = 160


@dataclass(frozen=True)
class Site:
    """One chain: its bindings (first to last) and what the kernel needs."""

    kind: str  # "conv2d", "conv2d_transpose", "dense" or "batch_matmul"
    #: relax VarBindings: anchor, [bias add], [residual add], [activation], [residual add]
    bindings: tuple
    #: relax Vars read at run time: the input (NHWC for convolutions, (M, K) for
    #: dense, (..., M, K) for batch_matmul), then the residual or batch_matmul's (..., K, N)
    inputs: tuple
    weight: np.ndarray | None  # OHWI for conv2d, IOHW for conv2d_transpose, (K, N) for dense
    bias: np.ndarray | None  # (output channels,)
    attrs: tuple[int | float, ...]  # the kernel's attribute arguments, in order (see .cc)

    @property
    def data(self):
        return self.inputs[0]

    @property
    def residual(self):
        """The tensor added before (or, see ``_RESIDUAL_LAST``, after) the activation, or None."""
        return self.inputs[1] if self.weight is not None and len(self.inputs) > 1 else None

    @property
    def end(self):
        """The var the chain's result is bound to."""
        return self.bindings[-1].var

    @property
    def key(self) -> str:
        """Workload key: equal for sites with the same shapes, attributes and epilogue."""
        shape = _dims(self.data)
        weight = list(self.weight.shape) if self.weight is not None else _dims(self.inputs[1])
        text = json.dumps([self.kind, shape, weight, self.residual is not None, self.attrs])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def describe(self) -> str:
        """Human-readable workload, e.g. ``conv2d 1x56x56x64 * 64x3x3x64 s1 +bias+res relu``."""
        shape = "x".join(str(d) for d in _dims(self.data))
        if self.kind == "batch_matmul":
            return f"batch_matmul {shape} * {'x'.join(str(d) for d in _dims(self.inputs[1]))}"
        weight = "x".join(str(d) for d in self.weight.shape)
        code = int(self.attrs[-3])
        residual_first = self.residual is not None and not code & _RESIDUAL_LAST
        epilogue = "+bias" + ("+res" if residual_first else "")
        act = {0: "", _RELU: " relu", _CLIP: " clip"}[code & ~_RESIDUAL_LAST]
        act += "+res" if code & _RESIDUAL_LAST else ""
        if self.kind == "dense":
            return f"dense {shape} * {weight} {epilogue}{act}"
        if self.kind == "conv2d_transpose":
            return f"conv2d_transpose {shape} * {weight} s{self.attrs[0]} {epilogue}{act}"
        return f"conv2d {shape} * {weight} s{self.attrs[0]} g{self.attrs[8]} {epilogue}{act}"

    @property
    def library_kernels(self) -> tuple[str, ...]:
        """The library kernels that can run this site: oneDNN's always; for convolutions without
        groups, Winograd's (both) when 3x3 stride-1 undilated with channel counts multiple of
        16; im2col's when the reduction is at most ``_SHALLOW_DEPTH`` long, but not for 1x1
        stride-1 convolutions, whose patches are the input itself (oneDNN runs the same product
        without the copy); the shallow kernel's too when there are fewer than 16 input channels
        (too few to fill its vectors, which run over output channels) and the output channels
        are a multiple of 16."""
        if self.kind != "conv2d" or self.attrs[8] != 1:
            return (ONEDNN,)
        out_channels, kh, kw, in_channels = self.weight.shape
        strides, dilation = tuple(self.attrs[0:2]), tuple(self.attrs[6:8])
        lanes = out_channels % _LANES == 0 and in_channels % _LANES == 0
        winograd = (kh, kw) == (3, 3) and strides == dilation == (1, 1) and lanes
        pointwise = (kh, kw) == (1, 1) and strides == (1, 1)  # im2col would copy the input
        im2col = kh * kw * in_channels <= _SHALLOW_DEPTH and not pointwise
        shallow = im2col and in_channels < _LANES and out_channels % _LANES == 0
        kernels = (ONEDNN,) + (WINOGRAD, WINOGRAD2) * winograd + (IM2COL,) * im2col
        return kernels + (SHALLOW,) * shallow

    def kernel_call(
        self, inputs: tuple | None = None, kernel: str = ONEDNN, first=None, nchw: bool = False
    ):
        """The ``call_dps_packed`` to library ``kernel`` that replaces the chain (optionally on
        other input vars; ``nchw``: the first one is the NCHW tensor the NHWC input transposes),
        or with ``first`` (Winograd's, no residual) the one that replaces the channel
        concatenation of ``first`` and the chain."""
        from ._tvm import relax

        data, *rest = self.inputs if inputs is None else inputs
        args = [data]
        if self.weight is not None:
            args += [relax.const(self.weight), relax.const(self.bias)]
        args += rest if first is None else [first]
        if self.attrs:  # ints, then the clip bounds as one constant (see the .cc)
            ints, clip = self.attrs[:-2], self.attrs[-2:]
            args += [relax.prim_value(int(v)) for v in ints]
            args.append(relax.const(np.asarray(clip, dtype="float32")))
        assert kernel in self.library_kernels, (kernel, self.describe())
        assert not nchw or kernel in _READS_NCHW, kernel
        suffix = ("_nchw" if nchw else "") + ("_add" if self.residual is not None else "")
        out_ty = self.end.ty
        if first is not None:
            assert kernel in _CONCATENATING and self.residual is None, (kernel, self.describe())
            suffix = "_concat"
            shape = [*_dims(self.end)[:3], _dims(first)[3] + _dims(self.end)[3]]
            out_ty = relax.TensorType(shape, "float32")
        name = f"{_PREFIXES[kernel]}{self.kind}{suffix}"
        assert name in FUNCTIONS + WINOGRAD_FUNCTIONS + IM2COL_FUNCTIONS + SHALLOW_FUNCTIONS, name
        return relax.call_dps_packed(name, relax.Tuple(args), out_ty=out_ty)


def find_sites(func) -> list[Site]:
    """Every convolution chain in ``func`` (a Relax function in NHWC) the kernel can run."""
    from ._tvm import relax

    sites = []
    for block in func.body.blocks:
        if not isinstance(block, relax.DataflowBlock):
            continue
        users = relax.analysis.udchain(block)
        by_var = {b.var: b for b in block.bindings if isinstance(b, relax.VarBinding)}
        for binding in list(by_var.values()):
            site = _match(binding, by_var, users)
            if site is not None:
                sites.append(site)
                for claimed in site.bindings[1:]:  # one chain per binding
                    by_var.pop(claimed.var, None)
    return sites


def offload(mod, kernels: Mapping[str, str]):
    """``mod`` with every site in ``main`` whose key is in ``kernels`` run by the library kernel
    named there (one of ``LIBRARY_KERNELS``)."""
    from ._tvm import relax

    func = mod["main"]
    sites = {site.end: site for site in find_sites(func) if site.key in kernels}
    transposed = _transposed_inputs(func)
    chosen = {}
    for end, site in sites.items():
        kernel, source = kernels[site.key], transposed.get(site.data)
        if kernel in _READS_NCHW and source is not None:
            chosen[end] = site.kernel_call((source, *site.inputs[1:]), kernel, nchw=True)
        else:
            chosen[end] = site.kernel_call(kernel=kernel)
    chosen.update(_concatenations(func, sites, kernels))
    if not chosen:
        return mod
    blocks = []
    for block in func.body.blocks:
        bindings = [
            relax.VarBinding(b.var, chosen[b.var]) if b.var in chosen else b for b in block.bindings
        ]
        kind = relax.DataflowBlock if isinstance(block, relax.DataflowBlock) else relax.BindingBlock
        blocks.append(kind(bindings))
    body = relax.SeqExpr(blocks, func.body.body)
    new = relax.Function(func.params, body, func.ret_ty, func.is_pure, func.attrs)
    mod = mod.clone()  # keep the caller's module intact
    mod["main"] = new
    passes = [relax.transform.Normalize(), relax.transform.DeadCodeElimination()]
    from ._tvm import tvm

    return tvm.transform.Sequential(passes)(mod)


def _dataflow_bindings(func):
    """Each binding of ``func``'s dataflow blocks, with its block's users of each var."""
    from ._tvm import relax

    for block in func.body.blocks:
        if isinstance(block, relax.DataflowBlock):
            users = relax.analysis.udchain(block)
            for binding in block.bindings:
                yield binding, users


def _transposed_inputs(func) -> dict:
    """NHWC vars that only feed one operator and are ``permute_dims(x, [0, 2, 3, 1])`` of an
    NCHW ``x`` (the model's input, where layouts were converted), by var: ``x``."""
    from ._tvm import relax

    found = {}
    for binding, users in _dataflow_bindings(func):
        call = binding.value
        if (
            _is_op(call, "relax.permute_dims")
            and call.attrs.axes is not None
            and [int(a) for a in call.attrs.axes] == [0, 2, 3, 1]
            and isinstance(binding.var, relax.DataflowVar)
            and len(users.get(binding.var, [])) == 1
        ):
            found[binding.var] = call.args[0]
    return found


def _concatenations(func, sites: Mapping, kernels: Mapping[str, str]) -> dict:
    """Replacements of channel concatenations ``concat((a, b), axis=3)`` whose ``b`` is a chain
    run by a kernel that writes beside ``a`` (``_CONCATENATING``), by var: one call makes the
    whole concatenation, and ``b``'s own call is left dead."""
    from ._tvm import relax

    found = {}
    for binding, users in _dataflow_bindings(func):
        call = binding.value
        if not _is_op(call, "relax.concat") or not isinstance(call.args[0], relax.Tuple):
            continue
        fields = list(call.args[0].fields)
        if len(fields) != 2 or call.attrs.axis is None or int(call.attrs.axis) not in (3, -1):
            continue
        first, second = fields
        site = sites.get(second)
        if (
            site is None
            or not isinstance(second, relax.DataflowVar)
            or kernels[site.key] not in _CONCATENATING
            or site.residual is not None
            or len(users.get(second, [])) != 1
            or not isinstance(first, relax.Var)
            or not _static_f32(first)
            or _dims(first)[:3] != _dims(second)[:3]
            or _dims(first)[3] % _LANES
        ):
            continue
        found[binding.var] = site.kernel_call(kernel=kernels[site.key], first=first)
    return found


def _match(binding, by_var, users) -> Site | None:
    """The chain starting at ``binding`` if it is an eligible anchor, else None."""
    from ._tvm import tvm

    if _batch_matmul(binding.value):
        return Site("batch_matmul", (binding,), tuple(binding.value.args), None, None, ())
    anchor = _conv2d(binding.value) or _conv2d_transpose(binding.value) or _dense(binding.value)
    if anchor is None:
        return None
    kind, data, w, channels, anchor_attrs = anchor
    chain = [binding]
    bias = np.zeros(channels, "float32")
    residual = None
    act, lo, hi = 0, 0.0, 0.0
    nxt = _sole_user(chain[-1], by_var, users)
    if nxt is not None and _is_op(nxt.value, "relax.add"):
        const = _other_operand(nxt.value, chain[-1].var)
        if isinstance(const, tvm.ir.expr.Constant) and _is_channel_vector(const, channels):
            bias = _const_numpy(const).reshape(-1).astype("float32")
            chain.append(nxt)
            nxt = _sole_user(chain[-1], by_var, users)
    if kind == "conv2d" and (residual := _residual(nxt, chain[-1].var)) is not None:
        chain.append(nxt)
        nxt = _sole_user(chain[-1], by_var, users)
    if nxt is not None and _is_op(nxt.value, "relax.nn.relu"):
        act = _RELU
        chain.append(nxt)
    elif nxt is not None and _is_op(nxt.value, "relax.maximum"):
        lo_const = _scalar_const(_other_operand(nxt.value, chain[-1].var))
        upper = _sole_user(nxt, by_var, users)
        if lo_const is not None and upper is not None and _is_op(upper.value, "relax.minimum"):
            hi_const = _scalar_const(_other_operand(upper.value, nxt.var))
            if hi_const is not None:  # ReLU6 and other clips
                act, lo, hi = _CLIP, lo_const, hi_const
                chain += [nxt, upper]
    if kind == "conv2d" and residual is None and act:  # activation, then a residual add
        after = _sole_user(chain[-1], by_var, users)
        residual = _residual(after, chain[-1].var)
        if residual is not None:
            act |= _RESIDUAL_LAST
            chain.append(after)
    inputs = (data,) if residual is None else (data, residual)
    return Site(kind, tuple(chain), inputs, w, bias, (*anchor_attrs, act, lo, hi))


def _conv2d(call):
    """(kind, data, OHWI weight, out channels, attrs) of an eligible NHWC conv2d, else None."""
    from ._tvm import tvm

    if not _is_op(call, "relax.nn.conv2d"):
        return None
    attrs = call.attrs
    data, weight = call.args
    if (
        attrs.data_layout != "NHWC"
        or attrs.kernel_layout != "OHWI"
        or attrs.out_layout not in ("", "NHWC")
        or not isinstance(weight, tvm.ir.expr.Constant)
        or not _static_f32(data)
        or str(weight.ty.dtype) != "float32"
    ):
        return None
    w = _const_numpy(weight)
    ints = [*(int(s) for s in attrs.strides), *(int(p) for p in attrs.padding)]
    ints += [*(int(d) for d in attrs.dilation), int(attrs.groups)]
    return "conv2d", data, w, w.shape[0], ints


def _conv2d_transpose(call):
    """(kind, data, IOHW weight, out channels, attrs) of an eligible NHWC conv2d_transpose.

    The output padding is folded into the bottom/right padding, as oneDNN takes it.
    """
    from ._tvm import tvm

    if not _is_op(call, "relax.nn.conv2d_transpose"):
        return None
    attrs = call.attrs
    data, weight = call.args
    pads = [int(p) for p in attrs.padding]
    extra = [int(p) for p in attrs.output_padding]
    if (
        attrs.data_layout != "NHWC"
        or attrs.kernel_layout != "IOHW"
        or attrs.out_layout not in ("", "NHWC")
        or int(attrs.groups) != 1
        or not isinstance(weight, tvm.ir.expr.Constant)
        or not _static_f32(data)
        or str(weight.ty.dtype) != "float32"
        or pads[2] < extra[0]
        or pads[3] < extra[1]
    ):
        return None
    w = _const_numpy(weight)
    ints = [*(int(s) for s in attrs.strides), pads[0], pads[1], pads[2] - extra[0]]
    ints += [pads[3] - extra[1], *(int(d) for d in attrs.dilation)]
    return "conv2d_transpose", data, w, w.shape[1], ints


def _dense(call):
    """(kind, data, (K, N) weight, N, attrs) of a 2-D matmul by a constant, else None."""
    from ._tvm import tvm

    if not _is_op(call, "relax.matmul"):
        return None
    data, weight = call.args
    if (
        not isinstance(weight, tvm.ir.expr.Constant)
        or not _static_f32(data)
        or len(data.ty.shape) != 2
        or len(weight.ty.shape) != 2
        or str(weight.ty.dtype) != "float32"
        or str(call.ty.dtype) != "float32"
    ):
        return None
    w = _const_numpy(weight)
    return "dense", data, w, w.shape[1], []


def _batch_matmul(call) -> bool:
    """Whether ``call`` multiplies two run-time float32 tensors of one static batch shape."""
    from ._tvm import relax

    if not _is_op(call, "relax.matmul"):
        return False
    a, b = call.args
    if not all(isinstance(x, relax.Var) and _static_f32(x) for x in (a, b)):
        return False
    if str(call.ty.dtype) != "float32" or len(a.ty.shape) < 3:
        return False
    return len(a.ty.shape) == len(b.ty.shape) and _dims(a)[:-2] == _dims(b)[:-2]


def _dims(expr) -> list[int]:
    return [int(d) for d in expr.ty.shape]


def _static_f32(expr) -> bool:
    ty = expr.ty
    return str(ty.dtype) == "float32" and all(hasattr(d, "value") for d in ty.shape)


def _is_op(expr, name: str) -> bool:
    from ._tvm import relax, tvm

    return isinstance(expr, relax.Call) and expr.op.same_as(tvm.ir.Op.get(name))


def _sole_user(binding, by_var, users):
    """The binding that alone uses ``binding.var`` inside the block, if any."""
    from ._tvm import relax

    var = binding.var
    used_by = list(users.get(var, []))
    if len(used_by) != 1 or not isinstance(var, relax.DataflowVar):
        return None  # used twice, or escapes the block
    return by_var.get(used_by[0])


def _other_operand(call, var):
    a, b = call.args
    return b if a.same_as(var) else a


def _residual(binding, var):
    """The other tensor of ``binding`` when it adds one of ``var``'s type to ``var``, else None."""
    from ._tvm import relax

    if binding is None or not _is_op(binding.value, "relax.add"):
        return None
    other = _other_operand(binding.value, var)
    if isinstance(other, relax.Var) and not other.same_as(var) and _same_tensor_type(other, var):
        return other
    return None


def _same_tensor_type(a, b) -> bool:
    return str(a.ty.dtype) == str(b.ty.dtype) and _dims(a) == _dims(b)


def _const_numpy(const) -> np.ndarray:
    return const.value.numpy()


def _scalar_const(expr) -> float | None:
    """The value of a one-element float constant, else None."""
    from ._tvm import tvm

    if not isinstance(expr, tvm.ir.expr.Constant):
        return None
    value = _const_numpy(expr)
    return float(value.reshape(-1)[0]) if value.size == 1 else None


def _is_channel_vector(const, channels: int) -> bool:
    """Whether ``const`` holds one value per channel, laid along the output's last axis."""
    shape = [int(d) for d in const.ty.shape]
    return int(np.prod(shape)) == channels and len(shape) >= 1 and shape[-1] == channels
