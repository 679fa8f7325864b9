"""A scripted driver that uses the ground truth as its experts: for recording and benchmarks.

    pilot = Autopilot(world)
    left, right = pilot.act(world.truth())        # wheel setpoints, mm/s
    frames = drive_frames(200, (160, 120))        # frames of a drive through a course

In each zone it does what a perfect expert would make the robot do: follow the
line's steering, steer round obstacles toward the way on, go up to the ball and
then on, come square onto the dock's marker and stop. It reads the course (the
truth it drives by) and nothing of the renderer, so its drives are the same at
any image size.
"""
from __future__ import annotations

import math

import numpy as np

from ..arbiter.kinematics import SteeringLimits
from .layout import DOCK_STOP_MM
from .truth import GroundTruth, bearing, docked, steering_for, wrap
from .world import SimWorld, WorldConfig

BALL_CLOSE_MM = 330.0     # near enough to the ball: on to the exit


class Autopilot:
    def __init__(self, world: SimWorld, limits: SteeringLimits = SteeringLimits()):
        self.world, self.limits = world, limits
        self.wheelbase_mm = world.mcu.robot.wheelbase_mm
        self._balls_reached: set[int] = set()

    def act(self, truth: GroundTruth) -> tuple[float, float]:
        kind = truth.zone_kind
        if kind == "line" and truth.line is not None:
            return self._wheels(truth.line.steering)
        if kind == "ball" and truth.zone not in self._balls_reached:
            ball = truth.ball
            if ball.visible and ball.distance_mm > BALL_CLOSE_MM:
                return self._wheels(steering_for(ball.bearing_rad), speed=0.8)
            if ball.visible:
                self._balls_reached.add(truth.zone)
        if kind == "dock" and truth.dock.visible:
            return self._dock(truth)
        speed = {"obstacle": 0.7, "sign": 0.7}.get(kind, 1.0)
        return self._wheels(truth.obstacle.steering, speed=speed)

    def _wheels(self, steering: float, speed: float = 1.0) -> tuple[float, float]:
        return self.limits.wheels(steering, self.wheelbase_mm, speed)

    def _dock(self, truth: GroundTruth) -> tuple[float, float]:
        """Aim at a point on the marker's axis, nearer the marker as the robot closes in,
        and slow to a stop at the stop distance."""
        if docked(truth) or truth.dock.distance_mm <= DOCK_STOP_MM + 5:
            return 0.0, 0.0
        dock = next(d for d in self.world.course.docks if d.marker_id == truth.dock.marker_id)
        fx, fy = math.cos(dock.facing_rad), math.sin(dock.facing_rad)
        along = (truth.x_mm - dock.x) * fx + (truth.y_mm - dock.y) * fy
        aim = max(DOCK_STOP_MM, along - 250.0)
        target = (dock.x + fx * aim, dock.y + fy * aim)
        steer = steering_for(bearing(truth.x_mm, truth.y_mm, truth.heading_rad, *target))
        if along <= DOCK_STOP_MM + 60:   # on the axis already: only square up to the marker
            steer = steering_for(wrap(dock.facing_rad + math.pi - truth.heading_rad))
        speed = float(np.clip((truth.dock.distance_mm - DOCK_STOP_MM) / 400.0, 0.12, 0.8))
        return self._wheels(steer, speed)


def drive(world: SimWorld, frames: int, fps: float = 20.0, pilot: Autopilot | None = None):
    """Drive the world's robot by the autopilot through the firmware core, yielding
    (image, truth) for each frame: frame k at round(k * 1000 / fps) ms of virtual time."""
    pilot = pilot or Autopilot(world)
    host = world.mcu.host()
    host.hello()
    truth = None                         # set by the first frame, before any drive
    for k in range(frames):
        if k:
            host.drive(*pilot.act(truth))
            world.advance(round(k * 1000.0 / fps) - round((k - 1) * 1000.0 / fps))
        image = world.render()
        truth = world.truth()
        yield image, truth


def drive_frames(n: int, size: tuple[int, int] = (160, 120), *, course: str = "tour",
                 seed: int = 0, fps: float = 20.0, randomize: bool = False) -> list[np.ndarray]:
    """`n` frames of the autopilot driving a course from its start: a real moving scene for
    benchmarks (encoder, activator) and tests."""
    world = SimWorld(WorldConfig(course=course, width_px=size[0], height_px=size[1],
                                 randomize=randomize), seed=seed)
    try:
        return [image for image, _ in drive(world, n, fps)]
    finally:
        world.close()
