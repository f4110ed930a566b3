"""Reading an ingest run's new lines: chunks of complete lines, parsed on worker threads,
rows staged by date, the rest quarantined (the first half of a run; see :mod:`smsdata.ingest`).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import _faults, _partitions, _records, _sources
from ._ingest_dataset import Dataset
from ._line_scanner import ScannedChunk, scan_chunk
from ._memory import release_memory
from .report_lines import MAX_LINE_BYTES, parse_lines

__all__ = ["QUARANTINE_SCHEMA", "Cursor", "Reader", "read_chunks"]

_OTHERS_BATCH = 1 * 2**20  # bytes of non-canonical lines parsed at a time

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


class Reader:
    """The first half of an ingest run: reads new lines, parses them, stages rows by date and
    quarantines the rest, in the run's folder. What it staged is deduplicated by
    :class:`smsdata._ingest_dataset.Deduper`.

    Attributes:
        offsets: per file read, what the state is to keep of it (offset, lines, head, checkpoints).
        counts: ``files``, ``lines``, ``quarantined`` and ``bytes`` read.
        staged_rows: rows staged; ``day_rows``: of those, per UTC date.
    """

    def __init__(self, store: Dataset, run: str, folder: Path, *, tz: str, workers: int, chunk_bytes: int) -> None:
        self.store = store
        self.id = run
        self.folder = folder
        self.chunk_bytes = chunk_bytes
        self.tz = tz
        self.workers = workers
        self.offsets: dict[str, dict[str, Any]] = {}
        self.counts = {"files": 0, "lines": 0, "quarantined": 0, "bytes": 0}
        self.staged_rows = 0
        self._quarantine_parts = 0
        self.day_rows: dict[str, int] = {}
        self._lock = threading.Lock()

    def read_file(self, path: Path, kind: str | None, start: int, lines: int, bar: Any) -> None:
        """Parse ``path`` (its log bytes, decompressed if ``kind``) from byte ``start`` (line
        ``lines``) to its last complete line."""
        key = str(path.resolve())
        cursor = Cursor(path, start, lines)
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            cursor.pool = pool
            pending: list[tuple[Future[ScannedChunk] | None, int, list[tuple[int, bytes]]]] = []
            # a chunk's buffer is reused once workers + 2 more are read: by then it was accounted for
            chunks = read_chunks(path, kind, start, self.chunk_bytes, buffers=self.workers + 2)
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

    def _entry(self, path: Path, kind: str | None, cursor: Cursor) -> dict[str, Any]:
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
        self, cursor: Cursor, future: Future[ScannedChunk] | None, offset: int, too_long: list[tuple[int, bytes]]
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
        release_memory()

    def _parse_others(self, cursor: Cursor) -> None:
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


@dataclass
class Cursor:
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


def read_chunks(
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
