"""The demo experts' networks: small convnets on a camera frame (64x48 unless a factory says
otherwise), one factory per skill.

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


class SignNet(nn.Module):
    """Reads the sign in a frame of any size: strided convs to 1/8 of the input, two more
    layers (seeing ~50 input pixels, a legible sign's size), then per place a score for each
    sign class and for "no legible sign", each score the maximum over the frame. Where a
    sign stands, and what else the frame shows, cannot pick the class: the flattened head of
    SkillNet learned the rooms of its 64 training signs and read 39 % of held-out frames."""

    def __init__(self, n_classes: int, width: int = 16):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(3, w, 5, stride=2, padding=2), nn.ReLU(),
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(2 * w, 3 * w, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(3 * w, 4 * w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(4 * w, 4 * w, 3, padding=1), nn.ReLU())
        self.classes = nn.Sequential(nn.Conv2d(4 * w, n_classes, 1), nn.AdaptiveMaxPool2d(1),
                                     nn.Flatten())
        self.none = nn.Sequential(nn.Conv2d(4 * w, 1, 1), nn.AdaptiveMaxPool2d(1), nn.Flatten())

    def forward(self, image):
        f = self.features(image)
        return torch.cat([self.classes(f), self.none(f)], dim=1)


def make_line_follow() -> SkillNet:
    return SkillNet(2, tanh_cols=(0,))           # steering, line-in-view logit


def make_sign_read() -> SignNet:
    return SignNet(6)       # (1, 3, 96, 128) -> logits over layout.SIGN_CLASSES, then "none"


def make_ball_find() -> SkillNet:
    return SkillNet(3, tanh_cols=(1,))           # visible logit, bearing / 1 rad, distance m


def make_obstacle_avoid() -> SkillNet:
    return SkillNet(2, tanh_cols=(0,))           # steering toward the open way, clear ahead m


def make_dock() -> SkillNet:
    return SkillNet(4, tanh_cols=(1,))           # visible logit, bearing / 1 rad, distance m, off-axis rad


def make_exit_find() -> SkillNet:
    return SkillNet(3, tanh_cols=(1,))           # visible logit, bearing / 1 rad, distance m
