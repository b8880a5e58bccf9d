"""The artifact manifest: a versioned JSON file beside the ``.so``, and its checks.

Importing this module does not import TVM.
"""

from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path
from typing import Any

from .errors import ArtifactError
from .targets import missing_cpu_features
from .types import TensorSpec

SCHEMA_VERSION = 1


def manifest_path(library: str | Path) -> Path:
    """``model.so`` -> ``model.so.json``."""
    library = Path(library)
    return library.with_name(library.name + ".json")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write(library: Path, manifest: dict[str, Any]) -> Path:
    """Write ``manifest`` beside ``library`` (adds schema version and the library's sha256)."""
    path = manifest_path(library)
    data = {"schema_version": SCHEMA_VERSION, **manifest}
    data["library"] = {"file": library.name, "sha256": file_sha256(library)}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def read(library: str | Path) -> dict[str, Any]:
    """Read the manifest of ``library``; raises ArtifactError when missing or unreadable."""
    library = Path(library)
    path = manifest_path(library)
    if not library.exists():
        raise ArtifactError(
            f"artifact '{library}' does not exist; check the path or compile it first"
        )
    if not path.exists():
        raise ArtifactError(
            f"manifest '{path}' is missing; ship the .so.json written by 'tvmforge compile' with it"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ArtifactError(
            f"manifest '{path}' is unreadable ({exc}); recompile the model"
        ) from exc
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ArtifactError(
            f"manifest '{path}' has schema version {data.get('schema_version')}, this tvmforge "
            f"reads version {SCHEMA_VERSION}; recompile with this tvmforge"
        )
    return data


def check_loadable(library: Path, data: dict[str, Any], runtime_version: str) -> None:
    """Refuse an artifact this machine cannot run, before anything is loaded.

    Checks the library's sha256, the CPU architecture and instruction-set features, and the
    TVM runtime version.
    """
    requires = data["requires"]
    if requires["arch"] != platform.machine():
        raise ArtifactError(
            f"artifact '{library}' was built for {requires['arch']}, this machine is "
            f"{platform.machine()}; compile for this machine with --target host"
        )
    missing = missing_cpu_features(requires.get("cpu_features", []))
    if missing:
        raise ArtifactError(
            f"artifact '{library}' needs CPU features this machine lacks ({', '.join(missing)}); "
            f"recompile with --target host (or x86-avx2 / x86-64)"
        )
    built_with = data["tvm_version"]
    if built_with.split(".")[:2] != runtime_version.split(".")[:2]:
        raise ArtifactError(
            f"artifact '{library}' was built with TVM {built_with}, the runtime here is "
            f"{runtime_version}; install apache-tvm=={built_with} or recompile"
        )
    if file_sha256(library) != data["library"]["sha256"]:
        raise ArtifactError(
            f"artifact '{library}' does not match the sha256 in its manifest (changed or "
            "corrupted after export); recompile or restore the original file"
        )


def tensor_specs(data: dict[str, Any], key: str) -> tuple[TensorSpec, ...]:
    """The ``inputs`` or ``outputs`` of a manifest as TensorSpecs."""
    return tuple(TensorSpec.from_json(item) for item in data[key])
