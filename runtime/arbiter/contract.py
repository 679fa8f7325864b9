"""An expert's drive contract: how its output columns drive the robot (ExpertEntry.drive).

    "drive": {"seek": {"output": "cat", "visible": 0, "bearing": 1, "distance": 2,
                       "arrive_m": 0.33, "on_arrival": "release"}}

    contract = read_as(DriveContract, data, "drive")   # or Invalid naming the key
    contract.check_outputs(entry.outputs)             # its columns inside the declared shapes
    contract.summary()                                # one line, for `spikebox inspect`

An output's `meaning` is prose for people; this is what the arbiter reads. A
contract names exactly one behaviour from a closed vocabulary, the output
tensor it reads (one row: every dim but the last is 1 or dynamic) and which
of that row's columns mean what:

- steer:   a steering in [-1, 1] (+ turns left) driven at a share of the cruise
           speed; with a clear-ahead column (m) and stop_within_m, a way ahead
           shorter than that stops the robot (it may turn in place, never go on),
           and with yield_beyond_m, a way ahead clearer than that leaves the
           driving to lower priorities; with a visible column (logit), it says
           nothing unless that is > 0 (a line follower that sees no line).
- seek:    visible (logit, > 0 seen), bearing (rad, + left), distance (m), and
           optionally aligned (logit): steer to the target until arrive_m, then
           hold (stop there: a dock) or release (done: others drive, and the
           target is not sought again until it has been out of sight rearm_s);
           with coast_m, a target lost from sight within that distance is
           driven to where it was last seen (a door passes out of the camera's
           view before the robot is through it), then arrived at. With an off_axis
           column (rad: where the robot stands off the target's axis, seen from the
           target; + when the axis lies to its left as it faces the target) it comes
           in along the axis, as a dock is approached, and arrives only square on it
           (off the axis and askew by square_deg at most); arrived off the axis, it
           backs out and comes in again.
- classes: logits over named classes (one a column); the top class, by at least
           `margin` over the next, does its action: stop (stand hold_s, then go
           on), turn_left / turn_right (turn for turn_s), or none; a class acts
           again only once it has been out of sight rearm_s.

An expert without a contract is run and logged, never driven by. The arbiter
(decide.py) and its memory (behaviours.py, seek.py) give these words their effect.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from ..schema import MISSING, Invalid, at_least, join

STEER, SEEK, CLASSES = "steer", "seek", "classes"
BEHAVIOURS = (STEER, SEEK, CLASSES)
HOLD, RELEASE = "hold", "release"                 # what a seek does on arrival
ARRIVALS = (HOLD, RELEASE)
STOP, TURN_LEFT, TURN_RIGHT, NONE = "stop", "turn_left", "turn_right", "none"
CLASS_ACTIONS = (STOP, TURN_LEFT, TURN_RIGHT, NONE)

CLASS_NAME_RULE = "1 to 64 ASCII letters, digits, '-' or '_'"
_CLASS_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


class _Behaviour:
    """What every behaviour has: the output it reads and the fields that name its columns."""

    output: str
    speed: float
    COLUMNS: tuple[str, ...] = ()                 # fields holding a column index (or None)

    def _check_common(self) -> None:
        at_least(self, 0, *self.COLUMNS)
        if not 0.0 < self.speed <= 1.0:
            raise Invalid("speed", self.speed, "a share of the cruise speed, > 0 and <= 1")
        for name in ("rearm_s", "hold_s", "turn_s", "arrive_m", "stop_within_m",
                     "yield_beyond_m", "coast_m"):
            value = getattr(self, name, None)
            if value is not None and not value > 0:
                raise Invalid(name, value, "a number > 0")

    def columns(self) -> dict[str, int]:
        """Column field -> index, for the columns it reads."""
        return {n: getattr(self, n) for n in self.COLUMNS if getattr(self, n) is not None}

    def check_columns(self, count: int, shape: Sequence) -> None:
        """Its columns are distinct and inside the `count` columns of its output."""
        seen: dict[int, str] = {}
        for name, col in self.columns().items():
            if col >= count:
                raise Invalid(name, col, f"a column of output '{self.output}': 0 to "
                              f"{count - 1} (its shape is {list(shape)})")
            if col in seen:
                raise Invalid(name, col, f"a column no other key names ({seen[col]} is "
                              f"column {col} too)")
            seen[col] = name

    def _at(self, name: str) -> str:
        return f"{self.output}[{getattr(self, name)}]"


@dataclass(frozen=True, kw_only=True)
class SteerDrive(_Behaviour):
    """A steering column drives: a line follower; with clear_ahead, an obstacle avoider."""
    output: str
    steering: int                          # column: steering in [-1, 1], + turns left
    speed: float = 1.0                     # share of the robot's cruise speed, (0, 1]
    clear_ahead: int | None = None         # column: the clear way straight ahead, m
    stop_within_m: float | None = None     # clear_ahead below this: no forward motion
    yield_beyond_m: float | None = None    # clear_ahead beyond this: it says nothing, and
                                           # lower priorities drive (an avoider that acts
                                           # only near something)
    visible: int | None = None             # column: a logit; <= 0, it says nothing (what it
                                           # steers by is not in view: awake by mistake)
    COLUMNS = ("steering", "clear_ahead", "visible")

    def __post_init__(self):
        self._check_common()
        if self.clear_ahead is not None and self.stop_within_m is None:
            raise Invalid("stop_within_m", MISSING, "a distance in m > 0: below it the robot "
                          "stops (clear_ahead is given)")
        if self.stop_within_m is not None and self.clear_ahead is None:
            raise Invalid("clear_ahead", MISSING, "the column of the clear way ahead in m "
                          "(stop_within_m is given)")
        if self.yield_beyond_m is not None:
            if self.clear_ahead is None:
                raise Invalid("clear_ahead", MISSING, "the column of the clear way ahead in m "
                              "(yield_beyond_m is given)")
            if not self.yield_beyond_m > self.stop_within_m:
                raise Invalid("yield_beyond_m", self.yield_beyond_m,
                              f"a distance in m > stop_within_m ({self.stop_within_m:g})")

    @property
    def can_stop(self) -> bool:
        return self.clear_ahead is not None

    def quiet(self, row) -> bool:
        """True when this row gives it nothing to do: what it steers by is not in view, or
        (an avoider) nothing is near."""
        return (self.visible is not None and not row[self.visible] > 0) or \
            (self.yield_beyond_m is not None and row[self.clear_ahead] > self.yield_beyond_m)

    def summary(self) -> str:
        text = f"steer by {self._at('steering')} at {self.speed:g} of cruise"
        if self.visible is not None:
            text += f" while {self._at('visible')} > 0 (else silent)"
        if self.clear_ahead is not None:
            text += (f"; under {self.stop_within_m:g} m clear ahead ({self._at('clear_ahead')})"
                     f" it stops and turns in place (a safety stop)")
        if self.yield_beyond_m is not None:
            text += f"; beyond {self.yield_beyond_m:g} m clear it yields to lower priorities"
        return text


@dataclass(frozen=True, kw_only=True)
class SeekDrive(_Behaviour):
    """Go to a target it sees: a ball to touch and leave (release), a dock to stop at (hold)."""
    output: str
    visible: int                           # column: logit, > 0: the target is seen
    bearing: int                           # column: rad, + left
    distance: int                          # column: m
    aligned: int | None = None             # column: logit, > 0: square on the target; given,
                                           # arrival needs it (else it turns in place)
    off_axis: int | None = None            # column: rad, where the robot stands off the
                                           # target's axis seen from it (+: the axis lies to
                                           # the robot's left); given, it comes in along it
    square_deg: float = 4.0                # off_axis: arrived only this square (off the
                                           # axis, and turned from it, by no more)
    arrive_m: float                        # arrived at this distance or nearer
    on_arrival: str                        # HOLD: stop there while awake; RELEASE: let go
    speed: float = 1.0                     # share of the robot's cruise speed, (0, 1]
    rearm_s: float = 3.0                   # release: sought again once unseen this long
    coast_m: float | None = None           # lost from sight while sought, nearer than this:
                                           # driven on to where it was last seen, then arrived
                                           # at (None: lost is lost, others drive)
    no_return_deg: float | None = None     # once past a target (a coast through it started,
                                           # it arrived, or it went by while others drove),
                                           # it is not sought again: one seen
                                           # within this many degrees of where a passed one
                                           # is, and about as far, is taken for it (the door
                                           # it came in by; odometry from the MCU's telemetry)
    COLUMNS = ("visible", "bearing", "distance", "aligned", "off_axis")

    def __post_init__(self):
        self._check_common()
        if not 0 < self.square_deg < 45:
            raise Invalid("square_deg", self.square_deg, "an angle in degrees, > 0 and < 45")
        if self.on_arrival not in ARRIVALS:
            raise Invalid("on_arrival", self.on_arrival, " or ".join(map(repr, ARRIVALS)))
        if self.coast_m is not None and not self.coast_m > self.arrive_m:
            raise Invalid("coast_m", self.coast_m, f"a distance in m > arrive_m "
                          f"({self.arrive_m:g}): nearer than arrive_m it has arrived")
        if self.no_return_deg is not None and not 0 < self.no_return_deg < 180:
            raise Invalid("no_return_deg", self.no_return_deg, "an angle in degrees, > 0 and "
                          "< 180 (180 would ignore every target once one is passed)")

    @property
    def can_stop(self) -> bool:
        return self.on_arrival == HOLD or self.aligned is not None

    def quiet(self, row) -> bool:
        """True when this row gives it nothing to do: its target is not seen."""
        return not row[self.visible] > 0

    def summary(self) -> str:
        cols = ", ".join(f"{n} {self._at(n)}" for n in self.columns())
        then = ("holds (stops there while awake: a safety stop)" if self.on_arrival == HOLD
                else f"releases (not sought again until unseen {self.rearm_s:g} s)")
        square = ", squared up (aligned > 0; else it turns in place)" if self.aligned is not None else ""
        if self.off_axis is not None:
            square += (f", in along the target's axis ({self._at('off_axis')}) and square on it "
                       f"within {self.square_deg:g} deg (else it backs out and comes in again)")
        coast = (f"; lost from sight within {self.coast_m:g} m, it drives on to where it was "
                 f"last seen" if self.coast_m is not None else "")
        back = (f"; once past a target, it is not sought again (one within "
                f"{self.no_return_deg:g} deg of where a passed one is, about as far)"
                if self.no_return_deg is not None else "")
        return (f"seek by {cols} at {self.speed:g} of cruise; arrives within "
                f"{self.arrive_m:g} m{square}, then {then}{coast}{back}")


@dataclass(frozen=True, kw_only=True)
class ClassesDrive(_Behaviour):
    """Logits over named classes, one a column; the confident top class does its action."""
    output: str
    names: tuple[str, ...]                 # the class of each column, in order
    actions: dict[str, str]                # class -> CLASS_ACTIONS; a class left out: none
    margin: float = 1.0                    # top logit over the next below this: nothing done
    hold_s: float = 2.0                    # stop: stand this long (a safety stop), then go on
    turn_s: float = 1.0                    # turn_left / turn_right: turn this long
    speed: float = 1.0                     # share of the robot's cruise speed in a turn
    rearm_s: float = 3.0                   # a class acts again only once unseen this long

    def __post_init__(self):
        self._check_common()
        at_least(self, 0, "margin")
        if len(self.names) < 2:
            raise Invalid("names", list(self.names), "2 or more class names, one a column")
        for i, name in enumerate(self.names):
            if not _CLASS_NAME.fullmatch(name):
                raise Invalid(join("names", i), name, f"a class name: {CLASS_NAME_RULE}")
            if name in self.names[:i]:
                raise Invalid(join("names", i), name, "a class name not given before")
        for name, action in self.actions.items():
            if name not in self.names:
                raise Invalid(join("actions", name), action,
                              f"a key that is one of the class names: {', '.join(self.names)}")
            if action not in CLASS_ACTIONS:
                raise Invalid(join("actions", name), action,
                              " or ".join(map(repr, CLASS_ACTIONS)))
        if all(a == NONE for a in self.actions.values()):
            raise Invalid("actions", self.actions, f"at least one class mapped to "
                          f"{STOP!r}, {TURN_LEFT!r} or {TURN_RIGHT!r}")

    def check_columns(self, count: int, shape: Sequence) -> None:
        if len(self.names) != count:
            raise Invalid("names", list(self.names), f"{count} class names, one for each column "
                          f"of output '{self.output}' (its shape is {list(shape)})")

    @property
    def can_stop(self) -> bool:
        return STOP in self.actions.values()

    def action(self, name: str) -> str:
        return self.actions.get(name, NONE)

    def top_class(self, row) -> str | None:
        """The class whose logit leads the next by the margin, or None."""
        best = int(np.argmax(row))
        runner_up = np.max(np.delete(row, best))
        return self.names[best] if row[best] - runner_up >= self.margin else None

    def quiet(self, row) -> bool:
        """True when this row gives it nothing to do: no confident class, or one that does
        nothing (no sign legible)."""
        top = self.top_class(row)
        return top is None or self.action(top) == NONE

    def summary(self) -> str:
        acts = ", ".join(
            f"{n} -> {a}" + (f" {self.hold_s:g} s" if a == STOP else f" {self.turn_s:g} s"
                             if a in (TURN_LEFT, TURN_RIGHT) else "")
            for n, a in self.actions.items() if a != NONE)
        return (f"classes {self.output}[0..{len(self.names) - 1}] = {', '.join(self.names)}; "
                f"{acts}; when the top logit leads by >= {self.margin:g}")


@dataclass(frozen=True, kw_only=True)
class DriveContract:
    """Exactly one behaviour, under its name: {"steer": {...}}, {"seek": {...}} or
    {"classes": {...}}."""
    steer: SteerDrive | None = None
    seek: SeekDrive | None = None
    classes: ClassesDrive | None = None

    def __post_init__(self):
        given = [b for b in BEHAVIOURS if getattr(self, b) is not None]
        if not given:
            raise Invalid(STEER, MISSING, f"one behaviour, a key {', '.join(BEHAVIOURS[:-1])} "
                          f"or {BEHAVIOURS[-1]}")
        if len(given) > 1:
            raise Invalid(given[1], asdict(getattr(self, given[1])),
                          f"no second behaviour beside {given[0]!r}: a drive contract has one")

    @property
    def name(self) -> str:
        return next(b for b in BEHAVIOURS if getattr(self, b) is not None)

    @property
    def behaviour(self) -> SteerDrive | SeekDrive | ClassesDrive:
        return getattr(self, self.name)

    def check_outputs(self, outputs: Sequence) -> None:
        """Invalid (keyed below this contract, e.g. `seek.bearing`) unless its output is one
        of `outputs` (OutputEntry), of one row of fixed columns, and its columns fit."""
        b, at = self.behaviour, self.name
        by_name = {o.name: o for o in outputs}
        if b.output not in by_name:
            raise Invalid(join(at, "output"), b.output,
                          f"the name of one of the expert's outputs: {', '.join(by_name)}")
        shape = by_name[b.output].shape
        if not shape or not isinstance(shape[-1], int) or shape[-1] < 1:
            raise Invalid(join(at, "output"), b.output, f"an output whose last dim is a fixed "
                          f"number of columns (its shape is {list(shape)})")
        if any(isinstance(d, int) and d != 1 for d in shape[:-1]):
            raise Invalid(join(at, "output"), b.output, f"an output of one row: every dim but "
                          f"the last 1 or dynamic (its shape is {list(shape)})")
        try:
            b.check_columns(shape[-1], shape)
        except Invalid as e:
            raise e.under(at) from None

    def summary(self) -> str:
        return self.behaviour.summary()
