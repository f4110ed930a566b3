"""Durable file-system steps shared by the receiver, ingest and sync_sends: durable folder
entries, a dataset's lock, and its state file replaced atomically."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import IngestError


def fsync_dir(folder: Path) -> None:
    """Make a folder's entries (files created, renamed or removed in it) durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def dataset_lock(work: Path, *, busy: str) -> Iterator[None]:
    """Hold the exclusive lock ``work/lock`` (``work`` made if missing) for the block.

    Raises:
        IngestError: ``work`` or its lock cannot be made (the dataset, ``work``'s parent, is
            named), or another process holds the lock (``busy``, the message).
    """
    try:
        work.mkdir(parents=True, exist_ok=True)
        lock = (work / "lock").open("a")
    except OSError as exc:
        raise IngestError(f"cannot use {str(work.parent)!r} as a dataset: {exc.strerror}") from exc
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IngestError(busy) from None
        yield


def read_state(path: Path, *, version: int, empty: dict[str, Any]) -> dict[str, Any]:
    """The JSON state at ``path``, or ``empty`` when there is none yet.

    Raises:
        IngestError: it cannot be read, or another version of smsdata wrote it.
    """
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        return empty
    except (OSError, ValueError) as exc:
        raise IngestError(f"cannot read {path}: {exc}") from exc
    if state.get("version") != version:
        raise IngestError(f"{path} was written by another smsdata version")
    return state


def write_state(path: Path, state: dict[str, Any]) -> None:
    """Replace the JSON state at ``path`` atomically and durably (written beside it, synced, renamed).

    Raises:
        OSError: it cannot be written (the old state stays).
    """
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as out:
        json.dump(state, out, indent=1, sort_keys=True)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)
