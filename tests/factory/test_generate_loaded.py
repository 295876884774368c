"""Hard generated plants (``aps generate plant --load --tightness``) and the default plants
they leave unchanged."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aps.cli import app
from aps.factory.compile import compile_plant
from aps.factory.generate import PlantFeatures, generate_plant
from aps.factory.loaded import generate_loaded_plant
from aps.factory.model import Plant
from aps.heuristics.arrays import TERMS, build_arrays
from aps.heuristics.construct import construct
from aps.heuristics.decode import Scratch
from aps.heuristics.witness import witness
from aps.io.bundle.read import load_plant
from aps.io.bundle.write import write_bundle
from aps.model import ObjectiveTerm, Problem
from aps.params import SolveParams
from aps.validate import validate

#: sha256 of ``generate_plant(orders, seed).to_json()`` before load and tightness existed
DEFAULT_PLANTS = {
    (1, 0): "3bde2f9e0b777c16fd6b97e29cd2f082792b8e6f828836f353f97c82daffff18",
    (7, 3): "f1dee802c5f17962a1110c64babe441c8afb9650221c4031c5e7addedbc99188",
    (150, 1): "de95f7701ab710be58e7b18fbf5b29dc098f7b8d249690774f975239e8675a4d",
    (600, 0): "7ab63c680bc4afc3043e2a840e652287e54cc38dd804c28a85117cedc7d098d7",
}


@pytest.mark.parametrize(("orders", "seed"), list(DEFAULT_PLANTS))
def test_default_plants_are_unchanged(orders: int, seed: int) -> None:
    """Tests that without load or tightness the generator gives the same plants, byte for
    byte, as before the options existed."""
    text = generate_plant(orders, seed).to_json()
    assert hashlib.sha256(text.encode()).hexdigest() == DEFAULT_PLANTS[(orders, seed)]


def test_loaded_plants_are_seeded() -> None:
    """Tests that the same arguments give the same plant, another seed another one, and
    that one option alone takes the other's default."""
    a = generate_plant(30, 4, load=0.9, tightness=0.6)
    assert a == generate_plant(30, 4, load=0.9, tightness=0.6)
    assert a != generate_plant(30, 5, load=0.9, tightness=0.6)
    assert generate_plant(20, 1, load=0.95) == generate_plant(20, 1, tightness=0.5)
    assert generate_plant(20, 1, load=0.95) == generate_loaded_plant(20, 1)
    with pytest.raises(ValueError, match="features"):
        generate_plant(20, 1, load=0.9, features=PlantFeatures())


@pytest.fixture(scope="module")
def tight() -> Plant:
    return generate_plant(120, 0, load=0.95, tightness=0.5)


def test_loaded_plant_has_what_real_plants_have(tight: Plant) -> None:
    """Tests that a hard plant has families with setup matrices, two-shift calendars with
    holidays, purchased and in-house materials, fixed-plus-rate runs, alternative machines
    at different rates, minimum and maximum lags, off-shift setups and some deadlines."""
    assert {c.holiday_country for c in tight.calendars} == {"DE"}
    assert any(len(c.shifts) == 2 for c in tight.calendars)
    assert len(tight.setup_matrices) == 3 and len({p.family for p in tight.products}) == 4
    ops = [op for p in tight.products for op in p.routing]
    assert any(op.fixed_time and op.run_per_unit for op in ops)
    assert any(len({em.run_per_unit for em in op.machines}) > 1 for op in ops)
    assert any(op.min_lag for op in ops) and any(op.max_lag for op in ops)
    made = {f.material for op in ops for f in op.produces}
    bought = {m.id for m in tight.materials if m.receipts}
    assert made and bought and not made & bought
    assert {f.material for op in ops for f in op.consumes} == made | bought
    assert any(g.off_shift_setup for g in tight.machine_groups)
    assert 0 < sum(o.deadline is not None for o in tight.orders) < len(tight.orders) / 5
    assert all(o.deadline is None or (o.due is not None and o.deadline >= o.due)
               for o in tight.orders)  # fmt: skip


def test_loaded_plant_is_feasible_and_round_trips(tight: Plant, tmp_path: Path) -> None:
    """Tests that the hard plant compiles, the greedy witness schedules it validly (its
    deadlines included, before the horizon end), and that it survives a bundle."""
    problem = compile_plant(tight)
    rows = witness(problem)
    assert rows is not None and validate(problem, rows) == []
    assert problem.num_operations > 8 * len(problem.jobs)
    write_bundle(tight, tmp_path / "b.zip")
    assert load_plant(tmp_path / "b.zip") == tight


def _best_late(problem: Problem) -> int:
    """Late orders of the best dispatching rule (the plant solver's construction)."""
    a = build_arrays(problem)
    found = construct(problem, a, Scratch(a, len(problem.machines)), SolveParams(1e9))
    best = min(found, key=lambda c: c.score)
    assert best.flags == 0
    return int(best.terms[TERMS.index(ObjectiveTerm.LATE_JOBS)])


def test_tight_plants_make_dispatching_late(tight: Plant) -> None:
    """Tests that the best dispatching rule has late orders on the tight plant where it has
    none on the default plant of the same size, and fewer on a loose or lighter one."""
    late = _best_late(compile_plant(tight))
    assert _best_late(compile_plant(generate_plant(120, 0))) == 0
    assert late > len(tight.orders) // 5
    light = _best_late(compile_plant(generate_plant(120, 0, load=0.6, tightness=0.5)))
    assert light < late / 2


def test_tightness_shrinks_the_due_dates() -> None:
    """Tests that a tighter plant has the same orders with earlier due dates: at 1 an order
    is due when its own processing could end, at 0 at the plan end."""
    dues = {
        t: {o.id: o.due for o in generate_plant(40, 2, load=0.9, tightness=t).orders}
        for t in (0.0, 0.5, 1.0)
    }
    finished = [k for k in dues[0.0] if k.startswith("SO")]
    due = {t: {k: d for k, d in by_order.items() if d is not None} for t, by_order in dues.items()}
    assert all(due[1.0][k] <= due[0.5][k] <= due[0.0][k] for k in finished)
    assert sum(due[1.0][k] < due[0.0][k] for k in finished) > len(finished) * 0.9
    plan_end = Counter(due[0.0][k] for k in finished).most_common(1)[0][1]
    assert plan_end > len(finished) * 0.8  # all at the plan end but the last long ones


def test_six_hundred_orders_make_thousands_of_operations() -> None:
    """Tests the size of a 600-order hard plant (between 5,000 and 9,000 operations)."""
    problem = compile_plant(generate_plant(600, 0, load=0.95, tightness=0.5))
    assert 5000 <= problem.num_operations <= 9000


def test_generate_plant_cli_with_load(tmp_path: Path) -> None:
    """Tests ``aps generate plant --load --tightness``: a hard plant, seeded."""
    out = tmp_path / "p.json"
    res = CliRunner().invoke(
        app, ["generate", "plant", "--orders", "24", "--seed", "3", "--load", "0.9",
              "--tightness", "0.7", "-o", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    assert Plant.from_json(out.read_text()) == generate_plant(24, 3, load=0.9, tightness=0.7)
    assert "24 orders" in res.stderr
