"""Raw report logs -> a hive-partitioned Parquet dataset, incrementally, losing nothing.

Layout of a dataset directory::

    reports/date=YYYY-MM-DD/part-<run>-<n>.parquet   one row per distinct report (UTC date)
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
   threads; rows and quarantined lines go to the run's own folder.
2. DuckDB drops repeats of (msgid, mobile, status, report_time), within the
   run and against the partitions already stored for the same dates, and
   writes the new rows partitioned by date, still inside the run's folder.
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
import fcntl
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
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from . import _faults, _sources
from ._fs import fsync_dir
from ._progress import progress_bar
from .config import load_settings
from .errors import IngestError
from .report_lines import MAX_LINE_BYTES, ROW_SCHEMA, ParsedChunk, parse_chunk

__all__ = ["IngestError", "IngestResult", "ingest_reports", "no_reports", "read_quarantine", "read_reports"]

log = logging.getLogger(__name__)

CHUNK_BYTES = 48 * 2**20
COMPACT_AT = 8
"""A day with this many part files is rewritten as one at the next run that adds to it."""
# Sorted parts in row groups of 64 Ki rows: a run's look-up of stored keys reads only the groups whose
# report times overlap its own.
_PARQUET = "FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, ROW_GROUP_SIZE 65536"
_STATE_VERSION = 1

REPORT_COLUMNS = ["msgid", "mobile", "status", "outcome", "report_time", "received_at"]
_REPORTS_SCHEMA = pa.schema([*ROW_SCHEMA, pa.field("outcome", pa.string())])
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
        chunk_bytes: bytes parsed at a time per thread; peak memory is
            about 6x this per thread (the default, 48 MiB, stays under 1 GiB).

    Returns:
        An :class:`IngestResult`; ``result.balanced`` is always true.

    Raises:
        IngestError: the source does not exist or matches nothing, a file
            cannot be read, or another ingest holds the dataset's lock.

    >>> ingest_reports("receiver/", "warehouse")  # doctest: +SKIP
    IngestResult(files=1, lines=1200, ingested=1180, duplicates=12, quarantined=8, ...)
    """
    started = time.monotonic()
    tz = source_tz or load_settings().tz
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise IngestError(f"source_tz={tz!r} is not a known time zone") from exc
    root = Path(dataset)
    files = [path for path in _sources.source_files(source) if not _inside(path, root)]
    with _Dataset.open(root) as store:
        run = _Run(store, tz=tz, workers=workers or min(2, os.cpu_count() or 1), chunk_bytes=chunk_bytes)
        checked = {path: _sources.check(path, _kind(path)) for path in files}
        skipped = tuple((str(path), why) for path, (_, why) in checked.items() if why)
        kinds = {path: kind for path, (kind, why) in checked.items() if not why}
        todo = [(path, kind, *store.start_of(path, kind)) for path, kind in kinds.items()]
        total = sum(max(path.stat().st_size - start, 0) for path, kind, start, _ in todo)
        try:
            with progress_bar(total=total, unit="B", unit_scale=True, desc="ingest", enabled=progress) as bar:
                for path, kind, start, lines in todo:
                    run.read_file(path, kind, start, lines, bar)
            result = run.finish()
        except OSError as exc:  # a file unreadable, the disk full...: nothing was committed
            where = f" ({exc.filename})" if exc.filename else ""
            raise IngestError(
                f"ingest into {str(root)!r} failed{where}: {exc.strerror or exc}; nothing was committed, run it again"
            ) from exc
    for path, why in skipped:
        log.warning("skipped %s: %s", path, why)
    return IngestResult(**result, seconds=time.monotonic() - started, skipped=skipped, recovered=store.recovered)


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
    lower, upper = _utc(start), _utc(end)
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


