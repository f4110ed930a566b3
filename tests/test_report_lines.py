"""The report log line: every shape from the wild, every malformed one, and the two parse paths agreeing."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smsdata.report_lines import REASONS, format_received, log_lines, parse_chunk

SHANGHAI_2125 = pd.Timestamp("2026-11-25 13:25:13", tz="UTC")  # 2026-11-25 21:25:13 in Asia/Shanghai


def parse(*lines: bytes, tz: str = "Asia/Shanghai"):
    return parse_chunk(b"".join(line + b"\n" for line in lines), source_tz=tz)


def only_row(*lines: bytes, tz: str = "Asia/Shanghai") -> dict:
    parsed = parse(*lines, tz=tz)
    assert parsed.quarantine.empty, parsed.quarantine
    assert parsed.rows.num_rows == 1
    return parsed.rows.to_pylist()[0]


@pytest.mark.parametrize(
    ("line", "mobile", "status", "when"),
    [
        pytest.param(
            b"Report=800001,13800138000,DELIVRD,2026-11-25 21:25:13",
            "13800138000",
            "DELIVRD",
            SHANGHAI_2125,
            id="plain",
        ),
        pytest.param(
            b"Report=800001, 13800138000 , DELIVRD , 2026-11-25 21:25:13",
            "13800138000",
            "DELIVRD",
            SHANGHAI_2125,
            id="spaces",
        ),
        pytest.param(
            b"800001,13800138000,DELIVRD,2026-11-25 21:25:13", "13800138000", "DELIVRD", SHANGHAI_2125, id="no-prefix"
        ),
        pytest.param(
            b"report = 800001,13800138000,DELIVRD,2026-11-25 21:25:13",
            "13800138000",
            "DELIVRD",
            SHANGHAI_2125,
            id="lower-prefix",
        ),
        pytest.param(
            b"Report=800001,13800138000,DELIVRD,2026-11-25 21:25:13\r",
            "13800138000",
            "DELIVRD",
            SHANGHAI_2125,
            id="crlf",
        ),
        pytest.param(
            b"\xef\xbb\xbfReport=800001,13800138000,DELIVRD,2026-11-25 21:25:13",
            "13800138000",
            "DELIVRD",
            SHANGHAI_2125,
            id="bom",
        ),
        pytest.param(
            b"Report=800001,13800138000,delivrd,2026-11-25 21:25:13",
            "13800138000",
            "DELIVRD",
            SHANGHAI_2125,
            id="lower-status",
        ),
        pytest.param(
            b"Report=800001,+8613800138000,UNDELIV,2026-11-25 21:25:13",
            "13800138000",
            "UNDELIV",
            SHANGHAI_2125,
            id="plus86",
        ),
        pytest.param(
            b"Report=800001,008613800138000,MK:0005,2026-11-25 21:25:13",
            "13800138000",
            "MK:0005",
            SHANGHAI_2125,
            id="0086-mk-code",
        ),
        pytest.param(
            b"Report=800001,13800138000,DELIVRD,2026/11/25 21:25:13",
            "13800138000",
            "DELIVRD",
            SHANGHAI_2125,
            id="slashes",
        ),
        pytest.param(
            b"Report=800001,13800138000,DELIVRD,20261125212513", "13800138000", "DELIVRD", SHANGHAI_2125, id="compact"
        ),
        pytest.param(
            b"Report=800001,13800138000,DELIVRD,2026-11-25T13:25:13Z",
            "13800138000",
            "DELIVRD",
            SHANGHAI_2125,
            id="iso-z",
        ),
        pytest.param(
            b"Report=800001,13800138000,DELIVRD,2026-11-25T21:25:13+08:00",
            "13800138000",
            "DELIVRD",
            SHANGHAI_2125,
            id="iso-offset",
        ),
        pytest.param(
            b"Report=800001,13800138000,DELIVRD,2026-11-25T21:25:13+0800",
            "13800138000",
            "DELIVRD",
            SHANGHAI_2125,
            id="iso-offset-no-colon",
        ),
        pytest.param(
            b"Report=800001,13800138000,DELIVRD,1795613113", "13800138000", "DELIVRD", SHANGHAI_2125, id="unix-seconds"
        ),
        pytest.param(
            b"Report=800001,13800138000,DELIVRD,1795613113000", "13800138000", "DELIVRD", SHANGHAI_2125, id="unix-ms"
        ),
        pytest.param(
            b"Report%3D800001%2C13800138000%2CDELIVRD%2C2026-11-25+21%3A25%3A13",
            "13800138000",
            "DELIVRD",
            SHANGHAI_2125,
            id="url-encoded",
        ),
        pytest.param(
            b"2026-11-25T13:25:14.000001Z\tReport=800001,13800138000,DELIVRD,2026-11-25 21:25:13",
            "13800138000",
            "DELIVRD",
            SHANGHAI_2125,
            id="receiver-prefix",
        ),
    ],
)
def test_shapes_in_the_wild(line: bytes, mobile: str, status: str, when: pd.Timestamp) -> None:
    row = only_row(line)
    assert row["msgid"] == "800001"
    assert row["mobile"] == mobile
    assert row["status"] == status
    assert pd.Timestamp(row["report_time"]) == when


def test_receiver_prefix_becomes_received_at() -> None:
    row = only_row(b"2026-11-25T13:25:14.250000Z\tReport=800001,13800138000,DELIVRD,2026-11-25 21:25:13")
    assert pd.Timestamp(row["received_at"]) == pd.Timestamp("2026-11-25 13:25:14.25", tz="UTC")
    assert only_row(b"Report=800001,13800138000,DELIVRD,2026-11-25 21:25:13")["received_at"] is None


def test_naive_times_use_the_source_zone() -> None:
    row = only_row(b"Report=1,13800138000,DELIVRD,2026-11-25 21:25:13", tz="UTC")
    assert pd.Timestamp(row["report_time"]) == pd.Timestamp("2026-11-25 21:25:13", tz="UTC")
    unix = only_row(b"Report=1,13800138000,DELIVRD,1795613113", tz="UTC")  # absolute: zone ignored
    assert pd.Timestamp(unix["report_time"]) == SHANGHAI_2125


def test_an_encoded_line_with_two_reports_gives_two_records() -> None:
    parsed = parse(
        b"Report%3D1%2C13800138000%2CDELIVRD%2C20261125212513%0AReport%3D1%2C13800138001%2CDELIVRD%2C20261125212513"
    )
    assert parsed.records == 2
    assert sorted(parsed.rows.column("mobile").to_pylist()) == ["13800138000", "13800138001"]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        pytest.param(b"", "empty", id="empty"),
        pytest.param(b"   \t", "empty", id="blank"),
        pytest.param(b"2026-11-25T13:25:14.000001Z\t", "empty", id="empty-body"),
        pytest.param(b"Report=1,13800138000,DELIVRD", "wrong_field_count", id="three-fields"),
        pytest.param(b"Report=1,13800138000,DELIVRD,2026-11-25 21:25:13,x", "wrong_field_count", id="five-fields"),
        pytest.param(b"Report=1,13800138000,DELIVRD,2026-02-30 10:00:00", "impossible_time", id="february-30"),
        pytest.param(b"Report=1,13800138000,DELIVRD,2026-11-25 24:00:00", "impossible_time", id="hour-24"),
        pytest.param(b"Report=1,13800138000,DELIVRD,20261325212513", "impossible_time", id="month-13-compact"),
        pytest.param(b"Report=1,13800138000,DELIVRD,1970-01-01 08:00:00", "impossible_time", id="epoch"),
        pytest.param(b"Report=1,13800138000,DELIVRD,yesterday", "time_format", id="words"),
        pytest.param(b"Report=1,13800138000,DELIVRD,", "time_format", id="no-time"),
        pytest.param(b"Report=1,1380013800x,DELIVRD,2026-11-25 21:25:13", "mobile_not_digits", id="non-numeric-mobile"),
        pytest.param(b"Report=1,1380013,DELIVRD,2026-11-25 21:25:13", "mobile_wrong_length", id="short-mobile"),
        pytest.param(
            b"Report=1,12800138000,DELIVRD,2026-11-25 21:25:13", "mobile_not_mobile_prefix", id="landline-prefix"
        ),
        pytest.param(b"Report=1,,DELIVRD,2026-11-25 21:25:13", "mobile_missing", id="no-mobile"),
        pytest.param(b"Report=,13800138000,DELIVRD,2026-11-25 21:25:13", "empty_msgid", id="empty-msgid"),
        pytest.param(b"Report=a b,13800138000,DELIVRD,2026-11-25 21:25:13", "bad_msgid", id="msgid-space"),
        pytest.param(b"Report=1,13800138000,,2026-11-25 21:25:13", "empty_status", id="empty-status"),
        pytest.param(b"Report=1,13800138000,DE LIV,2026-11-25 21:25:13", "bad_status", id="status-space"),
        pytest.param(b"\x00\xff\xfe\x80garbage", "not_utf8", id="binary"),
        pytest.param(b"\x00\x01\x02", "wrong_field_count", id="control-bytes"),
    ],
)
def test_malformed_lines_are_quarantined_with_their_reason(line: bytes, reason: str) -> None:
    parsed = parse(line)
    assert parsed.rows.num_rows == 0
    assert parsed.quarantine["reason"].tolist() == [reason]
    assert reason in REASONS


def test_quarantine_keeps_the_raw_line_escaped() -> None:
    parsed = parse(b"ok?", b"\xff\xfebad")
    assert parsed.quarantine["line"].tolist() == ["ok?", "\\xff\\xfebad"]
    assert parsed.quarantine["index"].tolist() == [0, 1]
    assert parsed.starts.tolist() == [0, 4]


def test_lines_at_the_end_of_a_chunk_are_read_safely() -> None:
    # a short status and time at the very end: fixed-width windows would run off the buffer
    row = only_row(b"Report=1,13800138000,D,1795613113")
    assert row["status"] == "D"


def test_log_lines_split_a_body_and_stamp_each_report() -> None:
    when = datetime(2026, 11, 25, 13, 25, 13, 123456, tzinfo=UTC)
    body = b"Report=1,13800138000,DELIVRD,x\r\n\r\nReport=2,13800138001,UNDELIV,y\n"
    assert log_lines(body, when) == (
        b"2026-11-25T13:25:13.123456Z\tReport=1,13800138000,DELIVRD,x\n"
        b"2026-11-25T13:25:13.123456Z\tReport=2,13800138001,UNDELIV,y\n"
    )
    assert log_lines(b"", when) == b"2026-11-25T13:25:13.123456Z\t\n"
    assert format_received(when) == b"2026-11-25T13:25:13.123456Z"


# ------------------------------------------------------------------ properties

LINE_PARTS = st.sampled_from(
    [
        b"Report=",
        b"report = ",
        b"",
        b"%2C",
        b"%0A",
        b",",
        b", ",
        b"\r",
        b"\t",
        b"\xef\xbb\xbf",
        b"\xff",
        b"800001",
        b"13800138000",
        b"+86",
        b"DELIVRD",
        b"mk:1",
        b"2026-11-25 21:25:13",
        b"2026/02/29 10:00:00",
        b"20261125212513",
        b"1795613113",
        b"1795613113000",
        b"2026-11-25T13:25:13Z",
        b"2026-11-25T13:25:14.000001Z\t",
        b" ",
        b"x",
        b"%",
    ]
)


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.binary(max_size=40), st.lists(LINE_PARTS, max_size=9).map(b"".join)), max_size=12))
def test_any_bytes_in_give_every_record_as_a_row_or_a_quarantined_line(lines: list[bytes]) -> None:
    chunk = b"".join(line.replace(b"\n", b"") + b"\n" for line in lines)
    parsed = parse_chunk(chunk)
    assert parsed.records == parsed.rows.num_rows + len(parsed.quarantine)
    assert parsed.records >= len(lines)
    assert set(parsed.quarantine["reason"]) <= set(REASONS)
    # every line is accounted for: quarantined, or it produced rows
    assert len(parsed.starts) == len(lines)


CANONICAL = st.builds(
    lambda prefix, msgid, mobile, status, when: prefix + b"Report=" + b",".join([msgid, mobile, status, when]) + b"\n",
    st.sampled_from([b"", b"2026-11-25T13:25:14.000001Z\t", b"2026-13-25T13:25:14.000001Z\t"]),
    st.from_regex(rb"\A[0-9A-Za-z_.:-]{0,26}\Z"),
    st.from_regex(rb"\A1[0-9]{10}\Z|\A[0-9]{10,12}\Z"),
    st.from_regex(rb"\A[A-Za-z0-9:_./-]{0,18}\Z"),
    st.one_of(
        st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2110, 1, 1)).map(
            lambda d: d.strftime("%Y-%m-%d %H:%M:%S").encode()
        ),
        st.from_regex(rb"\A[0-9]{4}[-/][0-9]{2}[-/][0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}\Z"),
        st.from_regex(rb"\A[0-9]{10}\Z|\A[0-9]{13,14}\Z"),
    ),
)


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(CANONICAL, min_size=1, max_size=20))
def test_fast_path_agrees_with_the_general_path(lines: list[bytes]) -> None:
    from smsdata._line_parser import general_path

    chunk = b"".join(lines)
    fast = parse_chunk(chunk)
    buf = np.frombuffer(chunk, np.uint8)
    ends = np.flatnonzero(buf == 10)
    starts = np.concatenate([[0], ends[:-1] + 1])
    rows, quarantine, _ = general_path(chunk, starts, ends, np.arange(len(ends)), "Asia/Shanghai")
    key = ["msgid", "mobile", "status", "report_time", "received_at"]
    assert sorted(map(str, fast.rows.to_pylist())) == sorted(map(str, rows.to_pylist()))
    assert sorted(fast.quarantine["reason"]) == sorted(quarantine["reason"])
    assert key == fast.rows.schema.names


@pytest.mark.parametrize(
    ("stamp", "kept"),
    [
        (b"2000-01-01T00:00:00.000000Z", True),
        (b"2099-12-31T23:59:59.999999Z", True),
        (b"1999-12-31T23:59:59.999999Z", False),
        (b"1969-12-31T23:59:59.999999Z", False),
        (b"0001-01-01T00:00:00.000000Z", False),
        (b"2100-01-01T00:00:00.000000Z", False),
    ],
)
def test_a_receiver_stamp_outside_2000_2099_is_no_stamp_on_both_paths(stamp: bytes, kept: bool) -> None:
    from smsdata.report_lines import parse_lines

    line = stamp + b"\tReport=1,13800138000,DELIVRD,2026-11-25 21:25:13\n"
    for parsed in (parse_chunk(line), parse_lines(line)):
        assert parsed.rows.num_rows == int(kept)
        if kept:
            expected = pd.Timestamp(stamp.decode()).value // 1000
            assert parsed.rows.column("received_at").cast("int64").to_pylist() == [expected]


@pytest.mark.parametrize("status", ["delıvrd", "DELİVRD", "straße"])
def test_a_status_with_non_ascii_letters_is_bad_not_upper_cased_into_another(status: str) -> None:
    line = f"Report=1,13800138000,{status},2026-11-25 21:25:13\n".encode()
    parsed = parse_chunk(line)
    assert parsed.rows.num_rows == 0
    assert parsed.quarantine["reason"].tolist() == ["bad_status"]


def test_a_stamp_is_read_alike_whatever_the_other_stamps_in_the_batch() -> None:
    from smsdata.report_lines import parse_lines

    far = b"2300-01-01T00:00:00.000000Z\tReport=1,13800138000,DELIVRD,2026-11-25 21:25:13\n"
    fine = b"2026-11-25T13:25:13.123456789Z\tReport=2,13800138000,DELIVRD,2026-11-25 21:25:13\n"
    alone, together = parse_lines(far), parse_lines(far + fine)
    assert alone.quarantine["reason"].tolist() == together.quarantine["reason"].tolist()[:1]
    assert parse_chunk(far + fine).rows.num_rows == together.rows.num_rows == 1
