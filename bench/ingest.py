"""Benchmark: ingest_reports on a large raw log vs pyarrow's CSV reader + Parquet writer.

Goal (issue 5): ingest of a 10,000,000-line log with 1% dirty shapes runs at
>= 0.5x the throughput of `pyarrow.csv.read_csv` + `pyarrow.parquet.write_table`
on the same file read as a plain 4-column CSV (rows of the wrong width skipped;
pyarrow cannot skip a line that is not UTF-8, so the baseline reads a copy
without the 0.07% binary-garbage lines), measured side by side in the same run;
peak memory of the ingest under 1 GiB.

Each measurement runs in a fresh process (so peak memory is the ingest's own),
alternating baseline and ingest, and the medians are compared.

    .venv/bin/python bench/ingest.py [--lines 10000000] [--rounds 3] [--log PATH]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import report_log
from _util import machine, peak_rss_mib


def baseline(log: Path, out: Path) -> dict[str, float]:
    import pyarrow.csv as csv
    import pyarrow.parquet as pq

    started = time.perf_counter()
    table = csv.read_csv(
        log,
        read_options=csv.ReadOptions(column_names=["a", "b", "c", "d"], block_size=16 << 20),
        parse_options=csv.ParseOptions(quote_char=False, invalid_row_handler=lambda row: "skip"),
        convert_options=csv.ConvertOptions(check_utf8=False),
    )
    pq.write_table(table, out / "baseline.parquet")
    return {"seconds": time.perf_counter() - started, "rows": table.num_rows, "peak_mib": peak_rss_mib()}


def ingest(log: Path, out: Path) -> dict[str, float]:
    from smsdata.ingest import ingest_reports

    started = time.perf_counter()
    result = ingest_reports(log, out / "dataset", progress=False)
    assert result.balanced, result
    return {
        "seconds": time.perf_counter() - started,
        "rows": result.ingested,
        "duplicates": result.duplicates,
        "quarantined": result.quarantined,
        "peak_mib": peak_rss_mib(),
    }


def measure(kind: str, log: Path) -> dict[str, float]:
    """Run one measurement in a fresh interpreter."""
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        command = [sys.executable, __file__, "--one", kind, "--log", str(log), "--out", tmp]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--log", type=Path, help="reuse (or create) this log instead of a temporary one")
    parser.add_argument("--one", choices=["baseline", "ingest"], help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps((baseline if args.one == "baseline" else ingest)(args.log, args.out)))
        return

    workdir = Path(tempfile.mkdtemp(prefix="bench-ingest-log-"))
    try:
        log = args.log or workdir / "reports.log"
        if not log.exists():
            print(f"generating {args.lines:,} lines ...", flush=True)
            report_log.write(log, args.lines)
        clean = workdir / "clean.log"
        with log.open("rb") as source, clean.open("wb") as out:
            out.writelines(line for line in source if line.isascii())
        size = log.stat().st_size
        print(f"{machine()}; log {size / 2**20:.0f} MiB")
        runs: dict[str, list[dict[str, float]]] = {"baseline": [], "ingest": []}
        for round_ in range(args.rounds):
            for kind in ("baseline", "ingest") if round_ % 2 == 0 else ("ingest", "baseline"):
                runs[kind].append(measure(kind, clean if kind == "baseline" else log))
                last = runs[kind][-1]
                print(f"  {kind:8s} {last['seconds']:6.2f} s  peak {last['peak_mib']:5.0f} MiB", flush=True)
        base = statistics.median(r["seconds"] for r in runs["baseline"])
        ours = statistics.median(r["seconds"] for r in runs["ingest"])
        lines = args.lines if not args.log else sum(1 for _ in log.open("rb"))
        print(f"baseline (read_csv + write_table): {base:.2f} s ({lines / base:,.0f} lines/s)")
        print(f"ingest_reports:                    {ours:.2f} s ({lines / ours:,.0f} lines/s)")
        print(f"throughput ratio ingest/baseline:  {base / ours:.2f}x (goal >= 0.5x)")
        print(f"ingest peak memory: {max(r['peak_mib'] for r in runs['ingest']):.0f} MiB (goal < 1024)")
        sample = runs["ingest"][-1]
        print(
            f"ingest result: {sample['rows']:,} rows, {sample['duplicates']:,} duplicates, "
            f"{sample['quarantined']:,} quarantined"
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
