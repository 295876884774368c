"""A short-lived cache of API key lookups, so most requests never ask the database."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class KeyCache:
    """API key lookups (by the key's hash) reused for ``seconds``: a revoked key is
    refused at most that long after its revocation. Unknown keys are remembered too."""

    MAX_ENTRIES = 10_000

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds, self.clock = seconds, clock
        self._entries: dict[str, tuple[str | None, float]] = {}
        self._lock = threading.Lock()

    def get(self, digest: str) -> tuple[bool, str | None]:
        entry = self._entries.get(digest)
        if entry is None or entry[1] <= self.clock():
            return False, None
        return True, entry[0]

    def put(self, digest: str, tenant: str | None) -> None:
        if self.seconds <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()
            self._entries[digest] = (tenant, self.clock() + self.seconds)


class ActiveCounts:
    """Each tenant's queued and running jobs, counted in the database at most once per
    ``seconds``; this process's submissions in between are added. The active-job cap is
    checked against it, so a submission does not pay a COUNT(*) over the tenant's jobs."""

    def __init__(self, seconds: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds, self.clock = seconds, clock
        self._counts: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def get(self, tenant: str, count: Callable[[], int]) -> int:
        """The tenant's active jobs (``count()`` asks the database when stale)."""
        now = self.clock()
        entry = self._counts.get(tenant)
        if entry is not None and entry[1] > now:
            return int(entry[0])
        fresh = count()
        with self._lock:
            self._counts[tenant] = [float(fresh), now + self.seconds]
        return fresh

    def added(self, tenant: str) -> None:
        with self._lock:
            entry = self._counts.get(tenant)
            if entry is not None:
                entry[0] += 1
