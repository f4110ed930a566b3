"""The sending engine of a campaign run: bounded concurrency, a rate limit, group commit, claims.

Every request is claimed in the ledger (``planned -> in_flight``, one guarded
update checked by row count, under the run's lease) before its HTTP call, and
its outcome is written after it. Writes of many concurrent requests share
transactions (:class:`_GroupCommit`). All SQL lives in :mod:`smsdata.ledger` and its
private modules (:mod:`smsdata._leases`, :mod:`smsdata._ledger_tables`).

Stopping: an account-level code, an unreachable gateway, a lost lease or a
first Ctrl-C (:meth:`Sender.stop`) stops the run gracefully: nothing more is
claimed, requests already on the wire are answered and recorded, claimed
requests not yet sent go back to ``planned``. :meth:`Sender.abandon` (a second
Ctrl-C) and any cancellation cancel the workers: a request cancelled on the
wire is ``unknown`` if a byte of it left, ``planned`` if not.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from typing import Any

from . import _faults
from ._leases import Lease, Outcome, PlannedRequest
from ._ledger_tables import utcnow
from ._progress import progress_bar
from .errors import GatewayError, GatewayUnreachable, LeaseLost, LedgerError, SmsdataError
from .gateway import AsyncGateway
from .ledger import Ledger

__all__ = ["Sender"]

log = logging.getLogger("smsdata.campaign")


class _GroupCommit:
    """Batches a run's ledger writes from many concurrent requests into few durable transactions.

    ``claim`` and ``heartbeat`` return futures that resolve once written;
    ``record`` and ``put_back`` do not wait. One transaction at a time takes
    everything queued meanwhile (claims in one guarded update, outcomes in one
    ``executemany``), so with many requests in flight one fsync serves many. It
    runs on the event loop itself (after one yield, so that every answer already
    read can queue its write): handing each commit to a worker thread cost more
    CPU in thread switches than the fsync it moved (measured in bench/send.py).
    """

    def __init__(self, ledger: Ledger, lease: Lease) -> None:
        self._ledger = ledger
        self._lease = lease
        self.window = 0.0  # seconds to gather writes before each transaction
        self.confirmed_at = time.time()  # when a transaction last found the lease ours
        self.failure: Exception | None = None
        self._claims: list[tuple[int, asyncio.Future[bool]]] = []
        self._outcomes: list[tuple[int, Outcome]] = []
        self._put_backs: list[tuple[int, str]] = []
        self._heartbeats: list[asyncio.Future[bool]] = []
        self._task: asyncio.Task[None] | None = None

    def claim(self, request_id: int) -> asyncio.Future[bool]:
        """Claim a request; the future says whether it is this run's (or holds the LedgerError)."""
        waiter = asyncio.get_running_loop().create_future()
        self._claims.append((request_id, waiter))
        self._kick()
        return waiter

    def heartbeat(self) -> asyncio.Future[bool]:
        """Renew the lease; the future says whether it is still this run's."""
        waiter = asyncio.get_running_loop().create_future()
        self._heartbeats.append(waiter)
        self._kick()
        return waiter

    def record(self, request_id: int, outcome: Outcome) -> None:
        """Queue a request's outcome for the next transaction."""
        self._outcomes.append((request_id, outcome))
        self._kick()

    def put_back(self, request_id: int, message: str) -> None:
        """Queue a claimed request that was certainly not sent to go back to ``planned``."""
        self._put_backs.append((request_id, message))
        self._kick()

    def _kick(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())

    def _queued(self) -> bool:
        return bool(self._claims or self._outcomes or self._put_backs or self._heartbeats)

    async def _drain(self) -> None:
        while self._queued():
            await asyncio.sleep(self.window)
            self._commit()

    def _commit(self) -> None:
        if not self._queued():
            return
        claims, self._claims = self._claims, []
        outcomes, self._outcomes = self._outcomes, []
        put_backs, self._put_backs = self._put_backs, []
        heartbeats, self._heartbeats = self._heartbeats, []
        started = time.time()
        try:
            with self._ledger.batch(self._lease) as batch:
                # in this order: a request claimed and put back in one batch ends planned
                claimed = batch.claim([request_id for request_id, _ in claims])
                batch.record(outcomes)
                for request_id, message in put_backs:
                    batch.put_back(request_id, message)
                renewed = batch.heartbeat() if heartbeats else True
        except Exception as exc:  # a LedgerError, or a bug: either way no waiter may hang on it
            self.failure = self.failure or exc
            for waiter in [*(w for _, w in claims), *heartbeats]:
                if not waiter.done():
                    waiter.set_exception(exc)
            return
        if batch.lease_confirmed:
            self.confirmed_at = started
        for request_id, waiter in claims:
            if not waiter.done():
                waiter.set_result(request_id in claimed)
        for waiter in heartbeats:
            if not waiter.done():
                waiter.set_result(renewed)

    def flush(self) -> None:
        """Commit everything queued now, synchronously (it works while the run is being cancelled).

        Raises:
            LedgerError: this or an earlier transaction failed: its writes are not recorded
                (raised by every later flush too: it is never forgotten).
        """
        self._commit()
        if self._task is not None and not self._task.done():
            self._task.cancel()  # it has nothing left to do
        if self.failure is not None:
            raise self.failure


