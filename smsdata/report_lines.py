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

from ._renamed import renamed
from .numbers import REASONS as MOBILE_REASONS
from .numbers import normalise_mobiles

__all__ = [
    "MAX_LINE_BYTES",
    "REASONS",
    "ROW_SCHEMA",
    "ParsedChunk",
    "format_received",
    "log_lines",
    "parse_lines",
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
"""A parsed report as an Arrow row: times in UTC, ``received_at`` missing for lines without a stamp."""
QUARANTINE_COLUMNS = ("index", "reason", "line")
MAX_LINE_BYTES = 2**20
"""A longer line is quarantined as ``line_too_long``, kept as its first KiB, wherever it falls."""
_KEPT_OF_LONG = 1024

_LINE_BREAK = re.compile(rb"\r\n|\r|\n")

# Years 2000-2099, in microseconds since the epoch.
_EARLIEST_US = 946_684_800_000_000
_LATEST_US = 4_102_444_800_000_000

_MSGID_MAX, _STATUS_MAX = 24, 16
_MSGID = rf"^[0-9A-Za-z_.:\-]{{1,{_MSGID_MAX}}}$"
_STATUS = rf"^[A-Za-z0-9:_./\-]{{1,{_STATUS_MAX}}}$"
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

    Returns:
        The stamp as ASCII bytes (a naive ``when`` is taken as local time). Never raises.

    >>> format_received(datetime(2026, 11, 25, 13, 25, 13, 123456, tzinfo=UTC))
    b'2026-11-25T13:25:13.123456Z'
    """
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ").encode()


def log_lines(body: bytes, received: datetime) -> bytes:
    """The log lines for one POSTed body: one per report, each prefixed with ``received``.

    A body holds one report per line (LF, CRLF or CR); blank lines between
    them are dropped. A body with nothing in it still gives one line (with an
    empty report), so every POST leaves a trace that ingest quarantines.

    Returns:
        The lines, each ending with ``\\n``, ready to append to a log. Never raises.

    >>> log_lines(b"Report=1,13800138000,DELIVRD,20261125212513\\r\\n", datetime(2026, 1, 1, tzinfo=UTC))
    b'2026-01-01T00:00:00.000000Z\\tReport=1,13800138000,DELIVRD,20261125212513\\n'
    """
    stamp = format_received(received) + b"\t"
    reports = [part for part in _LINE_BREAK.split(body) if part.strip()] or [b""]
    return b"".join(stamp + report + b"\n" for report in reports)


# ------------------------------------------------------------------ parsing


@dataclass(frozen=True)
class ParsedChunk:
    """What :func:`parse_lines` found in a run of complete lines.

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


@dataclass(frozen=True)
class ScannedChunk:
    """What :func:`scan_chunk` found in a run of complete lines.

    Attributes:
        records: the reports of the canonical lines, as records (:mod:`smsdata._records`).
        starts: byte offset of each line in the chunk.
        rest: indexes of the lines left to :func:`parse_lines`, in order.
        rest_lines: those lines' bytes, each with its ``\\n`` (a copy: the chunk can go).
        too_long: lines over :data:`MAX_LINE_BYTES`, quarantined (as in :class:`ParsedChunk`).
    """

    records: np.ndarray
    starts: np.ndarray
    rest: np.ndarray
    rest_lines: bytes
    too_long: pd.DataFrame


def parse_chunk(chunk: bytes | memoryview, *, source_tz: str = "Asia/Shanghai") -> ParsedChunk:
    """Parse complete report log lines (``chunk`` must be empty or end with ``\\n``).

    The same as :func:`scan_chunk`, then :func:`parse_lines` of the lines it left.

    Args:
        chunk: raw bytes of whole lines.
        source_tz: IANA zone of naive report times (the gateway's local time).

    Returns:
        A :class:`ParsedChunk`: every line is a row or a quarantined line.
    """
    from . import _records  # compiled on first use: the receiver, which writes lines, never loads numba

    scanned = scan_chunk(chunk, source_tz=source_tz)
    general = parse_lines(scanned.rest_lines, source_tz=source_tz)
    quarantine = general.quarantine.assign(index=scanned.rest[general.quarantine["index"].to_numpy()])
    if len(scanned.too_long):
        quarantine = pd.concat([quarantine, scanned.too_long])
    quarantine = quarantine.sort_values("index", kind="stable", ignore_index=True)
    fast = _records.to_table(scanned.records)
    rows = pa.concat_tables([fast, general.rows]) if general.rows.num_rows else fast
    records = len(scanned.starts) - len(scanned.rest) + general.records
    return ParsedChunk(rows=rows, quarantine=quarantine, starts=scanned.starts, records=records)


def scan_chunk(chunk: bytes | memoryview, *, source_tz: str = "Asia/Shanghai") -> ScannedChunk:
    """Read the canonical lines of a chunk of complete lines, and set the others aside.

    The compiled scanner (:func:`smsdata._kernels.scan`) takes the lines in the
    receiver's own shape; the rest are copied out for :func:`parse_lines`, so
    that they can be parsed later in bigger batches than one chunk gives.
    """
    from . import _records  # as in parse_chunk

    if not chunk:
        empty = np.zeros(0, np.int64)
        return ScannedChunk(_records.empty(), empty, empty, b"", _no_quarantine())
    buf = np.frombuffer(chunk, dtype=np.uint8)
    if buf[-1] != 10:  # the scanner relies on it to stop
        raise ValueError("a chunk must end with a line break")
    fast, starts, rest = _fast_path(buf, source_tz)
    ends = np.empty_like(starts)  # of each line, at its \n
    ends[:-1] = starts[1:] - 1
    ends[-1:] = len(buf) - 1
    too_long = ends[rest] - starts[rest] > MAX_LINE_BYTES  # only ever the first KiB of such a line is held
    long_ones = _too_long(chunk, starts, rest[too_long])
    rest = rest[~too_long]
    return ScannedChunk(fast, starts, rest, _gathered(buf, starts[rest], ends[rest] + 1), long_ones)


def parse_lines(lines: bytes | memoryview, *, source_tz: str = "Asia/Shanghai") -> ParsedChunk:
    """Parse every line of ``lines`` (complete lines) by the full rules: the definition of a report.

    Slower than ingest's compiled scanner (pandas on Arrow strings), it reads
    every shape described above and gives each line that is not a report its reason.

    Args:
        lines: raw bytes of whole lines (empty, or ending with ``\\n``).
        source_tz: IANA zone of naive report times (the gateway's local time).

    Returns:
        A :class:`ParsedChunk`: every line is a row or a quarantined line. Never raises
        for a bad line.

    >>> parse_lines(b"Report=1,13800138000,DELIVRD,2026-11-25 21:25:13\\nnonsense\\n").records
    2
    """
    if not lines:
        return ParsedChunk(ROW_SCHEMA.empty_table(), _no_quarantine(), np.zeros(0, np.int64), 0)
    ends = np.flatnonzero(np.frombuffer(lines, dtype=np.uint8) == 10)
    starts = np.concatenate([[0], ends[:-1] + 1])
    rows, quarantine, extra = _general_path(lines, starts, ends, np.arange(len(ends)), source_tz)
    return ParsedChunk(rows=rows, quarantine=quarantine, starts=starts, records=len(ends) + extra)


def _gathered(buf: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> bytes:
    """Bytes ``[starts[i], stops[i])`` of ``buf``, one after another (compiled: no index
    arrays of 8 bytes per byte copied)."""
    from . import _kernels  # as in parse_chunk

    return _kernels.gather(buf, starts.astype(np.int64), stops.astype(np.int64)).tobytes()


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


def _fast_path(buf: np.ndarray, tz: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Records for the canonical lines, every line's start, and the indexes of the lines
    left to the general path (the scan itself is compiled: :func:`smsdata._kernels.scan`)."""
    from . import _kernels, _records  # as in parse_chunk

    starts, rest, records, kinds = _kernels.scan(buf)
    times = _records.times(records)
    naive = np.flatnonzero(kinds == _kernels.NAIVE)
    if len(naive):
        times[naive] = localize(times[naive], tz)
    # A time outside 2000-2099 is known only in UTC: its line goes to the general path, which says so.
    usable = (times >= _EARLIEST_US) & (times < _LATEST_US)
    if not usable.all():
        done = np.ones(len(starts), dtype=bool)
        done[rest] = False
        rest = np.union1d(rest, np.flatnonzero(done)[~usable])
        records = np.compress(usable, records, axis=0)
    return records, starts, rest


def _lines_with(flags: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Which lines [starts, ends) contain a flagged byte."""
    hits = np.flatnonzero(flags)
    return np.searchsorted(hits, ends) > np.searchsorted(hits, starts)


def _strings(values: np.ndarray, offsets: np.ndarray) -> pa.StringArray:
    """An Arrow string array over ASCII ``values`` cut at ``offsets`` (no copy)."""
    return pa.StringArray.from_buffers(
        len(offsets) - 1, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(np.ascontiguousarray(values))
    )


@renamed(tz="source_tz")
def localize(local_us: np.ndarray, source_tz: str) -> np.ndarray:
    """UTC microseconds of naive local times in ``source_tz`` (ambiguous and missing times: the earlier).

    ``source_tz`` is the zone naive *input* times are read in, as in :func:`parse_chunk`
    (``tz`` elsewhere is the zone results are shown or cut in).

    Arrow converts each value through the zone's rules (about 35 ns a value). Offsets
    change only at whole minutes (true of every zone since 1970), so when the values
    span less than :data:`_GRID_MINUTES`, Arrow converts one value per minute of the
    span instead and each value takes its minute's offset; values in a minute where
    the offset changes (a DST gap or overlap) are converted one by one as before.
    """
    if not len(local_us):
        return local_us.copy()
    first = int(local_us.min()) // _MINUTE_US * _MINUTE_US
    minutes = (int(local_us.max()) - first) // _MINUTE_US + 1
    if minutes > _GRID_MINUTES or minutes * 8 > len(local_us):  # too wide, or too few values to gain
        return _assume_zone(local_us, source_tz)
    grid = first + np.arange(minutes + 1, dtype=np.int64) * _MINUTE_US
    offsets = grid - _assume_zone(grid, source_tz)
    minute = (local_us - first) // _MINUTE_US
    utc = local_us - offsets[minute]
    changing = np.flatnonzero(offsets[minute] != offsets[minute + 1])
    if len(changing):
        utc[changing] = _assume_zone(local_us[changing], source_tz)
    return utc


_MINUTE_US = 60_000_000
_GRID_MINUTES = 2_000_000  # about 4 years


def _assume_zone(local_us: np.ndarray, tz: str) -> np.ndarray:
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
    stamp_us = _us(received)
    # a stamp outside 2000-2099 is not the receiver's (it writes the time it received): not a stamp
    stamp_us = stamp_us.mask((stamp_us < _EARLIEST_US) | (stamp_us >= _LATEST_US))
    frame["received"] = stamp_us
    frame["body"] = prefix[1].where(stamp_us.notna(), text)
    frame = _url_decoded(frame)

    body = frame["body"].str.lstrip("\ufeff").str.strip()
    reason = frame["reason"].mask(frame["reason"].isna() & body.eq(""), "empty")
    count, (msgid, mobile, status, when) = _four_fields(body.str.replace(_REPORT_PREFIX, "", regex=True))
    reason = reason.mask(reason.isna() & (count != 4), "wrong_field_count")
    given_status, status = status, status.str.upper()  # checked as given: "ı".upper() is "I"
    mobiles = normalise_mobiles(mobile, any_mobile_range=True)  # a report is about a number the gateway took
    report_us, time_reason = _parse_times(when, tz)
    for bad, why in (
        (_flag(msgid.eq("")), "empty_msgid"),
        (~_flag(msgid.str.fullmatch(_MSGID)), "bad_msgid"),
        (_flag(mobiles["reason"].notna()), "mobile_" + mobiles["reason"]),
        (_flag(status.eq("")), "empty_status"),
        (~_flag(given_status.str.fullmatch(_STATUS)), "bad_status"),
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
    """A boolean Series as a numpy mask, missing as False (object, bool or nullable boolean)."""
    return values.astype("boolean").fillna(False).to_numpy(dtype=bool)


def _decode_lines(chunk: bytes | memoryview, starts: np.ndarray, ends: np.ndarray) -> pd.Series:
    """Each line as text without its line break; missing where it is not UTF-8."""
    lengths = ends - starts
    offsets = np.zeros(len(starts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    values = np.frombuffer(_gathered(np.frombuffer(chunk, dtype=np.uint8), starts, ends), np.uint8)
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
