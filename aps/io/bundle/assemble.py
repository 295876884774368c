"""Bundle tables -> a :class:`~aps.factory.model.Plant`, every bad row reported at once.

One function per table (or group of tables that make one part of the plant); they run
in a fixed order, so the errors come out in the same order for the same input.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from aps.factory.calendar import Calendar, CalendarException, DateTimeWindow, Holiday, Shift
from aps.factory.model import (
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
from aps.io.bundle.tables import REQUIRED_TABLES, SETTINGS_KEYS, TABLES, BundleError, Reader, Row
from aps.model import Objective

ModelPath = tuple[str | int, ...]
OpKey = tuple[str, str]


def _split(text: str | None) -> list[str]:
    if text is None:
        return []
    return [p.strip() for p in text.replace(",", ";").split(";") if p.strip()]


def _opt(cells: dict[str, str], *names: str) -> dict[str, str]:
    return {n: cells[n] for n in names if n in cells}


def check_columns(tables: dict[str, list[Row]], reader: Reader) -> None:
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


@dataclass
class _Source:
    """The tables being read and the reader collecting errors and provenance."""

    tables: dict[str, list[Row]]
    r: Reader

    def rows(self, name: str) -> list[Row]:
        return self.tables.get(name, [])

    def group(self, name: str, key: str) -> dict[str, list[Row]]:
        """The rows of ``name`` by their ``key`` column; a row without one is an error."""
        out: dict[str, list[Row]] = defaultdict(list)
        for row in self.rows(name):
            if key not in row.cells:
                self.r.error(name, row.number, key, "a value is required")
            else:
                out[row.cells[key]].append(row)
        return out

    def unknown(
        self,
        table: str,
        column: str,
        what: str,
        grouped: dict[str, list[Row]],
        known: set[str | None],
    ) -> None:
        """Report every row of ``grouped`` whose ``column`` names no known ``what``."""
        for ref, rs in grouped.items():
            if ref not in known:
                for row in rs:
                    self.r.error(table, row.number, column, f"unknown {what} {ref!r}")


def assemble(tables: dict[str, list[Row]], r: Reader) -> Plant:
    """The plant the tables describe; :class:`BundleError` lists every bad row."""
    check_columns(tables, r)
    if r.errors:
        raise BundleError(r.errors)
    src = _Source(tables, r)
    settings, settings_rows = _settings(src)
    horizon = _horizon(r, settings, settings_rows)
    objective = _objective(r, settings, settings_rows)
    calendars = _calendars(src)
    groups = _machine_groups(src)
    machines = _machines(src)
    matrices = _setup_matrices(src)
    materials = _materials(src)
    products = _products(src)
    orders = _orders(src)
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
    return _validated(r, fields)


def _settings(src: _Source) -> tuple[dict[str, str], dict[str, Row]]:
    """The ``settings`` table as key → value, and key → the row it came from."""
    settings: dict[str, str] = {}
    settings_row: dict[str, Row] = {}
    for row in src.rows("settings"):
        key = row.cells.get("key", "")
        if key not in SETTINGS_KEYS:
            src.r.error(
                "settings",
                row.number,
                "key",
                f"unknown setting {key!r}; expected {', '.join(SETTINGS_KEYS)}",
            )
        elif "value" in row.cells:
            settings[key] = row.cells["value"]
            settings_row[key] = row
    return settings, settings_row


def _horizon(r: Reader, settings: dict[str, str], rows: dict[str, Row]) -> Horizon | None:
    try:
        return Horizon.model_validate(_opt(settings, "start", "end", "tick_seconds", "timezone"))
    except ValidationError as exc:
        for e in exc.errors():
            key = str(e["loc"][0]) if e["loc"] else "start"
            row_no = rows[key].number if key in rows else None
            r.error("settings", row_no, "value" if row_no else None, f"setting {key!r}: {e['msg']}")
    return None


def _objective(r: Reader, settings: dict[str, str], rows: dict[str, Row]) -> Objective:
    """``objective`` as ``term:weight;...`` (weight 1 if left out), of ``objective_kind``."""
    if "objective" not in settings:
        return Objective()
    try:
        terms = []
        for part in _split(settings["objective"]):
            term, _, weight = part.partition(":")
            terms.append({"term": term.strip(), "weight": int(weight) if weight else 1})
        return Objective.model_validate(
            {"kind": settings.get("objective_kind", "weighted"), "terms": terms}
        )
    except (ValidationError, ValueError) as exc:
        r.error(
            "settings",
            rows["objective"].number,
            "value",
            f"objective {settings['objective']!r} is not 'term:weight;...' with terms "
            f"makespan, weighted_tardiness, late_jobs, flow_time, setup_time ({exc})".replace(
                "\n", " "
            ),
        )
    return Objective()


def _calendars(src: _Source) -> list[Calendar]:
    """``calendars`` with their ``shifts``, ``holidays`` and ``exceptions``."""
    r = src.r
    shifts, hols, excs = (
        src.group("shifts", "calendar"),
        src.group("holidays", "calendar"),
        src.group("exceptions", "calendar"),
    )
    calendars: list[Calendar] = []
    for row in src.rows("calendars"):
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
    known = {c.cells.get("id") for c in src.rows("calendars")}
    for name, grouped in (("shifts", shifts), ("holidays", hols), ("exceptions", excs)):
        src.unknown(name, "calendar", "calendar", grouped, known)
    return calendars


def _machine_groups(src: _Source) -> list[MachineGroup]:
    groups: list[MachineGroup] = []
    for row in src.rows("machine_groups"):
        g = src.r.build(
            MachineGroup,
            row,
            _opt(row.cells, "id", "name", "calendar", "setup_matrix", "off_shift_setup"),
        )
        if g is not None:
            src.r.origin[("machine_groups", len(groups))] = ("machine_groups", row.number, None)
            groups.append(g)
    return groups


def _machines(src: _Source) -> list[PlantMachine]:
    """``machines`` with their ``maintenance`` windows."""
    r = src.r
    maint = src.group("maintenance", "machine")
    machines: list[PlantMachine] = []
    for row in src.rows("machines"):
        windows = [
            r.build(DateTimeWindow, w, _opt(w.cells, "start", "end", "reason"))
            for w in maint.get(row.cells.get("id", ""), [])
        ]
        m = r.build(
            PlantMachine,
            row,
            {
                **_opt(
                    row.cells, "id", "name", "group", "calendar", "setup_matrix", "off_shift_setup"
                ),
                "maintenance": [w for w in windows if w],
            },
        )
        if m is not None:
            r.origin[("machines", len(machines))] = ("machines", row.number, None)
            machines.append(m)
    known = {row.cells.get("id") for row in src.rows("machines")}
    src.unknown("maintenance", "machine", "machine", maint, known)
    return machines


def _setup_matrices(src: _Source) -> dict[str, SetupTable]:
    """``setups`` rows by matrix: with ``from_family`` a changeover, without an initial setup.

    Each row's duration is checked on its own first, so an error names its row; the
    matrix as a whole is reported at its first row.
    """
    r = src.r
    changeover: dict[str, dict[str, dict[str, str]]] = defaultdict(lambda: defaultdict(dict))
    initial: dict[str, dict[str, str]] = defaultdict(dict)
    setup_rows: dict[str, Row] = {}
    for row in src.rows("setups"):
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
    return matrices


def _materials(src: _Source) -> list[StockItem]:
    """``materials`` with their ``receipts``."""
    r = src.r
    recs = src.group("receipts", "material")
    materials: list[StockItem] = []
    for row in src.rows("materials"):
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
    known = {row.cells.get("id") for row in src.rows("materials")}
    src.unknown("receipts", "material", "material", recs, known)
    return materials


@dataclass
class _RoutingRows:
    """The rows describing routings: operations by product, machines and BOM by operation."""

    operations: dict[str, list[Row]]
    machines: dict[OpKey, list[Row]]
    bom: dict[OpKey, list[Row]]
    #: the (product, operation) pairs that have a ``routings`` row
    used: set[OpKey] = field(default_factory=set)


def _products(src: _Source) -> list[Product]:
    """``products`` with their ``routings``, ``routing_machines`` and ``bom`` rows.

    A product with routings but no ``products`` row is still a product.
    """
    rr = _RoutingRows(
        operations=src.group("routings", "product"),
        machines=_by_operation(src.rows("routing_machines")),
        bom=_by_operation(src.rows("bom")),
    )
    product_rows = list(src.rows("products"))
    declared = {row.cells.get("id") for row in product_rows}
    for pid, rs in rr.operations.items():  # products without a products.csv row
        if pid not in declared:
            product_rows.append(Row("routings", rs[0].number, {"id": pid}))
    products: list[Product] = []
    for row in product_rows:
        prod = _product(src.r, rr, row, len(products))
        if prod is not None:
            products.append(prod)
    for op_key, rs in [*rr.machines.items(), *rr.bom.items()]:
        if op_key not in rr.used:
            for row in rs:
                src.r.error(
                    row.table,
                    row.number,
                    "operation",
                    f"product {op_key[0]!r} has no operation {op_key[1]!r} in routings",
                )
    return products


def _by_operation(rows: list[Row]) -> dict[OpKey, list[Row]]:
    out: dict[OpKey, list[Row]] = defaultdict(list)
    for row in rows:
        out[(row.cells.get("product", ""), row.cells.get("operation", ""))].append(row)
    return out


def _product(r: Reader, rr: _RoutingRows, row: Row, index: int) -> Product | None:
    """The product of ``row``, the ``index``-th of the plant, with its routing."""
    pid = row.cells.get("id", "")
    routing: list[RoutingOperation] = []
    for o_row in rr.operations.get(pid, []):
        op = _operation(r, rr, pid, o_row, ("products", index, "routing", len(routing)))
        if op is not None:
            routing.append(op)
    if not rr.operations.get(pid):
        r.error(row.table, row.number, "id", f"product {pid!r} has no rows in routings")
        return None
    prod = r.build(Product, row, {**_opt(row.cells, "id", "name", "family"), "routing": routing})
    if prod is not None:
        r.origin[("products", index)] = (row.table, row.number, None)
    return prod


def _operation(
    r: Reader, rr: _RoutingRows, pid: str, o_row: Row, prefix: ModelPath
) -> RoutingOperation | None:
    """One ``routings`` row with its eligible machines and material flows."""
    c = o_row.cells
    op_key = (pid, c.get("operation", ""))
    rr.used.add(op_key)
    eligible = _eligible(r, rr.machines.get(op_key), o_row, prefix)
    flows = _flows(r, rr.bom.get(op_key, []), prefix)
    if any(e is None for e in eligible) or any(f is None for fs in flows.values() for f in fs):
        return None
    data: dict[str, Any] = {
        "id": c.get("operation"),
        **_opt(
            c,
            "name",
            "setup",
            "run_per_unit",
            "fixed_time",
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
    op = r.build(RoutingOperation, o_row, data, columns={"id": "operation"}, prefix=prefix)
    if op is not None:
        r.origin[prefix] = ("routings", o_row.number, None)
    return op


def _eligible(r: Reader, m_rows: list[Row] | None, o_row: Row, prefix: ModelPath) -> list[Any]:
    """The operation's machines: its ``routing_machines`` rows, else its ``machines`` cell.

    A row that does not validate is a None in the list.
    """
    eligible: list[Any] = []
    if m_rows:
        listed = _split(o_row.cells.get("machines"))
        rows_name = sorted({m.cells.get("machine", "") for m in m_rows})
        if listed and sorted(set(listed)) != rows_name:
            where = r.where("routing_machines", m_rows[0].number)
            r.error(
                "routings", o_row.number, "machines",
                f"machines {';'.join(listed)!r} contradicts the step's routing_machines rows "
                f"({where}: {';'.join(rows_name)}), which replace this cell; leave it empty "
                "or list the same machines",
            )  # fmt: skip
        for k, m_row in enumerate(m_rows):
            em = r.build(
                EligibleMachine,
                m_row,
                _opt(m_row.cells, "machine", "run_per_unit", "fixed_time", "duration", "setup"),
            )
            r.origin[(*prefix, "machines", k)] = ("routing_machines", m_row.number, None)
            eligible.append(em)
        return eligible
    eligible = [{"machine": m} for m in _split(o_row.cells.get("machines"))]
    for k in range(len(eligible)):
        r.origin[(*prefix, "machines", k)] = ("routings", o_row.number, "machines")
    return eligible


_FLOW_KINDS = {
    "consume": "consumes",
    "consumes": "consumes",
    "produce": "produces",
    "produces": "produces",
}


def _flows(r: Reader, b_rows: list[Row], prefix: ModelPath) -> dict[str, list[Any]]:
    """The operation's ``bom`` rows as consumes / produces (None for a row that is wrong)."""
    flows: dict[str, list[Any]] = {"consumes": [], "produces": []}
    for b_row in b_rows:
        target = _FLOW_KINDS.get(b_row.cells.get("kind", "").lower())
        if target is None:
            r.error("bom", b_row.number, "kind", "must be 'consume' or 'produce'")
            continue
        fdata = _opt(b_row.cells, "material", "per_unit")
        if "per_unit" in fdata:  # a decimal comma from a European spreadsheet
            fdata["per_unit"] = fdata["per_unit"].replace(",", ".")
        flow = r.build(Flow, b_row, fdata)
        r.origin[(*prefix, target, len(flows[target]))] = ("bom", b_row.number, None)
        flows[target].append(flow)
    return flows


def _orders(src: _Source) -> list[Order]:
    orders: list[Order] = []
    for row in src.rows("orders"):
        odata: dict[str, Any] = _opt(
            row.cells, "id", "product", "quantity", "release", "due", "deadline", "weight", "status"
        )
        if "completed_operations" in row.cells:
            odata["completed_operations"] = _split(row.cells["completed_operations"])
        order = src.r.build(Order, row, odata)
        if order is not None:
            src.r.origin[("orders", len(orders))] = ("orders", row.number, None)
            orders.append(order)
    return orders


def _validated(r: Reader, fields: dict[str, Any]) -> Plant:
    """The plant from its parts: broken references by row, then the plant-wide rules."""
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


def _locate(r: Reader, path: ModelPath, message: str) -> str:
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
