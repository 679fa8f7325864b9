"""The arbiter: the awake experts' latest results -> one drive setpoint, safety first.

    arbiter = Arbiter(box.experts, config.arbiter, config.link.max_wheel_mm_s)
    decision = arbiter.decide(now_s, {"line_follow": ExpertResult(outputs, frame_id, t_s)},
                              awake={"line_follow"})
    link.drive(decision.left_mm_s, decision.right_mm_s)     # already within the limit
    arbiter.counts.stale_results                              # {"line_follow": 3, ...}

Data path: experts → **arbiter** → firmware_bridge. Called once a control cycle,
it never waits: it decides on what results there are. Per expert with a drive
contract (contract.py; an expert without one is only logged), in name order:
asleep (not in `awake`), it says nothing; awake, its result is read, and one
that is missing, older than result_max_age_ms, of another shape or dtype than
its manifest declares, or not finite is silent this cycle and counted
(ArbiterCounts). Its rule (behaviours.py, seek.py) turns a usable row into a bid.

The choice:
1. a safety stop (a classes stop, a steer's clear way below its stop distance,
   a seek holding or squaring up on arrival) beats every drive; but an avoider's escape
   (a turn in place) lets the idle search's own turn in place, under way, stand (step 4);
2. then the highest priority drives, ties to the first name; a door finder's seek (a seek
   with no_return_deg) is steered round what the range sensor read blocked on its straight
   way (ways.py, places.py);
3. an awake expert that is silent for a fault, and that could have outranked
   the winner (it may bid a safety stop, or its priority is higher), stops the
   robot: it might have said stop, and a safe command beats a guess;
4. nobody with anything to say: the idle behaviour, config.idle: "stop",
   "cruise" straight on at idle_speed_mm_s, or "search" (search.py): look round
   (turn in place, to the left at first, then the way the robot last turned
   toward a target it sought, or the way the last safety turn in place went,
   never back toward what it turned from), then drive toward the most room the
   range sensor read, and look round again, until some expert sees what it is for;
   or, with the way on seen and something read blocked on the straight way to it, drive
   round that (ways.route);
   a look round under way (a turn in place), or a route, is not cut short by an avoider's steer
   (a steer with yield_beyond_m: it keeps forward motion off what is near), only by
   its safety stop or by another expert's bid;
5. but blind (`awake` is None: no fresh frame, the camera lost or stalled) the
   robot stops, whatever the idle behaviour: it never cruises on what it cannot see.
The wheels are then scaled down together (the arc kept) to ±max_wheel_mm_s.
Pure given its inputs, `now_s` (a monotonic clock's seconds, the captures'
clock) and what its rules remember: no clock is read here.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, AbstractSet, Mapping

import numpy as np

from .behaviours import COASTING, OBSTACLE, SEEKING, Bid, ClassesRule, Rule, SteerRule, Wheels
from .contract import CLASSES, SEEK, STEER, DriveContract
from .kinematics import wrap_angle
from .seek import SeekRule
from .odometry import Pose
from .search import Search
from .ways import Ways

if TYPE_CHECKING:                        # the config imports this module's IDLE_MODES
    from ..daemon.config import ArbiterConfig
    from ..manifest import ExpertEntry

IDLE_STOP, IDLE_CRUISE, IDLE_SEARCH = "stop", "cruise", "search"   # ArbiterConfig.idle
IDLE_MODES = (IDLE_STOP, IDLE_CRUISE, IDLE_SEARCH)
IDLE = "idle"                                      # Decision.reason with nobody to drive
BLIND = "blind"                                    # Decision.reason with no fresh frame
# Why an awake expert is silent this cycle: Decision.reason when that stops the robot.
MISSING, STALE, BAD_OUTPUT, NONFINITE = "missing", "stale", "bad_output", "nonfinite"
FAULTS = (MISSING, STALE, BAD_OUTPUT, NONFINITE)


@dataclass(frozen=True)
class ExpertResult:
    """An expert's latest outputs and the capture they answer."""
    outputs: Mapping[str, np.ndarray]    # by output name, as the session returned them
    frame_id: int                        # the capture's
    t_monotonic_s: float                 # the capture's time, on the clock of decide's now_s


