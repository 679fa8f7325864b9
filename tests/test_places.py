"""Places (runtime/arbiter/places.py): what the range sensor read, kept by place, and the way
round what it read blocked. A made-up room: the range a robot at (x, y) facing h reads is how
far its centre could go straight on before entering a box's grown footprint."""
import math

import pytest

from spikebox.firmware_bridge.protocol import RANGE_NONE
from spikebox.runtime.arbiter.odometry import Pose
from spikebox.runtime.arbiter.places import MEMORY_S, REACH_MM, Places

# A box across the way east, grown by the robot's reach: its centre may not enter it.
BOX = (500.0, 800.0, -400.0, 400.0)        # x0, x1, y0, y1 (mm)


def _inside(x, y, boxes=(BOX,)):
    return any(x0 <= x <= x1 and y0 <= y <= y1 for x0, x1, y0, y1 in boxes)


def _range(x, y, h, boxes=(BOX,)):
    """What the range sensor reads at (x, y) facing h: RANGE_NONE beyond its reach."""
    for d in range(0, int(REACH_MM) + 10, 10):
        if _inside(x + d * math.cos(h), y + d * math.sin(h), boxes):
            return float(d)
    return float(RANGE_NONE)


def _look_round(places, t, x=0.0, y=0.0, boxes=(BOX,)):
    for k in range(72):
        h = math.radians(5 * k)
        places.see(t + k * 0.02, Pose(x, y, h), _range(x, y, h, boxes))
    return t + 72 * 0.02


def test_a_box_read_on_the_straight_way_is_remembered_there_and_not_beside_it():
    places = Places()
    t = _look_round(places, 0.0)
    here = Pose(0.0, 0.0, 0.0)
    assert places.blocked_on(t, here, (1500.0, 0.0), short_mm=200.0)          # through it
    assert not places.blocked_on(t, here, (0.0, 1500.0), short_mm=200.0)      # north: clear
    assert not places.blocked_on(t, here, (-1500.0, 0.0), short_mm=200.0)     # behind: clear
    # Its last short_mm is not asked about: a box at a door is the door's own (its posts).
    assert not places.blocked_on(t, here, (700.0, 0.0), short_mm=300.0)


def test_the_route_goes_round_the_box_and_a_robot_following_it_gets_there_without_entering():
    places = Places()
    t = _look_round(places, 0.0)
    goal = (1500.0, 0.0)
    x, y, h = 0.0, 0.0, 0.0
    for _ in range(2000):                         # 20 mm a step at 80 mm/s, reading as it goes
        places.see(t, Pose(x, y, h), _range(x, y, h))
        heading = places.route(t, Pose(x, y, h), goal)
        assert heading is not None
        h = heading
        x, y = x + 20.0 * math.cos(h), y + 20.0 * math.sin(h)
        assert not _inside(x, y), (x, y)          # never into the box
        t += 0.25
        if math.dist((x, y), goal) < 60.0:
            break
    assert math.dist((x, y), goal) < 60.0
    # The first heading went round an end of the box, not at it.
    first = Places()
    t = _look_round(first, 0.0)
    heading = first.route(t, Pose(0.0, 0.0, 0.0), goal)
    reach = 600.0                                 # along that heading, 0.6 m on, it is clear
    assert not _inside(reach * math.cos(heading), reach * math.sin(heading))
    assert abs(heading) > math.atan2(400.0, 500.0) - 0.05


def test_what_was_read_is_forgotten_after_memory_s_and_the_latest_word_on_a_place_wins():
    places = Places()
    t = _look_round(places, 0.0)
    here = Pose(0.0, 0.0, 0.0)
    assert places.blocked_on(t, here, (1500.0, 0.0), 200.0)
    assert not places.blocked_on(t + MEMORY_S + 2.0, here, (1500.0, 0.0), 200.0)
    # The box taken away: read clear all round again, it is no longer in the way.
    t = _look_round(places, t + 1.0, boxes=())
    assert not places.blocked_on(t, here, (1500.0, 0.0), 200.0)


def test_nothing_is_learnt_without_a_pose_or_a_range_and_nothing_in_range_blocks_nothing():
    places = Places()
    places.see(0.0, None, 300.0)
    places.see(0.0, Pose(0.0, 0.0, 0.0), None)
    for k in range(72):
        places.see(k * 0.02, Pose(0.0, 0.0, math.radians(5 * k)), float(RANGE_NONE))
    assert not places.blocked_on(2.0, Pose(0.0, 0.0, 0.0), (1500.0, 0.0), 0.0)
    heading = places.route(2.0, Pose(0.0, 0.0, 0.0), (1500.0, 0.0))
    assert heading == pytest.approx(0.0, abs=0.05)                    # clear: straight at it


def test_a_goal_walled_round_as_far_as_read_has_no_route():
    # Four walls read from the goal's own place: a closed ring round it.
    ring = ((600.0, 800.0, -800.0, 800.0), (-800.0, -600.0, -800.0, 800.0),
            (-800.0, 800.0, 600.0, 800.0), (-800.0, 800.0, -800.0, -600.0))
    places = Places()
    t = 0.0
    for k in range(720):                              # a fine look round from the goal
        h = math.radians(0.5 * k)
        places.see(t, Pose(0.0, 0.0, h), _range(0.0, 0.0, h, ring))
        t += 0.001
    assert places.route(t, Pose(2500.0, 0.0, math.pi), (0.0, 0.0)) is None


def test_a_pose_or_goal_that_is_not_finite_is_ignored_not_a_crash():
    places = Places()
    t = _look_round(places, 0.0)
    nan = float("nan")
    places.see(t, Pose(nan, 0.0, 0.0), 300.0)
    places.see(t, Pose(0.0, 0.0, float("inf")), 300.0)
    assert places.route(t, Pose(nan, 0.0, 0.0), (1500.0, 0.0)) is None
    assert places.route(t, Pose(0.0, 0.0, 0.0), (nan, 0.0)) is None
    assert not places.blocked_on(t, Pose(0.0, 0.0, 0.0), (nan, 0.0), 200.0)
    assert places.blocked_on(t, Pose(0.0, 0.0, 0.0), (1500.0, 0.0), 200.0)   # still known


def test_where_the_robot_stood_is_kept_by_place_for_memory_s():
    places = Places()
    for k in range(20):                       # 1 m east, 50 mm a step
        places.see(k * 0.1, Pose(k * 50.0, 0.0, 0.0), 300.0)
    stood = places.stood(2.0)
    assert len(stood) == 20 and stood[:, 0].min() < 50.0 < 950.0 < stood[:, 0].max()
    assert abs(stood[:, 1]).max() <= 50.0
    places.see(2.0, None, 300.0)              # no pose: nowhere stood
    assert len(places.stood(2.0)) == 20
    assert len(places.stood(1.0 + MEMORY_S)) == 10       # the first ten forgotten
    assert places.stood(2.0 + MEMORY_S).shape == (0, 2)
