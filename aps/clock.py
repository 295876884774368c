"""Datetime <-> integer tick conversion for one plan.

Ticks count *elapsed* time from the plan's origin (``origin + tick * tick_seconds``), so
they are immune to daylight-saving changes; the time zone only says how ticks are
displayed. The plant compiler, the report, the Gantt output and the live plant's event
intake all convert through :class:`Clock`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Literal
from zoneinfo import ZoneInfo

from aps.model import TimeBase

Rounding = Literal["floor", "ceil"]


Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class Clock:
    """Datetime ⇄ tick conversion for one plan: ``origin + tick * tick_seconds``.

    ``timezone`` is only how ticks are *displayed*; the arithmetic is in elapsed time.
    """

    origin: datetime
    tick_seconds: int = 60
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if self.origin.tzinfo is None or self.origin.utcoffset() is None:
            raise ValueError("the plan origin needs a UTC offset")
        # Arithmetic on datetimes sharing a ZoneInfo is wall-clock arithmetic in Python;
        # keep the origin at a fixed offset so ``origin + timedelta`` is elapsed time.
        offset = self.origin.utcoffset()
        assert offset is not None
        object.__setattr__(self, "origin", self.origin.astimezone(dt_timezone(offset)))
        if self.tick_seconds <= 0:
            raise ValueError("tick_seconds must be positive")
        ZoneInfo(self.timezone)

    @classmethod
    def from_timebase(cls, base: TimeBase) -> Clock:
        return cls(base.origin, base.tick_seconds, base.timezone)

    def timebase(self) -> TimeBase:
        return TimeBase(origin=self.origin, tick_seconds=self.tick_seconds, timezone=self.timezone)

    def to_tick(self, moment: datetime, rounding: Rounding = "floor") -> int:
        """Ticks from the origin to ``moment`` (an aware datetime), rounded as asked."""
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"datetime {moment.isoformat()} has no UTC offset")
        micro = micros(moment.astimezone(UTC) - self.origin.astimezone(UTC))
        return _div(micro, self.tick_seconds * 1_000_000, rounding)

    def to_datetime(self, tick: int) -> datetime:
        """The local datetime of ``tick`` in the plan's display zone."""
        return (
            self.origin.astimezone(UTC) + timedelta(seconds=tick * self.tick_seconds)
        ).astimezone(ZoneInfo(self.timezone))

    def ticks(self, duration: timedelta, rounding: Rounding = "ceil") -> int:
        """A duration in ticks; ``ceil`` by default so a plan never promises too little."""
        return _div(micros(duration), self.tick_seconds * 1_000_000, rounding)

    def tick_windows(self, intervals: Iterable[Interval], *, shrink: bool) -> list[tuple[int, int]]:
        """Datetime intervals → tick intervals.

        ``shrink=True`` rounds inwards (working time: only whole ticks count as working),
        ``False`` outwards (unavailability: a partly blocked tick is blocked).
        """
        out: list[tuple[int, int]] = []
        for a, b in intervals:
            if shrink:
                s, e = self.to_tick(a, "ceil"), self.to_tick(b, "floor")
            else:
                s, e = self.to_tick(a, "floor"), self.to_tick(b, "ceil")
            if e > s:
                out.append((s, e))
        return out


def micros(delta: timedelta) -> int:
    """``delta`` in whole microseconds (exact, for any size)."""
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _div(a: int, b: int, rounding: Rounding) -> int:
    return a // b if rounding == "floor" else -((-a) // b)
