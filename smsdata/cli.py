"""The ``smsdata`` command: a thin layer over the library.

Each command calls one public function. Library errors become one line on
stderr and exit status 1 here, and only here; usage errors exit 2.
"""

from __future__ import annotations

import logging
import sys
from decimal import Decimal
from typing import Any

import click

from .errors import SmsdataError

__all__ = ["cli", "main"]


class _Group(click.Group):
    """Turns every :class:`SmsdataError` into one clear line and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SmsdataError as exc:
            raise click.ClickException(f"{type(exc).__name__}: {exc}") from None
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


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
@click.option("--to", "to", required=True, help="Mobile numbers, comma-separated (at most 5,000).")
@click.option("--content", required=True, help="Message text (at most 268 characters).")
def send(to: str, content: str) -> None:
    """Send one message to one or more numbers and print its msgid."""
    from .gateway import Gateway, mobile_list

    with Gateway.from_env() as gw:
        result = gw.send(to, content)
    click.echo(f"accepted: msgid {result.msgid} ({len(mobile_list(to))} numbers)")


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
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    help="Where the demo writes (default: a temporary folder).",
)
def demo(directory: str | None) -> None:
    """Run a whole example against the built-in simulator; needs no account."""
    from .demo import run_demo

    summary = run_demo(directory)
    click.echo(summary.text())


def main() -> None:
    """Entry point of the ``smsdata`` console script."""
    cli(prog_name="smsdata")
