"""The obstacle avoider: a camera frame of the obstacle field -> a safe steering in [-1, 1].

    .venv-train/bin/python tools/recipes/obstacle_avoid.py --box models/demo.box [--smoke]

Labels: truth.obstacle.steering, the world's shortest free path round what is in
the way toward the way on (runtime/sim/paths.py). Held-out metric: steering_mae
over the field's frames; beside it straight_mae, always driving straight.
"""
from __future__ import annotations

from common import Recipe, run_recipe
from line_follow import _loss, _metrics

RECIPE = Recipe(
    name="obstacle_avoid", skill="obstacle", factory="make_obstacle_avoid",
    keep=lambda t: True, target=lambda t: [t.obstacle.steering],
    loss=_loss, metrics=_metrics,
    output_meaning="safe steering in [-1, 1], + turns left")

if __name__ == "__main__":
    run_recipe(RECIPE)
