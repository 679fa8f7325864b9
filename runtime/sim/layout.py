"""The demo world's vocabulary: what a course is made of, in millimetres on the floor.

Frame: x east, y north, z up, millimetres; headings in radians counter-clockwise
from +x (the C robot's convention, firmware/host/sim_robot.c). A course is a grid of
square cells, one zone each, joined by doors; everything in it is immutable once
built (course.py builds it, zones.py furnishes each zone from the seed).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

CELL_MM = 2000.0          # one zone: a square room this wide
DOOR_MM = 900.0           # the gap between two consecutive zones
WALL_HEIGHT_MM = 300.0
ROBOT_RADIUS_MM = 110.0   # the robot's footprint as a disc (150 mm wheelbase + wheels)

# Zone kinds, and the skill (expert) each one needs; open floor needs none.
ZONE_KINDS = ("open", "line", "sign", "ball", "obstacle", "dock")
SKILLS = ("line", "sign", "ball", "obstacle", "dock")
SKILL_OF_ZONE = {"open": None, "line": "line", "sign": "sign", "ball": "ball",
                 "obstacle": "obstacle", "dock": "dock"}
# The demo box's expert for each skill (tools/recipes/ trains them under these names).
DEMO_EXPERT_OF_SKILL = {"line": "line_follow", "sign": "sign_read", "ball": "ball_find",
                        "obstacle": "obstacle_avoid", "dock": "dock"}

# Signs: two arrows, stop, and text signs whose word is a message to read.
SIGN_CLASSES = ("arrow_left", "arrow_right", "stop", "word_dock", "word_ball", "word_line")
SIGN_WORDS = {"word_dock": "DOCK", "word_ball": "BALL", "word_line": "LINE"}

BALL_COLOURS = {  # name -> BGR
    "orange": (20, 120, 245), "red": (40, 40, 215), "blue": (210, 110, 30),
    "yellow": (30, 215, 235), "green": (60, 170, 40), "purple": (160, 50, 140),
}
# Exit posts: a pair flanking each door on the side of the zone it leaves, lower than the wall
# so that from the zone it enters they hide behind it: the way on is something a camera sees.
EXIT_POST_BGR = (225, 205, 30)     # cyan: no ball, obstacle or floor of the world is this colour
EXIT_POST_MM = 80.0                # square footprint
EXIT_POST_HEIGHT_MM = 240.0        # below WALL_HEIGHT_MM
ARUCO_DICTIONARY = "DICT_4X4_50"   # cv2.aruco predefined dictionary of the dock markers
DOCK_STOP_MM = 400.0               # robot centre to marker face when docked
# The line track's arrows: a chevron ("V" pointing the way the course runs) every so far along
# the line, so a camera on the line can tell which way it runs (a plain line looks the same
# both ways, and a follower woken facing back led the robot back to the start).
LINE_CHEVRON_EVERY_MM = 250.0
LINE_CHEVRON_ARM_MM = 70.0         # each arm, from the tip back at CHEVRON_ANGLE to the line
LINE_CHEVRON_ANGLE_DEG = 40.0


Point = tuple[float, float]


@dataclass(frozen=True)
class Wall:
    """A thin vertical wall from (x0, y0) to (x1, y1), standing on the floor."""
    x0: float
    y0: float
    x1: float
    y1: float
    height_mm: float = WALL_HEIGHT_MM


@dataclass(frozen=True)
class Prism:
    """A solid standing on the floor: a convex footprint (counter-clockwise) raised to a
    height. Obstacles (boxes, cylinders as 12-gons) and the dock's body are prisms."""
    footprint: tuple[Point, ...]
    height_mm: float
    colour_bgr: tuple[int, int, int]

    @property
    def centre(self) -> Point:
        xs, ys = zip(*self.footprint)
        return sum(xs) / len(xs), sum(ys) / len(ys)


