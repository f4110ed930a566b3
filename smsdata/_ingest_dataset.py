"""An ingest dataset folder, and the deduplication of a run's staged rows against it.

:class:`Dataset` holds the folder's lock and its committed state (``_ingest/state.json``:
how far each source file was read), makes each run's work folder, and commits and
publishes runs (see :mod:`smsdata.ingest` for the protocol). :class:`Deduper` is the
second half of a run: what :class:`smsdata._ingest_reader.Reader` staged by date, less
what is already stored, written as one sorted part per date inside the run's folder.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import _faults, _partitions, _sources
from ._fs import dataset_lock, fsync_dir, read_state, write_state
from ._memory import release_memory
from .errors import IngestError

__all__ = ["STATE_VERSION", "Dataset", "Deduper", "fsync_tree"]

log = logging.getLogger("smsdata.ingest")

STATE_VERSION = 1


class Dataset:
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
    def open(cls, root: Path) -> Iterator[Dataset]:
        with dataset_lock(root / "_ingest", busy=f"another ingest is writing {str(root)!r}; try again when it ends"):
            store = cls(root)
            store.recover()
            yield store

    def new_run(self) -> tuple[str, Path]:
        """A new run's id and work folder (made, with its ``staged`` and ``quarantine`` folders)."""
        run = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)
        folder = self.work / f"run-{run}"
        (folder / "staged").mkdir(parents=True)
        (folder / "quarantine").mkdir()
        return run, folder

    @property
    def state_path(self) -> Path:
        return self.work / "state.json"

    def _load_state(self) -> dict[str, Any]:
        empty = {"version": STATE_VERSION, "files": {}, "pending": None}
        return read_state(self.state_path, version=STATE_VERSION, empty=empty)

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


def fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with path.open("rb") as f:
                os.fsync(f.fileno())
        elif path.is_dir():
            fsync_dir(path)


class Deduper:
    """Writes a run's staged rows that are not already stored, once each, by UTC date.

    A repeat has the same date as the row it repeats: each date is finished on its own
    (:func:`smsdata._partitions.finish_day`), on ``workers`` threads.
    """

    def __init__(self, store: Dataset, run: str, folder: Path, *, workers: int) -> None:
        self.store = store
        self.run = run
        self.folder = folder
        self.workers = workers
        self.compacted: set[str] = set()  # days whose stored parts the run replaces with one
        self._lock = threading.Lock()

    def write(self, days: list[str]) -> int:
        """Finish every staged day; the rows written (the rest were duplicates)."""
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            written = sum(pool.map(self._finish, sorted(days)))
        shutil.rmtree(self.folder / "staged")  # before the run's files are synced: staged rows are never kept
        return written

    def _finish(self, day: str) -> int:
        stored = self.store.stored_files(day)
        target = self.folder / "reports" / f"date={day}" / f"part-{self.run}.parquet"
        written, compacted = _partitions.finish_day(self.folder / "staged" / day, stored, target)
        release_memory()
        if compacted:
            with self._lock:
                self.compacted.add(day)
            log.info("compacted %d parts of %s into one", len(stored), day)
        return written
