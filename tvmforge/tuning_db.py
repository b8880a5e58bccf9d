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
    """Drop unreadable lines (a truncated tail after a kill) from both files, then records
    MetaSchedule cannot load (``loadable_records``); returns lines dropped."""
    dropped = 0
    for name in (WORKLOADS, RECORDS):
        path = work_dir / name
        if not path.exists():
            continue
        lines = path.read_bytes().split(b"\n")
        good = [line for line in lines if line.strip() and _parses(line)]
        bad = sum(1 for line in lines if line.strip()) - len(good)
        if bad:
            _write_lines(path, good)
            log.warning("dropped %d unreadable line(s) from %s (interrupted write)", bad, path)
            dropped += bad
    if _has(work_dir, ""):
        kept = loadable_records(work_dir)
        if kept is not None:
            bad = _records_dropped(work_dir, kept)
            _write_lines(work_dir / RECORDS, kept)
            log.warning("dropped %d record(s) MetaSchedule cannot load from %s", bad, work_dir)
            dropped += bad
    return dropped


def loadable_records(path: Path) -> list[bytes] | None:
    """The record lines of the plain database in ``path`` that MetaSchedule can load, or None
    when it loads whole.

    One record it cannot replay makes the whole database fail to open (a trace with an
    ``RFactor`` of a block it names differently, seen after a few trials of tuning SqueezeNet):
    a build would then skip every record of the model. Halves are tried in turn, so finding a
    few bad records of n costs a few times log2(n) loads.
    """
    lines = _record_lines(path)
    if _loads(path / WORKLOADS, lines) or not _loads(path / WORKLOADS, []):
        return None  # loads whole, or its workloads do not: no record can be judged
    return _without_unloadable(path / WORKLOADS, lines)


def _without_unloadable(workloads: Path, lines: list[bytes]) -> list[bytes]:
    """``lines`` (known not to load together) less the records that do not load alone."""
    if len(lines) <= 1:
        return []
    half = len(lines) // 2
    return [
        line
        for part in (lines[:half], lines[half:])
        for line in (part if _loads(workloads, part) else _without_unloadable(workloads, part))
    ]


def _loads(workloads: Path, lines: list[bytes]) -> bool:
    """Whether MetaSchedule opens ``workloads`` with the records ``lines``."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        records = Path(tmp) / RECORDS
        _write_lines(records, lines)
        try:
            _json_database(workloads, records)
        except Exception:  # noqa: BLE001 - any failure to load means "not loadable"
            return False
    return True


def _record_lines(path: Path) -> list[bytes]:
    return [line for line in (path / RECORDS).read_bytes().split(b"\n") if line.strip()]


def _records_dropped(path: Path, kept: list[bytes]) -> int:
    return len(_record_lines(path)) - len(kept)


def _write_lines(path: Path, lines: list[bytes]) -> None:
    """Replace ``path`` with ``lines`` atomically."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_bytes(b"".join(line + b"\n" for line in lines))
    os.replace(tmp, path)


def _parses(line: bytes) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def open_database(work_dir: Path):
    """The JSON database in ``work_dir``, created if missing (call ``repair`` first)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    return _json_database(work_dir / WORKLOADS, work_dir / RECORDS, allow_missing=True)


def _json_database(workloads: Path, records: Path, allow_missing: bool = False):
    from ._tvm import ms

    return ms.database.JSONDatabase(
        path_workload=str(workloads), path_tuning_record=str(records), allow_missing=allow_missing
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
    """Databases to read from (shipped schedules, other models' records); unreadable ones skipped,
    and records MetaSchedule cannot load left out."""
    dbs = []
    for path in paths:
        if not is_database(path):
            continue
        try:
            path = readable(path)
            try:
                dbs.append(_json_database(path / WORKLOADS, path / RECORDS))
            except Exception:  # noqa: BLE001 - a record it cannot replay: leave that one out
                dbs.append(_open_loadable(path))
        except Exception as exc:  # noqa: BLE001 - a foreign database never breaks our run
            log.warning("skipping unreadable tuning database %s: %s", path, exc)
    return dbs


def _open_loadable(path: Path):
    """The database in ``path`` without the records MetaSchedule cannot load, read from a
    temporary copy (the original may be shipped, or another process's); it is read whole when
    opened, so the copy goes at once."""
    import shutil
    import tempfile

    kept = loadable_records(path) or []
    log.warning(
        "tuning database %s: %d record(s) MetaSchedule cannot load are left out",
        path,
        _records_dropped(path, kept),
    )
    with tempfile.TemporaryDirectory(prefix="tvmforge-db-") as tmp:
        copy = Path(tmp)
        shutil.copy(path / WORKLOADS, copy / WORKLOADS)
        _write_lines(copy / RECORDS, kept)
        return _json_database(copy / WORKLOADS, copy / RECORDS)


def digest(work_dir: Path) -> str:
    """sha256 over the database files, empty when there is no database."""
    if not is_database(work_dir):
        return ""
    h = hashlib.sha256()
    for name in (WORKLOADS, RECORDS):
        h.update((work_dir / name).read_bytes())
    return h.hexdigest()
