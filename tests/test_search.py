"""idle = "search" (runtime/arbiter/search.py): look round, go where there is most room, look
again; a robot turned by its own wheels in a made-up room whose range reading depends on the
heading."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from arbiterkit import arbiter, demo_experts, experts, facing, result
from spikebox.runtime.arbiter.search import (EXPLORE_MM, FACE, GO, GO_MAX_S, GO_UNTIL_MM, LOOK,
                                             RESUME_S, ROUTE, Search)

DT = 0.02


def _room(heading: float) -> float:
    """A corridor of 1,800 mm toward 2.0 rad (+-0.4 rad), a slit of 2,000 mm at -1.0 rad
    (+-0.05 rad), walls at 300 mm elsewhere."""
    off = lambda h0: abs((heading - h0 + math.pi) % (2 * math.pi) - math.pi)
    if off(2.0) < 0.4:
        return 1800.0
    if off(-1.0) < 0.05:
        return 2000.0
    return 300.0


def _drive(arb, seconds, start_heading=0.3, t0=0.0, heading=None, room=_room):
    """Run the arbiter's idle search on a robot whose heading its wheels turn; the phases seen
    and where it ended."""
    h = start_heading if heading is None else heading
    wheelbase = arb.config.wheelbase_mm
    moved = 0.0
    phases = []
    t = t0
    while t < t0 + seconds:
        rng = room(h) - (moved if arb._search.phase == GO else 0.0)
        d = arb.decide(t, {}, set(), pose=facing(h), range_mm=rng)
        h += (d.right_mm_s - d.left_mm_s) / wheelbase * DT
        if d.left_mm_s == d.right_mm_s:
            moved += d.left_mm_s * DT
        phases.append((arb._search.phase, h))
        t += DT
    return h, moved, phases


def test_it_looks_round_once_then_drives_into_the_widest_opening_not_the_slit():
    arb = arbiter(demo_experts(), idle="search")
    _, moved, seen = _drive(arb, 30.0)
    phases = [p for p, _ in seen]
    assert phases[0] == LOOK and FACE in phases and GO in phases
    first_go = phases.index(GO)
    turned = abs(seen[phases.index(FACE)][1] - seen[0][1])
    assert turned >= 2 * math.pi                          # a whole turn looked at first
    assert moved > 300.0                                  # then it drove ...
    # ... toward the corridor (2.0 rad), whose window reads 1,800 mm, not the 2,000 mm slit
    going = seen[first_go][1]
    assert abs((going - 2.0 + math.pi) % (2 * math.pi) - math.pi) < 0.45
    assert LOOK in phases[first_go:]                      # and then looked round again
    first_leg = phases[first_go:].index(LOOK) * DT * arb.config.idle_speed_mm_s
    # Nothing was stood on but where it is: a go toward new places, less the stop, capped
    go_mm = min(EXPLORE_MM, 1800.0 - GO_UNTIL_MM, GO_MAX_S * arb.config.idle_speed_mm_s)
    assert first_leg == pytest.approx(go_mm, abs=20)


def test_without_a_heading_or_a_range_it_turns_in_place_as_before():
    arb = arbiter(demo_experts(), idle="search")
    for t, (h, r) in enumerate([(None, 500.0), (0.1, None), (None, None)]):
        d = arb.decide(t * DT, {}, set(), pose=facing(h), range_mm=r)
        assert d.left_mm_s == pytest.approx(-d.right_mm_s) and d.right_mm_s > 0


def test_taken_over_by_an_expert_for_a_while_it_looks_round_again_from_where_it_is():
    arb = arbiter(demo_experts(), idle="search")
    _drive(arb, 12.0)
    assert arb._search.phase in (FACE, GO, LOOK)
    s: Search = arb._search
    s.phase = GO                                          # mid-way somewhere
    arb.decide(12.0 + RESUME_S + 0.5, {}, set(), pose=facing(0.0), range_mm=1500.0)
    assert s.phase == LOOK


def _two_ways(heading: float) -> float:
    """Two corridors: 1,800 mm toward 2.0 rad and 1,500 mm toward -1.0 rad (+-0.4 rad each),
    walls at 300 mm elsewhere."""
    off = lambda h0: abs((heading - h0 + math.pi) % (2 * math.pi) - math.pi)
    return 1800.0 if off(2.0) < 0.4 else 1500.0 if off(-1.0) < 0.4 else 300.0


def _readings(room) -> list[tuple[float, float]]:
    return [(h, room(h)) for h in (k * 2 * math.pi / 180 for k in range(180))]


def test_the_most_room_is_not_chosen_back_the_way_the_robot_came_while_another_way_has_room():
    from spikebox.runtime.arbiter.search import GO_ROOM_MM, most_room
    seen = _readings(_two_ways)
    assert most_room(seen)[0] == pytest.approx(2.0, abs=0.45)
    back = [(2.1, math.radians(60))]                     # the door it came by: toward 2.1 rad
    heading, room = most_room(seen, back, GO_ROOM_MM)
    assert abs(math.remainder(heading + 1.0, 2 * math.pi)) < 0.45 and room == 1500.0
    # a dead end: the only way with room is back, and back it goes
    dead_end = _readings(lambda h: 1800.0 if abs(math.remainder(h - 2.0, 2 * math.pi)) < 0.4
                         else 300.0)
    assert most_room(dead_end, back, GO_ROOM_MM)[0] == pytest.approx(2.0, abs=0.45)


def _room_by_every_pair(seen):
    """most_room's room per reading, as its definition reads: the least reading within
    ROOM_WINDOW_RAD, comparing every pair."""
    from spikebox.runtime.arbiter.kinematics import wrap_angle
    from spikebox.runtime.arbiter.search import ROOM_WINDOW_RAD
    h, r = np.asarray(seen, dtype=float).T
    near = np.abs(wrap_angle(h[:, None] - h[None, :])) <= ROOM_WINDOW_RAD
    return np.where(near, r[None, :], np.inf).min(axis=1)


# Headings on a 0.7 degree grid (over several turns, as odometry counts them): repeats and
# ties, but no pair exactly 15 degrees apart, where rounding may fall either way.
_READINGS = st.lists(st.tuples(st.integers(-2000, 2000).map(lambda k: math.radians(0.7 * k)),
                               st.one_of(st.integers(0, 6).map(lambda k: 300.0 * k),
                                         st.floats(0.0, 5000.0))),
                     min_size=1, max_size=300)


@given(_READINGS, st.lists(st.tuples(st.floats(-7.0, 7.0), st.floats(0.0, 1.5)), max_size=2),
       st.floats(0.0, 2000.0))
def test_the_most_room_is_each_headings_least_reading_within_its_window(seen, back, enough_mm):
    from spikebox.runtime.arbiter.search import _window_min, ROOM_WINDOW_RAD, most_room
    h, r = np.asarray(seen, dtype=float).T
    expected = _room_by_every_pair(seen)
    assert np.array_equal(_window_min(h, r, ROOM_WINDOW_RAD), expected)
    way_back = np.zeros(len(h), dtype=bool)
    for heading, half_rad in back:
        way_back |= np.abs(np.remainder(h - heading + np.pi, 2 * np.pi) - np.pi) <= half_rad
    if way_back.any() and np.any(expected[~way_back] >= enough_mm):
        expected = np.where(way_back, -np.inf, expected)
    best = int(np.argmax(expected))
    assert most_room(seen, back, enough_mm) == (h[best], expected[best])


def test_a_long_look_is_weighed_without_comparing_every_pair_of_readings():
    """The stuck guard weighs 15 s of control cycles and more (~1,500 readings); comparing
    every pair held the control loop for up to 330 ms, past the MCU's 200 ms watchdog. The
    memory it takes shows which: every pair of 10,000 readings would be 0.8 GB."""
    import tracemalloc
    from spikebox.runtime.arbiter.search import most_room
    n = 10_000
    h = np.linspace(0.0, 8 * math.pi, n)
    seen = np.column_stack((h, 1000.0 + 500.0 * np.sin(3 * h)))
    tracemalloc.start()
    try:
        heading, room = most_room(seen)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200 * n * 8                   # a few arrays per level, not n * n
    coarse = _room_by_every_pair(seen[::25])       # a coarser look agrees
    assert abs(math.remainder(heading - seen[::25][int(np.argmax(coarse)), 0],
                              2 * math.pi / 3)) < 0.05      # the openings repeat every third turn
    assert room == pytest.approx(coarse.max(), abs=20.0)


def test_the_search_heads_where_the_way_on_was_last_seen_if_there_is_room_that_way():
    """Seen in the trials: in the obstacle field the way-on finder saw the exit, then lost it
    behind an obstacle; the search drove where it read the most room, away from the exit,
    and the robot wandered the field for a minute or more. Room enough that way (within 90
    deg of where the way on was seen, nearest it first), it goes that way; else as before."""
    from test_arbiter import EXIT
    from spikebox.runtime.arbiter.ways import WAY_ON_S
    from spikebox.runtime.arbiter.search import GO_ROOM_MM, most_room
    seen = _readings(_two_ways)                       # 1,800 mm at 2.0 rad, 1,500 at -1.0
    off = lambda heading, want: abs(math.remainder(heading - want, 2 * math.pi))
    # the corridor's nearest heading whose window (15 deg either side) is all corridor
    assert off(most_room(seen, (), GO_ROOM_MM, toward=-0.3)[0], -1.0 + 0.4 - 0.26) < 0.05
    assert off(most_room(seen, (), GO_ROOM_MM, toward=0.5)[0], 2.0) < 0.45   # nearer
    assert off(most_room(seen, (), 1600.0, toward=-0.3)[0], 2.0) < 0.45      # too little
    exit_find = dict(drive={"seek": {**EXIT["seek"], "no_return_deg": 60}})
    for sighted, toward in ((True, -1.0), (False, 2.0)):
        arb = arbiter(experts(exit_find=exit_find), idle="search")
        if sighted:                                   # 2.5 m off at -0.9 rad: beyond a coast
            arb.decide(0.0, {"exit_find": result(3.0, 0.0, 2.5, t_s=0.0)}, {"exit_find"},
                       pose=facing(-0.9))
            assert arb.way_on(1.0) == pytest.approx(-0.9)
            assert arb.way_on(WAY_ON_S + 0.1) is None
        _, moved, phases = _drive(arb, 30.0, t0=0.1, room=_two_ways)
        # With the way on seen, the walls read round it block the straight way there: the
        # robot drives the route round them (ways.py) instead of looking round first.
        going = next(h for p, h in phases if p in (GO, ROUTE))
        assert moved > 0 and off(going, toward) < 0.45
        assert any(p == ROUTE for p, _ in phases) == sighted


def test_the_idle_search_does_not_drive_back_through_a_door_the_way_on_finder_passed():
    """The way-on finder coasted through a door 0.6 m ahead, from 1 m back along 2.0 rad + pi;
    looking round past the door, the search reads the most room back that way, and drives
    the other way instead."""
    from test_arbiter import EXIT
    from arbiterkit import experts, result
    arb = arbiter(experts(exit_find=dict(drive={"seek": {**EXIT["seek"], "no_return_deg": 60}})),
                  idle="search")
    came_from = facing(2.0, 1000.0 * math.cos(2.0 + math.pi), 1000.0 * math.sin(2.0 + math.pi))
    arb.decide(0.0, {"exit_find": result(3.0, 0.0, 0.6, t_s=0.0)}, {"exit_find"}, pose=came_from)
    d = arb.decide(0.1, {"exit_find": result(-3.0, 0.0, 0.0, t_s=0.1)}, {"exit_find"},
                   pose=came_from)
    assert d.reason == "coast"                            # lost at 0.6 m
    for k in range(1, 11):                                # through it, to the origin
        back = 1000.0 - 100.0 * k
        arb.decide(0.1 + 0.1 * k, {"exit_find": result(-3.0, 0.0, 0.0, t_s=0.1 + 0.1 * k)},
                   {"exit_find"}, pose=facing(2.0, back * math.cos(2.0 + math.pi),
                                              back * math.sin(2.0 + math.pi)))
    assert arb.counts.seeks["exit_find"]["gone_by"] == 1  # passed
    (way, half), = arb.ways_back(facing(0.3))             # from the origin, past the door
    assert way == pytest.approx(2.0 - math.pi, abs=1e-6) and half == pytest.approx(math.radians(60))
    assert arb.ways_back(None) == ()
    assert arb.ways_back(came_from) == ()                 # standing where it was: not known
    # the room: most toward 2.0 + pi (the way back), less toward 2.0 - pi/2 ...
    back_room = lambda h: _two_ways(h - math.pi)          # 1,800 mm back, 1,500 mm at 2.14 rad
    _, moved, seen = _drive(arb, 30.0, t0=5.0, room=back_room)
    going = seen[[p for p, _ in seen].index(GO)][1]
    assert abs(math.remainder(going - (math.pi - 1.0), 2 * math.pi)) < 0.45 and moved > 300.0


def test_a_look_round_under_way_is_not_cut_short_by_an_avoiders_steer():
    """Seen in the trials: by a wall the avoider steered the robot away, the look turned it
    back into the wall each time the avoider let go, and the robot crawled along the wall for
    9 s with the way on behind it. A look under way turns on through the avoider's steer (a
    turn in place moves the robot into nothing), and through its escape (a safety stop: the
    next test); with any other expert bidding the choice is as ever; once the search drives
    (GO), the avoider steers as before."""
    avoid = {"steer": {"output": "cat", "steering": 0, "speed": 0.7, "clear_ahead": 1,
                       "stop_within_m": 0.2, "yield_beyond_m": 0.4}}
    ball = {"seek": {"output": "cat", "visible": 0, "bearing": 1, "distance": 2,
                     "arrive_m": 0.33, "on_arrival": "release", "rearm_s": 3.0}}
    arb = arbiter(experts(obstacle_avoid=dict(like="obstacle_avoid", drive=avoid, priority=30),
                          ball_find=dict(like="ball_find", drive=ball, priority=10)),
                  idle="search")
    awake = {"obstacle_avoid", "ball_find"}
    unseen = result(-5.0, 0.0, 1.0, t_s=0.0)
    look = arb.decide(0.0, {"obstacle_avoid": result(0.5, 1.5, t_s=0.0), "ball_find": unseen},
                      awake, pose=facing(0.0), range_mm=900)
    assert look.reason == "idle" and look.left_mm_s == -look.right_mm_s       # looking round
    near = lambda t, clear: {"obstacle_avoid": result(0.5, clear, t_s=t),
                             "ball_find": result(-5.0, 0.0, 1.0, t_s=t)}
    d = arb.decide(0.1, near(0.1, 0.3), awake, pose=facing(0.1), range_mm=900)
    assert (d.reason, d.left_mm_s, d.right_mm_s) == (look.reason, look.left_mm_s,
                                                     look.right_mm_s)   # the look goes on
    d = arb.decide(0.2, near(0.2, 0.1), awake, pose=facing(0.2), range_mm=900)
    assert (d.expert, d.reason, d.safety_stop) == (None, "idle", True)   # its escape too
    assert (d.left_mm_s, d.right_mm_s) == (look.left_mm_s, look.right_mm_s)
    seen = {"obstacle_avoid": result(0.5, 0.3, t_s=0.3), "ball_find": result(3.0, 0.2, 1.5, t_s=0.3)}
    d = arb.decide(0.3, seen, awake, pose=facing(0.3), range_mm=900)
    assert (d.expert, d.reason) == ("obstacle_avoid", "steer")    # a bid besides: as ever
    # Driving toward the room it chose (GO): the avoider steers again. The robot turned by
    # its wheels until the look is done and it drives, the avoider reading clear meanwhile.
    t, h = 5.0, 0.0
    while arb._search.phase != GO and t < 40.0:
        d = arb.decide(t, near(t, 1.5), awake, pose=facing(h), range_mm=_room(h))
        h += (d.right_mm_s - d.left_mm_s) / arb.config.wheelbase_mm * DT
        t += DT
    assert arb._search.phase == GO and not arb._search.turning(t)
    d = arb.decide(t, near(t, 0.3), awake, pose=facing(h), range_mm=_room(h))
    assert (d.expert, d.reason) == ("obstacle_avoid", "steer")


def test_an_avoiders_escape_lets_a_look_round_and_the_turn_to_the_room_chosen_go_on():
    """Seen in the trials (seeds 2002, 2009): between two obstacles the avoider's escape turned
    the robot one way at each, the look round turned on the way the last escape went, and it
    never came round; facing the room it chose past an obstacle, the turn to it and the escape
    took turns on one spot for 10-15 s. An escape forbids forward motion, not a side: a turn
    in place of the search's own goes on, a safety stop all the same; an escape with another
    expert's bid besides wins as ever."""
    avoid = {"steer": {"output": "cat", "steering": 0, "speed": 0.7, "clear_ahead": 1,
                       "stop_within_m": 0.2, "yield_beyond_m": 0.4}}
    arb = arbiter(experts(obstacle_avoid=dict(like="obstacle_avoid", drive=avoid, priority=30)),
                  idle="search")
    awake = {"obstacle_avoid"}

    def camera(h, t):
        """Near at 1.0 rad (escape to the right) and at 3.5 rad (escape to the left)."""
        off = lambda h0: abs(math.remainder(h - h0, 2 * math.pi))
        if off(1.0) < 0.3:
            return {"obstacle_avoid": result(-0.5, 0.1, t_s=t)}
        if off(3.5) < 0.3:
            return {"obstacle_avoid": result(0.5, 0.1, t_s=t)}
        return {"obstacle_avoid": result(0.0, 1.5, t_s=t)}

    h, t, turned, phases = 0.3, 0.0, 0.0, []
    while t < 60.0 and arb._search.phase != GO:
        d = arb.decide(t, camera(h, t), awake, pose=facing(h), range_mm=_room(h))
        if arb._search.phase == GO:
            break                                          # faced the room chosen: drives
        assert d.left_mm_s + d.right_mm_s == pytest.approx(0.0, abs=1e-6)   # turns in place
        step = (d.right_mm_s - d.left_mm_s) / arb.config.wheelbase_mm * DT
        h, turned, t = h + step, turned + step, t + DT
        phases.append(arb._search.phase)
    assert arb.counts.escapes_let_turn > 0                 # the escapes did come up
    assert FACE in phases and turned >= 2 * math.pi        # the look came round
    assert arb._search.phase == GO and _room(h) == 1800.0       # faces the corridor
    # An escape with another expert's bid besides: the escape, as ever.
    line = {"steer": {"output": "cat", "steering": 0, "speed": 1.0, "visible": 1}}
    both = experts(obstacle_avoid=dict(like="obstacle_avoid", drive=avoid, priority=30),
                   line_follow=dict(like="line_follow", drive=line))
    arb = arbiter(both, idle="search")
    arb.decide(0.0, {}, set(), pose=facing(0.0), range_mm=900)           # a look under way
    d = arb.decide(0.1, {**camera(1.0, 0.1), "line_follow": result(0.0, 1.0, t_s=0.1)},
                   {"obstacle_avoid", "line_follow"}, pose=facing(1.0), range_mm=900)
    assert (d.expert, d.reason, d.safety_stop) == ("obstacle_avoid", "obstacle", True)
    assert d.right_mm_s < 0 < d.left_mm_s                  # its own side: right


