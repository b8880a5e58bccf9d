"""Our converters, one module per op family; importing this package registers them all."""

from . import (  # noqa: F401
    activation,
    cast,
    math,
    normalization,
    optional,
    qdq,
    quantized,
    recurrent,
    signal,
    tensor,
)
