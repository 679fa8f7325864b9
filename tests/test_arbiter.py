"""The arbiter (issue #12 §1): one drive setpoint a cycle, safety first, priority next, idle
when nobody speaks; a stale, missing, broken or non-finite result is a silent expert, counted,
and a safe command, never a wait or an exception. Time is a fake clock: `now` is passed in."""
from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from arbiterkit import REPO, arbiter, demo_experts, experts, facing, result
from spikebox.runtime.arbiter import ExpertResult, SteeringLimits
from spikebox.runtime.daemon import ConfigError, RunConfig
from spikebox.runtime.daemon.config import ArbiterConfig
from spikebox.runtime.arbiter.seek import SEEN_GRACE_S

LINE = {"steer": {"output": "cat", "steering": 0, "visible": 1}}   # the demo's
AVOID = {"steer": {"output": "cat", "steering": 0, "speed": 0.7, "clear_ahead": 1,
                   "stop_within_m": 0.2}}
BALL = {"seek": {"output": "cat", "visible": 0, "bearing": 1, "distance": 2, "arrive_m": 0.33,
                 "on_arrival": "release", "rearm_s": 3.0}}
DOCK = {"seek": {"output": "cat", "visible": 0, "bearing": 1, "distance": 2, "aligned": 3,
                 "arrive_m": 0.4, "on_arrival": "hold"}}
SIGNS = {"classes": {"output": "cat", "names": ["arrow_left", "arrow_right", "stop", "word_dock",
                                                "word_ball", "word_line", "none"],
                     "actions": {"stop": "stop", "arrow_left": "turn_left",
                                 "arrow_right": "turn_right"},
                     "margin": 1.0, "hold_s": 2.0, "turn_s": 1.0, "rearm_s": 3.0}}
DEMO_ROBOT = SteeringLimits()


def sign(name: str, t_s: float, lead: float = 5.0):
    names = SIGNS["classes"]["names"]
    return result(*[lead if n == name else 0.0 for n in names], t_s=t_s)


def line(steering, t_s: float, **kw):
    """A line follower's row: its steering, and a line in view."""
    return result(steering, 5.0, t_s=t_s, **kw)


def wheels(steering: float, speed: float = 1.0):
    return pytest.approx(DEMO_ROBOT.wheels(steering, 150.0, speed))


# -- steering, priority, safety ----------------------------------------------------------------

def test_a_line_follower_steers_by_the_robots_kinematics():
    arb = arbiter(experts(line_follow=dict(drive=LINE)))
    d = arb.decide(1.0, {"line_follow": line(0.5, t_s=0.95, frame_id=7)}, {"line_follow"})
    assert (d.left_mm_s, d.right_mm_s) == wheels(0.5)
    assert d.right_mm_s > d.left_mm_s                  # + turns left: the right wheel leads
    assert (d.expert, d.reason, d.safety_stop, d.frame_id) == ("line_follow", "steer", False, 7)


def test_the_higher_priority_drives_and_ties_go_to_the_first_name():
    # 0.3 m clear: near enough that the avoider speaks (it yields beyond 0.4 m)
    both = {"line_follow": line(0.5, t_s=0.0), "obstacle_avoid": result(-0.5, 0.3, t_s=0.0)}
    awake = set(both)
    d = arbiter(demo_experts()).decide(0.0, both, awake)
    assert (d.expert, d.reason) == ("obstacle_avoid", "steer")     # 30 over 0
    assert (d.left_mm_s, d.right_mm_s) == wheels(-0.5, 0.7)
    d = arbiter(demo_experts(line_follow=40)).decide(0.0, both, awake)
    assert d.expert == "line_follow"                                # priority, not the name
    twins = experts(b_line=dict(like="line_follow", drive=LINE, priority=5),
                    a_line=dict(like="line_follow", drive=LINE, priority=5))
    d = arbiter(twins).decide(0.0, {"a_line": line(0.1, t_s=0.0),
                                    "b_line": line(-0.1, t_s=0.0)}, {"a_line", "b_line"})
    assert d.expert == "a_line"


def test_an_obstacle_stop_beats_any_priority_and_never_drives_forward():
    entries = demo_experts(line_follow=99, obstacle_avoid=0)   # safety does not need priority
    arb = arbiter(entries)
    d = arb.decide(0.0, {"line_follow": line(0.0, t_s=0.0),
                         "obstacle_avoid": result(0.8, 0.15, t_s=0.0)},
                   {"line_follow", "obstacle_avoid"})
    assert (d.expert, d.reason, d.safety_stop) == ("obstacle_avoid", "obstacle", True)
    assert d.left_mm_s + d.right_mm_s == pytest.approx(0.0)    # turns in place, toward the left
    assert d.right_mm_s > 0
    d = arb.decide(0.1, {"line_follow": line(0.0, t_s=0.1),
                         "obstacle_avoid": result(0.8, 0.25, t_s=0.1)},
                   {"line_follow", "obstacle_avoid"})
    assert d.expert == "line_follow"                          # clear again: priority rules


def test_blocked_square_on_the_robot_still_turns_and_keeps_its_side_until_clear():
    """A wall square ahead gives steering ~0: turning in place at that rate froze the robot
    for good (seen in the demo). It turns at least ESCAPE_TURN, and keeps the side it chose
    while blocked, even when the expert's steering flips sign from frame to frame."""
    from spikebox.runtime.arbiter.behaviours import ESCAPE_TURN
    arb = arbiter(demo_experts())
    awake = {"obstacle_avoid"}
    spins = []
    for k, steering in enumerate((0.0, -0.05, 0.04, -0.3)):
        d = arb.decide(k * 0.1, {"obstacle_avoid": result(steering, 0.1, t_s=k * 0.1)}, awake)
        assert (d.reason, d.safety_stop) == ("obstacle", True)
        assert d.left_mm_s + d.right_mm_s == pytest.approx(0.0)     # in place, never forward
        spins.append(d.right_mm_s - d.left_mm_s)
    full = arbiter(demo_experts()).config.turn_rad_s * arbiter(demo_experts()).config.wheelbase_mm
    assert all(s >= ESCAPE_TURN * full - 1e-6 for s in spins), spins   # left, every time
    d = arb.decide(1.0, {"obstacle_avoid": result(0.0, 0.5, t_s=1.0)}, awake)
    assert d.reason == "steer"                                 # clear: the escape is over ...
    d = arb.decide(1.1, {"obstacle_avoid": result(-0.1, 0.1, t_s=1.1)}, awake)
    assert d.right_mm_s < d.left_mm_s                          # ... and the next picks anew


def test_an_avoider_that_yields_lets_a_lower_priority_drive_until_something_is_near():
    """yield_beyond_m: with the way ahead clear beyond it the avoider says nothing and the
    seeker below it drives; nearer, the avoider steers (and below stop_within_m it stops)."""
    avoid = {"steer": {**AVOID["steer"], "yield_beyond_m": 0.6}}
    entries = experts(obstacle_avoid=dict(like="obstacle_avoid", drive=avoid, priority=30),
                      exit_find=dict(like="ball_find", drive=BALL, priority=-10))
    arb = arbiter(entries)
    awake = {"obstacle_avoid", "exit_find"}
    seen = result(3.0, 0.2, 1.5, t_s=0.0)                       # a target ahead-left, 1.5 m
    d = arb.decide(0.0, {"obstacle_avoid": result(-0.5, 1.2, t_s=0.0), "exit_find": seen}, awake)
    assert (d.expert, d.reason) == ("exit_find", "seek")
    d = arb.decide(0.1, {"obstacle_avoid": result(-0.5, 0.4, t_s=0.1), "exit_find": seen}, awake)
    assert (d.expert, d.reason) == ("obstacle_avoid", "steer") and d.left_mm_s > d.right_mm_s
    d = arb.decide(0.2, {"obstacle_avoid": result(-0.5, 0.1, t_s=0.2), "exit_find": seen}, awake)
    assert (d.expert, d.reason, d.safety_stop) == ("obstacle_avoid", "obstacle", True)


def test_an_avoider_that_acts_lets_go_only_a_margin_beyond_where_it_started():
    """Seen in the demo: a clear way read around yield_beyond_m made the avoider and the idle
    search take turns every other frame; the robot stood by a wall for 25 s."""
    from spikebox.runtime.arbiter.behaviours import YIELD_HYSTERESIS_M
    avoid = {"steer": {**AVOID["steer"], "yield_beyond_m": 0.6}}
    arb = arbiter(experts(obstacle_avoid=dict(like="obstacle_avoid", drive=avoid)),
                  idle="cruise")    # (a look round under way the avoider's steer leaves be)
    who = lambda t, clear: arb.decide(t, {"obstacle_avoid": result(-0.5, clear, t_s=t)},
                                      {"obstacle_avoid"}).expert
    assert who(0.0, 0.65) is None                                 # not yet acting: yields
    assert who(0.1, 0.55) == "obstacle_avoid"                     # near: acts ...
    assert who(0.2, 0.65) == "obstacle_avoid"                     # ... and keeps on
    assert who(0.3, 0.6 + YIELD_HYSTERESIS_M - 0.01) == "obstacle_avoid"
    assert who(0.4, 0.6 + YIELD_HYSTERESIS_M + 0.01) is None     # clear by the margin
    assert who(0.5, 0.65) is None


