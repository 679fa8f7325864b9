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

from spikebox.runtime.procmem import peak_rss_bytes, rss_bytes, smaps_rollup

logger = logging.getLogger(__name__)

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


def memory_status() -> dict:
    """rss_bytes, pss_bytes (/proc/self/smaps_rollup) and peak_rss_bytes (VmHWM); 0 if unknown."""
    rollup = smaps_rollup()
    return {"rss_bytes": rollup.get("Rss") or rss_bytes(), "pss_bytes": rollup.get("Pss", 0),
            "peak_rss_bytes": peak_rss_bytes()}


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


def measure_shell_bytes(loader, name: str) -> int:
    """RSS a shell of `name` keeps: loaded, run, shelved, freed heap trimmed (tests, benchmarks).

    Raises ValueError if the loader cannot shelve it. A box records this at export.
    """
    trim_heap()
    before = rss_bytes()
    session = loader(name)
    if loader.shelve(name, session) is None:
        raise ValueError(f"{name}: its loader cannot shelve it (no mmapped weights file?)")
    trim_heap()
    kept = rss_bytes() - before
    del session
    trim_heap()
    return max(kept, 0)
