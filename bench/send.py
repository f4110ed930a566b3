"""Benchmark: sending campaigns against the simulator on loopback (its own process).

1. Personalised: N messages, one request each, through ``send_campaign`` (ledger
   included), side by side with a bare ``httpx.AsyncClient`` loop posting the same
   kind of requests at the same concurrency in the same run. Goal (issue 4): >= 0.8x.
2. Broadcast: 1,000,000 recipients, one content, 200 requests of 5,000, planned,
   sent and every recipient recorded in the ledger. Goal: under 15 s.

    .venv/bin/python bench/send.py [--messages 100000] [--concurrency 16] [--broadcast 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx
import pandas as pd
from _util import machine, peak_rss_mib, simulator_process

from smsdata.campaign import plan_campaign, send_campaign
from smsdata.gateway import AsyncGateway
from smsdata.ledger import Ledger


def numbers(n: int, start: int) -> list[str]:
    return [f"13{start + i:09d}" for i in range(n)]


async def bare(url: str, mobiles: list[str], concurrency: int) -> float:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)  # as AsyncGateway's
    work = iter(enumerate(mobiles))
    async with httpx.AsyncClient(timeout=10.0, limits=limits) as client:

        async def worker() -> None:
            for i, mobile in work:
                form = {"Uid": "demo", "Pwd": "demo", "Mobile": mobile, "Content": f"Hi customer {i}, order shipped"}
                response = await client.post(url + "/Message/send", data=form)
                response.raise_for_status()

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(mobiles) / (time.perf_counter() - start)


def ours(url: str, mobiles: list[str], concurrency: int, ledger: Path) -> float:
    df = pd.DataFrame({"m": mobiles, "i": [str(i) for i in range(len(mobiles))]})
    plan = plan_campaign(df, mobile="m", template="Hi customer {i}, order shipped")
    start = time.perf_counter()
    result = send_campaign(
        plan, gateway=AsyncGateway(url, "demo", "demo"), name="bench", ledger=ledger,
        concurrency=concurrency, progress=False,
    )  # fmt: skip
    elapsed = time.perf_counter() - start
    assert result.recipients == {"accepted": len(mobiles)}, result
    return len(mobiles) / elapsed


def broadcast(url: str, recipients: int, ledger: Path) -> tuple[float, float]:
    df = pd.DataFrame({"m": numbers(recipients, 500_000_000)})
    df["c"] = "Flash sale today only: 20% off everything"
    start = time.perf_counter()
    plan = plan_campaign(df, mobile="m", content="c")
    planned = time.perf_counter() - start
    result = send_campaign(plan, gateway=AsyncGateway(url, "demo", "demo"), name="broadcast", ledger=ledger,
                           concurrency=4, progress=False)  # fmt: skip
    total = time.perf_counter() - start
    with Ledger(ledger) as opened:
        recorded = len(opened.sends("broadcast"))
    assert result.recipients == {"accepted": recipients}, result
    assert recorded == recipients, recorded
    return planned, total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--broadcast", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"# {machine()}")
    # Each measurement gets a fresh simulator: its state grows as it accepts, which
    # would slow whichever side ran second.
    with tempfile.TemporaryDirectory() as tmp:
        with simulator_process() as url:
            rate_bare = asyncio.run(bare(url, numbers(args.messages, 0), args.concurrency))
        with simulator_process() as url:
            rate_ours = ours(url, numbers(args.messages, 100_000_000), args.concurrency, Path(tmp) / "p.sqlite")
        print(f"personalised {args.messages:,} at concurrency {args.concurrency}: bare {rate_bare:.0f} req/s, "
              f"send_campaign {rate_ours:.0f} req/s, ratio {rate_ours / rate_bare:.2f}")  # fmt: skip
        with simulator_process() as url:
            planned, total = broadcast(url, args.broadcast, Path(tmp) / "b.sqlite")
        print(f"broadcast {args.broadcast:,} recipients: planned in {planned:.1f} s, planned + sent + recorded "
              f"in {total:.1f} s; peak RSS {peak_rss_mib():.0f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
