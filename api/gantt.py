"""Adapter to the factory layer's Gantt code (``aps.gantt``), imported lazily.

``aps.gantt`` needs the factory extra (Plotly for the HTML page); without it the Gantt
routes answer 501 with the reason instead of failing at start-up.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, status

from aps import Problem, Result


def _unavailable(exc: ImportError) -> HTTPException:
    return HTTPException(
        status.HTTP_501_NOT_IMPLEMENTED,
        f"Gantt output needs the factory extra (pip install 'aps[factory]'): {exc}",
    )


def gantt_rows(problem: Problem, result: Result, shape: str) -> Any:
    """Neutral rows, or the frappe-gantt / vis-timeline / Plotly figure shapes."""
    try:
        from aps import gantt
    except ImportError as exc:
        raise _unavailable(exc) from None
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
    try:
        from aps import gantt

        figure = gantt.plotly_figure(problem, result)
    except ImportError as exc:
        raise _unavailable(exc) from None
    figure.update_layout(title={"text": title})
    html: str = figure.to_html(include_plotlyjs=True, full_html=True)
    return html
