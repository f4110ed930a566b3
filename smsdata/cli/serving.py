"""Commands that run servers on this machine: the simulated gateway, the report receiver, the demo."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import click

from ..receiver import BODY_TIMEOUT, HEADER_TIMEOUT, KEEP_ALIVE_TIMEOUT, MAX_CONNECTIONS, MAX_HEADER_BYTES
from . import cli, describe, renamed_flag


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8765, show_default=True, help="Port to listen on (0: any free port).")
@click.option("--uid", default="demo", show_default=True, help="The simulated account's uid.")
@click.option("--pwd", default="demo", show_default=True, help="The simulated account's password.")
@click.option("--balance", default="100000", show_default=True, help="Starting balance.")
@click.option("--frozen", is_flag=True, help="Start with the account frozen.")
@click.option("--callback-url", help="URL the delivery reports are POSTed to.")
@renamed_flag("--callback", "--callback-url")
@click.option("--seed", type=int, help="Make statuses and latencies reproducible.")
@click.option("--delivered-share", default=0.9, show_default=True, help="Share of reports that are DELIVRD.")
@click.option("--report-share", default=0.98, show_default=True, help="Share of messages that get a report.")
@click.option("--latency-median", default=8.0, show_default=True, help="Median report latency, seconds.")
@click.option("--time-scale", default=1.0, show_default=True, help="Real wait = latency x this (0.01: 100x faster).")
@click.option("--duplicate-share", default=0.02, show_default=True, help="Share of reports POSTed twice.")
@click.option("--out-of-order-share", default=0.05, show_default=True, help="Share of reports held back.")
@click.option("--fail-share", default=0.0, show_default=True, help="Share of sends answered code 7.")
@click.option(
    "--malformed-success/--well-formed",
    default=True,
    show_default=True,
    help="Answer a send with the document's malformed success body, or (--well-formed) valid JSON.",
)
def simulate(host: str, port: int, uid: str, pwd: str, balance: str, frozen: bool, **options: Any) -> None:
    """Run the simulated gateway until interrupted (Ctrl-C).

    Its base URL (for SMSDATA_URL) is printed once it listens.
    """
    from .._serve import serve
    from ..simulator import Account, GatewaySimulator

    sim = GatewaySimulator([Account(uid, pwd, Decimal(balance), frozen)], **options)

    def ready(url: str) -> None:
        click.echo(f"simulated gateway at {url}/Admin/index.php (uid {uid})", err=False)
        sys.stdout.flush()

    serve(sim.app, host, port, on_ready=ready)


def _limit(flag: str, default: float, help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A receiver limit's option, its default the receiver's own: seconds (> 0) or a count (>= 1)."""
    kind = click.IntRange(min=1) if isinstance(default, int) else click.FloatRange(min=0, min_open=True)
    return click.option(flag, default=default, show_default=True, type=kind, help=help)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: all).")
@click.option("--port", default=8080, show_default=True, help="Port to listen on (0: any free port).")
@click.option(
    "--directory",
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
@_limit("--header-timeout", HEADER_TIMEOUT, "Seconds a connection has to send a whole request head; then it is closed.")
@_limit("--body-timeout", BODY_TIMEOUT, "Seconds a request has to send its whole body; then 408 and close.")
@_limit("--keep-alive-timeout", KEEP_ALIVE_TIMEOUT, "Seconds an idle keep-alive connection is kept.")
@_limit(
    "--max-connections",
    MAX_CONNECTIONS,
    "Connections held at most: a newcomer closes the longest-waiting idle or slow one; "
    "503 when all are busy. Keep it well below `ulimit -n`.",
)
@_limit("--max-header-bytes", MAX_HEADER_BYTES, "Largest request line + headers, bytes; beyond it, 431 and close.")
def receive(host: str, port: int, directory: str, token: str | None, **limits: Any) -> None:
    """Receive delivery reports until interrupted (Ctrl-C), durably.

    Each POSTed report is appended to a daily log in DIRECTORY before the answer 200.
    Give the gateway the URL printed once it listens (with your token in place
    of ****). Counts are logged every minute with -v, including the clients
    cut off by the limits (slow, idle, oversized, over capacity).
    """
    from ..receiver import serve_receiver

    def ready(url: str) -> None:
        path = "/reports/****" if token else "/reports"
        click.echo(f"receiving reports at {url}{path}, writing to {directory}")
        sys.stdout.flush()

    serve_receiver(directory, host=host, port=port, token=token, on_ready=ready, **limits)


@cli.command()
@click.option(
    "--directory",
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    help="Where the demo writes and keeps its files [default: a temporary folder, removed at the end].",
)
def demo(directory: str | None) -> None:
    """Run the whole flow on loopback; needs no account.

    Starts the simulator and the receiver, sends the sample campaign (data/campaign.xlsx),
    receives and ingests its delivery reports, prints the KPIs and writes report.html.
    Run twice with the same --directory, it sends nothing twice.
    """
    from ..demo import run_demo
    from ..errors import CampaignInterrupted

    # SIGTERM (timeout, a CI cancel, systemd) unwinds like Ctrl-C: servers stop, the temporary folder goes
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        summary = run_demo(directory, progress=True)
    except CampaignInterrupted as exc:  # only with --directory: its ledger is kept
        click.echo(describe(exc.result), err=True)
        click.echo(
            f"interrupted: run `smsdata demo --directory {directory}` again to finish (nothing is sent twice)", err=True
        )
        sys.exit(130)
    finally:
        signal.signal(signal.SIGTERM, previous)
    click.echo(summary.text())


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)
