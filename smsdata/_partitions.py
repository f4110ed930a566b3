"""One date's partition of the reports dataset: staging a run's rows, dropping repeats, writing parts.

A run stages each parsed chunk's rows by UTC date, as fixed-width records
(:mod:`smsdata._records`, raw files: written once, read once, deleted). Then each
date is finished on its own, so memory follows the largest date, not the run:

1. repeats inside the run are dropped (exact keys: msgid, mobile, status,
   report_time; the earliest ``received_at`` is kept), by a hash table over the
   date's records (:func:`smsdata._kernels.dedupe`);
2. repeats of rows already stored are dropped: every part file has a sidecar
   (``_keys/date=.../<part>.keys``, beside the ``reports`` tree so that no reader
   of it meets a file that is not Parquet) holding the sorted 64-bit hashes of its
   keys, so a run looks up its new keys without reading the stored rows; only a
   key whose hash is found is checked against the stored rows themselves (their
   row groups with that report time), so a hash collision can never drop a
   report. A sidecar that is missing or damaged (wrong size, not sorted) is
   replaced by hashing the part's keys;
3. the new rows are sorted by report time and written as one zstd Parquet part
   and its sidecar. A date with :data:`COMPACT_AT` parts is rewritten as one, a
   row group at a time.

Memory stays flat however big a date is: staged records are grouped by a hash of
their key into :data:`BUCKETS` buckets (equal keys share a bucket), and a date of
more than :data:`ROWS_AT_ONCE` rows is finished a few buckets at a time, each
slice written as the next row groups of the same part (sorted within the slice).
A stored row keeps the earliest ``received_at`` of the copies read by the run that
stored it; a copy read by a later run is a duplicate and leaves the row as it is.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import _kernels, _records
from ._records import ROW_SCHEMA

log = logging.getLogger("smsdata.ingest")

COMPACT_AT = 8
"""A date with this many part files is rewritten as one at the next run that adds to it."""
COMPACT_MAX_ROWS = 4_000_000
"""Dates with more stored rows keep their parts: they are big already, and rewriting costs."""
ROWS_AT_ONCE = 2**17
"""A date with more staged rows than this is finished in slices of about this many."""
BUCKETS = 64
"""Hash buckets of a date's staged records: the most slices a date is finished in."""
# Row groups of 64 Ki rows, sorted by report time: the check of a found key reads only its groups.
_ROW_GROUP = 65_536
_KEY = ["msgid", "mobile", "status", "report_time"]
REPORT_COLUMNS = ["msgid", "mobile", "status", "outcome", "report_time", "received_at"]
REPORTS_SCHEMA = pa.schema(
    [ROW_SCHEMA.field(name) if name != "outcome" else pa.field(name, pa.string()) for name in REPORT_COLUMNS]
)
_DAY_US = 86_400_000_000
_RECORD_BYTES = 8 * _records.WORDS


# ------------------------------------------------------------------ staging


def stage(records: np.ndarray, folder: Path) -> dict[str, int]:
    """Write records under ``folder/<date>/`` by UTC date of report time; records per date.

    Each file holds a date's records grouped by bucket (a hash of the key), after a
    header of :data:`BUCKETS` counts, so that a slice of buckets is read without the rest.
    """
    if not len(records):
        return {}
    days = _records.times(records) // _DAY_US
    first = int(days.min())
    buckets = (_kernels.key_hashes(records) % np.uint64(BUCKETS)).astype(np.int64)
    span = int(days.max()) - first + 1
    order, bounds = _kernels.group_order((days - first) * BUCKETS + buckets, span * BUCKETS)
    records = np.take(records, order, axis=0)  # whole records moved at once, then zero-copy slices
    name = f"rows-{secrets.token_hex(8)}.records"
    counts = {}
    for number in range(span):
        start, stop = bounds[number * BUCKETS], bounds[(number + 1) * BUCKETS]
        if stop > start:
            day = str(np.datetime64(first + number, "D"))
            (folder / day).mkdir(parents=True, exist_ok=True)
            header = np.diff(bounds[number * BUCKETS : (number + 1) * BUCKETS + 1]).astype("<i8")
            _write(folder / day / name, header, records[start:stop])
            counts[day] = int(stop - start)
    return counts


