"""The gateway client: :class:`Gateway` (blocking) and :class:`AsyncGateway`, on httpx.

Both wrap one httpx client, validate locally before any request, parse the
gateway's answers leniently and translate every httpx error at one boundary
(:func:`~smsdata._transport.transport_error`) into the tree of :mod:`smsdata.errors`.

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
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import httpx

from ._answers import Balance, SendResult
from ._gateway_core import BALANCE_PATH, SEND_PATH, ClientCore, Encoding, check_send, mobile_list
from ._limits import MAX_CONTENT_CHARS, MAX_MOBILES
from ._transport import RequestBody, ThreadedTransport, WireWatch, transport_error
from .config import Secret, load_settings
from .errors import SmsdataError

__all__ = ["MAX_CONTENT_CHARS", "MAX_MOBILES", "AsyncGateway", "Balance", "Gateway", "SendResult"]

log = logging.getLogger("smsdata.gateway")

# Keep every pooled connection alive: httpx's default keeps 20, so a campaign at
# concurrency 32 would reconnect on most requests.
_DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=100)

T = TypeVar("T")


def _kwargs_from_env(kwargs: dict[str, Any]) -> dict[str, Any]:
    url, uid, pwd = load_settings().require_gateway()
    return {"base_url": url, "uid": uid, "pwd": pwd, **kwargs}


class Gateway(ClientCore):
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
        pwd = pwd if isinstance(pwd, Secret) else Secret(pwd)  # locals of a failed call hide them
        base_url = base_url if isinstance(base_url, Secret) else Secret(base_url)
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
            transport = ThreadedTransport(transport)  # type: ignore[arg-type]
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
        check_send(numbers, content)
        url, body, headers = self._request(SEND_PATH, {"Mobile": ",".join(numbers), "Content": content})
        watch = WireWatch(on_write, self._traced)
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
        watch = WireWatch(None, self._traced)
        return self._retrying(lambda: self._balance_result(self._post(url, body, headers, watch)), idempotent=True)

    def _post(self, url: httpx.URL, body: RequestBody, headers: dict[str, str], watch: WireWatch) -> httpx.Response:
        watch.handing_over()
        try:
            return self._client.post(
                url, content=body, headers=headers, extensions=watch.extensions(asynchronous=False)
            )
        except httpx.HTTPError as exc:
            error = transport_error(exc, self.base_url, self._pwd)
        raise error  # outside the except block: see transport_error

    def _retrying(self, call: Callable[[], T], *, idempotent: bool) -> T:
        """Run ``call``, retrying what :meth:`ClientCore._should_retry` allows."""
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


class AsyncGateway(ClientCore):
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
        pwd = pwd if isinstance(pwd, Secret) else Secret(pwd)  # locals of a failed call hide them
        base_url = base_url if isinstance(base_url, Secret) else Secret(base_url)
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
        check_send(numbers, content)
        url, body, headers = self._request(SEND_PATH, {"Mobile": ",".join(numbers), "Content": content})
        watch = WireWatch(on_write, self._traced)

        async def once() -> SendResult:
            return self._send_result(await self._post(url, body, headers, watch), len(numbers))

        return await self._retrying(once, idempotent=False)

    async def balance(self) -> Balance:
        """Return the account balance; raises as :meth:`Gateway.balance`."""
        url, body, headers = self._request(BALANCE_PATH, {})
        watch = WireWatch(None, self._traced)

        async def once() -> Balance:
            return self._balance_result(await self._post(url, body, headers, watch))

        return await self._retrying(once, idempotent=True)

    async def _post(
        self, url: httpx.URL, body: RequestBody, headers: dict[str, str], watch: WireWatch
    ) -> httpx.Response:
        watch.handing_over()
        try:
            return await self._client.post(
                url, content=body, headers=headers, extensions=watch.extensions(asynchronous=True)
            )
        except httpx.HTTPError as exc:
            error = transport_error(exc, self.base_url, self._pwd)
        raise error  # outside the except block: see transport_error

    async def _retrying(self, call: Callable[[], Awaitable[T]], *, idempotent: bool) -> T:
        """Await ``call()``, retrying what :meth:`ClientCore._should_retry` allows."""
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
