"""Bundle tables -> a :class:`~aps.factory.model.Plant`, every bad row reported at once."""

from __future__ import annotations

from collections import defaultdict
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


def assemble(tables: dict[str, list[Row]], r: Reader) -> Plant:
    check_columns(tables, r)
    if r.errors:
        raise BundleError(r.errors)

    def rows(name: str) -> list[Row]:
        return tables.get(name, [])

    def group(name: str, key: str) -> dict[str, list[Row]]:
        out: dict[str, list[Row]] = defaultdict(list)
        for row in rows(name):
            if key not in row.cells:
                r.error(name, row.number, key, "a value is required")
            else:
                out[row.cells[key]].append(row)
        return out

    # settings ------------------------------------------------------------------------
    settings: dict[str, str] = {}
    settings_row: dict[str, Row] = {}
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
    setup_rows: dict[str, Row] = {}
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
    rm_rows: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in rows("routing_machines"):
        rm_rows[(row.cells.get("product", ""), row.cells.get("operation", ""))].append(row)
    bom_rows: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in rows("bom"):
        bom_rows[(row.cells.get("product", ""), row.cells.get("operation", ""))].append(row)
    product_rows = list(rows("products"))
    declared = {row.cells.get("id") for row in product_rows}
    for pid, rs in route_rows.items():  # products without a products.csv row
        if pid not in declared:
            product_rows.append(Row("routings", rs[0].number, {"id": pid}))
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


def _locate(r: Reader, path: tuple[str | int, ...], message: str) -> str:
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
