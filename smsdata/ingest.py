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
   quarantined lines written, both in the run's own folder.
2. Each date drops its repeats of (msgid, mobile, status, report_time),
   within the run and against the parts already stored for it, and is
   written as one sorted Parquet part (:mod:`smsdata._partitions`), still
   inside the run's folder.
3. The new offsets are committed with one atomic rename of ``state.json``,
   naming the run as published-pending. This is the commit point.
4. The run's files are moved into ``reports/`` and ``quarantine/`` and the
   pending mark is cleared.

Killed before 3, the run's folder is deleted by the next run, which reads
the same bytes again; killed after 3, the next run finishes 4 first. Either
way the dataset ends as one clean run would have left it.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import itertools
import json
import logging
import os
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from . import _faults, _partitions, _records, _sources
from ._fs import dataset_lock, fsync_dir, read_state, write_state
from ._partitions import COMPACT_AT as COMPACT_AT  # how many parts a date keeps before compaction
from ._partitions import REPORT_COLUMNS
from ._partitions import REPORTS_SCHEMA as _REPORTS_SCHEMA
from ._progress import progress_bar
from ._times import utc
from .config import load_settings
from .errors import IngestError
from .report_lines import MAX_LINE_BYTES, ScannedChunk, parse_lines, scan_chunk

__all__ = ["IngestError", "IngestResult", "ingest_reports", "no_reports", "read_quarantine", "read_reports"]

log = logging.getLogger(__name__)

CHUNK_BYTES = 24 * 2**20
_OTHERS_BATCH = 1 * 2**20  # bytes of non-canonical lines parsed at a time
_STATE_VERSION = 1

QUARANTINE_SCHEMA = pa.schema(
    [
        ("line", pa.string()),
        ("reason", pa.string()),
        ("source", pa.string()),
        ("line_number", pa.int64()),
        ("offset", pa.int64()),
        ("run", pa.string()),
    ]
)


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
    dataset: str | os.PathLike[str],
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
        dataset: the dataset folder; created if missing.
        source_tz: IANA zone of naive report times; default ``SMSDATA_TZ``
            (``Asia/Shanghai``).
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
        ValueError: ``chunk_bytes`` or ``workers`` below 1.

    >>> ingest_reports("receiver/", "warehouse")  # doctest: +SKIP
    IngestResult(files=1, lines=1200, ingested=1180, duplicates=12, quarantined=8, ...)
    """
    started = time.monotonic()
    if chunk_bytes < 1 or (workers is not None and workers < 1):
        raise ValueError(f"chunk_bytes and workers must be at least 1, not {chunk_bytes} and {workers}")
    tz = source_tz or load_settings().tz
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise IngestError(f"source_tz={tz!r} is not a known time zone") from exc
    root = Path(dataset)
    files = [path for path in _sources.source_files(source) if not _inside(path, root)]
    run: _Run | None = None
    opened = False
    try:
        with _Dataset.open(root) as store:
            opened = True
            run = _Run(store, tz=tz, workers=workers or min(2, os.cpu_count() or 1), chunk_bytes=chunk_bytes)
            checked = {path: _sources.check(path, _kind(path)) for path in files}
            skipped = tuple((str(path), why) for path, (_, why) in checked.items() if why)
            kinds = {path: kind for path, (kind, why) in checked.items() if not why}
            todo = [(path, kind, *store.start_of(path, kind)) for path, kind in kinds.items()]
            total = sum(max(path.stat().st_size - start, 0) for path, kind, start, _ in todo)
            with progress_bar(total=total, unit="B", unit_scale=True, desc="ingest", enabled=progress) as bar:
                for path, kind, start, lines in todo:
                    run.read_file(path, kind, start, lines, bar)
            result = run.finish()
    except OSError as exc:  # a file unreadable, the disk full...
        where = f" ({exc.filename})" if exc.filename else ""
        if not opened:
            then = "finishing the run interrupted earlier did not complete; run it again"
        elif run is not None and _pending(root) == run.id:  # the commit is the rename of state.json
            then = "its reports are committed and are published by the next run: run it again"
        else:
            then = "nothing was committed, run it again"
        raise IngestError(f"ingest into {str(root)!r} failed{where}: {exc.strerror or exc}; {then}") from exc
    for path, why in skipped:
        log.warning("skipped %s: %s", path, why)
    return IngestResult(**result, seconds=time.monotonic() - started, skipped=skipped, recovered=store.recovered)


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
    dataset: str | os.PathLike[str],
    start: str | date | datetime | pd.Timestamp | None = None,
    end: str | date | datetime | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Reports of a dataset, optionally those with ``start <= report_time < end``.

    Only the date partitions that can hold matching reports are read.

    Args:
        dataset: the folder :func:`ingest_reports` wrote.
        start, end: times or dates; naive ones are UTC.

    Returns:
        A DataFrame with ``msgid``, ``mobile`` (11-digit text), ``status``
        (upper case, carriers' codes kept), ``outcome`` (``delivered`` or
        ``failed``), ``report_time`` and ``received_at`` (UTC, tz-aware;
        ``received_at`` is missing for lines not written by our receiver).

    Raises:
        IngestError: ``dataset`` does not exist.
    """
    folder = _existing(dataset) / "reports"
    lower, upper = utc(start), utc(end)
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


