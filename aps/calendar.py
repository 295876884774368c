"""The one calendar layer: wall-clock datetimes ⇄ integer ticks, and working time.

Everything that turns a planner's dates into ticks, or ticks back into dates, goes
through here: the plant compiler (shift patterns, holidays, exceptions and maintenance
become a machine's unavailable tick windows), the report and Gantt output (ticks back to
local datetimes, pauses of interruptible operations) and, if it wants to, the validator
(:class:`TickCalendar` does the same working-time arithmetic on tick windows).

Ticks count *elapsed* time from the plan's origin (``origin + tick * tick_seconds``), so
they are immune to daylight-saving changes; shift patterns are *local* wall-clock times
in the calendar's IANA zone and are resolved with :mod:`zoneinfo` day by day. A night
shift 22:00–06:00 across the spring switch therefore lasts 7 hours and across the
autumn switch 9 hours, as it does on the shop floor.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from datetime import timezone as dt_timezone
from enum import StrEnum
from typing import Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from aps.model import TimeBase, Window

Rounding = Literal["floor", "ceil"]


class Weekday(StrEnum):
    """Days of the week as planners write them."""

    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"

    @property
    def number(self) -> int:
        """Python's ``date.weekday()`` number (Monday = 0)."""
        return list(Weekday).index(self)


_DAY_NAMES: dict[str, Weekday] = {d.value: d for d in Weekday} | {
    "monday": Weekday.MON,
    "tuesday": Weekday.TUE,
    "wednesday": Weekday.WED,
    "thursday": Weekday.THU,
    "friday": Weekday.FRI,
    "saturday": Weekday.SAT,
    "sunday": Weekday.SUN,
}


def parse_days(text: str) -> list[Weekday]:
    """Parse ``"mon-fri"``, ``"mon;wed;fri"`` or ``"sat"`` into weekdays (CSV shorthand).

    Raises
    ------
    ValueError
        For an unknown day name.
    """
    days: list[Weekday] = []
    for part in text.replace(",", ";").replace(" ", "").lower().split(";"):
        if not part:
            continue
        if "-" in part:
            a, b = part.split("-", 1)
            i, j = _day(a).number, _day(b).number
            span = range(i, j + 1) if i <= j else [*range(i, 7), *range(0, j + 1)]
            days.extend(list(Weekday)[k] for k in span)
        else:
            days.append(_day(part))
    if not days:
        raise ValueError("no days given")
    return list(dict.fromkeys(days))


