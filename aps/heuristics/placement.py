"""Where one operation fits next on a machine: calendar windows, setup and stock draws.

Shared by the greedy schedulers (the feasibility witness in :mod:`aps.heuristics.witness`
and the right-shift repair in :mod:`aps.heuristics.repair`) so both read a calendar the
same way.
"""

from __future__ import annotations

from bisect import bisect_left

from aps.heuristics.stock import StockProfile
from aps.worktime import TickCalendar

#: Past every tick a problem may use (ticks are bounded to +-2**40).
NEVER = 1 << 62


def earliest_slot(
    cal: TickCalendar,
    setup: int,
    duration: int,
    interruptible: bool,
    free: int,
    floor: int,
    draws: list[tuple[StockProfile, int]],
    horizon: int = NEVER,
    setup_off_shift: bool = False,
) -> tuple[int, int, int] | None:
    """Earliest (setup_start, start, end) with setup_start >= free and start >= floor.

    The setup runs in working time right before the start (anywhere right before it
    with ``setup_off_shift``: the machine's off-shift setups); a non-interruptible run
    fits inside one window, an interruptible one pauses over the unavailable ones; every
    stock draw must be coverable at the start. ``None`` when nothing fits before
    ``horizon``.
    """
    if setup_off_shift:
        return _earliest_run(cal, setup, duration, interruptible, free, floor, draws, horizon)
    t = max(free, floor - setup)
    for _ in range(100_000):
        if t >= horizon:
            return None
        b = cal.next_working(t)
        k = bisect_left(cal.starts, b)  # the first unavailable window after b
        window_end = cal.starts[k] if k < len(cal.starts) else NEVER
        s = b + setup
        need_end = s + duration if not interruptible else s + (1 if duration > 0 else 0)
        if need_end > window_end:
            t = cal.ends[k] if k < len(cal.ends) else horizon
            continue
        if s < floor:
            t = floor - setup
            continue
        ready = s
        for profile, quantity in draws:
            tau = profile.earliest_draw(s, quantity)
            if tau is None:
                return None
            ready = max(ready, tau)
        if ready > s:
            t = ready - setup
            continue
        e = cal.add_working(s, duration) if interruptible else s + duration
        if e > horizon:
            return None
        return b, s, e
    return None


def _earliest_run(
    cal: TickCalendar,
    setup: int,
    duration: int,
    interruptible: bool,
    free: int,
    floor: int,
    draws: list[tuple[StockProfile, int]],
    horizon: int,
) -> tuple[int, int, int] | None:
    """:func:`earliest_slot` when the setup may overlap unavailable time: the earliest run
    start ``s >= max(floor, free + setup)`` in working time (with a non-interruptible
    run's room before the next window, and the stock); the setup is ``[s - setup, s)``."""
    t = max(floor, free + setup)
    for _ in range(100_000):
        if t >= horizon:
            return None
        s = cal.next_working(t)
        k = bisect_left(cal.starts, s)  # the first unavailable window after s
        window_end = cal.starts[k] if k < len(cal.starts) else NEVER
        need_end = s + duration if not interruptible else s + (1 if duration > 0 else 0)
        if need_end > window_end:
            t = cal.ends[k] if k < len(cal.ends) else horizon
            continue
        ready = s
        for profile, quantity in draws:
            tau = profile.earliest_draw(s, quantity)
            if tau is None:
                return None
            ready = max(ready, tau)
        if ready > s:
            t = ready
            continue
        e = cal.add_working(s, duration) if interruptible else s + duration
        if e > horizon:
            return None
        return s - setup, s, e
    return None
