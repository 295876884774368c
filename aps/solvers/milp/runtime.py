"""HiGHS's process-wide state: its thread scheduler and Pyomo's translation lock."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from typing import Any

#: An affine expression: Pyomo expressions, variables or plain ints.
Expr = Any


# HiGHS keeps one thread scheduler per process, sized by the first solve's ``threads``;
# asking for another size later fails the solve. It can only be rebuilt while no HiGHS
# solve runs, so concurrent MILP solves share the current size (recorded in the result).
_SCHEDULER_LOCK = threading.Lock()


#: Pyomo's ``set_instance`` redirects the process's stdout/stderr fds: one at a time.
TRANSLATE_LOCK = threading.Lock()


_scheduler_threads: int | None = None


_active_solves = 0


def _acquire_threads(wanted: int) -> int:
    """Register a solve and return the thread count it may use."""
    global _scheduler_threads, _active_solves
    import highspy

    with _SCHEDULER_LOCK:
        if _scheduler_threads != wanted and (_scheduler_threads is None or _active_solves == 0):
            if _scheduler_threads is not None:
                highspy.Highs.resetGlobalScheduler(True)
            _scheduler_threads = wanted
        _active_solves += 1
        assert _scheduler_threads is not None
        return _scheduler_threads


def _release_threads() -> None:
    global _active_solves
    with _SCHEDULER_LOCK:
        _active_solves -= 1


@contextmanager
def highs_threads(wanted: int) -> Iterator[int]:
    """Hold HiGHS's process-wide scheduler for one solve; yields the threads it may use."""
    granted = _acquire_threads(wanted)
    try:
        yield granted
    finally:
        _release_threads()


def solver_version() -> str:
    """HiGHS and Pyomo versions, recorded in every result."""
    return f"highs {version('highspy')} via pyomo {version('pyomo')}"
