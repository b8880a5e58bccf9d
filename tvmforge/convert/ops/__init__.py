"""Our converters, one module per op family; importing this package registers them all."""

from . import (  # noqa: F401
    activation,
    conv,
    math,
    nms,
    normalization,
    onehot,
    quantized,
    recurrent,
    reduce,
    resize,
    split,
)
