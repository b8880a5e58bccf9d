"""Our converters, one module per op family; importing this package registers them all."""

from . import (  # noqa: F401
    activation,
    arith,
    cast,
    deform,
    indexing,
    layout,
    linalg,
    math,
    ml,
    normalization,
    pooling,
    qdq,
    quantized,
    recurrent,
    roi,
    signal,
    training,
    trees,
)
