"""The robot in the world: the firmware's motor outputs move it, the world's solids stop it.

    body = RobotBody(course)            # a SimMcu (firmware core + C sim_robot) on virtual time
    body.mcu.host().drive(200, 200)     # or a Link over body.mcu.serve_pty(...)
    body.mcu.advance(33)                # 33 ms of firmware ticks and physics
    body.pose()                         # (x mm, y mm, heading rad), read from C

The kinematics are firmware/host/sim_robot.c's, reached through
spikebox.firmware_bridge (one implementation, in C). What the world adds runs
after every millisecond of physics: if the robot's disc now overlaps a wall or
a solid, it goes back to where it last stood free, its wheels stop there (the
setpoints stay: a robot pushing a wall stays pinned to it), and the contact is
counted once until it has backed off.

The world also gives the robot its range sensor: every RANGE_PERIOD_MS it measures how far the
robot could drive straight ahead before a wall or a solid comes into its path (a corridor
RANGE_WIDTH of its radius to either side of its centre line, from the centre line forward),
and the C robot reports that in its telemetry's range_mm: a multi-zone time-of-flight sensor
across the robot's front (such as a VL53L5), read by the MCU as the nearest return in the
robot's path. Without it the sensor would see only the outer walls of the C robot's room.
The path is a little wider than the body (a margin): a narrower one let the robot graze a
door post at its flank while it turned a little toward it (seen in the demo, twice in a
run). What is beside or behind the centre line is not in the path: a robot against a wall
reads clear once it faces away from it, and so never turns on the spot for ever.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from spikebox.firmware_bridge.core_lib import SimRobot
from spikebox.firmware_bridge.sim_mcu import SimMcu

from .layout import ROBOT_RADIUS_MM, Course

GRID_MM = 10.0            # the collision grid
_RELEASE_MM = 10.0        # a contact ends once the robot stands this much clear again
RANGE_PERIOD_MS = 20      # the range sensor measures at 50 Hz
RANGE_WIDTH = 1.1         # the range sensor's path: this share of the robot's radius either side


class CollisionMap:
    """Where a robot's centre may stand: the distance from every 10 mm cell to the
    nearest solid (walls, solids, sign boards, balls), and rays through it."""

    def __init__(self, course: Course, grid_mm: float = GRID_MM):
        self.grid_mm = grid_mm
        self.solid = _rasterise(course, grid_mm)
        self.clearance_mm = cv2.distanceTransform((~self.solid).astype(np.uint8), cv2.DIST_L2,
                                                  cv2.DIST_MASK_PRECISE) * grid_mm
        self._rows, self._cols = self.solid.shape
        rows, cols = np.nonzero(self.solid)               # cell centres, for path_clear
        self._solid_x, self._solid_y = cols * grid_mm, rows * grid_mm

    def _cell(self, x_mm: float, y_mm: float) -> tuple[int, int]:
        col = min(max(int(round(x_mm / self.grid_mm)), 0), self._cols - 1)
        row = min(max(int(round(y_mm / self.grid_mm)), 0), self._rows - 1)
        return row, col

    def clearance(self, x_mm: float, y_mm: float) -> float:
        """mm from (x, y) to the nearest solid (0 inside one)."""
        return float(self.clearance_mm[self._cell(x_mm, y_mm)])

    def free(self, x_mm: float, y_mm: float, radius_mm: float = ROBOT_RADIUS_MM) -> bool:
        return self.clearance(x_mm, y_mm) >= radius_mm

    def ray(self, x_mm: float, y_mm: float, angle_rad: float, max_mm: float,
            radius_mm: float = 0.0) -> float:
        """How far a disc of `radius_mm` slides from (x, y) along angle_rad before it
        touches a solid (max_mm if it never does): sphere tracing on the clearance."""
        c, s = math.cos(angle_rad), math.sin(angle_rad)
        travelled = 0.0
        while travelled < max_mm:
            room = self.clearance(x_mm + c * travelled, y_mm + s * travelled) - radius_mm
            if room <= 0.0:
                return travelled
            travelled += max(room, self.grid_mm / 2)
        return max_mm

    def path_clear(self, x_mm: float, y_mm: float, angle_rad: float, max_mm: float,
                   half_width_mm: float) -> float:
        """How far (x, y) moves along angle_rad before a solid enters the corridor of
        `half_width_mm` either side of its line, ahead of (x, y) (max_mm if none does): a
        disc of that radius sliding on, blind to what is already beside or behind it."""
        c, s = math.cos(angle_rad), math.sin(angle_rad)
        dx, dy = self._solid_x - x_mm, self._solid_y - y_mm
        along = dx * c + dy * s
        side = np.abs(dy * c - dx * s)
        ahead = (along > 0.0) & (side < half_width_mm) & (along < max_mm + half_width_mm)
        if not ahead.any():
            return max_mm
        hit = along[ahead] - np.sqrt(half_width_mm ** 2 - side[ahead] ** 2)
        return float(min(max(hit.min(), 0.0), max_mm))

    def rays(self, x_mm: float, y_mm: float, angles_rad: np.ndarray, max_mm: float,
             radius_mm: float = 0.0) -> np.ndarray:
        """`ray` along each of `angles_rad` at once (the same sphere tracing, vectorised)."""
        angles = np.asarray(angles_rad, float)
        c, s = np.cos(angles), np.sin(angles)
        travelled = np.zeros(angles.shape)
        hit = np.zeros(angles.shape, bool)
        going = travelled < max_mm
        while going.any():
            col = np.clip(np.round((x_mm + c * travelled) / self.grid_mm).astype(int), 0, self._cols - 1)
            row = np.clip(np.round((y_mm + s * travelled) / self.grid_mm).astype(int), 0, self._rows - 1)
            room = self.clearance_mm[row, col].astype(float) - radius_mm
            hit |= going & (room <= 0.0)
            going &= ~hit
            travelled = np.where(going, travelled + np.maximum(room, self.grid_mm / 2), travelled)
            going &= travelled < max_mm
        return np.where(hit, travelled, max_mm)

    def blocked_between(self, a: tuple[float, float], b: tuple[float, float],
                        skip_end_mm: float = 0.0) -> bool:
        """Does a solid stand on the segment a-b (leaving out its last skip_end_mm)?"""
        length = math.dist(a, b) - skip_end_mm
        if length <= 0:
            return False
        n = int(length / (self.grid_mm / 2)) + 1
        t = np.linspace(0.0, length / max(math.dist(a, b), 1e-9), n)
        xs = a[0] + (b[0] - a[0]) * t
        ys = a[1] + (b[1] - a[1]) * t
        cols = np.clip(np.round(xs / self.grid_mm).astype(int), 0, self._cols - 1)
        rows = np.clip(np.round(ys / self.grid_mm).astype(int), 0, self._rows - 1)
        return bool(self.solid[rows, cols].any())


def _rasterise(course: Course, grid_mm: float) -> np.ndarray:
    """The solid cells (rows = y / grid, cols = x / grid, cell centres on multiples of grid)."""
    rows, cols = int(course.height_mm / grid_mm) + 1, int(course.width_mm / grid_mm) + 1
    solid = np.zeros((rows, cols), np.uint8)

    def px(x, y):
        return int(round(x / grid_mm * 16)), int(round(y / grid_mm * 16))

    for w in course.walls:
        cv2.line(solid, px(w.x0, w.y0), px(w.x1, w.y1), 1, 1, cv2.LINE_8, 4)
    for prism in course.prisms:
        cv2.fillConvexPoly(solid, np.array([px(x, y) for x, y in prism.footprint], np.int32), 1,
                           cv2.LINE_8, 4)
    for sign in course.signs:
        dx, dy = -math.sin(sign.facing_rad), math.cos(sign.facing_rad)
        half = sign.width_mm / 2
        cv2.line(solid, px(sign.x - dx * half, sign.y - dy * half),
                 px(sign.x + dx * half, sign.y + dy * half), 1, 2, cv2.LINE_8, 4)
    for ball in course.balls:
        cv2.circle(solid, px(ball.x, ball.y), int(round(ball.radius_mm / grid_mm * 16)), 1, -1,
                   cv2.LINE_8, 4)
    solid[0, :] = solid[-1, :] = solid[:, 0] = solid[:, -1] = 1   # the course's outer walls
    return solid.astype(bool)


class RobotBody:
    """The SimMcu whose robot the world keeps out of its solids (module docstring)."""

    def __init__(self, course: Course, collision_map: CollisionMap | None = None,
                 radius_mm: float = ROBOT_RADIUS_MM):
        self.map = collision_map or CollisionMap(course)
        self.radius_mm = radius_mm
        self.collisions = 0
        self._in_contact = False
        self._last_free = course.start[:2]
        self._range_due_ms = 0
        self.mcu = SimMcu(after_step=self._keep_out_of_solids)
        self.mcu.robot.set_room(course.width_mm, course.height_mm)
        self.place(*course.start)

    def place(self, x_mm: float, y_mm: float, heading_rad: float) -> None:
        """Put the robot somewhere (a reset, a test's constructed pose), wheels stopped."""
        with self.mcu.lock:
            self.mcu.robot.place(x_mm, y_mm, heading_rad)
            self.mcu.robot.halt_wheels()
            self._last_free = (x_mm, y_mm)
            self._in_contact = not self.map.free(x_mm, y_mm, self.radius_mm)
            self._range_due_ms = 0
            self._measure_range(self.mcu.robot)

    def pose(self) -> tuple[float, float, float]:
        with self.mcu.lock:
            return self.mcu.robot.pose()

    def wheels_mm_s(self) -> tuple[float, float]:
        with self.mcu.lock:
            left, right, _, _ = self.mcu.robot.wheels()
        return left, right

    def range_mm(self) -> float:
        """What the range sensor measures now (module docstring): mm the robot could drive
        straight on before something is in its way, or the sensor's reach."""
        with self.mcu.lock:
            return self._cast_range(self.mcu.robot, self.mcu.robot.range_max_mm)

    def _cast_range(self, robot: SimRobot, reach_mm: float) -> float:
        x, y, heading = robot.pose()
        return self.map.path_clear(x, y, heading, reach_mm, RANGE_WIDTH * self.radius_mm)

    def _measure_range(self, robot: SimRobot) -> None:
        # one past the reach when nothing is in it: the C side reads that as SB_RANGE_NONE
        robot.set_range(self._cast_range(robot, robot.range_max_mm + 1.0))

    def _keep_out_of_solids(self, robot: SimRobot) -> None:
        self._range_due_ms -= 1
        if self._range_due_ms <= 0:
            self._range_due_ms = RANGE_PERIOD_MS
            self._measure_range(robot)
        x, y, heading = robot.pose()
        room = self.map.clearance(x, y) - self.radius_mm
        if room < 0.0:
            robot.place(self._last_free[0], self._last_free[1], heading)
            robot.halt_wheels()
            if not self._in_contact:
                self.collisions += 1
                self._in_contact = True
            return
        self._last_free = (x, y)
        if room > _RELEASE_MM:
            self._in_contact = False

    def close(self) -> None:
        self.mcu.close()
