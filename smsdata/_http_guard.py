"""uvicorn's httptools protocol bounded for an open port: :class:`ConnectionLimits`.

:func:`guarded` makes, for one server, a subclass of uvicorn's httptools protocol
with what a server on an open port needs and uvicorn does not give it
(see :class:`_GuardedHttpTools`):

* a request head must arrive whole within ``header_timeout`` seconds of the
  connection opening or of the previous answer, else the connection is closed;
* a request head (request line and headers) over ``max_header_bytes`` is
  answered 431 and the connection closed, having parsed no more than that;
* at most ``max_connections`` connections are held: a newcomer beyond it makes
  room by closing the connection that has kept the server waiting longest
  (idle, or sending slowly); when every connection is busy with a whole
  request, the newcomer's request is answered 503 with ``Retry-After``;
* idle keep-alive connections are closed after ``keep_alive_timeout`` seconds.

The body's own deadline is the app's to keep (the receiver answers 408).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ._checks import at_least, positive

__all__ = ["LINGER", "ConnectionCounts", "ConnectionLimits", "guarded"]

log = logging.getLogger(__name__)

# How long a connection refused with 431 is still read (and the bytes dropped)
# after the answer, so that closing it does not reset the answer away: closing
# a socket with unread data sends RST, and the client then loses the 431.
LINGER = 2.0


@dataclass(frozen=True)
class ConnectionLimits:
    """What one client may hold of a server on an open port.

    Args:
        header_timeout: seconds a connection has to send a whole request head
            (request line and headers), counted from when it opened or its
            previous answer was sent; then it is closed without an answer.
            After an early answer (413 from ``Content-Length``) the rest of
            that body must also come within it.
        keep_alive_timeout: seconds an idle keep-alive connection waits for the
            first byte of its next request before it is closed.
        max_connections: connections held at most (one more while every one
            of them is busy with a whole request: its request gets 503).
        max_header_bytes: largest request head, bytes; beyond it, 431 and close.

    Raises:
        ConfigError: a limit is not positive (also a ``ValueError``).

    >>> ConnectionLimits(header_timeout=10, keep_alive_timeout=5, max_connections=256, max_header_bytes=16384)
    ConnectionLimits(header_timeout=10, keep_alive_timeout=5, max_connections=256, max_header_bytes=16384)
    """

    header_timeout: float
    keep_alive_timeout: float
    max_connections: int
    max_header_bytes: int

    def __post_init__(self) -> None:
        positive(self.header_timeout, "header_timeout")
        positive(self.keep_alive_timeout, "keep_alive_timeout")
        at_least(self.max_connections, "max_connections")
        at_least(self.max_header_bytes, "max_header_bytes")


class ConnectionCounts(Protocol):
    """Where a guarded server counts what it refused (the receiver's stats are one)."""

    header_timeouts: int  # closed: no whole request head within header_timeout
    headers_too_large: int  # answered 431
    evicted: int  # closed to make room for a newcomer
    over_capacity: int  # answered 503: every connection busy


@dataclass
class _Counts:
    header_timeouts: int = 0
    headers_too_large: int = 0
    evicted: int = 0
    over_capacity: int = 0


class _GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol, bounded in time, size and number for an open port.

    uvicorn has none of these for httptools: no header timeout (a client sending
    1 byte a second holds its connection for ever), no header size limit (httptools
    concatenates a header value chunk by chunk, so an endless one costs memory and
    quadratic CPU), and ``limit_concurrency`` counts every open connection,
    idle and half-sent ones included, but acts only on a request whose head has
    arrived: clients that never finish their heads hold every place and each
    genuine request is answered 503. Here a connection is *waiting* while the
    server waits on its client (for a head, for the rest of a body, idle between
    requests) and *busy* from the moment its request is whole until the answer
    is sent; only waiting connections are closed to make room.

    Subclassed per server with ``limits`` and ``counts`` (:func:`guarded`).
    """

    limits: ClassVar[ConnectionLimits]
    counts: ClassVar[ConnectionCounts]
    # The order in which this server's connections started waiting on their clients: the
    # smallest has kept the server waiting longest and is the first to go when room is needed.
    waits: ClassVar[Iterator[int]]

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._app = self.app
        self._head_bytes = 0  # bytes fed to the parser for the head being read
        self._head_done = False  # the current request's head is whole, its body (if any) not yet
        self._waiting: int | None = None  # from self.waits while waiting on the client; None while busy
        self._deadline: float | None = None  # loop time by which the request must be whole, if waiting
        self._clock: asyncio.TimerHandle | None = None  # wakes up at or before the deadline
        self._lingering: asyncio.TimerHandle | None = None

    # -- connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._wait()
        if len(self.connections) > self.limits.max_connections:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._clock, self._lingering):
            if timer is not None:
                timer.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._lingering is not None:
            return  # answered 431: drop everything until the client closes
        # While a head is being read, the parser is fed no more than what is left of
        # max_header_bytes: a head that is not whole by then is refused unparsed.
        # (memoryview: slices without copies; httptools takes any buffer.)
        rest: bytes | memoryview = data
        while rest:
            if self._head_done:
                super().data_received(rest)  # type: ignore[arg-type]
                return
            room = self.limits.max_header_bytes - self._head_bytes
            if room <= 0:
                self._refuse_head()
                return
            if len(rest) <= room:
                part, rest = rest, b""
            else:
                rest = memoryview(rest)
                part, rest = rest[:room], rest[room:]
            # Counted before feeding, since on_headers_complete resets it: what follows
            # the head in the same part (a body, a pipelined head) is not counted.
            self._head_bytes += len(part)
            super().data_received(part)  # type: ignore[arg-type]
            if self.transport.is_closing() or self._lingering is not None:
                return

    # -- parser callbacks and uvicorn's hooks

    def on_headers_complete(self) -> None:
        self._head_done = True
        self._head_bytes = 0
        self._cancel_deadline()  # the app keeps the body's deadline
        # Room was made when this connection arrived, unless every other one was busy.
        self.app = self._over_capacity if len(self.connections) > self.limits.max_connections else self._app
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._head_done = False
        if self.cycle is not None and not self.cycle.response_complete:
            self._waiting = None  # the request is whole: the app has it, not the client

    def on_response_complete(self) -> None:
        pipelined = bool(self.pipeline)
        super().on_response_complete()
        if not pipelined and not self.transport.is_closing():
            self._wait()  # for the next head, or the rest of a body answered early (413)

    # -- limits

    def _wait(self) -> None:
        self._waiting = next(self.waits)
        self._deadline = self.loop.time() + self.limits.header_timeout
        # One timer per connection, re-armed when it fires early rather than cancelled
        # and made anew for each request of a keep-alive connection: cheaper.
        if self._clock is None:
            self._clock = self.loop.call_at(self._deadline, self._tick)

    def _cancel_deadline(self) -> None:
        self._deadline = None  # the timer finds nothing to do when it fires

    def _tick(self) -> None:
        self._clock = None
        if self._deadline is None or self.transport.is_closing():
            return
        if self.loop.time() < self._deadline:  # a later request moved it on
            self._clock = self.loop.call_at(self._deadline, self._tick)
            return
        self.counts.header_timeouts += 1
        log.debug("closed a connection from %s: no whole request in %g s", self._peer(), self.limits.header_timeout)
        self.transport.abort()

    def _make_room(self) -> None:
        waiting = [
            other
            for other in self.connections
            if other is not self and isinstance(other, _GuardedHttpTools) and other._waiting is not None
        ]
        if waiting:
            min(waiting, key=lambda other: other._waiting or 0)._evict()
        # else every other connection is busy: this one's request gets 503 (on_headers_complete)

    def _evict(self) -> None:
        if self._lingering is None:
            self.counts.evicted += 1
            log.debug("closed a waiting connection from %s to make room", self._peer())
        self.connections.discard(self)  # now, not when the loop gets to connection_lost
        self.transport.abort()

    def _refuse_head(self) -> None:
        self.counts.headers_too_large += 1
        log.debug("answered 431 to %s: request head over %d bytes", self._peer(), self.limits.max_header_bytes)
        body = f"request head over {self.limits.max_header_bytes} bytes".encode()
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n"
            + b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body)
        )
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined request still running: it must not write after our FIN.
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self.pipeline.clear()
        self._cancel_deadline()
        self._unset_keepalive_if_required()
        self._waiting = -1  # first to go if room is needed
        self.flow.resume_reading()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._lingering = self.loop.call_later(LINGER, self.transport.abort)

    async def _over_capacity(self, scope: Any, receive: Any, send: Any) -> None:
        self.counts.over_capacity += 1
        log.debug("answered 503 to %s: %d connections busy", self._peer(), self.limits.max_connections)
        body = b"too many connections; retry later"
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", b"%d" % len(body)),
            (b"retry-after", b"1"),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "?"


def guarded(limits: ConnectionLimits, counts: ConnectionCounts | None) -> type[_GuardedHttpTools]:
    """The protocol class for one server: its limits, where it counts, its own order of waits."""
    attributes = {"limits": limits, "counts": counts if counts is not None else _Counts(), "waits": itertools.count()}
    return type("GuardedHttpTools", (_GuardedHttpTools,), attributes)
