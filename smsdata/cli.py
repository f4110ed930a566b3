"""The ``smsdata`` command: a thin layer over the library.

Each command calls one public function. Library errors become one line on
stderr and exit status 1 here, and only here; usage errors exit 2.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import click

from .errors import CampaignInterrupted, CampaignStopped, SmsdataError

__all__ = ["cli", "main"]


class _Group(click.Group):
    """Turns every :class:`SmsdataError` into one clear line and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CampaignStopped as exc:
            click.echo(_describe(exc.result))
            name = exc.result.name
            raise click.ClickException(
                f"campaign {name!r} stopped: {type(exc.cause).__name__}: {exc.cause}. Fix the cause, then resume "
                f"with `smsdata resume {name}`"
            ) from None
        except SmsdataError as exc:
            raise click.ClickException(f"{type(exc).__name__}: {exc}") from None
        except CampaignInterrupted as exc:
            click.echo(_describe(exc.result), err=True)
            click.echo(f"interrupted: resume with `smsdata resume {exc.result.name}`", err=True)
            ctx.exit(130)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


def _describe(result: Any) -> str:
    """A campaign result in the command line's words (the library's ``str`` speaks Python)."""
    lines = result.describe()
    if len(result.unknown):
        lines.append(f"resend them with `smsdata resume {result.name} --resend-unknown`")
    return "\n".join(lines)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="smsdata")
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """smsdata: send SMS campaigns through a bulk-SMS HTTP gateway and report on delivery.

    Gateway settings come from SMSDATA_URL, SMSDATA_UID and SMSDATA_PWD (environment
    or a .env file). `smsdata demo` needs none: it runs against the built-in simulator.
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@cli.command()
def balance() -> None:
    """Print the account balance."""
    from .gateway import Gateway

    with Gateway.from_env() as gw:
        result = gw.balance()
    click.echo(f"balance: {result.value}")


@cli.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("--to", "to", help="Mobile numbers, comma-separated (at most 5,000): send one message now.")
@click.option("--content", help="With --to: the message text (at most 268 characters).")
@click.option("--mobile-column", help="With FILE: the column of phone numbers.")
@click.option("--template", help="With FILE: message template, e.g. 'Hi {name}'.")
@click.option("--content-column", help="With FILE: the column holding each row's message.")
@click.option("--name", help="With FILE: the campaign's name (its key in the ledger; re-run to resume).")
@click.option("--suppress", type=click.Path(dir_okay=False), help="With FILE: numbers never to message.")
@click.option("--sheet", help="With an XLSX FILE: the sheet name.")
@click.option("--concurrency", default=4, show_default=True, help="Requests in flight at once.")
@click.option("--rate-limit", type=float, help="At most this many requests per second.")
@click.option("--price", default="1", show_default=True, help="With FILE: balance units per message segment.")
@click.option("--dry-run", is_flag=True, help="Plan and check the cost; send and record nothing.")
@click.option("--allow-partial", is_flag=True, help="Send even if the balance does not cover the cost.")
def send(file: str | None, to: str | None, content: str | None, **options: Any) -> None:
    """Send a campaign from a CSV/XLSX FILE, or one message with --to and --content.

    \b
    smsdata send customers.xlsx --mobile-column phone --template "Hi {name}" --name nov-shipping
    smsdata send --to 13800138000 --content "Hello"
    """
    from .gateway import Gateway, mobile_list

    if (file is None) == (to is None):
        raise click.UsageError("give either FILE (a campaign) or --to with --content (one message)")
    if to is not None:
        if content is None:
            raise click.UsageError("--to needs --content")
        with Gateway.from_env() as gw:
            result = gw.send(to, content)
        click.echo(f"accepted: msgid {result.msgid} ({len(mobile_list(to))} numbers)")
        return
    _send_file(file, **options)


def _send_file(
    file: str,
    *,
    mobile_column: str | None,
    template: str | None,
    content_column: str | None,
    name: str | None,
    suppress: str | None,
    sheet: str | None,
    price: str,
    concurrency: int,
    rate_limit: float | None,
    dry_run: bool,
    allow_partial: bool,
) -> None:
    from .campaign import send_campaign
    from .gateway import Gateway
    from .planning import plan_campaign
    from .sheets import read_campaign

    if not mobile_column or not name or (template is None) == (content_column is None):
        raise click.UsageError("FILE needs --mobile-column, --name and one of --template / --content-column")
    plan = plan_campaign(
        read_campaign(file, sheet=sheet),
        mobile=mobile_column,
        template=template,
        content=content_column,
        suppress=suppress,
        price=price,
    )
    with Gateway.from_env() as gw:
        click.echo(str(plan.summary(gw)))
        result = send_campaign(
            plan,
            gateway=gw,
            name=name,
            concurrency=concurrency,
            rate_limit=rate_limit,
            dry_run=dry_run,
            allow_partial=allow_partial,
        )
    click.echo(_describe(result))


@cli.command()
@click.argument("name")
@click.option("--resend-unknown", is_flag=True, help="Also resend requests whose outcome is unknown.")
@click.option("--concurrency", default=4, show_default=True, help="Requests in flight at once.")
@click.option("--rate-limit", type=float, help="At most this many requests per second.")
@click.option("--allow-partial", is_flag=True, help="Send even if the balance does not cover the cost.")
def resume(name: str, resend_unknown: bool, concurrency: int, rate_limit: float | None, allow_partial: bool) -> None:
    """Resume campaign NAME from the ledger: send what is still planned.

    Only one run of a campaign sends at a time; a second one is refused, naming the first.
    """
    from .campaign import resume_campaign
    from .gateway import Gateway

    with Gateway.from_env() as gw:
        result = resume_campaign(
            name,
            gateway=gw,
            resend_unknown=resend_unknown,
            concurrency=concurrency,
            rate_limit=rate_limit,
            allow_partial=allow_partial,
        )
    click.echo(_describe(result))


@cli.command()
def campaigns() -> None:
    """List the campaigns in the ledger, one line each, with requests by state."""
    from .ledger import STATES, Ledger

    with Ledger() as ledger:
        frame = ledger.campaigns()
    if frame.empty:
        click.echo(f"no campaigns in {ledger.path}")
        return
    for row in frame.itertuples(index=False):
        states = ", ".join(f"{s} {int(getattr(row, s) or 0)}" for s in STATES if getattr(row, s))
        click.echo(f"{row.campaign}: {row.recipients} recipients in {row.requests} requests ({states or 'empty'})")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8765, show_default=True, help="Port to listen on (0: any free port).")
@click.option("--uid", default="demo", show_default=True, help="The simulated account's uid.")
@click.option("--pwd", default="demo", show_default=True, help="The simulated account's password.")
@click.option("--balance", "balance_", default="100000", show_default=True, help="Starting balance.")
@click.option("--frozen", is_flag=True, help="Start with the account frozen.")
@click.option("--callback", help="URL the delivery reports are POSTed to.")
@click.option("--seed", type=int, help="Make statuses and latencies reproducible.")
@click.option("--delivered-share", default=0.9, show_default=True, help="Share of reports that are DELIVRD.")
@click.option("--report-share", default=0.98, show_default=True, help="Share of messages that get a report.")
@click.option("--latency-median", default=8.0, show_default=True, help="Median report latency, seconds.")
@click.option("--time-scale", default=1.0, show_default=True, help="Real wait = latency x this (0.01: 100x faster).")
@click.option("--duplicate-share", default=0.02, show_default=True, help="Share of reports POSTed twice.")
@click.option("--out-of-order-share", default=0.05, show_default=True, help="Share of reports held back.")
@click.option("--fail-share", default=0.0, show_default=True, help="Share of sends answered code 7.")
@click.option("--well-formed", is_flag=True, help="Answer valid JSON instead of the document's malformed success.")
def simulate(host: str, port: int, uid: str, pwd: str, balance_: str, frozen: bool, **options: Any) -> None:
    """Run the simulated gateway until interrupted (Ctrl-C).

    Its base URL (for SMSDATA_URL) is printed once it listens.
    """
    from ._serve import serve
    from .simulator import Account, GatewaySimulator

    options["malformed_success"] = not options.pop("well_formed")
    options["callback_url"] = options.pop("callback")
    sim = GatewaySimulator([Account(uid, pwd, Decimal(balance_), frozen)], **options)

    def ready(url: str) -> None:
        click.echo(f"simulated gateway at {url}/Admin/index.php (uid {uid})", err=False)
        sys.stdout.flush()

    serve(sim.app, host, port, on_ready=ready)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: all).")
@click.option("--port", default=8080, show_default=True, help="Port to listen on (0: any free port).")
@click.option(
    "--dir",
    "directory",
    default="receiver",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder of the daily logs (reports-YYYY-MM-DD.log).",
)
@click.option(
    "--token",
    envvar="SMSDATA_RECEIVER_TOKEN",
    help="Secret path segment: only POST /reports/TOKEN is accepted [env SMSDATA_RECEIVER_TOKEN].",
)
def receive(host: str, port: int, directory: str, token: str | None) -> None:
    """Receive delivery reports until interrupted (Ctrl-C), durably.

    Each POSTed report is appended to a daily log in DIR before the answer 200.
    Give the gateway the URL printed once it listens (with your token in place
    of ****). Counts are logged every minute with -v.
    """
    from .receiver import serve_receiver

    def ready(url: str) -> None:
        path = "/reports/****" if token else "/reports"
        click.echo(f"receiving reports at {url}{path}, writing to {directory}")
        sys.stdout.flush()

    serve_receiver(directory, host=host, port=port, token=token, on_ready=ready)


def _dataset_option(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--dataset", default="warehouse", show_default=True, type=click.Path(file_okay=False), help=help_text
    )


@cli.command()
@click.argument("source")
@_dataset_option("Dataset folder (Parquet) to append to.")
@click.option("--source-tz", help="Zone of naive report times [default: SMSDATA_TZ or Asia/Shanghai].")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
def ingest(source: str, dataset: str, source_tz: str | None, progress: bool) -> None:
    """Append the new lines of raw report logs (a file, a folder or a glob) to a Parquet dataset.

    Run it as often as you like: it reads only what was added since the last run.
    """
    from .ingest import ingest_reports

    result = ingest_reports(source, dataset, source_tz=source_tz, progress=progress)
    click.echo(str(result))
    if result.quarantined:
        click.echo(f"quarantined lines and their reasons: smsdata.read_quarantine({dataset!r})")


@cli.command()
@click.option("--out", default="report.html", show_default=True, type=click.Path(dir_okay=False), help="HTML file.")
@_dataset_option("Reports dataset (from `smsdata ingest`).")
@click.option("--campaign", "campaigns", multiple=True, help="Only this campaign (repeat for several).")
@click.option(
    "--by", multiple=True, help="Group tables and charts by this column of the sends [default: campaign] (repeatable)."
)
@click.option("--as-of", help="The moment the report describes (e.g. '2026-11-23 09:00', UTC) [default: now].")
@click.option(
    "--expire-after", default="72h", show_default=True, help="No report this long after sending counts as no_report."
)
@click.option("--no-mask", is_flag=True, help="Show mobiles in full (masked as 138****8000 by default).")
def report(
    out: str,
    dataset: str,
    campaigns: tuple[str, ...],
    by: tuple[str, ...],
    as_of: str | None,
    expire_after: str,
    no_mask: bool,
) -> None:
    """Write one self-contained HTML report: KPIs, audit, balance and charts.

    Reads the sends from the ledger ($SMSDATA_HOME) and the reports from DATASET.
    The file embeds everything: open it in any browser or mail it.
    """
    from .report import build_report

    path = build_report(
        out,
        dataset=dataset,
        campaigns=campaigns or None,
        by=list(by) or "campaign",
        as_of=as_of,
        expire_after=expire_after,
        mask=not no_mask,
    )
    click.echo(f"report written to {path}")


@cli.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    help="Where the demo writes (default: a temporary folder).",
)
def demo(directory: str | None) -> None:
    """Run the whole flow on loopback; needs no account.

    Starts the simulator and the receiver, sends the sample campaign (data/campaign.xlsx),
    receives and ingests its delivery reports, prints the KPIs and writes report.html.
    Run twice with the same --dir, it sends nothing twice.
    """
    from .demo import run_demo

    summary = run_demo(directory, progress=True)
    click.echo(summary.text())


def main() -> None:
    """Entry point of the ``smsdata`` console script."""
    cli(prog_name="smsdata")
