"""Library kernels (oneDNN) compiled into our artifacts as per-operator candidates.

The kernel source ships with tvmforge; it is compiled once per source and compiler into a cached
object, attached to the module with ``external_mods`` and linked into the exported ``.so``, which
then needs ``libdnnl.so.3`` at load time (pip ``onednn-cpu-gomp``; the manifest says so).
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

from ..errors import ArtifactError, TargetError

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("dnnl_kernels.cc")
#: Functions the object exports (tvm-ffi symbols), called from the graph via call_dps_packed.
FUNCTIONS = (
    "tvmforge_dnnl_conv2d",
    "tvmforge_dnnl_conv2d_add",
    "tvmforge_dnnl_conv2d_transpose",
    "tvmforge_dnnl_dense",
    "tvmforge_dnnl_batch_matmul",
)
#: The shared library the artifact links against, and where users get it.
LIBRARY = "libdnnl.so.3"
PIP_PACKAGE = "onednn-cpu-gomp==2023.2.0"


def library_dirs() -> list[Path]:
    """Folders searched for oneDNN: this environment's ``lib/`` (where the wheel puts it)."""
    dirs = [Path(sys.prefix) / "lib", Path(sysconfig.get_config_var("LIBDIR") or "/usr/lib")]
    return [d for d in dirs if (d / LIBRARY).exists()]


def include_dirs() -> list[Path]:
    """Headers of oneDNN (pip ``onednn-devel-cpu-gomp``) and tvm-ffi."""
    import tvm_ffi.libinfo

    dirs = [Path(sys.prefix) / "include", Path(tvm_ffi.libinfo.find_include_path())]
    return [d for d in dirs if d.exists()]


def available() -> bool:
    """True when oneDNN's library and headers are installed and a C++ compiler is on PATH."""
    import shutil

    headers = any((d / "dnnl.hpp").exists() for d in include_dirs())
    return bool(library_dirs()) and headers and shutil.which(_cxx()) is not None


def wanted(choice: str, preset, remote: bool = False) -> bool:
    """Whether a build offers oneDNN kernels: ``choice`` is "auto", "onednn" or "tvm".

    "auto" offers them for x86 CPU builds measured here when oneDNN is installed, each chosen
    where it measures faster; "onednn" insists (every site in oneDNN, TVM's kernel not timed;
    one-line error when impossible); "tvm" never offers them.
    """
    if choice == "tvm":
        return False
    if choice not in ("auto", "onednn"):
        raise TargetError(f"unknown --kernels '{choice}'; use auto, onednn or tvm")
    fits = preset.target.get("kind") == "llvm" and preset.arch == "x86_64" and not preset.is_cross
    if choice == "auto":
        if fits and not remote and not available():
            log.info("oneDNN kernels unavailable (oneDNN or g++ missing): TVM kernels only")
        return fits and not remote and available()
    if not fits or remote:
        raise TargetError(
            f"oneDNN kernels run on x86 CPU targets built and measured here, not on "
            f"'{preset.name}'; pass --kernels tvm"
        )
    if not available():
        raise TargetError(
            f"oneDNN is not installed; run: pip install {PIP_PACKAGE} "
            "onednn-devel-cpu-gomp==2023.2.0 (and have g++), or pass --kernels tvm"
        )
    return True


def object_file(cache: Path | None = None) -> Path:
    """The compiled kernel object, built on first use and cached by source and compiler."""
    cache = cache or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tvmforge"
    digest = hashlib.sha256(SOURCE.read_bytes() + _cxx().encode()).hexdigest()[:16]
    obj = cache / f"dnnl_kernels-{digest}.o"
    if obj.exists():
        return obj
    cache.mkdir(parents=True, exist_ok=True)
    tmp = obj.with_suffix(f".{os.getpid()}.tmp.o")
    cmd = [_cxx(), "-std=c++17", "-O2", "-fPIC", "-c", str(SOURCE), "-o", str(tmp)]
    cmd += [f"-I{d}" for d in include_dirs()]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise TargetError(
            f"cannot compile the oneDNN kernel ({done.stderr.strip().splitlines()[-1:]}); "
            f"install {PIP_PACKAGE} and onednn-devel-cpu-gomp==2023.2.0, or pass --kernels tvm"
        )
    tmp.replace(obj)
    return obj


def attach(mod):
    """``mod`` with the kernel object as an external module, so the export links it in."""
    from .._tvm import tvm

    ext = tvm.runtime.load_static_library(str(object_file()), list(FUNCTIONS))
    return mod.with_attr("external_mods", [ext])


def link_options() -> list[str]:
    """Linker flags that record the oneDNN dependency and where it was found."""
    lib = library_dirs()[0]
    return [f"-L{lib}", "-Wl,--no-as-needed", "-ldnnl", f"-Wl,-rpath,{lib}"]


def preload() -> None:
    """Load oneDNN globally before an artifact that needs it, with a clear error if missing.

    OpenMP keeps its default wait policy (spin briefly, then sleep): on ResNet-50 that measured
    0.98x onnxruntime against 1.04x with ``OMP_WAIT_POLICY=PASSIVE``, which wakes the team for
    every convolution.
    """
    for path in [d / LIBRARY for d in library_dirs()] + [Path(LIBRARY)]:
        try:
            ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
            return
        except OSError:
            continue
    raise ArtifactError(
        f"this artifact calls oneDNN and {LIBRARY} is not installed here; "
        f"run: pip install {PIP_PACKAGE}"
    )


def _cxx() -> str:
    return os.environ.get("CXX", "g++")
