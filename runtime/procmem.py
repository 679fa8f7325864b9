"""This process's memory as the kernel reports it (Linux /proc); zeros elsewhere.

One reader for the pager's metrics and for export's footprint measurement.
"""
from __future__ import annotations

import os

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def smaps_rollup() -> dict[str, int]:
    """Every kB field of /proc/self/smaps_rollup, in bytes (Rss, Pss, Pss_File, Anonymous, ...)."""
    out: dict[str, int] = {}
    try:
        with open("/proc/self/smaps_rollup") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3 and parts[2] == "kB":
                    out[parts[0].rstrip(":")] = int(parts[1]) * 1024
    except OSError:
        pass
    return out


def rss_bytes() -> int:
    """Resident set size now, from /proc/self/statm: one cheap read."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE_BYTES
    except OSError:
        return 0


def peak_rss_bytes() -> int:
    """The process's high-water mark of RSS (VmHWM)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
