"""CSV/xlsx/zip bundles: the same plant as JSON, and errors that name file, row, column."""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aps.factory.compile import CompileError
from aps.factory.generate import generate_plant
from aps.factory.model import Plant
from aps.io.bundle.read import load_plant
from aps.io.bundle.tables import BundleError
from aps.io.bundle.write import write_bundle
from aps.io.load import load_problem
from aps.report.diagnose import diagnose
from tests.factory.plants import small_plants

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_JSON = ROOT / "instances" / "plant.json"
EXAMPLE_CSV = ROOT / "instances" / "plant"


def test_example_bundle_equals_example_json() -> None:
    csv_plant = load_plant(EXAMPLE_CSV)
    json_plant = load_plant(EXAMPLE_JSON)
    assert csv_plant == json_plant
    assert load_problem(EXAMPLE_CSV) == load_problem(EXAMPLE_JSON)


def test_example_matches_the_generator() -> None:
    """instances/ is generated: `aps generate plant --orders 60 --seed 0` (renamed)."""
    assert load_plant(EXAMPLE_JSON) == generate_plant(60, 0, name="example-plant")


@pytest.mark.parametrize("suffix", [".xlsx", ".zip", ""])
def test_xlsx_zip_and_folder_round_trip(tmp_path: Path, suffix: str) -> None:
    plant = generate_plant(6, 3)
    target = tmp_path / f"bundle{suffix}"
    write_bundle(plant, target)
    assert load_plant(target) == plant


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    target = tmp_path / "plant"
    shutil.copytree(EXAMPLE_CSV, target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def errors_of(path: Path) -> list[str]:
    with pytest.raises(BundleError) as info:
        load_plant(path)
    return info.value.errors


def test_bad_cells_name_file_row_and_column(bundle: Path) -> None:
    edit(bundle / "orders.csv", "SA-002,FRAME,80,", "SA-002,FRAME,many,")
    edit(bundle / "orders.csv", "2026-03-07T22:00:00+01:00", "2026-03-07T22:00:00")
    edit(bundle / "routings.csv", "FRAME,cut,,,PT15M", "FRAME,cut,,,15 minutes")
    errors = errors_of(bundle)
    assert any(e.startswith("orders.csv, row 3, column 'quantity': ") for e in errors), errors
    assert (
        "orders.csv, row 3, column 'due': '2026-03-07T22:00:00' needs a UTC offset, e.g. "
        "2026-03-02T06:00:00+01:00"
    ) in errors
    assert (
        "routings.csv, row 2, column 'setup': '15 minutes' is not a duration; write e.g. "
        "PT1H30M or 01:30:00"
    ) in errors


def test_unknown_references_name_the_row(bundle: Path) -> None:
    edit(bundle / "orders.csv", "SA-003,FRAME", "SA-003,GADGET")
    edit(bundle / "routing_machines.csv", "FRAME,cut,SAW", "FRAME,cut,LASER")
    edit(bundle / "machine_groups.csv", "CNC,CNC machining,cnc", "CNC,CNC machining,cnx")
    errors = errors_of(bundle)
    assert "orders.csv, row 4, column 'product': unknown product 'GADGET'" in errors
    assert (
        "routing_machines.csv, row 2, column 'machine': unknown machine or group 'LASER'" in errors
    )
    assert "machine_groups.csv, row 3, column 'setup_matrix': unknown setup matrix 'cnx'" in errors


def test_rows_of_child_tables_must_name_a_known_parent(bundle: Path) -> None:
    edit(bundle / "receipts.csv", "MOTOR,", "MOTORS,")
    edit(bundle / "maintenance.csv", "CNC-1,", "CNC-9,")
    errors = errors_of(bundle)
    assert any(
        e.startswith("receipts.csv, row ") and "column 'material'" in e and "MOTORS" in e
        for e in errors
    ), errors
    assert "maintenance.csv, row 2, column 'machine': unknown machine 'CNC-9'" in errors


def test_structure_errors(bundle: Path) -> None:
    edit(bundle / "orders.csv", "id,product,quantity", "id,product,qty")
    (bundle / "machines.csv").unlink()
    (bundle / "extra.csv").write_text("a\n1\n")
    errors = errors_of(bundle)
    assert "orders.csv, row 1, column 'quantity': required column is missing" in errors
    assert any(e.startswith("orders.csv, row 1, column 'qty': unknown column") for e in errors)
    assert "machines.csv: required table is missing" in errors
    assert any(e.startswith("extra.csv: unknown table") for e in errors)


def test_xlsx_errors_name_the_sheet(tmp_path: Path) -> None:
    import openpyxl

    target = tmp_path / "plant.xlsx"
    write_bundle(generate_plant(6, 1), target)
    wb = openpyxl.load_workbook(target)
    wb["orders"]["C3"] = "-4"
    wb.save(target)
    errors = errors_of(target)
    assert any(e.startswith("sheet 'orders', row 3, column 'quantity': ") for e in errors), errors


def test_json_errors_name_the_path(tmp_path: Path) -> None:
    text = EXAMPLE_JSON.read_text().replace('"product": "FRAME"', '"product": "FRAMES"', 1)
    bad = tmp_path / "plant.json"
    bad.write_text(text)
    with pytest.raises(BundleError, match=r"plant.json: .*unknown product 'FRAMES'"):
        load_problem(bad)


def test_not_a_bundle(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("hi")
    assert errors_of(tmp_path / "x.txt")[0].endswith(
        "not a folder, .zip, .xlsx or .json plant input"
    )
    assert "no such file" in errors_of(tmp_path / "missing.zip")[0]


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=small_plants())
def test_random_plants_survive_the_csv_round_trip(tmp_path: Path, data: dict[str, Any]) -> None:
    plant = Plant.model_validate(data)
    target = tmp_path / f"p{abs(hash(plant.to_json()))}.zip"
    write_bundle(plant, target)
    assert load_plant(target) == plant


def _leaves(obj: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(obj, dict):
        return [p for k, v in obj.items() for p in _leaves(v, (*path, k))]
    if isinstance(obj, list):
        return [p for i, v in enumerate(obj) for p in _leaves(v, (*path, i))]
    return [path]


EXAMPLE_DATA = json.loads(EXAMPLE_JSON.read_text())
LEAVES = _leaves(EXAMPLE_DATA)
JUNK = [
    "",
    "x",
    -1,
    0,
    10**12,
    "PT-5M",
    "2026-13-01T00:00:00+01:00",
    None,
    [],
    {},
    "24:00",
    True,
    1.5,
    "P1Y",
    "2026-03-02T00:00:00",
    "2020-01-01T00:00:00+00:00",
    "Mars/X",
    ";",
]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(LEAVES), st.sampled_from(JUNK)), min_size=1, max_size=3))
def test_corrupted_plants_fail_cleanly(edits: list[tuple[tuple[Any, ...], Any]]) -> None:
    """Any corruption gives a BundleError/CompileError naming the place, or a valid plan."""
    data = copy.deepcopy(EXAMPLE_DATA)
    for path, value in edits:
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    with tempfile.TemporaryDirectory() as tmp:
        target_file = Path(tmp) / "plant.json"
        target_file.write_text(json.dumps(data))
        try:
            diagnose(load_problem(target_file))
        except BundleError as exc:
            assert all(e.startswith("plant.json: ") for e in exc.errors)
        except CompileError as exc:
            assert exc.issues


