"""Adapter to the factory layer's Gantt code (``aps.gantt``), imported lazily.

Without it (an install without the factory extra) the Gantt routes answer 501.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from fastapi import HTTPException, status

from aps import Problem, Result


def _module() -> ModuleType:
    try:
        return importlib.import_module("aps.gantt")
    except ImportError as exc:
        raise HTTPException(
            status.HTTP_501_NOT_IMPLEMENTED,
            f"Gantt output is not available in this installation: {exc}",
        ) from None


def gantt_rows(problem: Problem, result: Result, shape: str) -> Any:
    gantt = _module()
    rows = gantt.gantt_rows(problem, result.schedule)
    if shape == "neutral":
        return [r.model_dump(mode="json") for r in rows]
    adapter = getattr(gantt, f"to_{shape}")
    return adapter(rows)


def gantt_html(problem: Problem, result: Result, title: str) -> str:
    gantt = _module()
    html: str = gantt.gantt_html(problem, result.schedule, title=title)
    return html
