"""read_campaign keeps every cell as exact text."""

import codecs
import csv
from pathlib import Path

import openpyxl
import pytest

from smsdata.errors import SmsdataError
from smsdata.sheets import _CHUNK, _XLS, read_campaign


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


def _frame_values(df) -> dict[str, list[str | None]]:
    """Columns as lists, missing cells as None, to compare with plain literals."""
    return df.astype(object).where(df.notna(), None).to_dict("list")


def test_xlsx_records_the_sheet_read_and_the_other_sheets(tmp_path: Path) -> None:
    path = tmp_path / "customers.xlsx"
    wb = openpyxl.Workbook()
    wb.active.title = "Summary"
    wb.active.append(["Total", "Month"])
    wb.active.append([3, "Nov"])
    wb.create_sheet("Customers").append(["phone", "name", None, "city"])
    wb.create_sheet("Notes")  # no header at all
    lookup = wb.create_sheet("lookup")
    lookup.append(["mobile"])
    lookup.sheet_state = "hidden"
    wb.save(path)
    df = read_campaign(path)
    assert df.attrs["source"] == {
        "path": str(path),
        "sheet": "Summary",
        "sheets": ["Summary", "Customers", "Notes"],
        "hidden_sheets": ["lookup"],
        "columns_by_sheet": {"Customers": ["phone", "name", "city"], "Notes": [], "lookup": ["mobile"]},
    }
    assert read_campaign(path, sheet="Customers").attrs["source"]["sheet"] == "Customers"


ROWS = [
    ["phone", "name", "zip"],
    ["013800138000", 'Li; Jr, "the 2nd"|x\ty', "007"],  # every candidate separator, quoted
    ["+8613912345678", "Wang", "12,5"],  # a decimal comma, unquoted in a ';' file
    ["1.38E+10", "two\nlines", ""],
]


@pytest.mark.parametrize(
    "sep", [pytest.param(",", id="comma"), pytest.param(";", id="semicolon"), pytest.param("\t", id="tab"), "|"]
)
@pytest.mark.parametrize("newline", [pytest.param("\r\n", id="crlf"), pytest.param("\n", id="lf")])
def test_separator_is_detected_and_numbers_stay_text(tmp_path: Path, sep: str, newline: str) -> None:
    path = tmp_path / "c.csv"
    with path.open("w", newline="", encoding="utf-8") as file:
        csv.writer(file, delimiter=sep, lineterminator=newline).writerows(ROWS)
    df = read_campaign(path)
    assert _frame_values(df) == {
        "phone": ["013800138000", "+8613912345678", "1.38E+10"],
        "name": ['Li; Jr, "the 2nd"|x\ty', "Wang", "two\nlines"],
        "zip": ["007", "12,5", None],
    }
    assert df.index.tolist() == [2, 3, 4]
    assert df.attrs["source"] == {"path": str(path), "encoding": "utf-8", "separator": sep}


def test_separator_is_found_when_the_sample_ends_mid_row(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    rows = [f"139{i:08d};Hello {i}, see you;{i % 7}" for i in range(20_000)]  # ~600 KB: past the 64K sample
    path.write_text("phone;content;group\n" + "\n".join(rows) + "\n", encoding="utf-8")
    df = read_campaign(path)
    assert df.attrs["source"]["separator"] == ";"
    assert len(df) == 20_000
    assert df.iloc[-1].tolist() == ["13900019999", "Hello 19999, see you", "0"]


def test_excel_sep_line_names_the_separator(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(b"sep=;\r\nphone;note\r\n013800138000;a,b\r\n")
    df = read_campaign(path)
    assert _frame_values(df) == {"phone": ["013800138000"], "note": ["a,b"]}
    assert df.index.tolist() == [2]  # Excel hides the sep= line: the header is row 1
    assert df.attrs["source"]["separator"] == ";"


def test_a_one_column_file_is_read_as_one_column(tmp_path: Path) -> None:
    path = tmp_path / "stop.csv"
    path.write_text("mobile\n13800138000\n+86 139 0000 0000\n", encoding="utf-8")
    df = read_campaign(path)
    assert _frame_values(df) == {"mobile": ["13800138000", "+86 139 0000 0000"]}
    assert df.attrs["source"]["separator"] == ","


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(
            b"phone;content\n13800138000;Hi; there\n",
            r"c\.csv seems to be separated by ';' \(the header has 2 columns\), but line 2 has 3 fields: "
            r"put quotes around values that hold ';', or open it in Excel and save it as 'CSV UTF-8",
            id="unquoted-separator",
        ),
        pytest.param(
            b"phone\tname\n13800138000\tLi\n13900000000\tWang\tWang\n",
            r"separated by tab \(the header has 2 columns\), but line 3 has 3 fields",
            id="tab-named",
        ),
        pytest.param(
            b"phone;amount (CNY, net)\n13800138000;12,5\n",
            r"c\.csv: cannot tell the separator: the header splits into 2 columns on ',' or ';' alike",
            id="ambiguous",
        ),
    ],
)
def test_separator_that_cannot_be_decided_is_an_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(content)
    with pytest.raises(SmsdataError, match=message):
        read_campaign(path)


