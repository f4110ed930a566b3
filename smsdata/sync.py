"""The ledger's sends mirrored into the warehouse, beside the reports, for any engine to read.

:func:`sync_sends` writes every recipient of every answered request
(``accepted``, ``rejected`` or ``unknown``) into
``DATASET/sends/date=YYYY-MM-DD/part-0.parquet``, one file per UTC day of
``sent_at``, with the columns of :func:`smsdata.read_sends` but ``content``
(campaign, request_id, msgid, mobile, segments, state, code, sent_at,
carrier, row, price and the customer columns kept by
``plan_campaign(keep=...)``).

It is incremental: the ledger gives a fingerprint of each day's requests
(their count, ids, states, msgids and latest outcome time); only the days
whose fingerprint changed since the last sync are written again, whole.
It is idempotent and crash-safe: each day's file is replaced atomically
(written beside it, synced, renamed), and the fingerprints are saved only
after every day is written, so a sync killed midway leaves each file either
as it was or new, and the next sync redoes what it had not finished. Two
syncs of one dataset at once: the second raises :class:`IngestError`.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import _faults
from ._fs import dataset_lock, fsync_dir, read_state, write_state
from .config import DEFAULT_DATASET
from .errors import IngestError
from .ledger import Ledger, using_ledger

__all__ = ["sync_sends"]

log = logging.getLogger("smsdata.sync")

_STATE_VERSION = 1
_PART = "part-0.parquet"
SENDS_SCHEMA = pa.schema(
    [
        ("campaign", pa.string()),
        ("request_id", pa.int64()),
        ("msgid", pa.string()),
        ("mobile", pa.string()),
        ("segments", pa.int64()),
        ("state", pa.string()),
        ("code", pa.string()),
        ("sent_at", pa.timestamp("us", tz="UTC")),
        ("carrier", pa.string()),
        ("row", pa.string()),
        ("price", pa.float64()),
    ]
)
"""The columns every day's file has; customer columns follow, as text."""


def sync_sends(dataset: str | os.PathLike[str] = DEFAULT_DATASET, *, ledger: Ledger | str | Path | None = None) -> int:
    """Mirror the ledger's answered requests' recipients into ``dataset/sends/``; returns the rows written.

    Only the days that changed since the last sync are written (see the module
    docstring); a second run with nothing new writes nothing and returns 0.

    Args:
        dataset: the warehouse folder (the one ``ingest_reports`` writes; default ``"warehouse"``);
            created if missing.
        ledger: a :class:`Ledger`, its path, or ``None`` for ``$SMSDATA_HOME/ledger.sqlite``.

    Returns:
        The number of rows written (0 when nothing changed).

    Raises:
        LedgerError: there is no ledger there, or it cannot be read.
        IngestError: the dataset cannot be written (the message says why), or another sync is writing it.

    >>> sync_sends("warehouse")  # doctest: +SKIP
    12000
    """
    root = Path(dataset)
    work = root / "_sends"
    busy = f"another sync_sends is writing {str(root)!r}; try again when it ends"
    with dataset_lock(work, busy=busy), using_ledger(ledger, create=False) as opened:
        state_path = work / "state.json"
        synced = read_state(state_path, version=_STATE_VERSION, empty={"days": {}})["days"]
        days = opened.sent_days()
        folder = root / "sends"
        changed = [
            day for day, mark in sorted(days.items()) if synced.get(day) != mark or not _part(folder, day).exists()
        ]
        rows = 0
        try:
            for day in changed:
                rows += _write_day(folder, day, opened.sent_on(day))
                _faults.reached("synced_day")
            stored = {p.name.removeprefix("date=") for p in folder.glob("date=*")} if folder.is_dir() else set()
            for day in sorted((set(synced) | stored) - set(days)):  # every request of that day moved or was requeued
                shutil.rmtree(folder / f"date={day}", ignore_errors=True)
            write_state(state_path, {"version": _STATE_VERSION, "days": days})
        except OSError as exc:
            raise IngestError(f"cannot write the sends of {str(root)!r}: {exc.strerror or exc}") from exc
    log.info("synced %d sends of %d day(s) into %s", rows, len(changed), root)
    return rows


def _part(folder: Path, day: str) -> Path:
    return folder / f"date={day}" / _PART


def _write_day(folder: Path, day: str, frame: pd.DataFrame) -> int:
    """Replace ``day``'s file by ``frame``, atomically and durably; returns its rows."""
    target = _part(folder, day)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{_PART}.tmp")
    pq.write_table(_table(frame), tmp, compression="zstd")
    with tmp.open("rb") as written:
        os.fsync(written.fileno())
    os.replace(tmp, target)
    fsync_dir(target.parent)
    return len(frame)


def _table(frame: pd.DataFrame) -> pa.Table:
    """``frame`` in :data:`SENDS_SCHEMA`, customer columns after it as text."""
    extra = [c for c in frame.columns if c not in SENDS_SCHEMA.names and c != "content"]
    schema = pa.schema([*SENDS_SCHEMA, *(pa.field(c, pa.string()) for c in extra)])
    columns = {}
    for field in schema:
        values = frame[field.name]
        if pa.types.is_string(field.type):
            values = values.astype(object).where(values.notna(), None)
        columns[field.name] = pa.array(values, type=field.type, from_pandas=True)
    return pa.table(columns, schema=schema)
