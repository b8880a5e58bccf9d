"""Exact conversions between float32 and the stored element types, as ONNX defines them.

The reference is onnx's (``onnx.reference.ops.op_cast``): ml_dtypes' ``astype``, which rounds to
nearest even; ``saturate`` clips to the finite range first (``numpy_helper.saturate_cast``);
float8e8m0 follows ``numpy_helper.to_float8e8m0``; integers are truncated and wrap. Decoding is
a table lookup (every value of these types is exact in float32); encoding is integer arithmetic
on the float32 bits, written as one elementwise TIR expression.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Minifloat:
    """A small float format: field widths, bias and what it does at its edges."""

    exponent_bits: int
    mantissa_bits: int
    bias: int
    max_code: int  # magnitude bits of the largest finite value
    nan_code: int  # bits of NaN (sign added when ``signed_nan``)
    signed_nan: bool
    inf_code: int | None  # magnitude bits of infinity, None: no infinity
    negative_zero: bool
    always_saturates: bool = False  # float4: no NaN, no infinity

    @property
    def sign_shift(self) -> int:
        return self.exponent_bits + self.mantissa_bits


MINIFLOATS: dict[str, Minifloat] = {
    "float8_e4m3fn": Minifloat(4, 3, 7, 0x7E, 0x7F, True, None, True),
    "float8_e4m3fnuz": Minifloat(4, 3, 8, 0x7F, 0x80, False, None, False),
    "float8_e5m2": Minifloat(5, 2, 15, 0x7B, 0x7E, True, 0x7C, True),
    "float8_e5m2fnuz": Minifloat(5, 2, 16, 0x7F, 0x80, False, None, False),
    # float4 has no NaN: ml_dtypes (the reference) turns NaN into -0 (and -NaN into 0)
    "float4_e2m1fn": Minifloat(2, 1, 1, 0x7, 0x8, False, None, True, always_saturates=True),
}

#: Integer types carried widened in a byte: their width.
SMALL_INTS: dict[str, int] = {"int4": 4, "uint4": 4, "int2": 2, "uint2": 2}

E8M0 = "float8_e8m0fnu"
ROUND_MODES = ("up", "nearest", "down")


def decode_table(dtype: str) -> np.ndarray:
    """float32 value of every bit pattern of a stored float type (index = storage byte)."""
    count = 16 if dtype == "float4_e2m1fn" else 256
    return np.arange(count, dtype=np.uint8).view(dtype).astype(np.float32)


def encode_minifloat(x, fmt: Minifloat, saturate: bool):
    """uint8 bits of the float32 scalar expression ``x`` in ``fmt``, rounded to nearest even."""
    from tvm import tirx

    def i64(v):
        return tirx.const(v, "int64")

    bits = tirx.Cast("int64", tirx.reinterpret("int32", x))
    sign = (bits >> i64(31)) & i64(1)
    mag_bits = bits & i64(0x7FFFFFFF)
    mag = tirx.abs(x)
    shift = 23 - fmt.mantissa_bits
    halfway = i64((1 << (shift - 1)) - 1) + ((mag_bits >> i64(shift)) & i64(1))
    normal = ((mag_bits + halfway) >> i64(shift)) - i64((127 - fmt.bias) << fmt.mantissa_bits)
    min_normal = tirx.const(2.0 ** (1 - fmt.bias), "float32")
    scale = tirx.const(2.0 ** (fmt.bias - 1 + fmt.mantissa_bits), "float32")
    subnormal = tirx.Cast("int64", tirx.nearbyint(tirx.min(mag, min_normal) * scale))
    code = tirx.Select(mag < min_normal, subnormal, normal)
    signed = sign << i64(fmt.sign_shift)
    finite = signed | code
    if not fmt.negative_zero:
        finite = tirx.Select(code == i64(0), i64(0), finite)
    if saturate or fmt.always_saturates:
        overflow = signed | i64(fmt.max_code)
    elif fmt.inf_code is not None:
        overflow = signed | i64(fmt.inf_code)
    else:
        overflow = _nan(fmt, signed)
    is_nan = mag_bits > i64(0x7F800000)
    too_big = tirx.Or(mag_bits == i64(0x7F800000), code > i64(fmt.max_code))
    out = tirx.Select(is_nan, _nan(fmt, signed), tirx.Select(too_big, overflow, finite))
    return tirx.Cast("uint8", out)


def _nan(fmt: Minifloat, signed):
    from tvm import tirx

    code = tirx.const(fmt.nan_code, "int64")
    if fmt.always_saturates:  # float4: ml_dtypes gives 0x8 for NaN and 0x0 for -NaN
        return signed ^ code
    return signed | code if fmt.signed_nan else code


def encode_bfloat16(x):
    """``x`` (float32) as bfloat16; TVM's own cast rounds NaN's low payload bits into inf or -0.

    A NaN keeps its sign and upper payload and gets the quiet bit, as ml_dtypes does.
    """
    from tvm import tirx

    bits = tirx.reinterpret("int32", x)
    quiet = (bits | tirx.const(0x400000, "int32")) & tirx.const(-0x10000, "int32")
    nan = tirx.Cast("bfloat16", tirx.reinterpret("float32", quiet))
    return tirx.Select(tirx.isnan(x), nan, tirx.Cast("bfloat16", x))


def encode_e8m0(x, saturate: bool, round_mode: str):
    """uint8 bits of the float32 scalar expression ``x`` as float8e8m0 (the exponent alone)."""
    from tvm import tirx

    def i32(v):
        return tirx.const(v, "int32")

    bits = tirx.reinterpret("int32", x)
    exponent = (bits >> i32(23)) & i32(0xFF)
    if round_mode == "nearest":
        guard = (bits & i32(0x400000)) != i32(0)
        rest = tirx.Or((bits & i32(0x200000)) != i32(0), (bits & i32(0x1FFFFF)) != i32(0))
        round_up = tirx.And(guard, tirx.Or(rest, exponent > i32(0)))
    elif round_mode == "up":
        round_up = (bits & i32(0x7FFFFF)) != i32(0)
    else:
        round_up = tirx.const(False, "bool")
    if saturate:
        round_up = tirx.And(round_up, exponent != i32(0xFE))
    rounded = exponent + tirx.Cast("int32", round_up)
    out = tirx.Select(exponent == i32(0xFF), i32(0xFF), rounded)
    return tirx.Cast("uint8", out)


def encode_small_int(x, dtype: str):
    """The value of the scalar expression ``x`` truncated and wrapped into ``dtype``."""
    from tvm import tirx

    width = SMALL_INTS[dtype]
    value = tirx.Cast("int64", x) & tirx.const((1 << width) - 1, "int64")
    if dtype.startswith("u"):
        return tirx.Cast("uint8", value)
    half = tirx.const(1 << (width - 1), "int64")
    return tirx.Cast("int8", (value ^ half) - half)
