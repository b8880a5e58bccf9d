"""Our converters, one module per op family; importing this package registers them all."""

from . import activation, math, normalization, optional, quantized, recurrent, signal, tensor  # noqa: F401
