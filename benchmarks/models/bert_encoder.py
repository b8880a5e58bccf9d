"""A BERT-base-style encoder in plain PyTorch, exported to ONNX with seeded weights.

12 layers, hidden 768, 12 heads, feed-forward 3072, GELU (erf), post-LayerNorm, word, position
and token-type embeddings, an additive attention mask; sequence length 128, batch 1.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

HIDDEN, HEADS, FFN, LAYERS, VOCAB, MAX_POS, SEQ = 768, 12, 3072, 12, 30522, 512, 128


class EncoderLayer(nn.Module):
    """Self-attention and feed-forward, each followed by residual + LayerNorm."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(HIDDEN, 3 * HIDDEN)
        self.out = nn.Linear(HIDDEN, HIDDEN)
        self.norm1 = nn.LayerNorm(HIDDEN, eps=1e-12)
        self.ff1 = nn.Linear(HIDDEN, FFN)
        self.ff2 = nn.Linear(FFN, HIDDEN)
        self.norm2 = nn.LayerNorm(HIDDEN, eps=1e-12)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, s, _ = x.shape
        qkv = self.qkv(x).view(b, s, 3, HEADS, HIDDEN // HEADS).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        scores = q @ k.transpose(-1, -2) / math.sqrt(HIDDEN // HEADS) + bias
        context = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, s, HIDDEN)
        x = self.norm1(x + self.out(context))
        return self.norm2(x + self.ff2(nn.functional.gelu(self.ff1(x))))


class BertEncoder(nn.Module):
    """Embeddings and the encoder stack; returns the last hidden state."""

    def __init__(self) -> None:
        super().__init__()
        self.words = nn.Embedding(VOCAB, HIDDEN)
        self.positions = nn.Embedding(MAX_POS, HIDDEN)
        self.token_types = nn.Embedding(2, HIDDEN)
        self.norm = nn.LayerNorm(HIDDEN, eps=1e-12)
        self.layers = nn.ModuleList(EncoderLayer() for _ in range(LAYERS))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1]).unsqueeze(0)
        x = self.words(input_ids) + self.positions(positions) + self.token_types.weight[0]
        x = self.norm(x)
        bias = (1.0 - attention_mask[:, None, None, :].float()) * -10000.0
        for layer in self.layers:
            x = layer(x, bias)
        return x


def export(out: Path, seed: int = 0) -> Path:
    """Write the encoder with seeded weights to ``out`` (inputs input_ids, attention_mask)."""
    from ._export import export_onnx

    gen = torch.manual_seed(seed)
    model = BertEncoder().eval()
    ids = torch.randint(0, VOCAB, (1, SEQ), generator=gen)
    mask = torch.ones(1, SEQ, dtype=torch.int64)
    return export_onnx(model, (ids, mask), ["input_ids", "attention_mask"], ["hidden"], out)
