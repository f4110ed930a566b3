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


@contextmanager
def serving(app: Any, host: str = "127.0.0.1", port: int = 0, **config: Any) -> Iterator[str]:
    """Serve ``app`` in a background thread for the ``with`` block; yields its base URL.

    Raises:
        SmsdataError: the server did not start within 10 s.
    """
    sock = bind(host, port)
    url = url_of(sock)
    server = _server(app, **config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise SmsdataError(f"server on {url} did not start")
        time.sleep(0.01)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
