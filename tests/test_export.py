"""Export: formula injection neutralised in CSV and XLSX, mobiles masked, exact text kept."""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from smsdata import ExportError, export, mask_mobiles

EVIL = '=HYPERLINK("http://evil.example/x","click")'


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": [EVIL, "+1 cmd", "-2", "@SUM(A1)", "\tTab", "\rCR", "Li", None],
            "mobile": ["13800138000"] * 8,
            "count": [1, 2, 3, 4, 5, 6, 7, 8],
            "at": pd.Timestamp("2026-11-25 13:00", tz="UTC"),
        }
    )


def test_csv_cells_that_would_run_are_prefixed(tmp_path: Path, table: pd.DataFrame) -> None:
    path = export(table, tmp_path / "out.csv", tz="Asia/Shanghai", mask=False)
    rows = read_csv(path)
    assert [r["name"] for r in rows] == ["'" + EVIL, "'+1 cmd", "'-2", "'@SUM(A1)", "'\tTab", "'\rCR", "Li", ""]
    assert rows[0]["mobile"] == "13800138000"  # exact text, not 1.38E+10
    assert rows[0]["at"] == "2026-11-25 21:00:00+08:00"
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")


def test_xlsx_has_no_formula_cells(tmp_path: Path, table: pd.DataFrame) -> None:
    path = export(table, tmp_path / "out.xlsx", tz="Asia/Shanghai", mask=False)
    sheet = openpyxl.load_workbook(path).active
    cells = [cell for row in sheet.iter_rows() for cell in row]
    assert not [c for c in cells if c.data_type == "f"]
    assert sheet["A2"].value == EVIL  # kept exactly, as inert text
    assert sheet["B2"].value == "13800138000"
    assert sheet["B2"].data_type == "s"
    assert sheet["C2"].value == 1
    assert sheet["D2"].value == pd.Timestamp("2026-11-25 21:00").to_pydatetime()


def test_masking_for_sharing(tmp_path: Path, table: pd.DataFrame) -> None:
    path = export(table, tmp_path / "out.csv")  # masked by default: mobiles are personal data
    assert {r["mobile"] for r in read_csv(path)} == {"138****8000"}
    path = export(table, tmp_path / "out.xlsx", mask=True)
    assert openpyxl.load_workbook(path).active["B2"].value == "138****8000"
    assert mask_mobiles(pd.Series(["13912345678", "n/a", None])).tolist()[:2] == ["139****5678", "n/a"]


def test_a_header_cannot_inject_either(tmp_path: Path) -> None:
    frame = pd.DataFrame({"=cmd": ["x"]})
    assert list(read_csv(export(frame, tmp_path / "h.csv"))[0]) == ["'=cmd"]
    sheet = openpyxl.load_workbook(export(frame, tmp_path / "h.xlsx")).active
    assert sheet["A1"].data_type == "s"


def test_unknown_suffix(tmp_path: Path, table: pd.DataFrame) -> None:
    with pytest.raises(ExportError, match=r"\.csv or \.xlsx"):
        export(table, tmp_path / "out.json")
