"""A sending run's side of the ledger: its lease, the writes of its transactions, what they carry.

:class:`Lease` is the right to send one campaign (see :meth:`smsdata.ledger.Ledger.acquire_lease`);
:func:`check_gone` decides whether another run's lease may be taken over, from
its holder's machine, process (:func:`this_machine`, :func:`process_tag`) and heartbeat.
:class:`LedgerBatch` is one transaction of claims, outcomes and heartbeats under a
lease; :class:`PlannedRequest` and :class:`Outcome` are what goes in and comes out.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ._ledger_tables import utcnow
from .errors import CampaignBusy

log = logging.getLogger("smsdata.ledger")

LEASE_TTL = 60.0
"""Seconds without a heartbeat after which a lease held from another machine may be taken over."""


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


def this_machine() -> str:
    """This machine and PID namespace: a PID means the same process only within it."""
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        namespace = 0
    return f"{socket.gethostname()}/{namespace}"


def process_tag(pid: int) -> str:
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
    return process_tag(pid) == process or process.endswith(":")


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


def check_gone(name: str, row: tuple[str, str, str, str], machine: str, ttl: float) -> str:
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
