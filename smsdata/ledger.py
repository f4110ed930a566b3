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
import socket
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .config import load_settings
from .errors import CampaignBusy, LeaseLost, LedgerError

if TYPE_CHECKING:
    from .planning import CampaignPlan

__all__ = ["LEASE_TTL", "STATES", "Ledger", "read_sends"]

log = logging.getLogger("smsdata.ledger")

LEASE_TTL = 60.0
"""Seconds without a heartbeat after which a lease held from another machine may be taken over."""

STATES = ("planned", "in_flight", "accepted", "rejected", "unknown")
ANSWERED = "('accepted', 'rejected', 'unknown')"
"""The states of requests that went out and are settled (SQL): what the warehouse mirrors."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS campaigns (
    name        TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    recipients  INTEGER NOT NULL,
    requests    INTEGER NOT NULL,
    segments    INTEGER NOT NULL,
    price       TEXT NOT NULL DEFAULT '1'
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
    claimed_by  TEXT,
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
CREATE TABLE IF NOT EXISTS leases (
    campaign     TEXT PRIMARY KEY,
    holder       TEXT NOT NULL,
    machine      TEXT NOT NULL,
    process      TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS balances (
    at          TEXT NOT NULL,
    value       TEXT NOT NULL,
    campaign    TEXT,
    note        TEXT
);
"""

# Customer attributes kept by plan_campaign(keep=[...]) are recipients' columns "attr:NAME".
_ATTRIBUTE = "attr:"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# Columns added after the first release, for ledgers created before them.
_ADDED_COLUMNS = (
    ("campaigns", "price", "TEXT NOT NULL DEFAULT '1'"),
    ("requests", "claimed_by", "TEXT"),
)


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

    @property
    def billed_segments(self) -> int:
        """Segments the gateway charges for this request: recipients times segments per message."""
        return self.recipients * self.segments


@dataclass(frozen=True)
class Outcome:
    """What became of a sent request. ``state``: ``accepted``, ``rejected`` or ``unknown``."""

    state: str
    code: str | None
    message: str
    msgid: str | None
    sent_at: str
    finished_at: str


def _machine() -> str:
    """This machine and PID namespace: a PID means the same process only within it."""
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        namespace = 0
    return f"{socket.gethostname()}/{namespace}"


def _process(pid: int) -> str:
    """``pid:start``: a process, told apart from a later one given the same PID by its start
    time (clock ticks after boot, from /proc; empty where there is no /proc)."""
    try:
        start = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        start = ""
    return f"{pid}:{start}"


