"""Working-time arithmetic on one machine's unavailable windows, for the model builders.

The validator has its own, deliberately separate, arithmetic (:mod:`aps.validate`).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

from aps.model import Window


class Periods:
    """The available periods between a machine's (merged, sorted) unavailable windows."""

    def __init__(self, windows: Sequence[Window], horizon: int) -> None:
        self.windows = [(w.start, w.end) for w in windows]
        periods: list[tuple[int, int]] = []
        t = 0
        for s, e in self.windows:
            if s > t:
                periods.append((t, s))
            t = max(t, e)
        periods.append((t, max(t + 1, horizon)))
        self.periods = periods
        self._starts = [p[0] for p in periods]
        self._wstarts = [w[0] for w in self.windows]

    @property
    def empty(self) -> bool:
        return not self.windows

    def period_of(self, t: int) -> int | None:
        """Index of the period containing tick ``t``, or None inside a window."""
        i = bisect_right(self._starts, t) - 1
        if i >= 0 and t < self.periods[i][1]:
            return i
        return None

    def earliest_fit(self, t: int, length: int) -> int:
        """Earliest start >= t such that ``[start, start + length)`` avoids every window."""
        if length == 0:
            return t
        i = max(0, bisect_right(self._starts, t) - 1)
        while i < len(self.periods):
            s, e = self.periods[i]
            start = max(s, t)
            if start + length <= e or i == len(self.periods) - 1:
                return start
            i += 1
        return t  # unreachable: the last period is open-ended

    def next_working(self, t: int) -> int:
        i = self.period_of(t)
        if i is not None:
            return t
        j = bisect_right(self._starts, t)
        return self.periods[j][0] if j < len(self.periods) else t

    def finish(self, start: int, work: int) -> int:
        """End of ``work`` working ticks started at ``start`` (pausing over windows)."""
        t = start
        remaining = work
        i = bisect_right(self._starts, t) - 1
        i = max(i, 0)
        while remaining > 0:
            s, e = self.periods[i]
            t = max(t, s)
            take = min(remaining, e - t) if i < len(self.periods) - 1 else remaining
            t += take
            remaining -= take
            i += 1
        return t

    def blocked(self, a: int, b: int) -> int:
        total = 0
        for s, e in self.windows:
            if e <= a:
                continue
            if s >= b:
                break
            total += min(b, e) - max(a, s)
        return total
