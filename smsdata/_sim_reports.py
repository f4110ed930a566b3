"""The simulated gateway's delivery reports: which to post, when, and posting them.

:meth:`ReportScheduler.plan` decides, for one accepted request, which numbers
get a report, with which status, report time and due time (duplicates and
held-back reports included); it is synchronous and touches no event loop, so
the simulator's sync ``send()`` can call it from anywhere: a script, a thread,
a notebook cell inside a running loop. The reports are POSTed by a worker task
that runs in the loop serving the app, started by :meth:`ReportScheduler.start`
(the app does so at startup and on each request; ``drain()`` does too).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import threading
import time
from datetime import timedelta
from zoneinfo import ZoneInfo

import httpx
import numpy as np

from ._sim_rules import Accepted, SimulatorConfig, seeded_rng

__all__ = ["ReportScheduler"]

log = logging.getLogger("smsdata.simulator")

_POSTERS = 8  # reports POSTed at once
_ATTEMPTS = 4  # tries per body before giving up on it


class ReportScheduler:
    """Plans delivery reports per accepted request and posts them when due.

    Args:
        config: read when a request is planned and when reports are posted.
        transport: an httpx async transport for the callback (tests); ``None`` for the network.
    """

    def __init__(self, config: SimulatorConfig, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        self.posted = 0
        self.failed = 0
        self._transport = transport
        self._schedule: list[tuple[float, int, str]] = []  # (due on the monotonic clock, sequence, line)
        self._sequence = 0
        self._in_flight = 0
        self._lock = threading.Lock()  # plan() may run on any thread, the worker on its loop's
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        """Reports planned but not yet POSTed (or given up on)."""
        return len(self._schedule) + self._in_flight

    # -- planning: synchronous, from any thread

    def plan(self, accepted: Accepted) -> None:
        """Schedule the reports of one accepted request (none without a callback URL)."""
        cfg = self.config
        mobiles = accepted.mobiles
        n = len(mobiles)
        if not cfg.callback_url or not n:
            return
        rng = seeded_rng(cfg.seed, "reports", accepted.content, mobiles)
        has_report = rng.random(n) < cfg.report_share
        delivered = rng.random(n) < cfg.delivered_share
        names = list(cfg.failures) or ["UNKNOWN"]
        weights = np.array([cfg.failures.get(s, 1.0) for s in names], dtype=float)
        failure = rng.choice(len(names), size=n, p=weights / weights.sum())
        latency = rng.lognormal(math.log(max(cfg.latency_median, 1e-3)), cfg.latency_sigma, n)
        duplicate = rng.random(n) < cfg.duplicate_share
        held_back = rng.random(n) < cfg.out_of_order_share
        extra = rng.uniform(1.0, 3.0, n) * latency
        zone = ZoneInfo(cfg.tz)
        now = time.monotonic()
        due_lines: list[tuple[float, str]] = []
        for i in np.flatnonzero(has_report):
            status = "DELIVRD" if delivered[i] else names[failure[i]]
            when = accepted.accepted_at + timedelta(seconds=float(latency[i]))
            stamp = when.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
            line = f"Report={accepted.msgid},{mobiles[i]},{status},{stamp}"
            due = now + (latency[i] + (extra[i] if held_back[i] else 0.0)) * cfg.time_scale
            due_lines.append((float(due), line))
            if duplicate[i]:
                due_lines.append((float(due + rng.uniform(0.5, 5.0) * cfg.time_scale), line))
        with self._lock:
            for due, line in due_lines:
                self._sequence += 1
                heapq.heappush(self._schedule, (due, self._sequence, line))
        self._wake()

    def _wake(self) -> None:
        """Tell a running worker that the schedule changed; thread-safe, never waits."""
        loop, wakeup = self._loop, self._wakeup
        if loop is None or wakeup is None:
            return  # no worker yet: the next start() picks the schedule up
        try:
            loop.call_soon_threadsafe(wakeup.set)
        except RuntimeError:
            pass  # that loop has closed: the next start() runs a worker in a live one

    # -- posting: in the event loop that serves the app

    async def start(self) -> None:
        """Post due reports from the running loop, unless a worker already does in a live loop."""
        loop, worker = self._loop, self._worker
        if worker is not None and not worker.done() and loop is not None and not loop.is_closed():
            return
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        self._worker = self._loop.create_task(self._deliver_forever())

    async def aclose(self) -> None:
        """Stop posting (what is not yet posted stays :attr:`pending`)."""
        worker, loop = self._worker, self._loop
        self._worker = None
        if worker is None or loop is None or loop.is_closed():
            return
        if loop is asyncio.get_running_loop():
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
        else:  # a worker in another thread's loop: ask that loop to stop it
            loop.call_soon_threadsafe(worker.cancel)

    def _pop_due(self) -> tuple[list[str], float | None]:
        """Up to ``reports_per_post`` due lines; and how long until the next is due, if none is."""
        batch: list[str] = []
        with self._lock:
            now = time.monotonic()
            while self._schedule and len(batch) < self.config.reports_per_post and self._schedule[0][0] <= now:
                batch.append(heapq.heappop(self._schedule)[2])
            self._in_flight += len(batch)
            wait = None if batch or not self._schedule else self._schedule[0][0] - now
        return batch, wait

    async def _deliver_forever(self) -> None:
        wakeup = self._wakeup
        assert wakeup is not None
        queue: asyncio.Queue[list[str]] = asyncio.Queue(maxsize=64)
        async with httpx.AsyncClient(transport=self._transport, timeout=10.0) as client:
            posters = [asyncio.create_task(self._post_reports(client, queue)) for _ in range(_POSTERS)]
            try:
                while True:
                    wakeup.clear()  # before looking: a plan() after this look sets it again
                    batch, wait = self._pop_due()
                    if batch:
                        await queue.put(batch)
                        continue
                    try:
                        await asyncio.wait_for(wakeup.wait(), timeout=wait)
                    except TimeoutError:
                        pass
            finally:
                for task in posters:
                    task.cancel()
                await asyncio.gather(*posters, return_exceptions=True)

    async def _post_reports(self, client: httpx.AsyncClient, queue: asyncio.Queue[list[str]]) -> None:
        while True:
            batch = await queue.get()
            body = "\n".join(batch).encode()
            try:
                for attempt in range(_ATTEMPTS):
                    try:
                        response = await client.post(
                            self.config.callback_url,  # type: ignore[arg-type]
                            content=body,
                            headers={"Content-Type": "application/x-www-form-urlencoded"},
                        )
                        if response.status_code < 300:
                            self.posted += len(batch)
                            break
                    except httpx.HTTPError as exc:
                        log.debug("report callback failed: %s", exc)
                    await asyncio.sleep(0.2 * 2**attempt)
                else:
                    self.failed += len(batch)
                    log.warning("gave up posting %d report(s) to the callback", len(batch))
            finally:
                self._in_flight -= len(batch)
