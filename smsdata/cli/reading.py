"""Commands that read what was sent and received: ingest, quarantine, kpi, report.

None of them needs gateway settings, and none creates a ledger or a
dataset by looking for one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
import pandas as pd

from ..config import DEFAULT_DATASET
from . import cli, renamed_flag

SHOWN_QUARANTINE = 20


def _dataset_option(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--dataset", default=DEFAULT_DATASET, show_default=True, type=click.Path(file_okay=False), help=help_text
    )


def _moment_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--campaigns``, ``--by``, ``--as-of`` and ``--expire-after``, shared by kpi and report."""
    for option in reversed(
        [
            click.option(
                "--campaigns", "--campaign", "campaigns", multiple=True, help="Only this campaign (repeat for several)."
            ),
            click.option("--by", multiple=True, help="Group by this column of the sends (repeatable)."),
            click.option("--as-of", help="The moment described (e.g. '2026-11-23 09:00', UTC) [default: now]."),
            click.option(
                "--expire-after",
                default="72h",
                show_default=True,
                help="No report this long after sending counts as no_report.",
            ),
        ]
    ):
        command = option(command)
    return command


@cli.command()
@click.argument("source")
@_dataset_option("Dataset folder (Parquet) to append to.")
@click.option("--source-tz", help="Zone of naive report times [default: SMSDATA_TZ or Asia/Shanghai].")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
@click.option(
    "--ledger",
    type=click.Path(dir_okay=False),
    help="Also mirror this ledger's sends into the dataset (as `smsdata sync-sends`).",
)
def ingest(source: str, dataset: str, source_tz: str | None, progress: bool, ledger: str | None) -> None:
    """Append the new lines of raw report logs (a file, a folder or a glob) to a Parquet dataset.

    Run it as often as you like: it reads only what was added since the last run.
    """
    from ..ingest import ingest_reports

    result = ingest_reports(source, dataset, source_tz=source_tz, progress=progress)
    click.echo(str(result))
    if result.quarantined:
        click.echo(f"the quarantined lines and their reasons: smsdata quarantine --dataset {dataset}")
    if ledger is not None:
        _sync(dataset, ledger)


@cli.command("sync-sends")
@_dataset_option("Dataset folder (Parquet) to mirror the sends into.")
@click.option("--ledger", type=click.Path(dir_okay=False), help="The ledger [default: $SMSDATA_HOME/ledger.sqlite].")
def sync_sends(dataset: str, ledger: str | None) -> None:
    """Mirror the ledger's sends into DATASET/sends/ (Parquet by day), for KPIs out of core or on Spark.

    Run it as often as you like: only the days that changed are written again.
    """
    _sync(dataset, ledger)


def _sync(dataset: str, ledger: str | None) -> None:
    from ..sync import sync_sends

    rows = sync_sends(dataset, ledger=ledger)
    click.echo(f"{rows:,} sends written to {dataset}/sends" if rows else f"the sends in {dataset} are up to date")


@cli.command()
@_dataset_option("Dataset folder (from `smsdata ingest`).")
@click.option("--out", type=click.Path(dir_okay=False), help="Write every quarantined line to this CSV or XLSX.")
@renamed_flag("--csv", "--out", type=click.Path(dir_okay=False))
def quarantine(dataset: str, out: str | None) -> None:
    """List the lines ingest quarantined: how many per reason, then the first ones with file and line.

    With --out, every line goes to the file (CSV, or XLSX by its suffix).
    """
    from .._export import export
    from ..ingest import read_quarantine

    lines = read_quarantine(dataset)
    if lines.empty:
        click.echo(f"no quarantined lines in {dataset}")
        if out:
            export(lines, out)  # an empty table: a script reading it finds the file
        return
    counts = lines["reason"].value_counts()
    click.echo(f"{len(lines):,} quarantined line(s): " + ", ".join(f"{r} {n:,}" for r, n in counts.items()))
    if out:
        export(lines, out)
        click.echo(f"all written to {out}")
        return
    for row in lines.head(SHOWN_QUARANTINE).itertuples(index=False):
        text = row.line if len(row.line) <= 80 else row.line[:77] + "..."
        click.echo(f"  {row.source}:{row.line_number}  {row.reason}  {text!r}")
    if len(lines) > SHOWN_QUARANTINE:
        click.echo(f"  ... the first {SHOWN_QUARANTINE} of {len(lines):,}; all with --out FILE")


