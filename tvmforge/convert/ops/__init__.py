"""Our converters, one module per op family; importing this package registers them all."""

from . import activation, cast, math, normalization, qdq, quantized, recurrent  # noqa: F401
from . import arith, ml, training  # noqa: F401
