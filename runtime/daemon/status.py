"""What the daemon shows while it runs: one status line, and the same figures as JSON.

    board = StatusBoard(daemon_parts)      # read-only view over the loops' counters
    print(board.line())                    # t 12.0 s | 19.8 fps | fired line_follow | ...
    board.snapshot()                       # the same as a dict (the --view page serves it)
"""
from __future__ import annotations

import math

from spikebox.firmware_bridge.link_types import percentile


def _ms(v) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.1f}"


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f}"


class StatusBoard:
    def __init__(self, *, started_s: float, clock, vision, experts, control, pager, link,
                 stage_clock, truth_of=None):
        self.started_s, self.clock = started_s, clock
        self.vision, self.experts, self.control = vision, experts, control
        self.pager, self.link, self.stages = pager, link, stage_clock
        self.truth_of = truth_of            # frame id -> sim ground truth (the demo), or None
        self._last = (started_s, 0)

    def snapshot(self) -> dict:
        now = self.clock()
        t0, frames0 = self._last
        fps = (self.vision.frames - frames0) / (now - t0) if now > t0 else 0.0
        self._last = (now, self.vision.frames)
        seen = self.vision.seen.get()
        cmd = self.control.commands[-1] if self.control.commands else None
        lat = [c.latency_ms for c in list(self.control.commands)[-200:] if c.latency_ms is not None]
        lat.sort()
        out = {
            "t_s": now - self.started_s,
            "fps": fps,
            "frame_id": None if seen is None else seen.capture.frame_id,
            "fired": [] if seen is None else list(seen.fired),
            "awake": [] if seen is None else list(seen.awake),
            "resident": sorted(self.pager.resident()),
            "resident_bytes": self.pager.resident_bytes,
            "budget_bytes": self.pager.budget_bytes,
            "page_ins": self.pager.page_ins,
            "stalled_frames": self.experts.stalled_frames,
            "unready_frames": self.experts.unready_frames,
            "latency_ms_p99": percentile(lat, 99),
            "command": None if cmd is None else {
                "left_mm_s": cmd.left_mm_s, "right_mm_s": cmd.right_mm_s,
                "expert": cmd.expert, "reason": cmd.reason},
            "link": "up" if self.link.connected else "down",
            "source_lost_s": (None if self.vision.lost_since_s is None
                              else now - self.vision.lost_since_s),
            "estop": self.link.estop_latched,
            "missed_deadlines": {k: v["missed_deadlines"] for k, v in self.stages.as_dict().items()
                                 if v["missed_deadlines"]},
        }
        if self.truth_of is not None and seen is not None:
            truth = self.truth_of(seen.capture.frame_id)
            if truth is not None:
                out["zone"] = truth.zone_kind
                out["collisions"] = truth.collisions
        return out

    def line(self, snap: dict | None = None) -> str:
        s = snap or self.snapshot()
        cmd = s["command"]
        drive = "-" if cmd is None or cmd["left_mm_s"] is None else \
            f"{cmd['left_mm_s']:+d}/{cmd['right_mm_s']:+d} {cmd['reason']}"
        parts = [f"t {s['t_s']:6.1f} s", f"{s['fps']:4.1f} fps",
                 f"awake {','.join(s['awake']) or '-'}",
                 f"resident {','.join(s['resident']) or '-'} "
                 f"({_mb(s['resident_bytes'])}/{_mb(s['budget_bytes'])} MB)",
                 f"page-ins {s['page_ins']}", f"p99 {_ms(s['latency_ms_p99'])} ms",
                 f"drive {drive}", f"link {s['link']}{' ESTOP' if s['estop'] else ''}"]
        if s["source_lost_s"] is not None:
            parts.append(f"SOURCE LOST {s['source_lost_s']:.0f} s: stopped")
        if "zone" in s:
            parts.append(f"zone {s['zone']} hits {s['collisions']}")
        return " | ".join(parts)
