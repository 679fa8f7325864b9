"""Ground truth: on every frame, where the robot is, what skill the place needs, and what a
perfect expert would answer.

    truth = world.truth()            # a GroundTruth for the frame just rendered
    truth.skill, truth.ball.bearing_rad, truth.dock.aligned
    json.dumps(truth.to_json())      # one line of `spikebox sim --record`'s truth.jsonl

Conventions (the C robot's): millimetres; angles in radians, counter-clockwise
positive, so a bearing > 0 is to the robot's left and a steering > 0 turns left.
Steering is in [-1, 1]; 1 is a full turn (SteeringLimits in autopilot.py turns it
into wheel speeds). Distances are from the robot's centre (the middle of its axle).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..arbiter.kinematics import wrap_angle
from .camera import NEAR_MM, CameraView
from .layout import DOCK_STOP_MM, ROBOT_RADIUS_MM, WALL_HEIGHT_MM, Course, Zone
from .paths import GoalField
from .robot import CollisionMap
from .scene import sign_face
from .zones import DOOR_INSET_MM

SCHEMA_VERSION = 2          # 2: exit
LOOKAHEAD_MM = 300.0          # the line follower aims at the line this far ahead
STEER_FULL_RAD = 0.6          # a bearing this large (or larger) is a full turn
SIGN_READ_MM = 2000.0         # further than this a sign is not readable
FACING_COS = math.cos(math.radians(70))   # a face seen more edge-on than this is not read
# A sign face narrower than this in the frame (its own pixels) is not legible: rectified and
# matched against every sign's picture, the words' margin over the runner-up falls from
# >= 0.10 at 24 px and wider to ~0.03 below (measured on held-out drives at 160x120).
SIGN_LEGIBLE_PX = 24.0
SEE_MM = 3500.0               # the ball and the marker are not made out further away
# The obstacle expert's label (ObstacleTruth.view_steering): what a camera frame can support.
VIEW_FAN_RAD = 0.5            # headings looked along: +-this, inside the camera's half field of view
VIEW_FAN_N = 21
VIEW_FREE_MM = 1500.0         # a heading this free (or freer) is simply open
VIEW_SHARPNESS = 8.0          # softmax weight of freeness (0..1): ~e^8 between blocked and open
VIEW_WAY_PER_RAD = 1.0        # softmax penalty per radian away from the way on
EXIT_PULL_BACK = 1.2          # the exit's aim point: mm before the door per mm off its axis ...
EXIT_AHEAD_MM = 150.0         # ... but at least this far ahead of the robot (along the axis)
ALIGNED_OFFSET_MM = 40.0      # docked square: this close to the marker's axis ...
ALIGNED_HEADING_RAD = math.radians(6)     # ... and facing it this squarely


@dataclass(frozen=True)
class LineTruth:
    steering: float            # what a perfect line follower outputs
    offset_mm: float           # the line's nearest point: + left of the robot, - right
    heading_error_rad: float   # the line's direction there minus the robot's heading
    visible: bool              # some of the line is in the frame


@dataclass(frozen=True)
class SignTruth:
    visible: bool              # a sign in the frame, near enough and square enough to read
    sign_class: str | None     # layout.SIGN_CLASSES
    text: str | None           # the word on a text sign
    distance_mm: float | None
    bearing_rad: float | None
    legible: bool              # visible, its whole face in the frame and >= SIGN_LEGIBLE_PX wide
    width_px: float | None     # the face's width as the frame shows it (foreshortened), in its pixels


@dataclass(frozen=True)
class BallTruth:
    visible: bool
    bearing_rad: float | None
    distance_mm: float | None  # to the ball's centre
    colour: str | None


@dataclass(frozen=True)
class ObstacleTruth:
    steering: float            # toward the way on, round what is in the way (the autopilot's)
    clear_ahead_mm: float      # how far the robot could drive straight before touching
    view_steering: float       # toward the open way the camera's view shows, leaning to the way on


@dataclass(frozen=True)
class DockTruth:
    visible: bool
    bearing_rad: float | None
    distance_mm: float | None  # to the marker's face, on the floor
    aligned: bool              # on the marker's axis and facing it squarely
    marker_id: int | None
    # Where the robot stands off the marker's axis, seen from the marker: + when the axis
    # lies to the robot's left as it faces the marker (the axis is its outward normal).
    off_axis_rad: float | None = None


@dataclass(frozen=True)
class ExitTruth:
    """The way on out of the robot's zone: its exit door (marked by the exit posts)."""
    visible: bool              # the door's gap in the frame and in sight, within SEE_MM
    bearing_rad: float | None  # to the way through (exit_aim: onto the door's axis, then
    distance_mm: float | None  # DOOR_INSET_MM past its middle), and how far that point is


