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

This module holds the format's names, writing and the parse entry points; the
fast path is :mod:`smsdata._line_scanner`, the general path
:mod:`smsdata._line_parser`, report times :mod:`smsdata._line_times`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa

from ._line_parser import ROW_SCHEMA, general_path
from ._line_scanner import MAX_LINE_BYTES, no_quarantine, scan_chunk
from .numbers import REASONS as MOBILE_REASONS

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

_LINE_BREAK = re.compile(rb"\r\n|\r|\n")


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
        return ParsedChunk(ROW_SCHEMA.empty_table(), no_quarantine(), np.zeros(0, np.int64), 0)
    ends = np.flatnonzero(np.frombuffer(lines, dtype=np.uint8) == 10)
    starts = np.concatenate([[0], ends[:-1] + 1])
    rows, quarantine, extra = general_path(lines, starts, ends, np.arange(len(ends)), source_tz)
    return ParsedChunk(rows=rows, quarantine=quarantine, starts=starts, records=len(ends) + extra)
