"""Benchmark: the report receiver under 32 concurrent clients on loopback, with and without fsync.

Goal (issue 5): >= 2,000 reports/s with fsync (every 200 means on disk), and its
ratio to the same receiver without fsync.

The receiver runs under uvicorn in its own process (as `smsdata receive` does);
the load comes from another process: 32 keep-alive HTTP/1.1 connections on raw
asyncio streams (a Python HTTP client library would be the bottleneck, not the
receiver). Each configuration runs for --seconds after a warm-up; rounds
alternate fsync on/off and the medians are compared. Bodies carry 1 report
(the worst case) or 10 (gateways batch their reports).

    .venv/bin/python bench/receiver.py [--seconds 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _util import machine

CLIENTS = 32


def serve(directory: str, fsync: bool, ready: multiprocessing.synchronize.Event, port: multiprocessing.Value) -> None:
    from smsdata._serve import serve as run
    from smsdata.receiver import ReportReceiver

    receiver = ReportReceiver(directory, fsync=fsync)

    def on_ready(url: str) -> None:
        port.value = int(url.rsplit(":", 1)[1])
        ready.set()

    run(receiver.app, "127.0.0.1", 0, on_ready=on_ready)


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


async def load(port: int, per_body: int, seconds: float) -> float:
    """Bodies answered 200 per second."""
    body = b"\n".join(b"Report=1790000000001,13800138000,DELIVRD,2026-11-25 21:25:13" for _ in range(per_body))
    counts = [0]
    await asyncio.gather(*(client(port, body, time.monotonic() + 1.0, [0]) for _ in range(CLIENTS)))  # warm-up
    started = time.monotonic()
    await asyncio.gather(*(client(port, body, started + seconds, counts) for _ in range(CLIENTS)))
    return counts[0] / (time.monotonic() - started)


def measure(fsync: bool, per_body: int, seconds: float) -> float:
    """Reports per second for one receiver process."""
    with tempfile.TemporaryDirectory(prefix="bench-receiver-") as tmp:
        ready, port = multiprocessing.Event(), multiprocessing.Value("i", 0)
        server = multiprocessing.Process(target=serve, args=(tmp, fsync, ready, port), daemon=True)
        server.start()
        try:
            if not ready.wait(30):
                raise RuntimeError("receiver did not start")
            bodies_per_second = asyncio.run(load(port.value, per_body, seconds))
            lines = sum(p.read_bytes().count(b"\n") for p in Path(tmp).glob("reports-*.log"))
            assert lines >= bodies_per_second * seconds * per_body  # every 200 was written
        finally:
            server.terminate()
            server.join(10)
    return bodies_per_second * per_body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"{machine()}; {CLIENTS} clients; {args.seconds:g} s per run")
    for per_body in (1, 10):
        runs: dict[bool, list[float]] = {True: [], False: []}
        for round_ in range(args.rounds):
            for fsync in (True, False) if round_ % 2 == 0 else (False, True):
                runs[fsync].append(measure(fsync, per_body, args.seconds))
                label = "on " if fsync else "off"
                print(f"  {per_body:2d} report(s)/body, fsync {label}: {runs[fsync][-1]:8,.0f} reports/s")
                sys.stdout.flush()
        on, off = statistics.median(runs[True]), statistics.median(runs[False])
        print(
            f"{per_body:2d} report(s)/body: fsync {on:,.0f} reports/s, no fsync {off:,.0f} reports/s, "
            f"ratio {on / off:.2f} (goal >= 2,000 reports/s with fsync)"
        )


if __name__ == "__main__":
    main()