@dataclass(frozen=True)
class GroundTruth:
    frame_id: int
    t_s: float                 # the world's time (virtual or monotonic since the episode began)
    course: str
    seed: int
    zone: int
    zone_kind: str             # layout.ZONE_KINDS
    skill: str | None          # the expert this place needs; None on open floor
    x_mm: float
    y_mm: float
    heading_rad: float
    wheels_mm_s: tuple[float, float]    # measured (the robot's)
    applied_mm_s: tuple[int, int]       # what the firmware last gave the motors
    estopped: bool
    watchdog_stopped: bool
    collisions: int
    line: LineTruth | None     # line zones only
    sign: SignTruth
    ball: BallTruth
    obstacle: ObstacleTruth
    dock: DockTruth
    exit: ExitTruth
    schema: int = SCHEMA_VERSION

    def to_json(self) -> dict:
        return asdict(self)


def wrap(angle: float) -> float:
    return float(wrap_angle(angle))


TURN_ROUND_RAD = math.radians(150.0)   # the line's way on further behind than this: turn round left


def bearing(x: float, y: float, heading: float, tx: float, ty: float) -> float:
    return wrap(math.atan2(ty - y, tx - x) - heading)


def steering_for(bearing_rad: float) -> float:
    return float(np.clip(bearing_rad / STEER_FULL_RAD, -1.0, 1.0))


def _in_frame(view: CameraView, point) -> bool:
    u, v, depth = view.project(np.asarray(point, float)[None, :])
    w, h = view.camera.width_px, view.camera.height_px
    return bool(depth[0] > NEAR_MM and 0 <= u[0] <= w - 1 and 0 <= v[0] <= h - 1)


def line_truth(zone: Zone, view: CameraView, x: float, y: float, heading: float) -> LineTruth | None:
    if zone.line is None:
        return None
    pts = np.asarray(zone.line)
    d = np.hypot(pts[:, 0] - x, pts[:, 1] - y)
    i = int(np.argmin(d))
    seg = np.diff(pts, axis=0)
    j = min(i, len(seg) - 1)
    direction = math.atan2(seg[j, 1], seg[j, 0])
    side = math.cos(heading) * (pts[i, 1] - y) - math.sin(heading) * (pts[i, 0] - x)
    along = np.concatenate([[0.0], np.cumsum(np.hypot(seg[:, 0], seg[:, 1]))])
    k = int(np.searchsorted(along, along[i] + LOOKAHEAD_MM))
    target = pts[min(k, len(pts) - 1)]
    u, v, depth = view.project(np.column_stack([pts, np.zeros(len(pts))]))
    w, h = view.camera.width_px, view.camera.height_px
    visible = bool(((depth > NEAR_MM) & (u >= 0) & (u <= w - 1) & (v >= 0) & (v <= h - 1)).any())
    to_target = bearing(x, y, heading, *target)
    # Facing back along the line (the way on behind it): always turn round to the left. Either
    # way is as short there, and a side that flips with a hair of heading would teach a
    # follower the mean of a left and a right turn: straight on, back along the line.
    steering = 1.0 if abs(to_target) > TURN_ROUND_RAD else steering_for(to_target)
    return LineTruth(steering, float(math.copysign(d[i], side)), wrap(direction - heading),
                     visible)


def _face_in_frame(view: CameraView, sign) -> tuple[float, bool]:
    """The sign face's width in the frame (its top and bottom edges' mean length, pixels) and
    whether all of the face is in the frame."""
    corners, _ = sign_face(sign)
    u, v, depth = view.project(corners)
    w, h = view.camera.width_px, view.camera.height_px
    whole = bool(((depth > NEAR_MM) & (u >= 0) & (u <= w - 1) & (v >= 0) & (v <= h - 1)).all())
    width = (math.hypot(u[1] - u[0], v[1] - v[0]) + math.hypot(u[2] - u[3], v[2] - v[3])) / 2
    return float(width), whole


