"""The ball finder: a camera frame -> is the ball there, its bearing, its distance.

    .venv-train/bin/python tools/recipes/ball_find.py --box models/demo.box [--smoke]

Output columns: visible (a logit: > 0 means seen), bearing in radians (+ left,
tanh-bounded to [-1, 1]), distance to the ball's centre in metres. Labels: the
world's truth.ball, on the ball zone's frames and a quarter of every other zone's.
Held-out metrics: visible_accuracy over those frames
(visible_majority: always guessing the commoner answer), and on frames where the
ball is visible bearing_mae_deg and distance_mae_m.
"""
from __future__ import annotations

import math

import numpy as np
from common import (FULL_HELDOUT, FULL_TRAIN, Looks, Recipe, Views, run_recipe, seen_loss,
                    seen_metrics)


def _target(t) -> list[float]:
    b = t.ball
    return [1.0, b.bearing_rad, b.distance_mm / 1000.0] if b.visible else [0.0, 0.0, 0.0]


def _balanced(targets: np.ndarray) -> np.ndarray:
    seen = targets[:, 0] > 0
    share = min(max(float(seen.mean()), 1e-3), 1 - 1e-3)
    return np.where(seen, 0.5 / share, 0.5 / (1.0 - share))


# Red and orange are ball colours, and a stop sign is a red disc: seen close from the side in
# the sign zone's corner, the finder took one for a ball (logit 15-30) and sought it into the
# corner (demo, seed 2001). Drives pass signs at a distance; these show them near and askew,
# and every zone from anywhere, facing anywhere (a quarter of them kept, as of drives).
SIGNS_NEAR = (Views("tour", tuple(range(1, 33)), per_seed=24, zone_kind="sign",
                    distance_mm=(250.0, 1500.0), off_axis_rad=1.3),
              Views("errand", tuple(range(1, 33)), per_seed=24, zone_kind="sign",
                    distance_mm=(250.0, 1500.0), off_axis_rad=1.3))
LOOKS = Looks(("tour", "errand"), tuple(range(1, 9)), per_zone=60)
SIGNS_HELDOUT = Views("tour", (1001, 1002, 1003, 1004), per_seed=40, zone_kind="sign",
                      randomize=False, distance_mm=(250.0, 1500.0), off_axis_rad=1.3)

RECIPE = Recipe(
    name="ball_find", skill="ball", factory="make_ball_find",
    # Every frame of its zone and a quarter of every other zone's: woken by mistake elsewhere
    # (a false wake, or awake_hold past the door), it must say "not seen", not seek a phantom
    # (trained on its zone alone it said "seen" on 25-100 % of other zones' frames).
    keep=lambda t: t.skill == "ball" or t.frame_id % 4 == 0, target=_target,
    also_from=('line', 'sign', 'obstacle', 'dock', None),
    loss=lambda out, target: seen_loss(out, target, n_where=2),
    metrics=lambda out, target: seen_metrics(
        out, target, {"bearing_mae_deg": 180 / math.pi, "distance_mae_m": 1.0}),
    output_meaning="visible logit (> 0: seen), bearing rad (+ left), distance m",
    train=(FULL_TRAIN, *SIGNS_NEAR, LOOKS),
    # Balls seen and not seen drawn equally often: with the looks in, "not seen" outnumbers
    # "seen" 4 to 1, and unweighted the ball zone's recall fell from 0.63 to 0.44.
    sample_weight=_balanced,
    heldout=(FULL_HELDOUT, SIGNS_HELDOUT),
    # 3000 steps, not 1500: with the other zones' frames in, the ball zone's distance error
    # was 0.22 m at 1500 (0.105 m trained on the zone alone).
    steps=3000,
    priority=10,
    # Up to the ball, then on: released on arrival, not sought again until unseen 3 s.
    drive={"seek": {"output": "cat", "visible": 0, "bearing": 1, "distance": 2,
                    "arrive_m": 0.33, "on_arrival": "release", "speed": 0.8, "rearm_s": 3.0}})

if __name__ == "__main__":
    run_recipe(RECIPE)
