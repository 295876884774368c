"""Gantt charts: one neutral row shape, adapters for three front-end libraries.

:func:`gantt_rows` turns a (Problem, Result) into rows ``(id, resource, label, start,
end, kind, order, colour_key)`` with ``kind`` one of ``setup | run | pause | downtime``:
one ``run`` row per scheduled operation, a ``setup`` row before it when it has one, a
``pause`` row for every non-working stretch an interruptible run spans, and ``downtime``
rows for machine unavailability up to the makespan. The adapters reshape those rows for
frappe-gantt, vis-timeline and Plotly; :func:`write_html` writes a self-contained
interactive Plotly page (plotly.js embedded, no CDN).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from aps.clock import Clock
from aps.model import Id, Job, Operation, Problem
from aps.report.report import clock_for
from aps.result import Result, ScheduledOperation
from aps.worktime import TickCalendar

Kind = Literal["setup", "run", "pause", "downtime"]

#: Used only to give tick-only schedules a date axis where a library insists on dates.
TICK_EPOCH = datetime(2000, 1, 1)


class GanttRow(BaseModel):
    """One bar. ``start``/``end`` in ticks; ``start_at``/``end_at`` when time is known."""

    id: str
    resource: str
    label: str
    start: int
    end: int
    kind: Kind
    order: str | None = None
    colour_key: str
    start_at: str | None = None
    end_at: str | None = None


def gantt_rows(problem: Problem, result: Result, *, downtime: bool = True) -> list[GanttRow]:
    """The neutral Gantt rows of ``result`` (see the module docstring)."""
    clock = clock_for(problem)
    ops = {(j.id, o.id): (j, o) for j in problem.jobs for o in j.operations}
    cals = {m.id: TickCalendar(m.unavailable) for m in problem.machines}
    lane = {m.id: i for i, m in enumerate(problem.machines)}
    schedule = sorted(
        result.schedule, key=lambda r: (lane.get(r.machine, len(lane)), str(r.machine), r.busy_from)
    )
    rows: list[GanttRow] = []
    for r in schedule:
        rows.extend(_operation_rows(r, ops.get((r.job, r.op)), cals, clock))
    if downtime and schedule:
        end = max(r.end for r in schedule)
        for m in problem.machines:
            for k, w in enumerate(cals[m.id].pauses(0, end)):
                rows.append(
                    GanttRow(
                        id=f"{m.id}#down{k}",
                        resource=str(m.id),
                        label=w.reason or "unavailable",
                        start=w.start,
                        end=w.end,
                        kind="downtime",
                        colour_key="downtime",
                        start_at=_at(clock, w.start),
                        end_at=_at(clock, w.end),
                    )
                )
    return rows


def _at(clock: Clock | None, t: int) -> str | None:
    return clock.to_datetime(t).isoformat() if clock else None


def _operation_rows(
    r: ScheduledOperation,
    job_op: tuple[Job, Operation] | None,
    cals: dict[Id, TickCalendar],
    clock: Clock | None,
) -> list[GanttRow]:
    """One operation's setup (if any), run and the pauses of an interruptible run."""
    key = f"{r.job}/{r.op}"
    family = None
    if job_op is not None:
        family = job_op[1].family or job_op[0].family
    colour = str(family) if family is not None else f"job {r.job}"
    rows: list[GanttRow] = []
    if r.start > r.busy_from:
        rows.append(
            GanttRow(
                id=f"{key}#setup",
                resource=str(r.machine),
                label=f"setup {key}",
                start=r.busy_from,
                end=r.start,
                kind="setup",
                order=str(r.job),
                colour_key="setup",
                start_at=_at(clock, r.busy_from),
                end_at=_at(clock, r.start),
            )
        )
    rows.append(
        GanttRow(
            id=key,
            resource=str(r.machine),
            label=key,
            start=r.start,
            end=r.end,
            kind="run",
            order=str(r.job),
            colour_key=colour,
            start_at=_at(clock, r.start),
            end_at=_at(clock, r.end),
        )
    )
    if job_op is not None and job_op[1].interruptible and r.machine in cals:
        for k, p in enumerate(cals[r.machine].pauses(r.start, r.end)):
            rows.append(
                GanttRow(
                    id=f"{key}#pause{k}",
                    resource=str(r.machine),
                    label=f"pause {key} ({p.reason or 'unavailable'})",
                    start=p.start,
                    end=p.end,
                    kind="pause",
                    order=str(r.job),
                    colour_key="pause",
                    start_at=_at(clock, p.start),
                    end_at=_at(clock, p.end),
                )
            )
    return rows


