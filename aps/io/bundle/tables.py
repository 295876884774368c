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
    "machine_groups": (("id",), ("name", "calendar", "setup_matrix", "off_shift_setup")),
    "machines": (("id",), ("name", "group", "calendar", "setup_matrix", "off_shift_setup")),
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
            "fixed_time",
            "duration",
            "min_lag",
            "max_lag",
            "interruptible",
            "family",
        ),
    ),
    "routing_machines": (
        ("product", "operation", "machine"),
        ("run_per_unit", "fixed_time", "duration", "setup"),
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
        self,
        model: type[M],
        row: Row,
        data: dict[str, Any],
        columns: dict[str, str] | None = None,
        prefix: tuple[str | int, ...] | None = None,
    ) -> M | None:
        """Validate ``data`` (from ``row``) as ``model``; record errors by column.

        A refusal of contradictory fields names the cell of its first field; when it
        concerns a part of the model (``at``, e.g. a machine entry) that came from
        another row, that row is found through :attr:`origin` under ``prefix``.
        """
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            for e in exc.errors():
                table, number, col = self._cell_of(row, e, columns, prefix)
                self.error(table, number, col, explain(e))
            return None

    def _cell_of(
        self,
        row: Row,
        e: Any,
        columns: dict[str, str] | None,
        prefix: tuple[str | int, ...] | None,
    ) -> tuple[str, int, str | None]:
        """The (table, row, column) an error of validating ``row`` points at."""
        ctx = e.get("ctx") or {}
        fields = list(ctx.get("fields") or ())
        at = tuple(ctx.get("at") or ())
        if fields and at and prefix is not None:
            hit = self.origin.get((*prefix, *at))
            if hit is not None and hit[2] is None:
                return hit[0], hit[1], _column(hit[0], fields[0], {})
        if fields:
            present = [f for f in fields if (columns or {}).get(f, f) in row.cells]
            return row.table, row.number, _column(row.table, (present or fields)[0], columns)
        loc = [p for p in e["loc"] if isinstance(p, str)]
        col = (columns or {}).get(loc[0], loc[0]) if loc else None
        if col is not None and col not in row.cells:
            col = _column(row.table, col, {})
        return row.table, row.number, col


def _column(table: str, field: str, columns: dict[str, str] | None) -> str | None:
    """The column of ``table`` that holds ``field``, or None when it has none."""
    col = (columns or {}).get(field, field)
    return col if col in TABLES[table][0] or col in TABLES[table][1] else None


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
