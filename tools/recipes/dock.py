"""The dock: a camera frame -> is the marker there, its bearing and distance,
and is the robot square on it.

    .venv-train/bin/python tools/recipes/dock.py --box models/demo.box [--smoke]

Output columns: visible (a logit), bearing in radians (+ left, tanh-bounded),
distance to the marker's face in metres, aligned (a logit: on the marker's axis and
facing it squarely). Labels: the world's truth.dock, on the dock zone's frames and a
quarter of every other zone's. Held-out metrics:
visible_accuracy (visible_majority: the commoner answer), and on frames where the
marker is visible bearing_mae_deg, distance_mae_m and aligned_accuracy.
"""
from __future__ import annotations

import math

from common import Recipe, run_recipe, seen_loss, seen_metrics


def _target(t) -> list[float]:
    d = t.dock
    return ([1.0, d.bearing_rad, d.distance_mm / 1000.0, float(d.aligned)] if d.visible
            else [0.0, 0.0, 0.0, 0.0])


RECIPE = Recipe(
    name="dock", skill="dock", factory="make_dock",
    # Every frame of its zone and a quarter of every other zone's: woken by mistake elsewhere
    # (a false wake, or awake_hold past the door), it must say "not seen", not seek a phantom
    # (trained on its zone alone it said "seen" on 25-100 % of other zones' frames).
    keep=lambda t: t.skill == "dock" or t.frame_id % 4 == 0, target=_target,
    also_from=('line', 'sign', 'ball', 'obstacle', None),
    loss=lambda out, target: seen_loss(out, target, n_where=2, n_flags=1),
    metrics=lambda out, target: seen_metrics(
        out, target, {"bearing_mae_deg": 180 / math.pi, "distance_mae_m": 1.0},
        flags=("aligned_accuracy",)),
    output_meaning="visible logit (> 0: seen), bearing rad (+ left), distance m, "
                   "aligned logit (> 0: square on the marker)",
    # Above the obstacle avoider (30): docking drives up to a solid on purpose; at 10 the
    # avoider steered the robot away ~0.6 m short of the dock every time (its stop under
    # 0.2 m, a safety stop, and the range guard still beat the dock).
    priority=40,
    # Square onto the marker and stay there: the course's end.
    drive={"seek": {"output": "cat", "visible": 0, "bearing": 1, "distance": 2, "aligned": 3,
                    "arrive_m": 0.4, "on_arrival": "hold", "speed": 0.5}})

if __name__ == "__main__":
    run_recipe(RECIPE)
