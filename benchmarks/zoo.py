"""The benchmark model zoo, in one table: name, how to obtain the .onnx, input shapes, tier.

Models are obtained on demand into ``benchmarks/.cache/`` (git-ignored): the onnx wheel's
``light`` architectures get seeded random weights, MobileNet-V2 and the BERT encoder are
exported from plain PyTorch, PP-OCRv4 is read from the ``rapidocr-onnxruntime`` wheel.
Tiers: ``small`` runs in minutes on 2 cores untuned, ``large`` takes long untuned or tuned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent
CACHE = ROOT / ".cache"
REPO = ROOT.parent


@dataclass(frozen=True, slots=True)
class ZooModel:
    """One benchmark model."""

    name: str
    source: str  # how it is obtained, for the results table
    obtain: Callable[[Path], Path] = field(repr=False)  # cache dir -> .onnx path
    input_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    tier: str = "small"

    def path(self, cache: Path = CACHE) -> Path:
        """The model's .onnx, obtained into ``cache`` on first use."""
        return self.obtain(cache)


def _light(arch: str) -> Callable[[Path], Path]:
    def obtain(cache: Path) -> Path:
        from .models.light import materialise

        out = cache / f"{arch}.onnx"
        return out if out.exists() else materialise(arch, out)

    return obtain


def _torch(module: str) -> Callable[[Path], Path]:
    def obtain(cache: Path) -> Path:
        import importlib

        out = cache / f"{module}.onnx"
        if out.exists():  # exported before: no torch needed
            return out
        return importlib.import_module(f".models.{module}", __package__).export(out)

    return obtain


def _rapidocr(file: str) -> Callable[[Path], Path]:
    def obtain(_cache: Path) -> Path:
        import importlib.util

        spec = importlib.util.find_spec("rapidocr_onnxruntime")
        if spec is None or spec.origin is None:
            raise FileNotFoundError(
                "rapidocr-onnxruntime is not installed; pip install rapidocr-onnxruntime==1.4.4"
            )
        return Path(spec.origin).parent / "models" / file

    return obtain


def _shipped(file: str) -> Callable[[Path], Path]:
    return lambda _cache: REPO / "models" / file


_IMAGE = {"data_0": (1, 3, 224, 224)}
_CAFFE2 = {"gpu_0/data_0": (1, 3, 224, 224)}
_LIGHT = "onnx wheel light_*.onnx, seeded random weights"

ZOO: tuple[ZooModel, ...] = (
    ZooModel("tinynet", "models/tinynet.onnx (shipped)", _shipped("tinynet.onnx")),
    ZooModel("squeezenet", _LIGHT, _light("squeezenet"), _IMAGE),
    ZooModel("shufflenet", _LIGHT, _light("shufflenet"), _CAFFE2),
    ZooModel("mobilenet_v2", "PyTorch (benchmarks/models/mobilenet_v2.py)", _torch("mobilenet_v2"),
             {"input": (1, 3, 224, 224)}),
    ZooModel("inception_v1", _LIGHT, _light("inception_v1"), _IMAGE, "large"),
    ZooModel("resnet50", _LIGHT, _light("resnet50"), _CAFFE2, "large"),
    ZooModel("densenet121", _LIGHT, _light("densenet121"), _IMAGE, "large"),
    ZooModel("vgg19", _LIGHT, _light("vgg19"), _IMAGE, "large"),
    ZooModel("bert_base", "PyTorch (benchmarks/models/bert_encoder.py), seq 128",
             _torch("bert_encoder"), {"input_ids": (1, 128), "attention_mask": (1, 128)}, "large"),
    ZooModel("ppocrv4_det", "rapidocr-onnxruntime 1.4.4 wheel",
             _rapidocr("ch_PP-OCRv4_det_infer.onnx"), {"x": (1, 3, 640, 640)}, "large"),
    ZooModel("ppocrv4_rec", "rapidocr-onnxruntime 1.4.4 wheel",
             _rapidocr("ch_PP-OCRv4_rec_infer.onnx"), {"x": (1, 3, 48, 320)}),
    ZooModel("ppocr_cls", "rapidocr-onnxruntime 1.4.4 wheel",
             _rapidocr("ch_ppocr_mobile_v2.0_cls_infer.onnx"), {"x": (1, 3, 48, 192)}),
)  # fmt: skip


def select(names: str | None = None, tier: str | None = None) -> list[ZooModel]:
    """Zoo entries by comma-separated ``names`` (all when empty) and optional ``tier``."""
    by_name = {m.name: m for m in ZOO}
    if names:
        wanted = [n.strip() for n in names.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in by_name]
        if unknown:
            raise SystemExit(f"unknown model(s) {unknown}; the zoo has {', '.join(by_name)}")
        chosen = [by_name[n] for n in wanted]
    else:
        chosen = list(ZOO)
    return [m for m in chosen if tier is None or m.tier == tier]