def sign_truth(course: Course, cmap: CollisionMap, view: CameraView, x: float, y: float,
               heading: float) -> SignTruth:
    """The sign the frame shows: the widest legible one, else the nearest visible one."""
    best = None
    for s in course.signs:
        dist = math.dist((x, y), (s.x, s.y))
        to_cam = np.array([view.C[0] - s.x, view.C[1] - s.y])
        squareness = (to_cam @ [math.cos(s.facing_rad), math.sin(s.facing_rad)]) / max(
            np.hypot(*to_cam), 1e-9)
        centre = (s.x, s.y, s.bottom_mm + s.height_mm / 2)
        if (dist <= SIGN_READ_MM and squareness >= FACING_COS and _in_frame(view, centre)
                and not cmap.blocked_between(tuple(view.C[:2]), (s.x, s.y), skip_end_mm=40.0)):
            width, whole = _face_in_frame(view, s)
            legible = whole and width >= SIGN_LEGIBLE_PX
            rank = (legible, width if legible else -dist)
            if best is None or rank > best[0]:
                best = (rank, dist, width, s)
    if best is None:
        return SignTruth(False, None, None, None, None, False, None)
    (legible, _), dist, width, s = best
    return SignTruth(True, s.sign_class, s.text, dist, bearing(x, y, heading, s.x, s.y),
                     legible, width)


def ball_truth(course: Course, cmap: CollisionMap, view: CameraView, x: float, y: float,
               heading: float) -> BallTruth:
    for ball in course.balls:
        dist = math.dist((x, y), (ball.x, ball.y))
        if (dist <= SEE_MM and _in_frame(view, (ball.x, ball.y, ball.radius_mm))
                and not cmap.blocked_between(tuple(view.C[:2]), (ball.x, ball.y),
                                             skip_end_mm=ball.radius_mm + 15)):
            return BallTruth(True, bearing(x, y, heading, ball.x, ball.y), dist, ball.colour)
    return BallTruth(False, None, None, None)


def dock_truth(course: Course, cmap: CollisionMap, view: CameraView, x: float, y: float,
               heading: float) -> DockTruth:
    for dock in course.docks:
        fx, fy = math.cos(dock.facing_rad), math.sin(dock.facing_rad)
        to_cam = np.array([view.C[0] - dock.x, view.C[1] - dock.y])
        facing = (to_cam @ [fx, fy]) / max(np.hypot(*to_cam), 1e-9)
        dist = math.dist((x, y), (dock.x, dock.y))
        if (dist <= SEE_MM and facing >= FACING_COS
                and _in_frame(view, (dock.x, dock.y, dock.marker_centre_z_mm))
                and not cmap.blocked_between(tuple(view.C[:2]), (dock.x + fx * 5, dock.y + fy * 5),
                                             skip_end_mm=20.0)):
            offset = -fy * (x - dock.x) + fx * (y - dock.y)     # across the marker's axis
            along = fx * (x - dock.x) + fy * (y - dock.y)
            squarely = abs(wrap(heading - (dock.facing_rad + math.pi))) <= ALIGNED_HEADING_RAD
            return DockTruth(True, bearing(x, y, heading, dock.x, dock.y), dist,
                             bool(abs(offset) <= ALIGNED_OFFSET_MM and squarely), dock.marker_id,
                             math.atan2(offset, along))
    return DockTruth(False, None, None, False, None)


def exit_aim(door, x: float, y: float) -> tuple[float, float]:
    """Where a robot at (x, y) steers to leave through `door`: a point on the door's axis,
    DOOR_INSET_MM past it when the robot is on the axis, and EXIT_PULL_BACK before that per
    mm the robot is off it (never nearer the door than the robot is less EXIT_AHEAD_MM), so
    the way in curves onto the axis and crosses the door square instead of clipping a post."""
    ax, ay = -door.ny, door.nx
    off_axis = abs((x - door.x) * ax + (y - door.y) * ay)
    before = (door.x - x) * door.nx + (door.y - y) * door.ny      # how far in front of the door
    t = max(DOOR_INSET_MM - EXIT_PULL_BACK * off_axis, -(before - EXIT_AHEAD_MM))
    return door.x + door.nx * t, door.y + door.ny * t


