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
