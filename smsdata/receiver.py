"""The delivery-report receiver: every POSTed report appended to a daily log, on disk before the 200.

The gateway POSTs ``Report=msgid,mobile,status,time`` bodies (one report per
line) to a URL we give it. :class:`ReportReceiver` is a Starlette app that

* accepts ``POST /reports/{token}`` when it has a token (anything else is
  404, ``/reports/{token}/`` too: no redirects; the token is compared in
  constant time), or ``POST /reports`` and ``POST /`` without one;
  ``GET /healthz`` answers 200;
* refuses bodies over ``max_body`` bytes (64 KiB) with 413, from the
  ``Content-Length`` header or while reading a streamed body;
* answers 408 and closes when a body has not arrived whole within
  ``body_timeout`` seconds (10), and writes nothing of a body whose client
  went away before its end (counted, one line at debug level, no traceback);
* appends each report as one line, prefixed with the time it was received
  (see :mod:`smsdata.report_lines`), to ``DIR/reports-YYYY-MM-DD.log`` (UTC
  date of receipt), and answers 200 only after ``write`` + ``fdatasync``;
* shares each fdatasync among all the requests that arrived while the
  previous one ran (group commit), so durability costs little throughput;
* answers 503 when the disk fails (full, read-only, gone), having cut the
  file back to its last durable end, and carries on when the disk recovers;
* logs one line per minute with counts, never report contents or the token.

:func:`serve_receiver` runs it for the open internet: under uvicorn with
httptools, with a header timeout (10 s), a header size limit (16 KiB, 431), a
connection limit (256; the connections that keep it waiting longest make room
for newcomers, 503 only when all are busy) and a short keep-alive (5 s); see
:class:`smsdata._http_guard.ConnectionLimits`. What these refuse is counted in
:class:`ReceiverStats` and in the minute's line.

Lines never interleave: one writer appends whole lines. Every body is kept,
duplicates included; ingest deduplicates.

>>> receiver = ReportReceiver("receiver/raw", token="s3cret")  # doctest: +SKIP
>>> serve_receiver("receiver/raw", host="0.0.0.0", port=8080, token="s3cret")  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from . import _faults
from ._checks import at_least, positive
from ._fs import fsync_dir
from .report_lines import log_lines

__all__ = [
    "BODY_TIMEOUT",
    "HEADER_TIMEOUT",
    "KEEP_ALIVE_TIMEOUT",
    "MAX_BODY",
    "MAX_CONNECTIONS",
    "MAX_HEADER_BYTES",
    "ReceiverStats",
    "ReportReceiver",
    "serve_receiver",
]

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024  # bytes; a gateway batches a few hundred reports at most
# Defaults of serve_receiver (and `smsdata receive`). A gateway sends a head of a
# few hundred bytes and a body of at most 64 KiB in well under a second, from a
# few dozen connections at most; these leave it ample room and cap what anyone
# else can hold: 256 connections of at most 16 KiB of head and 64 KiB of body
# (20 MiB), each for at most 10 s + 10 s, far below a 1,024 open-file limit.
HEADER_TIMEOUT = 10.0  # seconds to send a whole request head
BODY_TIMEOUT = 10.0  # seconds to send a whole body, once the head is in (64 KiB at 6.4 KB/s)
KEEP_ALIVE_TIMEOUT = 5.0  # seconds an idle keep-alive connection is kept
MAX_CONNECTIONS = 256  # connections held at most
MAX_HEADER_BYTES = 16 * 1024  # request line + headers, bytes


@dataclass
class ReceiverStats:
    """Counts since the receiver started."""

    bodies: int = 0  # accepted POSTs (answered 200)
    reports: int = 0  # lines written for them
    not_found: int = 0  # wrong path or token
    too_large: int = 0  # bodies over max_body
    storage_errors: int = 0  # answered 503: the disk failed
    syncs: int = 0  # fdatasync calls: fewer than bodies when commits are shared
    body_timeouts: int = 0  # answered 408: no whole body within body_timeout
    disconnects: int = 0  # the client went away before the end of its body
    # Counted by the server (serve_receiver), not the app:
    header_timeouts: int = 0  # closed: no whole request head within header_timeout
    headers_too_large: int = 0  # answered 431: request head over max_header_bytes
    evicted: int = 0  # waiting connections closed to make room for a newcomer
    over_capacity: int = 0  # answered 503: max_connections all busy

    def minus(self, other: ReceiverStats) -> ReceiverStats:
        return ReceiverStats(**{f.name: getattr(self, f.name) - getattr(other, f.name) for f in fields(self)})


class _TooLarge(Exception):
    pass


class _TooSlow(Exception):
    pass


class ReportReceiver:
    """The receiver as an ASGI app (``.app``), writing daily logs in ``directory``.

    Args:
        directory: folder of the daily logs; created if missing.
        token: the secret path segment (``/reports/{token}``); ``None`` accepts
            ``/reports`` and ``/``.
        max_body: largest accepted body, bytes.
        body_timeout: seconds a body has to arrive whole once its request has
            started; then 408, the connection is closed and nothing is written.
        fsync: ``False`` skips fdatasync (for benchmarks only: a crash loses
            acknowledged reports).
        stats_interval: seconds between the count lines it logs.

    Raises:
        ConfigError: ``body_timeout`` is not positive (also a ``ValueError``).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        token: str | None = None,
        max_body: int = MAX_BODY,
        body_timeout: float = BODY_TIMEOUT,
        fsync: bool = True,
        stats_interval: float = 60.0,
    ) -> None:
        positive(body_timeout, "body_timeout")
        at_least(max_body, "max_body")
        positive(stats_interval, "stats_interval")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._token = token.encode() if token else None
        self.max_body = max_body
        self.body_timeout = body_timeout
        self.stats_interval = stats_interval
        self.stats = ReceiverStats()
        self._writer = _LogWriter(self.directory, fsync=fsync, stats=self.stats)
        routes = [Route("/healthz", self._health, methods=["GET"])]
        if token:
            routes.append(Route("/reports/{token}", self._receive, methods=["POST"]))
        else:
            routes += [Route("/reports", self._receive, methods=["POST"]), Route("/", self._receive, methods=["POST"])]
        self.app = Starlette(routes=routes, lifespan=self._lifespan, exception_handlers={404: self._on_404})
        # Starlette would answer /reports/TOKEN/ with a redirect to /reports/TOKEN (307,
        # the token in its Location): a wrong path is a 404, as documented.
        self.app.router.redirect_slashes = False

    def __repr__(self) -> str:
        return f"ReportReceiver({str(self.directory)!r}, token={'set' if self._token else None})"

    def log_files(self) -> list[Path]:
        """The daily log files written so far, oldest first."""
        return sorted(self.directory.glob("reports-*.log"))

    async def aclose(self) -> None:
        """Finish pending writes and close the log files."""
        await self._writer.aclose()

    # -- requests

    async def _health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", **vars(self.stats)})

    async def _on_404(self, request: Request, exc: Exception) -> Response:
        return self._not_found()

    def _not_found(self) -> Response:
        self.stats.not_found += 1
        return PlainTextResponse("not found", status_code=404)

    async def _receive(self, request: Request) -> Response:
        if self._token is not None:
            given = request.path_params.get("token", "").encode()
            if not hmac.compare_digest(given, self._token):
                return self._not_found()
        try:
            body = await self._body(request)
        except _TooLarge:
            self.stats.too_large += 1
            return PlainTextResponse(f"body over {self.max_body} bytes", status_code=413)
        except _TooSlow:
            self.stats.body_timeouts += 1
            # Close: the rest of a body may still come, and it is no request.
            message = f"body not received within {self.body_timeout:g} s"
            return PlainTextResponse(message, status_code=408, headers={"Connection": "close"})
        except ClientDisconnect:
            self.stats.disconnects += 1
            # One line, at debug level: on an open port anyone can make many, and the
            # minute's line counts them.
            log.debug("a client went away before the end of its body; nothing of it was written")
            return PlainTextResponse("", status_code=400)  # nobody to read it: uvicorn drops it
        received = datetime.now(UTC)
        lines = log_lines(body, received)
        try:
            await self._writer.append(received.strftime("%Y-%m-%d"), lines)
        except OSError as exc:
            self.stats.storage_errors += 1
            log.error("cannot store reports in %s: %s; answering 503", self.directory, exc.strerror or exc)
            return PlainTextResponse("storage unavailable, retry later", status_code=503)
        self.stats.bodies += 1
        self.stats.reports += lines.count(b"\n")
        return PlainTextResponse("ok")

    async def _body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            raise _TooLarge
        body = bytearray()
        try:
            async with asyncio.timeout(self.body_timeout):
                async for part in request.stream():
                    body += part
                    if len(body) > self.max_body:
                        raise _TooLarge
        except TimeoutError:
            raise _TooSlow from None
        return bytes(body)

    # -- lifespan

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        task = asyncio.get_running_loop().create_task(self._log_stats_forever())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await self.aclose()
            self._log_stats(self.stats, "since start")

    async def _log_stats_forever(self) -> None:
        last = ReceiverStats()
        while True:
            await asyncio.sleep(self.stats_interval)
            now = ReceiverStats(**vars(self.stats))
            self._log_stats(now.minus(last), f"in the last {self.stats_interval:g} s")
            last = now

    def _log_stats(self, counts: ReceiverStats, period: str) -> None:
        log.info(
            "receiver: %d reports in %d bodies %s; refused %d not found, %d too large; %d storage errors; "
            "closed %d slow heads, %d slow bodies (408), %d heads too large (431), %d waiting to make room; "
            "%d over capacity (503); %d bodies cut short by the client",
            counts.reports,
            counts.bodies,
            period,
            counts.not_found,
            counts.too_large,
            counts.storage_errors,
            counts.header_timeouts,
            counts.body_timeouts,
            counts.headers_too_large,
            counts.evicted,
            counts.over_capacity,
            counts.disconnects,
        )


