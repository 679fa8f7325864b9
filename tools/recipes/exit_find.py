"""The exit finder: a camera frame of any zone -> is the zone's way on in sight, its bearing,
its distance.

    .venv-train/bin/python tools/recipes/exit_find.py --box models/demo.box [--smoke]

Every zone but the last is left through a door marked by two cyan posts on its side
(runtime/sim/course.py). The expert says whether that door is in sight and where the
way through it is: output columns visible (a logit: > 0 means seen), bearing in radians
(+ left, tanh-bounded to [-1, 1]) and distance in metres to where to steer
(truth.exit_aim: onto the door's axis, then DOOR_INSET_MM past its middle, so the robot
crosses the door square). Labels: the world's truth.exit, on frames of every zone.

It has no zone of its own, so it gets no activator units: the camera never wakes it.
The run config pins it (`pager.pinned`), and a pinned expert without units runs on
every frame: the lowest-priority driver, it takes the robot to the way on wherever
the zone's own expert has nothing to say (past the ball, between signs, round the
obstacles' field). Held-out metrics as the ball finder's.
"""
from __future__ import annotations

import math

from common import FULL_HELDOUT, FULL_TRAIN, Drives, Looks, Recipe, run_recipe, seen_loss, seen_metrics


def _target(t) -> list[float]:
    e = t.exit
    return [1.0, e.bearing_rad, e.distance_mm / 1000.0] if e.visible else [0.0, 0.0, 0.0]


# The robot meets doors askew (after a ball, round an obstacle): drives that wander more.
WIDE = Drives(("tour", "errand"), (11, 12, 13, 14), randomize=True, wander=60.0)
# ... and from every side, the door it came in by too: the last zone's exit posts seen back
# through it are not the way on (the shipped finder took them for it, and led the robot back).
LOOKS = Looks(("tour", "errand"), tuple(range(1, 9)), per_zone=60)
LOOKS_HELDOUT = Looks(("tour", "errand"), (1001,), per_zone=60, randomize=False)

RECIPE = Recipe(
    name="exit_find", skill=None, factory="make_exit_find",
    keep=lambda t: True, target=_target,
    loss=lambda out, target: seen_loss(out, target, n_where=2),
    metrics=lambda out, target: seen_metrics(
        out, target, {"bearing_mae_deg": 180 / math.pi, "distance_mae_m": 1.0}),
    output_meaning="visible logit (> 0: the way on seen), bearing rad (+ left), distance m",
    train=(FULL_TRAIN, WIDE, LOOKS),
    heldout=(FULL_HELDOUT, LOOKS_HELDOUT),
    steps=3000,
    priority=-10,
    # Toward the way through; the camera loses the door's middle ~0.5 m before it, so a door
    # lost within coast_m is driven to on the arc through where it was last seen (past the
    # door's middle: exit_aim), and only then arrived at; the next zone's door, often in sight
    # at once, is sought without a pause. A door's posts look alike from both sides, so once
    # through one, a "way on" seen within 60 deg of where a door passed is, and about as far,
    # is the door it came in by: never sought (the robot's odometry from the MCU's telemetry).
    drive={"seek": {"output": "cat", "visible": 0, "bearing": 1, "distance": 2,
                    "arrive_m": 0.1, "on_arrival": "release", "speed": 0.8, "rearm_s": 1.0,
                    "coast_m": 1.0, "no_return_deg": 60}})

if __name__ == "__main__":
    run_recipe(RECIPE)
