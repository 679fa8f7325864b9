"""The seek rule: what a seek contract (contract.py) makes of an expert's rows, and what it remembers.

    rule = SeekRule(entry.drive.behaviour, wheels)
    bid = rule.step(now_s, row, awake=True, frame_id=17, pose=pose)   # a Bid, or None
    rule.drove(now_s)                 # the arbiter chose its bid this cycle

The rules' shared words (Bid, Wheels, the Rule protocol) are behaviours.py's; the arbiter
(decide.py) keeps one rule per expert across control cycles. Time is `now_s`, passed in.

What it remembers, and when it lets go:
- hold: arrived, it holds (a safety stop) while the expert stays awake,
  whatever its results say; asleep, the hold is over.
- release: arrived, it lets go at once (others drive this very cycle) and
  seeks again only once the target has gone unseen (no fresh result that sees
  it) for rearm_s.
- coast_m: a fresh result that no longer sees the target it was seeking
  (nearer than coast_m, within ±90° of the heading) starts a coast to where it
  was last seen, whatever the results say unless the target is seen again; then
  it has arrived. With a pose (odometry.py) the point is steered to each cycle
  until the robot is there or beside it, measured from where the robot is then
  (another expert may have turned it since the sighting); without, the arc
  through it (kinematics.arc_through) is driven for its time.
- with a pose: a target out of sight for a frame or a few (an expert unsure at the edge
  of its range flickers) is still driven to, where it was last seen, for SEEN_GRACE_S:
  the robot does not stop and turn away to look round between two sightings.
- with a pose: a target it gets no nearer to (GIVE_UP_S) is given up for
  GIVEN_UP_S: not sought, wherever it is seen near where it was. With
  no_return_deg, a target passed (arrived at, or gone by: the robot near it and it beside
  or behind, whoever drove) is remembered where it is and where the robot passed it from,
  and one seen there again, or on the way between (the door just come through, seen from
  its far side), is not sought (passes.py). A coast is not a pass until the robot gets there.
- off_axis: in along the target's axis, square onto it, or back out and come in again
  (axis.py: AxisApproach).
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from .axis import AxisApproach
from .behaviours import ALIGNING, ARRIVED, COASTING, SEEKING, Bid, Unseen, Wheels
from .contract import HOLD, SeekDrive
from .kinematics import wrap_angle
from .odometry import Pose
from .passes import HOME_MM, SAME_TARGET_MM, Passed, Passes


@dataclass(frozen=True)
class _Coast:
    """Driving on to a target lost from sight: to `point` (odometry mm) steered by the pose
    each cycle, or, with no pose, `bid` held (the arc through where it was last seen)."""
    bid: Bid
    until_s: float
    point: tuple[float, float] | None


# no_return_deg: the targets passed, and those seen ahead until gone by, are remembered by
# place (passes.py); one passed, seen again, is not sought (counted as PASSED).
GONE_BY = "gone_by"        # SeekRule.counts: targets passed while others drove
GAVE_UP, PASSED, GIVEN_UP = "gave_up", "ignored_passed", "ignored_given_up"   # SeekRule.counts

# A seek that gets no nearer gives its target up (a phantom the expert sees where the robot
# cannot go, a ball behind a wall): having driven the robot toward it (its bid chosen: drove())
# for GIVE_UP_S without getting PROGRESS_MM nearer than its best, a target is not sought for
# GIVEN_UP_S wherever it is seen within SAME_TARGET_MM of where it was. Time others drove
# does not count: the way-on finder, lowest in priority, waits its turn. With a pose only
# (odometry.py).
GIVE_UP_S = 10.0
PROGRESS_MM = 250.0
GIVEN_UP_S = 30.0
FORGET_S = 10.0            # a pursuit not sought this long is over (its target left alone)
DROVE_GAP_S = 0.5          # chosen again within this: the time between counts as driven
COAST_SLACK = 1.5          # a coast steered by the pose gives up after this many times the
COAST_SLACK_S = 1.0        # straight drive's time, plus this
# Seen in the demo: the way-on finder, 1.5-1.9 m from the obstacle field's exit, saw it on
# every other frame; between two sightings the idle search turned the robot away to look
# round, and it took 30 s to cross 0.3 m.
SEEN_GRACE_S = 0.6


@dataclass
class _Pursuit:
    point: tuple[float, float]
    best_mm: float
    last_s: float
    driven_s: float = 0.0              # its bid chosen, since it was last PROGRESS_MM nearer
    drove_at_s: float | None = None    # when its bid was last chosen


class SeekRule:
    _TARGET = "target"        # one target per expert: it cannot tell one ball from another

    def __init__(self, contract: SeekDrive, wheels: Wheels):
        self.contract, self.wheels, self.can_stop = contract, wheels, contract.can_stop
        self._released = Unseen(contract.rearm_s)
        self._held: Bid | None = None
        self._sighting: tuple[float, float, int | None, tuple[float, float] | None] | None = None
        #                 the last cycle's seek: (bearing rad, distance m, frame id, the
        #                 target's point in odometry mm or None), else None
        self._coast: _Coast | None = None
        self._passes = None if contract.no_return_deg is None else Passes(contract.no_return_deg)
        self._pose: Pose | None = None
        self._pursuit: _Pursuit | None = None
        self._last_seen: tuple[float, tuple[float, float], int | None] | None = None
        #                (when, the target's point in odometry mm, frame id) of the last seek
        self._given_up: list[tuple[tuple[float, float], float]] = []   # (point, until s)
        self.counts: Counter = Counter()         # GAVE_UP targets; cycles a seen target was
        #                                          ignored as PASSED or as GIVEN_UP; BACKING
        self._axis = None if contract.off_axis is None else AxisApproach(contract, wheels,
                                                                         self.counts)

    @property
    def passed(self) -> tuple[Passed, ...]:
        """The targets it passed, oldest first (no_return_deg only): the ways back."""
        return () if self._passes is None else tuple(self._passes.passed)

    @property
    def ahead(self) -> tuple[tuple[float, tuple[float, float], tuple[float, float]], ...]:
        """no_return_deg: (when, where the robot was, where it was) of targets seen lately
        and not yet gone by, oldest first: the ways on."""
        return () if self._passes is None else tuple(self._passes.ahead)

    @property
    def target(self) -> tuple[float, float] | None:
        """Where what it drives to this cycle is, in odometry mm, if known: the sighting's
        point while seeking, the coast's while coasting, the last sighting's in between."""
        if self._sighting is not None:
            return self._sighting[3]
        if self._coast is not None:
            return self._coast.point
        return None if self._last_seen is None else self._last_seen[1]

    def step(self, now_s, row, awake, frame_id, pose=None):
        c = self.contract
        self._pose = pose
        if not awake:
            self._gone_by(now_s, None)          # it cannot see, but the robot still moves
            self._held = self._coast = self._sighting = self._last_seen = None   # let go
            if self._axis is not None:
                self._axis.let_go()
            return None
        seen = row is not None and row[c.visible] > 0
        if seen and self._behind(row):
            seen = False
            self.counts[PASSED] += 1
        elif seen and self._gave_up(now_s, row):
            seen = False
            self.counts[GIVEN_UP] += 1
        if seen:
            self._released.seen(self._TARGET, now_s)
        self._gone_by(now_s, row if seen else None)
        if self._held is not None:
            return self._held
        sighting, self._sighting = self._sighting, None
        if seen and not self._released.resting(self._TARGET, now_s):
            self._coast = None
            return self._seek(now_s, row, frame_id)
        if self._coast is None and sighting is not None and row is not None:
            self._coast = self._coast_from(now_s, *sighting)    # just lost from sight
        if self._coast is None:
            return self._grace(now_s)
        bid = self._coasting(now_s)
        if bid is not None:
            return bid
        frame_id, self._coast = self._coast.bid.frame_id, None
        return self._arrived(now_s, frame_id)

    def _seek(self, now_s, row, frame_id):
        c = self.contract
        steering = self.wheels.steering_to(row[c.bearing])
        far = row[c.distance] > c.arrive_m
        if self._axis is not None:
            what = self._axis.step(now_s, row, frame_id, self._pose)
            if isinstance(what, Bid):
                self._pursuit = self._last_seen = None
                return what
            far = what != ARRIVED
            steering = what if far else 0.0          # far: the steering it aims by
        if far:
            point = self._point(row)
            self._sighting = (float(row[c.bearing]), float(row[c.distance]), frame_id, point)
            if point is not None and self._no_nearer(now_s, point, row[c.distance] * 1000.0):
                self._last_seen = None
                return None
            self._last_seen = None if point is None else (now_s, point, frame_id)
            return Bid(*self.wheels.steer(steering, c.speed), SEEKING, False, frame_id)
        self._pursuit = self._last_seen = None
        if c.aligned is not None and row[c.aligned] <= 0 and self._axis is None:
            # Close enough, not square: no nearer, only turn on the spot toward it.
            return Bid(*self.wheels.turn_in_place(steering), ALIGNING, True, frame_id)
        self._passing(float(row[c.bearing]), float(row[c.distance]) * 1000.0)
        return self._arrived(now_s, frame_id)

    def _point(self, row) -> tuple[float, float] | None:
        """Where the target of `row` is, in odometry mm (None: no pose this cycle)."""
        if self._pose is None:
            return None
        c = self.contract
        return self._pose.point_at(float(row[c.bearing]), float(row[c.distance]) * 1000.0)

    def _no_nearer(self, now_s: float, point, distance_mm: float) -> bool:
        """Track the pursuit of the target at `point`; True once it is given up."""
        p = self._pursuit
        if p is None or now_s - p.last_s > FORGET_S or math.dist(p.point, point) > SAME_TARGET_MM:
            self._pursuit = _Pursuit(point, distance_mm, now_s)
            return False
        p.point, p.last_s = point, now_s
        if distance_mm < p.best_mm - PROGRESS_MM:
            p.best_mm, p.driven_s = distance_mm, 0.0
        if p.driven_s < GIVE_UP_S:
            return False
        self._given_up.append((point, now_s + GIVEN_UP_S))
        self.counts[GAVE_UP] += 1
        self._pursuit = self._sighting = None
        return True

    def drove(self, now_s: float) -> None:
        """The arbiter chose this rule's seek this cycle: the time counts toward giving up."""
        p = self._pursuit
        if p is None:
            return
        if p.drove_at_s is not None and now_s - p.drove_at_s <= DROVE_GAP_S:
            p.driven_s += now_s - p.drove_at_s
        p.drove_at_s = now_s

    def _gave_up(self, now_s: float, row) -> bool:
        """True for a target seen where one was given up (within SAME_TARGET_MM), lately."""
        self._given_up = [(p, until) for p, until in self._given_up if now_s < until]
        point = self._point(row) if self._given_up else None
        return point is not None and any(math.dist(p, point) <= SAME_TARGET_MM
                                         for p, _ in self._given_up)

    def _coast_from(self, now_s, bearing_rad, distance_m, frame_id, point) -> _Coast | None:
        """Lost from sight at `distance_m`: the drive on to where it was, or None. With a pose,
        the bearing and distance are measured again from here (the robot may have turned or
        moved since it saw the target: another expert may have been driving)."""
        c = self.contract
        if point is not None and self._pose is not None:
            bearing_rad, distance_mm = self._pose.toward(point)
            distance_m = distance_mm / 1000.0
        else:
            point = None
        if c.coast_m is None or distance_m > c.coast_m or not abs(bearing_rad) < math.pi / 2:
            return None
        steering, seconds = self.wheels.limits.arc_through(bearing_rad, distance_m * 1000.0,
                                                           c.speed)
        if point is not None:
            seconds = COAST_SLACK * distance_m * 1000.0 / (self.wheels.limits.cruise_mm_s
                                                          * c.speed) + COAST_SLACK_S
        # Not passed yet: only once the robot has gone by the point (_gone_by), whoever drove
        # it there. Seen in the demo: a coast to a phantom (a sign board the way-on finder
        # took for a door), stopped 0.2 m short by the range guard, was remembered as a door
        # passed, and the real exit, seen 0.4 m beyond it, was ignored as the way back for 20 s.
        return _Coast(Bid(*self.wheels.steer(steering, c.speed), COASTING, False, frame_id),
                      now_s + seconds, point)

    def _grace(self, now_s: float) -> Bid | None:
        """Out of sight since a seek less than SEEN_GRACE_S ago: on toward where it was; with
        off_axis, on along the remembered axis (axis.py)."""
        if self._axis is not None:
            return self._axis.grace(now_s, self._pose)
        last = self._last_seen
        if last is None or self._pose is None or now_s - last[0] > SEEN_GRACE_S:
            self._last_seen = None
            return None
        bearing, _ = self._pose.toward(last[1])
        return Bid(*self.wheels.steer(self.wheels.steering_to(bearing), self.contract.speed),
                   SEEKING, False, last[2])

    def _coasting(self, now_s: float) -> Bid | None:
        """This cycle's coast bid, or None once the coast is over (there, or out of time)."""
        coast = self._coast
        if now_s >= coast.until_s:
            return None
        if coast.point is None or self._pose is None:
            return coast.bid                       # no pose: the arc, for its time
        bearing, distance_mm = self._pose.toward(coast.point)
        if distance_mm <= max(HOME_MM, self.contract.arrive_m * 1000.0) \
                or abs(bearing) >= math.pi / 2:    # there, or beside it: passed
            return None
        return Bid(*self.wheels.steer(self.wheels.steering_to(bearing), self.contract.speed),
                   COASTING, False, coast.bid.frame_id)

    def _behind(self, row) -> bool:
        """True for a sighting of a target passed (passes.py)."""
        if self._passes is None or self._pose is None:
            return False
        c = self.contract
        return self._passes.behind(self._pose, float(row[c.bearing]),
                                   float(row[c.distance]) * 1000.0)

    def _gone_by(self, now_s: float, row) -> None:
        """Sightings lately of targets now beside or behind the robot: passed, whoever drove
        (passes.py); `row` sees it again, or is None."""
        if self._passes is not None and self._pose is not None:
            point = None if row is None else self._point(row)
            newly = self._passes.gone_by(now_s, self._pose, point)
            if newly:
                self.counts[GONE_BY] += newly

    def _passing(self, bearing_rad: float, distance_mm: float) -> None:
        """Arrived at a target at `bearing_rad`, `distance_mm` from here: passed."""
        if self._passes is not None and self._pose is not None:
            self._passes.passing(self._pose, bearing_rad, distance_mm)

    def _arrived(self, now_s, frame_id):
        if self.contract.on_arrival == HOLD:
            self._held = Bid(0.0, 0.0, ARRIVED, True, frame_id)
            return self._held
        self._released.acted(self._TARGET, now_s)
        return None