class _LogWriter:
    """One appender for the daily files: group commit of whole lines, undone on failure."""

    def __init__(self, directory: Path, *, fsync: bool, stats: ReceiverStats) -> None:
        self.directory = directory
        self.fsync = fsync
        self.stats = stats
        self._queue: list[tuple[str, bytes, asyncio.Future[None]]] = []
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._files: dict[str, int] = {}

    async def append(self, day: str, data: bytes) -> None:
        """Append ``data`` to the log of ``day``; returns once it is on disk.

        Raises:
            OSError: it could not be written or synced (nothing of it is kept).
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._queue.append((day, data, future))
        if self._task is None or self._task.done():
            self._wakeup = asyncio.Event()
            self._task = loop.create_task(self._commit_forever())
        assert self._wakeup is not None
        self._wakeup.set()
        await future

    async def _commit_forever(self) -> None:
        assert self._wakeup is not None
        while True:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            # Everything that queued while the last sync ran shares this one.
            batch, self._queue = self._queue, []
            try:
                failures = await asyncio.to_thread(self._write, batch)
            except BaseException as exc:  # cancelled: fail the waiters rather than leave them hanging
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(OSError(f"receiver stopped: {exc!r}"))
                raise
            for day, _, future in batch:
                if future.done():
                    continue
                if day in failures:
                    future.set_exception(failures[day])
                else:
                    future.set_result(None)

    def _write(self, batch: list[tuple[str, bytes, asyncio.Future[None]]]) -> dict[str, OSError]:
        """Append and sync each day's lines (a worker thread); the days that failed."""
        by_day: dict[str, list[bytes]] = {}
        for day, data, _ in batch:
            by_day.setdefault(day, []).append(data)
        failures = {}
        for day, parts in by_day.items():
            try:
                self._append(day, b"".join(parts))
            except OSError as exc:
                failures[day] = exc
        return failures

    def _append(self, day: str, data: bytes) -> None:
        fd = self._open(day)
        durable_end = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            _faults.reached("appended")  # a batch of bodies written, not yet synced nor answered
            if self.fsync:
                os.fdatasync(fd)
                self.stats.syncs += 1
        except OSError:
            # Leave no partial line behind; reopen next time (after a failed sync the
            # kernel may have dropped the pages: the file descriptor is not trusted).
            with contextlib.suppress(OSError):
                os.ftruncate(fd, durable_end)
            self._close(day)
            raise

    def _open(self, day: str) -> int:
        fd = self._files.get(day)
        if fd is None:
            path = self.directory / f"reports-{day}.log"
            created = not path.exists()
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            if created and self.fsync:
                fsync_dir(self.directory)
            for old in sorted(self._files)[:-1]:  # keep today's and yesterday's open
                self._close(old)
            self._files[day] = fd
        return fd

    def _close(self, day: str) -> None:
        fd = self._files.pop(day, None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    async def aclose(self) -> None:
        if self._queue and self._task is not None and not self._task.done():
            await asyncio.gather(*(future for _, _, future in self._queue), return_exceptions=True)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for day in list(self._files):
            self._close(day)


def serve_receiver(
    directory: str | os.PathLike[str],
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    token: str | None = None,
    header_timeout: float = HEADER_TIMEOUT,
    body_timeout: float = BODY_TIMEOUT,
    keep_alive_timeout: float = KEEP_ALIVE_TIMEOUT,
    max_connections: int = MAX_CONNECTIONS,
    max_header_bytes: int = MAX_HEADER_BYTES,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Run a :class:`ReportReceiver` under uvicorn until interrupted, bounded for an open port.

    Args:
        directory: folder of the daily logs.
        host, port: where to listen; port 0 takes a free one.
        token: the secret path segment; strongly advised on a public address.
        header_timeout: seconds a connection has to send a whole request head,
            from when it opened or got its previous answer; then it is closed.
        body_timeout: seconds a body has to arrive whole; then 408 and close.
        keep_alive_timeout: seconds an idle keep-alive connection is kept.
        max_connections: connections held at most. A newcomer beyond it closes
            the connection that has kept the receiver waiting longest (idle, or
            sending its head or body); if every connection is busy with a whole
            request, the newcomer's request is answered 503 (``Retry-After: 1``).
        max_header_bytes: largest request line + headers; beyond it, 431 and close.
        on_ready: called with the base URL once listening.

    Raises:
        ServerError: the address cannot be used, or the open-file limit
            (``ulimit -n``) is below ``max_connections`` + 64.
        ConfigError: a limit is not positive (also a ``ValueError``).
    """
    from ._http_guard import ConnectionLimits
    from ._serve import check_file_limit, serve

    limits = ConnectionLimits(
        header_timeout=header_timeout,
        keep_alive_timeout=keep_alive_timeout,
        max_connections=max_connections,
        max_header_bytes=max_header_bytes,
    )
    check_file_limit(max_connections)  # before the folder is made
    receiver = ReportReceiver(directory, token=token, body_timeout=body_timeout)
    serve(receiver.app, host, port, on_ready=on_ready, limits=limits, counts=receiver.stats)