def _utc(value: str | date | datetime | pd.Timestamp | None) -> pd.Timestamp | None:
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


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
        self.recovered = 0  # rows an interrupted run had committed, published by recover()

    @classmethod
    @contextlib.contextmanager
    def open(cls, root: Path) -> Iterator[_Dataset]:
        try:
            (root / "_ingest").mkdir(parents=True, exist_ok=True)
            lock = (root / "_ingest" / "lock").open("a")
        except OSError as exc:
            raise IngestError(f"cannot use {str(root)!r} as a dataset: {exc.strerror}") from exc
        try:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise IngestError(f"another ingest is writing {str(root)!r}; try again when it ends") from None
            store = cls(root)
            store.recover()
            yield store
        finally:
            lock.close()

    @property
    def state_path(self) -> Path:
        return self.work / "state.json"

    def _load_state(self) -> dict[str, Any]:
        try:
            state = json.loads(self.state_path.read_text())
        except FileNotFoundError:
            return {"version": _STATE_VERSION, "files": {}, "pending": None}
        except (OSError, ValueError) as exc:
            raise IngestError(f"cannot read {self.state_path}: {exc}") from exc
        if state.get("version") != _STATE_VERSION:
            raise IngestError(f"{self.state_path} was written by another smsdata version")
        return state

    def save_state(self) -> None:
        """Replace state.json atomically and durably."""
        tmp = self.state_path.with_suffix(".tmp")
        with tmp.open("w") as out:
            json.dump(self.state, out, indent=1, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.state_path)
        fsync_dir(self.work)

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
        the saved offset is as it was. A compressed file is read whole again if it changed."""
        key = str(path.resolve())
        entry = self.state["files"].get(key)
        if not entry:
            return 0, 0
        try:
            with _sources.open_log(path, kind) as f:
                head = f.read(entry["head_len"])
            same_head = _sources.digest(head) == entry["head"]
            if kind is not None:  # compressed files are rewritten, not appended: whole, or not at all
                unchanged = same_head and path.stat().st_size == entry.get("size")
                return (int(entry["offset"]), int(entry["lines"])) if unchanged else (0, 0)
            if "checkpoints" not in entry:  # a state written before checkpoints: trust the offset, as then
                entry["checkpoints"] = [[entry["offset"], entry["lines"], None]] if same_head else []
                fits = same_head and path.stat().st_size >= entry["offset"]
                point = (int(entry["offset"]), int(entry["lines"])) if fits else None
            else:
                point = _sources.resume_point(path, entry["checkpoints"]) if same_head else None
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
            new, old = folder / "reports" / f"date={day}", self.root / "reports" / f"date={day}"
            if new.is_dir():
                if old.is_dir():
                    (folder / "replaced").mkdir(exist_ok=True)
                    os.replace(old, folder / "replaced" / old.name)
                os.replace(new, old)
                fsync_dir(old.parent)
        for kind in ("reports", "quarantine"):
            for part in sorted((folder / kind).rglob("*.parquet")):
                target = self.root / kind / part.relative_to(folder / kind)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(part, target)
                fsync_dir(target.parent)
        self.state["pending"] = None
        self.state.pop("pending_rows", None)
        self.state.pop("pending_compacted", None)
        self.save_state()
        shutil.rmtree(folder, ignore_errors=True)

    def stored_files(self, day: str) -> list[str]:
        """Parquet files already published in the partition of ``day`` (YYYY-MM-DD)."""
        return [str(p) for p in sorted((self.root / "reports" / f"date={day}").glob("*.parquet"))]


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
        self.ranges: dict[str, tuple[Any, Any]] = {}
        self._ranges_lock = threading.Lock()
        self.compacted: set[str] = set()

    # -- reading

    def read_file(self, path: Path, kind: str | None, start: int, lines: int, bar: Any) -> None:
        """Parse ``path`` (its log bytes, decompressed if ``kind``) from byte ``start`` (line
        ``lines``) to its last complete line."""
        key = str(path.resolve())
        cursor = _Cursor(path, start, lines)
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            pending: list[tuple[Future[ParsedChunk] | None, int, list[tuple[int, bytes]]]] = []
            for offset, chunk, too_long in _chunks(path, kind, start, self.chunk_bytes):
                future = pool.submit(self._parse, chunk) if len(chunk) else None
                pending.append((future, offset, too_long))
                while len(pending) > self.workers:  # bounded memory: at most workers + 1 chunks
                    self._stage(cursor, *pending.pop(0))
                bar.update(offset + len(chunk) - cursor.position)
                cursor.position = offset + len(chunk)
            for item in pending:
                self._stage(cursor, *item)
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
        else:
            entry["size"] = path.stat().st_size
        return entry

    def _parse(self, chunk: memoryview) -> ParsedChunk:
        """Parse a chunk and stage its rows (on a worker thread: numpy and Arrow release the GIL)."""
        parsed = parse_chunk(chunk, source_tz=self.tz)
        name = f"rows-{secrets.token_hex(8)}.parquet"
        for day, rows in _by_day(parsed.rows):
            folder = self.folder / "staged" / day
            folder.mkdir(exist_ok=True)
            times = pc.min_max(rows.column("report_time"))
            with self._ranges_lock:  # the staged times of each day: what stored rows a repeat can match
                low, high = self.ranges.get(day, (times["min"].as_py(), times["max"].as_py()))
                self.ranges[day] = (min(low, times["min"].as_py()), max(high, times["max"].as_py()))
            # Uncompressed: staged rows are read once by DuckDB, then deleted.
            pq.write_table(rows, folder / name, compression="none")
        return parsed

    def _stage(
        self, cursor: _Cursor, future: Future[ParsedChunk] | None, offset: int, too_long: list[tuple[int, bytes]]
    ) -> None:
        """Account for one chunk, in file order: its over-long lines first, then its lines."""
        if too_long:
            lines = pd.Series([head.decode("utf-8", "backslashreplace") + "..." for _, head in too_long])
            numbers = cursor.lines + 1 + np.arange(len(too_long))
            offsets = np.array([at for at, _ in too_long])
            self._write_quarantine(lines, pd.Series(["line_too_long"] * len(lines)), cursor.path, numbers, offsets)
            self.counts["lines"] += len(too_long)
            cursor.lines += len(too_long)
        if future is None:
            return
        cursor.boundaries.append((offset, cursor.lines))  # a line start: a checkpoint candidate
        parsed = future.result()
        self.counts["lines"] += parsed.records
        self.staged_rows += parsed.rows.num_rows
        quarantine = parsed.quarantine
        if len(quarantine):
            index = quarantine["index"].to_numpy()
            numbers = cursor.lines + 1 + index
            self._write_quarantine(
                quarantine["line"], quarantine["reason"], cursor.path, numbers, offset + parsed.starts[index]
            )
        cursor.lines += len(parsed.starts)

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
        self._quarantine_parts += 1
        pq.write_table(table, self.folder / "quarantine" / f"part-{self.id}-{self._quarantine_parts:06d}.parquet")
        self.counts["quarantined"] += len(lines)

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

        Rows were staged by date, and a repeat has the same date as the row it
        repeats: each date is deduplicated on its own, against only the
        partition stored for it, so memory follows the largest day, not the run.
        """
        from ._duck import connect

        written = 0
        con = connect(
            threads=max(self.workers, 1),
            memory_limit="512MB",
            preserve_insertion_order=False,
            temp_directory=str(self.folder / "spill"),
        )
        try:
            for day in sorted(p.name for p in (self.folder / "staged").iterdir()):
                written += self._dedupe_day(con, day)
        finally:
            con.close()
        return written

    def _dedupe_day(self, con: Any, day: str) -> int:
        """Write ``day``'s staged rows not already stored, once each, sorted by report time.

        Only the stored rows a repeat could match are read: those with a report time in the
        staged range (the parts are sorted, so Parquet statistics skip the rest), so a run costs
        in proportion to its new lines, not to the day's partition. When the day has
        :data:`COMPACT_AT` parts, the run writes the whole day as one file instead, which
        replaces the folder at publishing.
        """
        target = self.folder / "reports" / f"date={day}" / f"part-{self.id}.parquet"
        target.parent.mkdir(parents=True)
        staged = self.folder / "staged" / day / "*.parquet"
        stored = self.store.stored_files(day)
        files = ", ".join(f"'{_sql(f)}'" for f in stored)
        low, high = self.ranges[day]
        anti = (
            f"""ANTI JOIN (
                SELECT msgid, mobile, status, report_time FROM read_parquet([{files}])
                WHERE report_time BETWEEN $low AND $high
            ) AS old
            ON new.msgid = old.msgid AND new.mobile = old.mobile
            AND new.status = old.status AND new.report_time = old.report_time"""  # noqa: S608 (our paths)
            if stored
            else ""
        )
        new_rows = f"""
            SELECT new.* FROM (
                SELECT msgid, mobile, status,
                       CASE WHEN status = 'DELIVRD' THEN 'delivered' ELSE 'failed' END AS outcome,
                       report_time, min(received_at) AS received_at
                FROM read_parquet('{_sql(str(staged))}')
                GROUP BY msgid, mobile, status, report_time
            ) AS new
            {anti}
        """  # noqa: S608
        params = {"low": low, "high": high} if stored else {}
        import duckdb

        try:
            if len(stored) + 1 >= COMPACT_AT:
                return self._compact_day(con, day, new_rows, params, stored, target)
            # Paths are our own folders, quoted by _sql: COPY TO cannot take parameters.
            query = f"COPY ({new_rows} ORDER BY report_time) TO '{_sql(str(target))}' ({_PARQUET})"
            count = con.execute(query, params).fetchone()
        except duckdb.Error as exc:
            raise IngestError(f"deduplicating the reports of {day} failed: {exc}") from None
        written = int(count[0]) if count else 0
        if not written:
            shutil.rmtree(target.parent)
        return written

    def _compact_day(
        self, con: Any, day: str, new_rows: str, params: dict[str, Any], stored: list[str], target: Path
    ) -> int:
        """The day's stored rows and its new ones as one sorted file; the new rows' count."""
        con.execute(f"CREATE OR REPLACE TEMP TABLE fresh AS {new_rows}", params)
        (written,) = con.execute("SELECT count(*) FROM fresh").fetchone()
        files = ", ".join(f"'{_sql(f)}'" for f in stored)
        columns = ", ".join(REPORT_COLUMNS)
        con.execute(
            f"""COPY (
                SELECT * FROM (SELECT * FROM fresh UNION ALL SELECT {columns} FROM read_parquet([{files}]))
                ORDER BY report_time
            ) TO '{_sql(str(target))}' ({_PARQUET})"""  # noqa: S608
        )
        con.execute("DROP TABLE fresh")
        self.compacted.add(day)
        log.info("compacted %d parts of %s into one", len(stored), day)
        return int(written)