def read_quarantine(dataset: str | os.PathLike[str]) -> pd.DataFrame:
    """Every quarantined line of a dataset, by source file and line number.

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


# ------------------------------------------------------------------ sources


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


# ------------------------------------------------------------------ the dataset


class _Dataset:
    """The dataset folder: its lock, its committed state, and publishing runs into it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.work = root / "_ingest"
        self.state = self._load_state()
        # the files as read before this run: a rotated file is matched against these, even when
        # its old path now holds a new file
        self.read_before = {key: dict(entry) for key, entry in self.state["files"].items()}
        self.recovered = 0  # rows an interrupted run had committed, published by recover()

    @classmethod
    @contextlib.contextmanager
    def open(cls, root: Path) -> Iterator[_Dataset]:
        with dataset_lock(root / "_ingest", busy=f"another ingest is writing {str(root)!r}; try again when it ends"):
            store = cls(root)
            store.recover()
            yield store

    @property
    def state_path(self) -> Path:
        return self.work / "state.json"

    def _load_state(self) -> dict[str, Any]:
        empty = {"version": _STATE_VERSION, "files": {}, "pending": None}
        return read_state(self.state_path, version=_STATE_VERSION, empty=empty)

    def save_state(self) -> None:
        """Replace state.json atomically and durably."""
        write_state(self.state_path, self.state)

    def recover(self) -> None:
        """Finish publishing a committed run; delete the work of runs never committed."""
        pending = self.state.get("pending")
        if pending:
            self.recovered = int(self.state.get("pending_rows", 0))
            log.warning("publishing run %s, committed but interrupted: %d reports", pending, self.recovered)
            self.publish(pending)
        for leftover in self.work.glob("run-*"):
            log.info("removing unfinished ingest run %s", leftover.name)
            shutil.rmtree(leftover, ignore_errors=True)

    def start_of(self, path: Path, kind: str | None) -> tuple[int, int]:
        """Where to resume reading ``path``: ``(offset, lines)`` of its latest checkpoint whose bytes
        are unchanged; ``(0, 0)`` when it is new, was replaced (its head changed) or nothing before
        the saved offset is as it was. A compressed file is read whole again if it changed.

        A file met for the first time that is a file already read under another name (log
        rotation renamed it: same device and inode) continues where it was read, after the
        usual checks of its bytes.
        """
        key = str(path.resolve())
        try:
            entry = self.state["files"].get(key) or (self._renamed_from(path) if kind is None else None)
            if not entry:
                return 0, 0
            self.state["files"][key] = entry
            point = self._resume(path, kind, entry)
        except OSError as exc:
            raise IngestError(f"cannot read {str(path)!r}: {exc.strerror}") from exc
        if point is None:
            log.warning("%s was truncated or replaced since the last ingest: reading it from the start", path)
            self.state["files"].pop(key)
            return 0, 0
        if point[0] < entry["offset"]:
            log.warning(
                "%s changed before the saved offset %d (cut back and rewritten): reading it again from %d",
                path,
                entry["offset"],
                point[0],
            )
        return point

    def _resume(self, path: Path, kind: str | None, entry: dict[str, Any]) -> tuple[int, int] | None:
        """The verified point to resume ``path`` from by its state ``entry``; ``None`` if none holds."""
        with _sources.open_log(path, kind) as f:
            same_head = _sources.digest(f.read(entry["head_len"])) == entry["head"]
        if not same_head:
            return None
        if "checkpoints" in entry:
            return _sources.resume_point(path, kind, entry["checkpoints"])
        if kind is not None:  # compressed files are rewritten, not appended: whole, or not at all
            return (int(entry["offset"]), int(entry["lines"])) if path.stat().st_size == entry.get("size") else None
        # a state written before checkpoints: trust the offset, as then
        entry["checkpoints"] = [[entry["offset"], entry["lines"], None]]
        return (int(entry["offset"]), int(entry["lines"])) if path.stat().st_size >= entry["offset"] else None

    def _renamed_from(self, path: Path) -> dict[str, Any] | None:
        """The state of a file read before under another name that is this very file (same device
        and inode: log rotation renamed it); a copy for ``path`` to continue. Only the file
        itself: a copy or a compressed version holds bytes that cannot all be checked without
        reading them, so those are read whole (their repeats are duplicates)."""
        info = path.stat()
        for other, entry in self.read_before.items():
            if entry.get("inode") == [info.st_dev, info.st_ino] and other != str(path.resolve()):
                log.info("%s is %s renamed (log rotation): continuing where it was read", path, other)
                return {**entry, "renamed_from": other}
        return None

    def checkpoints_of(self, path: Path) -> list[list[Any]]:
        entry = self.state["files"].get(str(path.resolve()))
        return list(entry.get("checkpoints", [])) if entry else []

    def commit(self, run: str, offsets: dict[str, dict[str, Any]], rows: int, compacted: list[str]) -> None:
        self.state["files"].update(offsets)
        self.state["pending"] = run
        self.state["pending_rows"] = rows  # what a rerun after a kill here says it published
        self.state["pending_compacted"] = compacted  # days whose folder the run's replaces whole
        self.save_state()

    def publish(self, run: str) -> None:
        """Move a committed run's files into place (idempotent), then clear the pending mark.

        A day the run compacted is swapped whole: its stored folder moves into the run's
        folder, the compacted one takes its place (two renames: the day is never doubled).
        """
        folder = self.work / f"run-{run}"
        for day in self.state.get("pending_compacted", []):
            for tree in ("reports", "_keys"):  # the day's parts, then their sidecars
                new, old = folder / tree / f"date={day}", self.root / tree / f"date={day}"
                if new.is_dir():
                    if old.is_dir():
                        (folder / "replaced" / tree).mkdir(parents=True, exist_ok=True)
                        os.replace(old, folder / "replaced" / tree / old.name)
                    old.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(new, old)
                    fsync_dir(old.parent)
        for kind in ("reports", "_keys", "quarantine"):
            for part in sorted(p for p in (folder / kind).rglob("*") if p.is_file()):
                target = self.root / kind / part.relative_to(folder / kind)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(part, target)
                fsync_dir(target.parent)
                _faults.reached("published")  # one file of a committed run in place, the rest not yet
        self.state["pending"] = None
        self.state.pop("pending_rows", None)
        self.state.pop("pending_compacted", None)
        self.save_state()
        shutil.rmtree(folder, ignore_errors=True)

    def stored_files(self, day: str) -> list[Path]:
        """Parquet files already published in the partition of ``day`` (YYYY-MM-DD)."""
        return sorted((self.root / "reports" / f"date={day}").glob("*.parquet"))


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with path.open("rb") as f:
                os.fsync(f.fileno())
        elif path.is_dir():
            fsync_dir(path)


