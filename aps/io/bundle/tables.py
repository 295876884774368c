"""The bundle format: its tables and columns, and error reporting by table, row, column."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

#: table name → (required columns, optional columns)
TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "settings": (("key", "value"), ()),
    "calendars": (("id",), ("timezone", "holiday_country", "holiday_subdivision")),
    "shifts": (("calendar", "days", "start", "end"), ("name",)),
    "holidays": (("calendar", "date"), ("name",)),
    "exceptions": (("calendar", "start", "end"), ("working", "reason")),
    "machine_groups": (("id",), ("name", "calendar", "setup_matrix")),
    "machines": (("id",), ("name", "group", "calendar", "setup_matrix")),
    "maintenance": (("machine", "start", "end"), ("reason",)),
    "setups": (("matrix", "to_family", "changeover"), ("from_family",)),
    "products": (("id",), ("name", "family")),
    "routings": (
        ("product", "operation"),
        (
            "name",
            "machines",
            "predecessors",
            "setup",
            "run_per_unit",
            "duration",
            "min_lag",
            "max_lag",
            "interruptible",
            "family",
        ),
    ),
    "routing_machines": (
        ("product", "operation", "machine"),
        ("run_per_unit", "duration", "setup"),
    ),
    "bom": (("product", "operation", "material", "kind"), ("per_unit",)),
    "materials": (("id",), ("name", "unit", "initial_stock")),
    "receipts": (("material", "at", "quantity"), ()),
    "orders": (
        ("id", "product", "quantity"),
        ("release", "due", "deadline", "weight", "status", "completed_operations"),
    ),
}


REQUIRED_TABLES = ("settings", "machines", "routings", "orders")


SETTINGS_KEYS = (
    "name",
    "start",
    "end",
    "tick_seconds",
    "timezone",
    "default_calendar",
    "objective",
    "objective_kind",
)


class BundleError(ValueError):
    """Every problem found in a plant input, each naming file/sheet, row and column."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        head = "; ".join(e.replace("\n", " ") for e in errors[:5])
        more = f" (+{len(errors) - 5} more)" if len(errors) > 5 else ""
        super().__init__(f"{head}{more}")


@dataclass
class Row:
    table: str
    number: int  # spreadsheet row number (header = 1)
    cells: dict[str, str]


@dataclass
class Reader:
    """Collects errors and provenance while turning rows into models."""

    suffix: str  # ".csv" for files, "" for sheets
    errors: list[str] = field(default_factory=list)
    # plant path prefix → (table, row, column override)
    origin: dict[tuple[str | int, ...], tuple[str, int, str | None]] = field(default_factory=dict)

    def where(self, table: str, row: int | None = None, column: str | None = None) -> str:
        text = f"{table}{self.suffix}" if self.suffix else f"sheet {table!r}"
        if row is not None:
            text += f", row {row}"
        if column is not None:
            text += f", column {column!r}"
        return text

    def error(self, table: str, row: int | None, column: str | None, reason: str) -> None:
        self.errors.append(f"{self.where(table, row, column)}: {reason}")

    def build(
        self, model: type[M], row: Row, data: dict[str, Any], columns: dict[str, str] | None = None
    ) -> M | None:
        """Validate ``data`` (from ``row``) as ``model``; record errors by column."""
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            for e in exc.errors():
                loc = [p for p in e["loc"] if isinstance(p, str)]
                col = (columns or {}).get(loc[0], loc[0]) if loc else None
                if (
                    col is not None
                    and col not in row.cells
                    and col not in TABLES[row.table][0]
                    and col not in TABLES[row.table][1]
                ):
                    col = None
                self.error(row.table, row.number, col, explain(e))
            return None


M = TypeVar("M", bound=BaseModel)


def explain(error: Any) -> str:
    """A pydantic error in a planner's words (the common cases), else pydantic's own."""
    kind = error.get("type")
    if kind == "missing":
        return "a value is required"
    if kind == "timezone_aware":
        return f"{error['input']!r} needs a UTC offset, e.g. 2026-03-02T06:00:00+01:00"
    if kind == "time_delta_parsing":
        return f"{error['input']!r} is not a duration; write e.g. PT1H30M or 01:30:00"
    return str(error["msg"])
