"""A faithful fake of the gateway, as an ASGI app: the stand-in for the real one.

It serves ``{any prefix}/Message/send`` and ``{any prefix}/Message/balance``
as the gateway document describes them, so ``http://127.0.0.1:8765/Admin/index.php``
works as a base URL exactly as the real one does:

* accounts with uid, password, balance and a frozen flag; every code of the
  send table (0-8) and the balance table (0-2), in the same JSON shape;
* by default the success answer of ``/Message/send`` is the document's own
  malformed body (``"msgid":"800001""}``), so clients meet it;
* the balance is charged per message segment (70 characters for one, 67 per
  segment beyond) per number, ``price`` units a segment;
* the same content to the same number is de-duplicated (not sent, not charged);
* delivery reports ``Report=msgid,mobile,status,time`` are POSTed to a
  callback URL, with a configurable delivered share, status mix, latency
  distribution, duplicates and out-of-order arrivals, reproducible with a seed.

Its own record (``/_sim/state`` as JSON, ``/_sim/accepted`` as CSV, or the
:class:`GatewaySimulator` attributes) says what it accepted, for tests.

>>> sim = GatewaySimulator(accounts=[Account("demo", "demo", balance=Decimal(100))])
>>> app = sim.app  # serve with uvicorn, or test with httpx.ASGITransport(app)
"""

from __future__ import annotations

import asyncio
import csv
import heapq
import io
import json
import logging
import math
import re
import time
import zlib
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import httpx
import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ._limits import MAX_CONTENT_CHARS, MAX_MOBILES, MULTI_SEGMENT, SINGLE_SEGMENT
from .config import DEFAULT_TZ
from .content import count_segments

__all__ = ["DEFAULT_FAILURES", "Account", "GatewaySimulator", "SimulatorConfig"]

log = logging.getLogger("smsdata.simulator")

_MOBILE_RE = re.compile(r"1[3-9]\d{9}")
DEFAULT_FAILURES = {"UNKNOWN": 0.4, "UNDELIV": 0.25, "EXPIRED": 0.15, "REJECTD": 0.1, "MK:0005": 0.1}


@dataclass
class Account:
    """A gateway account. ``balance`` is in the gateway's units (messages by default)."""

    uid: str
    pwd: str = field(repr=False)
    balance: Decimal = Decimal("100000")
    frozen: bool = False


@dataclass
class SimulatorConfig:
    """How the simulated gateway behaves. Shares are probabilities in [0, 1]; times in seconds.

    Attributes:
        malformed_success: answer sends with the document's malformed success body.
        single_segment, multi_segment: segment sizes in characters.
        price: balance units charged per segment per number.
        dedupe: drop the same content to the same number, as the real gateway does.
        fail_share: share of valid sends answered with code 7 (send failed).
        callback_url: where delivery reports are POSTed; ``None`` sends none.
        report_share: share of accepted messages that ever get a report.
        delivered_share: share of reports that are ``DELIVRD``.
        failures: the failure statuses and their relative weights.
        latency_median, latency_sigma: log-normal time from send to report.
        time_scale: real waiting is ``latency * time_scale`` (0.01 compresses 100x);
            the report *time* still says the uncompressed latency.
        duplicate_share: share of reports POSTed twice.
        out_of_order_share: share of reports held back so they arrive after later ones.
        reports_per_post: reports per POSTed body, one per line.
        tz: the gateway's local time zone, in which report times are written.
        seed: makes statuses and latencies reproducible (per request content).
        msgid_start: first msgid; by default derived from the clock so restarts never reuse one.
    """

    malformed_success: bool = True
    single_segment: int = SINGLE_SEGMENT
    multi_segment: int = MULTI_SEGMENT
    price: Decimal = Decimal("1")
    dedupe: bool = True
    fail_share: float = 0.0
    callback_url: str | None = None
    report_share: float = 0.98
    delivered_share: float = 0.9
    failures: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_FAILURES))
    latency_median: float = 8.0
    latency_sigma: float = 1.0
    time_scale: float = 1.0
    duplicate_share: float = 0.02
    out_of_order_share: float = 0.05
    reports_per_post: int = 1
    tz: str = DEFAULT_TZ
    seed: int | None = None
    msgid_start: int | None = None


@dataclass(frozen=True)
class _Accepted:
    msgid: str
    mobiles: tuple[str, ...]
    content: str
    segments: int
    accepted_at: datetime


