"""Merge our converters into the Relax ONNX frontend's private table, for one import.

TVM has no hook for custom ONNX converters: the importer looks up ``_get_convert_map()`` in
``tvm/relax/frontend/onnx/onnx_frontend.py`` each time it converts a node. Inside
``frontend_overlay()`` that function returns the frontend's table with an adapter per op we
register; the adapter picks our converter for the model's opset and falls back to the frontend's
own class for versions we do not cover. The frontend ignores node domains and passes every
converter the default-domain opset, so an op of another domain (``ai.onnx.ml``, ...) gets an
adapter that resolves ours at the model's opset of that domain. This module is the only place
that touches the table.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from ..errors import InternalError
from . import registry

#: The private frontend function we overlay; a test fails loudly if TVM renames it.
CONVERT_MAP_NAME = "_get_convert_map"

_LOCK = threading.RLock()


def _frontend_module():
    from .._tvm import onnx_frontend

    if not callable(getattr(onnx_frontend, CONVERT_MAP_NAME, None)):
        raise InternalError(
            f"TVM's ONNX frontend has no {CONVERT_MAP_NAME}() any more; tvmforge's converter "
            "overlay (tvmforge/convert/overlay.py) must be ported to this TVM version"
        )
    return onnx_frontend


def frontend_table() -> dict[str, Any]:
    """The frontend's own converter table (op type -> OnnxOpConverter class), overlay or not."""
    registry.load_converters()
    table = getattr(_frontend_module(), CONVERT_MAP_NAME)
    return dict(getattr(table, "__wrapped__", table)())


def _adapter(op: str, fallback: Any | None) -> type:
    """A frontend-style converter class for ``op`` that prefers our registered converters."""

    def get_converter(cls, opset: int):
        ours = registry.resolve(op, opset)
        if ours is not None:
            return ours
        if fallback is not None:
            return fallback.get_converter(opset)
        raise NotImplementedError(f"tvmforge converts {op} only at other opsets, not {opset}")

    methods = {"get_converter": classmethod(get_converter)}
    return type(f"Tvmforge{op}", (), methods)


def _domain_adapter(op: str, domain: str, version: int) -> type:
    """A frontend-style converter class for ``op`` of ``domain`` at the model's ``version``."""

    def get_converter(cls, opset: int):  # opset: the default domain's, not ours
        ours = registry.resolve(op, version, domain)
        if ours is None:
            raise NotImplementedError(f"tvmforge converts {domain}.{op} only at other opsets")
        return ours

    return type(f"Tvmforge{op}", (), {"get_converter": classmethod(get_converter)})


def merged_table(base: dict[str, Any], opsets: Mapping[str, int] | None = None) -> dict[str, Any]:
    """``base`` with an adapter for every op we register (other domains: those in ``opsets``)."""
    merged = dict(base)
    for op in registry.registered_ops():
        merged[op] = _adapter(op, base.get(op))
    for domain, version in (opsets or {}).items():
        if domain in ("", registry.DEFAULT_DOMAIN):
            continue
        for op in registry.registered_ops(domain):
            merged.setdefault(op, _domain_adapter(op, domain, version))
    return merged


@contextlib.contextmanager
def frontend_overlay(opsets: Mapping[str, int] | None = None) -> Iterator[dict[str, Any]]:
    """Within the block, the frontend converts with our converters first; yields the table.

    ``opsets`` maps the model's other domains to their versions, for our converters of them.
    """
    registry.load_converters()
    module = _frontend_module()
    with _LOCK:
        original = getattr(module, CONVERT_MAP_NAME)
        merged = merged_table(original(), opsets)

        def overlaid() -> dict[str, Any]:
            return merged

        overlaid.__wrapped__ = original  # type: ignore[attr-defined]
        setattr(module, CONVERT_MAP_NAME, overlaid)
        try:
            yield merged
        finally:
            setattr(module, CONVERT_MAP_NAME, original)
