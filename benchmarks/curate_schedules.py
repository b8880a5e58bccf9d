"""Merge tuning databases into the small curated database tvmforge ships for a target.

    .venv/bin/python -m benchmarks.curate_schedules --target x86-avx512 \
        tuning_logs/squeezenet-*/x86-avx512 tuning_logs/tinynet-*/x86-avx512

Keeps the fastest valid record per workload across the given databases and the existing
``schedules/<target>/`` (so curation accumulates), and rewrites ``schedules/<target>/``.
The folder name must be the preset name: that is the key ``tvmforge.tuning.related_databases``
looks up, and records only make sense for the target they were measured on.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import shutil
import struct
import tempfile
from pathlib import Path

from . import zoo

#: MetaSchedule's run time for a failed measurement.
FAILED_SECS = 1e9


def _mean_secs(record) -> float:
    secs = [float(s) for s in (record.run_secs or [])]
    return sum(secs) / len(secs) if secs else math.inf


def curate(sources: list[Path], target: str, out_root: Path) -> dict:
    """Write ``out_root/<target>/`` holding the best record per workload of ``sources``."""
    from tvmforge import tuning_db
    from tvmforge._tvm import ms
    from tvmforge.targets import resolve_target

    resolve_target(target)  # refuses a name that is not a preset
    out = out_root / target
    existing = [out] if tuning_db.is_database(out) else []
    merged = ms.database.MemoryDatabase()
    seen = skipped = 0
    for db in tuning_db.open_readonly([*existing, *sources]):
        for rec in db.get_all_tuning_records():
            seen += 1
            if _mean_secs(rec) >= FAILED_SECS:
                skipped += 1
                continue
            workload = merged.commit_workload(rec.workload.mod)
            merged.commit_tuning_record(
                ms.database.TuningRecord(
                    rec.trace, workload, rec.run_secs, rec.target, rec.args_info
                )  # fmt: skip
            )
    with tempfile.TemporaryDirectory(prefix="curate-") as tmp:
        pruned = tuning_db.open_database(Path(tmp))
        merged.dump_pruned(pruned)
        kept = len(pruned.get_all_tuning_records())
        out.mkdir(parents=True, exist_ok=True)
        for name in (tuning_db.WORKLOADS, tuning_db.RECORDS):  # replaced, plain or packed
            for stale in (out / name, out / (name + tuning_db.PACKED)):
                stale.unlink(missing_ok=True)
        shutil.copyfile(Path(tmp) / tuning_db.RECORDS, out / tuning_db.RECORDS)
        compact_workloads(Path(tmp) / tuning_db.WORKLOADS, out / tuning_db.WORKLOADS)
        tuning_db.pack(out)
    size = sum(
        (out / (n + tuning_db.PACKED)).stat().st_size
        for n in (tuning_db.WORKLOADS, tuning_db.RECORDS)
    )
    return {"target": target, "sources": len(sources) + len(existing), "records_seen": seen,
            "failed_skipped": skipped, "workloads_kept": kept, "bytes": size, "out": str(out)}  # fmt: skip


def compact_workloads(src: Path, dst: Path) -> None:
    """Copy a workload file, re-serialising each module's JSON without indentation (half size).

    A workload line is ``[structural hash, base64(uint64 length + JSON of the IRModule)]``;
    TVM writes that JSON indented. The content, hence the hash, is unchanged.
    """
    lines = []
    for line in src.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        shash, blob = json.loads(line)
        raw = base64.b64decode(blob)
        (length,) = struct.unpack("<Q", raw[:8])
        body = json.dumps(json.loads(raw[8 : 8 + length]), separators=(",", ":")).encode()
        packed = base64.b64encode(struct.pack("<Q", len(body)) + body).decode()
        lines.append(json.dumps([shash, packed]))
    dst.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("databases", nargs="*", type=Path,
                        help="tuning databases (default: tuning_logs/*/<target>)")  # fmt: skip
    parser.add_argument("--target", default="x86-avx512", help="preset name, e.g. x86-avx2")
    parser.add_argument("--out", type=Path, default=zoo.REPO / "schedules")
    args = parser.parse_args(argv)
    sources = args.databases or sorted((zoo.REPO / "tuning_logs").glob(f"*/{args.target}"))
    wrong = [p for p in sources if p.name != args.target]
    if wrong:
        raise SystemExit(f"databases {[str(p) for p in wrong]} are not for '{args.target}' "
                         "(the folder name is the target); pass databases of one target")  # fmt: skip
    print(json.dumps(curate(sources, args.target, args.out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
