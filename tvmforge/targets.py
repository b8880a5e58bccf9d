"""Target presets, the CPU features or GPU arch each needs, and what this host can run.

Importing this module does not import TVM (the Session uses it to check artifacts).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
from dataclasses import dataclass
from functools import cache
from typing import Any

from .errors import TargetError

#: LLVM x86 feature -> /proc/cpuinfo flag, for instruction-set features only (no tuning flags).
LLVM_TO_CPUINFO: dict[str, str] = {
    "sse2": "sse2", "sse3": "pni", "ssse3": "ssse3", "sse4.1": "sse4_1", "sse4.2": "sse4_2",
    "popcnt": "popcnt", "avx": "avx", "avx2": "avx2", "fma": "fma", "f16c": "f16c",
    "bmi": "bmi1", "bmi2": "bmi2", "lzcnt": "abm", "movbe": "movbe",
    "avx512f": "avx512f", "avx512cd": "avx512cd", "avx512bw": "avx512bw", "avx512dq": "avx512dq",
    "avx512vl": "avx512vl", "avx512ifma": "avx512ifma", "avx512vbmi": "avx512vbmi",
    "avx512vbmi2": "avx512_vbmi2", "avx512vnni": "avx512_vnni", "avx512bitalg": "avx512_bitalg",
    "avx512vpopcntdq": "avx512_vpopcntdq", "avx512bf16": "avx512_bf16",
    "avx512fp16": "avx512_fp16", "avx512vp2intersect": "avx512_vp2intersect",
    "avxvnni": "avx_vnni", "gfni": "gfni", "vaes": "vaes", "vpclmulqdq": "vpclmulqdq",
    "fma4": "fma4", "xop": "xop", "sse4a": "sse4a",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class TargetPreset:
    """A named compilation target."""

    name: str
    description: str
    target: dict[str, Any]
    arch: str  # "x86_64", "aarch64"
    cpu_features: tuple[str, ...] = ()  # /proc/cpuinfo flags the code may use
    cuda_arch: str | None = None  # "sm_90"
    cross_compiler: str | None = None

    @property
    def is_cuda(self) -> bool:
        return self.target.get("kind") == "cuda"

    @property
    def is_cross(self) -> bool:
        return self.arch != platform.machine()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "target": self.target,
            "arch": self.arch,
            "cpu_features": list(self.cpu_features),
            "cuda_arch": self.cuda_arch,
        }


_AVX2 = ("sse2", "pni", "ssse3", "sse4_1", "sse4_2", "popcnt", "avx", "avx2", "fma", "f16c",
         "bmi1", "bmi2", "abm", "movbe")  # fmt: skip
_AVX512 = (*_AVX2, "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl")


def _cuda_preset(arch: str) -> TargetPreset:
    host = {"kind": "llvm", "mcpu": "x86-64-v2"}
    return TargetPreset(
        name=f"cuda-{arch.replace('_', '')}",
        description=f"NVIDIA GPU, compute capability {arch[3]}.{arch[4:]} (CUDA), x86-64 host",
        target={"kind": "cuda", "arch": arch, "max_threads_per_block": 1024,
                "max_shared_memory_per_block": 49152, "thread_warp_size": 32, "host": host},
        arch="x86_64",
        cpu_features=("sse2", "pni", "ssse3", "sse4_1", "sse4_2", "popcnt"),
        cuda_arch=arch,
    )  # fmt: skip


def static_presets() -> dict[str, TargetPreset]:
    """The presets that do not depend on this machine's CPU."""
    cores = os.cpu_count() or 1
    table = [
        TargetPreset("x86-avx512", "x86-64 with AVX-512 (Skylake-X, Zen 4 and later)",
                     {"kind": "llvm", "mcpu": "skylake-avx512", "num-cores": cores},
                     "x86_64", _AVX512),
        TargetPreset("x86-avx2", "x86-64 with AVX2 and FMA (Haswell, Zen 1 and later)",
                     {"kind": "llvm", "mcpu": "haswell", "num-cores": cores}, "x86_64", _AVX2),
        TargetPreset("x86-64", "baseline x86-64 (SSE2), runs on any 64-bit x86 CPU",
                     {"kind": "llvm", "mcpu": "x86-64", "num-cores": cores}, "x86_64", ("sse2",)),
        TargetPreset("arm-neon", "aarch64 Linux with NEON, cross-compiled with aarch64-linux-gnu-gcc",
                     {"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mattr": ["+neon"],
                      "num-cores": 4},
                     "aarch64", ("asimd",), cross_compiler="aarch64-linux-gnu-gcc"),
        _cuda_preset("sm_80"),
        _cuda_preset("sm_90"),
    ]  # fmt: skip
    return {p.name: p for p in table}


