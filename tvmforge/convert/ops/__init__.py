"""Our converters, one module per op family; importing this package registers them all."""

from . import (  # noqa: F401
    activation,
    cast,
    conv,
    math,
    nms,
    normalization,
    onehot,
    optional,
    qdq,
    quantized,
    recurrent,
    reduce,
    resize,
    signal,
    split,
    tensor,
)
