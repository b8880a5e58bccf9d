"""Helpers shared by converter families (Relax construction, attribute decoding)."""

from __future__ import annotations

from typing import Any

import numpy as np


def static_shape(expr) -> list[int]:
    """The static shape of a Relax tensor expression; a dynamic dim is an error."""
    from ...errors import UnsupportedOperatorError

    dims = []
    for d in expr.ty.shape:
        if not hasattr(d, "value"):
            raise UnsupportedOperatorError(
                f"a dim of {expr} is dynamic ({d}); bind it with --input-shape"
            )
        dims.append(int(d.value))
    return dims


def dtype_of(expr) -> str:
    return str(expr.ty.dtype)


def const(value: Any, dtype: str):
    from tvm import relax

    return relax.const(np.asarray(value, dtype=dtype), dtype)


def round_half_even(bb, x):
    """A float32 tensor rounded half to even (Relax's round goes half away from zero)."""
    from tvm import relax

    op = relax.op
    x = bb.normalize(x)
    r = bb.normalize(op.floor(op.add(x, const(0.5, "float32"))))
    tie = op.equal(op.subtract(r, x), const(0.5, "float32"))
    odd = op.not_equal(op.floor_mod(r, const(2.0, "float32")), const(0.0, "float32"))
    return op.where(op.logical_and(tie, odd), op.subtract(r, const(1.0, "float32")), r)


def text(value: Any) -> str:
    """An ONNX string attribute (bytes from the frontend's parser) as str."""
    return value.decode() if isinstance(value, bytes) else str(value)


def constant_value(expr, params) -> np.ndarray | None:
    """The numpy value of ``expr`` when it is a constant (or names an initializer), else None."""
    value = getattr(expr, "value", None)  # 0.27: relax constants are tvm.ir.expr.GenericConst
    if value is not None and hasattr(value, "numpy"):
        return value.numpy()
    return None


def frontend_converter(op: str, opset: int | None = None):
    """The frontend's own converter of ``op`` at ``opset`` (default: its newest), for nodes
    we pass on or wrap."""
    import onnx

    from ..overlay import frontend_table

    return frontend_table()[op].get_converter(opset or onnx.defs.onnx_opset_version())


def select_axis(bb, axis_expr, rank: int, axes: list[int], build):
    """``build(a)`` for the run-time scalar axis ``axis_expr`` (negative counts back from
    ``rank``), chosen among ``axes``; every ``build(a)`` must have the same shape."""
    from tvm import relax

    op = relax.op
    dtype = dtype_of(axis_expr)
    given = op.reshape(axis_expr, [])
    given = op.where(op.less(given, const(0, dtype)), op.add(given, const(rank, dtype)), given)
    result = build(axes[-1])
    for axis in axes[:-1]:
        result = bb.normalize(op.where(op.equal(given, const(axis, dtype)), build(axis), result))
    return result


def shape_value(bb, tensor, params, name: str):
    """A 1-D int64 tensor as a Relax shape: its values when constant, else read at run time
    into fresh symbolic dims ``{name}_0, {name}_1, ...`` (the tensor's length must be static)."""
    from tvm import relax, tirx

    value = constant_value(tensor, params)
    if value is not None:
        return relax.ShapeExpr([int(v) for v in value.reshape(-1)])
    (rank,) = static_shape(tensor)
    shape = bb.emit(
        relax.Call(
            relax.ExternFunc("vm.builtin.tensor_to_shape"),
            [tensor],
            ty_args=[relax.ShapeType(ndim=rank)],
        )
    )
    dims = [tirx.Var(f"{name}_{i}", "int64") for i in range(rank)]
    bb.match_cast(shape, relax.ShapeType(dims))
    return relax.ShapeExpr(dims)


def runtime_tensor(expr, params) -> bool:
    """Whether ``expr`` is a tensor known only at run time: not absent, not a constant, and
    not a shape value (ShapeExpr, PrimValue) that the frontend tracks symbolically."""
    from tvm import relax

    if expr is None or not isinstance(getattr(expr, "ty", None), relax.TensorType):
        return False
    return constant_value(expr, params) is None


def as_int64(bb, tensor):
    """``tensor`` cast to int64 (unchanged when it is already)."""
    from tvm import relax

    if dtype_of(tensor) == "int64":
        return tensor
    return bb.normalize(relax.op.astype(tensor, "int64"))


def shape_tensor(bb, tensor):
    """The shape of ``tensor`` as a 1-D int64 Relax tensor: a constant when static."""
    from tvm import relax

    dims = [getattr(d, "value", None) for d in tensor.ty.shape]
    if None not in dims:
        return const(dims, "int64")
    return bb.normalize(relax.op.shape_to_tensor(bb.normalize(relax.op.shape_of(tensor))))


def emit_indexed(bb, data, dims, element, tables=(), name: str = "indexed"):
    """A tensor of shape ``dims`` (PrimExprs; symbolic dims allowed) computed by one TE
    compute: its element at index ``i`` is ``element(x, tables, i)``, where ``x`` and
    ``tables`` are the TE tensors of ``data`` and of the Relax tensors ``tables``."""
    from tvm import te

    def compute(x, *tabs):
        return te.compute(list(dims), lambda *i: element(x, tabs, i), name=name)

    return bb.emit_te(compute, data, *tables, primfunc_name_hint=name)


def normalized_axes(bb, axes, rank: int):
    """A 1-D int64 tensor of axes with negative ones counted back from ``rank``."""
    from tvm import relax

    op = relax.op
    axes = as_int64(bb, axes)
    negative = op.less(axes, const(0, "int64"))
    return bb.normalize(op.where(negative, op.add(axes, const(rank, "int64")), axes))


def optional_input(inputs, i: int):
    """The ``i``-th input of a node, None when absent."""
    return inputs[i] if len(inputs) > i else None


def scalar_dim(bb, tensor, params, name: str):
    """A one-element tensor (any numeric dtype) as one Relax dim: its value when constant, else
    read at run time into the symbolic dim ``{name}_0``."""
    from tvm import relax

    vector = as_int64(bb, tensor)
    if static_shape(vector) != [1]:
        vector = bb.normalize(relax.op.reshape(vector, [1]))
    (dim,) = shape_value(bb, vector, params, name).values
    return dim
