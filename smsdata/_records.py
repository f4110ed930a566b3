"""Report rows as fixed-width records: the form ingest stages, dedupes and sorts them in.

A record is 64 bytes (8 little-endian 64-bit words), so moving rows is a copy of
whole records and comparing keys is seven word compares, where Arrow's string
columns would need a gather per column and a byte loop per value:

=====  =====  ====================================================
bytes  words  what
=====  =====  ====================================================
0-23   0-2    msgid, zero-padded (at most 24 bytes, never a zero byte)
24-31  3      mobile, as a number (11 digits)
32-47  4-5    status, zero-padded (at most 16 bytes)
48-55  6      report time, UTC microseconds (int64)
56-63  7      received stamp, UTC microseconds, -1 for none
=====  =====  ====================================================

Words 0-6 are the key. Arrow tables (:data:`ROW_SCHEMA`) are converted at the
edges: :func:`from_table` for the rows the general parser gives, :func:`to_table`
to write.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import _kernels as k
from .report_lines import ROW_SCHEMA

__all__ = ["ROW_SCHEMA", "WORDS", "empty", "from_table", "received", "times", "to_table"]


WORDS = k.WORDS
_SLOTS = {"msgid": (k.MSGID_AT, 24), "status": (k.STATUS_AT, 16)}  # first byte, width


def empty() -> np.ndarray:
    return np.zeros((0, WORDS), np.uint64)


def times(records: np.ndarray) -> np.ndarray:
    """The report times (int64 microseconds, a view: writing to it changes the records)."""
    return records.view(np.int64)[:, k.TIME]


def received(records: np.ndarray) -> np.ndarray:
    """The received stamps (int64 microseconds, -1 for none; a view)."""
    return records.view(np.int64)[:, k.RECEIVED]


def from_table(table: pa.Table) -> np.ndarray:
    """Records for rows in :data:`ROW_SCHEMA`.

    Raises:
        ValueError: a value does not fit its record slot (the parser's rules never give one).
    """
    table = table.combine_chunks()
    records = np.zeros((table.num_rows, WORDS), np.uint64)
    if not table.num_rows:
        return records
    for name, (at, width) in _SLOTS.items():
        column = table.column(name).chunk(0)
        if pc.max(pc.binary_length(column)).as_py() > width or pc.any(pc.match_substring(column, "\0")).as_py():
            raise ValueError(f"a {name} over {width} bytes, or with a zero byte, cannot be stored")
        k.pack(records, at, *_buffers(column))
    records[:, k.MOBILE] = table.column("mobile").cast(pa.uint64()).to_numpy()
    times(records)[:] = table.column("report_time").cast(pa.int64()).to_numpy()
    received(records)[:] = table.column("received_at").cast(pa.int64()).fill_null(-1).to_numpy()
    return records


def to_table(records: np.ndarray) -> pa.Table:
    """Rows in :data:`ROW_SCHEMA` for records."""
    msgid, status = (
        pa.StringArray.from_buffers(len(records), *map(pa.py_buffer, k.unpack(records, at, width)))
        for at, width in _SLOTS.values()
    )
    mobile = pa.array(np.ascontiguousarray(records[:, k.MOBILE])).cast(pa.string())
    stamps = np.ascontiguousarray(received(records))
    return pa.Table.from_arrays(
        [
            msgid,
            mobile,
            status,
            pa.array(np.ascontiguousarray(times(records)), ROW_SCHEMA.field("report_time").type),
            pa.array(stamps, ROW_SCHEMA.field("received_at").type, mask=stamps < 0),
        ],
        schema=ROW_SCHEMA,
    )


def _buffers(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    if not len(column):
        return np.zeros(1, np.int32), np.zeros(0, np.uint8)
    _, offsets, data = column.buffers()
    offsets = np.frombuffer(offsets, np.int32)[column.offset : column.offset + len(column) + 1]
    return offsets, (np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8))
