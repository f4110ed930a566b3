"""Benchmark: plan_campaign on 1,000,000 rows with messy numbers and a two-column template.

Goal (issue 4): under 5 s and under 1.5 GiB peak memory on the 2-core machine.
Peak memory is this process's maximum RSS (it includes building the input).

    .venv/bin/python bench/plan.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from _util import machine, peak_rss_mib

from smsdata.planning import plan_campaign


def messy_frame(rows: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    numbers = pd.Series(rng.integers(13_000_000_000, 19_999_999_999, rows).astype(str))
    style = rng.integers(0, 6, rows)
    messy = numbers.where(style != 1, "+86 " + numbers)
    messy = messy.where(
        style != 2, numbers.str.slice(0, 3) + "-" + numbers.str.slice(3, 7) + "-" + numbers.str.slice(7)
    )
    messy = messy.where(style != 3, "0086" + numbers)
    messy = messy.where(style != 4, numbers + ".0")
    messy = messy.where(rng.random(rows) > 0.01, "1.38E+10")  # 1% unrecoverable
    return pd.DataFrame(
        {
            "phone": messy,
            "name": pd.Series(rng.choice(["Li", "Wang", "Zhang", "Liu", "Chen"], rows)),
            "order_id": pd.Series(rng.integers(100000, 999999, rows).astype(str)),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    df = messy_frame(args.rows)
    start = time.perf_counter()
    plan = plan_campaign(df, mobile="phone", template="Hi {name}, your order {order_id} has shipped")
    elapsed = time.perf_counter() - start
    print(f"# {machine()}")
    counts = f"{len(plan.recipients):,} recipients, {len(plan.rejected):,} rejected, {len(plan.requests):,} requests"
    print(f"rows {args.rows:,}: planned in {elapsed:.2f} s; {counts}; peak RSS {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
