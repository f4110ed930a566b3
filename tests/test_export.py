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


CONTROLS = [chr(c) for c in [*range(0x20), 0x7F]]
TRIGGERS = ["=", "+", "-", "@"]


def test_no_control_character_lets_a_formula_through_csv(tmp_path: Path) -> None:
    """LibreOffice ran ``"\\x00=HYPERLINK(...)"`` as a formula: any run of control characters
    (or spaces) before a trigger is prefixed too, and the cell otherwise kept exactly."""
    cells = [f'{c}{t}HYPERLINK("http://evil.example","x")' for c in CONTROLS for t in TRIGGERS]
    cells += [f"\x00\x01 {t}1+1" for t in TRIGGERS] + [f"{c}\t=1" for c in CONTROLS] + [f"{c}\r=1" for c in CONTROLS]
    cells += [f"\t{t}1" for t in TRIGGERS] + [f"\r{t}1" for t in TRIGGERS]
    frame = pd.DataFrame({"name": cells, "n": range(len(cells))})
    rows = read_csv(export(frame, tmp_path / "c.csv"))
    assert [r["name"] for r in rows] == ["'" + cell for cell in cells]
    assert [int(r["n"]) for r in rows] == list(range(len(cells)))


def test_harmless_control_characters_are_kept_unprefixed(tmp_path: Path) -> None:
    cells = ["\x00abc", "a=b", "x\x00=1", "Li 李", "\x7f7"]
    rows = read_csv(export(pd.DataFrame({"name": cells}), tmp_path / "c.csv"))
    assert [r["name"] for r in rows] == cells


def test_a_header_after_a_control_character_cannot_inject(tmp_path: Path) -> None:
    frame = pd.DataFrame({"\x00=cmd": ["x"], "\x1f@h": ["y"]})
    assert list(read_csv(export(frame, tmp_path / "h.csv"))[0]) == ["'\x00=cmd", "'\x1f@h"]


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x0e", "\x1b", "\x1f"])
def test_xlsx_refuses_a_control_character_naming_column_and_row(tmp_path: Path, char: str) -> None:
    frame = pd.DataFrame({"mobile": ["13800138000"] * 3, "name": ["Li", f"Wang{char}", "Zhao"]}, index=[10, 11, 12])
    with pytest.raises(ExportError) as caught:
        export(frame, tmp_path / "out.xlsx")
    assert str(caught.value) == (
        f"cannot export column 'name', row 11, to XLSX: holds the control character {char!r}, which XLSX cannot "
        r"store: remove it (df['name'].str.replace(r'[\x00-\x08\x0b\x0c\x0e-\x1f]', '', regex=True)) "
        "or export to .csv"
    )
    assert (caught.value.column, caught.value.row) == ("name", 11)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
    assert not (tmp_path / "out.xlsx").exists()


def test_xlsx_keeps_the_control_characters_it_can_store(tmp_path: Path) -> None:
    frame = pd.DataFrame({"name": ["a\tb", "c\nd", "\t=x"]})
    sheet = openpyxl.load_workbook(export(frame, tmp_path / "ok.xlsx")).active
    assert [sheet[f"A{i}"].value for i in (2, 3, 4)] == ["a\tb", "c\nd", "\t=x"]
    assert sheet["A4"].data_type == "s"


def test_xlsx_refuses_a_control_character_in_a_header_or_a_category(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"column 'a\\x00', the header, to XLSX: holds .*'\\x00'") as caught:
        export(pd.DataFrame({"a\x00": [1]}), tmp_path / "h.xlsx")
    assert (caught.value.column, caught.value.row) == ("a\x00", None)
    frame = pd.DataFrame({"c": pd.Categorical(["ok", "bad\x02"])})
    with pytest.raises(ExportError, match=r"column 'c', row 1, to XLSX: holds the control character '\\x02'"):
        export(frame, tmp_path / "c.xlsx")


def test_xlsx_cell_over_32767_characters_is_refused(tmp_path: Path) -> None:
    fits = pd.DataFrame({"text": ["x" * 32_767, "李" * 32_767]})
    sheet = openpyxl.load_workbook(export(fits, tmp_path / "fits.xlsx")).active
    assert (sheet["A2"].value, sheet["A3"].value) == ("x" * 32_767, "李" * 32_767)
    with pytest.raises(ExportError) as caught:
        export(pd.DataFrame({"text": ["ok", "x" * 32_768]}), tmp_path / "long.xlsx")
    assert str(caught.value) == (
        "cannot export column 'text', row 1, to XLSX: 32,768 characters, over the 32,767 an XLSX cell holds "
        "(Excel would call the file damaged): shorten it, or export to .csv"
    )
    assert not (tmp_path / "long.xlsx").exists()
    # Excel counts UTF-16 units: 16,384 emoji are 32,768 of them
    with pytest.raises(ExportError, match="column 'text', row 0, to XLSX: 16,384 characters"):
        export(pd.DataFrame({"text": ["😀" * 16_384]}), tmp_path / "emoji.xlsx")
    # CSV has no such limit: the whole text is kept
    assert read_csv(export(pd.DataFrame({"text": ["x" * 40_000]}), tmp_path / "long.csv"))[0]["text"] == "x" * 40_000


def test_xlsx_refuses_a_value_it_cannot_store(tmp_path: Path) -> None:
    frame = pd.DataFrame({"n": [1.5, 2.5], "z": [1 + 0j, 3j]}, index=["a", "b"])
    with pytest.raises(ExportError) as caught:
        export(frame, tmp_path / "z.xlsx")
    assert str(caught.value) == (
        "cannot export column 'z', row 'a', to XLSX: an XLSX cell cannot hold complex values: "
        "convert the column to text first"
    )
    assert (caught.value.column, caught.value.row) == ("z", "a")
    assert not (tmp_path / "z.xlsx").exists()


@pytest.mark.parametrize("space", ["\u00a0", "\u3000", "\ufeff", "\u200b", "\u2028", "\u2003"])
def test_unicode_spaces_before_a_formula_are_defused(space: str, tmp_path: Path) -> None:
    formula = f'{space}=HYPERLINK("http://x")'
    out = export(pd.DataFrame({"note": [formula]}), tmp_path / "x.csv", mask=False)
    with open(out, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[1] == ["'" + formula]