def test_a_ragged_row_past_the_sample_names_the_file_and_separator(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    rows = [f"139{i:08d};hi" for i in range(10_000)] + ["13800138000;hi;extra"]
    path.write_text("phone;content\n" + "\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(SmsdataError, match=r"c\.csv: not a readable CSV \(separator ';'\): .*line 10002, saw 3"):
        read_campaign(path)


NAMES = ["李小龙", "Zoë"]


@pytest.mark.parametrize(
    ("codec", "sep", "encoding"),
    [
        pytest.param("utf-8", ",", "utf-8", id="utf-8"),
        pytest.param("utf-8-sig", ",", "utf-8-sig", id="utf-8-bom"),
        pytest.param("utf-16", "\t", "utf-16", id="excel-unicode-text"),  # UTF-16 LE with BOM, tabs
        pytest.param("utf-16-be-bom", ";", "utf-16", id="utf-16-be-bom"),
        pytest.param("utf-32", ",", "utf-32", id="utf-32-bom"),
        pytest.param("gb18030", ",", "gb18030", id="gb18030"),
    ],
)
def test_encodings_are_read_exactly(tmp_path: Path, codec: str, sep: str, encoding: str) -> None:
    text = sep.join(["phone", "name"]) + "\r\n" + "".join(f"0138001380{i}{sep}{n}\r\n" for i, n in enumerate(NAMES))
    # Python's utf-16 writes little-endian; big-endian with a mark is built by hand
    data = codecs.BOM_UTF16_BE + text.encode("utf-16-be") if codec == "utf-16-be-bom" else text.encode(codec)
    if codec == "utf-16":
        assert data.startswith(codecs.BOM_UTF16_LE)  # what Excel's "Unicode Text" writes
    path = tmp_path / "c.txt"
    path.write_bytes(data)
    df = read_campaign(path)
    assert _frame_values(df) == {"phone": ["01380013800", "01380013801"], "name": NAMES}
    assert df.attrs["source"] == {"path": str(path), "encoding": encoding, "separator": sep}


def test_text_that_is_neither_utf8_nor_gb18030_names_both_bytes(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(b"phone,name\n138,\xc0\xee\n139,\xff\n")  # C0 EE is GB18030 (not UTF-8); FF is neither
    with pytest.raises(SmsdataError) as info:
        read_campaign(path)
    assert str(info.value) == (
        f"{path}: the text is neither UTF-8 (byte 0xC0 at byte offset 15, line 2) "
        "nor GB18030 (byte 0xFF at byte offset 22, line 3); "
        "open it in Excel and save it as 'CSV UTF-8 (Comma delimited)'"
    )


def _bad_byte_at(offset: int, codec: str) -> tuple[bytes, int]:
    """Text valid in ``codec`` with a multibyte character ending right before a 0xFF at ``offset``; its line."""
    char = "李".encode(codec)
    line = "13800138000,李\n".encode(codec)
    data = b"phone,name\n" + line * ((offset - 11) // len(line) - 1)
    data += b"1" * (offset - len(data) - len(char)) + char + b"\xff\n"
    assert data[offset] == 0xFF
    return data, data.count(b"\n", 0, offset) + 1


@pytest.mark.parametrize("codec", ["utf-8", "gb18030"])
@pytest.mark.parametrize("delta", [-1, 0, 1, 2])
def test_bad_byte_offset_is_exact_across_decoding_chunks(tmp_path: Path, codec: str, delta: int) -> None:
    offset = _CHUNK + delta  # the character before it straddles the chunk boundary for delta 1 and 2
    data, line = _bad_byte_at(offset, codec)
    path = tmp_path / "c.csv"
    path.write_bytes(data)
    label = {"utf-8": "UTF-8", "gb18030": "GB18030"}[codec]
    with pytest.raises(SmsdataError, match=rf"{label} \(byte 0xFF at byte offset {offset}, line {line}\)"):
        read_campaign(path)


def test_a_utf8_bom_is_trusted_no_fallback_to_gb18030(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(codecs.BOM_UTF8 + b"phone,name\n138," + "李".encode("gb18030") + b"\n")
    with pytest.raises(SmsdataError) as info:
        read_campaign(path)
    assert str(info.value) == (
        f"{path}: starts with a UTF-8 byte-order mark, but byte 0xC0 at byte offset 18, line 2 is not UTF-8; "
        "open it in Excel and save it as 'CSV UTF-8 (Comma delimited)'"
    )


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        pytest.param(
            "c.csv",
            "phone,name\n".encode("utf-16-le"),
            r"c\.csv: NUL byte at byte offset 1, line 1: not a text file \(UTF-16 without a byte-order mark\?\)",
            id="utf-16-without-bom",
        ),
        pytest.param(
            "c.csv",
            b"phone\n138\x00\n",
            r"c\.csv: NUL byte at byte offset 9, line 2",
            id="nul-in-utf-8",
        ),
        pytest.param("c.csv", b"PK\x03\x04rest", r"c\.csv is a zip file, not a CSV: .* Rename it to \.xlsx", id="xlsx"),
        pytest.param(
            "c.csv", _XLS + b"rest", r"c\.csv is an Excel 97-2003 \(\.xls\) workbook, not a CSV", id="xls-as-csv"
        ),
        pytest.param(
            "c.xlsx", _XLS + b"rest", r"c\.xlsx is an Excel 97-2003 \(\.xls\) workbook: .* save it as \.xlsx", id="xls"
        ),
        pytest.param("c.csv", b"", r"c\.csv: the file is empty", id="empty"),
        pytest.param("c.csv", b"\r\n\r\n", r"c\.csv: the file is empty", id="blank"),
        pytest.param("c.csv", codecs.BOM_UTF8, r"c\.csv: the file is empty", id="bom-only"),
    ],
)
def test_files_that_are_not_csv_text(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SmsdataError, match=message):
        read_campaign(path)


def test_sheet_with_a_csv_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("phone\n13800138000\n", encoding="utf-8")
    with pytest.raises(SmsdataError, match=r"c\.csv is a CSV file, which has no sheets; sheet= is for \.xlsx"):
        read_campaign(path, sheet="Customers")
