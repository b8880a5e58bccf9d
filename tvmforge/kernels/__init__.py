"""Library kernels (oneDNN) compiled into our artifacts as per-operator candidates.

The kernel sources ship with tvmforge; each is compiled once per source and compiler into a
cached object, attached to the module with ``external_mods`` and linked into the exported ``.so``,
which then needs ``libdnnl.so.3`` at load time (pip ``onednn-cpu-gomp``; the manifest says so).
Beside the kernels, ``openmp_parallel.cc`` lets the artifact run TVM's own parallel loops on
oneDNN's OpenMP team (see ``use_openmp``).
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

#: Functions the object exports (tvm-ffi symbols), called from the graph via call_dps_packed.
FUNCTIONS = (
    "tvmforge_dnnl_conv2d",
    "tvmforge_dnnl_conv2d_add",
    "tvmforge_dnnl_conv2d_transpose",
    "tvmforge_dnnl_dense",
    "tvmforge_dnnl_batch_matmul",
)
#: 3x3 stride-1 convolutions by Winograd's F(4x4, 3x3) and F(2x2, 3x3) ("winograd2"), with
#: oneDNN's batched matmul inside; ``_concat``: written beside another tensor they are
#: concatenated with.
WINOGRAD_FUNCTIONS = (
    "tvmforge_winograd_conv2d",
    "tvmforge_winograd_conv2d_add",
    "tvmforge_winograd2_conv2d",
    "tvmforge_winograd2_conv2d_add",
    "tvmforge_winograd_conv2d_concat",
    "tvmforge_winograd2_conv2d_concat",
)
#: Convolutions with a short reduction (first layers) as im2col + one oneDNN matmul.
IM2COL_FUNCTIONS = ("tvmforge_im2col_conv2d", "tvmforge_im2col_conv2d_add")
#: The same convolutions computed directly, output channels in vectors (no patch matrix);
#: ``_nchw``: reading an NCHW input (the model's own) without the transpose to NHWC.
SHALLOW_FUNCTIONS = (
    "tvmforge_shallow_conv2d",
    "tvmforge_shallow_conv2d_add",
    "tvmforge_shallow_conv2d_nchw",
    "tvmforge_shallow_conv2d_nchw_add",
)
#: The function that moves TVM's parallel loops onto OpenMP, called by ``Session``.
OPENMP_PARALLEL = "tvmforge_openmp_parallel"
#: Each source the artifact links, with the functions its object exports.
SOURCES = {
    Path(__file__).with_name("dnnl_kernels.cc"): FUNCTIONS,
    Path(__file__).with_name("winograd.cc"): WINOGRAD_FUNCTIONS,
    Path(__file__).with_name("im2col.cc"): IM2COL_FUNCTIONS,
    Path(__file__).with_name("shallow.cc"): SHALLOW_FUNCTIONS,
    Path(__file__).with_name("openmp_parallel.cc"): (OPENMP_PARALLEL,),
}
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
    """Whether a build offers library kernels (oneDNN's, and ours: Winograd, im2col, shallow):
    ``choice`` is "auto", "onednn" or "tvm".

    "auto" offers them for x86 CPU builds measured here when oneDNN is installed, each chosen
    where it measures faster; "onednn" insists (every site in the fastest library kernel, TVM's
    not timed; one-line error when impossible); "tvm" never offers them.
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


def object_file(source: Path, cache: Path | None = None) -> Path:
    """The compiled object of ``source``, built on first use and cached by source, the headers
    beside it and compiler."""
    cache = cache or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tvmforge"
    text = b"".join(p.read_bytes() for p in [source, *sorted(source.parent.glob("*.h"))])
    digest = hashlib.sha256(text + _cxx().encode()).hexdigest()[:16]
    obj = cache / f"{source.stem}-{digest}.o"
    if obj.exists():
        return obj
    cache.mkdir(parents=True, exist_ok=True)
    tmp = obj.with_suffix(f".{os.getpid()}.tmp.o")
    cmd = [
        _cxx(),
        "-std=c++17",
        "-O2",
        "-fPIC",
        "-fopenmp",
        "-Wno-psabi",
        "-c",
        str(source),
        "-o",
        str(tmp),
    ]
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
    """``mod`` with the kernel objects as external modules, so the export links them in."""
    from .._tvm import tvm

    objects = [
        tvm.runtime.load_static_library(str(object_file(source)), list(functions))
        for source, functions in SOURCES.items()
    ]
    return mod.with_attr("external_mods", objects)


def link_options() -> list[str]:
    """Linker flags that record the oneDNN and OpenMP dependencies and where oneDNN was found."""
    lib = library_dirs()[0]
    return [f"-L{lib}", "-Wl,--no-as-needed", "-ldnnl", "-lgomp", f"-Wl,-rpath,{lib}"]


def use_openmp(module, threads: int) -> bool:
    """Run the loaded artifact ``module``'s TVM parallel loops on OpenMP, ``threads`` wide for
    the calling thread; False when it has no parallel loops.

    oneDNN's kernels run on an OpenMP team; TVM's kernels would otherwise run on TVM's own pool,
    and each hand-over between the two wakes one pool while the other's workers still hold the
    cores (SqueezeNet 3.3-3.5 ms on two pools, 3.0-3.1 on one; onnxruntime 2.4-2.8).
    """
    return bool(module.get_function(OPENMP_PARALLEL, query_imports=True)(threads))


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
