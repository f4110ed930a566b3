"""The report log line: how the receiver writes it and how ingest parses it.

The gateway POSTs ``Report=msgid,mobile,status,time``. The receiver writes
each report as one line, prefixed with the time it was received (UTC,
microseconds) and a tab::

    2026-11-25T13:25:13.123456Z\tReport=1700000000001,13800138000,DELIVRD,2026-11-25 21:25:13

Ingest reads those lines and anyone else's (no prefix, or any of the shapes
below) and turns each into a row or a quarantined line with a reason.

Shapes accepted: spaces around fields, URL-encoded lines (several reports in
one encoded line count as several records), a missing or lower-case
``Report=`` prefix, CRLF, a BOM, lower-case statuses, ``+86``/``0086``/``86``
prefixes and separators in mobiles, and times as ``YYYY-MM-DD HH:MM:SS``,
``YYYY/MM/DD HH:MM:SS`` (optionally with fractions or a ``T``),
``YYYYMMDDHHMMSS``, ISO 8601 with a zone (``Z``, ``+08:00``, ``+0800``),
Unix seconds (9-10 digits, optionally fractional) or milliseconds (13
digits). Naive times are in the gateway's zone; every time is returned in
UTC. Times outside 2000-2099 are impossible, not guessed at.

Quarantine reasons (:data:`REASONS`), the first that applies:

=========================  ============================================
``empty``                  nothing but whitespace
``not_utf8``               bytes that are not UTF-8 (binary garbage)
``wrong_field_count``      not exactly four comma-separated fields
``empty_msgid``            the msgid field is empty
``bad_msgid``              characters other than letters, digits, ``_.:-``
``mobile_<reason>``        the mobile is rejected, with the reason of
                           :func:`smsdata.normalise_mobiles`
``empty_status``           the status field is empty
``bad_status``             characters other than letters, digits, ``:_./-``
``time_format``            the time is in none of the formats above
``impossible_time``        a recognised format with impossible values
                           (30 February, 25:00) or outside 2000-2099
``line_too_long``          set by ingest: over 1 MiB without a line break
                           (kept as its first KiB)
=========================  ============================================

Parsing is vectorised twice over: a numpy fast path reads the canonical lines
(ASCII, the receiver's prefix or none, ``Report=``, four plain fields, a
``YYYY-MM-DD HH:MM:SS``-like, compact or Unix time) straight from the bytes;
every other line takes the general path (pandas on Arrow strings), which is
the definition: the fast path must agree with it on every line it accepts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote_plus

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .numbers import REASONS as MOBILE_REASONS
from .numbers import normalise_mobiles

__all__ = [
    "MAX_LINE_BYTES",
    "REASONS",
    "ROW_SCHEMA",
    "ParsedChunk",
    "format_received",
    "log_lines",
    "parse_chunk",
]

REASONS = (
    "empty",
    "not_utf8",
    "wrong_field_count",
    "empty_msgid",
    "bad_msgid",
    *(f"mobile_{reason}" for reason in MOBILE_REASONS),
    "empty_status",
    "bad_status",
    "time_format",
    "impossible_time",
    "line_too_long",
)

ROW_SCHEMA = pa.schema(
    [
        ("msgid", pa.string()),
        ("mobile", pa.string()),
        ("status", pa.string()),
        ("report_time", pa.timestamp("us", tz="UTC")),
        ("received_at", pa.timestamp("us", tz="UTC")),
    ]
)
QUARANTINE_COLUMNS = ("index", "reason", "line")
MAX_LINE_BYTES = 2**20
"""A longer line is quarantined as ``line_too_long``, kept as its first KiB, wherever it falls."""
_KEPT_OF_LONG = 1024

_RECEIVED_WIDTH = 27  # len("2026-11-25T13:25:13.123456Z")
_PREFIX = _RECEIVED_WIDTH + 1  # and the tab
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")

# Years 2000-2099, in microseconds since the epoch.
_EARLIEST_US = 946_684_800_000_000
_LATEST_US = 4_102_444_800_000_000

_MSGID_CHARS = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_.:-"
_STATUS_CHARS = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ:_./-"
_MSGID_MAX, _STATUS_MAX = 24, 16
_MSGID = rf"^[0-9A-Za-z_.:\-]{{1,{_MSGID_MAX}}}$"
_STATUS = rf"^[A-Z0-9:_./\-]{{1,{_STATUS_MAX}}}$"
_RECEIVED = r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z)\t"
_REPORT_PREFIX = r"^[ \t]*(?i:report)[ \t]*=[ \t]*"
_URL_ESCAPE = r"%[0-9A-Fa-f][0-9A-Fa-f]"
_NAIVE = r"^\d{4}[-/]\d\d[-/]\d\d[ T]\d\d:\d\d:\d\d(?:\.\d{1,9})?$"
_ZONED = r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d)$"
_COMPACT = r"^\d{14}$"
_UNIX_S = r"^\d{9,10}(?:\.\d{1,6})?$"
_UNIX_MS = r"^\d{13}$"


# ------------------------------------------------------------------ writing


def format_received(when: datetime) -> bytes:
    """The receiver's timestamp for ``when``: ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC.

    >>> format_received(datetime(2026, 11, 25, 13, 25, 13, 123456, tzinfo=UTC))
    b'2026-11-25T13:25:13.123456Z'
    """
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ").encode()


def log_lines(body: bytes, received: datetime) -> bytes:
    """The log lines for one POSTed body: one per report, each prefixed with ``received``.

    A body holds one report per line (LF, CRLF or CR); blank lines between
    them are dropped. A body with nothing in it still gives one line (with an
    empty report), so every POST leaves a trace that ingest quarantines.

    >>> log_lines(b"Report=1,13800138000,DELIVRD,20261125212513\\r\\n", datetime(2026, 1, 1, tzinfo=UTC))
    b'2026-01-01T00:00:00.000000Z\\tReport=1,13800138000,DELIVRD,20261125212513\\n'
    """
    stamp = format_received(received) + b"\t"
    reports = [part for part in _LINE_BREAK.split(body) if part.strip()] or [b""]
    return b"".join(stamp + report + b"\n" for report in reports)


# ------------------------------------------------------------------ parsing


@dataclass(frozen=True)
class ParsedChunk:
    """What :func:`parse_chunk` found in a run of complete lines.

    Attributes:
        rows: the reports, in :data:`ROW_SCHEMA`.
        quarantine: ``index`` (line index in the chunk), ``reason``, ``line``
            (the raw line, non-UTF-8 bytes escaped as ``\\xNN``).
        starts: byte offset of each line in the chunk.
        records: lines, plus the extra reports of URL-encoded lines that held
            several; ``records == rows.num_rows + quarantine.num_rows``.
    """

    rows: pa.Table
    quarantine: pd.DataFrame
    starts: np.ndarray
    records: int


def parse_chunk(chunk: bytes | memoryview, *, source_tz: str = "Asia/Shanghai") -> ParsedChunk:
    """Parse complete report log lines (``chunk`` must be empty or end with ``\\n``).

    Args:
        chunk: raw bytes of whole lines.
        source_tz: IANA zone of naive report times (the gateway's local time).

    Returns:
        A :class:`ParsedChunk`: every line is a row or a quarantined line.
    """
    if not chunk:
        return ParsedChunk(ROW_SCHEMA.empty_table(), _no_quarantine(), np.zeros(0, np.int64), 0)
    buf = np.frombuffer(chunk, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10)
    starts = np.empty_like(ends)
    starts[:1] = 0
    starts[1:] = ends[:-1] + 1
    fast, rest = _fast_path(buf, starts, ends, source_tz)
    too_long = ends[rest] - starts[rest] > MAX_LINE_BYTES  # only ever the first KiB of such a line is held
    long_ones = _too_long(chunk, starts, rest[too_long])
    rest = rest[~too_long]
    general_rows, quarantine, extra = _general_path(chunk, starts[rest], ends[rest], rest, source_tz)
    if len(long_ones):
        quarantine = pd.concat([quarantine, long_ones]).sort_values("index", kind="stable", ignore_index=True)
    rows = pa.concat_tables([fast, general_rows]) if general_rows.num_rows else fast
    return ParsedChunk(rows=rows, quarantine=quarantine, starts=starts, records=len(ends) + extra)


def _too_long(chunk: bytes | memoryview, starts: np.ndarray, index: np.ndarray) -> pd.DataFrame:
    """Quarantine rows for lines over :data:`MAX_LINE_BYTES`: their first KiB and ``...``."""
    lines = [_escaped(bytes(chunk[starts[i] : starts[i] + _KEPT_OF_LONG])) + "..." for i in index]
    return pd.DataFrame(
        {
            "index": index.astype(np.int64),
            "reason": pd.Series(["line_too_long"] * len(index), dtype="str"),
            "line": lines,
        }
    )


# ------------------------------------------------------------- fast path

_MSGID_BYTES = np.zeros(256, dtype=bool)
_MSGID_BYTES[list(_MSGID_CHARS)] = True
_STATUS_BYTES = np.zeros(256, dtype=bool)
_STATUS_BYTES[list(_STATUS_CHARS)] = True

# The receiver's "YYYY-MM-DDTHH:MM:SS.ffffffZ\t": these bytes mark it (the digits are checked by the cast).
_RECEIVED_MARKS = {4: b"-", 7: b"-", 10: b"T", 13: b":", 16: b":", 19: b".", 26: b"Z", 27: b"\t"}
_NAIVE_MARKS = {4: b"-/", 7: b"-/", 10: b" T", 13: b":", 16: b":"}
_CALENDAR_DIGITS = np.array([0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18])
_MONTH_DAYS = np.array([0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int16)
# YYYYMMDDHHMMSS laid out as YYYY-MM-DD HH:MM:SS: source column, or -1 for a separator.
_COMPACT_LAYOUT = np.array([0, 1, 2, 3, -1, 4, 5, -1, 6, 7, -1, 8, 9, -1, 10, 11, -1, 12, 13])
_COMPACT_FILL = np.frombuffer(b"????-??-?? ??:??:??", np.uint8)


def _fast_path(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, tz: str) -> tuple[pa.Table, np.ndarray]:
    """Rows for the canonical lines, and the indexes of the lines left to the general path."""
    ends = ends - ((ends > starts) & (buf[np.maximum(ends - 1, 0)] == 13))  # CRLF
    line = np.flatnonzero((ends - starts >= 20) & ~_lines_with(buf >= 0x80, starts, ends))
    s, e = starts[line], ends[line]

    prefixed = e - s > _PREFIX + 20
    prefixed[prefixed] = _marked(buf, s[prefixed], _RECEIVED_MARKS)
    received = np.full(len(line), -1, dtype=np.int64)
    received[prefixed] = _calendar_us(_window(buf, s[prefixed], _RECEIVED_WIDTH), aware=True)
    prefixed &= received >= 0
    body = s + _PREFIX * prefixed + 7
    keep = _rows_all(_window(buf, body - 7, 7) == np.frombuffer(b"Report=", np.uint8))
    line, body, e, received = line[keep], body[keep], e[keep], received[keep]

    commas = np.flatnonzero(buf == 44)
    first = np.searchsorted(commas, body)
    keep = np.searchsorted(commas, e) - first == 3
    line, body, e, received, first = line[keep], body[keep], e[keep], received[keep], first[keep]
    c1, c2, c3 = commas[first], commas[first + 1], commas[first + 2]

    msgid, msgid_ok = _ragged_field(buf, body, c1, _MSGID_BYTES, _MSGID_MAX)
    status, status_ok = _ragged_field(buf, c2 + 1, c3, _STATUS_BYTES, _STATUS_MAX, upper=True)
    mobile_ok = c2 - c1 == 12
    mobile_ok[mobile_ok] = _mobile_shape(buf, c1[mobile_ok] + 1)
    report_us = _fast_times(buf, c3 + 1, e, tz)
    keep = msgid_ok & status_ok & mobile_ok & (report_us >= _EARLIEST_US) & (report_us < _LATEST_US)

    mobiles = _window(buf, c1[keep] + 1, 11)
    count = int(keep.sum())
    table = pa.Table.from_arrays(
        [
            msgid.filter(pa.array(keep)),
            _strings(mobiles.ravel(), np.arange(0, 11 * count + 1, 11)),
            status.filter(pa.array(keep)),
            pa.array(report_us[keep], type=ROW_SCHEMA.field("report_time").type),
            pa.array(received[keep], type=ROW_SCHEMA.field("received_at").type, mask=received[keep] < 0),
        ],
        schema=ROW_SCHEMA,
    )
    done = np.zeros(len(starts), dtype=bool)
    done[line[keep]] = True
    return table, np.flatnonzero(~done)


def _lines_with(flags: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Which lines [starts, ends) contain a flagged byte."""
    hits = np.flatnonzero(flags)
    return np.searchsorted(hits, ends) > np.searchsorted(hits, starts)


def _window(buf: np.ndarray, at: np.ndarray, width: int) -> np.ndarray:
    """The ``width`` bytes from each position, as an (n, width) matrix (``at + width <= len(buf)``)."""
    if len(buf) < width:  # only tiny chunks: pad rather than special-case
        buf = np.concatenate([buf, np.zeros(width - len(buf), dtype=np.uint8)])
    # Row-gather from a strided view: several times faster than a 2-D fancy index.
    return np.lib.stride_tricks.sliding_window_view(buf, width)[at]


def _marked(buf: np.ndarray, at: np.ndarray, marks: dict[int, bytes]) -> np.ndarray:
    """Whether each position has, at every offset of ``marks``, one of the bytes given for it."""
    ok = np.ones(len(at), dtype=bool)
    for offset, allowed in marks.items():
        byte = buf[at + offset]
        ok &= np.isin(byte, np.frombuffer(allowed, np.uint8)) if len(allowed) > 1 else byte == allowed[0]
    return ok


def _rows_all(flags: np.ndarray) -> np.ndarray:
    """``flags.all(axis=1)`` for a boolean matrix, as one byte comparison per row (about twice as fast)."""
    flags = np.ascontiguousarray(flags)
    width = flags.shape[1]
    return flags.view(np.dtype((np.void, width))).ravel() == np.void(b"\x01" * width)


def _digits(window: np.ndarray) -> np.ndarray:
    """Which bytes of a uint8 matrix are ASCII digits (one pass: the subtraction wraps)."""
    return (window - np.uint8(48)) < 10


def _number(window: np.ndarray, start: int, width: int) -> np.ndarray:
    """The decimal number in columns ``start:start+width`` of a digit matrix."""
    value = np.zeros(len(window), dtype=np.int64)
    for column in range(start, start + width):
        value = value * 10 + (window[:, column] - np.uint8(48))
    return value


def _calendar_us(window: np.ndarray, *, aware: bool = False) -> np.ndarray:
    """Microseconds since 1970 of ``YYYY-MM-DD HH:MM:SS`` rows (``/`` or ``T`` allowed), -1 if impossible.

    numpy checks the calendar (days in the month, leap years, hours, minutes,
    seconds); Arrow's ISO 8601 cast does the arithmetic and rejects any other
    character, in which case the digits are checked row by row here.
    With ``aware`` the rows are the receiver's ``...ffffffZ`` stamps (UTC);
    otherwise they are naive and returned as local microseconds.
    """
    out = np.full(len(window), -1, dtype=np.int64)
    if not len(window):
        return out
    two = window[:, 5:19].astype(np.int16) - 48
    month, day, hour, minute, second = (two[:, k] * 10 + two[:, k + 1] for k in (0, 3, 6, 9, 12))
    ok = (month >= 1) & (month <= 12) & (day >= 1) & (hour < 24) & (minute < 60) & (second < 60)
    ok &= day <= _MONTH_DAYS[np.where(ok, month, 0)]
    feb29 = np.flatnonzero(ok & (month == 2) & (day == 29))
    year = _number(window[feb29], 0, 4)
    ok[feb29] = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    try:
        out[ok] = _cast_times(window if ok.all() else window[ok], aware)
    except pa.ArrowInvalid:  # a non-digit somewhere: find the rows
        ok &= _rows_all(_digits(window[:, _CALENDAR_DIGITS]))
        if aware:
            ok &= _rows_all(_digits(window[:, 20:26]))
        try:
            out[ok] = _cast_times(window[ok], aware)
        except pa.ArrowInvalid:  # anything else: leave these rows to the general path
            pass
    return out


def _cast_times(window: np.ndarray, aware: bool) -> np.ndarray:
    text = np.ascontiguousarray(window)
    if not aware:
        text = text.copy() if text is window else text
        text[:, [4, 7]] = ord("-")
        text[:, 10] = ord(" ")
    width = text.shape[1]
    strings = _strings(text.ravel(), np.arange(0, width * len(text) + 1, width))
    kind = pa.timestamp("us", tz="UTC") if aware else pa.timestamp("us")
    return pc.cast(strings, kind).cast(pa.int64()).to_numpy()


def _ragged_field(
    buf: np.ndarray, a: np.ndarray, b: np.ndarray, allowed: np.ndarray, max_len: int, *, upper: bool = False
) -> tuple[pa.StringArray, np.ndarray]:
    """Bytes [a, b) of each line as strings, and whether each is 1..max_len allowed bytes.

    Reads a fixed window of ``max_len`` bytes per line and keeps the first
    ``b - a``; a window that would run off the buffer is not ok.
    """
    inside_buf = a + max_len <= len(buf)
    lengths = np.where(inside_buf, np.clip(b - a, 0, max_len), 0)
    window = _window(buf, np.where(inside_buf, a, 0), max_len)
    values = window[np.arange(max_len) < lengths[:, None]]
    if upper:
        values = values - ((values - np.uint8(97)) < 26).astype(np.uint8) * np.uint8(32)
    offsets = np.zeros(len(a) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    ok = inside_buf & (b - a >= 1) & (b - a <= max_len)
    bad_bytes = np.flatnonzero(~allowed[values])
    ok[np.searchsorted(offsets, bad_bytes, side="right") - 1] = False
    return _strings(values, offsets), ok


def _strings(values: np.ndarray, offsets: np.ndarray) -> pa.StringArray:
    """An Arrow string array over ASCII ``values`` cut at ``offsets`` (no copy)."""
    return pa.StringArray.from_buffers(
        len(offsets) - 1, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(np.ascontiguousarray(values))
    )


def _mobile_shape(buf: np.ndarray, at: np.ndarray) -> np.ndarray:
    w = _window(buf, at, 11)
    return _rows_all(_digits(w)) & (w[:, 0] == ord("1")) & (w[:, 1] >= ord("3"))


def _fast_times(buf: np.ndarray, a: np.ndarray, b: np.ndarray, tz: str) -> np.ndarray:
    """UTC microseconds of the fast-path time formats; -1 where a line is not one of them."""
    width = b - a
    local = np.full(len(a), -1, dtype=np.int64)
    utc = np.full(len(a), -1, dtype=np.int64)
    naive = width == 19
    naive[naive] = _marked(buf, a[naive], _NAIVE_MARKS)
    local[naive] = _calendar_us(_window(buf, a[naive], 19))
    for digits in (14, 10, 13):
        sel = width == digits
        sel[sel] = _rows_all(_digits(_window(buf, a[sel], digits)))
        window = _window(buf, a[sel], digits)
        if digits == 14:
            laid_out = np.where(_COMPACT_LAYOUT < 0, _COMPACT_FILL, window[:, np.maximum(_COMPACT_LAYOUT, 0)])
            local[sel] = _calendar_us(laid_out.astype(np.uint8))
        else:
            utc[sel] = _number(window, 0, digits) * (1_000_000 if digits == 10 else 1_000)
    converted = local >= 0
    utc[converted] = localize(local[converted], tz)
    return utc


def localize(local_us: np.ndarray, tz: str) -> np.ndarray:
    """UTC microseconds of naive local times in ``tz`` (ambiguous and missing times: the earlier)."""
    naive = pa.array(local_us, type=pa.timestamp("us"))
    aware = pc.assume_timezone(naive, timezone=tz, ambiguous="earliest", nonexistent="earliest")
    return aware.cast(pa.int64()).to_numpy(zero_copy_only=False)


# ---------------------------------------------------------- general path


def _general_path(
    chunk: bytes | memoryview, starts: np.ndarray, ends: np.ndarray, index: np.ndarray, tz: str
) -> tuple[pa.Table, pd.DataFrame, int]:
    """Rows and quarantined lines for lines the fast path left, by the full rules."""
    raw = _decode_lines(chunk, starts, ends)
    frame = pd.DataFrame({"index": index, "line": raw}).reset_index(drop=True)
    text = frame["line"]
    reason = pd.Series(pd.NA, index=frame.index, dtype="str").mask(text.isna(), "not_utf8")
    binary = text.isna().to_numpy()
    escaped = [_escaped(bytes(chunk[s:e])) for s, e in zip(starts[binary], ends[binary], strict=True)]
    frame.loc[binary, "line"] = escaped
    frame["reason"] = reason

    prefix = text.str.lstrip("\ufeff").str.extract(_RECEIVED + "(.*)$")  # a BOM may precede the stamp
    received = pd.to_datetime(prefix[0], format="ISO8601", utc=True, errors="coerce")
    frame["received"] = _us(received)
    frame["body"] = prefix[1].where(received.notna(), text)
    frame = _url_decoded(frame)

    body = frame["body"].str.lstrip("\ufeff").str.strip()
    reason = frame["reason"].mask(frame["reason"].isna() & body.eq(""), "empty")
    count, (msgid, mobile, status, when) = _four_fields(body.str.replace(_REPORT_PREFIX, "", regex=True))
    reason = reason.mask(reason.isna() & (count != 4), "wrong_field_count")
    status = status.str.upper()
    mobiles = normalise_mobiles(mobile, any_range=True)  # a report is about a number the gateway took
    report_us, time_reason = _parse_times(when, tz)
    for bad, why in (
        (_flag(msgid.eq("")), "empty_msgid"),
        (~_flag(msgid.str.fullmatch(_MSGID)), "bad_msgid"),
        (_flag(mobiles["reason"].notna()), "mobile_" + mobiles["reason"]),
        (_flag(status.eq("")), "empty_status"),
        (~_flag(status.str.fullmatch(_STATUS)), "bad_status"),
        (_flag(time_reason.notna()), time_reason),
    ):
        reason = reason.mask(reason.isna() & bad, why)

    good = reason.isna().to_numpy()
    rows = pa.Table.from_arrays(
        [
            pa.array(msgid[good], type=pa.string()),
            pa.array(mobiles["mobile"][good], type=pa.string()),
            pa.array(status[good], type=pa.string()),
            pa.array(report_us[good], type=ROW_SCHEMA.field("report_time").type),
            pa.array(frame["received"][good], type=ROW_SCHEMA.field("received_at").type, from_pandas=True),
        ],
        schema=ROW_SCHEMA,
    )
    quarantine = frame.loc[~good, ["index", "line"]].assign(reason=reason[~good])
    return rows, quarantine[list(QUARANTINE_COLUMNS)].reset_index(drop=True), len(frame) - len(index)


def _four_fields(text: pd.Series) -> tuple[np.ndarray, list[pd.Series]]:
    """Comma-separated field counts, and the four fields (stripped) where there are four."""
    parts = pc.split_pattern(pa.array(text, type=pa.string(), from_pandas=True), ",")
    count = pc.list_value_length(parts).fill_null(0).to_numpy()
    four = np.flatnonzero(count == 4)
    flat = pc.list_flatten(parts.take(pa.array(four)))
    fields = []
    for i in range(4):
        field = pd.Series(pd.NA, index=text.index, dtype="str")
        field.iloc[four] = flat.take(pa.array(np.arange(i, 4 * len(four), 4))).to_pandas()
        fields.append(field.str.strip())
    return count, fields


def _no_quarantine() -> pd.DataFrame:
    return pd.DataFrame(
        {"index": np.zeros(0, np.int64), "reason": pd.Series(dtype="str"), "line": pd.Series(dtype="str")}
    )


def _flag(values: pd.Series) -> np.ndarray:
    """A boolean Series as a numpy mask, missing as False."""
    return values.fillna(False).astype(bool).to_numpy()


def _decode_lines(chunk: bytes | memoryview, starts: np.ndarray, ends: np.ndarray) -> pd.Series:
    """Each line as text without its line break; missing where it is not UTF-8."""
    lengths = ends - starts
    offsets = np.zeros(len(starts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    buf = np.frombuffer(chunk, dtype=np.uint8)
    values = buf[np.arange(offsets[-1]) + np.repeat(starts - offsets[:-1], lengths)]
    ascii_only = ~_lines_with(values >= 0x80, offsets[:-1], offsets[1:])
    text = pd.Series(_strings(values, offsets).filter(pa.array(ascii_only)).to_pandas(), dtype="str")
    text.index = np.flatnonzero(ascii_only)
    others = [_utf8(bytes(chunk[s:e])) for s, e in zip(starts[~ascii_only], ends[~ascii_only], strict=True)]
    text = pd.concat([text, pd.Series(others, index=np.flatnonzero(~ascii_only), dtype="str")]).sort_index()
    return text.str.rstrip("\r\n").reset_index(drop=True)


def _utf8(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _escaped(raw: bytes) -> str:
    return raw.rstrip(b"\r\n").decode("utf-8", "backslashreplace")


def _url_decoded(frame: pd.DataFrame) -> pd.DataFrame:
    """Decode URL-encoded bodies, and split bodies that carry several reports: encoded line
    breaks, or a form's ``Report=...&Report=...``."""
    body = frame["body"]
    encoded = _flag(body.str.contains(_URL_ESCAPE, regex=True))
    several = _flag(body.str.contains(_SECOND_REPORT, regex=True))
    if not (encoded | several).any():
        return frame
    split = encoded | several
    bodies = [unquote_plus(b) if e else b for b, e in zip(body[split], encoded[split], strict=True)]
    decoded = [[r for part in _LINE_BREAK_TEXT.split(b) for r in _SECOND_REPORT_SPLIT.split(part)] for b in bodies]
    frame["body"] = frame["body"].astype(object)
    reports = [[part for part in parts if part.strip()] or [""] for parts in decoded]
    frame.loc[split, "body"] = pd.Series(reports, index=frame.index[split])
    frame = frame.explode("body", ignore_index=True)
    frame["body"] = frame["body"].astype("str")
    return frame


_LINE_BREAK_TEXT = re.compile(r"\r\n|\r|\n")
_SECOND_REPORT = r"(?i)&[ \t]*report[ \t]*(?:=|%3D)"
_SECOND_REPORT_SPLIT = re.compile(r"&(?=[ \t]*[Rr][Ee][Pp][Oo][Rr][Tt][ \t]*=)")


def _us(times: pd.Series) -> pd.Series:
    """Microseconds since 1970 of tz-aware or naive datetimes, as nullable Int64."""
    values = times.astype("datetime64[us, UTC]" if getattr(times.dtype, "tz", None) else "datetime64[us]")
    return pd.Series(values.array.asi8, index=times.index, dtype="Int64").mask(times.isna())


def _parse_times(text: pd.Series, tz: str) -> tuple[np.ndarray, pd.Series]:
    """UTC microseconds (0 where not parsed) and a reason where a time is not usable."""
    text = text.fillna("")
    us = pd.Series(pd.NA, index=text.index, dtype="Int64")
    naive = text.str.fullmatch(_NAIVE).astype(bool)
    compact = text.str.fullmatch(_COMPACT).astype(bool)
    zoned = text.str.fullmatch(_ZONED).astype(bool)
    unix_s = text.str.fullmatch(_UNIX_S).astype(bool)
    unix_ms = text.str.fullmatch(_UNIX_MS).astype(bool)
    local = pd.concat(
        [
            _us(pd.to_datetime(text[naive].str.replace("/", "-"), format="ISO8601", errors="coerce")),
            _us(pd.to_datetime(text[compact], format="%Y%m%d%H%M%S", errors="coerce")),
        ]
    ).dropna()
    if len(local):
        us[local.index] = localize(local.to_numpy(dtype=np.int64), tz)
    us[zoned] = _us(pd.to_datetime(text[zoned], format="ISO8601", utc=True, errors="coerce"))
    us[unix_s] = (text[unix_s].astype(float) * 1_000_000).round().astype("Int64")
    us[unix_ms] = text[unix_ms].astype("Int64") * 1_000
    recognised = naive | compact | zoned | unix_s | unix_ms
    reason = pd.Series(pd.NA, index=text.index, dtype="str")
    reason = reason.mask(~recognised, "time_format")
    usable = us.notna() & (us >= _EARLIEST_US) & (us < _LATEST_US)
    reason = reason.mask(recognised & ~_flag(usable), "impossible_time")
    return us.fillna(0).to_numpy(dtype=np.int64), reason
