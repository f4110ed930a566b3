"""The ledger: SQLite (WAL, synchronous=FULL), the source of truth for what was sent.

A request moves ``planned -> in_flight -> accepted | rejected | unknown``.
``in_flight`` is committed *before* the HTTP call and the outcome after it,
so a crash or a timeout between the two leaves ``in_flight``, which the next
run turns into ``unknown``: never a silent resend.

Tables: ``campaigns`` (name, plan fingerprint, totals), ``requests`` (one per
gateway request: content, mobiles, state, code, msgid, times), ``recipients``
(one per message: request, source row, mobile, carrier) and ``balances``
(snapshots). Times are stored as UTC ISO 8601 text.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from .config import load_settings
from .errors import SmsdataError

__all__ = ["STATES", "Ledger", "LedgerError", "PlannedRequest", "read_sends", "using_ledger", "utcnow"]

STATES = ("planned", "in_flight", "accepted", "rejected", "unknown")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS campaigns (
    name        TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    recipients  INTEGER NOT NULL,
    requests    INTEGER NOT NULL,
    segments    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS requests (
    id          INTEGER PRIMARY KEY,
    campaign    TEXT NOT NULL REFERENCES campaigns(name),
    seq         INTEGER NOT NULL,
    content     TEXT NOT NULL,
    mobiles     TEXT NOT NULL,
    recipients  INTEGER NOT NULL,
    segments    INTEGER NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('planned', 'in_flight', 'accepted', 'rejected', 'unknown')),
    code        TEXT,
    message     TEXT,
    msgid       TEXT,
    attempts    INTEGER NOT NULL DEFAULT 0,
    sent_at     TEXT,
    finished_at TEXT,
    UNIQUE (campaign, seq)
);
CREATE INDEX IF NOT EXISTS requests_state ON requests (campaign, state);
CREATE TABLE IF NOT EXISTS recipients (
    request_id  INTEGER NOT NULL REFERENCES requests(id),
    row         TEXT,
    mobile      TEXT NOT NULL,
    carrier     TEXT
);
CREATE INDEX IF NOT EXISTS recipients_request ON recipients (request_id);
CREATE TABLE IF NOT EXISTS balances (
    at          TEXT NOT NULL,
    value       TEXT NOT NULL,
    campaign    TEXT,
    note        TEXT
);
"""


class LedgerError(SmsdataError):
    """The ledger cannot be opened or written (disk full, locked, corrupt); nothing was sent after it."""


