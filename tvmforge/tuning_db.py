"""Tuning databases on disk: one per model and target, locked, repaired after a kill.

MetaSchedule's JSON database appends one line per record; a kill can leave a truncated last
line that makes the whole file unreadable, it has no lock, and its look-ups ignore the target.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from pathlib import Path

from .errors import TuningLockedError
from .locks import pid_lock

log = logging.getLogger(__name__)

WORKLOADS = "database_workload.json"
RECORDS = "database_tuning_record.json"
#: Curated databases are shipped xz-compressed (TIR workloads in JSON shrink about 40x).
PACKED = ".xz"


def locked(work_dir: Path) -> contextlib.AbstractContextManager[None]:
    """Hold an exclusive lock on ``work_dir`` for one tuning process."""

    def busy(holder: str) -> TuningLockedError:
        return TuningLockedError(
            f"tuning database '{work_dir}' is in use by another tvmforge process "
            f"(pid {holder}); wait for it to finish or pass another --tuning-dir"
        )

    return pid_lock(work_dir / ".lock", busy)


def repair(work_dir: Path) -> int:
    """Drop unreadable lines (a truncated tail after a kill) from both files; returns lines dropped."""
    dropped = 0
    for name in (WORKLOADS, RECORDS):
        path = work_dir / name
        if not path.exists():
            continue
        lines = path.read_bytes().split(b"\n")
        good = [line for line in lines if line.strip() and _parses(line)]
        bad = sum(1 for line in lines if line.strip()) - len(good)
        if bad:
            tmp = path.with_suffix(".json.tmp")
            tmp.write_bytes(b"".join(line + b"\n" for line in good))
            os.replace(tmp, path)
            log.warning("dropped %d unreadable line(s) from %s (interrupted write)", bad, path)
            dropped += bad
    return dropped


def _parses(line: bytes) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def open_database(work_dir: Path):
    """The JSON database in ``work_dir``, created if missing (call ``repair`` first)."""
    from ._tvm import ms

    work_dir.mkdir(parents=True, exist_ok=True)
    return ms.database.JSONDatabase(
        path_workload=str(work_dir / WORKLOADS),
        path_tuning_record=str(work_dir / RECORDS),
        allow_missing=True,
    )


def is_database(path: Path) -> bool:
    """Whether ``path`` holds a tuning database, plain or packed."""
    return _has(path, "") or _has(path, PACKED)


def _has(path: Path, suffix: str) -> bool:
    return (path / (WORKLOADS + suffix)).is_file() and (path / (RECORDS + suffix)).is_file()


def pack(path: Path) -> None:
    """Compress the database in ``path`` in place (what ``schedules/`` ships)."""
    import lzma

    for name in (WORKLOADS, RECORDS):
        data = (path / name).read_bytes()
        (path / (name + PACKED)).write_bytes(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))
        (path / name).unlink()


def readable(path: Path, cache: Path | None = None) -> Path:
    """``path`` itself when plain; for a packed database, its files unpacked into a cache
    folder named after their digest (unpacked once, then reused)."""
    import lzma
    import tempfile

    if _has(path, ""):
        return path
    h = hashlib.sha256()
    for name in (WORKLOADS, RECORDS):
        h.update((path / (name + PACKED)).read_bytes())
    root = cache or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tvmforge"
    out = root / "schedules" / h.hexdigest()[:16]
    if _has(out, ""):
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent))
    for name in (WORKLOADS, RECORDS):
        (tmp / name).write_bytes(lzma.decompress((path / (name + PACKED)).read_bytes()))
    try:
        tmp.rename(out)
    except OSError:  # another process unpacked it first
        for name in (WORKLOADS, RECORDS):
            (tmp / name).unlink()
        tmp.rmdir()
    return out


def open_readonly(paths: list[Path]) -> list:
    """Databases to read from (shipped schedules, other models' records); unreadable ones skipped."""
    from ._tvm import ms

    dbs = []
    for path in paths:
        if not is_database(path):
            continue
        try:
            path = readable(path)
            dbs.append(
                ms.database.JSONDatabase(
                    path_workload=str(path / WORKLOADS),
                    path_tuning_record=str(path / RECORDS),
                    allow_missing=False,
                )
            )
        except Exception as exc:  # noqa: BLE001 - a foreign database never breaks our run
            log.warning("skipping unreadable tuning database %s: %s", path, exc)
    return dbs


def digest(work_dir: Path) -> str:
    """sha256 over the database files, empty when there is no database."""
    if not is_database(work_dir):
        return ""
    h = hashlib.sha256()
    for name in (WORKLOADS, RECORDS):
        h.update((work_dir / name).read_bytes())
    return h.hexdigest()
