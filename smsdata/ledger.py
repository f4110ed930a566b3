"""The ledger: SQLite (WAL, synchronous=FULL), the source of truth for what was sent.

A request moves ``planned -> in_flight -> accepted | rejected | unknown``.
``in_flight`` is committed *before* the HTTP call and the outcome after it,
so a crash or a timeout between the two leaves ``in_flight``, which the next
run turns into ``unknown``: never a silent resend.

Who may send: a run first takes the campaign's **lease** (:meth:`Ledger.acquire_lease`),
a row naming its holder with a heartbeat. While the lease is live no other run
(thread, kernel, process, machine) may take it: it gets :class:`CampaignBusy`.
A lease whose holder is gone is taken over: at once when the holder was a
process on this machine that no longer exists, else once its heartbeat is
older than the lease's time-out. Each request is then **claimed** by one
guarded update (``planned -> in_flight``, checked by row count, in the same
transaction that checks the lease), and its outcome is written only by the
run that claimed it. So two runs never send the same request, and no run
turns another live run's ``in_flight`` requests into ``unknown``.

Tables: ``campaigns`` (name, plan fingerprint, totals, price per segment),
``requests`` (one per gateway request: content, mobiles, state, code, msgid,
times, the claiming run), ``recipients`` (one per message: request, source
row, mobile, carrier), ``leases`` (the run sending each campaign now) and
``balances`` (snapshots). Times are stored as UTC ISO 8601 text.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ._leases import LEASE_TTL, Lease, LedgerBatch, PlannedRequest, check_gone, process_tag, this_machine
from ._ledger_tables import ADDED_COLUMNS, ANSWERED, ATTRIBUTE, SCHEMA, quote, sends_sql, typed_sends, utcnow
from .config import load_settings
from .errors import ConfigError, LeaseLost, LedgerError

if TYPE_CHECKING:
    from .planning import CampaignPlan

__all__ = ["LEASE_TTL", "STATES", "Ledger", "read_sends"]

log = logging.getLogger("smsdata.ledger")

STATES = ("planned", "in_flight", "accepted", "rejected", "unknown")


class Ledger:
    """The SQLite ledger at ``path`` (default ``$SMSDATA_HOME/ledger.sqlite``).

    Writes are serialised by a lock, so one Ledger may be used from the
    event loop's worker threads. Use as a context manager or call :meth:`close`.
    With ``create=False`` (how every reading function opens it) a missing
    file is an error, never a new empty ledger.

    Raises:
        LedgerError: the file cannot be opened (or is missing and ``create`` is false),
            or WAL / synchronous=FULL cannot be set.
    """

    def __init__(self, path: str | Path | None = None, *, create: bool = True) -> None:
        self.path = Path(path) if path is not None else default_path()
        self._lock = threading.Lock()
        if not create and not self.path.is_file():
            raise LedgerError(
                f"no ledger at {self.path}: nothing was sent with this SMSDATA_HOME "
                "(set SMSDATA_HOME to the folder you sent from, or pass the ledger's path)"
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(SCHEMA)
            self._add_missing_columns()
        except (sqlite3.Error, OSError) as exc:
            raise LedgerError(f"cannot open the ledger {self.path}: {exc}") from exc
        mode = self._db.execute("PRAGMA journal_mode").fetchone()[0]
        sync = self._db.execute("PRAGMA synchronous").fetchone()[0]
        if (mode, sync) != ("wal", 2):
            raise LedgerError(f"ledger {self.path} runs journal_mode={mode}, synchronous={sync}; need wal and FULL (2)")

    def __repr__(self) -> str:
        return f"Ledger({str(self.path)!r})"

    def _add_missing_columns(self) -> None:
        for table, column, declaration in ADDED_COLUMNS:
            present = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                with contextlib.suppress(sqlite3.OperationalError):  # another process added it just now
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")

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
            except BaseException as exc:  # whatever stops it, nothing of it stays half-done
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error | OSError):
                    raise LedgerError(f"{failure}: {exc}") from exc
                raise

    def fingerprint(self, name: str) -> str | None:
        """The stored plan fingerprint of campaign ``name``, or ``None`` if there is none."""
        row = self._db.execute("SELECT fingerprint FROM campaigns WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def price(self, name: str) -> Decimal:
        """Balance units per segment stored with campaign ``name`` (1 for campaigns stored before prices were)."""
        row = self._db.execute("SELECT price FROM campaigns WHERE name = ?", (name,)).fetchone()
        return Decimal(row[0]) if row else Decimal(1)

    # ------------------------------------------------------------ leases

    def acquire_lease(self, name: str, *, ttl: float = LEASE_TTL) -> Lease:
        """Take the right to send campaign ``name`` for this run.

        A live lease of another run is never taken. A lease held by a process of
        this machine is taken over once that process no longer exists (at once,
        however long ago its last heartbeat: a stopped or suspended process still
        holds it); one held from another machine once its last heartbeat is ``ttl``
        seconds old. ``Lease.taken_over`` then describes the old holder.

        Raises:
            CampaignBusy: another run holds a live lease (the message names it).
            LedgerError: the ledger could not be written.
        """
        lease = Lease(name, secrets.token_hex(8), ttl)
        machine, process, now = this_machine(), process_tag(os.getpid()), utcnow()
        with self._writing(f"cannot take the lease of campaign {name!r} in {self.path}"):
            row = self._db.execute(
                "SELECT machine, process, started_at, heartbeat_at FROM leases WHERE campaign = ?", (name,)
            ).fetchone()
            if row is not None:
                lease = Lease(name, lease.holder, ttl, taken_over=check_gone(name, row, machine, ttl))
            self._db.execute(
                "INSERT OR REPLACE INTO leases VALUES (?, ?, ?, ?, ?, ?)",
                (name, lease.holder, machine, process, now, now),
            )
        return lease

    def release_lease(self, lease: Lease) -> None:
        """Give the lease up (a no-op if another run has taken it over)."""
        self.transaction([("DELETE FROM leases WHERE campaign = ? AND holder = ?", (lease.campaign, lease.holder))])

    @contextmanager
    def batch(self, lease: Lease) -> Iterator[LedgerBatch]:
        """One durable transaction of a sending run's writes (claims, outcomes, put-backs, heartbeats).

        Raises:
            LedgerError: the write failed; nothing of it was committed.
        """
        with self._writing(f"cannot write the ledger {self.path}"):
            yield LedgerBatch(self._db, lease)

    def create_campaign(self, name: str, plan: CampaignPlan) -> None:
        """Store a new campaign: the plan's requests (all ``planned``), recipients, totals and
        price, atomically."""
        requests, recipients = plan.requests, plan.recipients
        with self._writing(f"cannot store campaign {name!r} in {self.path}"):
            base = self._db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM requests").fetchone()[0]
            self._db.execute(
                "INSERT INTO campaigns (name, fingerprint, created_at, recipients, requests, segments, price) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (name, plan.fingerprint, utcnow(), len(recipients), len(requests), plan.segments, str(plan.price)),
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
            kept = list(plan.kept)
            for name in kept:
                if ATTRIBUTE + name not in self._columns("recipients"):
                    self._db.execute(f"ALTER TABLE recipients ADD COLUMN {quote(ATTRIBUTE + name)} TEXT")
            columns = ", ".join(["request_id", "row", "mobile", "carrier", *(quote(ATTRIBUTE + k) for k in kept)])
            marks = ", ".join("?" * (4 + len(kept)))
            attributes = [recipients[k].astype("object").where(recipients[k].notna(), None).tolist() for k in kept]
            self._db.executemany(
                f"INSERT INTO recipients ({columns}) VALUES ({marks})",  # noqa: S608 (quoted names)
                zip(
                    (recipients["request"] + base).tolist(),
                    recipients["row"].astype("str").tolist(),
                    recipients["mobile"].tolist(),
                    recipients["carrier"].tolist(),
                    *attributes,
                    strict=True,
                ),
            )

    def _columns(self, table: str) -> list[str]:
        return [row[1] for row in self._db.execute(f"PRAGMA table_info({table})")]

    def settle_in_flight(self, lease: Lease) -> int:
        """Turn ``in_flight`` requests left by a run that is gone into ``unknown``; return how many.

        Only the lease holder may: no live run has requests in flight then.
        """
        return self._update_state(lease, "in_flight", "unknown", "interrupted before the outcome was recorded")

    def requeue_unknown(self, lease: Lease) -> int:
        """Turn ``unknown`` requests back into ``planned`` for a byte-identical resend (lease holder only)."""
        return self._update_state(lease, "unknown", "planned", None)

    def _update_state(self, lease: Lease, old: str, new: str, message: str | None) -> int:
        with self._writing(f"cannot write the ledger {self.path}"):
            if not LedgerBatch(self._db, lease).heartbeat():
                raise LeaseLost(f"campaign {lease.campaign!r} was taken over by another run")
            cursor = self._db.execute(
                "UPDATE requests SET state = ?, message = COALESCE(?, message) WHERE campaign = ? AND state = ?",
                (new, message, lease.campaign, old),
            )
        return cursor.rowcount

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
        counts = ", ".join(f"COALESCE(SUM(r.state = '{s}'), 0) AS {s}" for s in STATES)  # 0, not NULL, when empty
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
        kept = [c for c in self._columns("recipients") if c.startswith(ATTRIBUTE)]
        return typed_sends(self._frame(sends_sql(kept, content=True), campaign, alias="q."), kept)

    def sent_days(self) -> dict[str, str]:
        """A fingerprint of each UTC day's answered requests (accepted, rejected or unknown, by
        ``sent_at``): it changes whenever one of them changes state, or joins or leaves the day."""
        rows = self._db.execute(
            "SELECT substr(sent_at, 1, 10) AS day, count(*), sum(id), max(coalesce(finished_at, '')), "  # noqa: S608
            "sum(state = 'accepted'), sum(state = 'unknown'), sum(length(coalesce(msgid, ''))) "
            f"FROM requests WHERE state IN {ANSWERED} AND sent_at IS NOT NULL GROUP BY day"
        ).fetchall()
        return {row[0]: ":".join(map(str, row[1:])) for row in rows}

    def sent_on(self, day: str) -> pd.DataFrame:
        """The recipients of the answered requests sent on ``day`` (UTC, ``YYYY-MM-DD``): the columns of
        :meth:`sends` but ``content``."""
        kept = [c for c in self._columns("recipients") if c.startswith(ATTRIBUTE)]
        sql = sends_sql(kept, content=False) + f" WHERE q.state IN {ANSWERED} AND substr(q.sent_at, 1, 10) = ?"
        return typed_sends(pd.read_sql_query(sql + " ORDER BY q.id", self._db, params=(day,)), kept)

    def _frame(self, sql: str, campaign: str | None, alias: str = "") -> pd.DataFrame:
        if campaign is not None:
            return pd.read_sql_query(
                f"{sql} WHERE {alias}campaign = ? ORDER BY {alias}id", self._db, params=(campaign,)
            )
        return pd.read_sql_query(f"{sql} ORDER BY {alias}id", self._db)


def default_path() -> Path:
    """``$SMSDATA_HOME/ledger.sqlite`` (default ``./smsdata-home/ledger.sqlite``)."""
    return load_settings().home / "ledger.sqlite"


def using_ledger(
    ledger: Ledger | str | Path | None = None, *, create: bool = True
) -> contextlib.AbstractContextManager[Ledger]:
    """A ``with`` block on a ledger: a path (or ``None``: the default) is opened and closed,
    an open :class:`Ledger` is used and left open. Readers pass ``create=False``."""
    return contextlib.nullcontext(ledger) if isinstance(ledger, Ledger) else Ledger(ledger, create=create)


def read_sends(ledger: Ledger | str | Path | None = None, campaign: str | None = None) -> pd.DataFrame:
    """One row per recipient of every (or one) campaign in the ledger.

    Columns: ``campaign, request_id, msgid, mobile, content, segments, state,
    code, sent_at`` (UTC, tz-aware; when the request went out), plus
    ``carrier``, ``row`` (the source row), ``price`` (the campaign's balance
    units per segment, as planned) and the customer columns kept with
    ``plan_campaign(keep=[...])`` (text; missing for campaigns that did not keep
    them), so ``delivery_rate(sends, reports, by="city")`` works. ``msgid`` and ``code`` are
    missing for requests that have not been answered.

    Args:
        ledger: a :class:`Ledger`, a path, or ``None`` for ``$SMSDATA_HOME/ledger.sqlite``.
        campaign: only this campaign.

    Returns:
        A DataFrame, one row per recipient (empty, with these columns, when nothing was planned).

    Raises:
        LedgerError: there is no ledger there (none is created), or it cannot be read.
        ConfigError: ``campaign`` is not a name (text).
    """
    if campaign is not None and not isinstance(campaign, str):
        raise ConfigError(f"campaign must be a campaign's name (a text), not {campaign!r}")
    with using_ledger(ledger, create=False) as opened:
        return opened.sends(campaign)
