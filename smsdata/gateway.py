"""The gateway client: :class:`Gateway` (blocking) and :class:`AsyncGateway`, on httpx.

Both wrap one httpx client, validate locally before any request, parse the
gateway's answers leniently and translate every httpx error at one boundary
(:func:`_map_transport_errors`) into the tree of :mod:`smsdata.errors`.

Retry policy, because the gateway has no idempotency key:

* a request that certainly did not reach the gateway (connection refused,
  DNS failure, connect or pool timeout) is retried with exponential backoff,
  for ``send`` and ``balance`` alike;
* once a ``send`` may have reached the gateway (read timeout, connection
  dropped mid-answer) it is never retried: :class:`OutcomeUnknown` is raised;
* ``balance`` changes nothing, so it is also retried on read timeouts and
  HTTP 5xx answers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, TypeVar
from urllib.parse import urlencode

import httpx

from ._limits import MAX_CONTENT_CHARS, MAX_MOBILES
from .config import Secret, check_url, load_settings, shown_url
from .errors import (
    ConfigError,
    ContentTooLong,
    EmptyContent,
    GatewayUnreachable,
    InvalidMobile,
    OutcomeUnknown,
    ProtocolError,
    SmsdataError,
    TooManyMobiles,
    balance_error,
    send_error,
)

__all__ = ["MAX_CONTENT_CHARS", "MAX_MOBILES", "AsyncGateway", "Balance", "Gateway", "SendResult"]

SEND_PATH = "/Message/send"
BALANCE_PATH = "/Message/balance"

log = logging.getLogger("smsdata.gateway")

# Keep every pooled connection alive: httpx's default keeps 20, so a campaign at
# concurrency 32 would reconnect on most requests.
_DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=100)

Encoding = Literal["form", "json"]
T = TypeVar("T")


@dataclass(frozen=True)
class SendResult:
    """An accepted send: ``msgid`` keys the delivery reports of every number in it.

    ``msgid`` is ``""`` if the gateway accepted without giving one (never seen,
    but the document does not promise it).
    """

    msgid: str
    code: int | str
    message: str


@dataclass(frozen=True)
class Balance:
    """The account balance: ``value`` parsed from ``respMsg``, ``raw`` as received."""

    value: Decimal
    raw: str


# ---------------------------------------------------------------- parsing

_FIELD_RE = re.compile(
    r'"(status|respCode|respMsg|msgid)"\s*:\s*'
    r'(?:"((?:[^"\\]|\\.)*)"|(-?\d+(?:\.\d+)?)|null|true|false)',
    re.IGNORECASE,
)
_KEYS = {"status": "status", "respcode": "respCode", "respmsg": "respMsg", "msgid": "msgid"}
_NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?")


def _decode(content: bytes) -> str:
    """Decode an answer: UTF-8 (BOM or not), else GB18030 (Chinese gateways), else Latin-1."""
    for codec in ("utf-8-sig", "gb18030"):
        try:
            return content.decode(codec)
        except UnicodeDecodeError:
            continue
    return content.decode("latin-1")


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _normalise_code(value: Any) -> int | str:
    text = str(value).strip()
    return int(text) if re.fullmatch(r"-?\d+", text) else text


def parse_answer(body: str, status_code: int | None = None) -> dict[str, Any]:
    """Parse a gateway answer into ``{status, respCode, respMsg, msgid}``, leniently.

    Strict JSON first; when that fails (the document's own success example
    ends ``"msgid":"123""}``) each known field is recovered on its own.
    ``respCode`` comes back as an ``int`` where numeric, else the raw string.

    Raises:
        ProtocolError: neither ``respCode`` nor ``status`` can be recovered.

    >>> parse_answer('{"status":"success","respCode":"0","respMsg":"ok", "msgid":"123""}')["msgid"]
    '123'
    """
    text = body.strip().lstrip("\ufeff")
    fields: dict[str, Any] = {}
    # The document's own success shape ("msgid":"123""}) is the common case: mend it first
    # rather than after a failed parse (an exception per answer).
    parsed = _loads(text[:-3] + '"}') if text.endswith('""}') else None
    if parsed is None:
        parsed = _loads(text)
    if isinstance(parsed, dict):
        fields = {_KEYS[k.lower()]: v for k, v in parsed.items() if k.lower() in _KEYS}
    else:
        for match in _FIELD_RE.finditer(text):
            key = _KEYS[match.group(1).lower()]
            if key in fields:
                continue
            raw = match.group(2) if match.group(2) is not None else match.group(3)
            if raw is not None and match.group(2) is not None:
                try:
                    raw = json.loads(f'"{raw}"')  # undo \" and \uXXXX escapes
                except ValueError:
                    pass
            fields[key] = raw
    status = str(fields.get("status") or "").strip().lower()
    if fields.get("respCode") is None:
        if status == "success":
            fields["respCode"] = 0
        else:
            raise ProtocolError("not a gateway answer", status_code=status_code, body=body)
    fields["respCode"] = _normalise_code(fields["respCode"])
    fields["status"] = status
    fields["respMsg"] = "" if fields.get("respMsg") is None else str(fields["respMsg"])
    fields["msgid"] = "" if fields.get("msgid") is None else str(fields["msgid"]).strip()
    if fields["respCode"] == 0 and status == "error":
        raise ProtocolError("answer says both success (0) and error", status_code=status_code, body=body)
    return fields


def _number_in(text: str) -> Decimal | None:
    """The first number in ``text`` (thousands separators allowed), or ``None``."""
    match = _NUMBER_RE.search(text.replace(",", ""))
    try:
        return Decimal(match.group(0)) if match else None
    except InvalidOperation:
        return None


def mobile_list(mobiles: str | Iterable[str]) -> list[str]:
    """Split ``mobiles`` (a comma-separated string or an iterable) into clean items.

    Spaces around items are removed and empty items dropped; no format check
    is made here (that is :mod:`smsdata.numbers`' job).

    Raises:
        InvalidMobile: an item of an iterable contains a comma.
    """
    if isinstance(mobiles, str):
        items = mobiles.replace("\uff0c", ",").split(",")
    else:
        items = [str(m) for m in mobiles]
        bad = next((m for m in items if "," in m), None)
        if bad is not None:
            raise InvalidMobile(2, f"a mobile contains a comma: {bad!r}")
    return [m.strip() for m in items if m.strip()]


def _check_send(mobiles: list[str], content: str) -> None:
    """Raise what the gateway would answer, before spending a request on it."""
    if not content or not content.strip():
        raise EmptyContent(3, "content is empty")
    if len(content) > MAX_CONTENT_CHARS:
        raise ContentTooLong(4, f"content is {len(content)} characters; the gateway takes at most {MAX_CONTENT_CHARS}")
    if not mobiles:
        raise InvalidMobile(2, "no mobile numbers given")
    if len(mobiles) > MAX_MOBILES:
        raise TooManyMobiles(6, f"{len(mobiles)} numbers; the gateway takes at most {MAX_MOBILES} per request")


# ---------------------------------------------------------------- transport boundary


class _RequestBody(bytes):
    """The encoded form or JSON body: it holds the password, so its repr never shows it.

    Tracebacks that capture frame locals (Sentry, IPython's verbose mode,
    ``pytest -l``) print every local with ``repr``.
    """

    def __repr__(self) -> str:
        return f"<request body, {len(self)} bytes, not shown>"


_FORM = {"Content-Type": "application/x-www-form-urlencoded"}
_JSON = {"Content-Type": "application/json"}


def _transport_error(exc: httpx.HTTPError, base_url: str, pwd: Secret) -> SmsdataError:
    """Map an httpx error: not sent -> GatewayUnreachable, maybe sent -> OutcomeUnknown.

    The caller raises the result *outside* its ``except`` block, so the httpx
    exception (whose ``request.content`` holds the password) is in no chain.
    """
    detail = pwd.redact(shown_url(f"{type(exc).__name__}: {exc}"))
    base_url = shown_url(base_url)
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return GatewayUnreachable(f"cannot reach the gateway at {base_url}: {detail}")
    if isinstance(exc, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError):
        return OutcomeUnknown(
            f"no answer from {base_url} after the request went out ({detail}); it may or may not have been processed"
        )
    if isinstance(exc, httpx.UnsupportedProtocol):
        return ConfigError(f"bad gateway URL {base_url!r}: {detail}")
    return OutcomeUnknown(f"HTTP failure talking to {base_url}: {detail}")


class _WireWatch:
    """Calls ``on_write`` once, when the request's first byte is about to be written.

    httpcore reports ``*.send_request_headers.started`` through the ``trace``
    extension; a transport that reports nothing (a mock, an ASGI app) counts as
    written as soon as it is handed the request, which is the safe side.
    """

    def __init__(self, on_write: Callable[[], object] | None, traced: bool) -> None:
        self._on_write = on_write
        self._traced = traced
        self._written = False

    def extensions(self, *, asynchronous: bool) -> dict[str, Any]:
        """The httpx request extensions to pass, if any (httpcore wants an async trace for async I/O)."""
        if self._on_write is None or not self._traced:
            return {}
        return {"trace": self._atrace if asynchronous else self._trace}

    def handing_over(self) -> None:
        """The request is about to be handed to the transport."""
        if not self._traced:
            self._fire()

    def _trace(self, event: str, info: dict[str, Any]) -> None:
        if event.endswith(".send_request_headers.started"):
            self._fire()

    async def _atrace(self, event: str, info: dict[str, Any]) -> None:
        self._trace(event, info)

    def _fire(self) -> None:
        if self._on_write is not None and not self._written:
            self._written = True
            self._on_write()


def _traced(transport: object) -> bool:
    """Whether ``transport`` is httpx's own (httpcore-based, so it reports when it writes)."""
    return transport is None or isinstance(transport, httpx.HTTPTransport | httpx.AsyncHTTPTransport)


class _ThreadedTransport(httpx.AsyncBaseTransport):
    """An async face on a blocking transport (for :meth:`Gateway.to_async`): each request in a thread."""

    def __init__(self, transport: httpx.BaseTransport) -> None:
        self._transport = transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()

        def call() -> httpx.Response:
            response = self._transport.handle_request(request)
            try:
                return httpx.Response(
                    response.status_code,
                    headers=response.headers,
                    content=response.read(),
                    extensions=response.extensions,
                )
            finally:
                response.close()

        return await asyncio.to_thread(call)


class _Core:
    """What the blocking and async clients share: request building and answer parsing."""

    def __init__(
        self,
        base_url: str,
        uid: str,
        pwd: str | Secret,
        *,
        timeout: float,
        encoding: Encoding,
        retries: int,
        backoff: float,
        transport: object,
    ) -> None:
        if encoding not in ("form", "json"):
            raise ConfigError(f"encoding must be 'form' or 'json', got {encoding!r}")
        base_url = base_url.strip().rstrip("/")
        for suffix in (SEND_PATH, BALANCE_PATH):
            if base_url.endswith(suffix):
                base_url = base_url[: -len(suffix)]
        check_url(base_url)
        try:  # what httpx itself refuses (an invalid IDNA host name...), refused now rather than at a send
            httpx.URL(base_url + SEND_PATH).host  # noqa: B018 (decoding the host is the check)
        except (httpx.InvalidURL, ValueError) as exc:
            shown, why = shown_url(base_url), shown_url(str(exc))
            raise ConfigError(f"the gateway URL {shown!r} is not a usable http(s) address: {why}") from None
        self.base_url = base_url
        self.uid = uid
        self._pwd = pwd if isinstance(pwd, Secret) else Secret(pwd)
        self.timeout = timeout
        self.encoding = encoding
        self.retries = retries
        self.backoff = backoff
        self._transport = transport
        self._traced = _traced(transport)

    def __repr__(self) -> str:
        shown = shown_url(self.base_url)
        return f"{type(self).__name__}(base_url={shown!r}, uid={self.uid!r}, encoding={self.encoding!r})"

    def _request(self, path: str, fields: dict[str, str]) -> tuple[str, _RequestBody, dict[str, str]]:
        """URL, encoded body and headers; the password lives only inside the body."""
        payload = {"Uid": self.uid, "Pwd": self._pwd.reveal(), **fields}
        if self.encoding == "form":
            return self.base_url + path, _RequestBody(urlencode(payload).encode()), _FORM
        return self.base_url + path, _RequestBody(json.dumps(payload).encode()), _JSON

    def _answer(self, response: httpx.Response) -> dict[str, Any]:
        """Parse the answer as received; only what an exception shows is redacted."""
        text = _decode(response.content)
        try:
            return parse_answer(text, response.status_code)
        except ProtocolError:
            pass
        # Raised here, outside the except block: the unredacted error is in no chain.
        what = (
            "gateway error page; the request may or may not have been processed"
            if response.is_server_error
            else "not a gateway answer"
        )
        error = ProtocolError(what, status_code=response.status_code, body=self._pwd.redact(text))
        del text  # may hold the password: no local of a raising frame may (tracebacks show locals)
        raise error

    def _failure(self, fields: dict[str, Any], response: httpx.Response) -> tuple[int | str, str, str]:
        """``(code, message, body)`` of a failure answer, redacted for showing."""
        shown = self._pwd.redact
        return fields["respCode"], shown(fields["respMsg"]), shown(_decode(response.content))

    def _send_result(self, response: httpx.Response, count: int) -> SendResult:
        fields = self._answer(response)
        code = fields["respCode"]
        log.debug("send of %d numbers -> code %s", count, code)
        if code != 0:
            error = send_error(*self._failure(fields, response))
            del fields  # may hold the password (see _answer)
            raise error
        if not fields["msgid"]:
            log.warning("the gateway accepted a send without a msgid; its reports cannot be matched")
        return SendResult(msgid=fields["msgid"], code=code, message=fields["respMsg"])

    def _balance_result(self, response: httpx.Response) -> Balance:
        fields = self._answer(response)
        if fields["respCode"] != 0:
            error = balance_error(*self._failure(fields, response))
        else:
            raw = fields["respMsg"]
            value = _number_in(raw)
            if value is not None:
                return Balance(value=value, raw=raw)
            error = ProtocolError(
                "balance answer has no number in respMsg",
                status_code=response.status_code,
                body=self._pwd.redact(_decode(response.content)),
            )
            del raw
        del fields  # may hold the password (see _answer)
        raise error

    def _should_retry(self, exc: Exception, attempt: int, *, idempotent: bool) -> bool:
        if attempt >= self.retries:
            return False
        if isinstance(exc, GatewayUnreachable):
            return True
        return idempotent and isinstance(exc, OutcomeUnknown | ProtocolError)

    def _delay(self, attempt: int) -> float:
        return min(self.backoff * 2**attempt, 30.0)


def _kwargs_from_env(kwargs: dict[str, Any]) -> dict[str, Any]:
    url, uid, pwd = load_settings().require_gateway()
    return {"base_url": url, "uid": uid, "pwd": pwd, **kwargs}


class Gateway(_Core):
    """Blocking client for the gateway.

    Args:
        base_url: everything before ``/Message/send``, e.g. ``http://host/Admin/index.php``.
        uid: account uid.
        pwd: account password (a ``str`` or :class:`~smsdata.config.Secret`); never shown.
        timeout: seconds for connect, read and write.
        encoding: ``"form"`` (form fields, the default) or ``"json"``.
        transport: an httpx transport, for tests (``httpx.MockTransport``, ``httpx.ASGITransport``
            is async only: use :class:`AsyncGateway` with it).
        retries: extra attempts where retrying is safe (see module docstring).
        backoff: first retry delay in seconds, doubled on each attempt.

    Raises:
        ConfigError: ``base_url`` is not a usable http(s) address (no host, a bad port,
            spaces...; see :func:`~smsdata.config.check_url`), or ``encoding`` is unknown.

    >>> with Gateway("http://127.0.0.1:8765/Admin/index.php", "demo", "demo") as gw:  # doctest: +SKIP
    ...     gw.send(["13800138000"], "Hello").msgid
    '800001'
    """

    def __init__(
        self,
        base_url: str,
        uid: str,
        pwd: str | Secret,
        *,
        timeout: float = 10.0,
        encoding: Encoding = "form",
        transport: httpx.BaseTransport | None = None,
        retries: int = 2,
        backoff: float = 0.5,
    ) -> None:
        super().__init__(
            base_url,
            uid,
            pwd,
            timeout=timeout,
            encoding=encoding,
            retries=retries,
            backoff=backoff,
            transport=transport,
        )
        self._client = httpx.Client(timeout=timeout, transport=transport)

    @classmethod
    def from_env(cls, **kwargs: Any) -> Gateway:
        """Build from ``SMSDATA_URL``, ``SMSDATA_UID``, ``SMSDATA_PWD`` (environment or ``.env``).

        Raises:
            ConfigError: a setting is missing.
        """
        return cls(**_kwargs_from_env(kwargs))

    def to_async(self) -> AsyncGateway:
        """An :class:`AsyncGateway` with the same URL, account and every option, transport included.

        A transport that is async too (``httpx.MockTransport``) is shared; a blocking-only
        one runs each request in a worker thread. The connection pool is new.
        """
        transport = self._transport
        if transport is not None and not isinstance(transport, httpx.AsyncBaseTransport):
            transport = _ThreadedTransport(transport)  # type: ignore[arg-type]
        return AsyncGateway(
            self.base_url,
            self.uid,
            self._pwd,
            timeout=self.timeout,
            encoding=self.encoding,
            retries=self.retries,
            backoff=self.backoff,
            transport=transport,
        )

    def send(
        self, mobiles: str | Iterable[str], content: str, *, on_write: Callable[[], object] | None = None
    ) -> SendResult:
        """Send ``content`` to ``mobiles`` (at most 5,000) in one request.

        Args:
            mobiles: a comma-separated string or an iterable of numbers.
            content: the message, at most 268 characters.
            on_write: called once, just before the request's first byte is written to the
                connection (after connecting). A send interrupted before it was called
                certainly did not reach the gateway. With a transport that does not report
                writes (a mock), it is called when the transport is handed the request.

        Raises:
            GatewayError: the gateway's failure code, as its subclass (or raised
                locally, before any request, for what the gateway would refuse).
            OutcomeUnknown: the request may have been processed; no answer came.
            GatewayUnreachable: it certainly was not (after retries).
            ProtocolError: the answer cannot be understood.
        """
        numbers = mobile_list(mobiles)
        _check_send(numbers, content)
        url, body, headers = self._request(SEND_PATH, {"Mobile": ",".join(numbers), "Content": content})
        watch = _WireWatch(on_write, self._traced)
        return self._retrying(
            lambda: self._send_result(self._post(url, body, headers, watch), len(numbers)), idempotent=False
        )

    def balance(self) -> Balance:
        """Return the account balance (units as the gateway counts them, usually messages).

        Raises:
            AuthError, AccountFrozen: balance codes 1 and 2.
            GatewayUnreachable, OutcomeUnknown, ProtocolError: after retries.
        """
        url, body, headers = self._request(BALANCE_PATH, {})
        watch = _WireWatch(None, self._traced)
        return self._retrying(lambda: self._balance_result(self._post(url, body, headers, watch)), idempotent=True)

    def _post(self, url: str, body: _RequestBody, headers: dict[str, str], watch: _WireWatch) -> httpx.Response:
        watch.handing_over()
        try:
            return self._client.post(
                url, content=body, headers=headers, extensions=watch.extensions(asynchronous=False)
            )
        except httpx.HTTPError as exc:
            error = _transport_error(exc, self.base_url, self._pwd)
        raise error  # outside the except block: see _transport_error

    def _retrying(self, call: Callable[[], T], *, idempotent: bool) -> T:
        """Run ``call``, retrying what :meth:`_Core._should_retry` allows."""
        attempt = 0
        while True:
            try:
                return call()
            except SmsdataError as exc:
                if not self._should_retry(exc, attempt, idempotent=idempotent):
                    raise
                log.info("retrying after %s (attempt %d)", type(exc).__name__, attempt + 1)
                time.sleep(self._delay(attempt))
                attempt += 1

    def close(self) -> None:
        """Close the underlying connections."""
        self._client.close()

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncGateway(_Core):
    """The same client for ``asyncio``: ``await gw.send(...)``, ``await gw.balance()``.

    Takes the arguments of :class:`Gateway`, plus ``limits`` (an ``httpx.Limits``)
    for the connection pool; ``transport`` may be an ``httpx.ASGITransport``.
    """

    def __init__(
        self,
        base_url: str,
        uid: str,
        pwd: str | Secret,
        *,
        timeout: float = 10.0,
        encoding: Encoding = "form",
        transport: httpx.AsyncBaseTransport | None = None,
        retries: int = 2,
        backoff: float = 0.5,
        limits: httpx.Limits | None = None,
    ) -> None:
        super().__init__(
            base_url,
            uid,
            pwd,
            timeout=timeout,
            encoding=encoding,
            retries=retries,
            backoff=backoff,
            transport=transport,
        )
        self.limits = limits or _DEFAULT_LIMITS
        self._client = httpx.AsyncClient(timeout=timeout, transport=transport, limits=self.limits)

    @classmethod
    def from_env(cls, **kwargs: Any) -> AsyncGateway:
        """Build from ``SMSDATA_URL``, ``SMSDATA_UID``, ``SMSDATA_PWD``; see :meth:`Gateway.from_env`."""
        return cls(**_kwargs_from_env(kwargs))

    async def send(
        self, mobiles: str | Iterable[str], content: str, *, on_write: Callable[[], object] | None = None
    ) -> SendResult:
        """Send ``content`` to ``mobiles``; takes and raises as :meth:`Gateway.send`."""
        numbers = mobile_list(mobiles)
        _check_send(numbers, content)
        url, body, headers = self._request(SEND_PATH, {"Mobile": ",".join(numbers), "Content": content})
        watch = _WireWatch(on_write, self._traced)

        async def once() -> SendResult:
            return self._send_result(await self._post(url, body, headers, watch), len(numbers))

        return await self._retrying(once, idempotent=False)

    async def balance(self) -> Balance:
        """Return the account balance; raises as :meth:`Gateway.balance`."""
        url, body, headers = self._request(BALANCE_PATH, {})
        watch = _WireWatch(None, self._traced)

        async def once() -> Balance:
            return self._balance_result(await self._post(url, body, headers, watch))

        return await self._retrying(once, idempotent=True)

    async def _post(self, url: str, body: _RequestBody, headers: dict[str, str], watch: _WireWatch) -> httpx.Response:
        watch.handing_over()
        try:
            return await self._client.post(
                url, content=body, headers=headers, extensions=watch.extensions(asynchronous=True)
            )
        except httpx.HTTPError as exc:
            error = _transport_error(exc, self.base_url, self._pwd)
        raise error  # outside the except block: see _transport_error

    async def _retrying(self, call: Callable[[], Awaitable[T]], *, idempotent: bool) -> T:
        """Await ``call()``, retrying what :meth:`_Core._should_retry` allows."""
        attempt = 0
        while True:
            try:
                return await call()
            except SmsdataError as exc:
                if not self._should_retry(exc, attempt, idempotent=idempotent):
                    raise
                log.info("retrying after %s (attempt %d)", type(exc).__name__, attempt + 1)
                await asyncio.sleep(self._delay(attempt))
                attempt += 1

    async def aclose(self) -> None:
        """Close the underlying connections."""
        await self._client.aclose()

    async def __aenter__(self) -> AsyncGateway:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
