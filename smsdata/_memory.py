"""Giving freed memory back to the system, between the big steps of a long job (ingest)."""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any

import pyarrow as pa

__all__ = ["release_memory"]


def release_memory() -> None:
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
