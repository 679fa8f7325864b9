"""A seek with an off_axis column comes in along the target's axis and arrives square on it.

Closed loop on the arbiter alone: a marker at the origin facing +x, a robot driven by the
arbiter's wheel speeds (integrated, 30 Hz), and each frame the row a perfect dock expert would
give from where the robot is. "Docked" is the sim's own test (runtime/sim/truth.py): within
ALIGNED_OFFSET_MM of the axis, ALIGNED_HEADING_RAD of facing the marker, DOCK_STOP_MM ± 60.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from arbiterkit import arbiter, experts, facing, result
from spikebox.runtime.arbiter.kinematics import axis_aim
from spikebox.runtime.arbiter.axis import BACKING, SQUARE_FRAMES, AxisMemory
from spikebox.runtime.arbiter.odometry import Pose
from spikebox.runtime.sim.layout import DOCK_STOP_MM
from spikebox.runtime.sim.truth import ALIGNED_HEADING_RAD, ALIGNED_OFFSET_MM

WHEELBASE_MM = 150.0
AXIS = {"seek": {"output": "cat", "visible": 0, "bearing": 1, "distance": 2, "off_axis": 3,
                 "aligned": 4, "arrive_m": 0.4, "on_arrival": "hold", "speed": 0.5}}
NO_AXIS = {"seek": {"output": "cat", "visible": 0, "bearing": 1, "distance": 2, "aligned": 4,
                    "arrive_m": 0.4, "on_arrival": "hold", "speed": 0.5}}


def _wrap(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi


def _row(x: float, y: float, heading: float, fov_rad: float = math.pi,
         noise=None) -> tuple[float, ...]:
    """A dock expert's row for a robot at (x, y) mm facing `heading`: perfect, or with
    `noise` (a numpy Generator) of 3 degrees on bearing and off-axis and 30 mm on distance;
    not seen beyond `fov_rad` either side of the heading."""
    bearing = _wrap(math.atan2(-y, -x) - heading)
    if abs(bearing) > fov_rad:
        return (-5.0, 0.0, 0.0, 0.0, -3.0)
    offset, along = y, x                            # the axis is +x: its left is +y
    aligned = abs(offset) <= ALIGNED_OFFSET_MM and abs(_wrap(heading - math.pi)) <= ALIGNED_HEADING_RAD
    e = np.zeros(3) if noise is None else noise.normal(0.0, [math.radians(3), 0.03, math.radians(3)])
    return (5.0, bearing + e[0], math.hypot(x, y) / 1000.0 + e[1], math.atan2(offset, along) + e[2],
            3.0 if aligned else -3.0)


def _drive(contract: dict, x: float, y: float, heading: float, seconds: float = 40.0,
           posed: bool = False, awake_hold_s: float | None = None, **camera):
    """Run the loop; the reasons the arbiter gave, in order, and the final pose. posed: the
    arbiter is given the robot's pose (odometry) each cycle; awake_hold_s: the expert is
    awake only this long after its last sighting (as the activator wakes it), else always.
    Nobody else speaks: the idle search turns the robot to look."""
    arb = arbiter(experts(dock=dict(drive=contract)), idle="search")
    reasons = []
    dt = 1 / 30
    seen_s = -1e9
    for k in range(int(seconds / dt)):
        t = k * dt
        row = _row(x, y, heading, **camera)
        seen_s = t if row[0] > 0 else seen_s
        awake = {"dock"} if awake_hold_s is None or t - seen_s <= awake_hold_s else set()
        d = arb.decide(t, {"dock": result(*row, t_s=t, frame_id=k)}, awake,
                       pose=facing(heading, x, y) if posed else None)
        reasons.append(d.reason)
        v, w = (d.left_mm_s + d.right_mm_s) / 2, (d.right_mm_s - d.left_mm_s) / WHEELBASE_MM
        x, y, heading = x + v * math.cos(heading) * dt, y + v * math.sin(heading) * dt, heading + w * dt
        if d.reason == "arrived":
            break
    return reasons, (x, y, heading)


def _docked(x: float, y: float, heading: float) -> bool:
    return (abs(y) <= ALIGNED_OFFSET_MM and abs(_wrap(heading - math.pi)) <= ALIGNED_HEADING_RAD
            and abs(math.hypot(x, y) - DOCK_STOP_MM) <= 60)


@pytest.mark.parametrize("x, y, heading", [
    (1500.0, 500.0, math.pi),            # off to the side, facing along the axis
    (1200.0, -600.0, math.pi - 0.6),     # the other side, turned toward the marker
    (900.0, 250.0, math.pi + 0.3),       # near, and facing the marker from off the axis
    (2000.0, 0.0, math.pi + 0.2)])       # on the axis, askew
def test_in_along_the_axis_the_robot_docks_where_straight_at_the_marker_it_does_not(x, y, heading):
    reasons, pose = _drive(AXIS, x, y, heading)
    assert reasons[-1] == "arrived" and _docked(*pose), pose
    if abs(y) > 200:                     # straight at the marker it comes in on its own line
        reasons, pose = _drive(NO_AXIS, x, y, heading)
        assert not (reasons[-1] == "arrived" and _docked(*pose)), pose


STARTS = [(r * math.cos(a), r * math.sin(a), math.pi + a + h)
          for r in (900.0, 1400.0, 2200.0) for a in (-0.9, -0.5, 0.3, 1.0) for h in (-0.2, 0.2)]


@pytest.mark.parametrize("posed", [False, True])
def test_from_far_off_the_axis_the_marker_stays_in_view_and_it_docks(posed):
    """A camera that sees 0.55 rad either side, an expert awake only 0.5 s past its last
    sighting (as the activator wakes it), noisy readings: from up to 57 degrees off the axis
    the robot docks, keeping the marker in view on the way (turning straight onto the axis
    turned it out of view, and the dock went to sleep)."""
    for i, start in enumerate(STARTS):
        reasons, pose = _drive(AXIS, *start, posed=posed, fov_rad=0.55, awake_hold_s=0.5,
                               noise=np.random.default_rng(i), seconds=90.0)
        assert reasons[-1] == "arrived" and _docked(*pose), (start, pose)
        assert reasons.count("idle") < 0.05 * len(reasons), start


def test_arrived_off_the_axis_it_backs_out_and_comes_in_again_square():
    x, y, heading = 390.0, 60.0, math.pi - math.atan2(60.0, 390.0)   # at the marker, askew
    reasons, pose = _drive(AXIS, x, y, heading)
    first = reasons.index(BACKING)              # it turns to face along the axis and judges
    assert first >= SQUARE_FRAMES - 1 and set(reasons[:first]) == {"align"}
    backed = reasons.index("seek")
    assert set(reasons[first:backed]) == {BACKING} and backed - first > 30   # out, not a flicker
    assert reasons[-1] == "arrived" and _docked(*pose), pose


def test_backing_out_reverses_and_is_not_a_safety_stop_and_one_noisy_frame_is_not_enough():
    arb = arbiter(experts(dock=dict(drive=AXIS)))
    square, askew = _row(395.0, 0.0, math.pi), _row(390.0, 80.0, math.pi)

    def at(k, row):
        return arb.decide(k / 30, {"dock": result(*row, t_s=k / 30, frame_id=k)}, {"dock"})

    rows = [square] * (SQUARE_FRAMES - 1) + [askew]
    assert [at(k, row).reason for k, row in enumerate(rows)] == ["align"] * SQUARE_FRAMES
    rows = [askew] * SQUARE_FRAMES
    d = [at(k, row) for k, row in enumerate(rows, start=SQUARE_FRAMES)][-1]
    assert d.reason == BACKING and not d.safety_stop
    # At (390, 80) facing the marker, the axis lies to its right: reversing toward it swings
    # the rear that way (the left wheel backs slower), not straight back along its own line.
    assert d.right_mm_s < d.left_mm_s < 0


def test_a_frame_acted_on_by_several_control_cycles_counts_once_in_squaring_up():
    """Control runs faster than frames come: SQUARE_FRAMES cycles on fewer frames do not
    judge it square, SQUARE_FRAMES frames do."""
    arb = arbiter(experts(dock=dict(drive=AXIS)))
    square = _row(395.0, 0.0, math.pi)
    reasons = [arb.decide(k / 60, {"dock": result(*square, t_s=k / 60, frame_id=k // 2)},
                          {"dock"}).reason for k in range(2 * SQUARE_FRAMES)]
    assert reasons[:2 * SQUARE_FRAMES - 2] == ["align"] * (2 * SQUARE_FRAMES - 2)
    assert reasons[-1] == "arrived"


def test_the_remembered_target_is_where_the_nearest_looks_put_it_not_the_looks_read_nearest():
    """Looks from where the robot stood nearest decide; one that read too near does not pull
    the remembered target toward the robot (it held a robot 75 mm short of the dock)."""
    memory = AxisMemory()
    far, near = Pose(-1500.0, 0.0, 0.0), Pose(-475.0, 0.0, 0.0)
    for k in range(10):                     # from afar: the axis read 15 degrees off
        memory.seen(k / 30, far, k, 0.0, 1500.0, math.radians(15))
    for k in range(10, 20):                 # from near: square, every 4th look reads 150 short
        memory.seen(k / 30, near, k, 0.0, 325.0 if k % 4 == 0 else 475.0, 0.0)
    seen = memory.toward(20 / 30, near)
    assert seen.distance_mm == pytest.approx(475.0, abs=1.0)
    assert abs(seen.off_axis_rad) < math.radians(1) and seen.frame_id == 19
    memory.seen(21 / 30, near, 19, 0.0, 300.0, 0.0)        # the same frame again: no new look
    assert memory.toward(21 / 30, near).distance_mm == pytest.approx(475.0, abs=1.0)


@pytest.mark.parametrize("bearing, off_axis", [(0.0, 0.0), (0.3, 0.3), (-0.2, 0.4), (0.5, -0.1)])
def test_the_aim_point_lies_on_the_axis_lead_nearer_the_target(bearing, off_axis):
    """Put the target at the origin facing +x: the aim point, seen from the robot at its
    bearing, lies on the x axis at `along - lead` (never nearer than the floor given)."""
    distance = 1000.0
    along, aim = axis_aim(bearing, distance, off_axis, 250.0, 400.0)
    assert along == pytest.approx(distance * math.cos(off_axis))
    # The robot in the target's frame: at angle off_axis from +x, facing the target at `bearing`.
    rx, ry = distance * math.cos(off_axis), distance * math.sin(off_axis)
    heading = math.atan2(-ry, -rx) - bearing
    want = (max(400.0, along - 250.0), 0.0)
    assert _wrap(math.atan2(want[1] - ry, want[0] - rx) - heading) == pytest.approx(aim, abs=1e-9)


def test_a_pose_that_is_not_a_finite_number_is_not_remembered_and_not_a_crash():
    """A pose with NaN or infinity in it is no pose (unknown this cycle: the seek steers by
    the row alone), not an exception in the control loop, and it is not remembered."""
    arb = arbiter(experts(dock=dict(drive=AXIS)))
    row = (5.0, 0.1, 0.9, 0.1, -3.0)
    for k, bad in enumerate([math.nan, math.inf, -math.inf] * 2):
        arb.decide(k / 30, {"dock": result(*row, t_s=k / 30, frame_id=2 * k)}, {"dock"},
                   pose=Pose(0.0, 0.0, 0.0))
        d = arb.decide(k / 30 + 0.01, {"dock": result(*row, t_s=k / 30, frame_id=2 * k + 1)},
                       {"dock"}, pose=Pose(bad, 0.0, bad))
        assert d.reason == "seek" and math.isfinite(d.left_mm_s + d.right_mm_s)
    memory = AxisMemory()
    memory.seen(0.0, Pose(math.nan, 0.0, 0.0), 1, 0.0, 500.0, 0.0)
    memory.seen(0.0, Pose(0.0, 0.0, 0.0), 2, 0.0, math.inf, 0.0)
    assert memory.toward(0.0, Pose(0.0, 0.0, 0.0)) is None
