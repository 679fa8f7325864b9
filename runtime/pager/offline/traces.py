"""Demand traces with scene-like persistence, for the simulator, tests and benchmark.

The robot crosses zones; each zone (a scene) needs one or two skills for a run
of frames. Scenes recur with skewed popularity (some zones are common), and the
activator warms a scene's experts a few frames before they fire. Other experts
carry low background warmth, and now and then a false alarm that warms an
expert which then does not fire (what keeps prefetch precision below 1).

By default each next scene is drawn by popularity alone. Given `transitions`
(course_transitions: a course that visits zones in a fixed order, as the demo
world's do), the next scene is drawn from the current one's row instead: an
order a policy can learn.
"""
from __future__ import annotations

import numpy as np


def scene_trace(experts: list[str], n_frames: int, seed: int = 0, run_frames: tuple = (15, 60),
                lead_frames: tuple = (2, 5), experts_per_scene: tuple = (1, 2),
                zipf_s: float = 1.1, n_scenes: int | None = None,
                false_alarm_rate: float = 0.003, transitions: np.ndarray | None = None
                ) -> list[tuple[list[str], dict[str, float]]]:
    """`n_frames` frames of (fired, warmth).

    transitions: (n_scenes, n_scenes) row-stochastic, zero diagonal: P(next scene |
    scene); the first scene still goes by popularity. None: popularity only (and the
    same frames as before the option existed)."""
    rng = np.random.default_rng(seed)
    n_scenes = n_scenes or len(experts)
    if transitions is not None:
        transitions = np.asarray(transitions, dtype=float)
        if (transitions.shape != (n_scenes, n_scenes) or (transitions < 0).any()
                or not np.allclose(transitions.sum(axis=1), 1.0) or transitions.diagonal().any()):
            raise ValueError(f"transitions must be {n_scenes}x{n_scenes}, rows summing to 1, "
                             "zero diagonal (a scene's run never follows itself)")
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
        if transitions is not None and previous >= 0:
            scene = int(rng.choice(n_scenes, p=transitions[previous]))
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


def course_transitions(n_scenes: int, on_course: float = 0.8, seed: int = 0) -> np.ndarray:
    """A course: scenes in a fixed cyclic order (drawn from `seed`); from each, the next on
    the course with probability `on_course`, else any other scene alike (a detour)."""
    if not 0.0 <= on_course <= 1.0 or n_scenes < 2:
        raise ValueError("on_course must be in [0, 1] and n_scenes >= 2")
    order = np.random.default_rng(seed).permutation(n_scenes)
    detour = (1.0 - on_course) / (n_scenes - 1)
    matrix = np.full((n_scenes, n_scenes), detour)
    np.fill_diagonal(matrix, 0.0)
    for a, b in zip(order, np.roll(order, -1)):
        matrix[a, b] += on_course
    return matrix