def _process_alive(process: str) -> bool:
    """Whether the process ``pid:start`` (of this machine) still exists."""
    pid = int(process.split(":", 1)[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, owned by someone else
        pass
    return _process(pid) == process or process.endswith(":")


@dataclass(frozen=True)
class Lease:
    """The right to send one campaign, held by one run (see :meth:`Ledger.acquire_lease`)."""

    campaign: str
    holder: str = field(repr=False)
    ttl: float = LEASE_TTL
    taken_over: str | None = None

    @staticmethod
    def describe(machine: str, process: str, started_at: str, heartbeat_at: str) -> str:
        """A holder in words: which process, where, since when, last heard of when."""
        age = (datetime.now(UTC) - datetime.fromisoformat(heartbeat_at)).total_seconds()
        return (
            f"pid {process.split(':')[0]} on {machine.split('/')[0]!r}, running since "
            f"{started_at[:19].replace('T', ' ')} UTC, last heartbeat {max(age, 0):.0f} s ago"
        )


class LedgerBatch:
    """The writes of one transaction of a sending run (see :meth:`Ledger.batch`)."""

    def __init__(self, db: sqlite3.Connection, lease: Lease) -> None:
        self._db = db
        self._lease = lease
        self._lease_ok: bool | None = None

    def _holds_lease(self) -> bool:
        # A read, not a write: a claim's transaction then writes only the request's page.
        if self._lease_ok is None:
            row = self._db.execute(
                "SELECT 1 FROM leases WHERE campaign = ? AND holder = ?", (self._lease.campaign, self._lease.holder)
            ).fetchone()
            self._lease_ok = row is not None
        return self._lease_ok

    @property
    def lease_confirmed(self) -> bool:
        """Whether this transaction found the lease still held by its run."""
        return self._lease_ok is True

    def heartbeat(self) -> bool:
        """Renew the lease; ``False`` if another run has taken it over."""
        row = self._db.execute(
            "UPDATE leases SET heartbeat_at = ? WHERE campaign = ? AND holder = ? RETURNING 1",
            (utcnow(), self._lease.campaign, self._lease.holder),
        ).fetchone()
        self._lease_ok = row is not None
        return self._lease_ok

    def claim(self, request_ids: Sequence[int]) -> set[int]:
        """``planned -> in_flight`` for this run, one guarded update; returns the ids claimed.

        An id is left out if that request is no longer planned or the lease is lost.
        """
        if not request_ids or not self._holds_lease():
            return set()
        marks = ", ".join("?" * len(request_ids))
        rows = self._db.execute(
            "UPDATE requests SET state = 'in_flight', attempts = attempts + 1, sent_at = ?, claimed_by = ? "  # noqa: S608
            f"WHERE state = 'planned' AND id IN ({marks}) RETURNING id",
            (utcnow(), self._lease.holder, *request_ids),
        ).fetchall()
        return {row[0] for row in rows}

    def record(self, outcomes: Sequence[tuple[int, Outcome]]) -> int:
        """Write the outcomes of requests this run claimed; returns how many were written.

        One is not written if another run has claimed that request since; after a
        takeover turned it ``unknown`` it is (the true outcome is better than unknown).
        """
        if not outcomes:
            return 0
        cursor = self._db.executemany(
            "UPDATE requests SET state = ?, code = ?, message = ?, msgid = ?, sent_at = ?, finished_at = ? "
            "WHERE id = ? AND claimed_by = ? AND state IN ('in_flight', 'unknown')",
            [
                (o.state, o.code, o.message, o.msgid, o.sent_at, o.finished_at, request_id, self._lease.holder)
                for request_id, o in outcomes
            ],
        )
        if cursor.rowcount != len(outcomes):
            log.warning(
                "%d outcome(s) not recorded: another run has claimed those requests since",
                len(outcomes) - cursor.rowcount,
            )
        return cursor.rowcount

    def put_back(self, request_id: int, message: str) -> bool:
        """``in_flight -> planned`` for a request this run claimed but certainly did not send."""
        cursor = self._db.execute(
            "UPDATE requests SET state = 'planned', attempts = attempts - 1, sent_at = NULL, message = ? "
            "WHERE id = ? AND claimed_by = ? AND state = 'in_flight'",
            (message, request_id, self._lease.holder),
        )
        return cursor.rowcount == 1


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
            self._db.executescript(_SCHEMA)
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
        for table, column, declaration in _ADDED_COLUMNS:
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
        machine, process, now = _machine(), _process(os.getpid()), utcnow()
        with self._writing(f"cannot take the lease of campaign {name!r} in {self.path}"):
            row = self._db.execute(
                "SELECT machine, process, started_at, heartbeat_at FROM leases WHERE campaign = ?", (name,)
            ).fetchone()
            if row is not None:
                lease = Lease(name, lease.holder, ttl, taken_over=_check_gone(name, row, machine, ttl))
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
                if _ATTRIBUTE + name not in self._columns("recipients"):
                    self._db.execute(f"ALTER TABLE recipients ADD COLUMN {_quote(_ATTRIBUTE + name)} TEXT")
            columns = ", ".join(["request_id", "row", "mobile", "carrier", *(_quote(_ATTRIBUTE + k) for k in kept)])
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
        kept = [c for c in self._columns("recipients") if c.startswith(_ATTRIBUTE)]
        return self._typed(self._frame(self._sends_sql(kept, content=True), campaign, alias="q."), kept)

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
        kept = [c for c in self._columns("recipients") if c.startswith(_ATTRIBUTE)]
        sql = self._sends_sql(kept, content=False) + f" WHERE q.state IN {ANSWERED} AND substr(q.sent_at, 1, 10) = ?"
        return self._typed(pd.read_sql_query(sql + " ORDER BY q.id", self._db, params=(day,)), kept)

    @staticmethod
    def _sends_sql(kept: list[str], *, content: bool) -> str:
        attributes = "".join(f", r.{_quote(c)} AS {_quote(c[len(_ATTRIBUTE) :])}" for c in kept)
        text = " q.content," if content else ""
        return (
            f"SELECT q.campaign, q.id AS request_id, q.msgid, r.mobile,{text} q.segments, q.state, "  # noqa: S608
            f"q.code, q.sent_at, r.carrier, r.row, c.price{attributes} FROM recipients r "
            "JOIN requests q ON q.id = r.request_id JOIN campaigns c ON c.name = q.campaign"
        )

    @staticmethod
    def _typed(frame: pd.DataFrame, kept: list[str]) -> pd.DataFrame:
        frame["sent_at"] = pd.to_datetime(frame["sent_at"], utc=True, format="ISO8601")
        frame["segments"] = frame["segments"].astype("int64")
        frame["price"] = frame["price"].astype("float64")
        for column in kept:
            name = column[len(_ATTRIBUTE) :]
            frame[name] = frame[name].astype("str").where(frame[name].notna(), pd.NA)
        return frame

    def _frame(self, sql: str, campaign: str | None, alias: str = "") -> pd.DataFrame:
        if campaign is not None:
            return pd.read_sql_query(
                f"{sql} WHERE {alias}campaign = ? ORDER BY {alias}id", self._db, params=(campaign,)
            )
        return pd.read_sql_query(f"{sql} ORDER BY {alias}id", self._db)


def _check_gone(name: str, row: tuple[str, str, str, str], machine: str, ttl: float) -> str:
    """Describe the holder of a lease row that may be taken over; raise CampaignBusy if it is live."""
    holder = Lease.describe(*row)
    silent = (datetime.now(UTC) - datetime.fromisoformat(row[3])).total_seconds()
    if row[0] == machine:
        if _process_alive(row[1]):
            stalled = (
                f"; it is alive but silent for {silent:.0f} s: stopped, suspended or in a debugger? "
                "Let it go on, or end it"
                if silent >= ttl
                else ""
            )
            raise CampaignBusy(
                f"campaign {name!r} is being sent by another run ({holder}); nothing was done{stalled}. "
                "Wait for it to finish: once that process is gone, the next run takes over at once",
                holder,
            )
    elif silent < ttl:
        raise CampaignBusy(
            f"campaign {name!r} is being sent by another run ({holder}); nothing was done. Wait for it to "
            f"finish: if it is gone, the next run takes over once its heartbeat is {ttl:.0f} s old",
            holder,
        )
    log.warning("campaign %r: taking over the lease of a run that is gone (%s)", name, holder)
    return holder


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
    """
    with using_ledger(ledger, create=False) as opened:
        return opened.sends(campaign)
