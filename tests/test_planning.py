"""Planning campaigns: numbers, content, rejects, requests, summary."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import smsdata as sms
from smsdata.errors import SmsdataError
from smsdata.planning import plan_campaign


@pytest.fixture
def customers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "phone": ["138 0013 8000", "+8613912345678", "13800138000", "1.38E+10", "18600001111", "17040000000"],
            "name": ["Li", "Wang", "Li again", "Sci", None, "Zhao"],
            "order": ["A1", "A2", "A3", "A4", "A5", "A6"],
        },
        index=pd.RangeIndex(2, 8, name="row"),
    )


def test_plan_recipients_rejects_and_requests(customers: pd.DataFrame) -> None:
    plan = plan_campaign(customers, mobile="phone", template="Hi {name}, order {order} shipped")
    assert plan.recipients[["row", "mobile", "content", "segments", "request"]].to_dict("records") == [
        {"row": 2, "mobile": "13800138000", "content": "Hi Li, order A1 shipped", "segments": 1, "request": 0},
        {"row": 3, "mobile": "13912345678", "content": "Hi Wang, order A2 shipped", "segments": 1, "request": 1},
        {"row": 7, "mobile": "17040000000", "content": "Hi Zhao, order A6 shipped", "segments": 1, "request": 2},
    ]
    assert plan.recipients["carrier"].tolist() == ["China Mobile", "China Mobile", "China Unicom (virtual)"]
    rejected = plan.rejected.astype(object).where(plan.rejected.notna(), None)
    assert rejected.to_dict("records") == [
        {"row": 4, "value": "13800138000", "reason": "duplicate", "detail": None},
        {"row": 5, "value": "1.38E+10", "reason": "invalid_mobile", "detail": "scientific_notation"},
        {"row": 6, "value": "18600001111", "reason": "missing_value", "detail": "name is empty"},
    ]
    summary = plan.summary()
    assert (summary.recipients, summary.requests, summary.segments, summary.estimated_cost) == (3, 3, 3, 3)
    assert summary.rejected == {
        "invalid_mobile": 1,
        "missing_value": 1,
        "empty_content": 0,
        "content_too_long": 0,
        "control_character": 0,
        "suppressed": 0,
        "duplicate": 1,
    }


def test_identical_content_is_grouped_in_requests_of_5000() -> None:
    df = pd.DataFrame({"m": [f"139{i:08d}" for i in range(12001)], "c": ["Sale"] * 12000 + ["Other"]})
    plan = plan_campaign(df, mobile="m", content="c")
    assert plan.requests["recipients"].tolist() == [5000, 5000, 2000, 1]
    assert plan.requests["content"].tolist() == ["Sale", "Sale", "Sale", "Other"]
    assert plan.requests["mobiles"].iloc[1].split(",")[0] == "13900005000"
    assert plan.recipients.groupby("request").size().tolist() == [5000, 5000, 2000, 1]


def test_content_rejections_and_suppression(tmp_path: Path) -> None:
    suppress = tmp_path / "stop.txt"
    suppress.write_text("+86 139 0000 0003\n")
    df = pd.DataFrame({"m": [f"1390000000{i}" for i in range(5)], "c": ["ok", "   ", "x" * 269, "ok", "y" * 71]})
    plan = plan_campaign(df, mobile="m", content="c", suppress=suppress)
    assert plan.rejected[["row", "reason"]].to_dict("records") == [
        {"row": 1, "reason": "empty_content"},
        {"row": 2, "reason": "content_too_long"},
        {"row": 3, "reason": "suppressed"},
    ]
    assert plan.rejected["detail"].iloc[1] == "269 characters"
    assert plan.recipients["segments"].tolist() == [1, 2]
    assert plan_campaign(df, mobile="m", content="c", suppress=["13900000000"]).rejected["reason"].tolist()[0] == (
        "suppressed"
    )


def test_dedupe_off_keeps_different_content_to_same_number() -> None:
    df = pd.DataFrame({"m": ["13900000000"] * 3, "c": ["a", "b", "a"]})
    plan = plan_campaign(df, mobile="m", content="c", dedupe=False)
    assert plan.recipients["content"].tolist() == ["a", "b"]
    assert plan.rejected["reason"].tolist() == ["duplicate"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"mobile": "nope", "content": "c"}, "column 'nope' not found", id="mobile-column"),
        pytest.param({"mobile": "m"}, "exactly one of", id="no-content"),
        pytest.param({"mobile": "m", "content": "c", "template": "x"}, "exactly one of", id="both"),
        pytest.param({"mobile": "m", "template": "Hi {who}"}, r"column\(s\) \['who'\]", id="template-column"),
    ],
)
def test_plan_errors(kwargs, message) -> None:
    with pytest.raises(SmsdataError, match=message):
        plan_campaign(pd.DataFrame({"m": ["13900000000"], "c": ["x"]}), **kwargs)


def test_summary_warns_when_balance_short(gateway) -> None:
    df = pd.DataFrame({"m": [f"139{i:08d}" for i in range(1001)], "c": ["x"] * 1001})
    plan = plan_campaign(df, mobile="m", content="c")
    with pytest.warns(sms.BalanceWarning, match="does not cover"):
        summary = plan.summary(gateway)
    assert summary.covered is False
    assert "WARNING" in str(summary)


def test_control_characters_reject_the_row_naming_the_first() -> None:
    df = pd.DataFrame(
        {
            "m": [f"1390000000{i}" for i in range(7)],
            "c": ["ok", "nul\x00here", "two\nlines", "esc\x1b[31m", "tab\tx", "pay\u202eevil", "a\u2028b"],
        }
    )
    plan = plan_campaign(df, mobile="m", content="c")
    assert plan.recipients["content"].tolist() == ["ok", "two\nlines"]
    assert plan.rejected[["row", "reason", "detail"]].to_dict("records") == [
        {"row": 1, "reason": "control_character", "detail": "U+0000 at position 4"},
        {"row": 3, "reason": "control_character", "detail": "U+001B at position 4"},
        {"row": 4, "reason": "control_character", "detail": "U+0009 at position 4"},
        {"row": 5, "reason": "control_character", "detail": "U+202E at position 4"},
        {"row": 6, "reason": "control_character", "detail": "U+2028 at position 2"},
    ]


def test_non_mobile_ranges_are_rejected_unless_allowed() -> None:
    df = pd.DataFrame({"m": ["14012345678", "13800138000", "1380013800.8"], "c": ["a", "b", "c"]})
    plan = plan_campaign(df, mobile="m", content="c")
    assert plan.rejected[["row", "reason", "detail"]].to_dict("records") == [
        {"row": 0, "reason": "invalid_mobile", "detail": "not_mobile_range"},
        {"row": 2, "reason": "invalid_mobile", "detail": "not_integer"},
    ]
    loose = plan_campaign(df, mobile="m", content="c", any_mobile_range=True)
    assert loose.recipients["mobile"].tolist() == ["14012345678", "13800138000"]


@pytest.mark.parametrize("price", ["-1", "NaN", "abc", float("inf")])
def test_price_must_be_a_number(price) -> None:
    with pytest.raises(SmsdataError, match="price must be"):
        plan_campaign(pd.DataFrame({"m": ["13900000000"], "c": ["x"]}), mobile="m", content="c", price=price)


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    """customers.xlsx opening on a 'Summary' sheet; the customers are on another, a lookup is hidden."""
    import openpyxl

    path = tmp_path / "customers.xlsx"
    wb = openpyxl.Workbook()
    wb.active.title = "Summary"
    wb.active.append(["Total", "Month"])
    wb.active.append([2, "Nov"])
    customers = wb.create_sheet("My customers")
    customers.append(["phone", "msg"])
    customers.append(["13800138000", "Hi"])
    wb.create_sheet("Notes").append(["note"])
    lookup = wb.create_sheet("lookup")
    lookup.append(["phone", "mobile"])
    lookup.sheet_state = "hidden"
    wb.save(path)
    return path


def _plan_error(df: pd.DataFrame, **kwargs) -> str:
    with pytest.raises(SmsdataError) as info:
        plan_campaign(df, **kwargs)
    return str(info.value)


def test_missing_column_names_the_sheet_read_and_where_the_column_is(workbook: Path) -> None:
    df = sms.read_campaign(workbook)
    assert _plan_error(df, mobile="phone", content="msg") == (
        "column 'phone' not found; columns are ['Total', 'Month']; "
        f"read from sheet 'Summary' of {workbook}; "
        "the workbook also has sheets 'My customers', 'Notes', hidden sheet 'lookup'; "
        "sheet 'My customers' has a column 'phone': "
        "choose it with sheet='My customers' (--sheet 'My customers' on the command line)"
    )
    # only on the hidden sheet: still pointed at
    assert _plan_error(df, mobile="mobile", content="msg").endswith(
        "sheet 'lookup' has a column 'mobile': choose it with sheet='lookup' (--sheet lookup on the command line)"
    )
    # on no sheet: the sheets are listed, and how to choose one
    assert _plan_error(df, mobile="tel", content="msg") == (
        "column 'tel' not found; columns are ['Total', 'Month']; "
        f"read from sheet 'Summary' of {workbook}; "
        "the workbook also has sheets 'My customers', 'Notes', hidden sheet 'lookup': "
        "choose one with sheet= (--sheet on the command line)"
    )
    # the content column is explained the same way, once the mobile one is found
    right = sms.read_campaign(workbook, sheet="My customers")
    assert _plan_error(right, mobile="phone", content="note").endswith(
        "sheet 'Notes' has a column 'note': choose it with sheet='Notes' (--sheet Notes on the command line)"
    )
    assert len(plan_campaign(right, mobile="phone", content="msg").recipients) == 1


def test_the_sheet_hint_survives_what_analysts_do_to_the_frame(workbook: Path) -> None:
    df = sms.read_campaign(workbook)
    for changed in (df[df["Total"].notna()], df.head(1), df.copy(), df.rename(columns={"Month": "month"})):
        assert "sheet 'My customers' has a column 'phone'" in _plan_error(changed, mobile="phone", content="msg")


def test_a_single_sheet_workbook_names_only_its_sheet(tmp_path: Path) -> None:
    import openpyxl

    path = tmp_path / "one.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["tel"])
    wb.save(path)
    assert _plan_error(sms.read_campaign(path), mobile="phone", content="c") == (
        f"column 'phone' not found; columns are ['tel']; read from sheet 'Sheet' of {path}"
    )


def test_missing_column_in_a_csv_names_encoding_and_separator(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("phone;msg\n13800138000;你好\n", encoding="gb18030")
    assert _plan_error(sms.read_campaign(path), mobile="mobile", content="msg") == (
        f"column 'mobile' not found; columns are ['phone', 'msg']; read from {path} (GB18030, separated by ';')"
    )
    path.write_text("phone:msg\n13800138000:Hi\n", encoding="utf-8")
    assert _plan_error(sms.read_campaign(path), mobile="phone", content="msg") == (
        f"column 'phone' not found; columns are ['phone:msg']; read from {path} (UTF-8, separated by ','); "
        "that gave a single column: the file seems to use a separator other than ',', ';', tab or '|'; "
        "open it in Excel and save it as 'CSV UTF-8 (Comma delimited)'"
    )


@pytest.mark.parametrize(
    "source",
    [
        pytest.param({"path": "x.xlsx", "sheet": "S"}, id="partial"),
        pytest.param(
            {"path": "x.xlsx", "sheet": "S", "sheets": 3, "hidden_sheets": [], "columns_by_sheet": {}}, id="bad-type"
        ),
        pytest.param("customers.xlsx", id="not-a-dict"),
    ],
)
def test_edited_source_attrs_never_hide_the_missing_column_error(source) -> None:
    df = pd.DataFrame({"m": ["13900000000"]})
    df.attrs["source"] = source
    assert _plan_error(df, mobile="phone", content="m") == "column 'phone' not found; columns are ['m']"