def exit_truth(zone: Zone, cmap: CollisionMap, view: CameraView, x: float, y: float,
               heading: float) -> ExitTruth:
    door = zone.exit
    if door is None:
        return ExitTruth(False, None, None)
    aim = exit_aim(door, x, y)
    dist = math.dist((x, y), aim)
    if (dist <= SEE_MM and _in_frame(view, (door.x, door.y, WALL_HEIGHT_MM / 2))
            and not cmap.blocked_between(tuple(view.C[:2]), (door.x, door.y), skip_end_mm=0.0)):
        return ExitTruth(True, bearing(x, y, heading, *aim), dist)
    return ExitTruth(False, None, None)


def obstacle_truth(cmap: CollisionMap, field: GoalField, view: CameraView, x: float, y: float,
                   heading: float) -> ObstacleTruth:
    """`steering`: along the shortest free path toward where the zone's way leads (paths.py),
    which often runs behind what the camera shows. `view_steering`: the same robot's choice
    among the headings the camera sees (a fan inside its field of view): a softmax over how
    far its disc could drive along each (up to VIEW_FREE_MM), leaning a little toward the
    way on, and its weighted mean heading as a steering. Mostly a function of the frame;
    the lean breaks ties between equally open gaps toward the way out."""
    target = field.aim(x, y)
    way = None if target is None else bearing(x, y, heading, *target)
    steering = 0.0 if way is None else steering_for(way)
    fan = min(VIEW_FAN_RAD, view.camera.half_hfov_rad)
    angles = np.linspace(-fan, fan, VIEW_FAN_N)
    free = cmap.rays(x, y, heading + angles, VIEW_FREE_MM, ROBOT_RADIUS_MM) / VIEW_FREE_MM
    lean = 0.0 if way is None else float(np.clip(way, -fan, fan))
    score = VIEW_SHARPNESS * free - VIEW_WAY_PER_RAD * np.abs(angles - lean)
    weights = np.exp(score - score.max())
    view_steering = steering_for(float(weights @ angles / weights.sum()))
    return ObstacleTruth(steering, cmap.ray(x, y, heading, 2000.0, ROBOT_RADIUS_MM), view_steering)


def docked(truth: GroundTruth) -> bool:
    """At rest in front of the marker: aligned, at the stop distance, wheels still."""
    d = truth.dock
    return (d.aligned and d.distance_mm is not None and abs(d.distance_mm - DOCK_STOP_MM) <= 60
            and max(abs(truth.wheels_mm_s[0]), abs(truth.wheels_mm_s[1])) < 5.0)


# -- what the view calls for --------------------------------------------------------------
# The zone a frame was taken in is where the robot stands; what its camera sees is often
# something else: the floor beyond a passed sign, a bare wall of the obstacle field, the next
# zone's ball through the door. Measured on held-out drives (BENCHMARKS.md, routing), a perfect
# detector of these cues that holds the last one seen names the zone on 92 % of frames at best;
# a convnet on single frames, 73 %. `cue_skill` is the per-frame answer a camera can give.
CUE_MM = 2000.0               # a ball or a marker further than this does not yet call for its expert
OBSTACLE_CUE_MM = 900.0       # something this close ahead in an obstacle field calls for the avoider


def cue_skill(truth: GroundTruth) -> str | None:
    """The skill the frame's view calls for, or None: the zone's own skill when its cue is in
    view (its line, a readable sign, its ball or marker within CUE_MM, something within
    OBSTACLE_CUE_MM ahead in an obstacle field), else the nearest other cue in view."""
    cues: dict[str, float] = {}
    if truth.line is not None and truth.line.visible:
        cues["line"] = 0.0
    if truth.sign.visible:
        cues["sign"] = truth.sign.distance_mm
    if truth.ball.visible and truth.ball.distance_mm <= CUE_MM:
        cues["ball"] = truth.ball.distance_mm
    if truth.dock.visible and truth.dock.distance_mm <= CUE_MM:
        cues["dock"] = truth.dock.distance_mm
    if truth.zone_kind == "obstacle" and truth.obstacle.clear_ahead_mm <= OBSTACLE_CUE_MM:
        cues["obstacle"] = truth.obstacle.clear_ahead_mm
    if not cues:
        return None
    if truth.skill in cues:
        return truth.skill
    return min(cues, key=cues.get)
