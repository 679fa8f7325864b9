"""What the activator's frames say about which expert fires next: warmth trends and transitions.

Data path step 4 (pager), its forecasting half. ActivatorAwarePolicy (policies.py)
feeds it every frame and asks, for each expert not firing, how likely that expert
is to fire soon; it prefetches those likely enough for what their page-in costs.
Everything here is counted online from the frames the robot sees: no offline
training, and a new box starts from the priors below.
"""
from __future__ import annotations

from collections import Counter, defaultdict

RISE_DIP = 0.05      # warmth may dip this much and still be rising (activator noise)
RISE_PRIOR = {1: (1.5, 3.5), 2: (4.0, 1.0), 3: (4.5, 0.5)}   # frames risen -> (fired, not)
                     # pseudo-counts, five each: before any evidence, a one-frame blip ends in
                     # the expert firing 3 times in 10, a rise of two frames 8 in 10, of three 9
TRANSITION_PRIOR = 3.0   # pseudo-counts pulling P(next | context) towards how often each starts
TRANSITION_LR_MAX = 8.0  # a context raises the odds of a rise by at most this factor


def odds(p: float) -> float:
    p = min(p, 1.0 - 1e-9)
    return p / (1.0 - p)


class WarmthTrend:
    """Per expert, how many frames in a row its warmth has risen, and how often a rise of
    that many frames has ended in the expert firing.

    A *rise* is a run of frames in which the expert does not fire and its warmth is at
    least `floor` and not below the frame before (less RISE_DIP). It ends when the
    expert fires (a lead: it was needed) or its warmth falls (a false alarm; a new
    rise starts if it is still warm). A one-frame blip and the first frame of a real
    lead look alike; the second frame tells them apart, and the counts say by how
    much on this robot. A run's fading warmth after it ends is no rise.
    """

    def __init__(self, floor: float):
        self.floor = floor
        self.rise: dict[str, int] = {}          # name -> frames risen so far (none: not rising)
        self._last: dict[str, float] = {}       # last frame's warmth, of warm or fired experts
        self._ended = {k: [0, 0] for k in RISE_PRIOR}   # frames risen -> [fired, did not]

    def _resolve(self, frames: int, fired: bool) -> None:
        for k in range(1, min(frames, max(RISE_PRIOR)) + 1):
            self._ended[k][0 if fired else 1] += 1

    def update(self, fired: set[str], warmth: dict[str, float]) -> None:
        for name in fired:
            frames = self.rise.pop(name, 0)
            if frames:
                self._resolve(frames, True)
            self._last[name] = 1.0
        for name in [n for n in self.rise if n not in warmth and n not in fired]:
            self._resolve(self.rise.pop(name), False)   # no warmth given: gone cold
            self._last.pop(name, None)
        floor = self.floor
        for name, w in warmth.items():
            last = self._last.get(name)
            if (last is None and w < floor) or name in fired:
                continue                                # cold and staying cold: most experts
            frames = self.rise.get(name, 0)
            if w < floor:
                if frames:
                    self._resolve(frames, False)
                frames = 0
            elif last is None or w >= last - RISE_DIP:
                frames += 1
            elif frames:                                # warm but lower: a blip fell back into
                self._resolve(frames, False)            # a lead, which starts over here
                frames = 1
            # else warm, falling, no rise: a run's fading tail, no rise
            if frames:
                self.rise[name] = frames
            else:
                self.rise.pop(name, None)
            if w >= floor:
                self._last[name] = w
            else:
                self._last.pop(name, None)

    def fired_rate(self, frames: int) -> float:
        """How often a rise that lasted `frames` frames ended in firing (0 for no rise)."""
        if frames <= 0:
            return 0.0
        k = min(frames, max(RISE_PRIOR))
        fired, not_fired = self._ended[k]
        a, b = RISE_PRIOR[k]
        return (fired + a) / (fired + not_fired + a + b)


class Transitions:
    """Which expert's run starts after which: counts learned from the fired sets.

    The *context* is the experts of the latest frame in which any fired: while a
    zone's skill runs, that skill; after its run ends, still that skill until
    another one fires. A run of `e` starting counts once for each expert of the
    context before it (a course that visits zones in a fixed order shows up here).
    """

    def __init__(self):
        self.context: frozenset[str] = frozenset()
        self._after: dict[str, Counter] = defaultdict(Counter)   # a -> starts after a
        self._after_total: Counter = Counter()                     # a -> starts after a, all
        self._starts: Counter = Counter()
        self._starts_total = 0
        self._fired_last: set[str] = set()

    def update(self, fired: set[str]) -> None:
        for name in fired - self._fired_last:
            self._starts[name] += 1
            self._starts_total += 1
            for before in self.context - {name}:
                self._after[before][name] += 1
                self._after_total[before] += 1
        if fired:
            self.context = frozenset(fired)
        self._fired_last = set(fired)

    def p_start(self, name: str) -> float:
        """The share of run starts that were `name`'s (smoothed: never 0)."""
        return (self._starts[name] + 1.0) / (self._starts_total + len(self._starts) + 1.0)

    def p_next(self, name: str) -> float:
        """P(`name` is the next run to start | the context), averaged over the context's
        other experts (none: how often `name` starts at all)."""
        prior = self.p_start(name)
        before_it = self.context - {name}
        if not before_it:
            return prior
        ps = []
        for before in before_it:
            after = self._after.get(before)
            ps.append(((after[name] if after else 0) + TRANSITION_PRIOR * prior)
                      / (self._after_total[before] + TRANSITION_PRIOR))
        return sum(ps) / len(ps)

    def likelihood_ratio(self, name: str) -> float:
        """How much the context raises the odds that `name` starts next (1 to
        TRANSITION_LR_MAX). Never below 1: after a few laps most transitions have not
        been seen yet, and not having seen one is no evidence against a rising lead."""
        return min(max(self.p_next(name) / self.p_start(name), 1.0), TRANSITION_LR_MAX)