def presets() -> dict[str, TargetPreset]:
    """Every named preset, ``host`` (detected from this machine) first."""
    return {"host": host_preset(), **static_presets()}


@cache
def host_preset() -> TargetPreset:
    """The preset for this CPU, detected through LLVM (needs TVM)."""
    from ._tvm import codegen

    cpu = codegen.llvm_get_system_cpu()
    target = {"kind": "llvm", "mcpu": cpu, "num-cores": os.cpu_count() or 1}
    return TargetPreset(
        "host", f"this machine's CPU ({cpu}), every feature it has", target,
        platform.machine(), llvm_cpu_features(target),
    )  # fmt: skip


def llvm_cpu_features(target: dict[str, Any]) -> tuple[str, ...]:
    """The instruction-set features LLVM may use for an x86 target, as cpuinfo flags."""
    from ._tvm import codegen, tvm

    if target.get("mtriple", "x86_64").split("-")[0] not in ("x86_64", ""):
        return ()
    features = codegen.llvm_get_cpu_features(tvm.target.Target(target))
    return tuple(sorted({LLVM_TO_CPUINFO[f] for f in features if f in LLVM_TO_CPUINFO}))


def resolve_target(spec: str) -> TargetPreset:
    """A preset by name, or a raw TVM target given as a JSON dict."""
    spec = spec.strip()
    if spec.startswith("{"):
        try:
            target = json.loads(spec)
        except json.JSONDecodeError as exc:
            raise TargetError(
                f'target JSON is malformed ({exc}); e.g. \'{{"kind": "llvm"}}\''
            ) from exc
        return _preset_from_dict(target)
    if spec == "host":
        return host_preset()
    table = static_presets()
    if spec not in table:
        names = ", ".join(["host", *table])
        raise TargetError(f"unknown target '{spec}'; choose one of {names} or pass a JSON dict")
    return table[spec]


def _preset_from_dict(target: dict[str, Any]) -> TargetPreset:
    kind = target.get("kind")
    if kind not in ("llvm", "cuda"):
        raise TargetError(f"target kind '{kind}' is not supported; use 'llvm' or 'cuda'")
    if kind == "cuda":
        arch = str(target.get("arch", "sm_80"))
        return TargetPreset("custom", "custom CUDA target", target, "x86_64", cuda_arch=arch)
    triple = str(target.get("mtriple", ""))
    if triple.startswith("aarch64"):
        return TargetPreset("custom", "custom aarch64 target", target, "aarch64", ("asimd",),
                            cross_compiler="aarch64-linux-gnu-gcc")  # fmt: skip
    if triple and not triple.startswith("x86_64"):
        raise TargetError(f"target triple '{triple}' is not supported; use x86_64 or aarch64")
    return TargetPreset(
        "custom", "custom x86-64 target", target, "x86_64", llvm_cpu_features(target)
    )


def host_cpu_flags() -> frozenset[str]:
    """The CPU flags of this machine, from /proc/cpuinfo (empty where unavailable)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith(("flags", "Features")):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def missing_cpu_features(required: tuple[str, ...] | list[str]) -> list[str]:
    """Required CPU features this machine lacks."""
    flags = host_cpu_flags()
    return [f for f in required if f not in flags]


def can_run_here(preset: TargetPreset) -> tuple[bool, str]:
    """Whether code for ``preset`` runs on this machine, and why not."""
    if preset.arch != platform.machine():
        return False, f"needs an {preset.arch} CPU (this is {platform.machine()})"
    missing = missing_cpu_features(preset.cpu_features)
    if missing:
        return False, f"CPU lacks {', '.join(missing)}"
    if preset.is_cuda:
        return cuda_device_arch() is not None, "no CUDA GPU visible"
    return True, ""


def cuda_device_arch() -> str | None:
    """The first CUDA GPU's arch (``sm_90``), or None without a GPU or driver."""
    if shutil.which("nvidia-smi") is None:
        return None
    import subprocess

    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=compute_cap", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20, check=True,
        ).stdout.split()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return f"sm_{out[0].replace('.', '')}" if out else None
