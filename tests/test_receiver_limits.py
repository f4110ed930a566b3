"""The receiver on an open port: slow heads and bodies, idle and busy connections, huge heads, clients that go.

Each attack runs over real loopback sockets against the receiver as
``serve_receiver`` runs it (uvicorn + httptools with ``ConnectionLimits``),
with its limits set short, and each test checks that a genuine POST is still
answered 200 while the attack is on. Assertions on time are bounds with ample
room (this runs on a loaded 2-core machine), or orderings between events.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from smsdata._serve import ConnectionLimits, serve_in_background, serving
from smsdata.cli import cli
from smsdata.errors import ConfigError, ServerError
from smsdata.receiver import (
    HEADER_TIMEOUT,
    KEEP_ALIVE_TIMEOUT,
    MAX_CONNECTIONS,
    MAX_HEADER_BYTES,
    ReportReceiver,
    serve_receiver,
)

REPORT = b"Report=800001,13800138000,DELIVRD,2026-11-25 21:25:13"
PACE = 0.2  # seconds between an attacker's bytes ("1 byte per second", faster)
SLACK = 20.0  # seconds of room on every upper bound


def limits(**overrides: float) -> ConnectionLimits:
    """The receiver's default limits, with some set short for a test."""
    values = {
        "header_timeout": HEADER_TIMEOUT,
        "keep_alive_timeout": KEEP_ALIVE_TIMEOUT,
        "max_connections": MAX_CONNECTIONS,
        "max_header_bytes": MAX_HEADER_BYTES,
    }
    return ConnectionLimits(**(values | overrides))  # type: ignore[arg-type]


@contextmanager
def receiving(
    directory: Path, *, body_timeout: float = 10.0, **overrides: float
) -> Iterator[tuple[ReportReceiver, str]]:
    """A receiver served with limits in a thread: (receiver, base URL)."""
    receiver = ReportReceiver(directory, body_timeout=body_timeout)
    with serving(receiver.app, limits=limits(**overrides), counts=receiver.stats) as url:
        yield receiver, url


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def logged(directory: Path) -> list[bytes]:
    """The report parts of every line in the day's log (nothing if no log)."""
    path = directory / f"reports-{datetime.now(UTC):%Y-%m-%d}.log"
    return [line.split(b"\t", 1)[1] for line in path.read_bytes().splitlines()] if path.exists() else []


def post_bytes(body: bytes = REPORT, path: bytes = b"/reports") -> bytes:
    return b"POST %s HTTP/1.1\r\nHost: receiver\r\nContent-Length: %d\r\n\r\n%s" % (path, len(body), body)


async def genuine_post(url: str, body: bytes = REPORT) -> httpx.Response:
    """A POST as the gateway sends it, on a new connection."""
    async with httpx.AsyncClient(timeout=SLACK) as client:
        return await client.post(f"{url}/reports", content=body)


