"""This process's memory as the kernel reports it (Linux /proc; zeros elsewhere), and the C
library calls that hand it back: malloc_trim for freed heap, madvise for mapped pages.

One reader for the pager's metrics and for export's footprint measurement, and
one handle on libc for the pager's trims and the experts' shells (shell.py).

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
import errno
import functools
import logging
import os

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

logger = logging.getLogger(__name__)


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


def memory_status() -> dict:
    """rss_bytes, pss_bytes (/proc/self/smaps_rollup) and peak_rss_bytes (VmHWM); 0 if unknown."""
    rollup = smaps_rollup()
    return {"rss_bytes": rollup.get("Rss") or rss_bytes(), "pss_bytes": rollup.get("Pss", 0),
            "peak_rss_bytes": peak_rss_bytes()}


MADV_DONTNEED = 4
MADV_POPULATE_READ = 22            # Linux 5.14; EINVAL before: the first run faults pages in


@functools.lru_cache(maxsize=None)
def _libc() -> ctypes.CDLL | None:
    """The C library, opened on first use (nothing probed at import); None if it cannot be."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


@functools.lru_cache(maxsize=None)
def _malloc_trim():
    try:
        trim = _libc().malloc_trim
    except AttributeError:           # musl, macOS: no malloc_trim; RSS may then grow
        logger.info("malloc_trim unavailable: freed session memory stays with the allocator")
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


@functools.lru_cache(maxsize=None)
def _madvise():
    try:
        advise = _libc().madvise
    except AttributeError:
        return None
    advise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    advise.restype = ctypes.c_int
    return advise


def trim_heap() -> bool:
    """Return free heap pages to the OS (glibc malloc_trim(0)). False where unavailable."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def madvise(start: int, length: int, advice: int) -> None:
    """madvise(2) on this process's [start, start + length); OSError if it fails or is missing."""
    advise = _madvise()
    if advise is None:
        raise OSError(errno.ENOSYS, "madvise is not available in this C library")
    if advise(start, length, advice) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
