"""The calendar layer: shifts, holidays, exceptions, maintenance, DST, tick arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aps.clock import Clock
from aps.factory.calendar import (
    Calendar,
    CalendarException,
    DateTimeWindow,
    Holiday,
    Shift,
    Weekday,
    parse_days,
    unavailable_windows,
    working_intervals,
)
from aps.model import Window
from aps.worktime import TickCalendar, longest_working_window

BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS = [Weekday(d) for d in ("mon", "tue", "wed", "thu", "fri")]


def two_shift(**kw: object) -> Calendar:
    return Calendar(
        id="c",
        timezone="Europe/Berlin",
        shifts=[
            Shift(days=WEEKDAYS, start=time(6), end=time(14)),
            Shift(days=WEEKDAYS, start=time(14), end=time(22)),
        ],
        **kw,
    )


def berlin(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=BERLIN)


def hours(intervals: list[tuple[datetime, datetime]]) -> list[float]:
    return [(b - a).total_seconds() / 3600 for a, b in intervals]


def test_parse_days() -> None:
    assert parse_days("mon-fri") == WEEKDAYS
    assert parse_days("sat;sun") == [Weekday.SAT, Weekday.SUN]
    assert parse_days("fri-mon") == [Weekday.FRI, Weekday.SAT, Weekday.SUN, Weekday.MON]
    with pytest.raises(ValueError, match="unknown day"):
        parse_days("funday")


def test_two_shifts_and_weekend_become_unavailable_windows() -> None:
    # Monday 2026-03-02 00:00 CET, one week of minutes
    clock = Clock(berlin(2026, 3, 2), 60, "Europe/Berlin")
    windows = unavailable_windows(two_shift(), clock, 7 * 1440)
    # Mon 00-06 off, then nightly 22-06, and the weekend Fri 22:00 -> end of horizon
    assert windows[0] == Window(start=0, end=360, reason="off-shift")
    assert (windows[1].start, windows[1].end) == (1320, 1440 + 360)
    assert (windows[-1].start, windows[-1].end) == (4 * 1440 + 1320, 7 * 1440)
    work = TickCalendar(windows).working(0, 7 * 1440)
    assert work == 5 * 16 * 60
    assert longest_working_window(windows, 7 * 1440) == 16 * 60


def test_public_and_explicit_holidays_cancel_shifts() -> None:
    # Good Friday (3 Apr 2026) and Easter Monday are public holidays in Bavaria
    cal = two_shift(
        holiday_country="DE",
        holiday_subdivision="BY",
        holidays=[Holiday(date=datetime(2026, 4, 1).date(), name="stock-taking")],
    )
    work = working_intervals(cal, berlin(2026, 3, 30), berlin(2026, 4, 11))
    days = sorted({a.astimezone(BERLIN).date().isoformat() for a, _ in work})
    assert "2026-04-03" not in days and "2026-04-06" not in days
    assert "2026-04-01" not in days
    assert days == [
        "2026-03-30",
        "2026-03-31",
        "2026-04-02",
        "2026-04-07",
        "2026-04-08",
        "2026-04-09",
        "2026-04-10",
    ]
    clock = Clock(berlin(2026, 3, 30), 60, "Europe/Berlin")
    reasons = {w.reason for w in unavailable_windows(cal, clock, 12 * 1440)}
    assert "holiday: Good Friday" in reasons and "holiday: stock-taking" in reasons


def test_exceptions_close_and_open_and_maintenance_blocks() -> None:
    cal = two_shift(
        exceptions=[
            CalendarException(
                start=berlin(2026, 3, 3, 6),
                end=berlin(2026, 3, 3, 14),
                working=False,
                reason="power cut",
            ),
            CalendarException(
                start=berlin(2026, 3, 7, 8),
                end=berlin(2026, 3, 7, 12),
                working=True,
                reason="Saturday overtime",
            ),
        ]
    )
    maint = [
        DateTimeWindow(
            start=berlin(2026, 3, 4, 10), end=berlin(2026, 3, 4, 12), reason="oil change"
        )
    ]
    work = working_intervals(cal, berlin(2026, 3, 2), berlin(2026, 3, 9), maint)
    assert sum(hours(work)) == 5 * 16 - 8 + 4 - 2
    clock = Clock(berlin(2026, 3, 2), 60, "Europe/Berlin")
    windows = unavailable_windows(cal, clock, 7 * 1440, maint)
    tuesday = next(w for w in windows if w.start <= 1440 + 360 < w.end)
    assert tuesday.end == 1440 + 14 * 60  # closed until 14:00 on Tuesday
    by_reason = {w.reason: w for w in windows}
    assert "maintenance: oil change" in by_reason
    assert (
        by_reason["maintenance: oil change"].start,
        by_reason["maintenance: oil change"].end,
    ) == (2 * 1440 + 600, 2 * 1440 + 720)


def night_shift() -> Calendar:
    return Calendar(
        id="n",
        timezone="Europe/Berlin",
        shifts=[Shift(days=[Weekday.SAT], start=time(22), end=time(6))],
    )


def test_dst_spring_forward_night_shift_is_one_hour_shorter() -> None:
    # Europe/Berlin switches on Sun 29 Mar 2026, 02:00 CET -> 03:00 CEST
    work = working_intervals(night_shift(), berlin(2026, 3, 28), berlin(2026, 3, 30))
    assert hours(work) == [7.0]
    clock = Clock(berlin(2026, 3, 28), 60, "Europe/Berlin")
    windows = unavailable_windows(night_shift(), clock, 2 * 1440 - 60)
    assert TickCalendar(windows).working(0, 2 * 1440 - 60) == 7 * 60
    assert clock.to_datetime(22 * 60 + 7 * 60).isoformat() == "2026-03-29T06:00:00+02:00"


def test_dst_fall_back_night_shift_is_one_hour_longer() -> None:
    # ... and back on Sun 25 Oct 2026, 03:00 CEST -> 02:00 CET
    work = working_intervals(night_shift(), berlin(2026, 10, 24), berlin(2026, 10, 26))
    assert hours(work) == [9.0]
    clock = Clock(berlin(2026, 10, 24), 60, "Europe/Berlin")
    windows = unavailable_windows(night_shift(), clock, 2 * 1440 + 60)
    assert TickCalendar(windows).working(0, 2 * 1440 + 60) == 9 * 60
    assert clock.to_datetime(22 * 60 + 9 * 60).isoformat() == "2026-10-25T06:00:00+01:00"


def test_clock_round_trip_and_rounding_across_dst() -> None:
    clock = Clock(berlin(2026, 3, 28), 900, "Europe/Berlin")  # 15-minute ticks
    moment = berlin(2026, 3, 30, 8, 7)
    t = clock.to_tick(moment)
    assert clock.to_tick(moment, "ceil") == t + 1
    assert clock.to_datetime(t) <= moment < clock.to_datetime(t + 1)
    # elapsed, not wall-clock: 28 Mar 00:00 CET -> 30 Mar 08:00 CEST is 55 hours
    assert clock.to_tick(berlin(2026, 3, 30, 8)) == 55 * 4
    assert clock.ticks(timedelta(minutes=16)) == 2
    assert clock.ticks(timedelta(minutes=16), "floor") == 1
    assert Clock(datetime(2026, 1, 1, tzinfo=UTC)).to_tick(berlin(2026, 1, 1, 1)) == 0
    with pytest.raises(ValueError, match="offset"):
        clock.to_tick(datetime(2026, 3, 30))


def test_tick_calendar_working_time_arithmetic() -> None:
    cal = TickCalendar([Window(start=10, end=20), Window(start=30, end=35)])
    assert cal.add_working(0, 10) == 10
    assert cal.add_working(5, 10) == 25
    assert cal.add_working(12, 5) == 25
    assert cal.add_working(0, 25) == 40
    assert cal.working(0, 40) == 25
    assert [(p.start, p.end) for p in cal.pauses(5, 32)] == [(10, 20), (30, 32)]
    assert cal.next_working(15) == 20 and cal.next_working(25) == 25


def test_bad_calendar_inputs() -> None:
    with pytest.raises(ValueError, match="IANA"):
        Calendar(id="x", timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="holiday country"):
        Calendar(id="x", holiday_country="XX")
    with pytest.raises(ValueError, match="after start"):
        DateTimeWindow(start=berlin(2026, 1, 2), end=berlin(2026, 1, 1))


# -- property: ticks agree with a direct reading of the shift pattern ----------------------


@st.composite
def shift_patterns(draw: st.DrawFn) -> list[Shift]:
    out = []
    for _ in range(draw(st.integers(1, 3))):
        days = draw(st.lists(st.sampled_from(list(Weekday)), min_size=1, max_size=7, unique=True))
        start = draw(st.integers(0, 23 * 4)) * 15
        length = draw(st.integers(1, 4 * 12)) * 15
        end = (start + length) % 1440
        out.append(
            Shift(days=days, start=time(start // 60, start % 60), end=time(end // 60, end % 60))
        )
    return out


def _working_by_reading(cal: Calendar, moment: datetime) -> bool:
    """Is the local wall-clock ``moment`` inside a shift (of today, or of yesterday's that
    runs past midnight)?"""
    local = moment.astimezone(cal.zone)
    minute = local.hour * 60 + local.minute
    for shift in cal.shifts:
        s = shift.start.hour * 60 + shift.start.minute
        e = shift.end.hour * 60 + shift.end.minute
        today = local.weekday() in {d.number for d in shift.days}
        yesterday = (local.weekday() - 1) % 7 in {d.number for d in shift.days}
        if e > s and today and s <= minute < e:
            return True
        if e <= s and ((today and minute >= s) or (yesterday and minute < e)):
            return True
    return False


@settings(max_examples=40, deadline=None)
@given(
    shift_patterns(),
    st.integers(0, 300),
    st.sampled_from(["Europe/Berlin", "UTC", "America/New_York"]),
)
def test_unavailable_windows_match_the_shift_pattern(
    shifts: list[Shift], day: int, zone: str
) -> None:
    """Sample minutes across two weeks (DST switches included by the random start day)."""
    cal = Calendar(id="p", timezone=zone, shifts=shifts)
    origin = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=day)
    clock = Clock(origin, 60, zone)
    horizon = 14 * 1440
    blocked = TickCalendar(unavailable_windows(cal, clock, horizon))
    for t in range(0, horizon, 37):
        moment = clock.to_datetime(t)
        # a tick at a DST gap/fold edge may be read either way; skip the two switch hours
        if (
            moment.utcoffset() != (moment + timedelta(hours=2)).utcoffset()
            or moment.utcoffset() != (moment - timedelta(hours=2)).utcoffset()
        ):
            continue
        assert blocked.is_blocked(t) != _working_by_reading(cal, moment), (t, moment)
