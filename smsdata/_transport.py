"""The transport boundary of the gateway clients: request bodies, httpx errors, wire tracing.

Every httpx error is translated here (:func:`transport_error`) into the tree of
:mod:`smsdata.errors`; :class:`WireWatch` tells when a request's first byte is
written, and :class:`ThreadedTransport` gives a blocking transport an async face.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from .config import Secret, shown_url
from .errors import ConfigError, GatewayUnreachable, OutcomeUnknown, SmsdataError


class RequestBody(bytes):
    """The encoded form or JSON body: it holds the password, so its repr never shows it.

    Tracebacks that capture frame locals (Sentry, IPython's verbose mode,
    ``pytest -l``) print every local with ``repr``.
    """

    def __repr__(self) -> str:
        return f"<request body, {len(self)} bytes, not shown>"


FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}


def transport_error(exc: httpx.HTTPError, base_url: str, pwd: Secret) -> SmsdataError:
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


class WireWatch:
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


def traced(transport: object) -> bool:
    """Whether ``transport`` is httpx's own (httpcore-based, so it reports when it writes)."""
    return transport is None or isinstance(transport, httpx.HTTPTransport | httpx.AsyncHTTPTransport)


class ThreadedTransport(httpx.AsyncBaseTransport):
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
