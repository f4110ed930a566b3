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
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, TypeVar

import httpx

from .config import Secret, load_settings
from .errors import (
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

__all__ = [
    "MAX_CONTENT_CHARS",
    "MAX_MOBILES",
    "AsyncGateway",
    "Balance",
    "Gateway",
    "SendResult",
    "mobile_list",
    "parse_answer",
]

MAX_MOBILES = 5000
MAX_CONTENT_CHARS = 268
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
    parsed = _loads(text)
    if parsed is None and text.endswith('""}'):
        parsed = _loads(text[:-3] + '"}')  # the document's own success shape, the common case
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


@contextmanager
def _map_transport_errors(base_url: str) -> Iterator[None]:
    """Translate httpx errors: not sent -> GatewayUnreachable, maybe sent -> OutcomeUnknown."""
    try:
        yield
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise GatewayUnreachable(f"cannot reach the gateway at {base_url}: {type(exc).__name__}: {exc}") from exc
    except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
        raise OutcomeUnknown(
            f"no answer from {base_url} after the request went out ({type(exc).__name__}); "
            "it may or may not have been processed"
        ) from exc
    except httpx.UnsupportedProtocol as exc:
        raise SmsdataError(f"bad gateway URL {base_url!r}: {exc}") from exc
    except httpx.HTTPError as exc:
        raise OutcomeUnknown(f"HTTP failure talking to {base_url}: {type(exc).__name__}: {exc}") from exc


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
    ) -> None:
        if encoding not in ("form", "json"):
            raise ValueError(f"encoding must be 'form' or 'json', got {encoding!r}")
        base_url = base_url.strip().rstrip("/")
        for suffix in (SEND_PATH, BALANCE_PATH):
            if base_url.endswith(suffix):
                base_url = base_url[: -len(suffix)]
        self.base_url = base_url
        self.uid = uid
        self._pwd = pwd if isinstance(pwd, Secret) else Secret(pwd)
        self.timeout = timeout
        self.encoding = encoding
        self.retries = retries
        self.backoff = backoff

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, uid={self.uid!r}, encoding={self.encoding!r})"

    def _request(self, path: str, fields: dict[str, str]) -> tuple[str, dict[str, Any]]:
        payload = {"Uid": self.uid, "Pwd": self._pwd.reveal(), **fields}
        key = "data" if self.encoding == "form" else "json"
        return self.base_url + path, {key: payload}

    def _redact(self, text: str) -> str:
        secret = self._pwd.reveal()
        return text.replace(secret, "**********") if secret else text

    def _answer(self, response: httpx.Response) -> tuple[dict[str, Any], str]:
        body = self._redact(_decode(response.content))
        try:
            return parse_answer(body, response.status_code), body
        except ProtocolError:
            if response.is_server_error:
                raise ProtocolError(
                    "gateway error page; the request may or may not have been processed",
                    status_code=response.status_code,
                    body=body,
                ) from None
            raise

    def _send_result(self, response: httpx.Response, count: int) -> SendResult:
        fields, body = self._answer(response)
        code = fields["respCode"]
        log.debug("send of %d numbers -> code %s msgid %s", count, code, fields["msgid"])
        if code != 0:
            raise send_error(code, fields["respMsg"], body)
        if not fields["msgid"]:
            log.warning("the gateway accepted a send without a msgid; its reports cannot be matched")
        return SendResult(msgid=fields["msgid"], code=code, message=fields["respMsg"])

    def _balance_result(self, response: httpx.Response) -> Balance:
        fields, body = self._answer(response)
        code = fields["respCode"]
        if code != 0:
            raise balance_error(code, fields["respMsg"], body)
        raw = fields["respMsg"]
        match = _NUMBER_RE.search(raw.replace(",", ""))
        try:
            value = Decimal(match.group(0)) if match else None
        except InvalidOperation:
            value = None
        if value is None:
            raise ProtocolError("balance answer has no number in respMsg", status_code=response.status_code, body=body)
        return Balance(value=value, raw=raw)

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
        super().__init__(base_url, uid, pwd, timeout=timeout, encoding=encoding, retries=retries, backoff=backoff)
        self._client = httpx.Client(timeout=timeout, transport=transport)

    @classmethod
    def from_env(cls, **kwargs: Any) -> Gateway:
        """Build from ``SMSDATA_URL``, ``SMSDATA_UID``, ``SMSDATA_PWD`` (environment or ``.env``).

        Raises:
            ConfigError: a setting is missing.
        """
        return cls(**_kwargs_from_env(kwargs))

    def to_async(self, **overrides: Any) -> AsyncGateway:
        """An :class:`AsyncGateway` with the same URL, account and options (a new connection pool)."""
        options = {"timeout": self.timeout, "encoding": self.encoding, "retries": self.retries, "backoff": self.backoff}
        return AsyncGateway(self.base_url, self.uid, self._pwd, **{**options, **overrides})

    def send(self, mobiles: str | Iterable[str], content: str) -> SendResult:
        """Send ``content`` to ``mobiles`` (at most 5,000) in one request.

        Raises:
            GatewayError: the gateway's failure code, as its subclass (or raised
                locally, before any request, for what the gateway would refuse).
            OutcomeUnknown: the request may have been processed; no answer came.
            GatewayUnreachable: it certainly was not (after retries).
            ProtocolError: the answer cannot be understood.
        """
        numbers = mobile_list(mobiles)
        _check_send(numbers, content)
        url, kwargs = self._request(SEND_PATH, {"Mobile": ",".join(numbers), "Content": content})
        return self._retrying(lambda: self._send_result(self._post(url, kwargs), len(numbers)), idempotent=False)

    def balance(self) -> Balance:
        """Return the account balance (units as the gateway counts them, usually messages).

        Raises:
            AuthError, AccountFrozen: balance codes 1 and 2.
            GatewayUnreachable, OutcomeUnknown, ProtocolError: after retries.
        """
        url, kwargs = self._request(BALANCE_PATH, {})
        return self._retrying(lambda: self._balance_result(self._post(url, kwargs)), idempotent=True)

    def _post(self, url: str, kwargs: dict[str, Any]) -> httpx.Response:
        with _map_transport_errors(self.base_url):
            return self._client.post(url, **kwargs)

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
        super().__init__(base_url, uid, pwd, timeout=timeout, encoding=encoding, retries=retries, backoff=backoff)
        self._client = httpx.AsyncClient(timeout=timeout, transport=transport, limits=limits or _DEFAULT_LIMITS)

    @classmethod
    def from_env(cls, **kwargs: Any) -> AsyncGateway:
        """Build from ``SMSDATA_URL``, ``SMSDATA_UID``, ``SMSDATA_PWD``; see :meth:`Gateway.from_env`."""
        return cls(**_kwargs_from_env(kwargs))

    async def send(self, mobiles: str | Iterable[str], content: str) -> SendResult:
        """Send ``content`` to ``mobiles``; raises as :meth:`Gateway.send`."""
        numbers = mobile_list(mobiles)
        _check_send(numbers, content)
        url, kwargs = self._request(SEND_PATH, {"Mobile": ",".join(numbers), "Content": content})

        async def once() -> SendResult:
            return self._send_result(await self._post(url, kwargs), len(numbers))

        return await self._retrying(once, idempotent=False)

    async def balance(self) -> Balance:
        """Return the account balance; raises as :meth:`Gateway.balance`."""
        url, kwargs = self._request(BALANCE_PATH, {})

        async def once() -> Balance:
            return self._balance_result(await self._post(url, kwargs))

        return await self._retrying(once, idempotent=True)

    async def _post(self, url: str, kwargs: dict[str, Any]) -> httpx.Response:
        with _map_transport_errors(self.base_url):
            return await self._client.post(url, **kwargs)

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
