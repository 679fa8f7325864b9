"""The demo experts' networks: small convnets on a 64x48 camera frame, one factory per skill.

Torch only, nothing else of the repo: `spikebox export add` imports this file by its
path (its PyTorch door, `nets.py:make_line_follow`), outside any package.

    model = make_line_follow()     # (1, 3, 48, 64) BGR in [0, 1] -> (1, 1) steering in [-1, 1]

Each net returns one tensor, its heads concatenated (`torch.cat`), so its one ONNX
output is named "cat" (`OUTPUT`); what each column means is in the recipe's manifest entry.
"""
from __future__ import annotations

import torch
from torch import nn

INPUT_W, INPUT_H = 64, 48
OUTPUT = "cat"        # the ONNX name torch.onnx.export gives the final torch.cat


class SkillNet(nn.Module):
    """Three strided convs (64x48 -> 8x6), a small dense layer, then `n_out` raw columns;
    `tanh_cols` of them are squashed to [-1, 1] (steerings, bearings), the rest stay raw
    (logits, distances)."""

    def __init__(self, n_out: int, tanh_cols: tuple[int, ...] = (), width: int = 24):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 5, stride=2, padding=2), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1), nn.ReLU())
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(2 * width * 6 * 8, 64), nn.ReLU(),
                                  nn.Linear(64, n_out))
        self.tanh_cols = tuple(tanh_cols)
        self.n_out = n_out

    def forward(self, image):
        out = self.head(self.features(image))
        cols = [torch.tanh(out[:, i:i + 1]) if i in self.tanh_cols else out[:, i:i + 1]
                for i in range(self.n_out)]
        return torch.cat(cols, dim=1)


def make_line_follow() -> SkillNet:
    return SkillNet(1, tanh_cols=(0,))           # steering


def make_sign_read() -> SkillNet:
    return SkillNet(6)                           # logits over layout.SIGN_CLASSES


def make_ball_find() -> SkillNet:
    return SkillNet(3, tanh_cols=(1,))           # visible logit, bearing / 1 rad, distance m


def make_obstacle_avoid() -> SkillNet:
    return SkillNet(1, tanh_cols=(0,))           # safe steering


def make_dock() -> SkillNet:
    return SkillNet(4, tanh_cols=(1,))           # visible logit, bearing / 1 rad, distance m, aligned logit