def test_experts_without_a_contract_or_asleep_never_drive():
    entries = experts(line_follow=dict(drive=LINE), sign_read=dict(drive=None, priority=50))
    arb = arbiter(entries)
    assert arb.drivers == ["line_follow"]
    d = arb.decide(0.0, {"line_follow": line(0.2, t_s=0.0), "sign_read": sign("stop", 0.0)},
                   {"line_follow", "sign_read"})
    assert d.expert == "line_follow"
    d = arb.decide(0.0, {"line_follow": line(0.2, t_s=0.0)}, set())     # a result, asleep
    assert (d.reason, d.left_mm_s, d.right_mm_s) == ("idle", 0.0, 0.0)


# -- idle ---------------------------------------------------------------------------------------

def test_idle_stops_by_default_and_cruises_when_asked():
    entries = demo_experts()
    d = arbiter(entries).decide(0.0, {}, set())
    assert (d.left_mm_s, d.right_mm_s, d.expert, d.reason, d.safety_stop) == (0, 0, None, "idle", False)
    d = arbiter(entries, idle="cruise", idle_speed_mm_s=90).decide(0.0, {}, set())
    assert (d.left_mm_s, d.right_mm_s, d.reason) == (90.0, 90.0, "idle")
    # Awake, fresh, with nothing to say (no ball seen): idle too.
    d = arbiter(entries, idle="cruise").decide(1.0, {"ball_find": result(-3, 0, 1, t_s=1.0)},
                                               {"ball_find"})
    assert (d.reason, d.left_mm_s) == ("idle", 80.0)


def test_idle_search_turns_in_place_to_the_left_and_gives_way_to_any_bid():
    from spikebox.runtime.arbiter.search import SEARCH_TURN
    arb = arbiter(demo_experts(), idle="search")
    d = arb.decide(0.0, {}, set())
    assert (d.reason, d.safety_stop, d.expert) == ("idle", False, None)
    assert d.left_mm_s == pytest.approx(-d.right_mm_s) and d.right_mm_s > 0
    assert d.right_mm_s - d.left_mm_s == pytest.approx(
        SEARCH_TURN * arb.config.turn_rad_s * arb.config.wheelbase_mm)
    d = arb.decide(0.1, {"line_follow": line(0.0, t_s=0.1)}, {"line_follow"})
    assert d.expert == "line_follow" and d.left_mm_s == d.right_mm_s > 0
    assert arb.decide(0.2, {}, None).reason == "blind"          # blind: a stop, not a search


def test_a_search_goes_on_the_way_the_last_safety_turn_went_not_back_to_what_it_fled():
    """Seen in the demo: blocked by a ball ahead, the avoider turned right; clear, the search
    turned left, back onto the ball; blocked, right; for the rest of the run."""
    arb = arbiter(demo_experts(), idle="search")
    awake = {"obstacle_avoid"}
    d = arb.decide(0.0, {"obstacle_avoid": result(-0.4, 0.1, t_s=0.0)}, awake)
    assert (d.reason, d.safety_stop) == ("obstacle", True) and d.left_mm_s > d.right_mm_s
    d = arb.decide(0.1, {}, set())                                  # nothing ahead now: search
    assert d.reason == "idle" and d.left_mm_s > 0 > d.right_mm_s   # ... on to the right


def test_blind_the_robot_stops_even_when_idle_would_cruise():
    """No fresh frame (awake=None: the camera lost or stalled) is a stop, not an idle cruise
    on what the robot cannot see; an expert's last result does not drive it either."""
    entries = demo_experts()
    arb = arbiter(entries, idle="cruise", idle_speed_mm_s=90)
    d = arb.decide(1.0, {"line_follow": line(0.3, t_s=1.0)}, None)
    assert (d.left_mm_s, d.right_mm_s, d.expert, d.reason, d.safety_stop) == \
        (0.0, 0.0, None, "blind", True)
    assert arb.counts.reasons["blind"] == 1 and arb.counts.safety_stops == 1
    d = arb.decide(1.1, {}, set())                  # seeing again: idle cruise as before
    assert (d.reason, d.left_mm_s) == ("idle", 90.0)


# -- faults: a safe command this cycle, counted, never a wait or an exception ------------------

def test_a_stale_result_is_not_acted_on_and_is_counted():
    arb = arbiter(demo_experts(), idle="cruise", result_max_age_ms=100)
    d = arb.decide(10.0, {"line_follow": line(0.9, t_s=9.85)}, {"line_follow"})
    assert (d.left_mm_s, d.right_mm_s, d.reason, d.safety_stop) == (0.0, 0.0, "stale", True)
    assert d.silent == {"line_follow": "stale"}
    d = arb.decide(10.0, {"line_follow": line(0.9, t_s=9.95)}, {"line_follow"})
    assert d.reason == "steer"                                   # 50 ms old: fresh
    d = arb.decide(10.0, {"line_follow": line(0.9, t_s=11.0)}, {"line_follow"})
    assert d.reason == "stale"                                   # from the future: another clock
    assert dict(arb.counts.stale_results) == {"line_follow": 2}
    assert arb.counts.reasons == {"stale": 2, "steer": 1} and arb.counts.cycles == 3


def test_a_silent_expert_that_could_outrank_the_driver_stops_the_robot():
    arb = arbiter(demo_experts())
    awake = {"line_follow", "obstacle_avoid"}
    # The obstacle avoider may stop the robot: stale, line following must not carry on blind.
    d = arb.decide(5.0, {"line_follow": line(0.1, t_s=5.0),
                         "obstacle_avoid": result(0.0, 2.0, t_s=4.0)}, awake)
    assert (d.reason, d.expert, d.safety_stop, d.left_mm_s) == ("stale", None, True, 0.0)
    # The line follower is below the avoider and cannot stop: the avoider drives on.
    d = arb.decide(5.0, {"line_follow": line(0.1, t_s=4.0),
                         "obstacle_avoid": result(0.3, 0.3, t_s=5.0)}, awake)
    assert (d.expert, d.silent) == ("obstacle_avoid", {"line_follow": "stale"})
    # Missing: awake, no result yet (just paged in).
    d = arb.decide(5.0, {"line_follow": line(0.1, t_s=5.0)}, awake)
    assert (d.reason, d.silent) == ("missing", {"obstacle_avoid": "missing"})
    assert arb.counts.stale_results == {"obstacle_avoid": 1, "line_follow": 1}
    assert arb.counts.missing_results == {"obstacle_avoid": 1}


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_outputs_are_a_silent_expert_never_sent(bad):
    arb = arbiter(demo_experts(), idle="cruise")
    d = arb.decide(0.0, {"line_follow": line(bad, t_s=0.0)}, {"line_follow"})
    assert (d.left_mm_s, d.right_mm_s, d.reason) == (0.0, 0.0, "nonfinite")
    assert arb.counts.nonfinite_results == {"line_follow": 1}
    d = arb.decide(0.0, {"ball_find": result(5.0, bad, 1.0, t_s=0.0)}, {"ball_find"})
    assert math.isfinite(d.left_mm_s) and d.reason == "nonfinite"


HOSTILE = [
    ("a wider row", lambda t: result(0.1, 0.2, 0.3, 0.4, 0.5, t_s=t)),
    ("two rows", lambda t: ExpertResult({"cat": np.zeros((2, 3), np.float32)}, 1, t)),
    ("no row at all", lambda t: ExpertResult({"cat": np.zeros((1, 0), np.float32)}, 1, t)),
    ("a flat vector", lambda t: ExpertResult({"cat": np.zeros(3, np.float32)}, 1, t)),
    ("another output name", lambda t: result(1.0, 0.0, 1.0, t_s=t, output="steer")),
    ("strings", lambda t: ExpertResult({"cat": np.array([["a", "b", "c"]])}, 1, t)),
    ("objects", lambda t: ExpertResult({"cat": np.array([[None, 1, 2]], object)}, 1, t)),
    ("no outputs", lambda t: ExpertResult(None, 1, t)),
    ("a list, not arrays", lambda t: ExpertResult([1, 2, 3], 1, t)),
    ("a time that is no number", lambda t: ExpertResult({"cat": np.zeros((1, 3))}, 1, "now")),
    ("no result object", lambda t: "garbage"),
]


