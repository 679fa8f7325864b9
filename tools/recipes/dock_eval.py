"""How well boxes' docks tell where the robot stands: square on the marker or not, off its axis by how much.

    .venv-train/bin/python tools/recipes/dock_eval.py models/demo.box [OTHER.box ...]

On held-out frames no recipe trains on: views placed in front of the dock of held-out
courses, 0.3-1.2 m away, up to 0.6 rad off its axis and aimed at it give or take 0.2 rad
(HELDOUT_NEAR), and the held-out drives' dock-zone frames (FULL_HELDOUT). On frames where
the marker is visible, per box and set, for a dock with an aligned column (its drive
contract names the columns): "false_square", the share of frames not square
(truth.dock.aligned false) where the expert says aligned; "near", the same within NEAR_M of
the marker, where a false "aligned" ends the seek (it holds) short of docking for good; and
"square_recall", the share of square frames where it says aligned. For a dock with an
off_axis column: "off_axis_mae_deg" on all visible frames and "near_off_axis_mae_deg"
within NEAR_M, where the approach squares up on it. For every dock: "near_distance_mae_m"
within NEAR_M (it stops at arrive_m by its own reading).
"""
from __future__ import annotations

import argparse
import dataclasses

import math

from ball_eval import expert_rows
from frames import FULL_HELDOUT, SMOKE_HELDOUT, Views, render

from spikebox.runtime.box import Box

NEAR_M = 0.6
HELDOUT_NEAR = Views("tour", (1001, 1002, 1003, 1004), per_seed=40, zone_kind="dock",
                     randomize=False, distance_mm=(300.0, 1200.0), off_axis_rad=0.6,
                     aim_std_rad=0.2)


def _share(said: list[int]) -> str:
    return f"{said[0]}/{said[1]} = {said[0] / max(said[1], 1):.3f}"


def _mean(errors: list[float]) -> str:
    return f"{sum(errors) / len(errors):.3g} (n={len(errors)})" if errors else "n/a"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("boxes", nargs="+", help="boxes with a dock expert")
    p.add_argument("--smoke", action="store_true", help="CI: a few frames of each set")
    args = p.parse_args()
    near = dataclasses.replace(HELDOUT_NEAR, seeds=HELDOUT_NEAR.seeds[:1], per_seed=8) \
        if args.smoke else HELDOUT_NEAR
    sets = {"dock_near": render(near, {"dock"}),
            "drives": render(SMOKE_HELDOUT if args.smoke else FULL_HELDOUT, {"dock"})}
    for path in args.boxes:
        seek = Box.open(path).experts["dock"].drive.behaviour
        for name, frames in sets.items():
            askew, askew_near, square = [0, 0], [0, 0], [0, 0]   # [said aligned, frames]
            off_axis, off_axis_near, distance_near = [], [], []   # |error| deg, m
            for truth, row in expert_rows(path, "dock", frames):
                d = truth.dock
                if not d.visible:
                    continue
                near = d.distance_mm <= NEAR_M * 1000.0
                groups = [] if seek.aligned is None else [square] if d.aligned else \
                    [askew] + ([askew_near] if near else [])
                for counts in groups:
                    counts[0] += int(row[seek.aligned] > 0)
                    counts[1] += 1
                distance_near += [abs(row[seek.distance] - d.distance_mm / 1000.0)] if near else []
                if seek.off_axis is not None:
                    error = abs(math.degrees(row[seek.off_axis] - d.off_axis_rad))
                    off_axis += [error]
                    off_axis_near += [error] if near else []
            said = "" if seek.aligned is None else (
                f"  false_square {_share(askew)}  near {_share(askew_near)}  "
                f"square_recall {_share(square)}")
            axis = "" if seek.off_axis is None else (
                f"  off_axis_mae_deg {_mean(off_axis)}  near_off_axis_mae_deg {_mean(off_axis_near)}")
            print(f"{path}  {name}:{said}{axis}  near_distance_mae_m {_mean(distance_near)}")


if __name__ == "__main__":
    main()
