"""Shift calendars: weekly shifts, holidays and exceptions in an IANA time zone.

The plant compiler turns them, with maintenance, into each machine's unavailable tick
windows (:func:`unavailable_windows`). Shift patterns are *local* wall-clock times in the
calendar's zone and are resolved with :mod:`zoneinfo` day by day: a night shift
22:00–06:00 across the spring switch lasts 7 hours and across the autumn switch 9
hours, as it does on the shop floor. Tick conversion is :mod:`aps.clock`'s; working-time
arithmetic on tick windows is :mod:`aps.worktime`'s.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from aps.clock import Clock, Interval
from aps.model import Window


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
