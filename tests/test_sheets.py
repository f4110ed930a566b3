"""read_campaign keeps every cell as exact text."""

from pathlib import Path

import openpyxl
import pytest

from smsdata.errors import SmsdataError
from smsdata.sheets import read_campaign


def test_xlsx_numbers_come_back_exact(tmp_path: Path) -> None:
    path = tmp_path / "c.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["phone", "name", "amount"])
    ws.append([1.3800138e10, "Li", 12.5])
    ws.append([13912345678, "Wang", 3.0])
    ws.append(["+86 186 0000 1111", None, 7])
    ws.append([12345678901234567890.0, "Big", 0.1])
    wb.save(path)
    df = read_campaign(path)
    assert df["phone"].tolist()[:3] == ["13800138000", "13912345678", "+86 186 0000 1111"]
    assert df["phone"].iloc[3] == "1.234567890123457e+19"  # not an exact integer: kept recognisably, rejected later
    assert df["amount"].tolist() == ["12.5", "3", "7", "0.1"]
    assert df["name"].isna().tolist() == [False, False, True, False]
    assert df.index.tolist() == [2, 3, 4, 5]
    assert df.index.name == "row"


def test_csv_is_read_as_text(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes("phone,name,zip\n013800138000,NA,007\n1.38E+10,李,\n".encode("gb18030"))
    df = read_campaign(path)
    assert df["phone"].tolist() == ["013800138000", "1.38E+10"]
    assert df["name"].tolist() == ["NA", "李"]
    assert df["zip"].iloc[0] == "007"
    assert df["zip"].isna().iloc[1]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        pytest.param("x.pdf", b"%PDF", "unsupported file type", id="pdf"),
        pytest.param("x.xlsx", b"not a zip", "not a readable XLSX", id="bad-xlsx"),
    ],
)
def test_bad_files(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SmsdataError, match=message):
        read_campaign(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SmsdataError, match="does not exist"):
        read_campaign(tmp_path / "nope.csv")


def test_default_sheet_is_the_visible_active_one_never_a_hidden_one(tmp_path: Path) -> None:
    path = tmp_path / "sheets.xlsx"
    wb = openpyxl.Workbook()
    hidden = wb.active
    hidden.title = "lookup"
    hidden.append(["phone"])
    hidden.append(["13900000001"])
    hidden.sheet_state = "hidden"
    for title in ("first", "customers"):
        ws = wb.create_sheet(title)
        ws.append(["phone"])
        ws.append([f"1390000000{len(wb.sheetnames)}"])
    wb.active = 2
    wb.save(path)
    assert read_campaign(path)["phone"].tolist() == ["13900000003"]  # the active sheet
    wb.active = 0  # the hidden one is active: the first visible instead
    wb.save(path)
    assert read_campaign(path)["phone"].tolist() == ["13900000002"]
    assert read_campaign(path, sheet="lookup")["phone"].tolist() == ["13900000001"]  # named: read


def test_a_fractional_phone_cell_is_rejected_not_turned_into_digits(tmp_path: Path) -> None:
    from smsdata.planning import plan_campaign

    path = tmp_path / "c.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["phone", "c"])
    wb.active.append([1380013800.8, "x"])
    wb.active.append([13800138000.0, "y"])
    wb.save(path)
    plan = plan_campaign(read_campaign(path), mobile="phone", content="c")
    assert plan.recipients["mobile"].tolist() == ["13800138000"]
    assert plan.rejected[["value", "detail"]].to_dict("records") == [{"value": "1380013800.8", "detail": "not_integer"}]
