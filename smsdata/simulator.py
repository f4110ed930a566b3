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

:class:`GatewaySimulator` is a thin ASGI adapter over two parts: the rules
(:class:`smsdata._sim_rules.GatewayRules`: what answer a request gets) and the
report scheduler (:class:`smsdata._sim_reports.ReportScheduler`: which reports
to post, when).

>>> sim = GatewaySimulator(accounts=[Account("demo", "demo", balance=Decimal(100))])
>>> app = sim.app  # serve with uvicorn, or test with httpx.ASGITransport(app)
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from decimal import Decimal as Decimal  # for the doctest above
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ._sim_reports import ReportScheduler
from ._sim_rules import DEFAULT_FAILURES, Accepted, Account, GatewayRules, SimulatorConfig

__all__ = ["DEFAULT_FAILURES", "Account", "GatewaySimulator", "SimulatorConfig"]


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


class GatewaySimulator:
    """The simulated gateway: its rules, its delivery reports and the ASGI :attr:`app` serving them.

    The accounts and the config given are copied, never changed: the simulator charges and
    configures its own (:attr:`accounts`, :attr:`config`; changing those applies to the next
    request).

    Args:
        accounts: the accounts it knows; by default one, uid ``demo`` password ``demo``.
        config: a :class:`SimulatorConfig`; keyword arguments override its fields.
        callback_transport: an httpx async transport for posting reports (tests).

    Raises:
        TypeError: a keyword argument names no field of :class:`SimulatorConfig`.
    """

    def __init__(
        self,
        accounts: list[Account] | None = None,
        config: SimulatorConfig | None = None,
        *,
        callback_transport: httpx.AsyncBaseTransport | None = None,
        **options: Any,
    ) -> None:
        self.config = (config or SimulatorConfig()).with_options(**options)
        ZoneInfo(self.config.tz)  # a bad zone fails here, not at the first report
        self.accounts = {a.uid: replace(a) for a in (accounts or [Account("demo", "demo")])}
        self._rules = GatewayRules(self.accounts, self.config)
        self._reports = ReportScheduler(self.config, transport=callback_transport)
        self.app = Starlette(
            routes=[
                Route("/_sim/state", self._state, methods=["GET"]),
                Route("/_sim/accepted", self._accepted_csv, methods=["GET"]),
                Route("/{path:path}", self._dispatch, methods=["GET", "POST"]),
            ],
            lifespan=self._lifespan,
        )

    # ------------------------------------------------------------ the rules, synchronously

    def balance(self, uid: str, pwd: str) -> tuple[int, str]:
        """Apply the gateway's rules to a balance query; return ``(code, message)``."""
        return self._rules.balance(uid, pwd)

    def send(self, uid: str, pwd: str, mobile: str, content: str) -> tuple[int, str, str]:
        """Apply the gateway's rules to one send; return ``(code, message, msgid)``.

        Synchronous and free of event loops: callable from a script, a thread, or a
        coroutine (a notebook cell). The delivery reports it plans are POSTed by the
        loop serving :attr:`app`, or during ``await`` :meth:`drain`.
        """
        code, message, accepted = self._rules.send(uid, pwd, mobile, content)
        if accepted is None:
            return code, message, ""
        self._reports.plan(accepted)
        return code, message, accepted.msgid

    @property
    def accepted(self) -> list[Accepted]:
        """Every accepted request, in order."""
        return self._rules.accepted

    @property
    def codes(self) -> Counter[str]:
        """Answers given, by ``send:<code>`` and ``balance:<code>``."""
        return self._rules.codes

    @property
    def deduplicated(self) -> int:
        """Numbers dropped as the same content to the same number."""
        return self._rules.deduplicated

    # ------------------------------------------------------------ reports

    @property
    def reports_posted(self) -> int:
        """Reports the callback accepted."""
        return self._reports.posted

    @property
    def reports_failed(self) -> int:
        """Reports given up on after retries."""
        return self._reports.failed

    @property
    def reports_pending(self) -> int:
        """Reports planned but not yet POSTed (or given up on)."""
        return self._reports.pending

    async def drain(self, timeout: float = 60.0) -> bool:
        """Wait until every planned report is POSTed (or given up on); ``False`` on timeout.

        Only the reports due within ``timeout`` can be waited for; use a small
        ``time_scale`` to compress latencies.
        """
        deadline = time.monotonic() + timeout
        if self.reports_pending:
            await self._reports.start()
        while self.reports_pending:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def aclose(self) -> None:
        """Stop posting reports (those not yet posted stay in :attr:`reports_pending`)."""
        await self._reports.aclose()

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

    # ------------------------------------------------------------ ASGI

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        if self.config.callback_url:
            await self._reports.start()  # reports planned by send() before any request go out too
        yield
        await self.aclose()

    async def _dispatch(self, request: Request) -> Response:
        path = request.url.path.rstrip("/")
        if not path.endswith(("/Message/send", "/Message/balance")):
            return PlainTextResponse("not found", status_code=404)
        if request.method != "POST":
            return PlainTextResponse("method not allowed: use POST", status_code=405)
        fields = await _fields(request)
        uid, pwd = fields.get("Uid", ""), fields.get("Pwd", "")
        if path.endswith("/Message/balance"):
            return _answer(*self.balance(uid, pwd))
        code, message, msgid = self.send(uid, pwd, fields.get("Mobile", ""), fields.get("Content", ""))
        if self.reports_pending:
            await self._reports.start()
        return _answer(code, message, msgid, malformed=code == 0 and self.config.malformed_success)

    async def _state(self, request: Request) -> Response:
        return JSONResponse(self.state())

    async def _accepted_csv(self, request: Request) -> Response:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["msgid", "mobile", "content"])
        writer.writerows(self.accepted_rows())
        return PlainTextResponse(out.getvalue(), media_type="text/csv; charset=utf-8")