def _date(row: GanttRow, which: Literal["start", "end"], tick_minutes: bool = True) -> str:
    """A local 'YYYY-MM-DD HH:MM:SS' (frappe-gantt parses this; ticks become minutes)."""
    iso = row.start_at if which == "start" else row.end_at
    if iso is not None:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S")
    ticks = row.start if which == "start" else row.end
    return (TICK_EPOCH + timedelta(minutes=ticks)).strftime("%Y-%m-%d %H:%M:%S")


def to_frappe(rows: list[GanttRow]) -> list[dict[str, Any]]:
    """frappe-gantt tasks (``new Gantt(el, tasks)``); downtime and pauses are left out.

    frappe-gantt has no resource lanes, so the machine goes into the task name; its
    dates are local wall-clock strings (tick-only schedules count ticks as minutes from
    2000-01-01).
    """
    return [
        {
            "id": r.id,
            "name": f"{r.label} @ {r.resource}",
            "start": _date(r, "start"),
            "end": _date(r, "end"),
            "progress": 0,
            "custom_class": f"aps-{r.kind} aps-key-{_css(r.colour_key)}",
            "dependencies": "",
        }
        for r in rows
        if r.kind in ("run", "setup")
    ]


def _css(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).lower()


def to_vis_timeline(rows: list[GanttRow]) -> dict[str, list[dict[str, Any]]]:
    """vis-timeline ``{"groups": [...], "items": [...]}``; downtime as background items.

    Times are ISO 8601 with offsets, or plain tick numbers for tick-only schedules.
    """
    groups = [{"id": g, "content": g} for g in dict.fromkeys(r.resource for r in rows)]
    items: list[dict[str, Any]] = []
    for r in rows:
        items.append(
            {
                "id": r.id,
                "group": r.resource,
                "content": r.label if r.kind == "run" else "",
                "title": r.label,
                "start": r.start_at if r.start_at is not None else r.start,
                "end": r.end_at if r.end_at is not None else r.end,
                "type": "background" if r.kind == "downtime" else "range",
                "className": f"aps-{r.kind} aps-key-{_css(r.colour_key)}",
            }
        )
    return {"groups": groups, "items": items}


_FIXED_COLOURS = {"setup": "#f2a541", "pause": "#d0d0d0", "downtime": "#9e9e9e"}
_PALETTE = [
    "#1f77b4",
    "#2ca02c",
    "#9467bd",
    "#17becf",
    "#e377c2",
    "#8c564b",
    "#bcbd22",
    "#d62728",
    "#7f7f7f",
    "#aec7e8",
    "#98df8a",
    "#c5b0d5",
]


def colours(rows: list[GanttRow]) -> dict[str, str]:
    """A stable colour per colour key (families get the palette, kinds fixed greys)."""
    keys = [k for k in dict.fromkeys(r.colour_key for r in rows) if k not in _FIXED_COLOURS]
    out = {k: _PALETTE[i % len(_PALETTE)] for i, k in enumerate(sorted(keys))}
    return {**out, **_FIXED_COLOURS}


