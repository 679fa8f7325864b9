"""A camera frame becomes an image expert's input, as its manifest entry says.

Data path: source → … → pager → **experts** (this, before `session.run`) → arbiter.
Export uses the same function to turn calibration frames into int8
calibration feeds, so the robot and the quantiser see identical tensors.

    from spikebox.runtime.experts.preprocess import frame_to_tensor
    x = frame_to_tensor(frame, entry["preprocessing"], entry["inputs"][0])
    session.run(None, {entry["inputs"][0]["name"]: x})

`preprocessing` keys (all optional): `size` [w, h] (resized with
cv2.INTER_AREA; default: the input's static height and width), `colour`
"bgr" (OpenCV's order, default) or "rgb", `scale` (default 1.0), `mean` and
`std` (three values each, in the model's channel order). Pixels become
`(pixel * scale - mean) / std`, the torchvision order (ToTensor, then
Normalize). The layout is read from the input's shape: NCHW when dim 1 is 3,
NHWC when the last dim is 3; batch 1. Whatever cannot be mapped is a
ValueError that says why.
"""
from __future__ import annotations

import cv2
import numpy as np

_KEYS = {"size", "colour", "scale", "mean", "std"}


def _spec_parts(spec) -> tuple[str, list, np.dtype]:
    """(name, shape, dtype) of a TensorSpec or a manifest input dict."""
    if isinstance(spec, dict):
        name, shape, dtype = spec.get("name", "?"), spec.get("shape"), spec.get("dtype", "float32")
    else:
        name, shape, dtype = spec.name, spec.shape, spec.dtype
    try:
        return name, list(shape), np.dtype(dtype)
    except TypeError:
        raise ValueError(f"input '{name}': dtype {dtype!r} is not a numpy dtype") from None


def _static(d) -> int | None:
    return d if isinstance(d, int) and d > 0 else None


def _per_channel(preprocessing: dict, key: str, name: str) -> np.ndarray | None:
    value = preprocessing.get(key)
    if value is None:
        return None
    arr = np.asarray(value, dtype=np.float32).reshape(-1)
    if arr.size != 3:
        raise ValueError(f"input '{name}': preprocessing '{key}' needs 3 values (one per "
                         f"channel), got {value!r}")
    if key == "std" and np.any(arr == 0):
        raise ValueError(f"input '{name}': preprocessing 'std' {value!r} has a zero")
    return arr


def frame_to_tensor(frame_bgr_uint8: np.ndarray, preprocessing: dict | None, input_spec
                    ) -> np.ndarray:
    """One BGR uint8 frame (H, W, 3) → a batch-1 tensor for `input_spec` (NCHW or NHWC)."""
    pre = dict(preprocessing or {})
    name, shape, dtype = _spec_parts(input_spec)
    unknown = set(pre) - _KEYS
    if unknown:
        raise ValueError(f"input '{name}': unknown preprocessing keys {sorted(unknown)} "
                         f"(known: {sorted(_KEYS)})")
    frame = np.asarray(frame_bgr_uint8)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"input '{name}': expects a BGR uint8 frame (height, width, 3), got "
                         f"{frame.dtype} {frame.shape}")
    if len(shape) != 4:
        raise ValueError(f"input '{name}' has shape {shape}: not an image input (rank 4 with a "
                         f"3-channel dim); feed it tensors instead")
    if shape[1] == 3:
        layout, (h_dim, w_dim) = "NCHW", (shape[2], shape[3])
    elif shape[3] == 3:
        layout, (h_dim, w_dim) = "NHWC", (shape[1], shape[2])
    else:
        raise ValueError(f"input '{name}' has shape {shape}: neither dim 1 (NCHW) nor the last "
                         f"dim (NHWC) is 3 colour channels")
    if _static(shape[0]) not in (None, 1):
        raise ValueError(f"input '{name}' has a fixed batch of {shape[0]}; frames are fed one "
                         f"at a time (batch 1)")

    size = pre.get("size")
    if size is not None:
        try:
            w, h = (int(v) for v in size)
        except (TypeError, ValueError):
            raise ValueError(f"input '{name}': preprocessing 'size' must be [width, height], "
                             f"got {size!r}") from None
        if w <= 0 or h <= 0:
            raise ValueError(f"input '{name}': preprocessing 'size' {size!r} must be positive")
        for got, want, what in ((h, _static(h_dim), "height"), (w, _static(w_dim), "width")):
            if want is not None and got != want:
                raise ValueError(f"input '{name}' ({layout} {shape}) has {what} {want}, but "
                                 f"preprocessing 'size' is {size!r} ([width, height])")
    else:
        h = _static(h_dim) or frame.shape[0]
        w = _static(w_dim) or frame.shape[1]
    if (frame.shape[0], frame.shape[1]) != (h, w):
        frame = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)

    colour = pre.get("colour", "bgr")
    if colour == "rgb":
        frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    elif colour != "bgr":
        raise ValueError(f"input '{name}': preprocessing 'colour' must be 'bgr' or 'rgb', "
                         f"not {colour!r}")

    scale = float(pre.get("scale", 1.0))
    mean, std = _per_channel(pre, "mean", name), _per_channel(pre, "std", name)
    if dtype.kind == "f":
        x = frame.astype(np.float32) * np.float32(scale)
        if mean is not None:
            x -= mean
        if std is not None:
            x /= std
        x = x.astype(dtype, copy=False)
    elif dtype == np.uint8:
        if scale != 1.0 or mean is not None or std is not None:
            raise ValueError(f"input '{name}' takes uint8 pixels; 'scale', 'mean' and 'std' "
                             f"need a float input")
        x = frame
    else:
        raise ValueError(f"input '{name}' has dtype {dtype.name}; frames map to float or "
                         f"uint8 inputs only")
    if layout == "NCHW":
        x = x.transpose(2, 0, 1)
    return np.ascontiguousarray(x[np.newaxis])