def _answer(code: int, message: str, msgid: str = "", *, malformed: bool = False) -> Response:
    status = "success" if code == 0 else "error"
    if malformed:
        # The document's own success example, byte for byte in shape.
        body = f'{{"status":"{status}","respCode":"{code}","respMsg":"{message}", "msgid":"{msgid}""}}'
    else:
        body = json.dumps({"status": status, "respCode": str(code), "respMsg": message, "msgid": msgid})
    return Response(body, media_type="text/html; charset=utf-8")


async def _fields(request: Request) -> dict[str, str]:
    """The POSTed fields, from a form-encoded or a JSON body."""
    raw = await request.body()
    text = raw.decode("utf-8", errors="replace")
    if "json" in request.headers.get("content-type", ""):
        try:
            data = json.loads(text)
        except ValueError:
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}


_last_start = 0


def _clock_msgid_start() -> int:
    """A msgid start from the clock (100 per ms), past any earlier simulator in this process,
    so a restarted simulator never reuses a msgid a ledger already holds."""
    global _last_start
    _last_start = max(time.time_ns() // 10_000, _last_start + 10**7)
    return _last_start


class GatewaySimulator:
    """The simulated gateway: state, rules and the ASGI :attr:`app` serving them.

    Args:
        accounts: the accounts it knows; by default one, uid ``demo`` password ``demo``.
        config: a :class:`SimulatorConfig`; keyword arguments override its fields.
        callback_transport: an httpx async transport for posting reports (tests).
    """

    def __init__(
        self,
        accounts: list[Account] | None = None,
        config: SimulatorConfig | None = None,
        *,
        callback_transport: httpx.AsyncBaseTransport | None = None,
        **options: Any,
    ) -> None:
        self.config = config or SimulatorConfig()
        for key, value in options.items():
            if not hasattr(self.config, key):
                raise TypeError(f"unknown simulator option {key!r}")
            setattr(self.config, key, value)
        self.accounts = {a.uid: a for a in (accounts or [Account("demo", "demo")])}
        self.accepted: list[_Accepted] = []
        self.codes: Counter[str] = Counter()
        self.deduplicated = 0
        self.reports_posted = 0
        self.reports_failed = 0
        self._seen: set[tuple[str, int]] = set()
        self._content_ids: dict[str, int] = {}
        start = self.config.msgid_start
        self._next_msgid = start if start is not None else _clock_msgid_start()
        self._zone = ZoneInfo(self.config.tz)
        self._callback_transport = callback_transport
        self._schedule: list[tuple[float, int, str]] = []
        self._sequence = 0
        self._in_flight = 0
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self.app = Starlette(
            routes=[
                Route("/_sim/state", self._state, methods=["GET"]),
                Route("/_sim/accepted", self._accepted_csv, methods=["GET"]),
                Route("/{path:path}", self._dispatch, methods=["GET", "POST"]),
            ],
            lifespan=self._lifespan,
        )

    # ------------------------------------------------------------ HTTP

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        yield
        await self.aclose()

    async def _dispatch(self, request: Request) -> Response:
        path = request.url.path.rstrip("/")
        if not path.endswith(("/Message/send", "/Message/balance")):
            return PlainTextResponse("not found", status_code=404)
        if request.method != "POST":
            return PlainTextResponse("method not allowed: use POST", status_code=405)
        fields = await _fields(request)
        if path.endswith("/Message/balance"):
            return self._balance(fields)
        return self._send(fields)

    def _authenticate(self, fields: dict[str, str]) -> Account | None:
        account = self.accounts.get(fields.get("Uid", ""))
        pwd = fields.get("Pwd", "")
        if account is None or not pwd or pwd != account.pwd:
            return None
        return account

    def _balance(self, fields: dict[str, str]) -> Response:
        code, message = self.balance(fields.get("Uid", ""), fields.get("Pwd", ""))
        return _answer(code, message)

    def _send(self, fields: dict[str, str]) -> Response:
        code, message, msgid = self.send(
            fields.get("Uid", ""), fields.get("Pwd", ""), fields.get("Mobile", ""), fields.get("Content", "")
        )
        return _answer(code, message, msgid, malformed=code == 0 and self.config.malformed_success)

    # ------------------------------------------------------------ rules

    def balance(self, uid: str, pwd: str) -> tuple[int, str]:
        """Apply the gateway's rules to a balance query; return ``(code, message)``."""
        account = self._authenticate({"Uid": uid, "Pwd": pwd})
        code, message = (
            (1, "Uid, pwd is empty or wrong")
            if account is None
            else (2, "The account has been frozen")
            if account.frozen
            else (0, f"{account.balance:.2f}")
        )
        self.codes[f"balance:{code}"] += 1
        return code, message

    def send(self, uid: str, pwd: str, mobile: str, content: str) -> tuple[int, str, str]:
        """Apply the gateway's rules to one send; return ``(code, message, msgid)``."""
        code, message, msgid = self._apply_send(uid, pwd, mobile, content)
        self.codes[f"send:{code}"] += 1
        return code, message, msgid

    def _apply_send(self, uid: str, pwd: str, mobile: str, content: str) -> tuple[int, str, str]:
        account = self._authenticate({"Uid": uid, "Pwd": pwd})
        if account is None:
            return 1, "Uid, pwd is empty or wrong", ""
        if account.frozen:
            return 8, "Account is frozen", ""
        if not content.strip():
            return 3, "The content is empty", ""
        if len(content) > MAX_CONTENT_CHARS:
            return 4, "Super long content", ""
        mobiles = [m.strip() for m in mobile.split(",") if m.strip()]
        if not mobiles:
            return 2, "Sending a mobile phone is empty or wrong", ""
        if len(mobiles) > MAX_MOBILES:
            return 6, "The number of mobile phone numbers issued exceeded 5,000", ""
        if any(not _MOBILE_RE.fullmatch(m) for m in mobiles):
            return 2, "Sending a mobile phone is empty or wrong", ""
        fresh = self._fresh(mobiles, content)
        segments = count_segments(len(content), single=self.config.single_segment, multi=self.config.multi_segment)
        cost = self.config.price * segments * len(fresh)
        if cost > account.balance:
            return 5, "Insufficient balance", ""
        if self.config.fail_share and self._rng(content, mobiles, "fail").random() < self.config.fail_share:
            return 7, "Failed to send", ""
        account.balance -= cost
        msgid = str(self._next_msgid)
        self._next_msgid += 1
        self.deduplicated += len(mobiles) - len(fresh)
        if self.config.dedupe:
            cid = self._content_ids.setdefault(content, len(self._content_ids))
            self._seen.update((m, cid) for m in fresh)
        accepted = _Accepted(msgid, tuple(fresh), content, segments, datetime.now(UTC))
        self.accepted.append(accepted)
        if self.config.callback_url and fresh:
            self._plan_reports(accepted)
        return 0, "send success", msgid

    def _fresh(self, mobiles: list[str], content: str) -> list[str]:
        """The numbers that have not had this content yet (all of them without dedupe)."""
        if not self.config.dedupe:
            return mobiles
        cid = self._content_ids.get(content)
        unique = list(dict.fromkeys(mobiles))
        return unique if cid is None else [m for m in unique if (m, cid) not in self._seen]

    def _rng(self, content: str, mobiles: list[str] | tuple[str, ...], purpose: str) -> np.random.Generator:
        if self.config.seed is None:
            return np.random.default_rng()
        key = zlib.crc32(f"{purpose}\x00{content}\x00{','.join(mobiles)}".encode())
        return np.random.default_rng([self.config.seed, key])

    # ------------------------------------------------------------ reports

    def _plan_reports(self, accepted: _Accepted) -> None:
        cfg = self.config
        mobiles = accepted.mobiles
        n = len(mobiles)
        rng = self._rng(accepted.content, mobiles, "reports")
        has_report = rng.random(n) < cfg.report_share
        delivered = rng.random(n) < cfg.delivered_share
        names = list(cfg.failures) or ["UNKNOWN"]
        weights = np.array([cfg.failures.get(s, 1.0) for s in names], dtype=float)
        failure = rng.choice(len(names), size=n, p=weights / weights.sum())
        latency = rng.lognormal(math.log(max(cfg.latency_median, 1e-3)), cfg.latency_sigma, n)
        duplicate = rng.random(n) < cfg.duplicate_share
        held_back = rng.random(n) < cfg.out_of_order_share
        extra = rng.uniform(1.0, 3.0, n) * latency
        now = time.monotonic()
        for i in np.flatnonzero(has_report):
            status = "DELIVRD" if delivered[i] else names[failure[i]]
            when = accepted.accepted_at + timedelta(seconds=float(latency[i]))
            stamp = when.astimezone(self._zone).strftime("%Y-%m-%d %H:%M:%S")
            line = f"Report={accepted.msgid},{mobiles[i]},{status},{stamp}"
            due = now + (latency[i] + (extra[i] if held_back[i] else 0.0)) * cfg.time_scale
            self._push(due, line)
            if duplicate[i]:
                self._push(due + rng.uniform(0.5, 5.0) * cfg.time_scale, line)
        self._start_worker()

    def _push(self, due: float, line: str) -> None:
        self._sequence += 1
        heapq.heappush(self._schedule, (float(due), self._sequence, line))

    def _start_worker(self) -> None:
        if self._worker is None or self._worker.done():
            self._wakeup = asyncio.Event()
            self._worker = asyncio.get_running_loop().create_task(self._deliver_forever())
        else:
            assert self._wakeup is not None
            self._wakeup.set()

    @property
    def reports_pending(self) -> int:
        """Reports planned but not yet POSTed (or given up on)."""
        return len(self._schedule) + self._in_flight

    async def _deliver_forever(self) -> None:
        assert self._wakeup is not None
        queue: asyncio.Queue[list[str]] = asyncio.Queue(maxsize=64)
        async with httpx.AsyncClient(transport=self._callback_transport, timeout=10.0) as client:
            posters = [asyncio.create_task(self._post_reports(client, queue)) for _ in range(8)]
            try:
                while True:
                    if not self._schedule:
                        self._wakeup.clear()
                        await self._wakeup.wait()
                        continue
                    delay = self._schedule[0][0] - time.monotonic()
                    if delay > 0:
                        self._wakeup.clear()
                        try:
                            await asyncio.wait_for(self._wakeup.wait(), timeout=delay)
                        except TimeoutError:
                            pass
                        continue
                    batch = []
                    while self._schedule and len(batch) < self.config.reports_per_post:
                        if self._schedule[0][0] > time.monotonic():
                            break
                        batch.append(heapq.heappop(self._schedule)[2])
                    self._in_flight += len(batch)
                    await queue.put(batch)
            finally:
                for task in posters:
                    task.cancel()
                await asyncio.gather(*posters, return_exceptions=True)

    async def _post_reports(self, client: httpx.AsyncClient, queue: asyncio.Queue[list[str]]) -> None:
        while True:
            batch = await queue.get()
            body = "\n".join(batch).encode()
            try:
                for attempt in range(4):
                    try:
                        response = await client.post(
                            self.config.callback_url,  # type: ignore[arg-type]
                            content=body,
                            headers={"Content-Type": "application/x-www-form-urlencoded"},
                        )
                        if response.status_code < 300:
                            self.reports_posted += len(batch)
                            break
                    except httpx.HTTPError as exc:
                        log.debug("report callback failed: %s", exc)
                    await asyncio.sleep(0.2 * 2**attempt)
                else:
                    self.reports_failed += len(batch)
                    log.warning("gave up posting %d report(s) to the callback", len(batch))
            finally:
                self._in_flight -= len(batch)

    async def drain(self, timeout: float = 60.0) -> bool:
        """Wait until every planned report is POSTed (or given up on); ``False`` on timeout.

        Only the reports due within ``timeout`` can be waited for; use a small
        ``time_scale`` to compress latencies.
        """
        deadline = time.monotonic() + timeout
        while self.reports_pending:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def aclose(self) -> None:
        """Stop posting reports (those not yet posted stay in :attr:`reports_pending`)."""
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None

    # ------------------------------------------------------------ record

    def state(self) -> dict[str, Any]:
        """A JSON-ready summary: balances, counts of codes, accepted and reports."""
        return {
            "accounts": {uid: {"balance": str(a.balance), "frozen": a.frozen} for uid, a in self.accounts.items()},
            "codes": dict(self.codes),
            "requests_accepted": len(self.accepted),
            "messages_accepted": sum(len(a.mobiles) for a in self.accepted),
            "deduplicated": self.deduplicated,
            "reports_posted": self.reports_posted,
            "reports_failed": self.reports_failed,
            "reports_pending": self.reports_pending,
        }

    def accepted_rows(self) -> list[tuple[str, str, str]]:
        """One ``(msgid, mobile, content)`` per accepted message, in order of acceptance."""
        return [(a.msgid, m, a.content) for a in self.accepted for m in a.mobiles]

    async def _state(self, request: Request) -> Response:
        return JSONResponse(self.state())

    async def _accepted_csv(self, request: Request) -> Response:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["msgid", "mobile", "content"])
        writer.writerows(self.accepted_rows())
        return PlainTextResponse(out.getvalue(), media_type="text/csv; charset=utf-8")
