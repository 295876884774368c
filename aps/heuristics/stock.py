"""A material's stock profile for the constructive schedulers (witness, greedy repair).

Both place operations one at a time and ask: from which tick on can ``q`` units be drawn
without the stock dropping below zero later? Arrivals at a tick count before draws at
that tick, as in :mod:`aps.validate`.
"""

from __future__ import annotations

from bisect import bisect_right, insort


class StockProfile:
    """A material's stock events; answers "earliest tick from which q can be drawn"."""

    def __init__(self, initial: int, events: list[tuple[int, int]]) -> None:
        self.initial = initial
        self.events: list[tuple[int, int]] = sorted(events)
        self._cache: tuple[list[int], list[int], list[int]] | None = None

    def copy(self) -> StockProfile:
        out = StockProfile(self.initial, [])
        out.events = list(self.events)
        return out

    def add(self, time: int, delta: int) -> None:
        insort(self.events, (time, delta))
        self._cache = None

    def _profile(self) -> tuple[list[int], list[int], list[int]]:
        """Distinct event times, the level after each, and the suffix minimum of levels."""
        if self._cache is None:
            times: list[int] = []
            level: list[int] = []
            run = self.initial
            for tm, delta in self.events:
                run += delta
                if times and times[-1] == tm:
                    level[-1] = run
                else:
                    times.append(tm)
                    level.append(run)
            suffix = list(level)
            for k in range(len(suffix) - 2, -1, -1):
                suffix[k] = min(suffix[k], suffix[k + 1])
            self._cache = (times, level, suffix)
        return self._cache

    def earliest_draw(self, t: int, q: int) -> int | None:
        """Earliest tau >= t such that drawing q at tau keeps every later level >= 0."""
        times, level, suffix = self._profile()
        k = bisect_right(times, t)  # events at or before t: indices < k
        candidates = [(t, k), *((times[i], i + 1) for i in range(k, len(times)))]
        for tau, nxt in candidates:
            now = level[nxt - 1] if nxt > 0 else self.initial
            after = suffix[nxt] if nxt < len(times) else 1 << 62
            if min(now, after) >= q:
                return tau
        return None
