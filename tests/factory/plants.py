"""Small hand-made plants for the factory tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from aps.factory.model import Plant

T0 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday


def iso(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def tiny(**over: Any) -> dict[str, Any]:
    """A one-machine, one-product, always-open plant as plant JSON (minutes as ticks)."""
    data: dict[str, Any] = {
        "name": "tiny",
        "horizon": {"start": iso(0), "end": iso(7 * 1440), "tick_seconds": 60},
        "machines": [{"id": "M1"}],
        "products": [
            {
                "id": "P",
                "routing": [{"id": "op1", "machines": [{"machine": "M1"}], "run_per_unit": "PT1M"}],
            }
        ],
        "orders": [{"id": "O1", "product": "P", "quantity": 10}],
    }
    data.update(over)
    return data


def plant(**over: Any) -> Plant:
    return Plant.model_validate(tiny(**over))


@st.composite
def small_plants(draw: st.DrawFn) -> dict[str, Any]:
    """Random small plants using every feature the compiler emits: alternatives, rates,
    calendars, interruptible steps, setups, lags, materials, deadlines."""
    n_m = draw(st.integers(1, 3))
    machines = [
        {"id": f"M{i}", "setup_matrix": "m" if draw(st.booleans()) else None} for i in range(n_m)
    ]
    families = ["A", "B"]
    products = []
    for p in range(draw(st.integers(1, 2))):
        ops = []
        for k in range(draw(st.integers(1, 3))):
            chosen = draw(
                st.lists(
                    st.sampled_from([m["id"] for m in machines]),
                    min_size=1,
                    max_size=n_m,
                    unique=True,
                )
            )
            ops.append(
                {
                    "id": f"s{k}",
                    "run_per_unit": f"PT{draw(st.integers(1, 20))}M",
                    "setup": f"PT{draw(st.integers(0, 15))}M",
                    "machines": [{"machine": m} for m in chosen],
                    "interruptible": draw(st.booleans()),
                    "min_lag": f"PT{draw(st.integers(0, 30))}M",
                    **(
                        {"consumes": [{"material": "C", "per_unit": 1}]}
                        if k == 0 and draw(st.booleans())
                        else {}
                    ),
                }
            )
        products.append({"id": f"P{p}", "family": draw(st.sampled_from(families)), "routing": ops})
    orders = [
        {
            "id": f"O{i}",
            "product": draw(st.sampled_from([p["id"] for p in products])),
            "quantity": draw(st.integers(1, 10)),
            "release": iso(draw(st.integers(0, 600))),
            "due": iso(draw(st.integers(60, 3000))),
            "weight": draw(st.integers(0, 3)),
            **({"deadline": iso(draw(st.integers(700, 5000)))} if draw(st.booleans()) else {}),
        }
        for i in range(draw(st.integers(1, 4)))
    ]
    calendar = draw(st.booleans())
    return tiny(
        horizon={"start": iso(0), "end": iso(4 * 1440), "tick_seconds": 60},
        calendars=[
            {
                "id": "c",
                "timezone": "Europe/Berlin",
                "shifts": [{"days": "mon-fri", "start": "06:00", "end": "22:00"}],
            }
        ]
        if calendar
        else [],
        default_calendar="c" if calendar else None,
        machines=machines,
        setup_matrices={
            "m": {
                "changeover": {"A": {"B": "PT20M"}, "B": {"A": "PT10M"}},
                "initial": {"A": "PT5M"},
            }
        },
        materials=[
            {
                "id": "C",
                "initial_stock": draw(st.integers(0, 10)),
                "receipts": [{"at": iso(draw(st.integers(0, 2000))), "quantity": 20}],
            }
        ],
        products=products,
        orders=orders,
        objective={"terms": [{"term": "weighted_tardiness", "weight": 5}, {"term": "makespan"}]},
    )