def _day(name: str) -> Weekday:
    try:
        return _DAY_NAMES[name]
    except KeyError:
        raise ValueError(f"unknown day {name!r}; use mon, tue, wed, thu, fri, sat, sun") from None


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Shift(_Frozen):
    """A weekly recurring working window in local wall-clock time.

    ``end <= start`` means the shift crosses midnight and ends the next day; a shift
    belongs to the day it starts on (that day's holiday cancels it).
    """

    days: list[Weekday] = Field(min_length=1)
    start: time
    end: time
    name: str | None = Field(default=None, max_length=200)

    @field_validator("days", mode="before")
    @classmethod
    def _days(cls, value: object) -> object:
        return parse_days(value) if isinstance(value, str) else value

    @field_validator("start", "end")
    @classmethod
    def _local_time(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError(
                "shift times are local wall-clock times in the calendar's zone; "
                "give them without a UTC offset, e.g. 06:00"
            )
        return value


class Holiday(_Frozen):
    """A local date on which no shift starts."""

    date: date
    name: str | None = Field(default=None, max_length=200)


class DateTimeWindow(_Frozen):
    """A wall-clock interval ``[start, end)`` with explicit UTC offsets."""

    start: AwareDatetime
    end: AwareDatetime
    reason: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end <= self.start:
            raise ValueError(
                f"end {self.end.isoformat()} must be after start {self.start.isoformat()}"
            )
        return self


class CalendarException(DateTimeWindow):
    """A one-off change: ``working=false`` closes the plant, ``true`` adds working time."""

    working: bool = False


class Calendar(_Frozen):
    """Working time of a machine or group: shifts minus holidays, plus/minus exceptions."""

    id: str = Field(min_length=1, max_length=200)
    timezone: str = "UTC"
    shifts: list[Shift] = Field(default_factory=list)
    holidays: list[Holiday] = Field(default_factory=list)
    holiday_country: str | None = Field(
        default=None, description="ISO country code for the `holidays` package, e.g. DE"
    )
    holiday_subdivision: str | None = Field(default=None, description="e.g. BY for Bavaria")
    exceptions: list[CalendarException] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _country(self) -> Self:
        if self.holiday_country is not None:
            import holidays as holidays_pkg

            try:
                holidays_pkg.country_holidays(
                    self.holiday_country, subdiv=self.holiday_subdivision, years=2000
                )
            except NotImplementedError as exc:
                raise ValueError(
                    f"unknown holiday country/subdivision {self.holiday_country!r}/"
                    f"{self.holiday_subdivision!r}"
                ) from exc
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def holiday_dates(self, first: date, last: date) -> dict[date, str]:
        """Holidays in ``[first, last]``: the explicit ones and the country's public ones."""
        out: dict[date, str] = {}
        if self.holiday_country is not None:
            import holidays as holidays_pkg

            public = holidays_pkg.country_holidays(
                self.holiday_country,
                subdiv=self.holiday_subdivision,
                years=range(first.year, last.year + 1),
            )
            for day, name in public.items():
                if first <= day <= last:
                    out[day] = str(name)
        for h in self.holidays:
            if first <= h.date <= last:
                out[h.date] = h.name or "holiday"
        return out


# -- absolute-time interval arithmetic --------------------------------------------------

Interval = tuple[datetime, datetime]


def _union(intervals: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _subtract(base: Sequence[Interval], cut: Iterable[Interval]) -> list[Interval]:
    out = list(base)
    for c0, c1 in _union(cut):
        nxt: list[Interval] = []
        for a, b in out:
            if c1 <= a or c0 >= b:
                nxt.append((a, b))
                continue
            if a < c0:
                nxt.append((a, c0))
            if c1 < b:
                nxt.append((c1, b))
        out = nxt
    return out


def _clip(intervals: Iterable[Interval], start: datetime, end: datetime) -> list[Interval]:
    return [(max(a, start), min(b, end)) for a, b in intervals if b > start and a < end]


def _local(day: date, at: time, zone: ZoneInfo) -> datetime:
    """Local wall-clock time → aware UTC datetime.

    A time in the spring gap (02:30 on the switch day) is read with the offset before
    the switch (``fold=0``), i.e. it lands an hour later on the new clock; an ambiguous
    autumn time means its first occurrence.
    """
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def shift_intervals(
    calendar: Calendar, start: datetime, end: datetime
) -> tuple[list[Interval], list[tuple[Interval, str]]]:
    """Shift occurrences in ``[start, end)`` and the ones cancelled by holidays.

    Returns
    -------
    (working, cancelled)
        ``working`` are merged UTC intervals; ``cancelled`` pairs each shift that a
        holiday removed with the holiday's name (for downtime labels).
    """
    zone = calendar.zone
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    first = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    hol = calendar.holiday_dates(first, last)
    working: list[Interval] = []
    cancelled: list[tuple[Interval, str]] = []
    day = first
    while day <= last:
        for shift in calendar.shifts:
            if day.weekday() not in {d.number for d in shift.days}:
                continue
            end_day = day if shift.end > shift.start else day + timedelta(days=1)
            a, b = _local(day, shift.start, zone), _local(end_day, shift.end, zone)
            if b <= a:
                continue
            if day in hol:
                cancelled.append(((a, b), hol[day]))
            else:
                working.append((a, b))
        day += timedelta(days=1)
    return _clip(_union(working), start, end), [
        (iv, name) for iv, name in cancelled if iv[1] > start and iv[0] < end
    ]


def working_intervals(
    calendar: Calendar,
    start: datetime,
    end: datetime,
    maintenance: Iterable[DateTimeWindow] = (),
) -> list[Interval]:
    """Working time in ``[start, end)`` as merged UTC intervals.

    (shifts − holidays) ∪ working exceptions − closing exceptions − maintenance.
    """
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    shifts, _ = shift_intervals(calendar, start, end)
    extra = [
        (e.start.astimezone(UTC), e.end.astimezone(UTC)) for e in calendar.exceptions if e.working
    ]
    closed = [
        (e.start.astimezone(UTC), e.end.astimezone(UTC))
        for e in calendar.exceptions
        if not e.working
    ]
    closed += [(m.start.astimezone(UTC), m.end.astimezone(UTC)) for m in maintenance]
    return _clip(_subtract(_union([*shifts, *extra]), closed), start, end)


# -- ticks ----------------------------------------------------------------------------


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
        micro = _micros(moment.astimezone(UTC) - self.origin.astimezone(UTC))
        return _div(micro, self.tick_seconds * 1_000_000, rounding)

    def to_datetime(self, tick: int) -> datetime:
        """The local datetime of ``tick`` in the plan's display zone."""
        return (
            self.origin.astimezone(UTC) + timedelta(seconds=tick * self.tick_seconds)
        ).astimezone(ZoneInfo(self.timezone))

    def ticks(self, duration: timedelta, rounding: Rounding = "ceil") -> int:
        """A duration in ticks; ``ceil`` by default so a plan never promises too little."""
        return _div(_micros(duration), self.tick_seconds * 1_000_000, rounding)

    def to_timedelta(self, ticks: int) -> timedelta:
        return timedelta(seconds=ticks * self.tick_seconds)

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


def _micros(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _div(a: int, b: int, rounding: Rounding) -> int:
    return a // b if rounding == "floor" else -((-a) // b)


def unavailable_windows(
    calendar: Calendar,
    clock: Clock,
    horizon: int,
    maintenance: Iterable[DateTimeWindow] = (),
) -> list[Window]:
    """A machine's unavailable tick windows over ``[0, horizon)``, each with a reason.

    The complement of :func:`working_intervals` (rounded so partial ticks are not
    working). Each gap is labelled with its most specific cause: maintenance, a closing
    exception, a holiday, or plain ``off-shift``.
    """
    maint = list(maintenance)
    start, end = clock.to_datetime(0), clock.to_datetime(horizon)
    work = clock.tick_windows(working_intervals(calendar, start, end, maint), shrink=True)
    causes: list[tuple[tuple[int, int], str]] = []
    for m in maint:
        causes.extend(
            (w, f"maintenance: {m.reason}" if m.reason else "maintenance")
            for w in clock.tick_windows([(m.start, m.end)], shrink=False)
        )
    for exc in calendar.exceptions:
        if not exc.working:
            causes.extend(
                (w, exc.reason or "closed")
                for w in clock.tick_windows([(exc.start, exc.end)], shrink=False)
            )
    _, cancelled = shift_intervals(calendar, start, end)
    for iv, name in cancelled:
        causes.extend((w, f"holiday: {name}") for w in clock.tick_windows([iv], shrink=False))
    out: list[Window] = []
    t = 0
    for s, e in [*work, (horizon, horizon)]:
        if s > t:
            reason = next((r for (a, b), r in causes if a < s and b > t), "off-shift")
            out.append(Window(start=t, end=min(s, horizon), reason=reason))
        t = max(t, e)
        if t >= horizon:
            break
    return [w for w in out if w.end > w.start]


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
