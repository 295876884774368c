"""Working-time arithmetic on a machine's unavailable tick windows.

:class:`TickCalendar` serves the constructive schedulers, the report and diagnosis;
:class:`Periods` (the available periods between windows) the model builders. The
validator keeps its own, deliberately separate, arithmetic (:mod:`aps.validate`).
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


def longest_working_window(windows: Sequence[Window], horizon: int) -> int:
    """The longest stretch of ticks in ``[0, horizon)`` free of ``windows``."""
    best, t = 0, 0
    for w in sorted(windows, key=lambda w: w.start):
        best = max(best, min(w.start, horizon) - t)
        t = max(t, w.end)
    return max(best, horizon - t)


class TickCalendar:
    """Working-time arithmetic on merged tick windows (shared with report and validator).

    Parameters
    ----------
    windows
        Unavailable windows, e.g. ``Machine.unavailable`` (sorted, merged).
    """

    def __init__(self, windows: Sequence[Window]) -> None:
        ws = sorted(windows, key=lambda w: w.start)
        self.windows = list(ws)
        self.starts = [w.start for w in ws]
        self.ends = [w.end for w in ws]

    def blocked(self, a: int, b: int) -> int:
        """Unavailable ticks inside ``[a, b)``."""
        return sum(
            max(0, min(b, e) - max(a, s)) for s, e in zip(self.starts, self.ends, strict=True)
        )

    def working(self, a: int, b: int) -> int:
        """Working ticks inside ``[a, b)``."""
        return max(0, b - a) - self.blocked(a, b)

    def is_blocked(self, t: int) -> bool:
        i = bisect_right(self.starts, t) - 1
        return i >= 0 and t < self.ends[i]

    def pauses(self, a: int, b: int) -> list[Window]:
        """The unavailable windows clipped to ``[a, b)`` (pauses of an interruptible run)."""
        return [
            Window(start=max(a, w.start), end=min(b, w.end), reason=w.reason)
            for w in self.windows
            if w.end > a and w.start < b
        ]

    def next_working(self, t: int) -> int:
        """The first working tick at or after ``t``."""
        i = bisect_right(self.starts, t) - 1
        if i >= 0 and t < self.ends[i]:
            return self.ends[i]
        return t

    def add_working(self, start: int, work: int) -> int:
        """End tick of ``work`` working ticks started at ``start`` (pausing over windows)."""
        t = self.next_working(start)
        left = work
        for s, e in zip(self.starts, self.ends, strict=True):
            if e <= t:
                continue
            if s >= t + left:
                break
            left -= s - t
            t = e
        return t + left
