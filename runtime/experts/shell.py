"""Session shells: an evicted expert keeps its built session and gives its weight pages back.

Data path: pager → **experts**. A paged expert's weights are mmapped from its
`.data` file (session.py), so they are page-cache pages the process merely
maps. Shelving an expert drops those pages from the process (madvise
MADV_DONTNEED) and keeps the session - graph, kernels, small inline tensors,
a few hundred kB - built. Paging it back in maps the pages again
(MADV_POPULATE_READ, Linux >= 5.14; before that the first run faults them in),
so the expert runs at its steady latency straight away. Measured here
(runtime/experts/bench.py): a page-in from a shell costs about 0.1-0.7 ms for
2-20 MB experts, where a new session of the paged file costs ~1.3-1.7 ms and a
naive InferenceSession of the source 5.5-16.5 ms.

Why dropping is safe, and when it is not: onnxruntime 1.23.2 maps the file
private *and writable* (rw-p). A page onnxruntime had written would be a private
copy, and MADV_DONTNEED would silently throw it away: the next read would see
the file's bytes instead. So `shelve` first reads /proc/self/pagemap and refuses
(returns None) if any page of the weights' mappings is anonymous or swapped,
i.e. was written; the pager then destroys the session instead. Unwritten pages
are page-cache pages: dropping them loses nothing.

What a shell does not protect against: a weights file changed in place while
its expert is shelved would be read back changed. The box loader re-checks the
files' size and mtime on every page-in, and re-hashes when they moved
(box_loader.py). Linux only; elsewhere nothing is shelved.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from spikebox.runtime.procmem import MADV_DONTNEED, MADV_POPULATE_READ, PAGE_BYTES, madvise

logger = logging.getLogger(__name__)

_PRESENT, _SWAPPED, _FILE_OR_SHARED = (np.uint64(1 << b) for b in (63, 62, 61))  # pagemap bits

def mapped_ranges(path: str | os.PathLike) -> list[tuple[int, int]]:
    """(start, end) of every mapping of `path` (this inode) in this process.

    /proc/self/maps runs to thousands of lines with a few sessions loaded
    (each weight tensor is its own mapping); parsing every line in Python took
    ~3 ms at 1,500 lines, so only the lines naming `path` are parsed.
    """
    path = Path(path).resolve()
    try:
        inode = os.stat(path).st_ino
        with open("/proc/self/maps", "rb") as f:
            maps = f.read()
    except OSError:
        return []
    needle = b" " + os.fsencode(path) + b"\n"
    out = []
    at = maps.find(needle)
    while at >= 0:
        line = maps[maps.rfind(b"\n", 0, at) + 1:at].split()
        if len(line) == 5 and int(line[4]) == inode:
            start, end = (int(x, 16) for x in line[0].split(b"-"))
            out.append((start, end))
        at = maps.find(needle, at + len(needle))
    return out


def _maps_file(start: int, end: int, st: os.stat_result) -> bool:
    """[start, end) is still one whole mapping of the file `st` describes (/proc/self/map_files)."""
    try:
        now = os.stat(f"/proc/self/map_files/{start:x}-{end:x}")
    except OSError:
        return False
    return (now.st_ino, now.st_dev) == (st.st_ino, st.st_dev)


def page_counts(ranges: list[tuple[int, int]]) -> tuple[int, int]:
    """(present file-backed pages, written pages) over `ranges`, from /proc/self/pagemap.

    A written page of a private file mapping is anonymous (copy-on-write) or,
    once swapped out, a swap entry: both count as written.
    """
    with open("/proc/self/pagemap", "rb") as f:
        chunks = []
        for start, end in ranges:
            f.seek(start // PAGE_BYTES * 8)
            chunks.append(f.read((end - start) // PAGE_BYTES * 8))
    entries = np.frombuffer(b"".join(chunks), dtype="<u8")
    is_present = (entries & _PRESENT) != 0
    file_backed = (entries & _FILE_OR_SHARED) != 0
    swapped = (entries & _SWAPPED) != 0
    present = int(np.count_nonzero(is_present & file_backed))
    written = int(np.count_nonzero(is_present & ~file_backed) + np.count_nonzero(~is_present & swapped))
    return present, written


class WeightPages:
    """The mappings of one session's weights file, found once, checked before every drop.

    Finding them reads /proc/self/maps (~2 ms with a few dozen sessions loaded:
    every weight tensor is its own mapping), so it is done once per session;
    before each drop every range is re-checked to still map the same file.
    One session per weights file in the process (the pager's rule), else the
    ranges of two sessions are dropped and restored together (harmless: the
    pages are the file's), and ranges that stop mapping the file are forgotten.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.stat = os.stat(self.path)
        self.ranges = mapped_ranges(self.path)

    def drop(self) -> int | None:
        """Drop the pages from this process; the bytes dropped, or None: nothing was dropped.

        None when the file is no longer mapped, any page was written (dropping
        would lose the write), or /proc or madvise is missing.
        """
        # Ranges found by path may include another session's of the same file, which
        # can be gone by now: keep those still mapping it (a drop there is harmless).
        self.ranges = [(a, b) for a, b in self.ranges if _maps_file(a, b, self.stat)]
        if not self.ranges:
            return None
        try:
            present, written = page_counts(self.ranges)
        except OSError:                         # no /proc/self/pagemap
            return None
        if written:
            logger.warning("%s: %d mapped page(s) were written by onnxruntime; not shelving "
                           "(dropping them would lose the writes)", self.path, written)
            return None
        try:
            for start, end in self.ranges:
                madvise(start, end - start, MADV_DONTNEED)
        except OSError as e:
            logger.warning("%s: madvise(DONTNEED) failed: %s", self.path, e.strerror)
            return None
        return present * PAGE_BYTES

    def populate(self) -> bool:
        """Map the pages back in now; False if the kernel cannot (they fault in on first use)."""
        ok = True
        for start, end in self.ranges:
            try:
                madvise(start, end - start, MADV_POPULATE_READ)
            except OSError:
                ok = False
        return ok

