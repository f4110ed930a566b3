"""What ingest reads: the files a source names, opened as the logs they hold, and where to resume each.

* Each real file is read once per run, however many paths lead to it
  (symlinks, a symlink loop, a glob matching a file twice).
* A compressed file (found by its first bytes, never its name) is read as the
  log it holds: gzip, bzip2 and xz through the standard library, after a
  first pass proves the stream whole (a truncated one is skipped until it
  is). zstd, zip, 7z and compressed-inside-compressed are skipped with a
  reason; compressed bytes are never read as text.
* Resuming is verified: a file's state holds checkpoints (line-aligned offsets,
  the line count there and a digest of the 4 KiB before), and a run resumes
  from the latest checkpoint whose bytes are unchanged. The receiver cuts a
  file back to its last durable end after a failed write; if an ingest read
  the tail it cut, the file then grows past the saved offset with other bytes,
  and only a check of the bytes *before* the offset notices.
"""

from __future__ import annotations

import bz2
import glob
import gzip
import hashlib
import lzma
import os
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from .errors import IngestError

HEAD_BYTES = 4096  # a file whose first bytes changed was replaced: read it again from the start
_PROOF_BYTES = 4096  # the bytes before a checkpoint that prove it
_MAX_CHECKPOINTS = 12
_CR_SNIFF = 64 * 2**10
_BACKOFFS = (64 * 2**10, 2**20)  # extra checkpoints this far before the end: a cut tail re-reads little

_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"PK\x03\x04": "zip",
    b"7z\xbc\xaf\x27\x1c": "7z",
}
_READERS: dict[str, Callable[..., IO[bytes]]] = {"gzip": gzip.open, "bzip2": bz2.open, "xz": lzma.open}


def source_files(source: str | os.PathLike[str]) -> list[Path]:
    """The files a source names, sorted, each real file once (its first path).

    A folder is walked recursively (hidden entries skipped), following
    symlinks but never into a folder already visited, so a symlink loop ends.

    Raises:
        IngestError: the source does not exist or matches nothing.
    """
    path = Path(source)
    if path.is_file():
        found: Iterable[Path] = [path]
    elif path.is_dir():
        found = _walk(path)
    elif glob.has_magic(str(source)):
        found = (Path(p) for p in glob.glob(str(source), recursive=True) if Path(p).is_file())
    else:
        raise IngestError(f"no such file or folder: {str(source)!r}")
    seen: dict[str, Path] = {}
    for file in sorted(found):
        seen.setdefault(os.path.realpath(file), file)
    if not seen:
        if glob.has_magic(str(source)):
            raise IngestError(f"no files match {str(source)!r}")
        return []
    return sorted(seen.values())


def _walk(root: Path) -> list[Path]:
    files = []
    visited: set[tuple[int, int]] = set()
    for folder, dirs, names in os.walk(root, followlinks=True):
        info = os.stat(folder)
        if (info.st_dev, info.st_ino) in visited:  # a loop, or a second way into one folder
            dirs[:] = []
            continue
        visited.add((info.st_dev, info.st_ino))
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        files += [Path(folder) / n for n in names if not n.startswith(".") and (Path(folder) / n).is_file()]
    return files


def compression(path: Path) -> str | None:
    """``"gzip"``, ``"bzip2"``, ``"xz"``, ``"zstd"``, ``"zip"``, ``"7z"`` by the file's first bytes, or ``None``."""
    with path.open("rb") as f:
        head = f.read(6)
    return next((kind for magic, kind in _MAGIC.items() if head.startswith(magic)), None)


