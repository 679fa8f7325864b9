"""The encoder's cost per frame, on one core (part of `spikebox bench activator`)."""
from __future__ import annotations

import time

import cv2
import numpy as np

from ..encoder import Encoder, EncoderConfig
from ..sim.autopilot import drive_frames


def bench_encoder(n_frames: int = 200, size: tuple[int, int] = (160, 120), *,
                  config: EncoderConfig | None = None, cv_threads: int | None = 1) -> dict:
    """Median encode time per (width, height) frame of the demo world (the autopilot
    driving the tour course from its start), after warm-up.

    `cv_threads=1` pins OpenCV to one thread for the run (restored afterwards), so the number
    is what one core gives; None leaves OpenCV's threading as it is.
    """
    frames = drive_frames(n_frames, size)
    encoder = Encoder(config)
    previous_threads = cv2.getNumThreads()
    if cv_threads is not None:
        cv2.setNumThreads(cv_threads)
    try:
        for f in frames[:10]:                     # warm-up: caches, allocator, OpenCV dispatch
            encoder.encode(f)
        encoder.reset()
        times_ms = []
        for f in frames:
            t0 = time.perf_counter()
            encoder.encode(f)
            times_ms.append((time.perf_counter() - t0) * 1e3)
    finally:
        cv2.setNumThreads(previous_threads)
    return {
        "encode_ms_per_frame": float(np.median(times_ms)),
        "encode_ms_p95": float(np.percentile(times_ms, 95)),
        "frame_size": list(size),
        "frames": n_frames,
        "inputs": encoder.n_inputs,
        "timesteps": encoder.config.timesteps,
    }