# ------------------------------------------------------------------ one run


class _Run:
    """Reads, parses and stages new lines, then dedupes, commits and publishes them."""

    def __init__(self, store: _Dataset, *, tz: str, workers: int, chunk_bytes: int) -> None:
        self.store = store
        self.chunk_bytes = chunk_bytes
        self.tz = tz
        self.workers = workers
        self.id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)
        self.folder = store.work / f"run-{self.id}"
        (self.folder / "staged").mkdir(parents=True)
        (self.folder / "quarantine").mkdir()
        self.offsets: dict[str, dict[str, Any]] = {}
        self.counts = {"files": 0, "lines": 0, "quarantined": 0, "bytes": 0}
        self.staged_rows = 0
        self._quarantine_parts = 0
        self.day_rows: dict[str, int] = {}
        self._lock = threading.Lock()
        self.compacted: set[str] = set()

    # -- reading

    def read_file(self, path: Path, kind: str | None, start: int, lines: int, bar: Any) -> None:
        """Parse ``path`` (its log bytes, decompressed if ``kind``) from byte ``start`` (line
        ``lines``) to its last complete line."""
        key = str(path.resolve())
        cursor = _Cursor(path, start, lines)
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            cursor.pool = pool
            pending: list[tuple[Future[ScannedChunk] | None, int, list[tuple[int, bytes]]]] = []
            # a chunk's buffer is reused once workers + 2 more are read: by then it was accounted for
            chunks = _chunks(path, kind, start, self.chunk_bytes, buffers=self.workers + 2)
            for offset, chunk, too_long in chunks:
                future = pool.submit(self._scan, chunk) if len(chunk) else None
                pending.append((future, offset, too_long))
                while len(pending) > self.workers:  # bounded memory: at most workers + 1 chunks
                    self._account(cursor, *pending.pop(0))
                bar.update(offset + len(chunk) - cursor.position)
                cursor.position = offset + len(chunk)
            for item in pending:
                self._account(cursor, *item)
            self._parse_others(cursor)
            for batch in cursor.batches:
                batch.result()
        if cursor.position > start:
            self.offsets[key] = self._entry(path, kind, cursor)
            self.counts["files"] += 1
            self.counts["bytes"] += cursor.position - start

    def _entry(self, path: Path, kind: str | None, cursor: _Cursor) -> dict[str, Any]:
        """What the state keeps of a file read up to ``cursor``: offset, lines, head, checkpoints."""
        with _sources.open_log(path, kind) as f:
            head = f.read(min(_sources.HEAD_BYTES, cursor.position))
        entry = {"offset": cursor.position, "lines": cursor.lines, "head_len": len(head), "head": _sources.digest(head)}
        if kind is None:
            boundaries = [*cursor.boundaries, (cursor.position, cursor.lines)]
            entry["checkpoints"] = _sources.checkpoints(path, boundaries, self.store.checkpoints_of(path))
            info = path.stat()
            entry["inode"] = [info.st_dev, info.st_ino]  # a rename keeps it
        else:
            entry["size"] = path.stat().st_size
        return entry

    def _scan(self, chunk: memoryview) -> ScannedChunk:
        """Scan a chunk and stage its canonical reports by date (on a worker thread: the
        compiled scanner, numpy and Arrow release the GIL)."""
        scanned = scan_chunk(chunk, source_tz=self.tz)
        self._stage(scanned.records)
        return scanned

    def _count(self, name: str, number: int) -> None:
        with self._lock:  # counted from the main thread and the workers
            self.counts[name] += number

    def _stage(self, records: np.ndarray) -> None:
        counts = _partitions.stage(records, self.folder / "staged")
        _faults.reached("staged")  # a chunk's rows staged in the run's folder, nothing committed
        with self._lock:
            self.staged_rows += len(records)
            for day, count in counts.items():
                self.day_rows[day] = self.day_rows.get(day, 0) + count

    def _account(
        self, cursor: _Cursor, future: Future[ScannedChunk] | None, offset: int, too_long: list[tuple[int, bytes]]
    ) -> None:
        """Account for one chunk, in file order: its over-long lines first, then its lines.

        The lines the scanner left wait in ``cursor.others`` with their line numbers and
        offsets, to be parsed in batches (the general rules cost ~35 ms a call, whatever
        the number of lines).
        """
        if too_long:
            lines = pd.Series([head.decode("utf-8", "backslashreplace") + "..." for _, head in too_long])
            numbers = cursor.lines + 1 + np.arange(len(too_long))
            offsets = np.array([at for at, _ in too_long])
            self._write_quarantine(lines, pd.Series(["line_too_long"] * len(lines)), cursor.path, numbers, offsets)
            self._count("lines", len(too_long))
            cursor.lines += len(too_long)
        if future is None:
            return
        cursor.boundaries.append((offset, cursor.lines))  # a line start: a checkpoint candidate
        scanned = future.result()
        self._count("lines", len(scanned.starts) - len(scanned.rest))
        if len(scanned.too_long):
            index = scanned.too_long["index"].to_numpy()
            self._write_quarantine(
                scanned.too_long["line"],
                scanned.too_long["reason"],
                cursor.path,
                cursor.lines + 1 + index,
                offset + scanned.starts[index],
            )
        if len(scanned.rest):
            cursor.others.append(
                (scanned.rest_lines, cursor.lines + 1 + scanned.rest, offset + scanned.starts[scanned.rest])
            )
            cursor.other_bytes += len(scanned.rest_lines)
        cursor.lines += len(scanned.starts)
        if cursor.other_bytes >= _OTHERS_BATCH:
            self._parse_others(cursor)
        _release_memory()

    def _parse_others(self, cursor: _Cursor) -> None:
        """Parse the lines the scanner left, on a worker: rows staged, the rest quarantined."""
        if not cursor.others:
            return
        data = b"".join(lines for lines, _, _ in cursor.others)
        numbers = np.concatenate([numbers for _, numbers, _ in cursor.others])
        offsets = np.concatenate([offsets for _, _, offsets in cursor.others])
        cursor.others.clear()
        cursor.other_bytes = 0
        # batches of about _OTHERS_BATCH bytes, cut at line ends: the general parser's memory
        # grows with its input (a chunk of nothing but odd lines is 24 MiB of them)
        ends = np.flatnonzero(np.frombuffer(data, np.uint8) == 10) + 1
        cuts = np.unique(np.searchsorted(ends, np.arange(_OTHERS_BATCH, len(data), _OTHERS_BATCH), side="right"))
        view = memoryview(data)
        for first, last in itertools.pairwise([0, *cuts[(cuts > 0) & (cuts < len(ends))], len(ends)]):
            start = int(ends[first - 1]) if first else 0
            piece = view[start : int(ends[last - 1])]
            batch = (cursor.path, piece, numbers[first:last], offsets[first:last])
            cursor.batches.append(cursor.pool.submit(self._parse_batch, *batch))
            waiting = [future for future in cursor.batches if not future.done()]
            if len(waiting) > 2 * self.workers:  # bounded memory: the reader waits for the parser
                waiting[0].result()

    def _parse_batch(self, path: Path, data: memoryview, numbers: np.ndarray, offsets: np.ndarray) -> None:
        parsed = parse_lines(data, source_tz=self.tz)
        self._stage(_records.from_table(parsed.rows))
        self._count("lines", parsed.records)
        quarantine = parsed.quarantine
        if len(quarantine):
            index = quarantine["index"].to_numpy()
            lines, reasons = quarantine["line"], quarantine["reason"]
            self._write_quarantine(lines, reasons, path, numbers[index], offsets[index])

    def _write_quarantine(
        self, lines: pd.Series, reasons: pd.Series, path: Path, numbers: np.ndarray, offsets: np.ndarray
    ) -> None:
        table = pa.table(
            {
                "line": pa.array(lines, type=pa.string()),
                "reason": pa.array(reasons, type=pa.string()),
                "source": pa.array([str(path)] * len(lines), type=pa.string()),
                "line_number": pa.array(numbers, type=pa.int64()),
                "offset": pa.array(offsets, type=pa.int64()),
                "run": pa.array([self.id] * len(lines), type=pa.string()),
            },
            schema=QUARANTINE_SCHEMA,
        )
        with self._lock:  # quarantine is written from the main thread and the workers
            self._quarantine_parts += 1
            self.counts["quarantined"] += len(lines)
            name = f"part-{self.id}-{self._quarantine_parts:06d}.parquet"
        pq.write_table(table, self.folder / "quarantine" / name)

    # -- finishing

    def finish(self) -> dict[str, int]:
        """Dedupe and write the staged rows, commit the offsets, publish; the counts."""
        started = time.monotonic()
        ingested = self._dedupe() if self.staged_rows else 0
        log.info(
            "run %s: %d staged rows -> %d new in %.2f s",
            self.id,
            self.staged_rows,
            ingested,
            time.monotonic() - started,
        )
        if self.offsets:
            _fsync_tree(self.folder)
            self.store.commit(self.id, self.offsets, ingested, sorted(self.compacted))
            _faults.reached("committed")  # the commit point: a kill here leaves publishing to the next run
            self.store.publish(self.id)
        else:
            shutil.rmtree(self.folder, ignore_errors=True)
        return {**self.counts, "ingested": ingested, "duplicates": self.staged_rows - ingested}

    def _dedupe(self) -> int:
        """Write the staged rows not already stored, once each, by UTC date; their count.

        A repeat has the same date as the row it repeats: each date is finished on its
        own (:func:`smsdata._partitions.finish_day`), on the worker threads.
        """
        staged = self.folder / "staged"

        def finish(day: str) -> int:
            stored = self.store.stored_files(day)
            target = self.folder / "reports" / f"date={day}" / f"part-{self.id}.parquet"
            written, compacted = _partitions.finish_day(staged / day, stored, target)
            _release_memory()
            if compacted:
                with self._lock:
                    self.compacted.add(day)
                log.info("compacted %d parts of %s into one", len(stored), day)
            return written

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            written = sum(pool.map(finish, sorted(self.day_rows)))
        shutil.rmtree(staged)  # before the run's files are synced: staged rows are never kept
        return written


