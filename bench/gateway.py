"""Benchmark: sends per second from AsyncGateway vs a bare httpx.AsyncClient loop.

Both post the same form requests to the same simulator (its own process, uvicorn
on loopback) in the same run, at concurrency 1, 8 and 32; each configuration is
run ROUNDS times, alternating which goes first, and the median rate of each side is compared:
the client is CPU-bound inside httpx, so single runs vary by +-15%.
Goal (issue 3): AsyncGateway >= 0.9x the bare loop.

    .venv/bin/python bench/gateway.py [--requests 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import time

import httpx
from _util import machine, simulator_process

from smsdata.gateway import AsyncGateway

_numbers = (f"139{i:08d}" for i in itertools.count())


async def drive(concurrency: int, total: int, send_one) -> float:
    """Run ``total`` sends with ``concurrency`` workers; return sends per second."""
    remaining = iter(range(total))

    async def worker() -> None:
        for _ in remaining:
            await send_one(next(_numbers))

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - start)


async def bare(url: str, concurrency: int, total: int) -> float:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)  # as AsyncGateway's
    async with httpx.AsyncClient(timeout=10.0, limits=limits) as client:

        async def send_one(mobile: str) -> None:
            form = {"Uid": "demo", "Pwd": "demo", "Mobile": mobile, "Content": "Benchmark message"}
            response = await client.post(url + "/Message/send", data=form)
            response.raise_for_status()
            response.read()

        return await drive(concurrency, total, send_one)


async def ours(url: str, concurrency: int, total: int) -> float:
    async with AsyncGateway(url, "demo", "demo") as gw:

        async def send_one(mobile: str) -> None:
            await gw.send(mobile, "Benchmark message")

        return await drive(concurrency, total, send_one)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    print(f"# {machine()}; {args.requests} requests per run, median of {args.rounds}")
    print(f"{'concurrency':>11} {'bare req/s':>11} {'ours req/s':>11} {'ratio':>6}")
    with simulator_process() as url:
        asyncio.run(ours(url, 8, 200))  # warm up the server and both code paths
        for concurrency in (1, 8, 32):
            rates: dict[str, list[float]] = {"bare": [], "ours": []}
            for round_ in range(args.rounds):
                # Alternate which goes first: the server's state grows as it accepts.
                for name, run in ((("bare", bare), ("ours", ours)), (("ours", ours), ("bare", bare)))[round_ % 2]:
                    rates[name].append(asyncio.run(run(url, concurrency, args.requests)))
            median = {name: statistics.median(values) for name, values in rates.items()}
            ratio = median["ours"] / median["bare"]
            print(f"{concurrency:>11} {median['bare']:>11.0f} {median['ours']:>11.0f} {ratio:>6.2f}")


if __name__ == "__main__":
    main()
