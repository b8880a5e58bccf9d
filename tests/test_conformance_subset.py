"""A fixed subset of the ONNX node conformance suite stays green (the whole suite is a benchmark:
``benchmarks/conformance.py``).

``tests/conformance_subset.txt`` lists the cases: passing cases of a full run, at most a few per
op over every op tvmforge passes, cheapest first, sized to run in well under 4 minutes on 2
cores. Each case goes through the whole pipeline untuned, in a worker subprocess with a time
limit, exactly as in the benchmark.
"""

from __future__ import annotations

from pathlib import Path

from tvmforge.convert.conformance import conformance

SUBSET = Path(__file__).resolve().parent / "conformance_subset.txt"


def test_conformance_subset_passes(tmp_path: Path) -> None:
    names = [line.split("#")[0].strip() for line in SUBSET.read_text().splitlines()]
    names = [n for n in names if n]
    results = conformance(
        results_path=tmp_path / "results.jsonl", names_file=SUBSET, workers=2, timeout=90
    )
    assert len(results) == len(names), "some listed cases are not in this onnx version"
    failed = [f"{r.name}: {r.reason}" for r in results if not r.tvmforge]
    assert not failed, f"{len(failed)} case(s) failed:\n" + "\n".join(failed)
