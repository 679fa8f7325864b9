"""Demand traces with scene-like persistence, for the simulator, tests and benchmark.

The robot crosses zones; each zone (a scene) needs one or two skills for a run
of frames. Scenes recur with skewed popularity (some zones are common), and the
activator warms a scene's experts a few frames before they fire. Other experts
carry low background warmth, and now and then a false alarm that warms an
expert which then does not fire (what keeps prefetch precision below 1).
"""
from __future__ import annotations

import numpy as np


def scene_trace(experts: list[str], n_frames: int, seed: int = 0, run_frames: tuple = (15, 60),
                lead_frames: tuple = (2, 5), experts_per_scene: tuple = (1, 2),
                zipf_s: float = 1.1, n_scenes: int | None = None,
                false_alarm_rate: float = 0.003) -> list[tuple[list[str], dict[str, float]]]:
    """`n_frames` frames of (fired, warmth)."""
    rng = np.random.default_rng(seed)
    n_scenes = n_scenes or len(experts)
    scenes = [sorted(rng.choice(len(experts), size=rng.integers(experts_per_scene[0],
                                                                 experts_per_scene[1] + 1),
                                replace=False).tolist())
              for _ in range(n_scenes)]
    weights = 1.0 / np.arange(1, n_scenes + 1) ** zipf_s
    weights /= weights.sum()
    runs = []                                            # (start frame, scene)
    t, previous = 0, -1
    while t < n_frames:
        scene = previous
        while scene == previous:
            scene = int(rng.choice(n_scenes, p=weights))
        runs.append((t, scene))
        t += int(rng.integers(run_frames[0], run_frames[1] + 1))
        previous = scene
    fired_at = [set() for _ in range(n_frames)]
    warm_at = [dict() for _ in range(n_frames)]
    for k, (start, scene_index) in enumerate(runs):
        scene = scenes[scene_index]
        end = runs[k + 1][0] if k + 1 < len(runs) else n_frames
        for f in range(start, min(end, n_frames)):
            fired_at[f].update(scene)
        lead = int(rng.integers(lead_frames[0], lead_frames[1] + 1))
        for j in range(1, lead + 1):                     # warmth rises towards the run
            f = start - j
            if f >= 0:
                for e in scene:
                    warm_at[f][e] = max(warm_at[f].get(e, 0.0), 0.9 - 0.15 * (j - 1))
    frames = []
    for f in range(n_frames):
        warmth = {}
        for i, name in enumerate(experts):
            w = float(rng.uniform(0.0, 0.3))             # background
            if rng.random() < false_alarm_rate:
                w = float(rng.uniform(0.5, 0.8))         # a false alarm
            w = max(w, warm_at[f].get(i, 0.0))
            warmth[name] = 1.0 if i in fired_at[f] else round(w, 3)
        frames.append(([experts[i] for i in sorted(fired_at[f])], warmth))
    return frames