async def answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """Read one HTTP answer: status, headers (lower-case names), body."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), SLACK)
    status_line, *lines = head.decode().split("\r\n")[:-2]
    headers = dict(line.lower().split(": ", 1) for line in lines)
    body = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", 0))), SLACK)
    return int(status_line.split()[1]), headers, body


async def closed(reader: asyncio.StreamReader) -> bool:
    """Wait (up to SLACK s) for the server to close; True if it did, having sent nothing more."""
    try:
        return await asyncio.wait_for(reader.read(), SLACK) == b""
    except ConnectionResetError:
        return True


async def answered_while_held(
    attack: Callable[[int, asyncio.Event], Awaitable[float]], attackers: int, url: str
) -> None:
    """Start ``attackers`` copies of ``attack(port, started)`` (each returns when it was cut);
    once all have started, a genuine POST gets 200 while every one still holds on."""
    started = [asyncio.Event() for _ in range(attackers)]
    attacks = [asyncio.create_task(attack(port_of(url), event)) for event in started]
    await asyncio.gather(*(event.wait() for event in started))
    response = await genuine_post(url)
    answered = time.monotonic()
    assert response.status_code == 200
    assert not any(task.done() for task in attacks)  # answered while every attacker still held on
    assert answered < min(await asyncio.gather(*attacks))


# ------------------------------------------------------------------ slow heads


def test_a_slow_head_is_closed_after_the_header_timeout_while_posts_get_200(tmp_path: Path) -> None:
    timeout, attackers = 3.0, 50

    async def slow_head(port: int, started: asyncio.Event) -> float:
        """Send a request head a byte at a time until closed; when it was closed."""
        opened = time.monotonic()  # before: the server's clock starts later
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for i in range(200):  # 200 bytes would take 40 s: the server must cut it
                writer.write(post_bytes()[i : i + 1])
                started.set()
                try:
                    assert await asyncio.wait_for(reader.read(1), PACE) == b""  # no answer: closed
                    break
                except TimeoutError:
                    continue
                except ConnectionResetError:
                    break
            else:
                pytest.fail("the slow head was never cut")
            held = time.monotonic() - opened
            assert timeout <= held < timeout + SLACK
            return time.monotonic()
        finally:
            writer.close()

    with receiving(tmp_path, header_timeout=timeout) as (receiver, url):
        asyncio.run(answered_while_held(slow_head, attackers, url))
    assert receiver.stats.header_timeouts == attackers
    assert (receiver.stats.bodies, receiver.stats.evicted) == (1, 0)
    assert logged(tmp_path) == [REPORT]


def test_after_an_early_413_a_dripping_body_is_cut_at_the_header_timeout(tmp_path: Path) -> None:
    timeout = 2.0

    async def scenario(port: int, url: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sent = time.monotonic()  # the server's clock starts when it has answered, later
        writer.write(b"POST /reports HTTP/1.1\r\nHost: receiver\r\nContent-Length: 1000000000\r\n\r\nReport=")
        status, _, _ = await answer(reader)
        assert status == 413  # from Content-Length: the app is done, the body still comes

        async def drip() -> None:
            while True:
                await asyncio.sleep(PACE)
                writer.write(b"x")

        dripping = asyncio.create_task(drip())
        try:
            assert (await genuine_post(url)).status_code == 200
            assert not dripping.done()
            assert await closed(reader)
            assert timeout <= time.monotonic() - sent < timeout + SLACK
        finally:
            dripping.cancel()
            writer.close()

    with receiving(tmp_path, header_timeout=timeout) as (receiver, url):
        asyncio.run(scenario(port_of(url), url))
    assert (receiver.stats.too_large, receiver.stats.header_timeouts) == (1, 1)
    assert logged(tmp_path) == [REPORT]


def test_an_idle_keep_alive_connection_is_closed_after_the_keep_alive_timeout(tmp_path: Path) -> None:
    keep_alive = 0.5

    async def scenario(port: int) -> float:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            sent = time.monotonic()  # the server's clock starts when it has answered, later
            writer.write(post_bytes())
            status, headers, _ = await answer(reader)
            assert (status, headers.get("connection")) == (200, None)  # kept alive
            assert await closed(reader)
            return time.monotonic() - sent
        finally:
            writer.close()

    with receiving(tmp_path, keep_alive_timeout=keep_alive, header_timeout=60) as (receiver, url):
        idle = asyncio.run(scenario(port_of(url)))
    assert keep_alive <= idle < keep_alive + SLACK
    assert receiver.stats.header_timeouts == 0  # idle after an answer is no slow head


# ------------------------------------------------------------------ slow bodies


@pytest.mark.parametrize(
    ("framing", "piece"),
    [
        pytest.param(b"Content-Length: 50", b"x", id="content-length"),
        pytest.param(b"Transfer-Encoding: chunked", b"1\r\nx\r\n", id="chunked"),
    ],
)
def test_a_slow_body_gets_408_and_is_closed_with_nothing_written(tmp_path: Path, framing: bytes, piece: bytes) -> None:
    timeout, attackers = 3.0, 5

    async def slow_body(port: int, started: asyncio.Event) -> float:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        began = time.monotonic()  # the server's clock starts when it has the head, later
        writer.write(b"POST /reports HTTP/1.1\r\nHost: receiver\r\n%s\r\n\r\n" % framing)

        async def drip() -> None:
            for _ in range(200):  # 40 s: the server must cut it
                writer.write(piece)
                started.set()
                await asyncio.sleep(PACE)

        dripping = asyncio.create_task(drip())
        try:
            status, headers, body = await answer(reader)
            assert (status, headers["connection"]) == (408, "close")
            assert body == f"body not received within {timeout:g} s".encode()
            assert timeout <= time.monotonic() - began < timeout + SLACK
            assert not dripping.done()
            assert await closed(reader)
            return time.monotonic()
        finally:
            dripping.cancel()
            writer.close()

    with receiving(tmp_path, body_timeout=timeout) as (receiver, url):
        asyncio.run(answered_while_held(slow_body, attackers, url))
    assert (receiver.stats.body_timeouts, receiver.stats.bodies) == (attackers, 1)
    assert logged(tmp_path) == [REPORT]  # no x from any slow body


# ------------------------------------------------------------------ connection limit


def test_idle_connections_beyond_the_limit_make_room_oldest_first(tmp_path: Path) -> None:
    limit, idle = 8, 12

    async def scenario(port: int, url: str) -> None:
        # Silent, half a head, or kept alive after a POST: all idle, in this order.
        kinds = ["silent", "half", "kept"] * (idle // 3)
        connections = []
        for kind in kinds:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            if kind == "half":
                writer.write(b"POST /reports HTTP/1.1\r\nHost: rec")
            elif kind == "kept":
                writer.write(post_bytes())
                assert (await answer(reader))[0] == 200
            connections.append((kind, reader, writer))

        # The gateway's POST, on a 13th connection: it makes room, it is not refused.
        assert (await genuine_post(url)).status_code == 200

        # The 4 that came over the limit and the POST closed the 5 oldest...
        gone = idle - limit + 1
        for _, reader, _ in connections[:gone]:
            assert await closed(reader)
        # ...and the 7 newest are still held: each still gets its POST answered.
        for kind, reader, writer in connections[gone:]:
            writer.write(
                b"t\r\nContent-Length: %d\r\n\r\n%s" % (len(REPORT), REPORT) if kind == "half" else post_bytes()
            )
            assert (await answer(reader))[0] == 200
        for _, _, writer in connections:
            writer.close()

    with receiving(tmp_path, max_connections=limit, header_timeout=60, keep_alive_timeout=60) as (receiver, url):
        asyncio.run(scenario(port_of(url), url))
    assert receiver.stats.evicted == idle - limit + 1
    assert (receiver.stats.over_capacity, receiver.stats.header_timeouts) == (0, 0)
    assert logged(tmp_path) == [REPORT] * (idle // 3 + 1 + idle - (idle - limit + 1))


def test_when_every_connection_is_busy_a_newcomer_gets_503_then_200_once_one_is_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = 4
    gate, handed = threading.Event(), [0]

    async def scenario(receiver: ReportReceiver, port: int, url: str) -> None:
        writer_of = receiver._writer
        original = writer_of._write

        def held(batch: list) -> dict:  # fault injection: the disk stalls until the gate opens
            handed[0] += len(batch)
            gate.wait(SLACK)
            return original(batch)

        monkeypatch.setattr(writer_of, "_write", held)
        busy = []
        for _ in range(limit):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(post_bytes())
            busy.append((reader, writer))
        deadline = time.monotonic() + SLACK
        while handed[0] + len(writer_of._queue) < limit:  # every request whole and waiting on the disk
            assert time.monotonic() < deadline, "the POSTs never reached the writer"
            await asyncio.sleep(0.01)

        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(post_bytes(REPORT.replace(b"800001", b"800009")))
        status, headers, body = await answer(reader)
        assert (status, headers["retry-after"], headers["connection"]) == (503, "1", "close")
        assert body == b"too many connections; retry later"
        assert await closed(reader)
        writer.close()

        gate.set()
        for reader, writer in busy:
            assert (await answer(reader))[0] == 200
            writer.close()
        assert (await genuine_post(url)).status_code == 200

    with receiving(tmp_path, max_connections=limit) as (receiver, url):
        try:
            asyncio.run(scenario(receiver, port_of(url), url))
        finally:
            gate.set()
    assert (receiver.stats.over_capacity, receiver.stats.evicted) == (1, 0)
    assert logged(tmp_path) == [REPORT] * (limit + 1)  # not the refused one


def test_a_file_limit_below_the_connection_limit_is_refused_before_listening(tmp_path: Path) -> None:
    app = ReportReceiver(tmp_path).app
    with pytest.raises(ServerError, match=r"10000000 connections need about 10000064 open files and the limit is"):
        serve_in_background(app, limits=limits(max_connections=10_000_000))
    with pytest.raises(ServerError, match=r"LimitNOFILE=10000064"):
        serve_receiver(tmp_path / "never", port=0, max_connections=10_000_000)
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("name", ["header_timeout", "keep_alive_timeout", "max_connections", "max_header_bytes"])
def test_limits_must_be_positive(name: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"{name} must be (above 0|at least 1), not 0"):
        limits(**{name: 0})
    with pytest.raises(ConfigError, match=f"{name} must be a (whole )?number, not 'x'"):
        limits(**{name: "x"})
    with pytest.raises(ConfigError, match="body_timeout must be above 0, not -1"):
        ReportReceiver(tmp_path, body_timeout=-1)
    with pytest.raises(ConfigError, match=r"max_body must be a whole number, not 1\.5"):
        ReportReceiver(tmp_path, max_body=1.5)


# ------------------------------------------------------------------ huge heads


def test_a_huge_head_gets_431_promptly_with_bounded_memory(tmp_path: Path) -> None:
    attackers, size = 4, 8 << 20
    junk = b"POST /reports HTTP/1.1\r\nHost: receiver\r\nX-Junk: " + b"a" * size  # never ends

    async def huge_head(port: int) -> bytes:
        loop = asyncio.get_running_loop()
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.setblocking(False)
            try:  # sock_sendall keeps a view of `junk`: the client holds no copy of it
                await asyncio.wait_for(loop.sock_sendall(sock, junk), SLACK)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server may close before it all went
            received = b""
            while chunk := await asyncio.wait_for(loop.sock_recv(sock, 4096), SLACK):
                received += chunk
            return received

    async def scenario(port: int, url: str) -> float:
        began = time.monotonic()
        attacks = [asyncio.create_task(huge_head(port)) for _ in range(attackers)]
        assert (await genuine_post(url)).status_code == 200
        for received in await asyncio.gather(*attacks):
            assert received.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
            assert received.endswith(b"\r\n\r\nrequest head over 16384 bytes")  # then the server closed
        return time.monotonic() - began

    with receiving(tmp_path) as (receiver, url):
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            seconds = asyncio.run(scenario(port_of(url), url))
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
    assert seconds < SLACK
    # 32 MiB of heads; the server parses at most 16 KiB of each and drops the rest as
    # it reads it (256 KiB at a time). Unbounded, httptools would hold each 8 MiB value.
    assert peak < 4 << 20, f"{peak / 2**20:.1f} MiB traced at peak"
    assert (receiver.stats.headers_too_large, receiver.stats.bodies) == (attackers, 1)
    assert logged(tmp_path) == [REPORT]


def test_a_client_that_sends_its_whole_huge_head_before_reading_gets_the_431(tmp_path: Path) -> None:
    # Closing a socket with unread bytes sends RST, which can reach the client before
    # it reads the answer: the server goes on reading (and dropping) for a while.
    async def scenario(port: int) -> list[int]:
        statuses = []
        for _ in range(5):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"POST /reports HTTP/1.1\r\nHost: receiver\r\nX-Junk: " + b"a" * (2 << 20) + b"\r\n\r\n")
            await asyncio.wait_for(writer.drain(), SLACK)  # all of it, before reading a byte
            statuses.append((await answer(reader))[0])
            assert await closed(reader)
            writer.close()
        return statuses

    with receiving(tmp_path) as (receiver, url):
        assert asyncio.run(scenario(port_of(url))) == [431] * 5
        assert asyncio.run(genuine_post(url)).status_code == 200
    assert receiver.stats.headers_too_large == 5


def test_a_head_just_under_the_limit_is_accepted_and_one_byte_over_is_not(tmp_path: Path) -> None:
    async def post_with_head_of(port: int, size: int) -> int:
        head = b"POST /reports HTTP/1.1\r\nContent-Length: %d\r\nX-Pad: " % len(REPORT)
        head += b"p" * (size - len(head) - 4) + b"\r\n\r\n"
        assert len(head) == size
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(head + REPORT)  # the body in the same packet: it does not count
            return (await answer(reader))[0]
        finally:
            writer.close()

    async def scenario(port: int) -> list[int]:
        return [await post_with_head_of(port, size) for size in (1024, 1025)]

    with receiving(tmp_path, max_header_bytes=1024) as (receiver, url):
        assert asyncio.run(scenario(port_of(url))) == [200, 431]
    assert receiver.stats.headers_too_large == 1
    assert logged(tmp_path) == [REPORT]


# ------------------------------------------------------------------ clients that go


@pytest.mark.parametrize("how", ["close", "reset"])
def test_a_client_gone_mid_body_is_counted_in_one_line_and_nothing_is_written(
    tmp_path: Path, how: str, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)

    async def scenario(receiver: ReportReceiver, port: int, url: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        # Expect: 100-continue makes the server say when the app starts reading the body.
        writer.write(b"POST /reports HTTP/1.1\r\nHost: receiver\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n")
        assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), SLACK) == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(REPORT[:30])  # 30 of the 100 bytes promised
        await writer.drain()
        if how == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()
        deadline = time.monotonic() + SLACK
        while receiver.stats.disconnects < 1:
            assert time.monotonic() < deadline, "the receiver never noticed"
            await asyncio.sleep(0.01)
        assert (await genuine_post(url)).status_code == 200

    with receiving(tmp_path) as (receiver, url):
        uvicorn_log = logging.getLogger("uvicorn")  # does not propagate: listen to it directly
        uvicorn_log.addHandler(caplog.handler)
        try:
            asyncio.run(scenario(receiver, port_of(url), url))
        finally:
            uvicorn_log.removeHandler(caplog.handler)
    assert (receiver.stats.disconnects, receiver.stats.bodies) == (1, 1)
    assert logged(tmp_path) == [REPORT]  # nothing of the 30 bytes
    ours = [r for r in caplog.records if r.name.startswith(("smsdata", "uvicorn"))]
    assert not [r for r in ours if r.exc_info or r.levelno >= logging.WARNING]
    gone = [r.getMessage() for r in ours if "went away" in r.getMessage()]
    assert gone == ["a client went away before the end of its body; nothing of it was written"]
    assert any("; 1 bodies cut short by the client" in r.getMessage() for r in ours)  # the count line at shutdown
    assert "Traceback" not in capfd.readouterr().err


# ------------------------------------------------------------------ the command


def test_the_command_s_defaults_are_the_library_s() -> None:
    options = {param.name: param.default for param in cli.commands["receive"].params}
    for name, parameter in inspect.signature(serve_receiver).parameters.items():
        if name in ("header_timeout", "body_timeout", "keep_alive_timeout", "max_connections", "max_header_bytes"):
            assert options[name] == parameter.default, name


def test_smsdata_receive_applies_its_limits(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "smsdata", "receive", "--port", "0", "--dir", str(tmp_path)]
    command += ["--header-timeout", "1", "--max-header-bytes", "1024"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        match = re.search(r"(http://\S+?)/reports", line)
        assert match, line
        url = match.group(1)

        async def scenario(port: int) -> None:
            opened = time.monotonic()
            slow, silent = await asyncio.open_connection("127.0.0.1", port)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"POST /reports HTTP/1.1\r\nX-Pad: " + b"p" * 2000 + b"\r\n\r\n")
            assert (await answer(reader))[0] == 431
            assert (await genuine_post(url)).status_code == 200
            assert await closed(slow)
            assert 1.0 <= time.monotonic() - opened < 1.0 + SLACK
            for each in (silent, writer):
                each.close()

        asyncio.run(scenario(port_of(url)))
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(SLACK)
        proc.stdout.close()
    assert logged(tmp_path) == [REPORT]
