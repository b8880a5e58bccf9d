"""Cast and CastLike to and from the stored element types (float8, float4, int4, int2, ...).

``rewrites/storage.py`` records the element types on each such node; a node without that
record involves no stored type and goes to the frontend's own converter. A stored value is
decoded to float32 (exact for every one of these types), then encoded to the target.
"""

from __future__ import annotations

from functools import partial

from ...types import ONNX_TO_NUMPY, STORAGE
from ..registry import converter
from ..rewrites.storage import INPUT_TYPES, OUTPUT_TYPES
from . import _codecs
from ._common import dtype_of, frontend_converter, text


def recorded_types(attr) -> tuple[list[str], list[str]] | None:
    """(input dtypes, output dtypes) recorded by the storage rewrite, or None."""
    if INPUT_TYPES not in attr:
        return None
    ins, outs = attr[INPUT_TYPES], attr[OUTPUT_TYPES]
    return [ONNX_TO_NUMPY.get(t, "") for t in ins], [ONNX_TO_NUMPY.get(t, "") for t in outs]


def to_float32(bb, x, dtype: str):
    """The float32 values of ``x``, a tensor holding element type ``dtype`` (maybe stored)."""
    from tvm import relax

    op = relax.op
    if dtype in STORAGE and dtype not in _codecs.SMALL_INTS:
        table = relax.const(_codecs.decode_table(dtype), "float32")
        return bb.normalize(op.take(table, op.astype(x, "int32"), axis=0))
    return x if dtype == "float32" else bb.normalize(op.astype(x, "float32"))


def convert(bb, x, src: str, dst: str, *, saturate: bool = True, round_mode: str = "up"):
    """``x`` (element type ``src``) cast to ``dst`` as ONNX Cast does; stored types stored."""
    from tvm import relax

    if dst == "bfloat16" and _is_float(src):
        value = to_float32(bb, x, src)
        return bb.emit_te(
            _elementwise(_codecs.encode_bfloat16), value, primfunc_name_hint="to_bf16"
        )
    if dst not in STORAGE:
        value = x if src in _codecs.SMALL_INTS else to_float32(bb, x, src)
        return bb.normalize(relax.op.astype(value, dst))
    direct = dst in _codecs.SMALL_INTS and src not in STORAGE  # truncate any number as it is
    value = x if direct else to_float32(bb, x, src)
    encode = _encoder(dst, saturate, round_mode)
    return bb.emit_te(_elementwise(encode), value, primfunc_name_hint=f"to_{dst}")


def _is_float(dtype: str) -> bool:
    return dtype.startswith(("float", "bfloat")) and dtype != "bfloat16"


def _encoder(dst: str, saturate: bool, round_mode: str):
    """The scalar TIR function that encodes a value as ``dst`` in its storage dtype."""
    if dst in _codecs.SMALL_INTS:
        return partial(_codecs.encode_small_int, dtype=dst)
    if dst == _codecs.E8M0:
        return partial(_codecs.encode_e8m0, saturate=saturate, round_mode=round_mode)
    return partial(_codecs.encode_minifloat, fmt=_codecs.MINIFLOATS[dst], saturate=saturate)


def _elementwise(fn):
    """A TE function applying the scalar function ``fn`` to every element."""
    from tvm import te

    return lambda x: te.compute(x.shape, lambda *i: fn(x(*i)), name="convert")


def _to_bfloat16(x, dst: str) -> bool:
    """A float tensor (not a shape value) cast to bfloat16, which TVM's cast gets wrong for NaN."""
    from tvm import relax

    ty = getattr(x, "ty", None)
    return dst == "bfloat16" and isinstance(ty, relax.TensorType) and _is_float(str(ty.dtype))


def _options(attr) -> dict:
    saturate = bool(attr.get("saturate", 1))
    round_mode = text(attr.get("round_mode", "up"))
    return {"saturate": saturate, "round_mode": round_mode}


@converter("Cast", since=13, onward=True)
def cast(bb, inputs, attr, params):
    """ONNX Cast; the frontend's when no stored type is involved."""
    types = recorded_types(attr)
    if types is None and _to_bfloat16(inputs[0], ONNX_TO_NUMPY.get(attr["to"], "")):
        return convert(bb, inputs[0], dtype_of(inputs[0]), "bfloat16")
    if types is None:
        return frontend_converter("Cast")(bb, inputs, attr, params)
    (src, *_), (dst, *_) = types
    return convert(bb, inputs[0], src or dtype_of(inputs[0]), dst, **_options(attr))


@converter("CastLike", since=15, onward=True)
def cast_like(bb, inputs, attr, params):
    """ONNX CastLike; the frontend's when no stored type is involved."""
    types = recorded_types(attr)
    if types is None and _to_bfloat16(inputs[0], dtype_of(inputs[1])):
        return convert(bb, inputs[0], dtype_of(inputs[0]), "bfloat16")
    if types is None:
        return frontend_converter("CastLike")(bb, inputs, attr, params)
    (src, like), _ = types
    return convert(bb, inputs[0], src or dtype_of(inputs[0]), like, **_options(attr))
