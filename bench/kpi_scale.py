"""Benchmark: the same KPI calls on DataFrames, on warehouse Parquet paths (out of core) and on Spark.

Issue 15's goals, each measured in a fresh process (peak RSS its own), beside a
hand-written DuckDB query of the same work in the same process:

* DataFrames (10M sends + 10M reports in pandas): ``delivery_rate(by="campaign")``
  + ``latency(by="campaign")`` <= 1.0x hand-written DuckDB queries doing the same work
  (each recipient once, the point in time, the five outcomes, skew left out); the
  queries of bench/kpi.py, which do less (no dedupe, no point in time), are shown too;
* warehouse paths (``--path-rows``, default 30M + 30M, hive-partitioned by
  day): ``delivery_rate(by="campaign")`` straight from the files, peak RSS <
  2 GiB, <= 1.0x hand-written DuckDB over the same files, shown both with
  DuckDB's default memory limit (80% of RAM) and with smsdata's out-of-core limit;
  and (``paths_split``) as it runs when the files' statistics show no narrow
  msgid ranges: the tables split by hash first;
* Spark local[2] over the same files: time only (the cost of the engine on one machine).

    .venv/bin/python bench/kpi_scale.py [--rows 10000000] [--path-rows 30000000] [--spark]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from _util import machine, peak_rss_mib
from kpi import HAND_RATE, generate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

HAND_LATENCY_BY_CAMPAIGN = """
    WITH r AS (
        SELECT msgid, mobile, min(report_time) AS d FROM reports WHERE status = 'DELIVRD' GROUP BY ALL
    ),
    x AS (
        SELECT s.campaign, (epoch_us(r.d) - epoch_us(s.sent_at)) / 1e6 AS seconds FROM sends s
        JOIN r ON s.msgid = r.msgid AND s.mobile = r.mobile WHERE s.state = 'accepted'
    )
    SELECT campaign, count(*) FILTER (WHERE seconds >= 0),
           quantile_cont(seconds, [0.5, 0.9, 0.99]) FILTER (WHERE seconds >= 0),
           avg(seconds) FILTER (WHERE seconds >= 0), count(*) FILTER (WHERE seconds < 0)
    FROM x GROUP BY campaign ORDER BY campaign
"""
AS_OF = "2027-01-01"
_SENT = f"""
    s AS (
        SELECT msgid, mobile, min(sent_at) AS sent_at, arg_min(campaign, sent_at) AS campaign
        FROM sends WHERE state = 'accepted' AND sent_at <= TIMESTAMPTZ '{AS_OF}' GROUP BY ALL
    )
"""  # noqa: S608 (constants)
HAND_RATE_SAME = f"""
    WITH {_SENT}, r AS (
        SELECT msgid, mobile, min(report_time) AS first, min(report_time) FILTER (WHERE status = 'DELIVRD') AS d
        FROM reports WHERE report_time <= TIMESTAMPTZ '{AS_OF}' GROUP BY ALL
    )
    SELECT campaign, count(*) AS sent, count(d) AS delivered,
           count(*) FILTER (WHERE d IS NULL AND first IS NOT NULL) AS failed,
           count(*) FILTER (WHERE first IS NULL AND sent_at > TIMESTAMPTZ '{AS_OF}' - INTERVAL 72 HOUR) AS pending,
           count(*) FILTER (WHERE first IS NULL AND sent_at <= TIMESTAMPTZ '{AS_OF}' - INTERVAL 72 HOUR) AS no_report
    FROM s LEFT JOIN r USING (msgid, mobile) GROUP BY campaign ORDER BY campaign
"""  # noqa: S608
HAND_LATENCY_SAME = f"""
    WITH {_SENT}, r AS (
        SELECT msgid, mobile, min(report_time) AS d FROM reports
        WHERE status = 'DELIVRD' AND report_time <= TIMESTAMPTZ '{AS_OF}' GROUP BY ALL
    ),
    x AS (
        SELECT campaign, d < sent_at - INTERVAL 1 SECOND AS skewed,
               greatest(epoch_us(d) - epoch_us(sent_at), 0) / 1e6 AS seconds
        FROM s JOIN r USING (msgid, mobile)
    )
    SELECT campaign, count(*) FILTER (WHERE NOT skewed),
           quantile_cont(seconds, [0.5, 0.9, 0.99]) FILTER (WHERE NOT skewed),
           avg(seconds) FILTER (WHERE NOT skewed), count(*) FILTER (WHERE skewed)
    FROM x GROUP BY campaign ORDER BY campaign