def to_plotly(
    rows: list[GanttRow], title: str = "schedule", resources: list[str] | None = None
) -> dict[str, Any]:
    """A Plotly figure dict: horizontal bars per resource, one trace per colour key.

    With datetimes the x axis is a date axis (bar ``base`` = start, length in ms, as
    ``plotly.express.timeline`` does); otherwise it counts ticks.
    """
    dated = bool(rows) and all(r.start_at is not None for r in rows)
    palette = colours(rows)
    order = {"downtime": 0, "run": 1, "setup": 2, "pause": 3}  # later traces draw on top
    traces: dict[tuple[int, str], dict[str, Any]] = {}
    for r in sorted(rows, key=lambda r: order[r.kind]):
        key = (order[r.kind], r.colour_key)
        t = traces.setdefault(
            key,
            {
                "type": "bar",
                "orientation": "h",
                "name": r.colour_key,
                "legendgroup": r.colour_key,
                "marker": {"color": palette[r.colour_key]},
                "opacity": 0.45 if r.kind in ("downtime", "pause") else 0.95,
                "x": [],
                "base": [],
                "y": [],
                "text": [],
                "customdata": [],
                "hovertemplate": "%{customdata}<extra></extra>",
                "textposition": "none",
            },
        )
        if dated:
            assert r.start_at is not None and r.end_at is not None
            a, b = datetime.fromisoformat(r.start_at), datetime.fromisoformat(r.end_at)
            t["base"].append(a.strftime("%Y-%m-%d %H:%M:%S"))
            # the axis shows local wall-clock time, so bars span wall-clock time too
            # (a night shift across the DST switch still ends at 06:00 on the axis)
            t["x"].append((b.replace(tzinfo=None) - a.replace(tzinfo=None)).total_seconds() * 1000)
            span = f"{a:%a %Y-%m-%d %H:%M} → {b:%a %Y-%m-%d %H:%M}"
        else:
            t["base"].append(r.start)
            t["x"].append(r.end - r.start)
            span = ""
        t["y"].append(r.resource)
        t["text"].append(r.label)
        t["customdata"].append(
            f"<b>{r.label}</b><br>{r.kind} on {r.resource}<br>{span}"
            f"<br>ticks {r.start}–{r.end}" + (f"<br>order {r.order}" if r.order else "")
        )
    lanes = resources or list(dict.fromkeys(r.resource for r in rows))
    layout: dict[str, Any] = {
        "title": {"text": title},
        "barmode": "overlay",
        "bargap": 0.25,
        "height": max(300, 60 + 34 * len(lanes)),
        "yaxis": {
            "categoryorder": "array",
            "categoryarray": list(reversed(lanes)),
            "title": {"text": "machine"},
        },
        "xaxis": {
            "type": "date" if dated else "linear",
            "title": {"text": "time" if dated else "ticks"},
            "rangeslider": {"visible": True},
        },
        "legend": {"title": {"text": "family / kind"}},
    }
    return {"data": list(traces.values()), "layout": layout}


def plotly_figure(problem: Problem, result: Result) -> Any:
    """The interactive Plotly figure (``plotly.graph_objects.Figure``)."""
    import plotly.graph_objects as go

    rows = gantt_rows(problem, result)
    fig = to_plotly(
        rows, title=_title(problem, result), resources=[str(m.id) for m in problem.machines]
    )
    return go.Figure(fig)


def _title(problem: Problem, result: Result) -> str:
    parts = [f"{problem.name}: {result.status}"]
    if result.makespan is not None:
        parts.append(f"makespan {result.makespan} ticks")
    if result.gap is not None:
        parts.append(f"gap {100 * result.gap:.1f}%")
    return ", ".join(parts)


def write_html(problem: Problem, result: Result, path: str | Path) -> Path:
    """Write a self-contained interactive Gantt page (plotly.js embedded, works offline)."""
    fig = plotly_figure(problem, result)
    out = Path(path)
    fig.write_html(str(out), include_plotlyjs=True, full_html=True)
    return out