def test_a_material_flow_over_the_limit_is_named_not_raised(tmp_path: Path) -> None:
    """Tests a component need (per unit × order quantity) beyond the model's limit: a
    CompileError naming the order, operation, material and limit, not a validation error
    from inside the compiler."""
    data = copy.deepcopy(EXAMPLE_DATA)
    order = data["orders"][0]
    product = next(p for p in data["products"] if p["id"] == order["product"])
    step = next(r for r in product["routing"] if r.get("consumes"))
    step["consumes"][0]["per_unit"] = 1e11
    material = step["consumes"][0]["material"]
    path = tmp_path / "plant.json"
    path.write_text(json.dumps(data))
    with pytest.raises(CompileError) as caught:
        load_problem(path)
    named = [i for i in caught.value.issues if material in i and order["id"] in i]
    assert named and all(str(2**40) in i for i in named), caught.value.issues


def test_spreadsheet_dialects(bundle: Path) -> None:
    """Excel's CSV flavours: BOM, semicolons, Windows-1252, decimal commas; notes ignored."""
    orders = bundle / "orders.csv"
    orders.write_bytes(b"\xef\xbb\xbf" + orders.read_bytes())  # "CSV UTF-8" with a BOM
    bom = bundle / "bom.csv"
    bom.write_text(bom.read_text().replace(",", ";").replace(";3\n", ";3,0\n"))
    products = bundle / "products.csv"
    products.write_bytes(
        products.read_text().replace("Welded frame", "Geschweißter Rahmen").encode("cp1252")
    )
    (bundle / "_notes.csv").write_text("anything,goes\n1,2\n")
    plant = load_plant(bundle)
    assert plant == load_plant(EXAMPLE_JSON).model_copy(update={"products": plant.products})
    assert plant.products[0].name == "Geschweißter Rahmen"
    frame = next(p for p in plant.products if p.id == "FRAME")
    assert frame.routing[0].consumes[0].per_unit == 3.0


def test_xlsx_ignores_note_sheets(tmp_path: Path) -> None:
    import openpyxl

    target = tmp_path / "plant.xlsx"
    plant = generate_plant(4, 2)
    write_bundle(plant, target)
    wb = openpyxl.load_workbook(target)
    wb.create_sheet("_README")["A1"] = "how to fill this workbook"
    wb.save(target)
    assert load_plant(target) == plant


def test_zip_that_is_no_workbook_is_refused(tmp_path: Path) -> None:
    """Tests that a zip renamed .xlsx gets a bundle error, not a crash (was a KeyError)."""
    import zipfile

    path = tmp_path / "x.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.txt", "hello")
    with pytest.raises(BundleError, match=r"x\.xlsx: not a readable workbook"):
        load_plant(path)


def test_zip_bomb_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests that an archive unpacking past the limit is refused before it is read."""
    import zipfile

    from aps.io.bundle import read as bundle

    monkeypatch.setattr(bundle, "MAX_UNPACKED_BYTES", 1000)
    path = tmp_path / "b.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("orders.csv", b"0" * 5000)
    with pytest.raises(BundleError, match="unpacks to 5,000 bytes, more than the 1,000"):
        bundle.load_plant(path)
