"""Run an ASGI app under uvicorn: blocking (the CLI) or in a thread (tests, the demo)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from .errors import SmsdataError


def bind(host: str, port: int) -> socket.socket:
    """Bind a listening TCP socket; port 0 takes a free one.

    Raises:
        SmsdataError: the address is taken or not available, with which one.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SmsdataError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
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


def _server(app: Any, **config: Any) -> uvicorn.Server:
    options = {"log_level": "warning", "access_log": False, "lifespan": "on", **config}
    return uvicorn.Server(uvicorn.Config(app, **options))


def serve(
    app: Any,
    host: str,
    port: int,
    *,
    on_ready: Callable[[str], None] | None = None,
    **config: Any,
) -> None:
    """Serve ``app`` until interrupted; ``on_ready(url)`` is called once listening."""
    sock = bind(host, port)
    server = _server(app, **config)
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

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, **config: Any) -> None:
        self._sock = bind(host, port)
        self.url = url_of(self._sock)
        self._server = _server(app, **config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise SmsdataError(f"server on {self.url} did not start")
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

    Raises:
        SmsdataError: the address cannot be used, or the server did not start within 10 s.
    """
    return Background(app, host, port, **config)


@contextmanager
def serving(app: Any, host: str = "127.0.0.1", port: int = 0, **config: Any) -> Iterator[str]:
    """Serve ``app`` in a background thread for the ``with`` block; yields its base URL.

    Raises:
        SmsdataError: the server did not start within 10 s.
    """
    with Background(app, host, port, **config) as server:
        yield server.url
