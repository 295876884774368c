"""The Gantt shapes the API serves, from the core's Gantt rows (:mod:`aps.report.gantt`)."""

from __future__ import annotations

from typing import Any

from aps import Problem, Result
from aps.report import gantt


def gantt_rows(problem: Problem, result: Result, shape: str) -> Any:
    """Neutral rows, or the frappe-gantt / vis-timeline / Plotly figure shapes."""
    rows = gantt.gantt_rows(problem, result)
    if shape == "frappe":
        return gantt.to_frappe(rows)
    if shape == "vis":
        return gantt.to_vis_timeline(rows)
    if shape == "plotly":
        return gantt.to_plotly(
            rows, title=problem.name, resources=[str(m.id) for m in problem.machines]
        )
    return [row.model_dump(mode="json") for row in rows]


def gantt_html(problem: Problem, result: Result, title: str) -> str:
    """A self-contained interactive page (plotly.js embedded, works offline)."""
    figure = gantt.plotly_figure(problem, result)
    figure.update_layout(title={"text": title})
    html: str = figure.to_html(include_plotlyjs=True, full_html=True)
    return html
