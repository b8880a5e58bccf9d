"""QuantizeLinear and DequantizeLinear for stored element types and blocked scales.

The frontend's converters handle per-tensor and per-axis quantization to 8- and 16-bit integers;
they know neither the stored types (float8, float4, int4, int2: ``rewrites/storage.py``) nor
``block_size``. Those nodes are ours, following onnx's reference (``op_quantize_linear``):
``x / scale`` in x's dtype, then for integers round half to even, add the zero point and clip;
for float8 a (saturating) cast with no zero point; for float4 the zero point is added before
the cast. Dequantization decodes to float32, subtracts an integer zero point and scales.
"""

from __future__ import annotations

from ..registry import converter
from . import _codecs
from ._common import dtype_of, frontend_converter, round_half_even, static_shape
from .cast import convert, recorded_types, to_float32

#: Integer quantization ranges, stored small integers included.
_RANGES = {
    "uint8": (0, 255),
    "int8": (-128, 127),
    "uint16": (0, 65535),
    "int16": (-32768, 32767),
    "uint4": (0, 15),
    "int4": (-8, 7),
    "uint2": (0, 3),
    "int2": (-2, 1),
}


def _broadcast(bb, param, x, axis: int, block_size: int):
    """A scale or zero point shaped to broadcast against ``x`` (per tensor, axis or block)."""
    from tvm import relax

    op = relax.op
    shape = static_shape(x)
    if len(param.ty.shape) == 0 or static_shape(param) == [1]:
        return bb.normalize(op.reshape(param, [])) if len(param.ty.shape) else param
    axis = 0 if len(shape) <= 1 else axis % len(shape)
    if block_size:
        full = op.repeat(param, block_size, axis=axis)
        return bb.normalize(op.strided_slice(full, axes=[axis], begin=[0], end=[shape[axis]]))
    return bb.normalize(op.reshape(param, [-1] + [1] * (len(shape) - axis - 1)))


def _ours(attr) -> bool:
    return recorded_types(attr) is not None or bool(attr.get("block_size", 0))


def _types(inputs, attr) -> tuple[list[str], list[str]]:
    """Element types of the inputs and outputs: recorded ones, else the Relax dtypes."""
    recorded = recorded_types(attr)
    if recorded is not None:
        return recorded
    return [dtype_of(i) if i is not None else "" for i in inputs], []


@converter("QuantizeLinear", since=19, onward=True)
def quantize_linear(bb, inputs, attr, params):
    """ONNX QuantizeLinear; the frontend's for unblocked quantization to ordinary integers."""
    from tvm import relax

    if not _ours(attr):
        return frontend_converter("QuantizeLinear")(bb, inputs, attr, params)
    if attr.get("precision", 0):
        from ...errors import UnsupportedOperatorError

        raise UnsupportedOperatorError("QuantizeLinear with a precision attribute")
    op = relax.op
    x, scale = inputs[0], inputs[1]
    zp = inputs[2] if len(inputs) > 2 else None
    ins, outs = _types(inputs, attr)
    out = (outs[0] if outs else "") or _output_dtype(attr, ins, zp)
    axis, block = int(attr.get("axis", 1)), int(attr.get("block_size", 0))
    scale = _broadcast(bb, scale, x, axis, block)
    if dtype_of(scale) != dtype_of(x):
        x, scale = op.astype(x, "float32"), op.astype(scale, "float32")
    q = bb.normalize(op.astype(op.divide(x, scale), "float32"))
    zp_f = None if zp is None else _broadcast(bb, to_float32(bb, zp, ins[2]), x, axis, block)
    if out in _RANGES:
        y = round_half_even(bb, q)
        if zp_f is not None:
            y = op.add(y, zp_f)
        low, high = _RANGES[out]
        y = bb.normalize(op.clip(y, low, high))
        return convert(bb, y, "float32", out) if out in _codecs.SMALL_INTS else op.astype(y, out)
    if out == "float4_e2m1fn" and zp_f is not None:
        q = bb.normalize(op.add(q, zp_f))
    return convert(bb, q, "float32", out, saturate=bool(attr.get("saturate", 1)))


def _output_dtype(attr, ins: list[str], zp) -> str:
    from ...types import ONNX_TO_NUMPY

    if attr.get("output_dtype", 0):
        return ONNX_TO_NUMPY[attr["output_dtype"]]
    return (ins[2] if len(ins) > 2 else "") or (dtype_of(zp) if zp is not None else "uint8")


@converter("DequantizeLinear", since=19, onward=True)
def dequantize_linear(bb, inputs, attr, params):
    """ONNX DequantizeLinear; the frontend's for unblocked ordinary integers."""
    from tvm import relax

    from ...types import ONNX_TO_NUMPY

    if not _ours(attr):
        return frontend_converter("DequantizeLinear")(bb, inputs, attr, params)
    op = relax.op
    x, scale = inputs[0], inputs[1]
    zp = inputs[2] if len(inputs) > 2 else None
    ins, _ = _types(inputs, attr)
    axis, block = int(attr.get("axis", 1)), int(attr.get("block_size", 0))
    value = to_float32(bb, x, ins[0])
    if zp is not None and ins[0].startswith(("int", "uint")):
        value = op.subtract(value, _broadcast(bb, to_float32(bb, zp, ins[2]), x, axis, block))
    scaled = op.multiply(value, op.astype(_broadcast(bb, scale, x, axis, block), "float32"))
    out = ONNX_TO_NUMPY[attr["output_dtype"]] if attr.get("output_dtype", 0) else dtype_of(scale)
    return bb.normalize(op.astype(scaled, out)) if out != "float32" else bb.normalize(scaled)
