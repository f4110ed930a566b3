"""What the report reads unless given: the sends of the ledger or the warehouse, the dataset's reports.

:func:`sends_of` brings the warehouse's sends up to date with the ledger first;
:func:`reports_of`, :func:`reports_or_none` and :func:`missing_dataset` say why
there are no reports when there is no dataset to read them from.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd

from ._engines import Source
from .balance import LedgerLike
from .config import DEFAULT_DATASET
from .errors import IngestError
from .ledger import using_ledger

log = logging.getLogger("smsdata.report")


def sends_of(ledger: LedgerLike, dataset: str | os.PathLike[str] | None) -> Source:
    """The warehouse's sends when ``sync_sends`` put them there (brought up to date with the
    ledger first, when there is one), else the ledger's, as a frame."""
    from .ledger import default_path
    from .sync import sync_sends

    folder = Path(dataset) / "sends" if dataset is not None else None
    if folder is None or next(folder.rglob("*.parquet"), None) is None:
        with using_ledger(ledger, create=False) as opened:
            return opened.sends()
    if ledger is not None or default_path().is_file():
        try:
            sync_sends(dataset, ledger=ledger)
        except IngestError as exc:  # another sync is writing it, or it is read-only: report what is there
            log.warning("the report reads the warehouse's sends as they are: %s", exc)
    return folder


def reports_of(dataset: str | os.PathLike[str] | None) -> tuple[Source, str | None]:
    """The warehouse's reports as a path (the KPIs read them out of core), or none and why."""
    from .ingest import no_reports

    missing = missing_dataset(dataset)
    if missing:
        return no_reports(), missing
    folder = Path(dataset) / "reports"
    return (folder, None) if next(folder.rglob("*.parquet"), None) is not None else (no_reports(), None)


def reports_or_none(dataset: str | os.PathLike[str] | None = DEFAULT_DATASET) -> tuple[pd.DataFrame, str | None]:
    """The dataset's reports, or none and why (no dataset there: nothing received or ingested yet,
    or a mistyped path), to say so wherever the numbers are shown."""
    from .ingest import no_reports, read_reports

    missing = missing_dataset(dataset)
    return (no_reports(), missing) if missing else (read_reports(dataset), None)


def missing_dataset(dataset: str | os.PathLike[str] | None = DEFAULT_DATASET) -> str | None:
    """Why no reports can be read from ``dataset`` (none given, or no folder there), or ``None``."""
    if dataset is None:
        return "no dataset given: no delivery reports were read"
    if not Path(dataset).is_dir():
        return (
            f"no dataset at {str(dataset)!r}: no delivery reports were read, so every message counts as "
            "pending (ingest reports with `smsdata ingest`, or give the right --dataset)"
        )
    return None
