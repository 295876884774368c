"""Reading a bundle: a folder of CSVs, a .zip of them, one .xlsx, or plant JSON.

Every cell is read as text and parsed by the same pydantic models as plant JSON, so a
bundle and the equivalent JSON give the same :class:`~aps.factory.model.Plant`. Loading is
all-or-nothing: every bad row is reported at once, as
``orders.csv, row 7, column 'due': <reason>`` (rows counted as in a spreadsheet, the
header being row 1), and :class:`~aps.io.bundle.tables.BundleError` is raised before
anything is returned.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from aps.factory.model import (
    Plant,
    format_path,
)
from aps.io.bundle.assemble import assemble
from aps.io.bundle.tables import BundleError, Reader, Row, explain

#: Uploaded archives and workbooks may unpack to at most this many bytes.
MAX_UNPACKED_BYTES = 200 * 1024 * 1024


# -- reading tables -----------------------------------------------------------------------


def _read_tables(path: Path) -> tuple[dict[str, list[Row]], str]:
    """Read every table as text rows. Returns (tables, file-suffix for messages)."""
    if path.is_dir():
        frames, suffix = _folder_frames(path), ".csv"
    elif path.suffix.lower() == ".zip":
        frames, suffix = _zip_frames(path), ".csv"
    elif path.suffix.lower() in (".xlsx", ".xlsm", ".xls", ".ods"):
        frames, suffix = _workbook_frames(path), ""
    else:
        raise BundleError([f"{path}: not a folder, .zip, .xlsx or .json plant input"])
    tables: dict[str, list[Row]] = {}
    for name, frame in frames.items():
        rows: list[Row] = []
        cols = [str(c).strip() for c in frame.columns]
        for i, values in enumerate(frame.itertuples(index=False, name=None)):
            cells = {
                c: str(v).strip()
                for c, v in zip(cols, values, strict=True)
                if v is not None and str(v).strip() != "" and str(v) != "nan"
            }
            if cells:
                rows.append(Row(name, i + 2, cells))
        tables[name] = rows
        tables.setdefault(f"__columns__{name}", [Row(name, 1, {c: c for c in cols})])
    return tables, suffix


def _folder_frames(path: Path) -> dict[str, Any]:
    """The folder's CSV files by name; every unreadable one is reported."""
    frames: dict[str, Any] = {}
    errors: list[str] = []
    for f in sorted(path.glob("*.csv")):
        if _ignored(f.name):
            continue
        try:
            frames[f.stem] = _read_csv(f.read_bytes())
        except (ValueError, OSError) as exc:
            errors.append(f"{f.name}: cannot read CSV: {exc}")
    if errors:
        raise BundleError(errors)
    return frames


def _zip_frames(path: Path) -> dict[str, Any]:
    """The archive's CSV members by name (hidden and macOS folders skipped)."""
    frames: dict[str, Any] = {}
    errors: list[str] = []
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
    if errors:
        raise BundleError(errors)
    return frames


def _workbook_frames(path: Path) -> dict[str, Any]:
    """The workbook's sheets by name, every cell as text."""
    import pandas as pd

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
    return {str(k).strip(): v for k, v in sheets.items() if not _ignored(str(k))}


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
    return assemble(tables, Reader(suffix))


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
