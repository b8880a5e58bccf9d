import platform

import pytest

from tvmforge.errors import TargetError
from tvmforge.targets import (
    can_run_here,
    llvm_cpu_features,
    presets,
    resolve_target,
    static_presets,
)

EXPECTED = {"host", "x86-avx512", "x86-avx2", "x86-64", "arm-neon", "cuda-sm80", "cuda-sm90"}


def test_presets_cover_the_issue_list() -> None:
    assert set(presets()) == EXPECTED


@pytest.mark.parametrize("name", ["x86-avx512", "x86-avx2", "x86-64"])
def test_declared_features_match_llvm(name: str) -> None:
    """The features a preset declares are exactly the ISA features LLVM may use for it."""
    preset = static_presets()[name]
    assert set(llvm_cpu_features(preset.target)) == set(preset.cpu_features)


def test_host_runs_here() -> None:
    host = resolve_target("host")
    assert host.target["mcpu"] not in ("", "generic")
    assert can_run_here(host) == (True, "")


def test_cross_targets_are_build_only() -> None:
    ok, why = can_run_here(resolve_target("arm-neon"))
    if platform.machine() != "aarch64":
        assert not ok and "aarch64" in why
    assert resolve_target("cuda-sm90").cuda_arch == "sm_90"


def test_raw_target_dict() -> None:
    preset = resolve_target('{"kind": "llvm", "mcpu": "haswell"}')
    assert preset.name == "custom"
    assert "avx2" in preset.cpu_features and "avx512f" not in preset.cpu_features


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("riscv", "unknown target 'riscv'; choose one of host"),
        ("{not json", "malformed"),
        ('{"kind": "metal"}', "not supported"),
    ],
)
def test_bad_targets(spec: str, message: str) -> None:
    with pytest.raises(TargetError, match=message):
        resolve_target(spec)
