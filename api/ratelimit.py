"""Per-tenant rate limits for submissions.

With a Redis broker configured the limit lives in Redis (the ``limits`` package's moving
window, one atomic script per request), so it holds across API processes and replicas.
Without one (the embedded default: one process) each tenant has a token bucket in
process memory. Both allow ``per_minute`` sustained and ``burst`` at once.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from limits import RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

log = logging.getLogger(__name__)


class Limiter(Protocol):
    def take(self, key: str) -> float | None:
        """Take one request's allowance; None when allowed, else seconds to wait."""
        ...


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """``per_minute`` sustained, up to ``burst`` at once."""

    def __init__(
        self, per_minute: int, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float | None:
        """Take a token; None on success, else the seconds until one is available."""
        now = self._clock()
        with self._lock:
            bucket = self._buckets.setdefault(key, _Bucket(self.burst, now))
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return None
            return (1.0 - bucket.tokens) / self.rate


class RedisRateLimiter:
    """At most ``burst`` requests in any window of ``burst / (per_minute / 60)`` seconds,
    counted in Redis. Should Redis fail, the process's own buckets answer (and it is
    logged): a rate limiter must not turn a broker outage into refused submissions."""

    def __init__(self, url: str, per_minute: int, burst: int) -> None:
        self.item = RateLimitItemPerSecond(burst, max(1, math.ceil(burst * 60 / per_minute)))
        self.strategy = MovingWindowRateLimiter(storage_from_string(url))
        self.fallback = RateLimiter(per_minute, burst)

    def take(self, key: str) -> float | None:
        try:
            if self.strategy.hit(self.item, "aps-submit", key):
                return None
            stats = self.strategy.get_window_stats(self.item, "aps-submit", key)
        except Exception as exc:
            log.warning("rate limit storage unavailable (%s); limiting in process", exc)
            return self.fallback.take(key)
        return max(0.001, stats.reset_time - time.time())


def limiter_for(broker_url: str | None, per_minute: int, burst: int) -> Limiter:
    """Redis when the broker is Redis, else in process."""
    if broker_url and broker_url.startswith(("redis://", "rediss://")):
        return RedisRateLimiter(broker_url, per_minute, burst)
    return RateLimiter(per_minute, burst)


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
