"""The misses no prefetcher can avoid: the floor under prefetch recall, computed offline.

An expert that starts firing at frame t must have been loaded by frame t-1 to be
a hit, and through frame t-1 every expert firing then is in use and may not be
evicted by a prefetch (pager.py). So at each frame, of the experts that start
firing, at most as many as fit beside the experts of the frame before (and the
pinned ones) can be resident in time; smallest first is how the most fit. The
rest miss whatever the policy, and so do the experts firing in the first frame
(no frame came before to warn of them). Shells are counted as dropped, so this is
a lower bound: a real pager may miss more.

    floor = unavoidable_misses(frames, footprints, budget_bytes)

Every policy's misses are at least the floor, so its prefetch_recall (used / (used +
misses)) is at most 1 - floor / (used + misses); and used + misses, the would-be
misses, are about the experts' run starts (more only if an expert is evicted
mid-run), so 1 - floor / run starts bounds the recall any policy can report.
"""
from __future__ import annotations


def unavoidable_misses(frames, footprints: dict[str, int], budget_bytes: int,
                       pinned=()) -> int:
    """Requests of `frames` ((fired, warmth) per frame) that miss under any policy.

    An expert bigger than the budget left beside the pinned ones is refused, never a
    miss (pager.py counts it as refused_too_big), so it is left out here too."""
    pinned = set(pinned)
    room_unpinned = budget_bytes - sum(footprints[n] for n in pinned)

    def pageable(names):
        return {n for n in names if n not in pinned and footprints[n] <= room_unpinned}
    misses = 0
    before: set[str] = set()
    for t, (fired, _) in enumerate(frames):
        now = pageable(fired)
        if t == 0:                                      # nothing warned of these
            misses += len(now)
        else:
            room = room_unpinned - sum(footprints[n] for n in before)
            for size in sorted(footprints[n] for n in now - before):
                if size <= room:
                    room -= size
                else:
                    misses += 1
        before = now
    return misses
