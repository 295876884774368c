"""Small hand-made plants for the factory tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aps.factory import Plant

T0 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday


def iso(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def tiny(**over: Any) -> dict[str, Any]:
    """A one-machine, one-product, always-open plant as plant JSON (minutes as ticks)."""
    data: dict[str, Any] = {
        "name": "tiny",
        "horizon": {"start": iso(0), "end": iso(7 * 1440), "tick_seconds": 60},
        "machines": [{"id": "M1"}],
        "products": [{"id": "P", "routing": [
            {"id": "op1", "machines": [{"machine": "M1"}], "run_per_unit": "PT1M"}]}],
        "orders": [{"id": "O1", "product": "P", "quantity": 10}],
    }
    data.update(over)
    return data


def plant(**over: Any) -> Plant:
    return Plant.model_validate(tiny(**over))
