"""Our ONNX converters, keyed by (domain, op, since_version) and resolved for a model's opset.

A converter follows the Relax frontend's calling convention, ``fn(bb, inputs, attr, params)``
returning a Relax expression (or a tuple for several outputs). Register it with one or more
stacked ``@converter(op, since=...)`` decorators; ``since`` must be a version at which the ONNX
schema of ``op`` changed, and a second registration of the same key fails at import time.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import onnx

from ..errors import InternalError

Converter = Callable[..., Any]
Key = tuple[str, str, int]

_REGISTRY: dict[Key, Converter] = {}

DEFAULT_DOMAIN = "ai.onnx"


def _schema_domain(domain: str) -> str:
    return "" if domain in ("", DEFAULT_DOMAIN) else domain


def converter(
    op: str, *, since: int, domain: str = DEFAULT_DOMAIN, onward: bool = False
) -> Callable[[Converter], Converter]:
    """Register the decorated function as the converter of ``op`` from opset ``since`` on.

    With ``onward``, also for every later schema version of ``op`` (one decorator instead of
    a stack of them; a schema ONNX adds later is covered without a change here).

    Raises:
        InternalError: ``since`` is not a schema version of ``op``, or a key is taken.
    """
    domain = domain or DEFAULT_DOMAIN

    def register(fn: Converter) -> Converter:
        versions = _schema_versions(op, domain, fn)
        if since not in versions:
            dated = max((v for v in versions if v <= since), default=None)
            raise InternalError(
                f"converter {fn.__qualname__} registers {domain}.{op} since {since}, but the "
                f"schema at {since} dates from {dated}; register since={dated}"
            )
        for version in [v for v in versions if v >= since] if onward else [since]:
            key = (domain, op, version)
            if key in _REGISTRY:
                other = _REGISTRY[key]
                raise InternalError(
                    f"{domain}.{op} since {version} is registered twice ({other.__module__}."
                    f"{other.__qualname__} and {fn.__module__}.{fn.__qualname__}); keep one"
                )
            _REGISTRY[key] = fn
        return fn

    return register


def _schema_versions(op: str, domain: str, fn: Converter) -> list[int]:
    """The opsets at which ONNX changed ``op``'s schema, ascending."""
    versions = schema_versions(op, domain)
    if not versions:
        raise InternalError(f"converter {fn.__qualname__}: ONNX has no op {domain}.{op}")
    return versions


def schema_versions(op: str, domain: str = DEFAULT_DOMAIN) -> list[int]:
    """The opsets at which ONNX changed ``op``'s schema, ascending (empty: no such op)."""
    return _all_schema_versions().get((_schema_domain(domain), op), [])


@functools.cache
def _all_schema_versions() -> dict[tuple[str, str], list[int]]:
    versions: dict[tuple[str, str], list[int]] = {}
    for schema in onnx.defs.get_all_schemas_with_history():
        versions.setdefault((schema.domain, schema.name), []).append(schema.since_version)
    return {key: sorted(found) for key, found in versions.items()}


def load_converters() -> None:
    """Import every converter module (importing registers them); queries call this first."""
    from . import ops  # noqa: F401


def since_version(op: str, opset: int, domain: str = DEFAULT_DOMAIN) -> int | None:
    """The since_version of ``op``'s schema in effect at ``opset`` (None: no such op then)."""
    try:
        schema = onnx.defs.get_schema(
            op, max_inclusive_version=opset, domain=_schema_domain(domain)
        )
    except onnx.defs.SchemaError:
        return None
    return schema.since_version


def resolve(op: str, opset: int, domain: str = DEFAULT_DOMAIN) -> Converter | None:
    """Our converter for ``op`` at ``opset``, or None when we have none for that version."""
    load_converters()
    since = since_version(op, opset, domain)
    if since is None:
        return None
    return _REGISTRY.get((domain or DEFAULT_DOMAIN, op, since))


def registered() -> dict[Key, Converter]:
    """A copy of every registration."""
    load_converters()
    return dict(_REGISTRY)


def registered_ops(domain: str = DEFAULT_DOMAIN) -> frozenset[str]:
    """Op types with at least one converter of ours in ``domain``."""
    load_converters()
    return frozenset(op for d, op, _ in _REGISTRY if d == domain)


def covers(op: str, opset: int, domain: str = DEFAULT_DOMAIN) -> bool:
    """Whether we register ``op`` at the schema version in effect at ``opset``."""
    return resolve(op, opset, domain) is not None
