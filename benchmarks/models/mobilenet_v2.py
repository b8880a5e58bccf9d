"""MobileNet-V2 (Sandler et al. 2018) in plain PyTorch, exported to ONNX with seeded weights.

torchvision is not available here, so the network is written out: inverted residual blocks
(1x1 expand, 3x3 depthwise, 1x1 linear projection), ReLU6, width multiplier 1.0, 224x224 input.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

#: (expansion t, output channels c, repeats n, first stride s), as in the paper's Table 2.
SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
            (6, 160, 3, 2), (6, 320, 1, 1))  # fmt: skip


def _conv_bn(cin: int, cout: int, kernel: int, stride: int, groups: int = 1, act: bool = True):
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """Expand, depthwise, project; a skip connection when shapes match."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        layers = [] if expand == 1 else [_conv_bn(cin, hidden, 1, 1)]
        layers += [_conv_bn(hidden, hidden, 3, stride, groups=hidden),
                   _conv_bn(hidden, cout, 1, 1, act=False)]  # fmt: skip
        self.block = nn.Sequential(*layers)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x) if self.skip else self.block(x)


class MobileNetV2(nn.Module):
    """MobileNet-V2, 1000 classes."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv_bn(3, 32, 3, 2)]
        cin = 32
        for t, c, n, s in SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers.append(_conv_bn(cin, 1280, 1, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(1280, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x).mean((2, 3))
        return self.classifier(x)


def randomise_batchnorm(model: nn.Module, gen: torch.Generator) -> None:
    """Give every batch-norm non-trivial statistics (fresh ones are an identity)."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.normal_(0.0, 0.1, generator=gen)
                m.running_var.uniform_(0.5, 1.5, generator=gen)
                m.weight.uniform_(0.5, 1.5, generator=gen)
                m.bias.normal_(0.0, 0.1, generator=gen)


def export(out: Path, seed: int = 0) -> Path:
    """Write MobileNet-V2 with seeded weights to ``out`` (opset 17, input ``input``)."""
    from ._export import export_onnx

    gen = torch.manual_seed(seed)
    model = MobileNetV2().eval()
    randomise_batchnorm(model, gen)
    sample = torch.randn(1, 3, 224, 224, generator=gen)
    return export_onnx(model, (sample,), ["input"], ["logits"], out)