@cli.command()
@_dataset_option("Reports dataset (from `smsdata ingest`).")
@_moment_options
@click.option("--freq", help="Also by send period: min, 5min, 15min, 30min, h, D, W or M (local time).")
@click.option("--within", help="Judge each message this long after sending (e.g. 24h).")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the table to this CSV or XLSX instead.")
@renamed_flag("--csv", "--out", type=click.Path(dir_okay=False))
def kpi(
    dataset: str,
    campaigns: tuple[str, ...],
    by: tuple[str, ...],
    as_of: str | None,
    expire_after: str,
    freq: str | None,
    within: str | None,
    out: str | None,
) -> None:
    """Delivery and time-to-receipt tables in the terminal, or one table in a CSV/XLSX file.

    Reads the sends from the ledger ($SMSDATA_HOME) and the reports from DATASET.

    \b
    smsdata kpi --by campaign
    smsdata kpi --by carrier --freq D --within 24h --out daily.csv
    """
    from .. import _formats
    from .. import kpi as kpis

    sends, reports = _inputs(dataset, campaigns)
    options = {"by": list(by) or None, "freq": freq, "within": within, "as_of": as_of}
    rates = kpis.delivery_rate(sends, reports, expire_after=expire_after, **options)
    times = kpis.latency(sends, reports, **options)
    keys = [*by, *(["period"] if freq else [])]
    if out:
        from .._export import export

        seconds = times.rename(columns={c: f"{c}_seconds" for c in ("p50", "p90", "p99", "mean")})
        table = rates.merge(seconds.drop(columns="count"), on=keys, how="left") if keys else rates.join(seconds)
        export(table, out)
        click.echo(f"{len(table):,} row(s) written to {out}")
        return
    click.echo("Delivery")
    click.echo(_formats.as_text(*_formats.delivery_for_people(rates, list(by))))
    click.echo("\nTime to delivery receipt (delivered messages)")
    click.echo(_formats.as_text(*_formats.latency_for_people(times, list(by))))


def _inputs(dataset: str, campaigns: tuple[str, ...]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ledger's sends (of ``campaigns``) and the dataset's reports (none yet: no reports, and a
    warning saying so on stderr)."""
    from .._report_inputs import reports_or_none
    from .._report_select import select_campaigns
    from ..ledger import read_sends

    sends = read_sends()
    reports, missing = reports_or_none(dataset)
    chosen = select_campaigns(campaigns, sends, reports) if campaigns else (sends, reports)
    if missing:  # after what could fail: one error line stays one line
        click.echo(f"warning: {missing}", err=True)
    return chosen


@cli.command()
@click.option("--out", default="report.html", show_default=True, type=click.Path(dir_okay=False), help="HTML file.")
@_dataset_option("Reports dataset (from `smsdata ingest`).")
@_moment_options
@click.option("--price-per-unit", help="Money per gateway unit, e.g. '0.045 CNY' [default: SMSDATA_UNIT_PRICE].")
@click.option(
    "--mask/--no-mask", default=True, show_default=True, help="Mask mobiles as 138****8000 (--no-mask: in full)."
)
def report(
    out: str,
    dataset: str,
    campaigns: tuple[str, ...],
    by: tuple[str, ...],
    as_of: str | None,
    expire_after: str,
    price_per_unit: str | None,
    mask: bool,
) -> None:
    """Write one self-contained HTML report: headline, charts, tables, audit and balance.

    Reads the sends from the ledger ($SMSDATA_HOME) and the reports from DATASET.
    The file embeds everything: open it in any browser, mail it or print it.
    """
    from .._report_inputs import missing_dataset
    from ..report import build_report

    path = build_report(
        out,
        dataset=dataset,
        campaigns=campaigns or None,
        by=list(by) or "campaign",
        as_of=as_of,
        expire_after=expire_after,
        mask=mask,
        price_per_unit=price_per_unit,
    )
    missing = missing_dataset(dataset)
    if missing:  # the page says it too
        click.echo(f"warning: {missing}", err=True)
    click.echo(f"report written to {path}")
