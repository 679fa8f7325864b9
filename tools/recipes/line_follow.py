"""The line follower: a camera frame of the line zone -> steering in [-1, 1] (+ turns left).

    .venv-train/bin/python tools/recipes/line_follow.py --box models/demo.box [--smoke]

Labels: the world's perfect line follower (truth.line.steering: aim at the line
300 mm ahead). Held-out metric: steering_mae, the mean |steering - truth| over the
held-out drives' line frames (a steering of 1 is a full turn); beside it
straight_mae, the error of always driving straight, the figure to beat.
"""
from __future__ import annotations

import numpy as np

from common import Recipe, run_recipe


def _loss(out, target):
    import torch
    return torch.nn.functional.smooth_l1_loss(out, target, beta=0.1)


def _metrics(out: np.ndarray, target: np.ndarray) -> dict[str, float]:
    # straight_mae: the same error of always driving straight, the figure to beat
    return {"steering_mae": float(np.mean(np.abs(out[:, 0] - target[:, 0]))),
            "straight_mae": float(np.mean(np.abs(target[:, 0])))}


RECIPE = Recipe(
    name="line_follow", skill="line", factory="make_line_follow",
    keep=lambda t: t.line is not None and t.line.visible,
    target=lambda t: [t.line.steering],
    loss=_loss, metrics=_metrics,
    output_meaning="steering in [-1, 1], + turns left",
    drive={"steer": {"output": "cat", "steering": 0}})

if __name__ == "__main__":
    run_recipe(RECIPE)
