"""Made-up scenes for benchmarks: frames with motion and colour, no world behind them.

The demo world (runtime/sim/, later) will replace these where a bench needs a
real course; until then a textured floor with a bar and a ball moving over it
makes the encoder's event and static channels both speak.
"""
from __future__ import annotations

import cv2
import numpy as np


def moving_scene(n_frames: int, size: tuple[int, int]) -> list[np.ndarray]:
    """Synthetic frames: a coloured, textured floor with a bright bar and a ball moving over it."""
    w, h = size
    rng = np.random.default_rng(1)
    floor = cv2.resize(rng.integers(40, 200, (12, 16, 3), dtype=np.uint8), (w, h),
                       interpolation=cv2.INTER_NEAREST)
    frames = []
    for i in range(n_frames):
        f = floor.copy()
        x = int((i * 3 * w / 160) % w)
        cv2.rectangle(f, (x, h // 4), (x + w // 10, 3 * h // 4), (230, 230, 230), -1)
        cx = int(w / 2 + w / 3 * np.sin(i / 10))
        cv2.circle(f, (cx, h // 2), h // 8, (0, 90, 250), -1)
        frames.append(np.clip(f + rng.normal(0, 2, f.shape), 0, 255).astype(np.uint8))
    return frames
