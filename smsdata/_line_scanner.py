"""Ingest's fast path: the canonical report lines read straight from the bytes by the compiled scanner.

:func:`scan_chunk` runs :func:`smsdata._kernels.scan` over a chunk of complete
lines, keeps the lines in the receiver's own shape as records, sets lines over
:data:`MAX_LINE_BYTES` aside as quarantined, and copies the rest out for the
general path (:func:`smsdata.report_lines.parse_lines`), which is the definition:
the fast path must agree with it on every line it accepts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._line_times import EARLIEST_US, LATEST_US, localize

MAX_LINE_BYTES = 2**20
"""A longer line is quarantined as ``line_too_long``, kept as its first KiB, wherever it falls."""
_KEPT_OF_LONG = 1024


@dataclass(frozen=True)
class ScannedChunk:
    """What :func:`scan_chunk` found in a run of complete lines.

    Attributes:
        records: the reports of the canonical lines, as records (:mod:`smsdata._records`).
        starts: byte offset of each line in the chunk.
        rest: indexes of the lines left to :func:`smsdata.report_lines.parse_lines`, in order.
        rest_lines: those lines' bytes, each with its ``\\n`` (a copy: the chunk can go).
        too_long: lines over :data:`MAX_LINE_BYTES`, quarantined (as in :class:`smsdata.report_lines.ParsedChunk`).
    """

    records: np.ndarray
    starts: np.ndarray
    rest: np.ndarray
    rest_lines: bytes
    too_long: pd.DataFrame


def scan_chunk(chunk: bytes | memoryview, *, source_tz: str = "Asia/Shanghai") -> ScannedChunk:
    """Read the canonical lines of a chunk of complete lines, and set the others aside.

    The compiled scanner (:func:`smsdata._kernels.scan`) takes the lines in the
    receiver's own shape; the rest are copied out for :func:`smsdata.report_lines.parse_lines`, so
    that they can be parsed later in bigger batches than one chunk gives.
    """
    from . import _records  # as in report_lines.parse_chunk

    if not chunk:
        empty = np.zeros(0, np.int64)
        return ScannedChunk(_records.empty(), empty, empty, b"", no_quarantine())
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
    return ScannedChunk(fast, starts, rest, gathered(buf, starts[rest], ends[rest] + 1), long_ones)


def gathered(buf: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> bytes:
    """Bytes ``[starts[i], stops[i])`` of ``buf``, one after another (compiled: no index
    arrays of 8 bytes per byte copied)."""
    from . import _kernels  # as in report_lines.parse_chunk

    return _kernels.gather(buf, starts.astype(np.int64), stops.astype(np.int64)).tobytes()


def _too_long(chunk: bytes | memoryview, starts: np.ndarray, index: np.ndarray) -> pd.DataFrame:
    """Quarantine rows for lines over :data:`MAX_LINE_BYTES`: their first KiB and ``...``."""
    lines = [escaped(bytes(chunk[starts[i] : starts[i] + _KEPT_OF_LONG])) + "..." for i in index]
    return pd.DataFrame(
        {
            "index": index.astype(np.int64),
            "reason": pd.Series(["line_too_long"] * len(index), dtype="str"),
            "line": lines,
        }
    )


def _fast_path(buf: np.ndarray, tz: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Records for the canonical lines, every line's start, and the indexes of the lines
    left to the general path (the scan itself is compiled: :func:`smsdata._kernels.scan`)."""
    from . import _kernels, _records  # as in report_lines.parse_chunk

    starts, rest, records, kinds = _kernels.scan(buf)
    times = _records.times(records)
    naive = np.flatnonzero(kinds == _kernels.NAIVE)
    if len(naive):
        times[naive] = localize(times[naive], tz)
    # A time outside 2000-2099 is known only in UTC: its line goes to the general path, which says so.
    usable = (times >= EARLIEST_US) & (times < LATEST_US)
    if not usable.all():
        done = np.ones(len(starts), dtype=bool)
        done[rest] = False
        rest = np.union1d(rest, np.flatnonzero(done)[~usable])
        records = np.compress(usable, records, axis=0)
    return records, starts, rest


def no_quarantine() -> pd.DataFrame:
    return pd.DataFrame(
        {"index": np.zeros(0, np.int64), "reason": pd.Series(dtype="str"), "line": pd.Series(dtype="str")}
    )


def escaped(raw: bytes) -> str:
    return raw.rstrip(b"\r\n").decode("utf-8", "backslashreplace")
