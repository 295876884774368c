"""Plant input as a bundle of tables: a folder of CSVs, a .zip of them, or one .xlsx.

Planners keep master data in spreadsheets. A bundle has one table per concern (see
:data:`TABLES`; a sheet per table in .xlsx, ``<table>.csv`` in a folder or zip). Every
cell is read as text and parsed by the same pydantic models as plant JSON, so a bundle
and the equivalent JSON give the same :class:`~aps.factory.Plant`.

Loading is all-or-nothing: every bad row is reported at once, as
``orders.csv, row 7, column 'due': <reason>`` (rows counted as in a spreadsheet, the
header being row 1), and :class:`BundleError` is raised before anything is returned.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from aps.calendar import Calendar, CalendarException, DateTimeWindow, Holiday, Shift
from aps.factory import (
    EligibleMachine,
    Flow,
    Horizon,
    MachineGroup,
    Order,
    Plant,
    PlantMachine,
    Product,
    RoutingOperation,
    SetupTable,
    StockItem,
    StockReceipt,
    format_path,
    reference_issues,
)
from aps.model import Objective

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
class _Row:
    table: str
    number: int  # spreadsheet row number (header = 1)
    cells: dict[str, str]


@dataclass
class _Reader:
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
        self, model: type[M], row: _Row, data: dict[str, Any], columns: dict[str, str] | None = None
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


#: Uploaded archives and workbooks may unpack to at most this many bytes.
MAX_UNPACKED_BYTES = 200 * 1024 * 1024


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


# -- reading tables -----------------------------------------------------------------------


def _read_tables(path: Path) -> tuple[dict[str, list[_Row]], str]:
    """Read every table as text rows. Returns (tables, file-suffix for messages)."""
    import pandas as pd

    frames: dict[str, pd.DataFrame] = {}
    suffix = ".csv"
    errors: list[str] = []
    if path.is_dir():
        for f in sorted(path.glob("*.csv")):
            if _ignored(f.name):
                continue
            try:
                frames[f.stem] = _read_csv(f.read_bytes())
            except (ValueError, OSError) as exc:
                errors.append(f"{f.name}: cannot read CSV: {exc}")
    elif path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path) as zf:
                unpacked = sum(i.file_size for i in zf.infolist())
                if unpacked > MAX_UNPACKED_BYTES:
                    # a small upload must not expand into gigabytes in memory (zip bomb)
                    raise BundleError([
                        f"{path.name}: unpacks to {unpacked:,} bytes, more than the "
                        f"{MAX_UNPACKED_BYTES:,} allowed"
                    ])  # fmt: skip
                for info in zf.infolist():
                    member = Path(info.filename)
                    if (
                        member.suffix.lower() != ".csv"
                        or _ignored(member.name)
                        or any(part.startswith(("__MACOSX", ".")) for part in member.parts)
                    ):
                        continue
                    try:
                        frames[member.stem] = _read_csv(zf.read(info))
                    except ValueError as exc:
                        errors.append(f"{member.name} (in {path.name}): cannot read CSV: {exc}")
        except (zipfile.BadZipFile, OSError) as exc:
            raise BundleError([f"{path.name}: not a readable zip file: {exc}"]) from exc
    elif path.suffix.lower() in (".xlsx", ".xlsm", ".xls", ".ods"):
        suffix = ""
        if path.suffix.lower() != ".xls" and zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                unpacked = sum(i.file_size for i in zf.infolist())
            if unpacked > MAX_UNPACKED_BYTES:
                raise BundleError([
                    f"{path.name}: the workbook unpacks to {unpacked:,} bytes, more than the "
                    f"{MAX_UNPACKED_BYTES:,} allowed"
                ])  # fmt: skip
        try:
            sheets = pd.read_excel(path, sheet_name=None, dtype=str, keep_default_na=False)
        except (ValueError, OSError, ImportError, KeyError, zipfile.BadZipFile) as exc:
            # a zip that is no workbook makes openpyxl raise KeyError (a missing part)
            raise BundleError([f"{path.name}: not a readable workbook: {exc!r}"]) from exc
        frames = {str(k).strip(): v for k, v in sheets.items() if not _ignored(str(k))}
    else:
        raise BundleError([f"{path}: not a folder, .zip, .xlsx or .json plant input"])
    if errors:
        raise BundleError(errors)
    tables: dict[str, list[_Row]] = {}
    for name, frame in frames.items():
        rows: list[_Row] = []
        cols = [str(c).strip() for c in frame.columns]
        for i, values in enumerate(frame.itertuples(index=False, name=None)):
            cells = {
                c: str(v).strip()
                for c, v in zip(cols, values, strict=True)
                if v is not None and str(v).strip() != "" and str(v) != "nan"
            }
            if cells:
                rows.append(_Row(name, i + 2, cells))
        tables[name] = rows
        tables.setdefault(f"__columns__{name}", [_Row(name, 1, {c: c for c in cols})])
    return tables, suffix


def _ignored(name: str) -> bool:
    """Files and sheets named ``_notes.csv``, ``_README`` or ``.hidden`` are not tables."""
    return name.startswith(("_", ".", "~$"))


def _read_csv(data: bytes) -> Any:
    """CSV as text cells, the way spreadsheets save it.

    UTF-8 with or without a byte-order mark (Excel's "CSV UTF-8"), else Windows-1252;
    comma, semicolon (Excel in many European locales) or tab as separator, whichever the
    header line uses most.
    """
    import pandas as pd

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252")
    header = text.split("\n", 1)[0]
    sep = max((",", ";", "\t"), key=header.count)
    try:
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, sep=sep)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def _split(text: str | None) -> list[str]:
    if text is None:
        return []
    return [p.strip() for p in text.replace(",", ";").split(";") if p.strip()]


def _opt(cells: dict[str, str], *names: str) -> dict[str, str]:
    return {n: cells[n] for n in names if n in cells}


def load_plant(path: str | Path) -> Plant:
    """Load a plant from a folder of CSVs, a .zip, an .xlsx workbook or plant JSON.

    Raises
    ------
    BundleError
        Listing every bad file, sheet, row, column and reference; nothing is returned
        half-loaded.
    """
    p = Path(path)
    if not p.exists():
        raise BundleError([f"{p}: no such file or folder"])
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BundleError([f"{p.name}: cannot read JSON: {exc}"]) from exc
        return read_json_plant(p, data)
    tables, suffix = _read_tables(p)
    return _assemble(tables, _Reader(suffix))


def read_json_plant(path: Path, data: Any) -> Plant:
    """Validate plant JSON, turning pydantic errors into :class:`BundleError` lines."""
    try:
        return Plant.model_validate(data)
    except ValidationError as exc:
        errors = []
        for e in exc.errors():
            loc = tuple(p for p in e["loc"] if isinstance(p, str | int))
            errors.append(f"{path.name}: {format_path(loc) or '(top level)'}: {explain(e)}")
        raise BundleError(errors) from exc


def _check_columns(tables: dict[str, list[_Row]], reader: _Reader) -> None:
    for name in [t for t in tables if not t.startswith("__")]:
        if name not in TABLES:
            reader.error(name, None, None, f"unknown table; expected some of {', '.join(TABLES)}")
            continue
        required, optional = TABLES[name]
        cols = list(tables[f"__columns__{name}"][0].cells)
        for c in required:
            if c not in cols:
                reader.error(name, 1, c, "required column is missing")
        for c in cols:
            if c not in required and c not in optional:
                expected = ", ".join(required + optional)
                reader.error(name, 1, c, f"unknown column; expected {expected}")
    for name in REQUIRED_TABLES:
        if name not in tables:
            reader.error(name, None, None, "required table is missing")


def _assemble(tables: dict[str, list[_Row]], r: _Reader) -> Plant:
    _check_columns(tables, r)
    if r.errors:
        raise BundleError(r.errors)

    def rows(name: str) -> list[_Row]:
        return tables.get(name, [])

    def group(name: str, key: str) -> dict[str, list[_Row]]:
        out: dict[str, list[_Row]] = defaultdict(list)
        for row in rows(name):
            if key not in row.cells:
                r.error(name, row.number, key, "a value is required")
            else:
                out[row.cells[key]].append(row)
        return out

    # settings ------------------------------------------------------------------------
    settings: dict[str, str] = {}
    settings_row: dict[str, _Row] = {}
    for row in rows("settings"):
        key = row.cells.get("key", "")
        if key not in SETTINGS_KEYS:
            r.error(
                "settings",
                row.number,
                "key",
                f"unknown setting {key!r}; expected {', '.join(SETTINGS_KEYS)}",
            )
        elif "value" in row.cells:
            settings[key] = row.cells["value"]
            settings_row[key] = row
    horizon: Horizon | None = None
    try:
        horizon = Horizon.model_validate(_opt(settings, "start", "end", "tick_seconds", "timezone"))
    except ValidationError as exc:
        for e in exc.errors():
            key = str(e["loc"][0]) if e["loc"] else "start"
            row_no = settings_row[key].number if key in settings_row else None
            r.error("settings", row_no, "value" if row_no else None, f"setting {key!r}: {e['msg']}")
    objective = Objective()
    if "objective" in settings:
        try:
            terms = []
            for part in _split(settings["objective"]):
                term, _, weight = part.partition(":")
                terms.append({"term": term.strip(), "weight": int(weight) if weight else 1})
            objective = Objective.model_validate(
                {"kind": settings.get("objective_kind", "weighted"), "terms": terms}
            )
        except (ValidationError, ValueError) as exc:
            r.error(
                "settings",
                settings_row["objective"].number,
                "value",
                f"objective {settings['objective']!r} is not 'term:weight;...' with terms "
                f"makespan, weighted_tardiness, late_jobs, flow_time, setup_time ({exc})".replace(
                    "\n", " "
                ),
            )

    # calendars -------------------------------------------------------------------------
    shifts, hols, excs = (
        group("shifts", "calendar"),
        group("holidays", "calendar"),
        group("exceptions", "calendar"),
    )
    calendars: list[Calendar] = []
    for row in rows("calendars"):
        c = row.cells
        sh = [
            r.build(Shift, s, _opt(s.cells, "days", "start", "end", "name"))
            for s in shifts.get(c.get("id", ""), [])
        ]
        ho = [
            r.build(Holiday, h, _opt(h.cells, "date", "name"))
            for h in hols.get(c.get("id", ""), [])
        ]
        ex = [
            r.build(CalendarException, e, _opt(e.cells, "start", "end", "working", "reason"))
            for e in excs.get(c.get("id", ""), [])
        ]
        cal = r.build(
            Calendar,
            row,
            {
                **_opt(c, "id", "timezone", "holiday_country", "holiday_subdivision"),
                "shifts": [s for s in sh if s],
                "holidays": [h for h in ho if h],
                "exceptions": [e for e in ex if e],
            },
        )
        if cal is not None:
            r.origin[("calendars", len(calendars))] = ("calendars", row.number, None)
            calendars.append(cal)
    known_cals = {c.cells.get("id") for c in rows("calendars")}
    for name, grouped in (("shifts", shifts), ("holidays", hols), ("exceptions", excs)):
        for cal_id, rs in grouped.items():
            if cal_id not in known_cals:
                for row in rs:
                    r.error(name, row.number, "calendar", f"unknown calendar {cal_id!r}")

    # machines --------------------------------------------------------------------------
    groups: list[MachineGroup] = []
    for row in rows("machine_groups"):
        g = r.build(MachineGroup, row, _opt(row.cells, "id", "name", "calendar", "setup_matrix"))
        if g is not None:
            r.origin[("machine_groups", len(groups))] = ("machine_groups", row.number, None)
            groups.append(g)
    maint = group("maintenance", "machine")
    machines: list[PlantMachine] = []
    for row in rows("machines"):
        windows = [
            r.build(DateTimeWindow, w, _opt(w.cells, "start", "end", "reason"))
            for w in maint.get(row.cells.get("id", ""), [])
        ]
        m = r.build(
            PlantMachine,
            row,
            {
                **_opt(row.cells, "id", "name", "group", "calendar", "setup_matrix"),
                "maintenance": [w for w in windows if w],
            },
        )
        if m is not None:
            r.origin[("machines", len(machines))] = ("machines", row.number, None)
            machines.append(m)
    known_machines = {row.cells.get("id") for row in rows("machines")}
    for mid, rs in maint.items():
        if mid not in known_machines:
            for row in rs:
                r.error("maintenance", row.number, "machine", f"unknown machine {mid!r}")

    # setups ----------------------------------------------------------------------------
    changeover: dict[str, dict[str, dict[str, str]]] = defaultdict(lambda: defaultdict(dict))
    initial: dict[str, dict[str, str]] = defaultdict(dict)
    setup_rows: dict[str, _Row] = {}
    for row in rows("setups"):
        c = row.cells
        if "matrix" not in c or "to_family" not in c or "changeover" not in c:
            for col in ("matrix", "to_family", "changeover"):
                if col not in c:
                    r.error("setups", row.number, col, "a value is required")
            continue
        if (
            r.build(
                SetupTable,
                row,
                {"initial": {c["to_family"]: c["changeover"]}},
                columns={"initial": "changeover"},
            )
            is None
        ):
            continue
        setup_rows.setdefault(c["matrix"], row)
        if "from_family" in c:
            changeover[c["matrix"]][c["from_family"]][c["to_family"]] = c["changeover"]
        else:
            initial[c["matrix"]][c["to_family"]] = c["changeover"]
    matrices: dict[str, SetupTable] = {}
    for name, first in setup_rows.items():
        table = r.build(
            SetupTable,
            first,
            {
                "changeover": {a: dict(b) for a, b in changeover[name].items()},
                "initial": initial[name],
            },
            columns={"initial": "changeover", "changeover": "changeover"},
        )
        if table is not None:
            matrices[name] = table

    # materials -------------------------------------------------------------------------
    recs = group("receipts", "material")
    materials: list[StockItem] = []
    for row in rows("materials"):
        rr = [
            r.build(StockReceipt, x, _opt(x.cells, "at", "quantity"))
            for x in recs.get(row.cells.get("id", ""), [])
        ]
        item = r.build(
            StockItem,
            row,
            {
                **_opt(row.cells, "id", "name", "unit", "initial_stock"),
                "receipts": [x for x in rr if x],
            },
        )
        if item is not None:
            r.origin[("materials", len(materials))] = ("materials", row.number, None)
            materials.append(item)
    known_mats = {row.cells.get("id") for row in rows("materials")}
    for mid, rs in recs.items():
        if mid not in known_mats:
            for row in rs:
                r.error("receipts", row.number, "material", f"unknown material {mid!r}")

    # products and routings -------------------------------------------------------------
    route_rows = group("routings", "product")
    rm_rows: dict[tuple[str, str], list[_Row]] = defaultdict(list)
    for row in rows("routing_machines"):
        rm_rows[(row.cells.get("product", ""), row.cells.get("operation", ""))].append(row)
    bom_rows: dict[tuple[str, str], list[_Row]] = defaultdict(list)
    for row in rows("bom"):
        bom_rows[(row.cells.get("product", ""), row.cells.get("operation", ""))].append(row)
    product_rows = list(rows("products"))
    declared = {row.cells.get("id") for row in product_rows}
    for pid, rs in route_rows.items():  # products without a products.csv row
        if pid not in declared:
            product_rows.append(_Row("routings", rs[0].number, {"id": pid}))
    products: list[Product] = []
    used_ops: set[tuple[str, str]] = set()
    for row in product_rows:
        pid = row.cells.get("id", "")
        p_index = len(products)
        routing: list[RoutingOperation] = []
        for o_row in route_rows.get(pid, []):
            c = o_row.cells
            op_key = (pid, c.get("operation", ""))
            used_ops.add(op_key)
            prefix: tuple[str | int, ...] = ("products", p_index, "routing", len(routing))
            eligible: list[Any] = []
            if rm_rows.get(op_key):
                for k, m_row in enumerate(rm_rows[op_key]):
                    em = r.build(
                        EligibleMachine,
                        m_row,
                        _opt(m_row.cells, "machine", "run_per_unit", "duration", "setup"),
                    )
                    r.origin[(*prefix, "machines", k)] = ("routing_machines", m_row.number, None)
                    eligible.append(em)
            else:
                eligible = [{"machine": m} for m in _split(c.get("machines"))]
                for k in range(len(eligible)):
                    r.origin[(*prefix, "machines", k)] = ("routings", o_row.number, "machines")
            flows: dict[str, list[Any]] = {"consumes": [], "produces": []}
            for b_row in bom_rows.get(op_key, []):
                kind = b_row.cells.get("kind", "").lower()
                target = {
                    "consume": "consumes",
                    "consumes": "consumes",
                    "produce": "produces",
                    "produces": "produces",
                }.get(kind)
                if target is None:
                    r.error("bom", b_row.number, "kind", "must be 'consume' or 'produce'")
                    continue
                fdata = _opt(b_row.cells, "material", "per_unit")
                if "per_unit" in fdata:  # a decimal comma from a European spreadsheet
                    fdata["per_unit"] = fdata["per_unit"].replace(",", ".")
                flow = r.build(Flow, b_row, fdata)
                r.origin[(*prefix, target, len(flows[target]))] = ("bom", b_row.number, None)
                flows[target].append(flow)
            if any(e is None for e in eligible) or any(
                f is None for fs in flows.values() for f in fs
            ):
                continue
            data: dict[str, Any] = {
                "id": c.get("operation"),
                **_opt(
                    c,
                    "name",
                    "setup",
                    "run_per_unit",
                    "duration",
                    "min_lag",
                    "max_lag",
                    "interruptible",
                    "family",
                ),
                "machines": eligible,
                **flows,
            }
            if "predecessors" in c:
                data["predecessors"] = [] if c["predecessors"] == "-" else _split(c["predecessors"])
            op = r.build(RoutingOperation, o_row, data, columns={"id": "operation"})
            if op is not None:
                r.origin[prefix] = ("routings", o_row.number, None)
                routing.append(op)
        if not route_rows.get(pid):
            r.error(row.table, row.number, "id", f"product {pid!r} has no rows in routings")
            continue
        prod = r.build(
            Product, row, {**_opt(row.cells, "id", "name", "family"), "routing": routing}
        )
        if prod is not None:
            r.origin[("products", p_index)] = (row.table, row.number, None)
            products.append(prod)
    for op_key, rs in [*rm_rows.items(), *bom_rows.items()]:
        if op_key not in used_ops:
            for row in rs:
                r.error(
                    row.table,
                    row.number,
                    "operation",
                    f"product {op_key[0]!r} has no operation {op_key[1]!r} in routings",
                )

    # orders ----------------------------------------------------------------------------
    orders: list[Order] = []
    for row in rows("orders"):
        odata: dict[str, Any] = _opt(
            row.cells, "id", "product", "quantity", "release", "due", "deadline", "weight", "status"
        )
        if "completed_operations" in row.cells:
            odata["completed_operations"] = _split(row.cells["completed_operations"])
        order = r.build(Order, row, odata)
        if order is not None:
            r.origin[("orders", len(orders))] = ("orders", row.number, None)
            orders.append(order)

    if r.errors or horizon is None:
        raise BundleError(r.errors or ["settings: 'start' is required"])

    fields: dict[str, Any] = {
        "name": settings.get("name", "plant"),
        "horizon": horizon,
        "calendars": calendars,
        "default_calendar": settings.get("default_calendar"),
        "machine_groups": groups,
        "machines": machines,
        "setup_matrices": matrices,
        "products": products,
        "materials": materials,
        "orders": orders,
        "objective": objective,
    }
    draft = Plant.model_construct(**fields)
    for issue in reference_issues(draft):
        r.errors.append(_locate(r, issue.path, issue.message))
    if r.errors:
        raise BundleError(r.errors)
    try:
        return Plant.model_validate(fields)
    except ValidationError as exc:  # structural rules not tied to one row
        raise BundleError(
            [
                f"{format_path(tuple(p for p in e['loc'] if isinstance(p, str | int)))}: {e['msg']}"
                for e in exc.errors()
            ]
        ) from exc


_COLUMN_ALIASES = {
    ("routings", "id"): "operation",
    ("orders", "completed_operations"): "completed_operations",
}


def _locate(r: _Reader, path: tuple[str | int, ...], message: str) -> str:
    """Map a plant-model path back to the table, row and column it came from."""
    for n in range(len(path), 0, -1):
        hit = r.origin.get(path[:n])
        if hit is None:
            continue
        table, row, column = hit
        if column is None:
            rest = [p for p in path[n:] if isinstance(p, str)]
            column = rest[0] if rest else None
            if column is not None:
                column = _COLUMN_ALIASES.get((table, column), column)
                known = TABLES.get(table, ((), ()))
                if column not in known[0] and column not in known[1]:
                    column = None
        return f"{r.where(table, row, column)}: {message}"
    if path and path[0] == "default_calendar":
        return f"{r.where('settings', None, 'value')}: default_calendar: {message}"
    return f"{format_path(path)}: {message}"


# -- writing ---------------------------------------------------------------------------


def _days(days: list[str]) -> str:
    """``["mon", "tue", "wed"]`` → ``"mon-wed"`` when contiguous, else ``"mon;wed"``."""
    order = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    idx = [order.index(d) for d in days]
    if len(idx) > 2 and idx == list(range(idx[0], idx[0] + len(idx))):
        return f"{days[0]}-{days[-1]}"
    return ";".join(days)


def plant_tables(plant: Plant) -> dict[str, list[dict[str, Any]]]:
    """The plant as bundle tables (rows of text cells), the inverse of :func:`load_plant`."""
    d = plant.model_dump(mode="json", exclude_defaults=True)
    t: dict[str, list[dict[str, Any]]] = defaultdict(list)
    h = d["horizon"]
    obj = plant.objective
    settings = {
        "name": plant.name,
        "start": h["start"],
        "end": h.get("end"),
        "tick_seconds": plant.horizon.tick_seconds,
        "timezone": h.get("timezone"),
        "default_calendar": plant.default_calendar,
        "objective": ";".join(f"{w.term.value}:{w.weight}" for w in obj.terms),
        "objective_kind": obj.kind,
    }
    t["settings"] = [{"key": k, "value": v} for k, v in settings.items() if v is not None]
    for cal in d.get("calendars", []):
        t["calendars"].append(
            {k: cal.get(k) for k in TABLES["calendars"][0] + TABLES["calendars"][1]}
        )
        for s in cal.get("shifts", []):
            t["shifts"].append(
                {
                    "calendar": cal["id"],
                    "days": _days(s["days"]),
                    "start": s["start"][:5]
                    if s["start"].endswith(":00") and len(s["start"]) == 8
                    else s["start"],
                    "end": s["end"][:5]
                    if s["end"].endswith(":00") and len(s["end"]) == 8
                    else s["end"],
                    "name": s.get("name"),
                }
            )
        for hol in cal.get("holidays", []):
            t["holidays"].append(
                {"calendar": cal["id"], "date": hol["date"], "name": hol.get("name")}
            )
        for e in cal.get("exceptions", []):
            t["exceptions"].append(
                {
                    "calendar": cal["id"],
                    "start": e["start"],
                    "end": e["end"],
                    "working": str(e.get("working", False)).lower(),
                    "reason": e.get("reason"),
                }
            )
    for g in d.get("machine_groups", []):
        t["machine_groups"].append(g)
    for m in d["machines"]:
        t["machines"].append(
            {k: m.get(k) for k in ("id", "name", "group", "calendar", "setup_matrix")}
        )
        for w in m.get("maintenance", []):
            t["maintenance"].append({"machine": m["id"], **w})
    for name, table in d.get("setup_matrices", {}).items():
        for to, v in table.get("initial", {}).items():
            t["setups"].append(
                {"matrix": name, "from_family": None, "to_family": to, "changeover": v}
            )
        for a, row in table.get("changeover", {}).items():
            for b, v in row.items():
                t["setups"].append(
                    {"matrix": name, "from_family": a, "to_family": b, "changeover": v}
                )
    for p in d["products"]:
        t["products"].append({"id": p["id"], "name": p.get("name"), "family": p.get("family")})
        for op in p["routing"]:
            preds = op.get("predecessors")
            t["routings"].append(
                {
                    "product": p["id"],
                    "operation": op["id"],
                    "name": op.get("name"),
                    "predecessors": None if preds is None else (";".join(preds) or "-"),
                    **{
                        k: op.get(k)
                        for k in (
                            "setup",
                            "run_per_unit",
                            "duration",
                            "min_lag",
                            "max_lag",
                            "family",
                        )
                    },
                    "interruptible": "true" if op.get("interruptible") else None,
                }
            )
            for em in op["machines"]:
                t["routing_machines"].append({"product": p["id"], "operation": op["id"], **em})
            for kind, key in (("consume", "consumes"), ("produce", "produces")):
                for f in op.get(key, []):
                    t["bom"].append(
                        {
                            "product": p["id"],
                            "operation": op["id"],
                            "material": f["material"],
                            "per_unit": f.get("per_unit", 1),
                            "kind": kind,
                        }
                    )
    for m in d.get("materials", []):
        t["materials"].append({k: m.get(k) for k in ("id", "name", "unit", "initial_stock")})
        for rec in m.get("receipts", []):
            t["receipts"].append({"material": m["id"], **rec})
    for o in d["orders"]:
        t["orders"].append(
            {
                **{
                    k: o.get(k)
                    for k in (
                        "id",
                        "product",
                        "quantity",
                        "release",
                        "due",
                        "deadline",
                        "weight",
                        "status",
                    )
                },
                "completed_operations": ";".join(o.get("completed_operations", [])) or None,
            }
        )
    return dict(t)


_COLUMN_ORDER = {"setups": ["matrix", "from_family", "to_family", "changeover"]}


def _frames(plant: Plant) -> Iterator[tuple[str, Any]]:
    import pandas as pd

    for name, rows_ in plant_tables(plant).items():
        cols = _COLUMN_ORDER.get(name) or [*TABLES[name][0], *TABLES[name][1]]
        frame = pd.DataFrame(rows_).reindex(columns=cols)
        used = [c for c in cols if c in TABLES[name][0] or frame[c].notna().any()]
        frame = frame[used]
        frame = frame.map(_cell)
        yield name, frame


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def write_bundle(plant: Plant, path: str | Path) -> None:
    """Write the plant as a folder of CSVs, a .zip of CSVs or an .xlsx (by suffix)."""
    p = Path(path)
    if p.suffix.lower() == ".xlsx":
        import pandas as pd

        with pd.ExcelWriter(p, engine="openpyxl") as xl:
            for name, frame in _frames(plant):
                frame.to_excel(xl, sheet_name=name, index=False)
        return
    if p.suffix.lower() == ".zip":
        with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, frame in _frames(plant):
                zf.writestr(f"{name}.csv", frame.to_csv(index=False))
        return
    p.mkdir(parents=True, exist_ok=True)

    def writer(name: str, frame: Any) -> None:
        (p / f"{name}.csv").write_text(frame.to_csv(index=False), encoding="utf-8")

    for name, frame in _frames(plant):
        writer(name, frame)