"""  # noqa: S608


def warehouse(folder: Path, rows: int) -> None:
    """``rows`` sends and reports as the warehouse holds them: ``sends/`` and ``reports/`` by day,
    generated in slices of 10M rows (campaign, request and msgid ranges kept apart)."""
    step = 10_000_000
    for start in range(0, rows, step):
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            generate(Path(tmp), min(step, rows - start), seed=start)
            for table, time_column in (("sends", "sent_at"), ("reports", "report_time")):
                data = pq.read_table(Path(tmp) / f"{table}.parquet")
                if "msgid" in data.column_names:  # slices apart: their msgids must not meet
                    data = data.set_column(
                        data.schema.get_field_index("msgid"),
                        "msgid",
                        pc.binary_join_element_wise(pa.scalar(f"{start // step}-"), data["msgid"], ""),
                    )
                day = pc.strftime(data[time_column], format="%Y-%m-%d")
                pads.write_dataset(
                    data.append_column("date", day),
                    folder / table,
                    format="parquet",
                    partitioning=["date"],
                    partitioning_flavor="hive",
                    basename_template=f"part-{start // step}-{{i}}.parquet",
                    existing_data_behavior="overwrite_or_ignore",
                )


def hand(sql: str, sends: object, reports: object, memory_limit: str | None = None) -> object:
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if memory_limit:  # a bound, spilling to disk as smsdata's out-of-core reading does
        con.execute(f"SET memory_limit = '{memory_limit}'")
        con.execute("SET preserve_insertion_order = false")
    for name, source in (("sends", sends), ("reports", reports)):
        if isinstance(source, Path):
            glob = str(source / "**" / "*.parquet")
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{glob}', hive_partitioning = true)")  # noqa: S608
        else:
            con.register(name, source)
    try:
        return con.sql(sql).df()
    finally:
        con.close()


CPU: dict[str, float] = {}
"""CPU seconds (all threads) of the last calls timed, by what they were: a load on the machine
stretches wall time but hardly the CPU a query needs, so both are recorded."""


def timed(function, name: str | None = None) -> float:
    started, cpu = time.perf_counter(), time.process_time()
    function()
    if name:
        CPU[name] = CPU.get(name, 0.0) + time.process_time() - cpu
    return time.perf_counter() - started


def one(kind: str, folder: Path) -> dict[str, float]:
    """One measurement, in this (fresh) process."""
    from smsdata import kpi

    sends, reports = folder / "sends", folder / "reports"
    if kind == "frames":
        import pandas as pd

        sends = pd.read_parquet(folder / "sends.parquet")
        reports = pd.read_parquet(folder / "reports.parquet")
        ours = timed(lambda: kpi.delivery_rate(sends, reports, by="campaign", as_of=AS_OF), "ours_cpu") + timed(
            lambda: kpi.latency(sends, reports, by="campaign", as_of=AS_OF), "ours_cpu"
        )
        same = timed(lambda: hand(HAND_RATE_SAME, sends, reports), "same_cpu") + timed(
            lambda: hand(HAND_LATENCY_SAME, sends, reports), "same_cpu"
        )
        less = timed(lambda: hand(HAND_RATE, sends, reports)) + timed(
            lambda: hand(HAND_LATENCY_BY_CAMPAIGN, sends, reports)
        )
        return {"ours": ours, "duckdb_same_work": same, "duckdb_less_work": less, **CPU, "peak_mib": peak_rss_mib()}
    if kind in ("paths", "paths_split"):
        if kind == "paths_split":  # as if the msgids were shuffled: the tables split by hash, not ranges
            from smsdata import _duckdb_engine

            _duckdb_engine.RANGE_READS = 0
        ours = timed(lambda: kpi.delivery_rate(sends, reports, by="campaign", as_of=AS_OF))
        return {"ours": ours, "peak_mib": peak_rss_mib()}
    if kind == "paths_hand":
        limit = os.environ.get("BENCH_HAND_LIMIT") or None  # None: DuckDB's default, 80% of RAM
        seconds = timed(lambda: hand(HAND_RATE_SAME, sends, reports, memory_limit=limit))
        return {"duckdb_same_work": seconds, "memory_limit": limit or "default", "peak_mib": peak_rss_mib()}
    if kind == "paths_hand_limited":
        from smsdata._duckdb_engine import OUT_OF_CORE_MEMORY

        seconds = timed(lambda: hand(HAND_RATE_SAME, sends, reports, memory_limit=OUT_OF_CORE_MEMORY))
        return {"duckdb_same_work_same_limit": seconds, "peak_mib": peak_rss_mib()}
    if kind == "spark":
        from pyspark.sql import SparkSession

        spark = (
            SparkSession.builder.master("local[2]")
            .config("spark.ui.enabled", "false")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.driver.memory", "4g")
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("ERROR")
        s, r = spark.read.parquet(str(sends)), spark.read.parquet(str(reports))
        seconds = timed(lambda: kpi.delivery_rate(s, r, by="campaign", as_of=AS_OF))
        spark.stop()
        return {"ours": seconds}
    raise ValueError(kind)


def measure(kind: str, folder: Path) -> dict[str, float]:
    command = [sys.executable, __file__, "--one", kind, "--folder", str(folder)]
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode:  # the exception's own line (DuckDB adds advice after it)
        lines = run.stderr.strip().splitlines()
        errors = [line for line in lines if "Error" in line or "Exception" in line]
        return {"error": (errors or lines or [f"exit {run.returncode}"])[-1]}
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--path-rows", type=int, default=30_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--spark", action="store_true", help="also time Spark local[2] over --rows")
    parser.add_argument("--workdir", type=Path, help="keep (and reuse) the generated data here")
    parser.add_argument("--paths-only", action="store_true", help="only the warehouse-path measurements")
    parser.add_argument(
        "--hand-limit", help="DuckDB memory limit of the hand-written query over paths (default: DuckDB's, 80%% of RAM)"
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hand_limit:
        os.environ["BENCH_HAND_LIMIT"] = args.hand_limit  # read by the measuring processes
    if args.one:
        print(json.dumps(one(args.one, args.folder)))
        return
    print(machine(), flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-kpi-scale-", dir=".") as tmp:
        work = args.workdir or Path(tmp)
        small, big = work / f"small-{args.rows}", work / f"big-{args.path_rows}"
        if not small.exists() and not args.paths_only:
            small.mkdir(parents=True)
            generate(small, args.rows)
            warehouse(small, args.rows)
        for _ in range(0 if args.paths_only else args.rounds):
            frames = measure("frames", small)
            print(f"frames, {args.rows:,} + {args.rows:,} rows: {frames}", flush=True)
        if args.spark and not args.paths_only:
            paths = measure("paths", small)
            spark = measure("spark", small)
            print(f"{args.rows:,} rows from paths: DuckDB {paths}, Spark local[2] {spark}", flush=True)
        if not big.exists():
            print(f"generating the {args.path_rows:,}-row warehouse ...", flush=True)
            big.mkdir(parents=True)
            warehouse(big, args.path_rows)
        size = sum(p.stat().st_size for p in big.rglob("*.parquet")) / 2**30
        print(f"warehouse: {size:.1f} GiB of Parquet", flush=True)
        for round_ in range(args.rounds):
            kinds = ["paths", "paths_hand", "paths_split", "paths_hand_limited"]
            order = kinds if round_ % 2 == 0 else kinds[::-1]
            for kind in order:
                print(f"{args.path_rows:,} + {args.path_rows:,} rows, {kind}: {measure(kind, big)}", flush=True)


if __name__ == "__main__":
    main()