@pytest.mark.parametrize("what, make", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_outputs_unlike_the_manifest_are_silent_and_counted_and_nothing_escapes(what, make):
    arb = arbiter(demo_experts(), idle="cruise")
    awake = {"ball_find", "line_follow"}
    d = arb.decide(1.0, {"ball_find": make(1.0), "line_follow": line(0.2, t_s=1.0)}, awake)
    # ball_find (priority 10) might have outranked line following: a stop this cycle.
    assert (d.left_mm_s, d.right_mm_s, d.safety_stop) == (0.0, 0.0, True)
    assert d.reason in ("bad_output", "stale") and d.silent == {"ball_find": d.reason}
    assert sum(arb.counts.bad_output_results.values()) + sum(
        arb.counts.stale_results.values()) == 1
    # And the next cycle, with a good result, it is itself again.
    d = arb.decide(1.1, {"ball_find": result(3.0, 0.1, 2.0, t_s=1.1)}, awake)
    assert (d.expert, d.reason) == ("ball_find", "seek")


# -- limits ---------------------------------------------------------------------------------

def test_setpoints_are_clipped_to_the_wheel_limit_keeping_the_arc():
    arb = arbiter(experts(line_follow=dict(drive=LINE)), max_wheel_mm_s=100, cruise_mm_s=400)
    d = arb.decide(0.0, {"line_follow": line(0.3, t_s=0.0)}, {"line_follow"})
    left, right = SteeringLimits(cruise_mm_s=400).wheels(0.3, 150.0)
    assert max(abs(left), abs(right)) > 100
    assert max(abs(d.left_mm_s), abs(d.right_mm_s)) == pytest.approx(100.0)
    assert d.left_mm_s / d.right_mm_s == pytest.approx(left / right)     # same arc, slower
    d = arbiter({}, max_wheel_mm_s=100, idle="cruise", idle_speed_mm_s=250).decide(0.0, {}, set())
    assert (d.left_mm_s, d.right_mm_s) == (100.0, 100.0)
    turn = arbiter(experts(o=dict(like="obstacle_avoid", drive=AVOID)), max_wheel_mm_s=50,
                   turn_rad_s=3.0).decide(0.0, {"o": result(-1.0, 0.0, t_s=0.0)}, {"o"})
    assert (turn.left_mm_s, turn.right_mm_s) == (50.0, -50.0)           # in place, clipped


def test_a_steering_beyond_full_is_a_full_turn():
    arb = arbiter(experts(line_follow=dict(drive=LINE)))
    d = arb.decide(0.0, {"line_follow": line(-40.0, t_s=0.0)}, {"line_follow"})
    assert (d.left_mm_s, d.right_mm_s) == wheels(-1.0)


# -- memory: signs, seeking -----------------------------------------------------------------

def test_a_stop_sign_stops_for_hold_s_then_the_robot_goes_on_past_it():
    arb = arbiter(experts(line_follow=dict(drive=LINE), sign_read=dict(drive=SIGNS, priority=20)))
    awake = {"line_follow", "sign_read"}

    def at(t, seen="stop"):           # seen None: the reader asleep (paged out)
        results = {"line_follow": line(0.0, t_s=t)}
        if seen:
            results["sign_read"] = sign(seen, t)
        return arb.decide(t, results, awake if seen else {"line_follow"})

    for t in (10.0, 10.5, 11.0, 11.9):                       # 2 s, whatever it sees meanwhile
        d = at(t, "stop" if t < 11 else "none")
        assert (d.reason, d.safety_stop, d.left_mm_s, d.right_mm_s) == ("stop_sign", True, 0, 0)
    assert at(12.0).reason == "steer"            # hold over; the sign still seen: not again
    assert at(14.9).reason == "steer"
    assert at(15.0, "none").reason == "steer"    # unseen from 15.0 ...
    assert at(17.9, None).reason == "steer"      # (the reader asleep counts as unseen)
    d = at(18.0)                                 # ... for rearm_s (3 s): a new stop sign
    assert (d.reason, d.expert) == ("stop_sign", "sign_read")


def test_a_stop_runs_its_time_even_if_the_sign_reader_is_paged_out():
    arb = arbiter(experts(line_follow=dict(drive=LINE), sign_read=dict(drive=SIGNS)))
    assert arb.decide(0.0, {"sign_read": sign("stop", 0.0)}, {"sign_read"}).reason == "stop_sign"
    d = arb.decide(1.5, {"line_follow": line(0.0, t_s=1.5)}, {"line_follow"})
    assert d.reason == "stop_sign" and d.expert == "sign_read"
    assert arb.decide(2.0, {"line_follow": line(0.0, t_s=2.0)}, {"line_follow"}).reason == "steer"


def test_a_class_below_the_margin_does_nothing_and_turns_last_turn_s():
    arb = arbiter(experts(sign_read=dict(drive=SIGNS)))
    assert arb.decide(0.0, {"sign_read": sign("stop", 0.0, lead=0.9)}, {"sign_read"}).reason == "idle"
    assert arb.decide(0.1, {"sign_read": sign("word_dock", 0.1)}, {"sign_read"}).reason == "idle"
    d = arb.decide(1.0, {"sign_read": sign("arrow_left", 1.0)}, {"sign_read"})
    assert (d.reason, d.safety_stop, d.expert) == ("turn", False, "sign_read")
    assert (d.left_mm_s, d.right_mm_s) == wheels(1.0)
    assert arb.decide(1.99, {}, {"sign_read"}).reason == "turn"
    assert arb.decide(2.0, {"sign_read": sign("arrow_right", 2.0)}, {"sign_read"}).reason == "turn"
    d = arb.decide(2.0, {"sign_read": sign("arrow_right", 2.0)}, {"sign_read"})
    assert (d.left_mm_s, d.right_mm_s) == wheels(-1.0)


def test_a_released_ball_lets_others_drive_and_is_sought_again_once_unseen():
    arb = arbiter(experts(line_follow=dict(drive=LINE), ball_find=dict(drive=BALL, priority=10)))
    awake = {"line_follow", "ball_find"}

    def at(t, ball):
        return arb.decide(t, {"line_follow": line(-0.2, t_s=t), "ball_find": result(*ball, t_s=t)},
                          awake)

    d = at(0.0, (4.0, 0.3, 1.0))
    assert (d.expert, d.reason) == ("ball_find", "seek")
    assert (d.left_mm_s, d.right_mm_s) == wheels(0.5)           # 0.3 rad of a 0.6 rad full turn
    d = at(1.0, (4.0, 0.0, 0.3))                                 # arrived: let go at once
    assert (d.expert, d.reason) == ("line_follow", "steer")
    assert at(2.0, (4.0, 0.0, 0.5)).expert == "line_follow"    # still seen: not sought again
    assert at(4.9, (2.0, 0.5, 1.5)).expert == "line_follow"
    assert at(5.0, (-2.0, 0.0, 0.0)).expert == "line_follow"   # unseen from 4.9 on
    assert at(7.8, (4.0, 0.0, 1.0)).expert == "line_follow"    # seen at 7.8: 2.9 s, too soon
    assert at(8.0, (-1.0, 0.0, 0.0)).expert == "line_follow"
    assert at(10.8, (-1.0, 0.0, 0.0)).expert == "line_follow"  # 3.0 s unseen since 7.8 ...
    assert at(10.9, (4.0, 0.0, 1.0)).expert == "ball_find"     # ... so a ball is sought again


EXIT = {"seek": {"output": "cat", "visible": 0, "bearing": 1, "distance": 2, "arrive_m": 0.1,
                 "on_arrival": "release", "rearm_s": 1.0, "speed": 0.8, "coast_m": 1.0}}


def test_a_door_lost_from_sight_close_by_is_driven_to_on_the_arc_through_where_it_was_seen():
    """Seen in the demo: ~0.5 m before a door the camera loses its middle, the way-on finder
    fell silent, idle search turned the robot away, and it stood at the jamb for 25 s."""
    arb = arbiter(experts(exit_find=dict(drive=EXIT)), idle="search")
    awake = {"exit_find"}

    def at(t, row):
        return arb.decide(t, {"exit_find": result(*row, t_s=t)}, awake)

    assert (at(0.0, (3.0, -0.2, 0.7)).reason) == "seek"
    d = at(0.1, (-3.0, 0.0, 0.0))                                 # lost from sight at 0.7 m
    steering, seconds = DEMO_ROBOT.arc_through(-0.2, 700.0, 0.8)
    assert (d.expert, d.reason, d.safety_stop) == ("exit_find", "coast", False)
    assert (d.left_mm_s, d.right_mm_s) == wheels(steering, 0.8) and d.left_mm_s > d.right_mm_s
    assert at(0.1 + seconds - 0.05, (-3.0, 0.0, 0.0)).reason == "coast"   # whatever it says
    d = at(0.1 + seconds + 0.01, (-3.0, 0.0, 0.0))                  # there: arrived, let go
    assert d.reason == "idle" and d.left_mm_s > 0 > d.right_mm_s      # the search turns right,
    assert at(0.1 + seconds + 0.5, (3.0, 0.1, 0.7)).reason == "idle"  # toward it; seen again
    #                                             within rearm_s of arriving: not sought again


def test_a_coast_ends_when_the_target_is_seen_again_and_only_starts_near_and_ahead():
    arb = arbiter(experts(exit_find=dict(drive=EXIT)), idle="stop")
    awake = {"exit_find"}

    def at(t, row):
        return arb.decide(t, {"exit_find": result(*row, t_s=t)}, awake)

    at(0.0, (3.0, 0.1, 0.8))
    assert at(0.1, (-3.0, 0.0, 0.0)).reason == "coast"             # one frame's flicker ...
    d = at(0.2, (3.0, 0.3, 0.75))
    assert d.reason == "seek" and (d.left_mm_s, d.right_mm_s) == wheels(0.5, 0.8)  # ... bridged
    at(1.0, (3.0, 0.1, 1.5))                                        # lost beyond coast_m:
    assert at(1.1, (-3.0, 0.0, 0.0)).reason == "idle"              # lost is lost
    at(2.0, (3.0, 1.7, 0.5))                                        # beside the robot:
    assert at(2.1, (-3.0, 0.0, 0.0)).reason == "idle"              # no arc to it
    at(3.0, (3.0, 0.1, 0.5))
    assert arb.decide(3.1, {}, awake).reason == "missing"          # no result is no sighting:
    assert at(3.2, (-3.0, 0.0, 0.0)).reason == "idle"              # no coast after it
    at(4.0, (3.0, 0.1, 0.5))                                        # asleep: no coast
    assert arb.decide(4.1, {"exit_find": result(-3.0, 0.0, 0.0, t_s=4.1)}, set()).reason == "idle"


def test_with_a_pose_a_coast_steers_to_where_the_door_was_from_where_the_robot_is_now():
    """Seen in the demo: the way-on finder saw the door 20 deg to the right while the avoider
    was turning the robot right; by the time the door left the view the robot faced past it,
    and the arc through 'where it was seen' (a bearing from another heading) led it away."""
    arb = arbiter(experts(exit_find=dict(drive=EXIT)), idle="stop")
    awake = {"exit_find"}
    at = lambda t, row, pose: arb.decide(t, {"exit_find": result(*row, t_s=t)}, awake, pose=pose)
    assert at(0.0, (3.0, -0.35, 0.6), facing(0.6)).reason == "seek"
    d = at(0.1, (-3.0, 0.0, 0.0), facing(0.0))     # turned right meanwhile: the door is LEFT
    assert d.reason == "coast" and d.right_mm_s > d.left_mm_s
    # Steered each cycle by the pose: driven on toward the point, it keeps aiming at it ...
    door = facing(0.6).point_at(-0.35, 600.0)
    d = at(0.5, (-3.0, 0.0, 0.0), facing(-0.3, 100.0, 0.0))
    bearing, _ = facing(-0.3, 100.0, 0.0).toward(door)
    assert d.reason == "coast" and (d.left_mm_s, d.right_mm_s) == wheels(bearing / 0.6, 0.8)
    # ... and is there once within HOME_MM: arrived, let go.
    near = facing(0.0, door[0] - 100.0, door[1])
    assert at(1.0, (-3.0, 0.0, 0.0), near).reason == "idle"


def test_with_a_pose_a_coast_is_over_once_the_point_is_beside_or_behind():
    arb = arbiter(experts(exit_find=dict(drive=EXIT)), idle="stop")
    at = lambda t, row, pose: arb.decide(t, {"exit_find": result(*row, t_s=t)}, {"exit_find"},
                                         pose=pose)
    at(0.0, (3.0, 0.0, 0.8), facing(0.0))
    assert at(0.1, (-3.0, 0.0, 0.0), facing(0.0)).reason == "coast"
    assert at(0.5, (-3.0, 0.0, 0.0), facing(0.0, 0.0, 300.0)).reason == "coast"
    assert at(1.0, (-3.0, 0.0, 0.0), facing(0.0, 900.0, 300.0)).reason == "idle"   # passed


def test_a_target_the_robot_gets_no_nearer_to_is_given_up_for_a_while():
    """Seen in the demo: a phantom ball by a sign's board; the ball finder sought it, the
    range guard turned the robot away, and so on for 90 s."""
    from spikebox.runtime.arbiter.seek import GIVE_UP_S, GIVEN_UP_S
    arb = arbiter(experts(ball_find=dict(drive=BALL)), idle="stop")
    at = lambda t, row, pose: arb.decide(t, {"ball_find": result(*row, t_s=t)}, {"ball_find"},
                                         pose=pose)
    here = facing(0.0)
    t = 0.0
    while at(t, (3.0, 0.1, 1.2), here).reason == "seek":   # sought, no nearer: held off
        t += 0.1
        assert t < GIVE_UP_S + 0.3
    assert t >= GIVE_UP_S and arb.counts.seeks["ball_find"] == {"gave_up": 1}
    # Seen where it was, from elsewhere: still given up; a ball somewhere else is sought.
    there = here.point_at(0.1, 1200.0)
    side = facing(math.pi / 2, there[0], there[1] - 1000.0)
    assert at(t + 5.0, (3.0, 0.0, 1.0), side).reason == "idle"
    assert at(t + 5.1, (3.0, 0.0, 0.9), facing(math.pi)).reason == "seek"
    assert at(t + GIVEN_UP_S + 0.2, (3.0, 0.1, 1.2), here).reason == "seek"   # its time is up


def test_time_others_drive_does_not_count_toward_giving_up():
    """The way-on finder, lowest in priority, sees the door while the line follower drives:
    it has not tried, so it has not failed."""
    from spikebox.runtime.arbiter.seek import GIVE_UP_S
    arb = arbiter(experts(line_follow=dict(drive=LINE), exit_find=dict(drive=EXIT,
                                                                        priority=-10)))
    rows = lambda t: {"line_follow": line(0.1, t_s=t), "exit_find": result(3.0, 0.1, 1.5, t_s=t)}
    for k in range(int(3 * GIVE_UP_S * 10)):
        d = arb.decide(0.1 * k, rows(0.1 * k), {"line_follow", "exit_find"}, pose=facing(0.0))
        assert d.expert == "line_follow"
    assert not arb.counts.seeks
    t = 3 * GIVE_UP_S                                      # its turn: sought at once
    assert arb.decide(t, {"exit_find": result(3.0, 0.1, 1.5, t_s=t)}, {"exit_find"},
                      pose=facing(0.0)).reason == "seek"


def test_a_target_the_robot_gets_nearer_to_is_never_given_up_nor_without_a_pose():
    from spikebox.runtime.arbiter.seek import GIVE_UP_S
    arb = arbiter(experts(ball_find=dict(drive=BALL), dock=dict(drive=DOCK)), idle="stop")
    rows = lambda ball, t: {"ball_find": result(*ball, t_s=t),
                            "dock": result(3.0, 0.0, 0.3, -1.0, t_s=t)}
    t, x = 0.0, 0.0
    while t < 3 * GIVE_UP_S:               # slowly nearer: 0.5 m in GIVE_UP_S
        d = arb.decide(t, rows((3.0, 0.0, 5.0 - x / 1000.0), t), {"ball_find"}, pose=facing(0.0, x))
        assert d.reason == "seek"
        t, x = t + 0.1, x + 0.1 * 500.0 / GIVE_UP_S
    # A dock squaring up gets no nearer, by design: never given up; nor a seek without a pose.
    for k in range(int(3 * GIVE_UP_S * 10)):
        assert arb.decide(t + 0.1 * k, rows((3.0, 0.1, 1.0), t + 0.1 * k), {"dock"},
                          pose=facing(0.0)).reason == "align"
        assert arb.decide(t + 0.1 * k + 0.05, rows((3.0, 0.1, 1.0), t + 0.1 * k + 0.05),
                          {"ball_find"}).reason == "seek"
    assert not arb.counts.seeks


def test_once_through_a_door_the_way_on_finder_never_leads_back_through_it():
    """Seen in the demo: turned round in the zone it had just entered, the way-on finder took
    the door behind (posts alike from both sides) for the exit and led the robot back."""
    arb = arbiter(experts(exit_find=dict(drive={"seek": {**EXIT["seek"],
                                                          "no_return_deg": 60}})), idle="stop")
    awake = {"exit_find"}

    def at(t, row, pose):
        return arb.decide(t, {"exit_find": result(*row, t_s=t)}, awake, pose=pose)

    assert at(0.0, (3.0, 0.0, 0.5), facing(0.0, 500.0)).reason == "seek"   # the door at x=1000
    assert at(0.1, (3.0, 0.0, 0.05), facing(0.0, 950.0)).reason == "idle"  # through: arrived
    # On at x=2000 and turned round: the door it came through, 1 m ahead, is not sought, nor
    # seen 40 deg off (a bearing's error) and 1.4 m (the distance's); the side wall's door is.
    back = facing(math.pi, 2000.0)
    assert at(5.0, (3.0, 0.0, 1.0), back).reason == "idle"
    assert at(5.1, (3.0, math.radians(40), 1.4), back).reason == "idle"
    assert at(5.2, (3.0, math.radians(-70), 1.2), back).reason == "seek"
    arb.decide(5.3, {}, awake, pose=back)                           # no result: no sighting
    # Nor from elsewhere: from (1000, 1500), facing south, the door is straight ahead.
    assert at(6.0, (3.0, 0.0, 1.5), facing(-math.pi / 2, 1000.0, 1500.0)).reason == "idle"
    # Something as far off that line but 2.5 m away (behind the door): not the door.
    assert at(6.1, (3.0, 0.0, 2.5), back).reason == "seek"
    # Without a pose (no telemetry this cycle) it cannot tell: it seeks, as without the option.
    assert at(9.2, (3.0, 0.0, 1.0), None).reason == "seek"


def test_a_door_gone_by_while_another_expert_drove_is_passed_too():
    """Seen in the demo: the line follower took the robot through the door the way-on finder
    had seen ahead all along; turned round, the way-on finder took that door for the way on
    and coasted back through it. A target seen, then beside or behind the robot within
    GONE_BY_MM, is passed, whoever drove."""
    def run(gone_by: bool):
        arb = arbiter(experts(line_follow=dict(drive=LINE, priority=50),
                              exit_find=dict(drive={"seek": {**EXIT["seek"], "no_return_deg": 60}})),
                      idle="stop")
        awake = {"line_follow", "exit_find"}
        # The door at x=1000, seen ahead from x=0..700 while the line follower drives.
        for k, x in enumerate(range(0, 800, 100)):
            d = arb.decide(k * 0.1, {"line_follow": line(0.0, t_s=k * 0.1),
                                     "exit_find": result(3.0, 0.0, (1000 - x) / 1000, t_s=k * 0.1)},
                           awake, pose=facing(0.0, float(x)))
            assert d.expert == "line_follow"
        # Through it, to x = 1000 + 200 (beside and behind it), or only up to x = 900 (still
        # ahead, 100 mm short: not gone by); the way-on finder has no fresh result meanwhile
        # (a "not seen" would start a coast, which remembers the door passed on its own).
        ends = (1100.0, 1200.0) if gone_by else (850.0, 900.0)
        for k, x in enumerate(ends, start=8):
            arb.decide(k * 0.1, {"line_follow": line(0.0, t_s=k * 0.1)}, awake,
                       pose=facing(0.0, x))
        # On at x=2000, turned round, no line: the door 1 m ahead.
        t = 5.0
        return arb.decide(t, {"line_follow": result(0.0, -5.0, t_s=t),
                              "exit_find": result(3.0, 0.0, 1.0, t_s=t)},
                          awake, pose=facing(math.pi, 2000.0)), arb

    d, arb = run(gone_by=True)
    assert d.reason == "idle" and arb.counts.seeks["exit_find"]["gone_by"] == 1
    d, arb = run(gone_by=False)
    assert (d.expert, d.reason) == ("exit_find", "seek")


def test_a_door_gone_through_is_passed_though_the_next_door_was_seen_at_once():
    """Seen in the demo: through the first door, the way-on finder saw the next zone's door at
    once, never losing sight of 'a door'; one remembered sighting (the next door's) let the
    door just gone through be forgotten unpassed, and turned round, the robot was led back
    through it. Targets seen lately are told apart by place."""
    arb = arbiter(experts(exit_find=dict(drive={"seek": {**EXIT["seek"], "no_return_deg": 60}})),
                  idle="stop")
    at = lambda t, row, pose: arb.decide(t, {"exit_find": result(*row, t_s=t)}, {"exit_find"},
                                         pose=pose)
    t = 0.0
    for x in range(0, 900, 50):                       # door A at x=1000, seen ahead, never
        at(t, (3.0, 0.0, (1000 - x) / 1000), facing(0.0, float(x)))    # arrived at
        t += 0.1
    for x in range(900, 1500, 50):                    # through it: door B at x=3000 in sight
        at(t, (3.0, 0.0, (3000 - x) / 1000), facing(0.0, float(x)))
        t += 0.1
    assert arb.counts.seeks["exit_find"]["gone_by"] == 1
    # At x=2000, turned round: door A, 1 m ahead, is not the way on.
    assert at(t + 1.0, (3.0, 0.0, 1.0), facing(math.pi, 2000.0)).reason == "idle"


def test_turning_on_the_spot_beside_a_door_read_short_does_not_pass_it():
    """Seen in the demo: the way-on finder read the sign zone's exit 0.4 m away (it was 1 m);
    turning on the spot there, the robot brought that point beside it, and the exit was taken
    for passed. Gone by means the robot came as deep as the target was seen."""
    arb = arbiter(experts(exit_find=dict(drive={"seek": {**EXIT["seek"], "no_return_deg": 60}})),
                  idle="stop")
    at = lambda t, row, pose: arb.decide(t, {"exit_find": result(*row, t_s=t)}, {"exit_find"},
                                         pose=pose)
    assert at(0.0, (3.0, 0.0, 0.3), facing(0.0)).reason == "seek"       # read at (300, 0)
    for k in range(1, 40):                                             # a whole turn on the
        at(0.1 * k, (-3.0, 0.0, 0.0), facing(k * math.pi / 20))       # spot: it comes beside
    assert "gone_by" not in arb.counts.seeks.get("exit_find", {})
    assert at(5.0, (3.0, 0.0, 1.0), facing(0.0)).reason == "seek"      # the exit, sought


def test_facing_a_way_back_the_line_follower_does_not_drive():
    """Seen in the demo: turned round in the sign zone, the line follower saw the line zone's
    line through the door the robot had come by, and followed it home. A steer keeps no
    memory of the way back; facing one, its bid is not taken (counted)."""
    arb = arbiter(experts(line_follow=dict(drive=LINE),
                          exit_find=dict(drive={"seek": {**EXIT["seek"], "no_return_deg": 60}})),
                  idle="stop")
    awake = {"line_follow", "exit_find"}
    t = 0.0
    for x in range(0, 1500, 100):                     # through the door at x=1000, no line
        arb.decide(t, {"line_follow": result(0.0, -5.0, t_s=t),
                       "exit_find": result(*((3.0, 0.0, (1000 - x) / 1000) if x < 900
                                             else (-3.0, 0.0, 0.0)), t_s=t)},
                   awake, pose=facing(0.0, float(x)))
        t += 0.1
    assert arb.counts.seeks["exit_find"]["gone_by"] == 1
    line_ahead = {"line_follow": line(0.1, t_s=t), "exit_find": result(-3.0, 0.0, 0.0, t_s=t)}
    d = arb.decide(t, line_ahead, awake, pose=facing(math.pi, 1500.0))        # turned round
    assert d.reason == "idle" and arb.counts.steers_facing_back == 1
    t += 0.1
    line_ahead = {"line_follow": line(0.1, t_s=t), "exit_find": result(-3.0, 0.0, 0.0, t_s=t)}
    d = arb.decide(t, line_ahead, awake, pose=facing(math.pi / 2, 1500.0))   # across: it drives
    assert d.expert == "line_follow"


def test_a_target_back_through_a_door_passed_is_not_sought():
    """Seen in the lockstep trials: from the obstacle field, the ball finder saw the ball it
    had been to through the door the robot came by, and led it back into the ball zone. A
    seek that keeps no passes of its own is not taken for a target on the near side of a
    passed door (within 1.5 m of it along the door) while the robot is on its far side."""
    arb = arbiter(experts(ball_find=dict(drive=BALL),
                          exit_find=dict(drive={"seek": {**EXIT["seek"], "no_return_deg": 60}})),
                  idle="stop")
    awake = {"ball_find", "exit_find"}
    no_ball, t = (-3.0, 0.0, 0.0), 0.0
    for x in range(0, 1500, 100):                     # through the door at x=1000
        exit_row = (3.0, 0.0, (1000 - x) / 1000) if x < 900 else (-3.0, 0.0, 0.0)
        arb.decide(t, {"ball_find": result(*no_ball, t_s=t), "exit_find": result(*exit_row, t_s=t)},
                   awake, pose=facing(0.0, float(x)))
        t += 0.1
    assert arb.counts.seeks["exit_find"]["gone_by"] == 1

    def ball_at(t, ball, pose):
        return arb.decide(t, {"ball_find": result(*ball, t_s=t),
                              "exit_find": result(*no_ball, t_s=t)}, awake, pose=pose)

    # At x=2000, turned round: the ball 1.5 m ahead, at x=500, back through the door.
    assert ball_at(5.0, (3.0, 0.0, 1.5), facing(math.pi, 2000.0)).reason == "idle"
    assert arb.counts.targets_back_through["ball_find"] >= 1
    # A ball on this side of the door (facing north, 1 m ahead), or beyond it but 2 m along
    # the door from it (at x=500, y=2000), is sought.
    assert ball_at(10.0, (3.0, 0.0, 1.0), facing(math.pi / 2, 2000.0)).expert == "ball_find"
    assert ball_at(20.0, (3.0, 0.0, math.hypot(1000.0, 2000.0) / 1000.0),
                   facing(math.atan2(2000.0, -1000.0), 1500.0)).expert == "ball_find"


def test_a_coast_to_a_phantom_does_not_make_the_real_way_on_the_way_back():
    """Seen in the demo: after the door, the way-on finder coasted to a phantom the other way;
    remembered as 'the way back' by heading, that put the real exit behind, and the door it
    came in by ahead. Remembered by place, both doors passed stay passed."""
    arb = arbiter(experts(exit_find=dict(drive={"seek": {**EXIT["seek"],
                                                          "no_return_deg": 60}})), idle="stop")
    at = lambda t, row, pose: arb.decide(t, {"exit_find": result(*row, t_s=t)}, {"exit_find"},
                                         pose=pose)
    at(0.0, (3.0, 0.0, 0.5), facing(0.0, 500.0))
    at(0.1, (3.0, 0.0, 0.05), facing(0.0, 950.0))          # the real door, at x=1000
    at(4.0, (3.0, 0.0, 0.7), facing(-math.pi / 2, 2000.0))  # a phantom south, coasted to
    assert at(4.1, (-3.0, 0.0, 0.0), facing(-math.pi / 2, 2000.0)).reason == "coast"
    # The exit, east at x=3000, is sought; the door at x=1000 is not.
    assert at(9.0, (3.0, 0.0, 1.0), facing(0.0, 2000.0, -700.0)).reason == "seek"
    assert at(9.1 + SEEN_GRACE_S, (3.0, 0.0, 1.0), facing(math.pi, 2000.0)).reason == "idle"


def test_a_coast_through_a_door_remembers_the_way_back_even_if_another_expert_takes_over():
    """Seen in the demo: coasting through the door, the robot was taken over by the ball finder
    before the coast ended, so it never 'arrived', and 45 s later the way-on finder led it back
    through that door."""
    arb = arbiter(experts(exit_find=dict(drive={"seek": {**EXIT["seek"], "no_return_deg": 60}}),
                          ball_find=dict(drive=BALL)), idle="stop")
    at = lambda t, rows, pose: arb.decide(t, {n: result(*r, t_s=t) for n, r in rows.items()},
                                          set(rows), pose=pose)
    no_ball = (-3.0, 0.0, 0.0)
    assert at(0.0, {"exit_find": (3.0, 0.0, 0.6), "ball_find": no_ball},
              facing(0.0, 400.0)).reason == "seek"
    d = at(0.1, {"exit_find": (-3.0, 0.0, 0.0), "ball_find": no_ball}, facing(0.0, 400.0))
    assert d.reason == "coast"                                    # lost at 0.6 m
    for k in range(50):                                           # taken over mid-coast (the
        d = at(0.3 + 0.1 * k, {"exit_find": (-3.0, 0.0, 0.0),     # coast runs out meanwhile),
                               "ball_find": (3.0, 0.5, 1.0)},     # it drives on through the
               facing(0.01 * k, 600.0 + 20.0 * k))                # door (x=1000) to x=1580
        assert d.expert == "ball_find"
    # At x=1800, turned round, the door it came through (x=1000) reads as the way on: not
    # sought; a door to the side is.
    assert at(30.0, {"exit_find": (3.0, 0.0, 0.8), "ball_find": no_ball},
              facing(math.pi, 1800.0)).reason == "idle"
    assert at(30.1, {"exit_find": (3.0, 0.0, 0.8), "ball_find": no_ball},
              facing(math.pi / 2, 1800.0)).reason == "seek"


def test_a_coast_cut_short_before_the_target_does_not_make_it_passed():
    """Seen in the demo: the way-on finder took a sign board for a door and coasted toward it;
    the range guard stopped the robot 0.2 m from the board, short of the 'door'. Taken for
    passed when the coast began, it hid the real exit, seen beyond it, for 20 s as 'the way
    back'. Not gone by, it is not passed."""
    arb = arbiter(experts(exit_find=dict(drive={"seek": {**EXIT["seek"], "no_return_deg": 60}})),
                  idle="stop")
    at = lambda t, row, pose: arb.decide(t, {"exit_find": result(*row, t_s=t)}, {"exit_find"},
                                         pose=pose)
    assert at(0.0, (3.0, 0.0, 0.7), facing(0.0)).reason == "seek"    # a phantom at x=700
    assert at(0.1, (-3.0, 0.0, 0.0), facing(0.0)).reason == "coast"
    for k in range(40):                                               # held at x=200 (the
        at(0.2 + 0.1 * k, (-3.0, 0.0, 0.0), facing(0.0, 200.0))       # coast runs out)
    # The real exit, seen 1.1 m ahead (as far along as the phantom was, and beyond it): sought.
    assert at(10.0, (3.0, 0.1, 1.1), facing(0.0, 200.0)).reason == "seek"
    assert "gone_by" not in arb.counts.seeks.get("exit_find", {})


def test_a_door_read_short_and_passed_does_not_hide_the_way_on_straight_ahead():
    """Seen in the trials: in the obstacle field the way-on finder read the exit at half its
    distance, so the robot 'passed' it halfway there; the real exit, seen straight on ahead
    a moment later, lay within 60 deg of that point and about as far, and was ignored as the
    way back until the search led the robot out of the field. Looked at along the way a
    target was passed in, a target is not that one, however far it reads; turned round, the
    one passed still is."""
    arb = arbiter(experts(exit_find=dict(drive={"seek": {**EXIT["seek"], "no_return_deg": 60}})),
                  idle="stop")
    at = lambda t, row, pose: arb.decide(t, {"exit_find": result(*row, t_s=t)}, {"exit_find"},
                                         pose=pose)
    assert at(0.0, (3.0, 0.0, 0.8), facing(0.0)).reason == "seek"          # "at x=800"
    assert at(0.1, (3.0, 0.0, 0.08), facing(0.0, 700.0)).reason == "idle"  # there: passed
    assert at(5.0, (3.0, 0.0, 0.6), facing(0.0, 700.0)).reason == "seek"   # on ahead: sought
    assert at(5.1, (3.0, math.radians(50), 0.6), facing(0.3, 700.0)).reason == "seek"
    assert "ignored_passed" not in arb.counts.seeks.get("exit_find", {})
    arb.decide(5.2, {}, {"exit_find"}, pose=facing(0.3, 700.0))        # no result: no sighting
    assert at(9.0, (3.0, 0.0, 0.3), facing(math.pi, 1000.0)).reason == "idle"   # turned round
    assert arb.counts.seeks["exit_find"]["ignored_passed"] == 1


def test_just_through_a_door_the_door_glimpsed_behind_is_not_sought_a_way_on_elsewhere_is():
    """Seen in the demo: 0.5 m past the aim point it had coasted to, the robot turned round,
    glimpsed the door it had just come through, across the aim point (63 degrees off where
    that point is from there), coasted back through it, and the line follower led it home."""
    arb = arbiter(experts(exit_find=dict(drive={"seek": {**EXIT["seek"], "no_return_deg": 60}})),
                  idle="stop")
    at = lambda t, row, pose: arb.decide(t, {"exit_find": result(*row, t_s=t)}, {"exit_find"},
                                         pose=pose)
    assert at(0.0, (3.0, 0.0, 0.6), facing(0.0)).reason == "seek"
    assert at(0.1, (-3.0, 0.0, 0.0), facing(0.0)).reason == "coast"    # to (600,0)
    for k in range(1, 15):                                  # through, 0.5 m past it, turned
        at(0.1 + 0.2 * k, (-3.0, 0.0, 0.0), facing(0.0 if k < 14 else math.pi, 50.0 * min(k, 13),
                                                   -100.0))
    behind = facing(math.pi, 650.0, -100.0)                 # passed: (0,0) -> (600,0)
    assert at(20.0, (3.0, 0.0, 0.5), behind).reason == "idle"          # the door behind
    assert arb.counts.seeks["exit_find"]["ignored_passed"] >= 1
    assert at(25.0, (3.0, 0.0, 1.2), facing(math.pi / 2, 650.0, -100.0)).reason == "seek"


def test_without_no_return_deg_a_seek_goes_back_the_way_it_came():
    arb = arbiter(experts(exit_find=dict(drive=EXIT)), idle="stop")
    at = lambda t, row, h: arb.decide(t, {"exit_find": result(*row, t_s=t)}, {"exit_find"},
                                      pose=facing(h))
    at(0.0, (3.0, 0.0, 0.5), 0.0)
    at(0.1, (3.0, 0.0, 0.05), 0.0)
    assert at(5.0, (3.0, 0.0, 0.05), math.pi).reason == "idle"    # there again: arrived
    assert at(8.0, (3.0, 0.0, 0.5), math.pi).reason == "seek"


def test_a_target_out_of_sight_for_a_few_frames_is_still_driven_to_where_it_was():
    """Seen in the demo: 1.5-1.9 m from the obstacle field's exit, the way-on finder saw it on
    every other frame, and between sightings the idle search turned the robot away."""
    arb = arbiter(experts(exit_find=dict(drive=EXIT)), idle="search")
    at = lambda t, row, pose: arb.decide(t, {"exit_find": result(*row, t_s=t)}, {"exit_find"},
                                         pose=pose, range_mm=2000.0)
    unseen = (-0.5, 0.0, 1.6)
    assert at(0.0, (0.5, 0.3, 1.6), facing(0.0)).reason == "seek"
    d = at(0.1, unseen, facing(0.0))                         # not seen: on to where it was,
    assert d.reason == "seek" and d.right_mm_s > d.left_mm_s > 0   # left of straight ahead
    d = at(0.1 + SEEN_GRACE_S / 2, unseen, facing(0.5, 100.0, 20.0))  # steered from here
    assert d.reason == "seek" and d.left_mm_s > d.right_mm_s > 0       # now to the right
    assert at(0.2 + SEEN_GRACE_S, unseen, facing(0.0)).reason == "idle"  # gone: look round
    # without a pose there is no "where": it lets go at once, as before
    arb = arbiter(experts(exit_find=dict(drive=EXIT)), idle="stop")
    arb.decide(0.0, {"exit_find": result(0.5, 0.3, 1.6, t_s=0.0)}, {"exit_find"})
    assert arb.decide(0.1, {"exit_find": result(*unseen, t_s=0.1)},
                      {"exit_find"}).reason == "idle"


def test_a_contract_without_coast_m_lets_go_when_the_target_is_lost():
    arb = arbiter(experts(ball_find=dict(drive=BALL)), idle="stop")
    arb.decide(0.0, {"ball_find": result(3.0, 0.1, 0.5, t_s=0.0)}, {"ball_find"})
    assert arb.decide(0.1, {"ball_find": result(-3.0, 0.0, 0.0, t_s=0.1)},
                      {"ball_find"}).reason == "idle"


@pytest.mark.parametrize("bearing, distance_mm, speed", [
    (0.3, 600.0, 0.8), (-0.5, 400.0, 1.0), (0.0, 700.0, 0.8), (1.2, 300.0, 0.8),
    (-1.5, 2000.0, 0.5)])
def test_the_arc_through_a_point_reaches_it(bearing, distance_mm, speed):
    """Driving the wheels of arc_through's steering for its time (integrated finely) ends
    within a millimetre of the point; a point too far aside for a full turn is refused."""
    steering, seconds = DEMO_ROBOT.arc_through(bearing, distance_mm, speed)
    left, right = DEMO_ROBOT.wheels(steering, 150.0, speed)
    v, w = (left + right) / 2, (right - left) / 150.0
    x = y = th = 0.0
    n = 20000
    dt = seconds / n
    for _ in range(n):
        x, y, th = x + v * math.cos(th) * dt, y + v * math.sin(th) * dt, th + w * dt
    assert math.dist((x, y), (distance_mm * math.cos(bearing), distance_mm * math.sin(bearing))) < 1.0
    with pytest.raises(ValueError):
        DEMO_ROBOT.arc_through(2.0, 500.0)


def test_a_dock_holds_while_awake_squares_up_first_and_lets_go_when_asleep():
    arb = arbiter(experts(line_follow=dict(drive=LINE, priority=50), dock=dict(drive=DOCK)))
    awake = {"line_follow", "dock"}

    def at(t, dock, who=awake):
        return arb.decide(t, {"line_follow": line(0.0, t_s=t), "dock": result(*dock, t_s=t)}, who)

    assert at(0.0, (3.0, 0.1, 1.0, -2.0)).expert == "line_follow"   # seen, far: priority
    d = at(1.0, (3.0, 0.3, 0.38, -2.0))                              # close, not square
    assert (d.expert, d.reason, d.safety_stop) == ("dock", "align", True)
    assert d.left_mm_s == pytest.approx(-d.right_mm_s) and d.right_mm_s > 0
    d = at(2.0, (3.0, 0.0, 0.39, 2.0))                               # close and square
    assert (d.expert, d.reason, d.left_mm_s, d.right_mm_s) == ("dock", "arrived", 0, 0)
    for t, dock in ((3.0, (-5.0, 0.0, 0.0, 0.0)), (4.0, (3.0, 0.5, 1.2, -1.0))):
        assert at(t, dock).reason == "arrived"                    # held, whatever it says
    assert arb.decide(5.0, {"line_follow": line(0.0, t_s=5.0)}, awake).reason == "arrived"
    assert at(6.0, (3.0, 0.0, 0.39, 2.0), {"line_follow"}).reason == "steer"   # asleep: let go
    assert at(7.0, (3.0, 0.3, 1.0, -2.0)).expert == "line_follow"   # awake again: seeking anew


def test_decisions_are_a_function_of_the_inputs_and_the_clock():
    rng = np.random.default_rng(3)
    names = ["line_follow", "obstacle_avoid", "sign_read", "ball_find", "dock"]
    width = {"line_follow": 1, "obstacle_avoid": 2, "sign_read": 7, "ball_find": 3, "dock": 4}
    script = []
    for k in range(300):
        t = k * 0.02
        awake = {n for n in names if rng.random() < 0.6}
        results = {n: result(*(rng.normal(size=width[n]) * 3), t_s=t - rng.random() * 0.3,
                             frame_id=k) for n in names if rng.random() < 0.9}
        script.append((t, results, awake))
    runs = []
    for _ in range(2):
        arb = arbiter(demo_experts())
        runs.append([arb.decide(*step) for step in script])
    assert runs[0] == runs[1]
    assert {d.reason for d in runs[0]} >= {"stale", "steer", "obstacle", "seek", "idle"}
    assert all(abs(d.left_mm_s) <= 1500 and abs(d.right_mm_s) <= 1500 for d in runs[0])


# -- the robot's numbers ---------------------------------------------------------------------

@pytest.mark.parametrize("table, words", [
    ({"idle": "wander"}, 'arbiter.idle = "wander": must be one of "stop", "cruise"'),
    ({"wheelbase_mm": 0}, "arbiter.wheelbase_mm = 0.0: must be > 0"),
    ({"result_max_age_ms": -5}, "arbiter.result_max_age_ms = -5: must be > 0"),
    ({"slow_in_turns": 1.5}, "arbiter.slow_in_turns = 1.5: must be from 0 to 1"),
    ({"turn_rad_s": "fast"}, "arbiter.turn_rad_s"),
    ({"wheel_base_mm": 150}, "did you mean wheelbase_mm?"),
])
def test_bad_arbiter_config_is_refused_naming_the_key(table, words):
    with pytest.raises(ConfigError) as e:
        RunConfig.from_dict({"arbiter": table})
    assert words in str(e.value)


def test_the_defaults_are_the_demo_robots_and_the_autopilot_drives_by_the_same_kinematics():
    from spikebox.firmware_bridge.core_lib import SimRobot
    from spikebox.runtime.arbiter import kinematics
    from spikebox.runtime.sim import autopilot
    from spikebox.runtime.sim.truth import STEER_FULL_RAD
    config = ArbiterConfig()
    assert config.wheelbase_mm == SimRobot().wheelbase_mm
    assert config.full_turn_bearing_rad == STEER_FULL_RAD
    assert config.steering == autopilot.SteeringLimits() == kinematics.SteeringLimits()
    assert autopilot.SteeringLimits is kinematics.SteeringLimits      # one implementation


def test_the_arbiter_never_imports_the_sim():
    code = ("import sys, spikebox.runtime.arbiter, spikebox.runtime.daemon.config\n"
            "print(sorted(m for m in sys.modules if m.startswith('spikebox.runtime.sim')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=REPO).stdout
    assert out.strip() == "[]"


def test_the_stall_guard_backs_off_a_robot_pushing_and_not_moving_then_lets_go():
    """Forward asked for, the wheels not turning for stall_after_ms: reverse on a curve for
    back_off_ms (no forward motion: a safety stop), the other side the next time; moving,
    turning in place, or no telemetry is never a stall."""
    from spikebox.runtime.arbiter.stall import StallGuard
    cfg = ArbiterConfig(stall_after_ms=500, back_off_ms=300, back_off_mm_s=80)
    guard = StallGuard(cfg)
    go = (120, 118)
    assert guard.step(0.0, go, (118, 117)) is None                     # moving
    assert guard.step(0.1, (-90, 90), (0, 0)) is None                  # turning in place
    assert guard.step(0.2, go, None) is None                           # nothing known
    assert guard.step(1.0, go, (0, 0)) is None                         # stalled since 1.0 ...
    assert guard.step(1.4, go, (5, 3)) is None
    d = guard.step(1.5, go, (0, 0))                                    # ... 500 ms: back off
    assert (d.reason, d.safety_stop) == ("stalled", True)
    assert d.left_mm_s < 0 and d.right_mm_s < 0 and d.left_mm_s != d.right_mm_s
    assert guard.step(1.7, go, (0, 0)) is d                            # for back_off_ms
    assert guard.step(1.81, (0, 0), (0, 0)) is None                    # then the experts drive
    guard.step(2.0, go, (0, 0))
    d2 = guard.step(2.6, go, (0, 0))
    assert guard.stalls == 2 and (d2.left_mm_s - d2.right_mm_s) == -(d.left_mm_s - d.right_mm_s)
    assert StallGuard(ArbiterConfig(stall_after_ms=0)).step(9.0, go, (0, 0)) is None   # off


def test_the_range_guard_slows_then_turns_away_from_what_is_close_ahead():
    """range_mm below range_slow_mm scales forward motion down (the turn kept); at
    range_stop_mm or less the robot turns in place (a safety stop, reason "near") to the side
    it was turning, and keeps that side until the range reads more than range_release_mm.
    Reversing, turning in place, no telemetry and nothing in range pass unchanged."""
    from spikebox.firmware_bridge.protocol import RANGE_NONE
    from spikebox.runtime.arbiter import Decision
    from spikebox.runtime.arbiter.near import CREEP_MM_S, NEAR, RangeGuard
    cfg = ArbiterConfig(range_stop_mm=100, range_slow_mm=300, range_release_mm=200)
    guard = RangeGuard(cfg)
    go = Decision(150.0, 170.0, "line_follow", "steer", False, 7)
    assert guard.step(0.0, go, None) is go and guard.step(0.0, go, RANGE_NONE) is go
    assert guard.step(0.0, go, 300) is go                                   # not near yet
    slow = guard.step(0.0, go, 200)                                         # half way to the stop
    assert (slow.left_mm_s + slow.right_mm_s) / 2 == pytest.approx(80.0)
    assert slow.right_mm_s - slow.left_mm_s == pytest.approx(20.0)     # the turn is kept
    assert (slow.expert, slow.reason, slow.frame_id) == ("line_follow", "steer", 7)
    creep = guard.step(0.0, go, 105)                 # never slower than a creep: it reaches the stop
    assert (creep.left_mm_s + creep.right_mm_s) / 2 == pytest.approx(CREEP_MM_S)
    crawl = Decision(10.0, 10.0, "x", "steer", False)
    assert guard.step(0.0, crawl, 105).left_mm_s == pytest.approx(10.0)   # nor faster than asked
    back = Decision(-80.0, -80.0, None, "stalled", True)
    spin = Decision(-90.0, 90.0, None, "idle", False)
    assert guard.step(0.0, back, 50) is back and guard.step(0.0, spin, 50) is spin
    near = guard.step(0.0, go, 100)                                         # at the stop: turn away
    assert (near.reason, near.safety_stop, near.expert) == (NEAR, True, "line_follow")
    assert near.left_mm_s == -near.right_mm_s and near.right_mm_s > 0   # left, as go turned
    straight = Decision(150.0, 150.0, "x", "steer", False)
    assert guard.step(0.0, straight, 190).right_mm_s > 0                    # still turning: hysteresis
    freed = guard.step(0.0, straight, 250)                                  # released past 200,
    assert freed.left_mm_s == freed.right_mm_s == pytest.approx(112.5)  # slowed, not turning
    later = guard.revolution_s + 1.0                  # the spin above is a revolution ago now
    right = guard.step(later, Decision(170.0, 150.0, "x", "steer", False), 80)
    assert right.right_mm_s < 0 < right.left_mm_s                      # turning right, it turns right
    assert guard.step(later, straight, 450) is straight
    again = guard.step(later, straight, 60)                                 # no turn asked: last side
    assert again.right_mm_s < 0 and guard.turns == 3
    off = RangeGuard(ArbiterConfig(range_stop_mm=0))
    assert off.step(0.0, go, 10) is go


def test_the_range_guard_turns_the_way_the_robot_last_turned_in_place():
    """Seen in the demo by a wall: the avoider's escape turned the robot right, then it stepped
    forward, the guard turned it left (the way that step steered), then the avoider right
    again, for 18 s. Within a revolution's time of a turn in place, the guard turns that way."""
    from spikebox.runtime.arbiter import Decision
    from spikebox.runtime.arbiter.near import NEAR, RangeGuard
    guard = RangeGuard(ArbiterConfig(range_stop_mm=100, range_slow_mm=300, range_release_mm=200))
    escape = Decision(72.0, -72.0, "obstacle_avoid", "obstacle", True)      # right, in place
    assert guard.step(0.0, escape, 90) is escape                            # passed as it is
    step_left = Decision(120.0, 160.0, "obstacle_avoid", "steer", False)    # forward, bearing left
    d = guard.step(0.5, step_left, 90)
    assert d.reason == NEAR and d.right_mm_s < 0 < d.left_mm_s              # right, as it was
    assert guard.step(0.6, step_left, 150).right_mm_s < 0                   # and it keeps it
    guard.step(0.7, step_left, 400)                                          # clear
    d = guard.step(0.8 + guard.revolution_s, step_left, 90)                 # long after: its own
    assert d.left_mm_s < 0 < d.right_mm_s                                    # way, as the step


def test_after_turning_away_the_range_guard_sidesteps_before_letting_the_robot_turn_back():
    """Seen in the trials: a coast toward a door behind a sign's board turned back into the
    board as soon as the guard let go, and the two took turns on one spot for 5 s. Once clear,
    for SIDESTEP_MM of driving, a decision turning back toward the side turned from goes
    straight on instead (reason sidestep, at least idle speed), a turn in place back too;
    turns the other way, reversing and safety stops pass; then the decision passes again."""
    from spikebox.runtime.arbiter import Decision
    from spikebox.runtime.arbiter.near import NEAR, SIDESTEP, SIDESTEP_MM, RangeGuard
    cfg = ArbiterConfig(range_stop_mm=100, range_slow_mm=300, range_release_mm=200,
                        idle_speed_mm_s=80)
    guard = RangeGuard(cfg)
    coast_left = Decision(60.0, 160.0, "exit_find", "coast", False, 3)     # toward a door, left
    d = guard.step(0.0, Decision(170.0, 150.0, "x", "steer", False), 90)   # right: turn right
    assert d.reason == NEAR and d.left_mm_s > 0 > d.right_mm_s
    step = guard.step(0.1, coast_left, 600)                                # clear: would turn back
    assert (step.reason, step.expert, step.frame_id, step.safety_stop) == (
        SIDESTEP, "exit_find", 3, False)
    assert step.left_mm_s == step.right_mm_s == pytest.approx(110.0)      # straight, its speed
    slow_left = Decision(10.0, 50.0, "exit_find", "coast", False)
    assert guard.step(0.2, slow_left, 600).left_mm_s == pytest.approx(80.0)   # at least idle
    away = Decision(160.0, 60.0, "x", "steer", False)                      # further right: passes
    assert guard.step(0.3, away, 600) is away
    spin_back = guard.step(0.3, Decision(-90.0, 90.0, None, "idle", False), 600)
    assert spin_back.reason == SIDESTEP and spin_back.left_mm_s == spin_back.right_mm_s == 80.0
    for passes in (Decision(90.0, -90.0, None, "idle", False),           # a turn in place away,
                   Decision(-50.0, -80.0, None, "stalled", True),        # a reverse,
                   Decision(0.0, 0.0, "sign_read", "stop_sign", True)):   # a safety stop
        assert guard.step(0.3, passes, 600) is passes
    t = 0.3
    while guard.step(t, coast_left, 600).reason == SIDESTEP:
        t += 0.05
        assert t < 10.0
    driven = lambda until: 110.0 * 0.1 + 80.0 * 0.1 + 110.0 * (until - 0.3)   # as sent
    assert driven(t - 0.05) < SIDESTEP_MM <= driven(t)                     # then it is let be
    assert guard.step(t + 0.05, coast_left, 600) is coast_left and guard.sidesteps > 0


def test_the_range_guard_stops_a_robot_boxed_in_rather_than_spin_for_ever():
    """Turned a full revolution and still nothing clear (boxed in, or the sensor stuck): stop,
    reason boxed_in, until the range reads clear again."""
    from spikebox.runtime.arbiter import Decision
    from spikebox.runtime.arbiter.near import BOXED_IN, NEAR, RangeGuard
    guard = RangeGuard(ArbiterConfig(range_stop_mm=100, range_slow_mm=300, range_release_mm=200))
    go = Decision(150.0, 150.0, "x", "steer", False)
    assert guard.step(0.0, go, 50).reason == NEAR
    assert guard.step(guard.revolution_s - 0.1, go, 50).reason == NEAR        # still turning
    stop = guard.step(guard.revolution_s + 0.1, go, 50)
    assert (stop.reason, stop.safety_stop, stop.left_mm_s, stop.right_mm_s) == (BOXED_IN, True, 0, 0)
    assert guard.step(99.0, go, 150).reason == BOXED_IN and guard.boxed_in == 1
    assert guard.step(100.0, go, 400) is go                                   # clear: it drives


@pytest.mark.parametrize("fields,key", [
    ({"range_stop_mm": -1}, "range_stop_mm"),
    ({"range_stop_mm": 300, "range_slow_mm": 300}, "range_slow_mm"),
    ({"range_stop_mm": 100, "range_release_mm": 50}, "range_release_mm")])
def test_range_guard_settings_that_cannot_work_are_refused_by_name(fields, key):
    with pytest.raises(ConfigError, match=key):
        ArbiterConfig(**fields)


def test_a_steer_expert_with_a_visible_column_is_silent_when_it_sees_nothing():
    """A line follower woken where there is no line (a false wake, or awake_hold past the
    door) must not drive by a phantom: visible <= 0 leaves the driving to lower priorities."""
    line = {"steer": {"output": "cat", "steering": 0, "visible": 1}}
    entries = experts(line_follow=dict(drive=line, shape=[1, 2]),
                      exit_find=dict(like="ball_find", drive=BALL, priority=-10))
    arb = arbiter(entries)
    awake = {"line_follow", "exit_find"}
    seen = result(3.0, -0.2, 1.5, t_s=0.0)
    d = arb.decide(0.0, {"line_follow": result(0.4, 2.5, t_s=0.0), "exit_find": seen}, awake)
    assert (d.expert, d.reason) == ("line_follow", "steer") and d.right_mm_s > d.left_mm_s
    d = arb.decide(0.1, {"line_follow": result(0.4, -0.5, t_s=0.1), "exit_find": seen}, awake)
    assert (d.expert, d.reason) == ("exit_find", "seek")
    d = arb.decide(0.2, {"line_follow": result(0.4, 0.0, t_s=0.2)}, {"line_follow"})
    assert (d.expert, d.reason) == (None, "idle")


def test_a_blocked_steer_keeps_its_side_while_the_way_reads_about_its_stop_distance():
    """Seen in the trials (seed 2010): facing a notch, the clear way read 0.15-0.26 m about the
    0.2 m stop and the steering flipped sign near 0; each new stop picked its side anew and
    the robot swung back and forth on one spot for 13 s. The side is kept until the way reads
    SIDE_KEPT_M beyond the stop distance."""
    from spikebox.runtime.arbiter.behaviours import SIDE_KEPT_M
    arb = arbiter(demo_experts())
    awake = {"obstacle_avoid"}
    sides = []
    for k, (steering, clear) in enumerate(((-0.02, 0.15), (0.03, 0.25), (0.02, 0.16),
                                           (-0.01, 0.26), (0.04, 0.15))):
        d = arb.decide(k * 0.1, {"obstacle_avoid": result(steering, clear, t_s=k * 0.1)}, awake)
        if d.safety_stop:
            sides.append(d.right_mm_s > d.left_mm_s)
    assert sides == [False, False, False]                      # right, as first chosen
    t = 1.0
    arb.decide(t, {"obstacle_avoid": result(0.0, 0.2 + SIDE_KEPT_M + 0.05, t_s=t)}, awake)
    d = arb.decide(t + 0.1, {"obstacle_avoid": result(0.05, 0.1, t_s=t + 0.1)}, awake)
    assert d.right_mm_s > d.left_mm_s                          # clear enough: chosen anew


def test_a_door_finders_seek_goes_round_what_the_range_sensor_read_blocked_on_its_way():
    """The way-on finder sees the exit 1.5 m straight ahead, a box between (read by the range
    sensor on a look round): its seek steers round the box, not at it; with nothing read in
    the way it steers as it always did."""
    exit_find = dict(drive={"seek": {**EXIT["seek"], "no_return_deg": 60}})
    box = lambda h: 500.0 if abs(math.remainder(h, 2 * math.pi)) < 0.35 else 0xFFFF
    straight = None
    for blocked in (False, True):
        arb = arbiter(experts(exit_find=exit_find))
        t = 0.0
        for k in range(72):                          # a look round from (0, 0)
            h = math.radians(5 * k)
            arb.decide(t, {}, set(), pose=facing(h), range_mm=box(h) if blocked else 0xFFFF)
            t += 0.02
        d = arb.decide(t, {"exit_find": result(3.0, 0.0, 1.5, t_s=t)}, {"exit_find"},
                       pose=facing(0.0), range_mm=box(0.0) if blocked else 0xFFFF)
        assert (d.expert, d.reason) == ("exit_find", "seek")
        if not blocked:
            straight = d
            assert arb.counts.routed_round == 0
        else:
            assert arb.counts.routed_round == 1
            assert abs(d.right_mm_s - d.left_mm_s) > abs(straight.right_mm_s
                                                         - straight.left_mm_s) + 10.0
