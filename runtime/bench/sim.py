"""`spikebox bench sim`: how fast the demo world renders, on one core.

    from spikebox.runtime.bench.sim import run_sim_bench, format_table
    print(format_table(run_sim_bench()))

Rendering only: the robot is placed at poses of an autopilot drive through the
"tour" course (every zone, sampled evenly), and only `SimWorld.render()` is
timed (floor warp, walls, solids, signs, ball, dock, camera faults; no physics,
no truth). One core: the process is pinned to one CPU for the run
(os.sched_setaffinity) and OpenCV to one thread (cv2.setNumThreads(1)); numpy's
element-wise work is single-threaded, and pinning holds any BLAS thread to that
same core. Both restored afterwards. Wall-clock figures are measured here,
never asserted in tests (STYLE.md).
"""
from __future__ import annotations

import contextlib
import os
import time

import cv2
import numpy as np

from spikebox.runtime.sim.autopilot import drive
from spikebox.runtime.sim.world import SimWorld, WorldConfig

from .targets import Target, render, stamp

SIZES = ((160, 120), (640, 480))
COURSE, SEED = "tour", 0
TARGETS = (Target("fps_160x120", ">=", 200.0),)   # issue #10


@contextlib.contextmanager
def one_core():
    """Pin this process to one CPU and OpenCV to one thread; yields the CPU's number."""
    had_affinity = hasattr(os, "sched_setaffinity")
    before = os.sched_getaffinity(0) if had_affinity else None
    threads = cv2.getNumThreads()
    cpu = min(before) if before else None
    try:
        if had_affinity:
            os.sched_setaffinity(0, {cpu})
        cv2.setNumThreads(1)
        yield cpu
    finally:
        cv2.setNumThreads(threads)
        if had_affinity:
            os.sched_setaffinity(0, before)


def drive_poses(n: int) -> list[tuple[float, float, float]]:
    """n poses spread evenly over an autopilot drive of the whole course."""
    world = SimWorld(WorldConfig(course=COURSE, width_px=32, height_px=24), seed=SEED)
    try:
        poses = [(t.x_mm, t.y_mm, t.heading_rad) for _, t in drive(world, 1600)]
    finally:
        world.close()
    pick = np.linspace(0, len(poses) - 1, n).round().astype(int)
    return [poses[i] for i in pick]


def time_renders(size: tuple[int, int], poses, randomize: bool = False) -> list[float]:
    """Seconds per render() at each pose (after a warm-up pass over the first 20)."""
    world = SimWorld(WorldConfig(course=COURSE, width_px=size[0], height_px=size[1],
                                 randomize=randomize), seed=SEED)
    try:
        for pose in poses[:20]:
            world.place_robot(*pose)
            world.render()
        out = []
        for pose in poses:
            world.place_robot(*pose)
            t0 = time.perf_counter()
            world.render()
            out.append(time.perf_counter() - t0)
        return out
    finally:
        world.close()


def run_sim_bench(frames: int = 400) -> dict:
    poses = drive_poses(frames)
    result: dict = {"frames": frames, "course": COURSE, "seed": SEED, "opencv_threads": 1}
    with one_core() as cpu:
        result["cpu"] = cpu
        for (w, h) in SIZES:
            times = np.array(time_renders((w, h), poses))
            result[f"fps_{w}x{h}"] = float(len(times) / times.sum())
            result[f"ms_p50_{w}x{h}"] = float(np.median(times) * 1e3)
            result[f"ms_p95_{w}x{h}"] = float(np.percentile(times, 95) * 1e3)
        times = np.array(time_renders(SIZES[0], poses, randomize=True))
        result["fps_160x120_randomized"] = float(len(times) / times.sum())
    return stamp(result, TARGETS)


def format_table(r: dict) -> str:
    rows = []
    for w, h in SIZES:
        rows += [(f"{w}x{h}: frames per second", f"{r[f'fps_{w}x{h}']:.0f}",
                  "fps_160x120" if (w, h) == (160, 120) else None),
                 (f"{w}x{h}: ms per frame p50 / p95",
                  f"{r[f'ms_p50_{w}x{h}']:.2f} / {r[f'ms_p95_{w}x{h}']:.2f}", None)]
    rows.append(("160x120, domain randomisation on: fps", f"{r['fps_160x120_randomized']:.0f}",
                 None))
    rows.append(("frames (poses of a drive through every zone)", str(r["frames"]), None))
    return render(f"spikebox bench sim (rendering only, one core: CPU {r['cpu']}, 1 OpenCV "
                  "thread)", rows, TARGETS, r)
