"""The world as an environment: actions go through the firmware core, walls stop the robot,
an ESTOP or the watchdog stops it in the world, and the Gymnasium shape holds."""
import math

import numpy as np
import pytest

from spikebox.runtime.sim import SimEnv, WorldConfig
from spikebox.runtime.sim.autopilot import Autopilot
from spikebox.runtime.sim.layout import ROBOT_RADIUS_MM


def pose_of(info) -> tuple[float, float, float]:
    t = info["truth"]
    return t.x_mm, t.y_mm, t.heading_rad


def run(env: SimEnv, action, steps: int):
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(action)
    return info


def test_walls_are_solid_a_collision_stops_the_robot_and_is_counted_once():
    env = SimEnv(WorldConfig(course="tour"))
    # Open floor, 400 mm from the west wall, facing it.
    _, info = env.reset(seed=0, options={"pose": (400.0, 1000.0, math.pi)})
    info = run(env, (200, 200), 40)                     # 2 s at 200 mm/s: into the wall
    truth = info["truth"]
    assert truth.collisions == 1
    assert truth.x_mm >= ROBOT_RADIUS_MM - 10          # held outside the wall ...
    pinned = pose_of(info)
    info = run(env, (200, 200), 20)                     # ... pushing on, going nowhere,
    assert pose_of(info)[:2] == pytest.approx(pinned[:2], abs=2.0)
    assert info["truth"].collisions == 1                # and counted once while in contact
    info = run(env, (-150, -150), 10)                   # back off, then in again: a second one
    assert info["truth"].x_mm > pinned[0] + 30
    info = run(env, (200, 200), 30)
    assert info["truth"].collisions == 2
    env.close()


def test_an_estop_into_the_core_stops_the_robot_in_the_world():
    env = SimEnv(WorldConfig(course="tour"))
    env.reset(seed=0)
    info = run(env, (200, 200), 20)
    assert info["truth"].applied_mm_s == (200, 200)
    moving = pose_of(info)
    env.estop()
    info = run(env, (200, 200), 10)                     # the host keeps asking for 200 mm/s
    truth = info["truth"]
    assert truth.estopped and truth.applied_mm_s == (0, 0) and info["sent_mm_s"] == (200, 200)
    stopped = pose_of(info)
    assert stopped[0] > moving[0]                       # it rolled on while the wheels stopped
    info = run(env, (200, 200), 20)
    assert pose_of(info) == stopped and info["truth"].wheels_mm_s == (0.0, 0.0)
    env.clear()
    info = run(env, (200, 200), 10)
    assert pose_of(info)[0] > stopped[0] + 50 and not info["truth"].estopped
    env.close()


def test_the_watchdog_stops_the_robot_after_200_ms_of_virtual_silence():
    env = SimEnv(WorldConfig(course="tour"), frame_ms=50)
    env.reset(seed=0)
    run(env, (150, 150), 10)                            # the last DRIVE opens a 50 ms step
    info = run(env, None, 2)                            # 150 ms since it
    assert not info["truth"].watchdog_stopped and info["truth"].applied_mm_s == (150, 150)
    info = run(env, None, 2)                            # 250 ms
    assert info["truth"].watchdog_stopped and info["truth"].applied_mm_s == (0, 0)
    info = run(env, None, 8)                            # the wheels' lag runs out
    stopped = pose_of(info)
    info = run(env, None, 20)
    assert pose_of(info) == stopped
    info = run(env, (150, 150), 10)                     # a fresh DRIVE starts it again
    assert pose_of(info)[0] > stopped[0] + 50
    env.close()


def test_gymnasium_shape_spaces_reset_and_step():
    env = SimEnv(WorldConfig(width_px=64, height_px=48), frame_ms=40, max_steps=5)
    obs, info = env.reset(seed=11)
    assert env.observation_space.shape == (48, 64, 3) and env.observation_space.contains(obs)
    assert env.action_space.shape == (2,)
    assert env.action_space.contains(env.action_space.sample(np.random.default_rng(0)))
    assert info["truth"].frame_id == 0 and info["truth"].t_s == 0.0
    again, _ = env.reset(seed=11)
    assert again.tobytes() == obs.tobytes()
    _, info_next = env.reset()                          # no seed: the next one
    assert info_next["truth"].seed == 12
    env.reset(seed=11)
    for k in range(5):
        obs, reward, terminated, truncated, info = env.step((300, 300))
        assert info["truth"].t_s == pytest.approx(0.04 * (k + 1))
    assert truncated and not terminated and reward > 0   # driving the course is progress
    _, info = env.reset(seed=0, options={"course": "short"})
    assert info["truth"].course == "short" and info["truth"].zone_kind == "line"
    with pytest.raises(ValueError, match="unknown options"):
        env.reset(options={"speed": 3})
    env.close()


def test_docking_ends_the_episode_with_its_reward():
    env = SimEnv(WorldConfig(course="short"), max_steps=1500)
    _, info = env.reset(seed=2)
    pilot = Autopilot(env.world)
    total, terminated = 0.0, False
    while not terminated:
        _, reward, terminated, truncated, info = env.step(pilot.act(info["truth"]))
        total += reward
        assert not truncated
    assert info["truth"].dock.aligned and info["truth"].collisions == 0
    assert total > 10 + 10       # the docking reward and the route's waypoints
    env.close()
