"""Benchmark: the report receiver under 32 concurrent clients on loopback, with and without fsync.

Goal (issue 5): >= 2,000 reports/s with fsync (every 200 means on disk), and its
ratio to the same receiver without fsync. Since "the receiver on the open
internet", also the cost of the connection limits: the same receiver with fsync
and without them (uvicorn's plain httptools protocol, as before).

The receiver runs under uvicorn in its own process (as `smsdata receive` does,
with its default limits: header and keep-alive timeouts, 256 connections, 16 KiB
heads); the load comes from another process: 32 keep-alive HTTP/1.1 connections
on raw asyncio streams (a Python HTTP client library would be the bottleneck,
not the receiver). Each configuration runs for --seconds after a warm-up;
rounds alternate the order of the configurations and the medians are compared.
Bodies carry 1 report (the worst case) or 10 (gateways batch their reports).
After each run the receiver's /healthz counts must show that the limits
refused nothing.

Then the limits' own cost without the noise of two processes on two cores:
uvicorn's httptools protocol and ours, each fed the same 20,000 keep-alive
requests in-process through a fake transport, with a trivial app; 10 rounds,
alternating, medians. Last, what one client sending an endless 100 MiB header
costs the receiver process (CPU seconds, growth of its peak RSS), limits on and off.

    .venv/bin/python bench/receiver.py [--seconds 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _util import machine

CLIENTS = 32
# (fsync, limits): the two of the goal, then the price of the limits.
CONFIGS = [(True, True), (False, True), (True, False)]
REFUSALS = ("header_timeouts", "body_timeouts", "headers_too_large", "evicted", "over_capacity", "disconnects")


def serve(
    directory: str, fsync: bool, limited: bool, ready: multiprocessing.synchronize.Event, port: multiprocessing.Value
) -> None:
    from smsdata import receiver as rc
    from smsdata._serve import ConnectionLimits
    from smsdata._serve import serve as run

    receiver = rc.ReportReceiver(directory, fsync=fsync)
    # The defaults of serve_receiver (which cannot turn fsync off).
    limits = ConnectionLimits(
        header_timeout=rc.HEADER_TIMEOUT,
        keep_alive_timeout=rc.KEEP_ALIVE_TIMEOUT,
        max_connections=rc.MAX_CONNECTIONS,
        max_header_bytes=rc.MAX_HEADER_BYTES,
    )

    def on_ready(url: str) -> None:
        port.value = int(url.rsplit(":", 1)[1])
        ready.set()

    run(receiver.app, "127.0.0.1", 0, on_ready=on_ready, limits=limits if limited else None, counts=receiver.stats)


async def client(port: int, body: bytes, deadline: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = (
        b"POST /reports HTTP/1.1\r\nHost: bench\r\nContent-Type: text/plain\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    try:
        while time.monotonic() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            if head.startswith(b"HTTP/1.1 200"):
                counts[0] += 1
    finally:
        writer.close()


async def health(port: int) -> dict[str, int]:
    """The receiver's counts, from GET /healthz."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
    answer = await reader.read()
    writer.close()
    return json.loads(answer.split(b"\r\n\r\n", 1)[1])


async def load(port: int, per_body: int, seconds: float) -> float:
    """Bodies answered 200 per second."""
    body = b"\n".join(b"Report=1790000000001,13800138000,DELIVRD,2026-11-25 21:25:13" for _ in range(per_body))
    counts = [0]
    await asyncio.gather(*(client(port, body, time.monotonic() + 1.0, [0]) for _ in range(CLIENTS)))  # warm-up
    started = time.monotonic()
    await asyncio.gather(*(client(port, body, started + seconds, counts) for _ in range(CLIENTS)))
    return counts[0] / (time.monotonic() - started)


def measure(fsync: bool, limited: bool, per_body: int, seconds: float) -> float:
    """Reports per second for one receiver process."""
    with receiver_process(fsync, limited) as (tmp, _, port):
        bodies_per_second = asyncio.run(load(port, per_body, seconds))
        lines = sum(p.read_bytes().count(b"\n") for p in Path(tmp).glob("reports-*.log"))
        assert lines >= bodies_per_second * seconds * per_body  # every 200 was written
        counts = asyncio.run(health(port))
        refused = {name: counts[name] for name in REFUSALS if counts[name]}
        assert not refused, f"the limits refused genuine load: {refused}"
    return bodies_per_second * per_body


@contextlib.contextmanager
def receiver_process(fsync: bool, limited: bool) -> Iterator[tuple[str, Any, int]]:
    """A receiver in its own process on a free port, writing to a temporary folder: (folder, process, port)."""
    with tempfile.TemporaryDirectory(prefix="bench-receiver-") as tmp:
        ready, port = multiprocessing.Event(), multiprocessing.Value("i", 0)
        server = multiprocessing.Process(target=serve, args=(tmp, fsync, limited, ready, port), daemon=True)
        server.start()
        try:
            if not ready.wait(30):
                raise RuntimeError("receiver did not start")
            yield tmp, server, port.value
        finally:
            server.terminate()
            server.join(10)


