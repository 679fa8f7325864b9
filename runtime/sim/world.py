"""The demo world: a course, a robot the firmware drives, a camera, and the truth of every frame.

    world = SimWorld(WorldConfig(course="tour", width_px=160, height_px=120), seed=0)
    host = world.mcu.host(); host.hello()
    host.drive(200, 200)            # wheel setpoints into the firmware core, as a Link sends them
    world.advance(50)               # 50 ms of firmware ticks and C physics (virtual time)
    image = world.render()          # what the camera sees now (BGR uint8)
    truth = world.truth()           # the same frame's ground truth (truth.py)

The robot's pose lives in C (firmware/host/sim_robot.c, inside the firmware
core's SimMcu): the motors move it, the world's after-step hook keeps it out of
solids, and every render reads it back through the C accessor under the MCU's
lock. The world never moves the robot itself except to place it (reset,
constructed poses). Same seed and same calls give the same frames, byte for byte:
the episode draws from default_rng(seed), frame k's noise and shake from
default_rng([seed, k]).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from spikebox.firmware_bridge.sim_mcu import SimMcu

from .camera import CameraMount, CameraView, PinholeCamera
from .course import DEFAULT_COURSE, build_course, course_spec
from .layout import CELL_MM, Course, Zone
from .paths import GoalField
from .randomize import Look, draw_look
from .render import Renderer
from .robot import CollisionMap, RobotBody
from .truth import (GroundTruth, ball_truth, dock_truth, exit_truth, line_truth, obstacle_truth,
                    sign_truth)

WAYPOINT_REACHED_MM = 250.0


@dataclass(frozen=True)
class WorldConfig:
    course: str = DEFAULT_COURSE
    width_px: int = 160
    height_px: int = 120
    hfov_deg: float = 70.0
    mount: CameraMount = field(default_factory=CameraMount)
    randomize: bool = False          # domain randomisation (training); off for evaluation

    def __post_init__(self):
        course_spec(self.course)     # an unknown course is refused here, with the list
        PinholeCamera(self.width_px, self.height_px, self.hfov_deg)   # and a bad size


class SimWorld:
    def __init__(self, config: WorldConfig = WorldConfig(), seed: int = 0):
        self.config = config
        self.camera = PinholeCamera(config.width_px, config.height_px, config.hfov_deg)
        self._body: RobotBody | None = None
        self.reset(seed)

    # -- episodes -----------------------------------------------------------------------
    def reset(self, seed: int, course: str | None = None) -> None:
        """A new episode: the course built from `seed`, the look drawn from it, the robot
        at the start on a fresh firmware core (clock at 0 ms, wheels still)."""
        if course is not None and course != self.config.course:
            self.config = dataclasses.replace(self.config, course=course)
        self.seed = int(seed)
        rng = np.random.default_rng(self.seed)
        self.course: Course = build_course(self.config.course, self.seed)
        self.look: Look = draw_look(rng, self.config.randomize, self.config.mount)
        self.renderer = Renderer(self.course, self.camera, self.look, rng)
        if self._body is not None:
            self._body.close()
        self._body = RobotBody(self.course, CollisionMap(self.course))
        self._body.place(*self._start_pose(rng))
        self.frame_id = -1            # the id of the last frame rendered
        self.route_index = 0
        self._view: CameraView | None = None
        self._fields: dict[int, GoalField] = {}

    def _start_pose(self, rng: np.random.Generator) -> tuple[float, float, float]:
        x, y, heading = self.course.start
        j, jr = self.look.start_jitter_mm, self.look.start_jitter_rad
        if j or jr:
            dx, dy, dh = rng.uniform(-j, j), rng.uniform(-j, j), rng.uniform(-jr, jr)
            if self._body.map.free(x + dx, y + dy):
                return x + dx, y + dy, heading + dh
        return x, y, heading

    def close(self) -> None:
        if self._body is not None:
            self._body.close()

    # -- the robot ----------------------------------------------------------------------
    @property
    def mcu(self) -> SimMcu:
        """The firmware core driving the robot: mcu.host() in-process, or serve_pty()."""
        return self._body.mcu

    @property
    def t_ms(self) -> int:
        return self.mcu.now_ms

    @property
    def collisions(self) -> int:
        return self._body.collisions

    @property
    def collision_map(self) -> CollisionMap:
        return self._body.map

    def advance(self, ms: int) -> None:
        """Virtual time: `ms` firmware ticks, each with 1 ms of physics and collisions."""
        self.mcu.advance(ms)

    def pose(self) -> tuple[float, float, float]:
        return self._body.pose()

    def range_mm(self) -> float:
        """What the robot's range sensor measures now (robot.py): how far its body could drive
        straight on before it touches a solid, up to the sensor's reach."""
        return self._body.range_mm()

    def place_robot(self, x_mm: float, y_mm: float, heading_rad: float) -> None:
        """Put the robot at a constructed pose, wheels stopped."""
        self._body.place(x_mm, y_mm, heading_rad)
        self.route_index = self._nearest_waypoint(x_mm, y_mm)

    def zone(self) -> Zone:
        x, y, _ = self.pose()
        return self.course.zone_at(x, y) or self.course.zones[0]

    # -- frames -------------------------------------------------------------------------
    def render(self, frame_id: int | None = None) -> np.ndarray:
        """The camera's frame at the robot's pose now, as frame `frame_id` (default: the
        next id; a source pacing frames by the clock skips ids the way a camera would)."""
        self.frame_id = self.frame_id + 1 if frame_id is None else int(frame_id)
        frame_rng = np.random.default_rng([self.seed, self.frame_id])
        self._view = self._camera_view(self.pose(), frame_rng)
        return self.renderer.render(self._view, frame_rng)

    def _camera_view(self, pose, frame_rng: np.random.Generator) -> CameraView:
        mount = self.look.mount
        if self.look.frame_jitter_deg:
            dyaw, dtilt, droll = frame_rng.normal(0.0, self.look.frame_jitter_deg, 3)
            mount = dataclasses.replace(mount, yaw_deg=mount.yaw_deg + dyaw,
                                        tilt_deg=max(0.0, mount.tilt_deg + dtilt),
                                        roll_deg=mount.roll_deg + droll)
        return CameraView.from_pose(self.camera, mount, *pose)

    def view(self) -> CameraView:
        """The camera as the last frame saw it (as it would see now, if none yet)."""
        return self._view or CameraView.from_pose(self.camera, self.look.mount, *self.pose())

    # -- truth --------------------------------------------------------------------------
    def truth(self) -> GroundTruth:
        """The ground truth of the last frame rendered (pose and camera as it saw them)."""
        x, y, heading = self.pose()
        zone = self.course.zone_at(x, y) or self.course.zones[0]
        view, cmap = self.view(), self.collision_map
        self._advance_route(x, y)
        mcu = self.mcu
        return GroundTruth(
            frame_id=self.frame_id, t_s=self.t_ms / 1000.0, course=self.course.name,
            seed=self.seed, zone=zone.index, zone_kind=zone.kind, skill=zone.skill,
            x_mm=x, y_mm=y, heading_rad=heading, wheels_mm_s=self._body.wheels_mm_s(),
            applied_mm_s=mcu.applied_mm_s, estopped=mcu.estopped,
            watchdog_stopped=mcu.watchdog_stopped, collisions=self.collisions,
            line=line_truth(zone, view, x, y, heading),
            sign=sign_truth(self.course, cmap, view, x, y, heading),
            ball=ball_truth(self.course, cmap, view, x, y, heading),
            obstacle=obstacle_truth(cmap, self._goal_field(zone), view, x, y, heading),
            dock=dock_truth(self.course, cmap, view, x, y, heading),
            exit=exit_truth(zone, cmap, view, x, y, heading))

    def _goal_field(self, zone: Zone) -> GoalField:
        """Shortest paths to where this zone's way leads, over it and the zone after."""
        if zone.index not in self._fields:
            cells = [zone] + ([self.course.zones[zone.index + 1]] if zone.exit is not None else [])
            bounds = (min(z.x0 for z in cells), min(z.y0 for z in cells),
                      max(z.x0 for z in cells) + CELL_MM, max(z.y0 for z in cells) + CELL_MM)
            self._fields[zone.index] = GoalField(self.collision_map, self.course.goals[zone.index],
                                                 bounds)
        return self._fields[zone.index]

    def progress(self) -> float:
        """How far along the course's route the robot has come, in waypoints (fractional)."""
        x, y, _ = self.pose()
        route = self.course.route
        i = self.route_index
        if i == 0:
            return 0.0
        a, b = route[i - 1], route[i]
        span = math.dist((a.x, a.y), (b.x, b.y))
        done = 1.0 - min(math.dist((x, y), (b.x, b.y)) / max(span, 1e-9), 1.0)
        return i - 1 + done

    def _advance_route(self, x: float, y: float) -> None:
        """The next waypoint is the first one neither reached nor passed."""
        route = self.course.route
        while self.route_index < len(route) - 1:
            here, after = route[self.route_index], route[self.route_index + 1]
            passed = (x - here.x) * (after.x - here.x) + (y - here.y) * (after.y - here.y) > 0
            if math.dist((x, y), (here.x, here.y)) >= WAYPOINT_REACHED_MM and not passed:
                break
            self.route_index += 1

    def _nearest_waypoint(self, x: float, y: float) -> int:
        d = [math.dist((x, y), (w.x, w.y)) for w in self.course.route]
        return int(np.argmin(d))
