"""Our converters, one module per op family; importing this package registers them all."""

from . import activation, conv, math, normalization, onehot, quantized, recurrent, reduce, resize  # noqa: F401
