"""Benchmark: KPIs on 10,000,000 sends and 10,000,000 reports, against hand-written DuckDB SQL and plain pandas.

Goal (issue 6): `delivery_rate(by="campaign")` and `latency()` within 1.5x of a
hand-written DuckDB query of the same definitions (same DataFrames in, same
run), and at least 3x faster than the plain pandas computation
(tests/pandas_kpi.py, the one the tests check equality against); peak memory
noted.

The data is generated once into Parquet (sends: 30 campaigns, requests of
100 numbers, 2% not accepted; reports: one per sent number for 97% of them,
1% repeated, 0.5% orphans), then read into pandas before timing.

    .venv/bin/python bench/kpi.py [--rows 10000000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from _util import machine, peak_rss_mib

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from smsdata import kpi
from tests import pandas_kpi

HAND_RATE = """
    WITH r AS (
        SELECT msgid, mobile, count(*) AS n, min(report_time) FILTER (WHERE status = 'DELIVRD') AS d
        FROM reports GROUP BY ALL
    ),
    x AS (
        SELECT s.campaign, r.d, coalesce(r.n, 0) AS n FROM sends s
        LEFT JOIN r ON s.msgid = r.msgid AND s.mobile = r.mobile WHERE s.state = 'accepted'
    )
    SELECT campaign, count(*) AS sent, count(d) AS delivered,
           count(*) FILTER (WHERE d IS NULL AND n > 0) AS failed,
           count(*) FILTER (WHERE d IS NULL AND n = 0) AS pending
    FROM x GROUP BY campaign ORDER BY campaign
"""
HAND_LATENCY = """
    WITH r AS (
        SELECT msgid, mobile, min(report_time) AS d FROM reports WHERE status = 'DELIVRD' GROUP BY ALL
    ),
    x AS (
        SELECT (epoch_us(r.d) - epoch_us(s.sent_at)) / 1e6 AS seconds FROM sends s
        JOIN r ON s.msgid = r.msgid AND s.mobile = r.mobile WHERE s.state = 'accepted'
    )
    SELECT count(*) FILTER (WHERE seconds >= 0), quantile_cont(seconds, [0.5, 0.9, 0.99]) FILTER (WHERE seconds >= 0),
           avg(seconds) FILTER (WHERE seconds >= 0), count(*) FILTER (WHERE seconds < 0)
    FROM x
"""


def generate(folder: Path, rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    request = np.arange(rows) // 100
    campaign = pa.array(np.array([f"campaign-{i:02d}" for i in range(30)])[request % 30]).dictionary_encode()
    sent_at = pd.Timestamp("2026-11-01", tz="UTC") + pd.to_timedelta(request * 2, unit="s")
    state = np.where(rng.random(rows) < 0.98, "accepted", "unknown")
    sends = pa.table(
        {
            "campaign": campaign.cast(pa.string()),
            "request_id": request,
            "msgid": pa.array((1_790_000_000_000 + request).astype(str)),
            "mobile": pa.array(rng.integers(13_000_000_000, 19_999_999_999, rows).astype(str)),
            "segments": np.ones(rows, dtype=np.int64),
            "state": pa.array(state),
            "sent_at": pa.array(sent_at, type=pa.timestamp("us", tz="UTC")),
        }
    )
    pq.write_table(sends, folder / "sends.parquet")
    pick = rng.integers(0, rows, rows)
    pick[: int(rows * 0.97)] = rng.permutation(rows)[: int(rows * 0.97)]  # most get exactly one report
    msgid = sends.column("msgid").to_numpy(zero_copy_only=False)[pick].astype(object)
    orphans = rng.random(rows) < 0.005
    msgid[orphans] = "9" + msgid[orphans]
    latency = pd.to_timedelta(np.round((rng.lognormal(2.5, 1.0, rows) - 1) * 1e6), unit="us")
    reports = pa.table(
        {
            "msgid": pa.array(msgid, type=pa.string()),
            "mobile": sends.column("mobile").take(pa.array(pick)),
            "status": pa.array(rng.choice(["DELIVRD"] * 9 + ["UNDELIV"], rows)),
            "report_time": pa.array((sent_at[pick] + latency).as_unit("us"), type=pa.timestamp("us", tz="UTC")),
        }
    )
    pq.write_table(reports, folder / "reports.parquet")


def timed(function, *args, **kwargs) -> float:
    started = time.perf_counter()
    function(*args, **kwargs)
    return time.perf_counter() - started


def hand(sql: str, sends: pd.DataFrame, reports: pd.DataFrame) -> pd.DataFrame:
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("sends", sends)
    con.register("reports", reports)
    try:
        return con.sql(sql).df()
    finally:
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-kpi-") as tmp:
        folder = Path(tmp)
        print(f"generating {args.rows:,} sends and {args.rows:,} reports ...", flush=True)
        generate(folder, args.rows)
        sends = pd.read_parquet(folder / "sends.parquet")
        reports = pd.read_parquet(folder / "reports.parquet")
    print(f"{machine()}; loaded, peak so far {peak_rss_mib():,.0f} MiB")
    cases = {
        "delivery_rate(by=campaign)": (
            lambda: kpi.delivery_rate(sends, reports, by="campaign"),
            lambda: hand(HAND_RATE, sends, reports),
            lambda: pandas_kpi.delivery_rate(sends, reports, by=["campaign"]),
        ),
        "latency()": (
            lambda: kpi.latency(sends, reports),
            lambda: hand(HAND_LATENCY, sends, reports),
            lambda: pandas_kpi.latency(sends, reports),
        ),
    }
    for name, (ours, duck, plain) in cases.items():
        times: dict[str, list[float]] = {"ours": [], "duckdb": [], "pandas": []}
        for round_ in range(args.rounds):
            order = [("ours", ours), ("duckdb", duck)] if round_ % 2 == 0 else [("duckdb", duck), ("ours", ours)]
            for label, function in order:
                times[label].append(timed(function))
        times["pandas"].append(timed(plain))  # once: it is slow
        medians = {label: statistics.median(values) for label, values in times.items()}
        print(
            f"{name}: ours {medians['ours']:.2f} s {[round(t, 2) for t in times['ours']]}, "
            f"hand DuckDB {medians['duckdb']:.2f} s {[round(t, 2) for t in times['duckdb']]}, "
            f"pandas {medians['pandas']:.2f} s -> ours/DuckDB {medians['ours'] / medians['duckdb']:.2f}x "
            f"(goal <= 1.5x), pandas/ours {medians['pandas'] / medians['ours']:.1f}x (goal >= 3x)",
            flush=True,
        )
    print(f"peak memory of the process: {peak_rss_mib():,.0f} MiB (includes the pandas baseline)")


if __name__ == "__main__":
    main()