def _write(path: Path, *arrays: np.ndarray) -> None:
    """Write contiguous arrays one after another (Python's file writes: a full disk is an
    ``OSError`` with its errno, where numpy's ``tofile`` says only how much it wrote)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        for array in arrays:
            out.write(memoryview(np.ascontiguousarray(array)).cast("B"))


def _read_staged(files: list[Path], first: int, last: int) -> np.ndarray:
    """The records of buckets ``first`` to ``last`` (excluded) in a date's staged files: one
    read a file, as a file's records are in bucket order."""
    parts = []
    for path in files:
        with path.open("rb") as f:
            starts = np.concatenate([[0], np.cumsum(np.fromfile(f, "<i8", count=BUCKETS))])
            count = int(starts[last] - starts[first])
            if count:
                f.seek(8 * BUCKETS + int(starts[first]) * _RECORD_BYTES)
                parts.append(np.fromfile(f, np.uint64, count=count * _records.WORDS))
    return np.concatenate(parts).reshape(-1, _records.WORDS) if parts else _records.empty()


def _staged_rows(files: list[Path]) -> int:
    return sum((path.stat().st_size - 8 * BUCKETS) // _RECORD_BYTES for path in files)


# ------------------------------------------------------------------ keys


def keys_path(part: Path) -> Path:
    """The sidecar of a part: ``<root>/reports/date=D/P.parquet`` -> ``<root>/_keys/date=D/P.keys``."""
    return part.parent.parent.parent / "_keys" / part.parent.name / f"{part.stem}.keys"


def _stored_hashes(part: Path) -> np.ndarray:
    """The sorted key hashes of a stored part: its sidecar (mapped, read where looked up) when
    it is whole and its part's, else (missing, damaged, or a part from before sidecars) its
    keys hashed now."""
    rows = pq.read_metadata(part).num_rows
    sidecar = keys_path(part)
    try:
        keys = _sidecar_keys(sidecar, part, rows)
        if keys is not None:
            return keys
        log.warning("%s is damaged: hashing the keys of %s instead", sidecar, part.name)
    except FileNotFoundError:
        pass
    table = pq.read_table(part, columns=_KEY).append_column(
        "received_at", pa.nulls(rows, ROW_SCHEMA.field("received_at").type)
    )
    hashes = _kernels.key_hashes(_records.from_table(table.select(ROW_SCHEMA.names)))
    return hashes[_kernels.sort_order(hashes)]


# A sidecar: 4 words (magic, the part's size in bytes, xor and sum of the keys) then the keys.
_SIDECAR_MAGIC = np.frombuffer(b"SMSKEYS1", "<u8")[0]


def _sidecar_keys(sidecar: Path, part: Path, rows: int) -> np.ndarray | None:
    """The keys of a sidecar that is whole and belongs to ``part``, or ``None``.

    Its header ties it to its part (the part's size) and to its content (xor and sum of
    the keys: zeros or another part's keys do not pass), and the keys must be sorted.
    Checking reads 8 bytes a row: cheap beside the rows.
    """
    if sidecar.stat().st_size != 8 * (4 + rows):
        return None
    data = np.memmap(sidecar, dtype="<u8", mode="r")
    header, keys = data[:4], data[4:]
    with np.errstate(over="ignore"):
        total = np.sum(keys, dtype=np.uint64) if rows else np.uint64(0)
    whole = header[0] == _SIDECAR_MAGIC and header[1] == part.stat().st_size
    whole = whole and header[2] == np.bitwise_xor.reduce(keys, initial=np.uint64(0)) and header[3] == total
    return keys if whole and (rows < 2 or bool(np.all(keys[1:] >= keys[:-1]))) else None


def _write_sidecar(sidecar: Path, part: Path, keys: np.ndarray) -> None:
    keys = keys.astype("<u8")
    with np.errstate(over="ignore"):
        total = np.sum(keys, dtype=np.uint64) if len(keys) else np.uint64(0)
    xor = np.bitwise_xor.reduce(keys, initial=np.uint64(0))
    header = np.array([_SIDECAR_MAGIC, part.stat().st_size, xor, total], dtype="<u8")
    _write(sidecar, header, keys)


# ------------------------------------------------------------------ finishing a date


def finish_day(staged: Path, stored: list[Path], target: Path, *, rows_at_once: int = ROWS_AT_ONCE) -> tuple[int, bool]:
    """Write a date's new rows as the part file ``target``; ``(new rows, compacted)``.

    Args:
        staged: the folder of the date's staged records.
        stored: the date's part files already in the dataset.
        target: the part this run writes for the date (with its sidecar); when
            ``compacted``, it holds the whole date and its folder replaces the stored one.
        rows_at_once: the most staged rows finished at once (memory follows it).
    """
    files = sorted(staged.glob("*.records"))
    slices = min(BUCKETS, max(1, math.ceil(_staged_rows(files) / rows_at_once)))
    compact = _should_compact(stored)
    written = 0
    hashes = []
    with _PartWriter(target) as part:
        for number in range(slices):
            records = _read_staged(files, number * BUCKETS // slices, (number + 1) * BUCKETS // slices)
            new, new_hashes = _drop_stored(*_distinct(records), stored)
            del records
            written += new.num_rows
            part.write(new)
            hashes.append(new_hashes)
        if compact:
            for path in stored:
                part.copy(path)
                hashes.append(_stored_hashes(path))
    if part.rows:
        keys = np.concatenate(hashes)
        _write_sidecar(keys_path(target), target, keys[_kernels.sort_order(keys)])
    return written, compact and part.rows > 0


class _PartWriter:
    """A part file written a slice at a time (created on the first rows), zstd, stats on the times.

    Dictionary encoding only where values repeat, statistics only on the times (what
    readers filter on): each costs time for nothing elsewhere.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None

    def __enter__(self) -> _PartWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.close()

    def write(self, rows: pa.Table) -> None:
        if not rows.num_rows:
            return
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(
                self.path,
                REPORTS_SCHEMA,
                compression="zstd",
                compression_level=1,
                use_dictionary=["status", "outcome"],
                write_statistics=["report_time", "received_at"],
            )
        self._writer.write_table(rows.select(REPORT_COLUMNS).cast(REPORTS_SCHEMA), row_group_size=_ROW_GROUP)
        self.rows += rows.num_rows

    def copy(self, path: Path) -> None:
        """Append a stored part, a row group at a time."""
        stored = pq.ParquetFile(path)
        for group in range(stored.num_row_groups):
            self.write(stored.read_row_group(group, columns=REPORT_COLUMNS))


def _distinct(records: np.ndarray) -> tuple[pa.Table, np.ndarray]:
    """One row per key, sorted by report time, with the earliest ``received_at`` of its
    repeats; and the rows' key hashes."""
    hashes = _kernels.key_hashes(records)
    first, earliest = _kernels.dedupe(records, _kernels.key_hashes(records, np.uint64(secrets.randbits(64))))
    times = _records.times(records)[first]
    order = _kernels.sort_order((times - times.min()).astype(np.uint64)) if len(first) else first
    by_time = first[order]
    records = np.take(records, by_time, axis=0)  # one gather: distinct and sorted
    _records.received(records)[:] = earliest[order]
    rows = _records.to_table(records)
    outcome = pc.if_else(pc.equal(rows.column("status"), "DELIVRD"), "delivered", "failed")
    rows = rows.add_column(REPORT_COLUMNS.index("outcome"), "outcome", outcome)
    return rows, hashes[by_time]


def _drop_stored(new: pa.Table, hashes: np.ndarray, stored: list[Path]) -> tuple[pa.Table, np.ndarray]:
    """``new`` (and its hashes) without the rows whose key is already stored in ``stored``."""
    if not stored or not new.num_rows:
        return new, hashes
    found = np.zeros(len(hashes), dtype=bool)
    for part in stored:
        keys = _stored_hashes(part)
        if len(keys):
            at = np.minimum(np.searchsorted(keys, hashes), len(keys) - 1)
            found |= keys[at] == hashes
    if not found.any():
        return new, hashes
    # Hashes only point: the keys themselves decide, read a row group at a time (memory stays
    # flat) from the groups whose report times can hold a candidate.
    candidates = np.flatnonzero(found)
    wanted = _records.from_table(new.select(ROW_SCHEMA.names).take(candidates))
    by_time = np.argsort(_records.times(wanted), kind="stable")  # sorted already when new is
    candidates, wanted = candidates[by_time], np.take(wanted, by_time, axis=0)
    wanted_hashes = hashes[candidates]
    repeated = np.zeros(len(candidates), dtype=bool)
    for group, (first, last) in _row_groups(stored, _records.times(wanted)):
        repeated[first:last] |= _same_keys(wanted[first:last], wanted_hashes[first:last], group)
    keep = np.ones(new.num_rows, dtype=bool)
    keep[candidates[repeated]] = False
    return new.filter(pa.array(keep)), hashes[keep]


def _row_groups(parts: list[Path], times: np.ndarray) -> Iterator[tuple[np.ndarray, tuple[int, int]]]:
    """The keys (as records) of each row group of ``parts`` whose report times span some of
    ``times`` (sorted), and the range of ``times`` inside the group's [min, max]."""
    for part in parts:
        stored = pq.ParquetFile(part)
        column = stored.schema_arrow.get_field_index("report_time")
        for number in range(stored.num_row_groups):
            stats = stored.metadata.row_group(number).column(column).statistics
            first, last = 0, len(times)
            if stats is not None and stats.has_min_max:
                first = int(np.searchsorted(times, stats.min_raw, side="left"))
                last = int(np.searchsorted(times, stats.max_raw, side="right"))
                if first == last:
                    continue  # no candidate time within the group's [min, max]
            group = stored.read_row_group(number, columns=_KEY)
            group = group.append_column("received_at", pa.nulls(group.num_rows, ROW_SCHEMA.field("received_at").type))
            yield _records.from_table(group.select(ROW_SCHEMA.names)), (first, last)


def _same_keys(wanted: np.ndarray, wanted_hashes: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Which ``wanted`` records have their exact key in ``group``."""
    hashes = _kernels.key_hashes(group)
    order = _kernels.sort_order(hashes)
    hashes = hashes[order]
    at = np.searchsorted(hashes, wanted_hashes)
    found = np.zeros(len(wanted), dtype=bool)
    for step in range(len(hashes)):  # equal hashes are next to each other: one step per collision
        inside = np.flatnonzero(~found & (at + step < len(hashes)))
        inside = inside[hashes[at[inside] + step] == wanted_hashes[inside]]
        if not len(inside):
            break
        rows = order[at[inside] + step]
        found[inside] = np.all(wanted[inside, : _kernels.KEY_WORDS] == group[rows, : _kernels.KEY_WORDS], axis=1)
    return found


def _should_compact(stored: list[Path]) -> bool:
    """Whether this run rewrites the date as one part: it has :data:`COMPACT_AT` parts with
    this one, and at most :data:`COMPACT_MAX_ROWS` rows (rewriting big dates costs for little)."""
    if len(stored) + 1 < COMPACT_AT:
        return False
    return sum(pq.read_metadata(p).num_rows for p in stored) <= COMPACT_MAX_ROWS
