"""Generators: Taillard's RNG reproduced, seeded plants, published schema up to date."""

from __future__ import annotations

from pathlib import Path

from aps.factory.compile import compile_plant
from aps.factory.generate import PlantFeatures, generate_plant
from aps.factory.model import plant_json_schema
from aps.io.taillard import generate_jssp, jssp_orlib, jssp_problem
from aps.report.diagnose import Severity, diagnose_plant

ROOT = Path(__file__).resolve().parents[2]


def test_taillard_generator_reproduces_ta01() -> None:
    """Taillard's ta01 uses time seed 840612802 and machine seed 398197754."""
    inst = generate_jssp(15, 15, 840612802, 398197754)
    assert [d for _, d in inst[0]] == [94, 66, 10, 53, 26, 15, 65, 82, 10, 27, 93, 92, 96, 70, 83]
    assert [m for m, _ in inst[0]] == [6, 12, 4, 7, 3, 2, 10, 11, 8, 14, 9, 13, 5, 0, 1]
    text = jssp_orlib(inst)
    assert text.splitlines()[0] == "15 15"
    problem = jssp_problem(inst, "ta01-like")
    assert problem.is_job_shop() and problem.num_operations == 225


def test_plant_generator_is_seeded_and_scales() -> None:
    a, b = generate_plant(20, 7), generate_plant(20, 7)
    assert a == b and generate_plant(20, 8) != a
    big = generate_plant(150, 1)
    assert len(big.orders) == 150 and len(big.machines) == 30
    assert len({o.product for o in big.orders}) == 8


def test_generated_plants_pass_the_diagnostics() -> None:
    for n, seed in ((60, 0), (25, 3), (5, 9)):
        errors = [
            f for f in diagnose_plant(generate_plant(n, seed)) if f.severity is Severity.ERROR
        ]
        assert errors == [], (n, seed, errors)
    plain = generate_plant(
        8,
        1,
        features=PlantFeatures(
            calendars=False,
            setups=False,
            materials=False,
            lags=False,
            interruptible=False,
            alternatives=False,
            maintenance=False,
            holidays=False,
        ),
    )
    problem = compile_plant(plain)
    assert not problem.materials and not problem.setup_matrices
    assert all(not m.unavailable for m in problem.machines)


def test_example_plant_shape() -> None:
    plant = generate_plant(60, 0)
    assert len(plant.orders) == 60 and len(plant.products) == 8
    assert len(plant.machines) == 10 and len(plant.machine_groups) == 4
    assert plant.setup_matrices and any(m.maintenance for m in plant.machines)
    receipts = sorted(r.at for m in plant.materials for r in m.receipts)
    assert (receipts[-1] - plant.horizon.start).days < 14


def test_published_plant_schema_is_up_to_date() -> None:
    """Regenerate with: python -c 'from aps.factory.model import plant_json_schema as s;
    open("aps/schema/plant.json", "w").write(s())'"""
    assert (ROOT / "aps" / "schema" / "plant.json").read_text() == plant_json_schema()