async def _trivial_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


class _Transport(asyncio.Transport):
    """Takes what the protocol writes and drops it."""

    def __init__(self) -> None:
        super().__init__()
        self.closing = False

    def write(self, data: object) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"sockname": ("127.0.0.1", 8080), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _protocol_run(protocol_class: type, requests: int) -> float:
    """Microseconds per request through one connection of ``protocol_class``."""
    import uvicorn
    from uvicorn.server import ServerState

    config = uvicorn.Config(_trivial_app, http=protocol_class, log_level="warning", lifespan="off")
    config.load()
    state = ServerState()
    protocol = config.http_protocol_class(config=config, server_state=state, app_state={})
    protocol.connection_made(_Transport())
    body = b"Report=1790000000001,13800138000,DELIVRD,2026-11-25 21:25:13"
    request = b"POST /reports HTTP/1.1\r\nHost: bench\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    started = time.perf_counter()
    for _ in range(requests):
        protocol.data_received(request)
        while state.tasks:  # the app's task, to its answer
            await asyncio.sleep(0)
    return (time.perf_counter() - started) / requests * 1e6


def protocol_cost(rounds: int = 10, requests: int = 20_000) -> tuple[float, float]:
    """Median microseconds per request: uvicorn's httptools protocol, ours with the receiver's limits."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    from smsdata import receiver as rc
    from smsdata._http_guard import ConnectionLimits, guarded

    limits = ConnectionLimits(
        header_timeout=rc.HEADER_TIMEOUT,
        keep_alive_timeout=rc.KEEP_ALIVE_TIMEOUT,
        max_connections=rc.MAX_CONNECTIONS,
        max_header_bytes=rc.MAX_HEADER_BYTES,
    )
    sides = [HttpToolsProtocol, guarded(limits, None)]
    runs: dict[type, list[float]] = {side: [] for side in sides}
    for round_ in range(rounds):
        for side in sides if round_ % 2 == 0 else sides[::-1]:
            runs[side].append(asyncio.run(_protocol_run(side, requests)))
    return statistics.median(runs[sides[0]]), statistics.median(runs[sides[1]])


def _cpu_and_peak_rss(pid: int) -> tuple[float, float]:
    """CPU seconds and peak RSS (MiB) of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    status = Path(f"/proc/{pid}/status").read_text()
    peak = int(status.split("VmHWM:")[1].split()[0]) / 1024
    return cpu, peak


def huge_head_cost(limited: bool, mib: int = 100) -> tuple[float, float, float]:
    """One client sends an unfinished header of ``mib`` MiB: (seconds to send it, server CPU s, RSS growth MiB)."""
    with receiver_process(True, limited) as (_, server, port):
        cpu, peak = _cpu_and_peak_rss(server.pid)
        chunk = b"a" * (1 << 20)
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"POST /reports HTTP/1.1\r\nHost: bench\r\nX-Junk: ")
            try:
                for _ in range(mib):
                    sock.sendall(chunk)
            except OSError:
                pass  # closed on us: the limits at work
            seconds = time.monotonic() - started
            time.sleep(1)  # let the server finish what it has read
        cpu_after, peak_after = _cpu_and_peak_rss(server.pid)
    return seconds, cpu_after - cpu, peak_after - peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"{machine()}; {CLIENTS} clients; {args.seconds:g} s per run")
    for per_body in (1, 10):
        runs: dict[tuple[bool, bool], list[float]] = {config: [] for config in CONFIGS}
        for round_ in range(args.rounds):
            for fsync, limited in CONFIGS if round_ % 2 == 0 else CONFIGS[::-1]:
                runs[fsync, limited].append(measure(fsync, limited, per_body, args.seconds))
                label = f"fsync {'on ' if fsync else 'off'}, limits {'on ' if limited else 'off'}"
                print(f"  {per_body:2d} report(s)/body, {label}: {runs[fsync, limited][-1]:8,.0f} reports/s")
                sys.stdout.flush()
        on, off, bare = (statistics.median(runs[config]) for config in CONFIGS)
        print(
            f"{per_body:2d} report(s)/body, limits on: fsync {on:,.0f} reports/s, no fsync {off:,.0f} reports/s, "
            f"ratio {on / off:.2f} (goal >= 2,000 reports/s with fsync); "
            f"fsync without limits {bare:,.0f} reports/s, limits on/off {on / bare:.2f}"
        )
    plain, guarded = protocol_cost()
    print(
        f"protocol alone, in-process: uvicorn's httptools {plain:.1f} us/request, "
        f"with the limits {guarded:.1f} us/request (+{guarded - plain:.1f} us)"
    )
    for limited in (True, False):
        seconds, cpu, grown = huge_head_cost(limited)
        print(
            f"an endless 100 MiB header, limits {'on ' if limited else 'off'}: sent in {seconds:.1f} s, "
            f"receiver CPU {cpu:.2f} s, peak RSS +{grown:.0f} MiB"
        )


if __name__ == "__main__":
    main()