@dataclass(frozen=True)
class Decision:
    """The setpoint to send (within ±max_wheel_mm_s), and why: what gets logged."""
    left_mm_s: float
    right_mm_s: float
    expert: str | None                   # whose bid it is (None: idle, or a fault's stop)
    reason: str                          # a word: behaviours.py's, IDLE, or a fault
    safety_stop: bool                    # no forward motion, for safety
    frame_id: int | None = None          # the frame whose result it acts on
    silent: Mapping[str, str] = field(default_factory=dict)   # awake expert -> its fault


def drive_row(entry: ExpertEntry, outputs) -> tuple[np.ndarray | None, str | None]:
    """(the row its drive contract reads, None) from an expert's `outputs` (output name ->
    array), else (None, BAD_OUTPUT or NONFINITE): not of the shape and dtype the manifest
    declares, or not finite. Outputs are the expert's word, never trusted."""
    declared = next(o.shape for o in entry.outputs if o.name == entry.drive.behaviour.output)
    try:
        values = np.asarray(outputs[entry.drive.behaviour.output])
        if (values.dtype.kind not in "biuf" or values.ndim != len(declared)
                or values.size != declared[-1]
                or any(isinstance(d, int) and d != n for d, n in zip(declared, values.shape))):
            return None, BAD_OUTPUT
        row = values.astype(np.float64).reshape(-1)
    except (AttributeError, KeyError, TypeError, ValueError, OverflowError):
        return None, BAD_OUTPUT
    if not np.isfinite(row).all():
        return None, NONFINITE
    return row, None


def make_rule(contract: DriveContract, wheels: Wheels) -> Rule:
    """The rule that gives `contract` its effect (behaviours.py, seek.py)."""
    return {STEER: SteerRule, SEEK: SeekRule, CLASSES: ClassesRule}[contract.name](
        contract.behaviour, wheels)


def spin_side(decision) -> float:
    """+1 a setpoint (anything with left_mm_s, right_mm_s) turning the robot in place to the
    left, -1 to the right, 0 one that does not turn it in place."""
    spin = decision.right_mm_s - decision.left_mm_s
    if not spin or abs(decision.left_mm_s + decision.right_mm_s) >= 1e-6:
        return 0.0
    return 1.0 if spin > 0 else -1.0


@dataclass
class ArbiterCounts:
    """Control cycles, by what was decided and by each expert's faults."""
    cycles: int = 0
    reasons: Counter = field(default_factory=Counter)          # reason -> cycles
    driven_by: Counter = field(default_factory=Counter)        # expert -> cycles it drove
    safety_stops: int = 0
    missing_results: Counter = field(default_factory=Counter)  # expert -> cycles, per fault
    stale_results: Counter = field(default_factory=Counter)
    bad_output_results: Counter = field(default_factory=Counter)
    nonfinite_results: Counter = field(default_factory=Counter)
    steers_facing_back: int = 0        # cycles steer bids were not taken, facing a way back
    targets_back_through: Counter = field(default_factory=Counter)   # seek expert -> cycles
    #                                  its target lay back through a door passed: not taken
    escapes_let_turn: int = 0          # cycles an avoider's escape (a turn in place) let the
    #                                  idle search's turn in place stand (_choose)
    routed_round: int = 0              # cycles the way on was gone round a place read blocked
    #                                  on the straight way (places.py), seeking or searching
    seeks: dict = field(default_factory=dict)   # seek expert -> its SeekRule.counts: targets
    #            it gave up (got no nearer), cycles a seen target was ignored as one passed or
    #            as one given up (seek.py)

    def faults(self, fault: str) -> Counter:
        return {MISSING: self.missing_results, STALE: self.stale_results,
                BAD_OUTPUT: self.bad_output_results, NONFINITE: self.nonfinite_results}[fault]

    def to_json(self) -> dict:
        return {k: dict(v) if isinstance(v, Counter) else v for k, v in vars(self).items()}


