"""Schedule rows as the API hands them out: with datetimes, as JSON rows or a CSV file.

Job schedules and published plant schedules share one shape, so one module makes both.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from fastapi import Response

from api.schemas import ScheduledOperationPublic
from aps import ScheduledOperation, TimeBase


def public_rows(
    schedule: Iterable[ScheduledOperation], clock: TimeBase | None
) -> list[ScheduledOperationPublic]:
    """Schedule rows with ``start_at``/``end_at`` in the plant's zone when it has one."""
    return [
        ScheduledOperationPublic(
            **r.model_dump(),
            start_at=clock.to_datetime(r.start) if clock else None,
            end_at=clock.to_datetime(r.end) if clock else None,
        )
        for r in schedule
    ]


def csv_response(ops: list[ScheduledOperationPublic], with_dates: bool, filename: str) -> Response:
    """The rows as a CSV download (datetime columns only for problems with a clock)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["job", "op", "machine", "setup_start", "start", "end"]
        + (["start_at", "end_at"] if with_dates else [])
    )
    for o in ops:
        line: list[Any] = [
            o.job,
            o.op,
            o.machine,
            "" if o.setup_start is None else o.setup_start,
            o.start,
            o.end,
        ]
        if with_dates:
            line += [
                o.start_at.isoformat() if o.start_at else "",
                o.end_at.isoformat() if o.end_at else "",
            ]
        writer.writerow(line)
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