def test_with_no_way_on_seen_the_search_goes_where_the_robot_has_not_stood():
    """Came in from the corridor toward 2.0 rad (1,800 mm of room), with one toward -1.0 rad
    (1,500 mm): the most room is back where it has been; it goes the other way. (In the
    obstacle field the most room alone led the robot back over the same spots.)"""
    arb = arbiter(demo_experts(), idle="search")
    t = 0.0
    for k in range(60):                       # walked in from 1.2 m out along 2.0 rad
        d = 1200.0 * (1 - k / 59)
        arb.decide(t, {}, set(), pose=facing(2.0 + math.pi, d * math.cos(2.0),
                                             d * math.sin(2.0)), range_mm=_two_ways(2.0))
        t += DT
    _, _, seen = _drive(arb, 20.0, start_heading=0.3, t0=t + RESUME_S + DT, room=_two_ways)
    phases = [p for p, _ in seen]
    going = seen[phases.index(GO)][1]
    assert abs((going + 1.0 + math.pi) % (2 * math.pi) - math.pi) < 0.45
    # and a robot that has stood nowhere else goes into the most room, as before
    _, _, seen = _drive(arbiter(demo_experts(), idle="search"), 20.0, room=_two_ways)
    phases = [p for p, _ in seen]
    assert abs((seen[phases.index(GO)][1] - 2.0 + math.pi) % (2 * math.pi) - math.pi) < 0.45