def utcnow() -> str:
    """Now, in UTC, as ISO 8601 text (the ledger's time format)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class PlannedRequest:
    """A request waiting to be sent: exactly what will go to the gateway."""

    id: int
    content: str
    mobiles: str
    recipients: int
    segments: int


class Ledger:
    """The SQLite ledger at ``path`` (default ``$SMSDATA_HOME/ledger.sqlite``).

    Writes are serialised by a lock, so one Ledger may be used from the
    event loop's worker threads. Use as a context manager or call :meth:`close`.

    Raises:
        LedgerError: the file cannot be opened, or WAL / synchronous=FULL cannot be set.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else load_settings().home / "ledger.sqlite"
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise LedgerError(f"cannot open the ledger {self.path}: {exc}") from exc
        mode = self._db.execute("PRAGMA journal_mode").fetchone()[0]
        sync = self._db.execute("PRAGMA synchronous").fetchone()[0]
        if (mode, sync) != ("wal", 2):
            raise LedgerError(f"ledger {self.path} runs journal_mode={mode}, synchronous={sync}; need wal and FULL (2)")

    def __repr__(self) -> str:
        return f"Ledger({str(self.path)!r})"

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------ writing

    def transaction(self, ops: Iterable[tuple[str, Sequence[Any]]]) -> None:
        """Run ``(sql, params)`` statements in one transaction, committed durably.

        Raises:
            LedgerError: the write failed; nothing of it was committed.
        """
        with self._writing(f"cannot write the ledger {self.path}"):
            for sql, params in ops:
                self._db.execute(sql, params)

    @contextmanager
    def _writing(self, failure: str) -> Iterator[None]:
        """One durable write transaction; any failure rolls back and raises LedgerError(failure: ...)."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                yield
                self._db.execute("COMMIT")
            except (sqlite3.Error, OSError) as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise LedgerError(f"{failure}: {exc}") from exc

    def fingerprint(self, name: str) -> str | None:
        """The stored plan fingerprint of campaign ``name``, or ``None`` if there is none."""
        row = self._db.execute("SELECT fingerprint FROM campaigns WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def create_campaign(self, name: str, fingerprint: str, requests: pd.DataFrame, recipients: pd.DataFrame) -> None:
        """Store a new campaign with its requests (all ``planned``) and recipients, atomically.

        ``requests``: ``request, content, mobiles, recipients, segments``;
        ``recipients``: ``request, row, mobile, carrier``.
        """
        with self._writing(f"cannot store campaign {name!r} in {self.path}"):
            base = self._db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM requests").fetchone()[0]
            self._db.execute(
                "INSERT INTO campaigns VALUES (?, ?, ?, ?, ?, ?)",
                (
                    name,
                    fingerprint,
                    utcnow(),
                    int(requests["recipients"].sum()),
                    len(requests),
                    int((requests["recipients"] * requests["segments"]).sum()),
                ),
            )
            self._db.executemany(
                "INSERT INTO requests (id, campaign, seq, content, mobiles, recipients, segments, state) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'planned')",
                zip(
                    (requests["request"] + base).tolist(),
                    [name] * len(requests),
                    requests["request"].tolist(),
                    requests["content"].tolist(),
                    requests["mobiles"].tolist(),
                    requests["recipients"].tolist(),
                    requests["segments"].tolist(),
                    strict=True,
                ),
            )
            self._db.executemany(
                "INSERT INTO recipients (request_id, row, mobile, carrier) VALUES (?, ?, ?, ?)",
                zip(
                    (recipients["request"] + base).tolist(),
                    recipients["row"].astype("str").tolist(),
                    recipients["mobile"].tolist(),
                    recipients["carrier"].tolist(),
                    strict=True,
                ),
            )

    def settle_in_flight(self, name: str) -> int:
        """Turn ``in_flight`` requests left by a crash into ``unknown``; return how many."""
        return self._update_state(name, "in_flight", "unknown", "interrupted before the outcome was recorded")

    def requeue_unknown(self, name: str) -> int:
        """Turn ``unknown`` requests back into ``planned`` for a byte-identical resend."""
        return self._update_state(name, "unknown", "planned", None)

    def _update_state(self, name: str, old: str, new: str, message: str | None) -> int:
        count = self._db.execute(
            "SELECT COUNT(*) FROM requests WHERE campaign = ? AND state = ?", (name, old)
        ).fetchone()[0]
        if count:
            sql = "UPDATE requests SET state = ?, message = COALESCE(?, message) WHERE campaign = ? AND state = ?"
            self.transaction([(sql, (new, message, name, old))])
        return count

    def record_balance(self, value: Decimal, campaign: str | None = None, note: str | None = None) -> None:
        """Store a balance snapshot taken now."""
        self.transaction([("INSERT INTO balances VALUES (?, ?, ?, ?)", (utcnow(), str(value), campaign, note))])

    # ------------------------------------------------------------ reading

    def planned(self, name: str) -> list[PlannedRequest]:
        """The ``planned`` requests of campaign ``name``, in plan order."""
        rows = self._db.execute(
            "SELECT id, content, mobiles, recipients, segments FROM requests "
            "WHERE campaign = ? AND state = 'planned' ORDER BY seq",
            (name,),
        ).fetchall()
        return [PlannedRequest(*row) for row in rows]

    def requests(self, campaign: str | None = None) -> pd.DataFrame:
        """One row per request: ``campaign, request_id, seq, state, code, message, msgid, recipients,
        segments, attempts, sent_at, finished_at`` (times UTC)."""
        sql = (
            "SELECT campaign, id AS request_id, seq, state, code, message, msgid, recipients, segments, "
            "attempts, sent_at, finished_at FROM requests"
        )
        frame = self._frame(sql, campaign)
        for column in ("sent_at", "finished_at"):
            frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
        return frame

    def campaigns(self) -> pd.DataFrame:
        """One row per campaign: name, created_at, recipients, requests and requests per state."""
        # Only the constant STATES are formatted in.
        counts = ", ".join(f"SUM(r.state = '{s}') AS {s}" for s in STATES)
        frame = pd.read_sql_query(
            "SELECT c.name AS campaign, c.created_at, c.recipients, c.requests, "  # noqa: S608
            + counts
            + " FROM campaigns c LEFT JOIN requests r ON r.campaign = c.name GROUP BY c.name ORDER BY c.created_at",
            self._db,
        )
        frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True, format="ISO8601")
        return frame

    def balances(self) -> pd.DataFrame:
        """Every balance snapshot: ``at`` (UTC), ``value`` (float), ``campaign``, ``note``."""
        frame = pd.read_sql_query("SELECT at, value, campaign, note FROM balances ORDER BY at", self._db)
        frame["at"] = pd.to_datetime(frame["at"], utc=True, format="ISO8601")
        frame["value"] = frame["value"].astype(float)
        return frame

    def sends(self, campaign: str | None = None) -> pd.DataFrame:
        """One row per recipient; see :func:`read_sends`."""
        sql = (
            "SELECT q.campaign, q.id AS request_id, q.msgid, r.mobile, q.content, q.segments, q.state, "
            "q.code, q.sent_at, r.carrier, r.row FROM recipients r JOIN requests q ON q.id = r.request_id"
        )
        frame = self._frame(sql, campaign, alias="q.")
        frame["sent_at"] = pd.to_datetime(frame["sent_at"], utc=True, format="ISO8601")
        frame["segments"] = frame["segments"].astype("int64")
        return frame

    def _frame(self, sql: str, campaign: str | None, alias: str = "") -> pd.DataFrame:
        if campaign is not None:
            return pd.read_sql_query(
                f"{sql} WHERE {alias}campaign = ? ORDER BY {alias}id", self._db, params=(campaign,)
            )
        return pd.read_sql_query(f"{sql} ORDER BY {alias}id", self._db)


def using_ledger(ledger: Ledger | str | Path | None = None) -> contextlib.AbstractContextManager[Ledger]:
    """A ``with`` block on a ledger: a path (or ``None``: the default) is opened and closed,
    an open :class:`Ledger` is used and left open."""
    return contextlib.nullcontext(ledger) if isinstance(ledger, Ledger) else Ledger(ledger)


def read_sends(ledger: Ledger | str | Path | None = None, campaign: str | None = None) -> pd.DataFrame:
    """One row per recipient of every (or one) campaign in the ledger.

    Columns: ``campaign, request_id, msgid, mobile, content, segments, state,
    code, sent_at`` (UTC, tz-aware; when the request went out), plus
    ``carrier`` and ``row`` (the source row). ``msgid`` and ``code`` are
    missing for requests that have not been answered.

    Args:
        ledger: a :class:`Ledger`, a path, or ``None`` for ``$SMSDATA_HOME/ledger.sqlite``.
        campaign: only this campaign.
    """
    with using_ledger(ledger) as opened:
        return opened.sends(campaign)
