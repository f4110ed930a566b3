"""Run an ASGI app under uvicorn: blocking (the CLI) or in a thread (tests, the demo).

Given :class:`~smsdata._http_guard.ConnectionLimits`, the server speaks HTTP
through uvicorn's httptools protocol bounded in time, size and number for an
open port (:mod:`smsdata._http_guard`): header timeout, header size limit (431),
at most ``max_connections`` connections (evicting the one that kept the server
waiting longest, or 503 when all are busy), idle keep-alive timeout.
The body's own deadline is the app's to keep (the receiver answers 408).
"""

from __future__ import annotations

import resource
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from ._http_guard import ConnectionCounts as ConnectionCounts
from ._http_guard import ConnectionLimits as ConnectionLimits
from ._http_guard import guarded
from .errors import ServerError

# Files the process needs besides its connections: stdio, the listening socket,
# the event loop's epoll and self-pipe, today's and yesterday's log, imports.
SPARE_FILES = 64


def check_file_limit(max_connections: int) -> None:
    """Make sure the process may open ``max_connections`` sockets and the files it needs besides.

    At its file limit a server cannot accept (asyncio stops accepting for a second
    at a time), so genuine requests time out: the connection limit must sit below it.

    Raises:
        ServerError: the soft limit on open files (``ulimit -n``) is too low.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = max_connections + SPARE_FILES
    if soft != resource.RLIM_INFINITY and needed > soft:
        raise ServerError(
            f"{max_connections} connections need about {needed} open files and the limit is {soft}: "
            f"lower the connection limit or raise the limit (`ulimit -n {needed}`, systemd LimitNOFILE={needed})"
        )


def bind(host: str, port: int) -> socket.socket:
    """Bind a listening TCP socket; port 0 takes a free one.

    Raises:
        ServerError: the address is taken or not available, with which one.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServerError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    # Accepted sockets inherit this: without it every answer written in two parts
    # (headers, body) waits ~40 ms for a delayed ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    """``http://host:port`` of a bound socket."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _server(
    app: Any, *, limits: ConnectionLimits | None = None, counts: ConnectionCounts | None = None, **config: Any
) -> uvicorn.Server:
    options = {"log_level": "warning", "access_log": False, "lifespan": "on"}
    if limits is not None:
        check_file_limit(limits.max_connections)
        options |= {"http": guarded(limits, counts), "timeout_keep_alive": limits.keep_alive_timeout}
    return uvicorn.Server(uvicorn.Config(app, **options | config))


def serve(
    app: Any,
    host: str,
    port: int,
    *,
    on_ready: Callable[[str], None] | None = None,
    limits: ConnectionLimits | None = None,
    counts: ConnectionCounts | None = None,
    **config: Any,
) -> None:
    """Serve ``app`` until interrupted; ``on_ready(url)`` is called once listening.

    With ``limits``, connections are held to them and what they refuse is counted
    in ``counts`` (see :class:`ConnectionLimits`); without, uvicorn's defaults apply.

    Raises:
        ServerError: the address cannot be used, or the file limit is below ``limits.max_connections``.
    """
    server = _server(app, limits=limits, counts=counts, **config)
    sock = bind(host, port)
    if on_ready is not None:
        url = url_of(sock)
        original = server.startup

        async def startup(sockets: list[socket.socket] | None = None) -> None:
            await original(sockets=sockets)
            on_ready(url)

        server.startup = startup  # type: ignore[method-assign]
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


class Background:
    """A server running in a background thread: ``.url``, ``.stop()``; a context manager too.

    >>> server = serve_in_background(GatewaySimulator(...).app)  # doctest: +SKIP
    >>> server.url, server.stop()  # doctest: +SKIP
    """

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        limits: ConnectionLimits | None = None,
        counts: ConnectionCounts | None = None,
        **config: Any,
    ) -> None:
        self._server = _server(app, limits=limits, counts=counts, **config)
        self._sock = bind(host, port)
        self.url = url_of(self._sock)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ServerError(f"server on {self.url} did not start")
            time.sleep(0.01)

    def __repr__(self) -> str:
        return f"<Background server at {self.url}{'' if self._thread.is_alive() else ' (stopped)'}>"

    def stop(self) -> None:
        """Stop serving (finishing the app's shutdown) and release the port."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> Background:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_in_background(app: Any, host: str = "127.0.0.1", port: int = 0, **config: Any) -> Background:
    """Serve an ASGI app (the simulator's, the receiver's) in a thread; port 0 takes a free one.

    ``limits=ConnectionLimits(...)`` and ``counts=`` bound the connections as :func:`serve` does.

    Returns:
        The running server: ``.url`` (``http://127.0.0.1:PORT``), ``.stop()``; a ``with`` block stops it.

    Raises:
        ServerError: the address cannot be used, the file limit is below ``limits.max_connections``,
            or the server did not start within 10 s.
    """
    return Background(app, host, port, **config)


@contextmanager
def serving(app: Any, host: str = "127.0.0.1", port: int = 0, **config: Any) -> Iterator[str]:
    """Serve ``app`` in a background thread for the ``with`` block; yields its base URL.

    Raises:
        ServerError: the server did not start within 10 s.
    """
    with Background(app, host, port, **config) as server:
        yield server.url