def check(path: Path, kind: str | None) -> tuple[str | None, str | None]:
    """``(kind, None)`` for a file to read, or ``(kind, why)`` for one to skip.

    A compressed file is decompressed once to the end first, so a truncated or corrupt one
    (logrotate still compressing it, a partial copy) is skipped with its reason before any of it
    is staged, and read whole at a later run. A file that merely starts like bzip2 (a text line
    beginning ``BZh``: the other magics are not text) and is no valid stream is read as text.
    """
    if kind is None:
        return None, _cr_only(path, kind)
    if kind not in _READERS:
        return kind, f"compressed with {kind}: decompress it to ingest it"
    total = 0
    try:
        with open_log(path, kind) as f:
            head = f.read(8)
            total = len(head)
            while chunk := f.read(2**20):
                total += len(chunk)
    except (EOFError, OSError, ValueError, lzma.LZMAError, zlib.error) as exc:
        if total == 0 and kind == "bzip2":
            return None, None  # not a stream at all: text that starts with "BZh"
        return kind, f"truncated or corrupt {kind} file ({exc}); it is read once it is whole"
    if any(head.startswith(magic) for magic in _MAGIC):
        return kind, f"{kind} holding compressed data: decompress it to ingest it"
    return kind, _cr_only(path, kind)


def _cr_only(path: Path, kind: str | None) -> str | None:
    """Why a log whose lines end in CR alone is skipped (its lines would never be complete and
    the whole file would become one over-long line), or ``None``. A lone CR at the end is a
    CRLF line still being written, not this."""
    with open_log(path, kind) as f:
        head = f.read(_CR_SNIFF)
    lines = head.split(b"\r")[:-1]  # the last piece may be unfinished
    if b"\n" in head or len(lines) < 2:
        return None
    # mostly report-shaped pieces: not a long line of junk that happens to hold CRs
    if sum(line.count(b",") >= 3 or b"%2C" in line for line in lines) * 2 < len(lines):
        return None
    return "its lines end in CR alone (old Mac style): convert them to LF (tr '\\r' '\\n') to ingest it"


def open_log(path: Path, kind: str | None) -> IO[bytes]:
    """The file's log bytes: the file itself, or its decompressed content."""
    return path.open("rb") if kind is None else _READERS[kind](path, "rb")


def digest(data: bytes) -> str:
    """SHA-256 of ``data``, hex."""
    return hashlib.sha256(data).hexdigest()


def checkpoints(path: Path, boundaries: list[tuple[int, int]], earlier: list[list[Any]]) -> list[list[Any]]:
    """The checkpoints to store after reading ``path`` up to the last of ``boundaries``.

    Args:
        boundaries: ``(offset, lines)`` of line starts this run passed (chunk starts and the end).
        earlier: the file's checkpoints from earlier runs.

    Returns:
        ``[offset, lines, digest]`` items, latest first, at most 12: the end, points 64 KiB and
        1 MiB before it (on line starts), this run's chunk starts, then earlier ones.
    """
    end, end_lines = boundaries[-1]
    points = {end: end_lines}
    with path.open("rb") as f:
        for back in _BACKOFFS:
            if end - back <= 0:
                continue
            f.seek(end - back)
            window = f.read(back)
            cut = window.find(b"\n") + 1  # the first line start after end - back
            if cut:
                points.setdefault(end - back + cut, end_lines - window.count(b"\n", cut))
        for offset, lines in boundaries:
            points.setdefault(offset, lines)
        proved = [[offset, lines, _proof(f, offset)] for offset, lines in sorted(points.items(), reverse=True)]
    known = {item[0] for item in proved}
    proved += [item for item in earlier if item[0] not in known and item[0] < end and item[2] is not None]
    return sorted(proved, key=lambda item: item[0], reverse=True)[:_MAX_CHECKPOINTS]


def _proof(f: IO[bytes], offset: int) -> str | None:
    """The digest of the bytes before ``offset``; ``None`` if the file ends before it."""
    start = max(offset - _PROOF_BYTES, 0)
    f.seek(start)
    data = f.read(offset - start)
    return digest(data) if len(data) == offset - start else None


def resume_point(path: Path, kind: str | None, items: list[list[Any]]) -> tuple[int, int] | None:
    """``(offset, lines)`` of the latest checkpoint whose bytes are unchanged in the log ``path``
    holds (decompressed if ``kind``), or ``None``."""
    size = path.stat().st_size if kind is None else None
    with open_log(path, kind) as f:
        for offset, lines, proof in items:
            if size is not None and offset > size:
                continue
            if proof is None or _proof(f, offset) == proof:
                return int(offset), int(lines)
    return None