def _by_day(rows: pa.Table) -> Iterator[tuple[str, pa.Table]]:
    """Rows grouped by the UTC date of their report_time."""
    if not rows.num_rows:
        return
    days = rows.column("report_time").cast(pa.int64()).to_numpy() // 86_400_000_000
    order = np.argsort(days, kind="stable")
    days = days[order]
    rows = rows.take(pa.array(order))  # one gather, then zero-copy slices
    bounds = [0, *(np.flatnonzero(np.diff(days)) + 1), len(days)]
    for start, stop in itertools.pairwise(bounds):
        yield str(np.datetime64(int(days[start]), "D")), rows.slice(start, stop - start)


def _sql(text: str) -> str:
    """A path as the body of a SQL string literal."""
    return text.replace("'", "''")


@dataclass
class _Cursor:
    """How far a file has been accounted for: bytes and lines, and the line starts passed."""

    path: Path
    position: int
    lines: int
    boundaries: list[tuple[int, int]] = field(default_factory=list)


def _chunks(
    path: Path, kind: str | None, start: int, chunk_bytes: int
) -> Iterator[tuple[int, memoryview, list[tuple[int, bytes]]]]:
    """``(offset, bytes, too_long)`` runs of complete lines from ``start`` to the last newline.

    Each run is read straight into its own buffer (no copies of the bulk).
    ``too_long`` lists ``(offset, first KiB)`` of lines over MAX_LINE_BYTES met
    just before the run; they are skipped, never held whole.
    """
    with _sources.open_log(path, kind) as f:
        f.seek(start)
        offset = start
        carry = b""
        too_long: list[tuple[int, bytes]] = []
        skipping: tuple[int, bytes] | None = None
        while True:
            buffer = bytearray(len(carry) + chunk_bytes)
            buffer[: len(carry)] = carry
            view = memoryview(buffer)
            got = f.readinto(view[len(carry) :])
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
