"""The demo world: a video-game course the robot drives through when no camera is attached.

    from spikebox.runtime.sim import SimEnv, SimWorld, WorldConfig
    env = SimEnv(WorldConfig(course="tour", randomize=True))   # Gymnasium-shaped
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step((200, 200))   # wheel setpoints mm/s
    info["truth"].skill, info["truth"].ball.bearing_rad                # the frame's ground truth

Data path step 1 (a source, beside the camera; runtime/source/sim.py puts it
behind the capture contract as `--source sim`). The robot is moved by the
reference firmware core's motor outputs through the C kinematics of
firmware/host/sim_robot.c (spikebox.firmware_bridge.sim_mcu); the world
(course.py, zones.py) keeps it out of its walls and solids (robot.py), draws
what its forward-tilted pinhole camera sees with OpenCV (camera.py, floor.py,
scene.py, render.py), varies the look for training (randomize.py) and says on
every frame what skill the place needs and what a perfect expert would answer
(truth.py).
"""
from .camera import CameraMount, PinholeCamera
from .course import COURSES, DEFAULT_COURSE, build_course
from .env import BoxSpace, SimEnv
from .layout import SIGN_CLASSES, SKILL_OF_ZONE, SKILLS, ZONE_KINDS
from .randomize import Look
from .truth import GroundTruth
from .world import SimWorld, WorldConfig

__all__ = ["COURSES", "DEFAULT_COURSE", "SIGN_CLASSES", "SKILLS", "SKILL_OF_ZONE", "ZONE_KINDS",
           "BoxSpace", "CameraMount", "GroundTruth", "Look", "PinholeCamera", "SimEnv",
           "SimWorld", "WorldConfig", "build_course"]
