"""The settings of one solve, handed as one value to every backend and every phase.

A solve has a wall-clock budget, a stop signal, a number of workers, a seed and a
progress callback. They used to travel as loose arguments through every function; now
one frozen :class:`SolveParams` does, and its deadline is a point on the monotonic clock,
so a phase deep inside a backend (a construction heuristic, a CP-SAT turn, a window of
a decomposition) asks ``params.remaining()`` instead of recomputing what is left from a
start time it was never given. A phase that should get less than the whole rest gets
``params.phase(seconds)``: the same stop event and callback, a nearer deadline.

Backend options that used to be module globals (patched by tests and probes) are typed
presets here: :class:`JobShopOptions` for the job-shop portfolio.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from aps.result import Incumbent


@dataclass(frozen=True)
class JobShopOptions:
    """How the job-shop portfolio (:mod:`aps.solvers.jobshop.strategy`) spends its time.

    Attributes
    ----------
    tabu_share
        Share of the time limit tabu search may take before CP-SAT's first turn.
    dispatch_rules
        Compiled dispatching rules (:mod:`aps.heuristics.fastdispatch`) tried for the
        first schedule.
    probe_operations, probe_seconds, probe_share
        Shops up to this many operations first get a short CP-SAT probe that may prove
        them optimal (at most ``probe_seconds`` and ``probe_share`` of the limit).
    stall_share, stall_min_seconds, cpsat_stall_factor
        A method that has not improved the incumbent for this share of the time limit
        (at least ``stall_min_seconds``) hands it over; CP-SAT gets
        ``cpsat_stall_factor`` times as long.
    alternate
        Whether a stalled CP-SAT hands back to tabu search (else it keeps the rest).
    cpsat_max_operations
        Above this many modes (an operation has one per eligible machine) CP-SAT is
        left out: its model would not pay for
        itself.
    """

    tabu_share: float = 0.8
    dispatch_rules: tuple[str, ...] = ("mwkr", "mor", "spt")
    probe_operations: int = 200
    probe_seconds: float = 2.0
    probe_share: float = 0.2
    stall_share: float = 0.1
    stall_min_seconds: float = 1.0
    cpsat_stall_factor: float = 2.0
    alternate: bool = True
    cpsat_max_operations: int = 10_000


@dataclass(frozen=True)
class SolveParams:
    """Budget, stop signal, workers, seed, progress callback and presets of one solve.

    Parameters
    ----------
    time_limit
        Wall-clock seconds for the whole solve (its deadline is ``started + time_limit``
        unless ``deadline`` is given).
    workers, seed
        Search workers (CP-SAT workers, tabu threads, HiGHS threads) and random seed.
    on_progress
        Called with every improving incumbent.
    stop
        Set it to end the search early; every phase returns the best schedule so far.
    jobshop
        The job-shop portfolio's preset.
    """

    time_limit: float = 10.0
    workers: int = 2
    seed: int = 0
    on_progress: Callable[[Incumbent], None] | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    jobshop: JobShopOptions = field(default_factory=JobShopOptions)
    started: float = field(default_factory=time.monotonic)
    deadline: float = math.nan

    def __post_init__(self) -> None:
        if not self.time_limit > 0:
            raise ValueError(f"time_limit must be positive, got {self.time_limit}")
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers}")
        if math.isnan(self.deadline):
            object.__setattr__(self, "deadline", self.started + self.time_limit)

    def elapsed(self) -> float:
        """Seconds since this solve (or phase) started."""
        return time.monotonic() - self.started

    def remaining(self) -> float:
        """Seconds left before the deadline (never negative)."""
        return max(0.0, self.deadline - time.monotonic())

    def stopped(self) -> bool:
        """True once the stop event is set."""
        return self.stop.is_set()

    def expired(self, margin: float = 0.0) -> bool:
        """True when stopped, or when at most ``margin`` seconds are left."""
        return self.stop.is_set() or self.remaining() <= margin

    def phase(
        self,
        seconds: float | None = None,
        *,
        stop: threading.Event | None = None,
        seed: int | None = None,
        workers: int | None = None,
        on_progress: Callable[[Incumbent], None] | Any | None = ...,
    ) -> SolveParams:
        """A sub-phase: at most ``seconds`` (never past this deadline), same signals.

        ``stop`` replaces the stop event (for a phase that may end early on its own,
        which must then also watch this one's); ``on_progress=None`` silences it.
        """
        now = time.monotonic()
        deadline = self.deadline if seconds is None else min(self.deadline, now + seconds)
        return replace(
            self,
            time_limit=max(deadline - now, 1e-3),
            started=now,
            deadline=deadline,
            stop=self.stop if stop is None else stop,
            seed=self.seed if seed is None else seed,
            workers=self.workers if workers is None else workers,
            on_progress=self.on_progress if on_progress is ... else on_progress,
        )

    def report(self, objective: float, bound: float, since: float | None = None) -> Incumbent:
        """Build an incumbent (elapsed from ``since`` or this start) and pass it on."""
        start = self.started if since is None else since
        inc = Incumbent(
            objective=objective, bound=bound, elapsed=round(time.monotonic() - start, 4)
        )
        if self.on_progress is not None:
            self.on_progress(inc)
        return inc
