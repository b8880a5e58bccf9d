"""The curated databases shipped in schedules/: they load, stay small and apply by themselves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import curate_schedules
from tvmforge import tuning_db
from tvmforge.api import SHIPPED_SCHEDULES
from tvmforge.targets import static_presets

REPO = Path(__file__).resolve().parent.parent
SHIPPED = sorted(p for p in SHIPPED_SCHEDULES.iterdir() if tuning_db.is_database(p))
AVX512 = SHIPPED_SCHEDULES / "x86-avx512"
needs_avx512_db = pytest.mark.skipif(
    not tuning_db.is_database(AVX512), reason="schedules/x86-avx512 holds no curated database yet"
)


@pytest.mark.parametrize("folder", SHIPPED, ids=lambda p: p.name)
def test_shipped_database_loads_and_is_small(folder: Path) -> None:
    assert folder.name in static_presets(), "the folder name must be a preset name"
    packed = [folder / (n + tuning_db.PACKED) for n in (tuning_db.WORKLOADS, tuning_db.RECORDS)]
    assert sum(p.stat().st_size for p in packed) < 2**20  # shipped packed, and small
    (db,) = tuning_db.open_readonly([folder])
    records = db.get_all_tuning_records()
    assert records and len(records) == len({json.dumps(r.workload.as_json()) for r in records})


def _tinynet_module(target: str, nhwc: bool):
    from tvmforge.convert import to_relax
    from tvmforge.load import load_model
    from tvmforge.optimize import optimize
    from tvmforge.shapes import bind_shapes
    from tvmforge.targets import resolve_target

    preset = resolve_target(target)
    return optimize(
        to_relax(bind_shapes(load_model(REPO / "models" / "tinynet.onnx"))), preset, nhwc=nhwc
    ), preset


CASES = [(f, False) for f in SHIPPED] + [(AVX512, True)]  # NHWC: the graph oneDNN builds use


@pytest.mark.parametrize(("folder", "nhwc"), CASES, ids=lambda c: getattr(c, "name", f"nhwc={c}"))
def test_shipped_schedules_apply_to_a_matching_workload(folder: Path, nhwc: bool) -> None:
    import tvm_ffi

    from tvmforge._tvm import tvm
    from tvmforge.build import apply_databases, scheduled_functions

    mod, preset = _tinynet_module(folder.name, nhwc)
    untuned = apply_databases(mod, preset, [])
    tuned = apply_databases(mod, preset, [folder])
    done, total = scheduled_functions(tuned)
    assert scheduled_functions(untuned)[0] == 0
    assert done == total > 0
    changed = [
        name
        for name, func in tuned.functions.items()
        if isinstance(func, tvm.tirx.PrimFunc)
        and not tvm_ffi.structural_equal(func, untuned[name.name_hint])
    ]
    assert len(changed) == total


@needs_avx512_db
def test_curate_keeps_the_fastest_valid_record(tmp_path: Path) -> None:
    from tvmforge._tvm import ms

    (shipped,) = tuning_db.open_readonly([AVX512])
    rec = shipped.get_all_tuning_records()[0]
    for name, secs in (("a", [2e-3]), ("b", [1e-3]), ("c", [1e10])):
        db = tuning_db.open_database(tmp_path / name / "x86-avx512")
        workload = db.commit_workload(rec.workload.mod)
        db.commit_tuning_record(
            ms.database.TuningRecord(rec.trace, workload, secs, rec.target, rec.args_info)
        )
    sources = [tmp_path / n / "x86-avx512" for n in "abc"]
    summary = curate_schedules.curate(sources, "x86-avx512", tmp_path / "out")
    assert summary["workloads_kept"] == 1 and summary["failed_skipped"] == 1
    (out,) = tuning_db.open_readonly([tmp_path / "out" / "x86-avx512"])
    (best,) = out.get_all_tuning_records()
    assert [float(s) for s in best.run_secs] == [1e-3]


def test_curate_refuses_databases_of_another_target(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="not for 'x86-avx2'"):
        curate_schedules.main([str(tmp_path / "m" / "x86-avx512"), "--target", "x86-avx2",
                               "--out", str(tmp_path)])  # fmt: skip
