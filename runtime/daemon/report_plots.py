"""The run report's plots, made with matplotlib on its Agg canvas (no display, no pyplot state).

    plots = plot_all(recording, out_dir)    # name -> {"file", "size_px"} or {"skipped": why}

- raster.png     the activator's spikes per expert per frame (and, in the sim, the zone)
- residency.png  which expert was resident when, and why: pinned, paged in on demand (it was
                 awake), prefetched; with the frames each one fired on
- latency.png    capture -> DRIVE written, per frame answered, with p50 and p99
- path.png       the robot's path over the course map (the sim only); report.json keeps where
                 the map's axes lie in the image and their limits in mm, so a pixel can be
                 traced back to the floor
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from spikebox.firmware_bridge.link_types import percentile
from spikebox.runtime.files import atomic_write
from spikebox.runtime.sim.layout import BALL_COLOURS, CELL_MM, ZONE_KINDS, Course

from .record import Recording

DPI = 100
FIGURE_IN = {"raster": (10.0, 4.0), "residency": (10.0, 4.0), "latency": (7.0, 4.0),
             "path": (9.0, 7.0)}
SIZE_PX = {name: (round(w * DPI), round(h * DPI)) for name, (w, h) in FIGURE_IN.items()}
# Why an expert came to be resident (pager.ResidencyChange.why), in legend order.
RESIDENCY_WHY = ("pinned", "resident", "demand", "prefetch")
_WHY_LABEL = {"pinned": "pinned", "resident": "resident at start",
              "demand": "paged in on demand (awake)", "prefetch": "prefetched (warming)"}
_WHY_COLOUR = {"pinned": "tab:purple", "resident": "tab:gray", "demand": "tab:blue",
               "prefetch": "tab:orange"}
_ZONE_COLOUR = {"open": "#dddddd", "line": "#8fbf8f", "sign": "#f2d07a", "ball": "#f2a07a",
                "obstacle": "#b0a0d0", "dock": "#80b0e0"}
PATH_COLOUR = "#d01010"
PATH_AXES = (0.07, 0.16, 0.9, 0.76)         # the map's axes in the figure: left, bottom, w, h


def _figure(name: str):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=FIGURE_IN[name], dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: Path) -> dict:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    atomic_write(path, buffer.getvalue(), durable=False)
    return {"file": path.name, "size_px": list(fig.canvas.get_width_height())}


def _t0(recording: Recording) -> float:
    started = recording.meta.get("started_s")
    return started if started is not None else recording.frames[0].t_s


def plot_all(recording: Recording, out: Path) -> dict:
    if not recording.frames:
        return {name: {"skipped": "no frames recorded"} for name in FIGURE_IN}
    truths = [f.truth for f in recording.frames if f.truth is not None]
    plots = {"raster": plot_raster(recording, out / "raster.png"),
             "residency": plot_residency(recording, out / "residency.png"),
             "latency": plot_latency(recording, out / "latency.png")}
    sim = recording.meta.get("sim")
    if sim is None or not truths:
        plots["path"] = {"skipped": "the source has no ground truth (not the sim): the robot's "
                                    "path is not known, so there is no path plot"}
    else:
        from spikebox.runtime.sim.course import build_course
        course = build_course(sim["course"], sim["seed"])
        plots["path"] = plot_path(course, truths, out / "path.png")
    return plots


def _edges(t: np.ndarray) -> np.ndarray:
    """Cell edges around sample times (frames come unevenly)."""
    if len(t) == 1:
        return np.array([t[0] - 0.5, t[0] + 0.5])
    mid = (t[1:] + t[:-1]) / 2
    return np.concatenate([[2 * t[0] - mid[0]], mid, [2 * t[-1] - mid[-1]]])


def plot_raster(recording: Recording, path: Path) -> dict:
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch
    frames, names = recording.frames, recording.experts
    t = np.array([f.t_s for f in frames]) - _t0(recording)
    spikes = np.array([f.spikes for f in frames], dtype=float).T        # experts x frames
    fig = _figure("raster")
    truths = [f.truth for f in frames]
    with_zone = all(tr is not None for tr in truths)
    if with_zone:
        top, ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 9]})
        kinds = np.array([[ZONE_KINDS.index(tr["zone_kind"]) for tr in truths]])
        top.pcolormesh(_edges(t), [0, 1], kinds, vmin=-0.5, vmax=len(ZONE_KINDS) - 0.5,
                       cmap=ListedColormap([_ZONE_COLOUR[k] for k in ZONE_KINDS]))
        top.set_yticks([0.5], ["zone"])
        top.legend(handles=[Patch(color=_ZONE_COLOUR[k], label=k) for k in ZONE_KINDS],
                   ncol=len(ZONE_KINDS), fontsize=7, loc="lower right",
                   bbox_to_anchor=(1.0, 1.0), frameon=False)
    else:
        ax = fig.subplots()
    mesh = ax.pcolormesh(_edges(t), np.arange(len(names) + 1) - 0.5, spikes, cmap="Greys",
                         vmin=0, vmax=max(1.0, spikes.max()))
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel("time since start (s)")
    fig.colorbar(mesh, ax=ax, label="unit spikes / frame", pad=0.01)
    fig.suptitle(f"activator spikes: {len(frames)} frames, {len(names)} experts", fontsize=10)
    return _save(fig, path)


def residency_intervals(recording: Recording, t_end: float) -> list[tuple[str, str, float, float]]:
    """(expert, why, from_s, to_s) for every stretch an expert was resident."""
    open_since: dict[str, tuple[float, str]] = {}
    out = []
    for change in recording.residency:
        if change.resident:
            open_since.setdefault(change.expert, (change.t_s, change.why))
        elif change.expert in open_since:
            t0, why = open_since.pop(change.expert)
            out.append((change.expert, why, t0, change.t_s))
    out += [(name, why, t0, max(t_end, t0)) for name, (t0, why) in open_since.items()]
    return out


def _end_s(recording: Recording) -> float:
    ends = [recording.frames[-1].t_s]
    ends += [recording.commands[-1].t_s] if recording.commands else []
    ends += [recording.residency[-1].t_s] if recording.residency else []
    return max(ends)


def plot_residency(recording: Recording, path: Path) -> dict:
    from matplotlib.patches import Patch
    names, t0 = recording.experts, _t0(recording)
    known = list(names) + sorted({c.expert for c in recording.residency} - set(names))
    row = {name: k for k, name in enumerate(known)}
    fig = _figure("residency")
    ax = fig.subplots()
    for name, why, a, b in residency_intervals(recording, _end_s(recording)):
        ax.broken_barh([(a - t0, max(b - a, 1e-3))], (row[name] - 0.35, 0.6),
                       facecolors=_WHY_COLOUR.get(why, "black"))
    for name in names:                             # the frames it fired on, above its bar
        t = [f.t_s - t0 for f in recording.frames if name in f.fired]
        ax.plot(t, [row[name] - 0.4] * len(t), "|", color="black", markersize=4)
    ax.set_yticks(range(len(known)), known)
    ax.set_ylim(len(known) - 0.5, -0.7)
    ax.set_xlabel("time since start (s)")
    handles = [Patch(color=_WHY_COLOUR[w], label=_WHY_LABEL[w]) for w in RESIDENCY_WHY]
    handles.append(ax.plot([], [], "|", color="black", label="fired on a frame")[0])
    ax.legend(handles=handles, ncol=len(handles), fontsize=7, loc="upper center",
              bbox_to_anchor=(0.5, -0.16), frameon=False)
    fig.subplots_adjust(left=0.14, right=0.98, top=0.9, bottom=0.24)
    why = [c.why for c in recording.residency]
    at_start = why.count("pinned") + why.count("resident")
    fig.suptitle(f"expert residency: {why.count('demand') + why.count('prefetch')} page-ins, "
                 f"{why.count('evicted')} evictions, {at_start} resident at start", fontsize=10)
    return _save(fig, path)


def plot_latency(recording: Recording, path: Path) -> dict:
    lat = sorted(c.latency_ms for c in recording.commands if c.latency_ms is not None)
    fig = _figure("latency")
    ax = fig.subplots()
    if lat:
        ax.hist(lat, bins=min(50, max(5, len(lat) // 4)), color="tab:blue")
        for q, style in ((50, "--"), (99, ":")):
            v = percentile(lat, q)
            ax.axvline(v, color="black", linestyle=style, label=f"p{q} {v:.1f} ms")
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no DRIVE answered a frame", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_xlabel("capture -> DRIVE written (ms)")
    ax.set_ylabel("frames answered")
    fig.suptitle(f"latency: {len(lat)} frames answered", fontsize=10)
    fig.subplots_adjust(bottom=0.14)
    return _save(fig, path)


def path_length_mm(truths: list[dict]) -> float:
    xy = np.array([(t["x_mm"], t["y_mm"]) for t in truths])
    return float(np.hypot(*np.diff(xy, axis=0).T).sum()) if len(xy) > 1 else 0.0


def _bgr_to_rgb(bgr) -> tuple[float, float, float]:
    b, g, r = bgr
    return r / 255, g / 255, b / 255


def plot_path(course: Course, truths: list[dict], path: Path) -> dict:
    """The course map and, over it, the robot's path through `truths` (none: the map alone)."""
    from matplotlib.collections import LineCollection
    from matplotlib.patches import Circle, Polygon, Rectangle
    fig = _figure("path")
    ax = fig.add_axes(PATH_AXES)
    for zone in course.zones:
        ax.add_patch(Rectangle((zone.x0, zone.y0), CELL_MM, CELL_MM, alpha=0.35, lw=0,
                               facecolor=_ZONE_COLOUR[zone.kind]))
        ax.text(zone.x0 + 80, zone.y0 + CELL_MM - 80, f"{zone.index} {zone.kind}", fontsize=8,
                va="top", color="#333333")
        if zone.line is not None:
            ax.plot(*np.array(zone.line).T, color="#222222", lw=1, alpha=0.5)
    ax.add_collection(LineCollection([((w.x0, w.y0), (w.x1, w.y1)) for w in course.walls],
                                     colors="black", linewidths=2))
    for prism in course.prisms:
        ax.add_patch(Polygon(prism.footprint, closed=True, facecolor="#777777", lw=0))
    for sign in course.signs:
        ax.plot(sign.x, sign.y, "s", color="#c09000", markersize=5)
    for ball in course.balls:
        ax.add_patch(Circle((ball.x, ball.y), ball.radius_mm,
                            facecolor=_bgr_to_rgb(BALL_COLOURS[ball.colour])))
    if truths:
        xy = np.array([(t["x_mm"], t["y_mm"]) for t in truths])
        ax.plot(xy[:, 0], xy[:, 1], color=PATH_COLOUR, lw=2, label="path")
        ax.plot(*xy[0], "o", color="tab:green", markersize=7, label="start")
        ax.plot(*xy[-1], "X", color=PATH_COLOUR, markersize=8, label="end")
        hits = [k for k in range(1, len(truths))
                if truths[k]["collisions"] > truths[k - 1]["collisions"]]
        if hits:
            ax.plot(xy[hits, 0], xy[hits, 1], "*", color="black", markersize=9,
                    label="collision")
    margin = 150.0
    ax.set_xlim(-margin, course.width_mm + margin)
    ax.set_ylim(-margin, course.height_mm + margin)
    ax.set_aspect("equal", adjustable="box")        # the box shrinks to fit; read after draw
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("y (mm)")
    if truths:                                      # below the map, never over it
        fig.legend(loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle(f"course {course.name!r} seed {course.seed}: "
                 f"{path_length_mm(truths) / 1000:.1f} m driven", fontsize=10)
    fig.canvas.draw()                               # the limits the aspect settled on
    box = ax.get_window_extent()
    height = SIZE_PX["path"][1]
    out = _save(fig, path)
    out.update(axes_px=[box.x0, height - box.y1, box.x1, height - box.y0],
               xlim_mm=list(ax.get_xlim()), ylim_mm=list(ax.get_ylim()))
    return out


def mm_to_px(geometry: dict, x_mm: float, y_mm: float) -> tuple[float, float]:
    """Where the floor point (x_mm, y_mm) lies in path.png (image pixels, origin top-left)."""
    x0, y0, x1, y1 = geometry["axes_px"]
    (xa, xb), (ya, yb) = geometry["xlim_mm"], geometry["ylim_mm"]
    return x0 + (x_mm - xa) / (xb - xa) * (x1 - x0), y1 - (y_mm - ya) / (yb - ya) * (y1 - y0)