def test_freshest_ends_its_go_farthest_from_where_the_robot_stood_and_keeps_off_ways_back():
    from spikebox.runtime.arbiter.search import EXPLORE_MIN_MM, freshest
    seen = _readings(_two_ways)
    stood = np.array([[600.0 * math.cos(2.0), 600.0 * math.sin(2.0)], [0.0, 0.0]])
    heading, go_mm = freshest(seen, (), (0.0, 0.0), stood)
    off = lambda a, b: abs((a - b + math.pi) % (2 * math.pi) - math.pi)
    assert off(heading, -1.0) < 0.45 and go_mm == pytest.approx(min(EXPLORE_MM, 1500 - GO_UNTIL_MM))
    # the fresh way is a way back: the other
    heading, _ = freshest(seen, ((-1.0, 0.5),), (0.0, 0.0), stood)
    assert off(heading, 2.0) < 0.45
    # nothing stood on, or no heading with EXPLORE_MIN_MM to go outside the ways back: no word
    assert freshest(seen, (), (0.0, 0.0), np.empty((0, 2))) is None
    assert freshest(seen, ((2.0, 0.5), (-1.0, 0.5)), (0.0, 0.0), stood) is None
    walls = [(h, GO_UNTIL_MM + EXPLORE_MIN_MM - 1.0) for h, _ in seen]
    assert freshest(walls, (), (0.0, 0.0), stood) is None