@dataclass(frozen=True)
class Sign:
    """A board on a short post; its face looks along `facing_rad` (toward who reads it)."""
    x: float
    y: float
    facing_rad: float
    sign_class: str
    width_mm: float = 240.0
    height_mm: float = 170.0
    bottom_mm: float = 60.0

    def __post_init__(self):
        if self.sign_class not in SIGN_CLASSES:
            raise ValueError(f"Sign.sign_class {self.sign_class!r} is not one of {SIGN_CLASSES}")

    @property
    def text(self) -> str | None:
        return SIGN_WORDS.get(self.sign_class)


@dataclass(frozen=True)
class Ball:
    x: float
    y: float
    radius_mm: float
    colour: str

    @property
    def colour_bgr(self) -> tuple[int, int, int]:
        return BALL_COLOURS[self.colour]


@dataclass(frozen=True)
class Dock:
    """A docking station against a wall: an ArUco marker on its front face.
    (x, y) is the middle of the front face on the floor; `facing_rad` its outward normal."""
    x: float
    y: float
    facing_rad: float
    marker_id: int
    marker_mm: float = 150.0
    marker_centre_z_mm: float = 115.0
    width_mm: float = 320.0
    depth_mm: float = 120.0
    height_mm: float = 220.0

    def body(self) -> Prism:
        fx, fy = math.cos(self.facing_rad), math.sin(self.facing_rad)
        sx, sy = -fy, fx    # along the face, to the left when facing it from the front
        w, d = self.width_mm / 2, self.depth_mm
        pts = [(self.x - sx * w, self.y - sy * w), (self.x + sx * w, self.y + sy * w),
               (self.x + sx * w - fx * d, self.y + sy * w - fy * d),
               (self.x - sx * w - fx * d, self.y - sy * w - fy * d)]
        return Prism(tuple(pts), self.height_mm, (70, 70, 80))


@dataclass(frozen=True)
class Door:
    """The gap between two consecutive zones: its middle, and the unit normal pointing
    the way the course runs (out of the earlier zone, into the later)."""
    x: float
    y: float
    nx: float
    ny: float


@dataclass(frozen=True)
class Zone:
    index: int
    kind: str
    x0: float                    # the cell's south-west corner, mm
    y0: float
    entry: Door | None           # None: the course starts here
    exit: Door | None            # None: the course ends here
    line: tuple[Point, ...] | None = None   # the track's centreline (line zones)

    @property
    def skill(self) -> str | None:
        return SKILL_OF_ZONE[self.kind]

    @property
    def centre(self) -> Point:
        return self.x0 + CELL_MM / 2, self.y0 + CELL_MM / 2

    def contains(self, x: float, y: float) -> bool:
        return self.x0 <= x < self.x0 + CELL_MM and self.y0 <= y < self.y0 + CELL_MM


@dataclass(frozen=True)
class Waypoint:
    x: float
    y: float
    zone: int


@dataclass(frozen=True)
class Course:
    """One built course: its zones, and everything solid or visible in them."""
    name: str
    seed: int
    cols: int
    rows: int
    zones: tuple[Zone, ...]
    walls: tuple[Wall, ...]
    prisms: tuple[Prism, ...]     # obstacles and dock bodies
    signs: tuple[Sign, ...]
    balls: tuple[Ball, ...]
    docks: tuple[Dock, ...]
    start: tuple[float, float, float]   # x mm, y mm, heading rad
    route: tuple[Waypoint, ...]         # the way through, door by door: progress, the autopilot
    goals: tuple[Point, ...]            # per zone, where its way leads: past its exit door,
                                        # or (the last zone) the course's end

    @property
    def width_mm(self) -> float:
        return self.cols * CELL_MM

    @property
    def height_mm(self) -> float:
        return self.rows * CELL_MM

    def zone_at(self, x: float, y: float) -> Zone | None:
        return next((zone for zone in self.zones if zone.contains(x, y)), None)
