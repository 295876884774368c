"""A :class:`~aps.factory.model.Plant` -> bundle tables (CSV folder, .zip or .xlsx)."""

from __future__ import annotations

import zipfile
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aps.factory.model import Plant
from aps.io.bundle.tables import TABLES


def _days(days: list[str]) -> str:
    """``["mon", "tue", "wed"]`` → ``"mon-wed"`` when contiguous, else ``"mon;wed"``."""
    order = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    idx = [order.index(d) for d in days]
    if len(idx) > 2 and idx == list(range(idx[0], idx[0] + len(idx))):
        return f"{days[0]}-{days[-1]}"
    return ";".join(days)


Tables = defaultdict[str, list[dict[str, Any]]]


def plant_tables(plant: Plant) -> dict[str, list[dict[str, Any]]]:
    """The plant as bundle tables (rows of text cells), the inverse of
    :func:`~aps.io.bundle.read.load_plant`.

    Tables come in the order of their first row, and a table without rows is left out.
    """
    d = plant.model_dump(mode="json", exclude_defaults=True)
    t: Tables = defaultdict(list)
    t["settings"] = _settings(plant, d)
    _add_calendars(t, d)
    for g in d.get("machine_groups", []):
        t["machine_groups"].append({**g, "off_shift_setup": _flag(g.get("off_shift_setup"))})
    _add_machines(t, d)
    _add_setups(t, d)
    _add_products(t, d)
    for m in d.get("materials", []):
        t["materials"].append({k: m.get(k) for k in ("id", "name", "unit", "initial_stock")})
        for rec in m.get("receipts", []):
            t["receipts"].append({"material": m["id"], **rec})
    _add_orders(t, d)
    return dict(t)


def _settings(plant: Plant, d: dict[str, Any]) -> list[dict[str, Any]]:
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
    return [{"key": k, "value": v} for k, v in settings.items() if v is not None]


def _hhmm(text: str) -> str:
    """``"06:00:00"`` → ``"06:00"``; times with seconds stay as they are."""
    return text[:5] if text.endswith(":00") and len(text) == 8 else text


def _add_calendars(t: Tables, d: dict[str, Any]) -> None:
    """``calendars``, ``shifts``, ``holidays`` and ``exceptions``."""
    for cal in d.get("calendars", []):
        t["calendars"].append(
            {k: cal.get(k) for k in TABLES["calendars"][0] + TABLES["calendars"][1]}
        )
        for s in cal.get("shifts", []):
            t["shifts"].append(
                {
                    "calendar": cal["id"],
                    "days": _days(s["days"]),
                    "start": _hhmm(s["start"]),
                    "end": _hhmm(s["end"]),
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


def _add_machines(t: Tables, d: dict[str, Any]) -> None:
    """``machines`` and ``maintenance``."""
    for m in d["machines"]:
        t["machines"].append(
            {
                **{k: m.get(k) for k in ("id", "name", "group", "calendar", "setup_matrix")},
                "off_shift_setup": _flag(m.get("off_shift_setup")),
            }
        )
        for w in m.get("maintenance", []):
            t["maintenance"].append({"machine": m["id"], **w})


def _flag(value: bool | None) -> str | None:
    """A boolean cell: ``true``/``false``, empty for the default."""
    return None if value is None else str(value).lower()


def _add_setups(t: Tables, d: dict[str, Any]) -> None:
    """``setups``: initial setups (no ``from_family``), then changeovers, by matrix."""
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


def _add_products(t: Tables, d: dict[str, Any]) -> None:
    """``products``, ``routings``, ``routing_machines`` and ``bom``."""
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
                            "fixed_time",
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


_ORDER_COLUMNS = ("id", "product", "quantity", "release", "due", "deadline", "weight", "status")


def _add_orders(t: Tables, d: dict[str, Any]) -> None:
    for o in d["orders"]:
        t["orders"].append(
            {
                **{k: o.get(k) for k in _ORDER_COLUMNS},
                "completed_operations": ";".join(o.get("completed_operations", [])) or None,
            }
        )


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
