"""The line follower: a camera frame -> steering in [-1, 1] (+ turns left), and is a line in view.

    .venv-train/bin/python tools/recipes/line_follow.py --box models/demo.box [--smoke]

Labels: the world's perfect line follower (truth.line.steering: aim at the line
300 mm ahead) and truth.line.visible, on the line zone's frames and a quarter of every
other zone's (no line there). Output columns: steering, and a logit (> 0: a line in
view); its drive contract is silent while that is <= 0, so a follower woken where there
is no line leaves the driving to others instead of steering by a phantom. Held-out
metrics: steering_mae, the mean |steering - truth| over the held-out drives' frames that
show the line (a steering of 1 is a full turn); beside it straight_mae, the error of
always driving straight, the figure to beat; visible_accuracy over every held-out frame
(visible_majority: always guessing the commoner answer).
"""
from __future__ import annotations

import numpy as np

from common import Recipe, run_recipe


def _shows_line(t) -> bool:
    return t.line is not None and t.line.visible


def _target(t) -> list[float]:
    return [t.line.steering, 1.0] if _shows_line(t) else [0.0, 0.0]


def _loss(out, target):
    import torch
    f = torch.nn.functional
    loss = f.binary_cross_entropy_with_logits(out[:, 1], target[:, 1])
    seen = target[:, 1] > 0.5
    if seen.any():
        loss = loss + f.smooth_l1_loss(out[seen, 0], target[seen, 0], beta=0.1)
    return loss


def _metrics(out: np.ndarray, target: np.ndarray) -> dict[str, float]:
    seen = target[:, 1] > 0.5
    return {"steering_mae": float(np.mean(np.abs(out[seen, 0] - target[seen, 0]))),
            "straight_mae": float(np.mean(np.abs(target[seen, 0]))),
            "visible_accuracy": float(np.mean((out[:, 1] > 0) == seen)),
            "visible_majority": float(max(seen.mean(), 1 - seen.mean()))}


RECIPE = Recipe(
    name="line_follow", skill="line", factory="make_line_follow",
    # Every frame of the line zone, and a quarter of every other zone's.
    keep=lambda t: t.skill == "line" or t.frame_id % 4 == 0,
    target=_target,
    loss=_loss, metrics=_metrics,
    also_from=("sign", "ball", "obstacle", "dock", None),
    output_meaning="steering in [-1, 1], + turns left; line in view logit (> 0: seen)",
    drive={"steer": {"output": "cat", "steering": 0, "visible": 1}})

if __name__ == "__main__":
    run_recipe(RECIPE)