class _Wire:
    """Whether a request's first byte has gone on the wire (see ``AsyncGateway.send(on_write=)``)."""

    written = False

    def mark(self) -> None:
        self.written = True
        _faults.reached("written")


class Sender:
    """Sends a run's planned requests with bounded concurrency and an optional rate limit.

    Attributes:
        stopped: the error that stopped the run early (account-level code,
            unreachable gateway, lost lease), else ``None``.
        sent: requests this run sent (their outcome recorded: accepted, rejected or
            unknown); requests put back to ``planned`` do not count.
    """

    def __init__(
        self,
        gateway: AsyncGateway,
        ledger: Ledger,
        lease: Lease,
        *,
        concurrency: int,
        rate_limit: float | None,
    ) -> None:
        self.gateway = gateway
        self.lease = lease
        self.commits = _GroupCommit(ledger, lease)
        self.concurrency = concurrency
        self.interval = 1.0 / rate_limit if rate_limit else 0.0
        self.stopped: GatewayError | GatewayUnreachable | LeaseLost | None = None
        self.sent = 0
        self._latency = 0.0  # moving average of one request's round trip, seconds
        self._next_start = 0.0
        self._stopping = False
        self._workers: list[asyncio.Task[None]] = []

    async def run(self, todo: list[PlannedRequest], *, progress: bool, name: str) -> None:
        """Send ``todo``; return when every request is recorded, or the run stopped.

        Raises:
            LedgerError: the ledger could not be written (the run stops first).
            asyncio.CancelledError: the run was cancelled (after recording what it did).
        """
        queue = iter(todo)
        total = sum(r.recipients for r in todo)
        failure: BaseException | None = None
        with progress_bar(total=total, desc=name, unit="msg", enabled=progress and bool(todo)) as bar:
            heartbeat = asyncio.get_running_loop().create_task(self._heartbeat())
            try:
                async with asyncio.TaskGroup() as workers:
                    self._workers = [
                        workers.create_task(self._worker(queue, bar)) for _ in range(min(self.concurrency, len(todo)))
                    ]
            except* LedgerError as group:
                failure = group.exceptions[0]
            finally:
                heartbeat.cancel()
                self.commits.flush()
        if failure is not None:
            raise failure

    def stop(self) -> None:
        """Stop gracefully (a first Ctrl-C): claim nothing more; what is on the wire is answered and recorded."""
        if not self._stopping:
            log.warning(
                "interrupted: waiting for the requests already sent to be answered (interrupt again to stop now)"
            )
        self._stopping = True

    def abandon(self) -> None:
        """Stop now (a second Ctrl-C): cancel the workers; a request on the wire is recorded
        ``unknown`` if a byte of it left, ``planned`` if not."""
        self._stopping = True
        for worker in self._workers:
            worker.cancel()

    def _stop(self, reason: GatewayError | GatewayUnreachable | LeaseLost) -> None:
        self.stopped = self.stopped or reason
        self._stopping = True

    def _stop_lease_lost(self) -> None:
        self._stop(LeaseLost(f"campaign {self.lease.campaign!r} was taken over by another run"))

    async def _heartbeat(self) -> None:
        """Renew the lease while requests are slow to come back (each claim renews it too)."""
        while True:
            await asyncio.sleep(self.lease.ttl / 6)
            try:
                renewed = await self.commits.heartbeat()
            except LedgerError:
                return  # kept in commits.failure; raised when the run ends
            if not renewed:
                self._stop_lease_lost()
                return

    def _claim(self, queue: Iterator[PlannedRequest], claimed: list[PlannedRequest]) -> asyncio.Future[bool] | None:
        """Start claiming the next request (one ahead of the one on the wire); ``None`` when none is left."""
        if self._stopping or self.commits.failure is not None:
            return None
        request = next(queue, None)
        if request is None:
            return None
        claimed.append(request)
        return self.commits.claim(request.id)

    async def _worker(self, queue: Iterator[PlannedRequest], bar: Any) -> None:
        # The next request is claimed while this one is on the wire, which takes the
        # fsync off every request's path. A kill -9 can then leave one claimed request
        # per worker that never went out; the next run finds it in_flight and settles it
        # as unknown, which is safe: resent only on request, byte-identical, deduplicated.
        claimed: list[PlannedRequest] = []  # claimed (or being claimed) by this worker, not yet sent
        ahead = self._claim(queue, claimed)
        try:
            while ahead is not None:
                if not await ahead:
                    self._stop_lease_lost()
                    return
                _faults.reached("claimed")
                if self._stopping or not await self._lease_fresh():
                    return
                request = claimed.pop(0)
                ahead = self._claim(queue, claimed)
                await self._pace()
                await self._send(request)
                bar.update(request.recipients)
        finally:
            for request in claimed:  # claimed but never handed to the gateway
                self._record_put_back(request, "not sent: the run stopped before it")

    async def _lease_fresh(self) -> bool:
        """Whether this run may still send: its lease was confirmed recently enough that no
        other run can have taken it over (a takeover needs ``ttl`` seconds of silence)."""
        if time.time() - self.commits.confirmed_at < self.lease.ttl / 2:
            return True
        if await self.commits.heartbeat():
            return True
        self._stop_lease_lost()
        return False

    async def _pace(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        start = max(now, self._next_start)
        self._next_start = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)

    async def _send(self, request: PlannedRequest) -> None:
        """Send one claimed request and record what became of it (also when cancelled on the wire)."""
        wire = _Wire()
        sent_at = utcnow()
        started = time.monotonic()
        try:
            result = await self.gateway.send(request.mobiles, request.content, on_write=wire.mark)
        except asyncio.CancelledError:
            self._record_abandoned(request, wire, sent_at)
            raise
        except SmsdataError as exc:
            self._record_failure(request, exc, sent_at)
            return
        _faults.reached("answered")
        self._gather_for(time.monotonic() - started)
        outcome = Outcome("accepted", str(result.code), result.message, result.msgid, sent_at, utcnow())
        self._record_outcome(request, outcome)

    def _record_failure(self, request: PlannedRequest, exc: SmsdataError, sent_at: str) -> None:
        if (isinstance(exc, GatewayError) and exc.account_level) or isinstance(exc, GatewayUnreachable):
            self._stop(exc)  # type: ignore[arg-type]
            self._record_put_back(request, f"not sent: {exc}")
        elif isinstance(exc, GatewayError):
            self._record_outcome(request, Outcome("rejected", str(exc.code), exc.message, None, sent_at, utcnow()))
        else:  # OutcomeUnknown, ProtocolError: it may have been processed
            self._record_outcome(request, Outcome("unknown", None, str(exc), None, sent_at, utcnow()))

    def _record_abandoned(self, request: PlannedRequest, wire: _Wire, sent_at: str) -> None:
        if wire.written:
            message = "interrupted while the request was on the wire: it may or may not have reached the gateway"
            self._record_outcome(request, Outcome("unknown", None, message, None, sent_at, utcnow()))
        else:
            self._record_put_back(request, "not sent: interrupted before it went out")

    def _record_outcome(self, request: PlannedRequest, outcome: Outcome) -> None:
        self.sent += 1  # it went out (or may have): what was put back never counts
        self.commits.record(request.id, outcome)

    def _record_put_back(self, request: PlannedRequest, message: str) -> None:
        self.commits.put_back(request.id, message)

    def _gather_for(self, latency: float) -> None:
        # Requests are claimed one ahead (see _worker), so the ledger may gather writes
        # for a quarter of a round trip into one fsync and delay no request.
        self._latency = latency if not self._latency else 0.9 * self._latency + 0.1 * latency
        self.commits.window = min(0.02, self._latency / 4)