@dataclass
class _Cursor:
    """How far a file has been accounted for: bytes and lines, and the line starts passed."""

    path: Path
    position: int
    lines: int
    boundaries: list[tuple[int, int]] = field(default_factory=list)
    # lines left by the scanner, waiting for the general parser: (bytes, line numbers, offsets)
    others: list[tuple[bytes, np.ndarray, np.ndarray]] = field(default_factory=list)
    other_bytes: int = 0
    pool: ThreadPoolExecutor | None = None
    batches: list[Future[None]] = field(default_factory=list)


def _release_memory() -> None:
    """Give freed memory back to the system, after each chunk and each date.

    Arrow's allocator and the C library's keep freed pages for reuse (glibc even raises
    its threshold for mapping big blocks once one is freed, so the next land in its heap),
    and over a long run the pages kept add up to more than the run ever holds at once:
    peak memory would grow with the size of the log instead of staying flat.
    """
    pa.default_memory_pool().release_unused()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _libc() -> Any:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:  # not glibc (macOS, musl...): nothing to trim
        return None


_LIBC = _libc()


def _chunks(
    path: Path, kind: str | None, start: int, chunk_bytes: int, *, buffers: int
) -> Iterator[tuple[int, memoryview, list[tuple[int, bytes]]]]:
    """``(offset, bytes, too_long)`` runs of complete lines from ``start`` to the last newline.

    Each run is read straight into a buffer (no copies of the bulk); ``buffers``
    buffers are used in turn, so a run's bytes stay valid until ``buffers - 1``
    more runs have been handed out (reusing them saves zeroing fresh memory each
    time). A buffer read without handing out a run (the middle of a long line) is
    read into again.
    ``too_long`` lists ``(offset, first KiB)`` of lines over MAX_LINE_BYTES met
    just before the run; they are skipped, never held whole.
    """
    ring = [bytearray(chunk_bytes + MAX_LINE_BYTES + 1) for _ in range(buffers)]
    with _sources.open_log(path, kind) as f:
        f.seek(start)
        offset = start
        carry = b""
        too_long: list[tuple[int, bytes]] = []
        skipping: tuple[int, bytes] | None = None
        turn = 0  # the next buffer: it moves on only when a run is handed out
        while True:
            buffer = ring[turn % buffers]
            buffer[: len(carry)] = carry
            view = memoryview(buffer)
            got = f.readinto(view[len(carry) : len(carry) + chunk_bytes])
            if not got:
                break
            size = len(carry) + got
            begin = 0
            if skipping is not None:
                newline = buffer.find(b"\n", 0, size)
                if newline < 0:
                    offset += size
                    continue
                too_long.append(skipping)
                skipping = None
                offset += newline + 1
                begin = newline + 1
            cut = buffer.rfind(b"\n", begin, size) + 1
            if cut:
                yield offset, view[begin:cut], too_long
                turn += 1
                too_long = []
                offset += cut - begin
                carry = bytes(view[cut:size])
            else:
                carry = bytes(view[begin:size])
            if len(carry) > MAX_LINE_BYTES:
                skipping = (offset, carry[:1024])
                offset += len(carry)
                carry = b""
        if too_long:  # an over-long line still open at the end waits, like any unfinished line
            yield (skipping[0] if skipping else offset), memoryview(b""), too_long
