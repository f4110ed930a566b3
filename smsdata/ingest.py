"""Raw report logs -> a hive-partitioned Parquet dataset, incrementally, losing nothing.

Layout of a dataset directory::

    reports/date=YYYY-MM-DD/part-<run>.parquet       one row per distinct report (UTC date)
    _keys/date=YYYY-MM-DD/part-<run>.keys             the sorted hashes of its keys
    quarantine/part-<run>-<k>.parquet                 every line that is not a report, with why
    _ingest/state.json                                byte offset reached in each source file
    _ingest/run-<run>/                                a run's work in progress (deleted after)

The ``reports`` and ``quarantine`` folders are plain Parquet: DuckDB, Spark,
Polars or pyarrow read them unchanged (names starting with ``_`` are ignored
by all of them).

How a run stays exact (every line in = a row, a duplicate or a quarantined
line) and safe to kill at any moment:

1. New bytes of each file, from the offset stored in ``state.json`` to its
   last complete line, are parsed in chunks (bounded memory) on worker
   threads (:mod:`smsdata.report_lines`); rows are staged by date and
   quarantined lines written, both in the run's own folder
   (:class:`smsdata._ingest_reader.Reader`).
2. Each date drops its repeats of (msgid, mobile, status, report_time),
   within the run and against the parts already stored for it, and is
   written as one sorted Parquet part (:mod:`smsdata._partitions`), still
   inside the run's folder (:class:`smsdata._ingest_dataset.Deduper`).
3. The new offsets are committed with one atomic rename of ``state.json``
   (:class:`smsdata._ingest_dataset.Dataset` holds the folder, its lock and state),
   naming the run as published-pending. This is the commit point.
4. The run's files are moved into ``reports/`` and ``quarantine/`` and the
   pending mark is cleared.

Killed before 3, the run's folder is deleted by the next run, which reads
the same bytes again; killed after 3, the next run finishes 4 first. Either
way the dataset ends as one clean run would have left it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads

from . import _faults, _sources
from ._checks import at_least, known_zone
from ._ingest_dataset import Dataset, Deduper, fsync_tree
from ._ingest_reader import QUARANTINE_SCHEMA as QUARANTINE_SCHEMA  # the columns of quarantine/
from ._ingest_reader import Reader
from ._partitions import COMPACT_AT as COMPACT_AT  # how many parts a date keeps before compaction
from ._partitions import REPORT_COLUMNS
from ._partitions import REPORTS_SCHEMA as _REPORTS_SCHEMA
from ._progress import progress_bar
from ._times import utc_option
from .config import DEFAULT_DATASET, default_tz
from .errors import IngestError

__all__ = ["IngestResult", "ingest_reports", "read_quarantine", "read_reports"]

log = logging.getLogger(__name__)

CHUNK_BYTES = 24 * 2**20


@dataclass(frozen=True)
class IngestResult:
    """What one :func:`ingest_reports` run did.

    Attributes:
        files: source files that had new complete lines.
        lines: records read: lines, plus the extra reports of URL-encoded
            lines that held several.
        ingested: new rows stored in ``reports/``.
        duplicates: records that repeat a stored (msgid, mobile, status,
            report_time), from this run or an earlier one.
        quarantined: records stored in ``quarantine/`` with a reason.
        bytes: bytes read (of the logs, decompressed).
        seconds: wall time.
        skipped: ``(file, why)`` of files not read (compressed in a format ingest cannot read).
        recovered: rows an interrupted earlier run had committed, published by this one.
    """

    files: int = 0
    lines: int = 0
    ingested: int = 0
    duplicates: int = 0
    quarantined: int = 0
    bytes: int = 0
    seconds: float = 0.0
    skipped: tuple[tuple[str, str], ...] = ()
    recovered: int = 0

    @property
    def balanced(self) -> bool:
        """``lines == ingested + duplicates + quarantined``: nothing lost, nothing doubled."""
        return self.lines == self.ingested + self.duplicates + self.quarantined

    def __str__(self) -> str:
        rate = self.lines / self.seconds if self.seconds else 0.0
        text = (
            f"{self.lines:,} lines from {self.files} file(s): {self.ingested:,} new reports, "
            f"{self.duplicates:,} duplicates, {self.quarantined:,} quarantined "
            f"({self.bytes / 2**20:.1f} MiB in {self.seconds:.1f} s, {rate:,.0f} lines/s)"
        )
        if self.recovered:
            text += f"\nand {self.recovered:,} reports of an interrupted earlier run, published now"
        for path, why in self.skipped:
            text += f"\nskipped {path}: {why}"
        return text


# ------------------------------------------------------------------ public API


def ingest_reports(
    source: str | os.PathLike[str],
    dataset: str | os.PathLike[str] = DEFAULT_DATASET,
    *,
    source_tz: str | None = None,
    progress: bool = True,
    workers: int | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> IngestResult:
    """Append the new lines of raw report logs to a Parquet dataset.

    Args:
        source: a log file, a folder (every file in it, recursively, except
            hidden ones), or a glob pattern (``receiver/*.log``, ``**`` allowed).
        dataset: the dataset folder; created if missing (default ``"warehouse"``,
            :data:`smsdata.config.DEFAULT_DATASET`, like every ``dataset``).
        source_tz: IANA zone the naive report times are read in (the gateway's
            local time); default ``SMSDATA_TZ`` (``Asia/Shanghai``). Not ``tz``:
            that name is for the zone results are cut or shown in.
        progress: show a progress bar of bytes (tqdm, notebook-aware).
        workers: parsing threads; default ``min(2, CPUs)``.
        chunk_bytes: bytes parsed at a time per thread; peak memory is about
            8x this per thread plus 100 MiB (the default, 24 MiB: about 500 MiB).

    Returns:
        An :class:`IngestResult`; ``result.balanced`` is always true.

    Raises:
        IngestError: the source does not exist or matches nothing, a file
            cannot be read, the disk is full, or another ingest holds the
            dataset's lock.
        ConfigError: ``chunk_bytes`` or ``workers`` below 1 (also a ``ValueError``).

    >>> ingest_reports("receiver/", "warehouse")  # doctest: +SKIP
    IngestResult(files=1, lines=1200, ingested=1180, duplicates=12, quarantined=8, ...)
    """
    started = time.monotonic()
    at_least(chunk_bytes, "chunk_bytes")
    if workers is not None:
        at_least(workers, "workers")
    tz = known_zone(source_tz or default_tz(), "source_tz", error=IngestError)
    root = Path(dataset)
    files = [path for path in _sources.source_files(source) if not _inside(path, root)]
    reader: Reader | None = None
    opened = False
    try:
        with Dataset.open(root) as store:
            opened = True
            reader = Reader(
                store, *store.new_run(), tz=tz, workers=workers or min(2, os.cpu_count() or 1), chunk_bytes=chunk_bytes
            )
            checked = {path: _sources.check(path, _kind(path)) for path in files}
            skipped = tuple((str(path), why) for path, (_, why) in checked.items() if why)
            kinds = {path: kind for path, (kind, why) in checked.items() if not why}
            todo = [(path, kind, *store.start_of(path, kind)) for path, kind in kinds.items()]
            total = sum(max(path.stat().st_size - start, 0) for path, kind, start, _ in todo)
            with progress_bar(total=total, unit="B", unit_scale=True, desc="ingest", enabled=progress) as bar:
                for path, kind, start, lines in todo:
                    reader.read_file(path, kind, start, lines, bar)
            result = _finish(store, reader)
    except OSError as exc:  # a file unreadable, the disk full...
        where = f" ({exc.filename})" if exc.filename else ""
        if not opened:
            then = "finishing the run interrupted earlier did not complete; run it again"
        elif reader is not None and _pending(root) == reader.id:  # the commit is the rename of state.json
            then = "its reports are committed and are published by the next run: run it again"
        else:
            then = "nothing was committed, run it again"
        raise IngestError(f"ingest into {str(root)!r} failed{where}: {exc.strerror or exc}; {then}") from exc
    for path, why in skipped:
        log.warning("skipped %s: %s", path, why)
    return IngestResult(**result, seconds=time.monotonic() - started, skipped=skipped, recovered=store.recovered)


def _finish(store: Dataset, reader: Reader) -> dict[str, int]:
    """Dedupe and write what ``reader`` staged, commit the offsets, publish; the counts."""
    started = time.monotonic()
    deduper = Deduper(store, reader.id, reader.folder, workers=reader.workers)
    ingested = deduper.write(list(reader.day_rows)) if reader.staged_rows else 0
    log.info(
        "run %s: %d staged rows -> %d new in %.2f s",
        reader.id,
        reader.staged_rows,
        ingested,
        time.monotonic() - started,
    )
    if reader.offsets:
        fsync_tree(reader.folder)
        store.commit(reader.id, reader.offsets, ingested, sorted(deduper.compacted))
        _faults.reached("committed")  # the commit point: a kill here leaves publishing to the next run
        store.publish(reader.id)
    else:
        shutil.rmtree(reader.folder, ignore_errors=True)
    return {**reader.counts, "ingested": ingested, "duplicates": reader.staged_rows - ingested}


def _pending(root: Path) -> str | None:
    """The run ``state.json`` names as committed but not yet published, if it can be read."""
    try:
        return json.loads((root / "_ingest" / "state.json").read_text()).get("pending")
    except (OSError, ValueError):
        return None


def _kind(path: Path) -> str | None:
    try:
        return _sources.compression(path)
    except OSError as exc:
        raise IngestError(f"cannot read {str(path)!r}: {exc.strerror}") from exc


def read_reports(
    dataset: str | os.PathLike[str] = DEFAULT_DATASET,
    start: str | date | datetime | pd.Timestamp | None = None,
    end: str | date | datetime | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Reports of a dataset, optionally those with ``start <= report_time < end``.

    Only the date partitions that can hold matching reports are read.

    Args:
        dataset: the folder :func:`ingest_reports` wrote (default ``"warehouse"``).
        start, end: the window ``[start, end)`` of ``report_time``, times or dates;
            naive ones are UTC. (``start``/``end`` bound a window everywhere;
            ``as_of`` is the moment a KPI describes: reports after it do not exist
            for it.)

    Returns:
        A DataFrame with ``msgid``, ``mobile`` (11-digit text), ``status``
        (upper case, carriers' codes kept), ``outcome`` (``delivered`` or
        ``failed``), ``report_time`` and ``received_at`` (UTC, tz-aware;
        ``received_at`` is missing for lines not written by our receiver).

    Raises:
        IngestError: ``dataset`` does not exist.
        ConfigError: ``start`` or ``end`` is not a time.
    """
    folder = _existing(dataset) / "reports"
    lower, upper = utc_option(start, "start"), utc_option(end, "end")
    if not folder.is_dir():
        return no_reports()
    partitioning = pads.partitioning(pa.schema([("date", pa.string())]), flavor="hive")
    schema = _REPORTS_SCHEMA.append(pa.field("date", pa.string()))
    data = pads.dataset(folder, format="parquet", partitioning=partitioning, schema=schema)
    where = None
    if lower is not None:
        where = (pads.field("date") >= lower.strftime("%Y-%m-%d")) & (pads.field("report_time") >= lower)
    if upper is not None:
        below = (pads.field("date") <= upper.strftime("%Y-%m-%d")) & (pads.field("report_time") < upper)
        where = below if where is None else where & below
    return _frame(data.to_table(columns=REPORT_COLUMNS, filter=where), REPORT_COLUMNS)


def no_reports() -> pd.DataFrame:
    """An empty reports DataFrame, with the columns and types :func:`read_reports` returns."""
    return _frame(_REPORTS_SCHEMA.empty_table(), REPORT_COLUMNS)


def read_quarantine(dataset: str | os.PathLike[str] = DEFAULT_DATASET) -> pd.DataFrame:
    """Every quarantined line of a dataset (default ``"warehouse"``), by source file and line number.

    Returns:
        A DataFrame with ``line`` (the raw line; bytes that are not UTF-8
        written as ``\\xNN``), ``reason`` (see :mod:`smsdata.report_lines`),
        ``source`` (the file), ``line_number`` (from 1), ``offset`` (byte
        offset of the line in the file) and ``run`` (the ingest run). A line
        read twice (a tail read again after it was cut back) is listed once.

    Raises:
        IngestError: ``dataset`` does not exist.
    """
    folder = _existing(dataset) / "quarantine"
    if not folder.is_dir():
        return _frame(QUARANTINE_SCHEMA.empty_table(), QUARANTINE_SCHEMA.names)
    table = pads.dataset(folder, format="parquet", schema=QUARANTINE_SCHEMA).to_table()
    frame = _frame(table, QUARANTINE_SCHEMA.names)
    frame = frame.sort_values(["source", "line_number", "run"], kind="stable", ignore_index=True)
    # a tail read again after the receiver cut it back quarantines its bad lines again: once is enough
    return frame.drop_duplicates(["source", "offset", "line"], ignore_index=True)


# ------------------------------------------------------------------ helpers


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def _existing(dataset: str | os.PathLike[str]) -> Path:
    root = Path(dataset)
    if not root.is_dir():
        raise IngestError(f"no dataset at {str(root)!r}: run ingest_reports(source, {str(root)!r}) first")
    return root


def _frame(table: pa.Table, columns: list[str]) -> pd.DataFrame:
    """A table as a DataFrame with str columns and tz-aware UTC times."""
    frame = table.select(columns).to_pandas()
    for name in columns:
        if pa.types.is_string(table.schema.field(name).type):
            frame[name] = frame[name].astype("str")
    return frame
