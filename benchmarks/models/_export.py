"""The one torch.onnx.export call the PyTorch zoo models share."""

from __future__ import annotations

from pathlib import Path

import torch


def export_onnx(model, sample: tuple, inputs: list[str], outputs: list[str], out: Path) -> Path:
    """Export ``model`` traced on ``sample`` to ``out`` (opset 17, static shapes, one file)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(model, sample, str(out), input_names=inputs, output_names=outputs,
                          opset_version=17, dynamo=False)  # fmt: skip
    return out