class Arbiter:
    def __init__(self, experts: Mapping[str, ExpertEntry], config: ArbiterConfig,
                 max_wheel_mm_s: float):
        if not max_wheel_mm_s > 0:
            raise ValueError(f"max_wheel_mm_s {max_wheel_mm_s}: must be > 0 (link.max_wheel_mm_s)")
        self.config, self.max_wheel_mm_s = config, float(max_wheel_mm_s)
        self.counts = ArbiterCounts()
        wheels = Wheels(config.steering, config.wheelbase_mm, config.full_turn_bearing_rad)
        self._wheels = wheels
        self._search_side = 1.0     # +1 left, -1 right: the way the last turn in place went
        self._search = Search(wheels, config.idle_speed_mm_s)
        self._experts: dict[str, tuple[ExpertEntry, Rule]] = {
            name: (entry, make_rule(entry.drive, wheels))
            for name, entry in sorted(experts.items()) if entry.drive is not None}
        self.ways = Ways({name: rule for name, (_, rule) in self._experts.items()   # doors
                          if isinstance(rule, SeekRule)
                          and rule.contract.no_return_deg is not None})

    @property
    def drivers(self) -> list[str]:
        """The experts that may drive (those with a drive contract), in name order."""
        return list(self._experts)

    def decide(self, now_s: float, results: Mapping[str, ExpertResult],
               awake: AbstractSet[str] | None, pose: Pose | None = None,
               range_mm: float | None = None) -> Decision:
        """One control cycle's setpoint from each expert's latest result (`results`, by name:
        any it has; a result is acted on only while fresh) and the experts the activator
        wants now (`awake`; None when there is no fresh frame to know it from: a stop).
        pose: the robot's pose by dead reckoning (odometry.py), for rules that remember the
        way they came or where a target was, and range_mm: the MCU's range reading, for the
        idle search (search.py); None (or a pose that is not finite): unknown this cycle."""
        blind = awake is None
        if pose is not None and not all(map(math.isfinite, (pose.x_mm, pose.y_mm,
                                                            pose.heading_rad))):
            pose = None                  # not a place: unknown this cycle, as without telemetry
        awake = frozenset() if blind else awake
        bids: list[tuple[int, str, Bid]] = []
        silent: dict[str, str] = {}
        for name, (entry, rule) in self._experts.items():
            row = fault = frame_id = None
            if name in awake:
                row, fault, frame_id = self._read(entry, results.get(name), now_s)
            if fault:
                self.counts.faults(fault)[name] += 1
            bid = rule.step(now_s, row, name in awake, frame_id, pose)
            if isinstance(rule, SeekRule) and rule.counts:
                self.counts.seeks[name] = dict(rule.counts)
            if bid is not None:
                bids.append((-entry.priority, name, bid))
            elif fault:
                silent[name] = fault
        self.ways.see(now_s, pose, range_mm)
        decision = (Decision(0.0, 0.0, None, BLIND, True, None, silent) if blind
                    else self._clipped(self._choose(bids, silent, now_s, pose, range_mm)))
        if decision.reason == SEEKING:
            self._experts[decision.expert][1].drove(now_s)     # toward giving up (seek.py)
        spin = decision.right_mm_s - decision.left_mm_s
        if decision.reason in (SEEKING, COASTING) and spin:
            # A search goes on the way the robot last turned toward what it sought: lost
            # from sight, it is likelier there than behind.
            self._search_side = 1.0 if spin > 0 else -1.0
        elif decision.safety_stop and decision.expert is not None and spin_side(decision):
            # ... or the way a safety turn in place went, instead of turning straight back
            # to what the robot just turned from.
            self._search_side = 1.0 if spin > 0 else -1.0
        self.counts.cycles += 1
        self.counts.reasons[decision.reason] += 1
        self.counts.safety_stops += decision.safety_stop
        if decision.expert is not None:
            self.counts.driven_by[decision.expert] += 1
        return decision

    def _read(self, entry: ExpertEntry, result: ExpertResult | None, now_s: float
              ) -> tuple[np.ndarray | None, str | None, int | None]:
        """(row, None, frame_id) for a usable result, else (None, the fault, frame_id)."""
        if result is None:
            return None, MISSING, None
        try:                                  # a result is the expert's word, never trusted
            frame_id = int(result.frame_id)
            age_ms = (now_s - float(result.t_monotonic_s)) * 1000.0
        except (AttributeError, TypeError, ValueError, OverflowError):
            return None, BAD_OUTPUT, None
        # A capture from the future is another clock's: not trusted either.
        if not abs(age_ms) <= self.config.result_max_age_ms:
            return None, STALE, frame_id
        row, fault = drive_row(entry, result.outputs)
        return row, fault, frame_id

    def _choose(self, bids: list[tuple[int, str, Bid]], silent: dict[str, str], now_s: float,
                pose: Pose | None, range_mm: float | None) -> Decision:
        safety = [b for b in bids if b[2].safety_stop]
        if safety:
            if not silent and self._search_under_way(now_s, bids) and all(
                    b[2].reason == OBSTACLE and spin_side(b[2]) for b in safety):
                # An avoider's escape is a turn in place: it forbids forward motion, not a
                # side. With no other bid, a look round, or the turn to the way chosen, turns
                # in place too, and goes on. Seen in the trials (seeds 2002, 2009): the escape
                # turned one way, the search's turn the other each time the avoider let go,
                # on one spot for 10-15 s until the stuck guard; a look round between two
                # obstacles reversed at each, and never came round.
                # (The search is stepped all the same: a turn that reached its heading drives
                # on next, and that waits for the way clear.)
                turn = self._searched(now_s, pose, range_mm, silent)
                if spin_side(turn):
                    self.counts.escapes_let_turn += 1
                    return replace(turn, safety_stop=True)
            return _decision(min(safety, key=lambda b: b[:2]), silent)
        if pose is not None and any(self._experts[name][0].drive.name == STEER
                                    for _, name, _ in bids) and self.ways.facing_back(pose):
            # A steer (line follower, avoider) keeps no memory of where the robot came from:
            # facing a way back, it does not drive (seen in the demo: turned round in the sign
            # zone, the line follower saw the line zone's line through the door it came by,
            # and followed it home). The others, and the idle search, decide.
            self.counts.steers_facing_back += 1
            bids = [b for b in bids if self._experts[b[1]][0].drive.name != STEER]
        if pose is not None:
            back = [b for b in bids if self._back_through(b[1], pose)]
            for _, name, _ in back:
                self.counts.targets_back_through[name] += 1
            bids = [b for b in bids if b not in back]
        if self._search_under_way(now_s, bids):
            # A look round turns in place: an avoider's steer, there only to keep forward
            # motion off what is near, does not cut it short. It did: the avoider turned the
            # robot away from a wall, the look turned it back each time the avoider let go,
            # and the robot crawled along the wall for 9 s with the way on behind it (seen in
            # the trials). The avoider's safety stop still wins (above).
            bids = []
        winner = min(bids, key=lambda b: b[:2], default=None)
        for name, fault in silent.items():
            entry, rule = self._experts[name]
            if winner is None or rule.can_stop or (-entry.priority, name) < winner[:2]:
                return Decision(0.0, 0.0, None, fault, True, None, silent)
        if winner is not None:
            return self._round(_decision(winner, silent), now_s, pose)
        if self.config.idle == IDLE_CRUISE:
            speed = self.config.idle_speed_mm_s
            return Decision(speed, speed, None, IDLE, False, None, silent)
        if self.config.idle == IDLE_SEARCH:
            return self._searched(now_s, pose, range_mm, silent)
        return Decision(0.0, 0.0, None, IDLE, False, None, silent)

    def _searched(self, now_s: float, pose: Pose | None, range_mm: float | None,
                  silent: dict[str, str]) -> Decision:
        """The idle search's step (search.py)."""
        heading = None if pose is None else pose.heading_rad
        here = None if pose is None else (pose.x_mm, pose.y_mm)
        return Decision(*self._search.step(now_s, self._search_side, heading, range_mm,
                                           self.ways_back(pose), self.way_on(now_s),
                                           self._routed(now_s, pose, self.ways.way_on_goal()),
                                           here, lambda: self.ways.places.stood(now_s)),
                        None, IDLE, False, None, silent)

    def _search_under_way(self, now_s: float, bids) -> bool:
        """True with the idle search's look round or route under way (Search.turning) and
        no bid but avoiders' (steers that yield when nothing is near), which only keep
        forward motion off what is near: what they bid does not cut the search short."""
        return (bool(bids) and self.config.idle == IDLE_SEARCH and self._search.turning(now_s)
                and all(self._yields(name) for _, name, _ in bids))

    def _yields(self, name: str) -> bool:
        """True for an expert whose steer yields when nothing is near (an avoider)."""
        drive = self._experts[name][0].drive
        return drive.name == STEER and drive.behaviour.yield_beyond_m is not None

    def _back_through(self, name: str, pose: Pose) -> bool:
        """True for a seek that keeps no passes of its own (no no_return_deg) driving to a
        target back through a door the robot passed (Ways.back_through). Seen in the trials:
        from the obstacle field, the ball finder saw the ball it had been to through the
        door, and led the robot back into the ball zone."""
        rule = self._experts[name][1]
        if not isinstance(rule, SeekRule) or rule.contract.no_return_deg is not None:
            return False
        return rule.target is not None and self.ways.back_through(pose, rule.target)

    def passed(self) -> dict[str, tuple]:
        """Per door finder (a seek with no_return_deg), the targets it passed (ways.py)."""
        return self.ways.passed()

    def ways_back(self, pose: Pose | None) -> tuple[tuple[float, float], ...]:
        """(heading rad, half-width rad) toward each door passed (ways.py)."""
        return self.ways.ways_back(pose)

    def way_on(self, now_s: float) -> float | None:
        """The heading (rad, odometry) the way on was last seen along (ways.py)."""
        return self.ways.way_on(now_s)

    def _round(self, d: Decision, now_s: float, pose: Pose | None) -> Decision:
        """A door finder's seek or coast `d`, steered round what was read blocked on its way."""
        rule = self._experts[d.expert][1] if d.expert is not None else None
        if (d.reason not in (SEEKING, COASTING) or not isinstance(rule, SeekRule)
                or rule.contract.no_return_deg is None or pose is None or rule.target is None):
            return d
        heading = self._routed(now_s, pose, self.ways.door_goal(pose, rule.target))
        if heading is None:
            return d
        steering = self._wheels.steering_to(wrap_angle(heading - pose.heading_rad))
        return Decision(*self._wheels.steer(steering, rule.contract.speed), d.expert, d.reason,
                        d.safety_stop, d.frame_id, d.silent)

    def _routed(self, now_s: float, pose: Pose | None, goal) -> float | None:
        heading = self.ways.route(now_s, pose, goal)
        self.counts.routed_round += heading is not None
        return heading

    def _clipped(self, d: Decision) -> Decision:
        """Both wheels scaled by one factor so the faster is within ±max_wheel_mm_s: the
        robot keeps the arc it was told, only slower."""
        left, right = d.left_mm_s, d.right_mm_s
        if not (math.isfinite(left) and math.isfinite(right)):     # never sent: stop
            return Decision(0.0, 0.0, None, NONFINITE, True, d.frame_id, d.silent)
        peak = max(abs(left), abs(right))
        if peak > self.max_wheel_mm_s:
            scale = self.max_wheel_mm_s / peak
            left, right = left * scale, right * scale
        lim = self.max_wheel_mm_s
        return Decision(min(max(left, -lim), lim), min(max(right, -lim), lim), d.expert, d.reason,
                        d.safety_stop, d.frame_id, d.silent)


def _decision(bid: tuple[int, str, Bid], silent: dict[str, str]) -> Decision:
    _, name, b = bid
    return Decision(b.left_mm_s, b.right_mm_s, name, b.reason, b.safety_stop, b.frame_id, silent)
