"""Our converters, one module per op family; importing this package registers them all."""

from . import recurrent  # noqa: F401
