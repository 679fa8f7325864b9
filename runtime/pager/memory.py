"""Process memory as the kernel sees it, and handing freed heap back to it.

Why the pager trims after every eviction: creating and destroying onnxruntime
sessions grows RSS although every session is released. onnxruntime #17451
(C++, 1.15): RSS rises over the first 3–4 create/destroy iterations and then
plateaus far above one model's size; maintainers suggest one Env and disabling
the CPU arena. #18749 (Python, 1.16): `del session` leaves the memory
allocated; closed as stale without a fix. #26831 reports the same on 1.23.2
(the version here), and the open fix proposed for it (PR #32107) is exactly a
malloc_trim on glibc after session release. So: sessions are best made with
the CPU arena off (the loader's choice), and the pager calls malloc_trim(0)
after dropping an evicted session. Both are cheap; the benchmark records the
RSS growth over 500 page-in/evict cycles.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

logger = logging.getLogger(__name__)

_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_libc = None          # the glibc handle, looked up on first trim (nothing probed at import)
_libc_checked = False


def trim_heap() -> bool:
    """Return free heap pages to the OS (glibc malloc_trim(0)). False where unavailable."""
    global _libc, _libc_checked
    if not _libc_checked:
        _libc_checked = True
        try:
            lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            lib.malloc_trim.argtypes = [ctypes.c_size_t]
            lib.malloc_trim.restype = ctypes.c_int
            _libc = lib
        except (OSError, AttributeError):   # musl, macOS: no malloc_trim; RSS may then grow
            logger.info("malloc_trim unavailable: freed session memory stays with the allocator")
    if _libc is None:
        return False
    _libc.malloc_trim(0)
    return True


def rss_bytes() -> int:
    """Resident set size of this process now (from /proc/self/statm: one cheap read)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE_BYTES
    except OSError:
        return 0


def memory_status() -> dict:
    """rss_bytes, pss_bytes (/proc/self/smaps_rollup) and peak_rss_bytes (VmHWM); 0 if unknown."""
    out = {"rss_bytes": 0, "pss_bytes": 0, "peak_rss_bytes": 0}
    try:
        with open("/proc/self/smaps_rollup") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("Rss", "Pss"):
                    out[f"{key.lower()}_bytes"] = int(rest.split()[0]) * 1024
    except OSError:
        out["rss_bytes"] = rss_bytes()
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    out["peak_rss_bytes"] = int(line.split()[1]) * 1024
    except OSError:
        pass
    return out


def measure_footprint_bytes(loader, name: str, repeats: int = 3) -> int:
    """RSS a loaded `name` adds: the largest RSS delta over `repeats` load/release cycles.

    The largest, not the median: the budget must hold the worst case. Meant for
    tests and benchmarks; a box records its footprints at export time.
    """
    worst = 0
    for _ in range(max(1, repeats)):
        trim_heap()
        before = rss_bytes()
        session = loader(name)
        worst = max(worst, rss_bytes() - before)
        del session
        trim_heap()
    return worst
