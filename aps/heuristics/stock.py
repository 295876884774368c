"""A material's stock profile for the constructive schedulers (witness, greedy repair).

Both place operations one at a time and ask: from which tick on can ``q`` units be drawn
without the stock dropping below zero later? Arrivals at a tick count before draws at
that tick, as in :mod:`aps.validate`.
"""

from __future__ import annotations

import numpy as np

_NEVER = np.iinfo(np.int64).max


class StockProfile:
    """A material's stock events; answers "earliest tick from which q can be drawn".

    Kept as arrays over the distinct event times: the level after each, and its suffix
    minimum (non-decreasing, so a query is a binary search). An event updates them in
    C (numpy) rather than rebuilding them in Python: a repair of a 6,000-operation plant
    asked this once per placement and spent most of its time rebuilding.
    """

    def __init__(self, initial: int, events: list[tuple[int, int]]) -> None:
        self.initial = initial
        self.times = np.zeros(0, dtype=np.int64)
        self.level = np.zeros(0, dtype=np.int64)
        self.suffix = np.zeros(0, dtype=np.int64)
        for time, delta in sorted(events):
            self._insert(time, delta)
        self._rebuild(len(self.times))

    def copy(self) -> StockProfile:
        out = StockProfile(self.initial, [])
        out.times, out.level, out.suffix = self.times.copy(), self.level.copy(), self.suffix.copy()
        return out

    def add(self, time: int, delta: int) -> None:
        self._rebuild(self._insert(time, delta) + 1)

    def _insert(self, time: int, delta: int) -> int:
        """Apply the event to the levels; the index of its time."""
        i = int(np.searchsorted(self.times, time))
        if i == len(self.times) or self.times[i] != time:
            before = int(self.level[i - 1]) if i > 0 else self.initial
            self.times = np.insert(self.times, i, time)
            self.level = np.insert(self.level, i, before)
        self.level[i:] += delta
        return i

    def _rebuild(self, upto: int) -> None:
        """The suffix minimum, whose entries below ``upto`` may have changed (the rest
        moved with the levels)."""
        n = len(self.level)
        if len(self.suffix) != n:
            self.suffix = np.minimum.accumulate(self.level[::-1])[::-1].copy()
            return
        self.suffix[upto:] = np.minimum.accumulate(self.level[upto:][::-1])[::-1]
        if upto > 0:
            head = self.level[:upto].copy()
            if upto < n:
                head[-1] = min(head[-1], self.suffix[upto])
            self.suffix[:upto] = np.minimum.accumulate(head[::-1])[::-1]

    def earliest_draw(self, t: int, q: int) -> int | None:
        """Earliest tau >= t such that drawing q at tau keeps every later level >= 0."""
        times, level, suffix = self.times, self.level, self.suffix
        n = len(times)
        k = int(np.searchsorted(times, t, side="right"))  # events at or before t: < k
        now = int(level[k - 1]) if k > 0 else self.initial
        after = int(suffix[k]) if k < n else _NEVER
        if min(now, after) >= q:
            return t
        # drawing at the i-th event time needs suffix[i] >= q; suffix never decreases
        j = k + int(np.searchsorted(suffix[k:], q))
        return int(times[j]) if j < n else None
