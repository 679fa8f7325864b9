"""The world in the shape of a Gymnasium environment, without depending on gymnasium.

    env = SimEnv(WorldConfig(course="tour", randomize=True))
    obs, info = env.reset(seed=3)                  # obs: BGR uint8 (H, W, 3); info["truth"]
    obs, reward, terminated, truncated, info = env.step((200.0, 180.0))   # wheel mm/s
    env.close()

An action is a pair of wheel setpoints in mm/s. It is sent to the reference
firmware core as a DRIVE frame, and the robot moves by what the core applied:
after env.estop() the wheels stay at zero whatever the actions say, and
`step(None)` sends nothing, so the core's watchdog stops the robot 200 ms (of
the world's virtual time) later. Each step is `frame_ms` of virtual time.

Reward: progress along the course's route (waypoints passed, fractional), minus
one per collision, plus ten on docking (which ends the episode). `observation_space`
and `action_space` have the attributes of gymnasium.spaces.Box (low, high,
shape, dtype, sample, contains); wrap the env in gymnasium.Env if your tools
want the class itself.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .truth import GroundTruth, docked
from .world import SimWorld, WorldConfig

WHEEL_LIMIT_MM_S = 500.0
COLLISION_PENALTY = 1.0
DOCKED_REWARD = 10.0


@dataclass(frozen=True)
class BoxSpace:
    """What gymnasium.spaces.Box says about a space, without the dependency."""
    low: float
    high: float
    shape: tuple[int, ...]
    dtype: type

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        if np.issubdtype(self.dtype, np.integer):
            return rng.integers(self.low, self.high, self.shape, endpoint=True).astype(self.dtype)
        return rng.uniform(self.low, self.high, self.shape).astype(self.dtype)

    def contains(self, x) -> bool:
        x = np.asarray(x)
        return x.shape == self.shape and bool(((x >= self.low) & (x <= self.high)).all())


class SimEnv:
    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, config: WorldConfig = WorldConfig(), *, frame_ms: int = 50,
                 max_steps: int = 2400):
        if frame_ms < 1 or max_steps < 1:
            raise ValueError(f"SimEnv: frame_ms ({frame_ms}) and max_steps ({max_steps}) must be >= 1")
        self.frame_ms, self.max_steps = int(frame_ms), int(max_steps)
        self.observation_space = BoxSpace(0, 255, (config.height_px, config.width_px, 3), np.uint8)
        self.action_space = BoxSpace(-WHEEL_LIMIT_MM_S, WHEEL_LIMIT_MM_S, (2,), np.float32)
        self._config = config
        self.world: SimWorld | None = None
        self._next_seed = 0
        self._obs: np.ndarray | None = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """A new episode. seed None: the seed after the last one. options: "course" (a
        name in course.COURSES), "pose" ((x mm, y mm, heading rad) instead of the start)."""
        options = dict(options or {})
        unknown = set(options) - {"course", "pose"}
        if unknown:
            raise ValueError(f"SimEnv.reset: unknown options {sorted(unknown)}; known: course, pose")
        seed = self._next_seed if seed is None else int(seed)
        self._next_seed = seed + 1
        if self.world is None:
            config = self._config
            if "course" in options:
                config = dataclasses.replace(config, course=options["course"])
            self.world = SimWorld(config, seed=seed)
        else:
            self.world.reset(seed, course=options.get("course"))
        if "pose" in options:
            self.world.place_robot(*options["pose"])
        self.host = self.world.mcu.host()
        self.host.hello()
        self.steps = 0
        self._obs = self.world.render()
        truth = self.world.truth()
        self._progress, self._collisions = self.world.progress(), truth.collisions
        return self._obs, {"truth": truth, "sent_mm_s": None}

    def step(self, action):
        """action: (left, right) wheel setpoints in mm/s, or None to send nothing."""
        if self.world is None:
            raise RuntimeError("SimEnv.step() before reset()")
        sent = None
        if action is not None:
            left, right = np.clip(np.asarray(action, float).reshape(2), -WHEEL_LIMIT_MM_S,
                                  WHEEL_LIMIT_MM_S)
            sent = self.host.drive(left, right)
        self.world.advance(self.frame_ms)
        self.steps += 1
        self._obs = self.world.render()
        truth: GroundTruth = self.world.truth()
        progress = self.world.progress()
        reward = (progress - self._progress) - COLLISION_PENALTY * (truth.collisions - self._collisions)
        self._progress, self._collisions = progress, truth.collisions
        terminated = docked(truth)
        if terminated:
            reward += DOCKED_REWARD
        truncated = self.steps >= self.max_steps and not terminated
        return self._obs, float(reward), terminated, truncated, {"truth": truth, "sent_mm_s": sent}

    def estop(self) -> None:
        """An ESTOP frame into the firmware core: the wheels stop and stay stopped."""
        self.host.estop()

    def clear(self) -> None:
        self.host.clear()

    def render(self) -> np.ndarray | None:
        return self._obs

    def close(self) -> None:
        if self.world is not None:
            self.world.close()
            self.world = None
