"""Commands that send or look at campaigns: send, resume, campaigns, balance.

``smsdata send`` plans first, offline: what is rejected and why, sample
messages, recipients, requests, segments and cost. ``--dry-run`` stops
there, with no gateway settings needed. A real send shows the balance
against the cost and asks before sending (``--yes`` skips the question; with
no terminal to ask on, ``--yes`` is required). ``--to`` sends are campaigns
too: cleaned, planned and recorded in the ledger like any other.
"""

from __future__ import annotations

import re
import sys
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import pandas as pd

from .._formats import as_text
from ..errors import CampaignError
from . import cli, describe

if TYPE_CHECKING:
    from ..gateway import Gateway
    from ..planning import CampaignPlan

SHOWN_REJECTS = 20
SHOWN_SAMPLES = 3


@cli.command()
def balance() -> None:
    """Print the account balance (needs the gateway settings)."""
    from ..gateway import Gateway

    with Gateway.from_env() as gw:
        result = gw.balance()
    click.echo(f"balance: {result.value}")


def _sending_options(command: Any) -> Any:
    """The options every command that sends shares, in the library's words."""
    for option in reversed(
        [
            click.option("--concurrency", default=4, show_default=True, help="Requests in flight at once."),
            click.option("--rate-limit", type=float, help="At most this many requests per second."),
            click.option("--allow-partial", is_flag=True, help="Send even if the balance does not cover the cost."),
            click.option("--yes", "-y", is_flag=True, help="Send without asking (needed without a terminal)."),
            click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar."),
        ]
    ):
        command = option(command)
    return command


@cli.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("--to", help="Mobile numbers, comma-separated: one message to them, recorded like any campaign.")
@click.option("--mobile", "--mobile-column", "mobile", help="With FILE: the column of phone numbers.")
@click.option("--template", help="With FILE: the message template, e.g. 'Hi {name}'.")
@click.option(
    "--content", "--content-column", "content", help="With FILE: the column of each row's message. With --to: the text."
)
@click.option("--name", help="The campaign's name, its key in the ledger (re-run to resume) [--to: to-DATE-TIME].")
@click.option("--suppress", type=click.Path(dir_okay=False), help="A file of numbers never to message.")
@click.option("--sheet", help="With an XLSX FILE: the sheet (name or number) [default: the active one].")
@click.option("--keep", multiple=True, help="With FILE: a customer column kept for KPIs by it (repeatable).")
@click.option("--price", default="1", show_default=True, help="Balance units per message segment.")
@click.option("--dry-run", is_flag=True, help="Show the plan only: offline, sends and records nothing.")
@click.option("--rejects-out", type=click.Path(dir_okay=False), help="Write every rejected row to this CSV or XLSX.")
@_sending_options
def send(file: str | None, to: str | None, **options: Any) -> None:
    """Send a campaign from a CSV/XLSX FILE, or one message with --to and --content.

    Shows the plan first: rejected rows, sample messages, recipients, requests,
    segments and cost; then the balance, and asks before sending.

    \b
    smsdata send customers.xlsx --mobile phone --template "Hi {name}" --name nov-shipping --dry-run
    smsdata send customers.xlsx --mobile phone --template "Hi {name}" --name nov-shipping
    smsdata send --to 13800138000,+8613912345678 --content "Hello"
    """
    if (file is None) == (to is None):
        raise click.UsageError("give either FILE (a campaign) or --to with --content (one message)")
    name = options.pop("name")
    if to is not None:
        plan = _plan_to(to, **_pick(options, "content", "mobile", "template", "sheet", "keep", "price", "suppress"))
        # the plan's fingerprint in the name: two different messages sent in one second never share a
        # name, and the same message run twice in that second is one campaign (sent once)
        name = name or f"to-{pd.Timestamp.now(tz='UTC'):%Y%m%d-%H%M%S}-{plan.fingerprint[:6]}"
    else:
        if not name:
            raise click.UsageError("FILE needs --name: the campaign's key in the ledger, to resume it safely")
        plan = _plan_file(file, **_pick(options, "mobile", "template", "content", "sheet", "keep", "price", "suppress"))
    rejects_out = options.pop("rejects_out")
    if rejects_out:
        from .._export import export

        export(plan.rejected, rejects_out, mask=False)  # the rows to correct: the user's own, in full
        click.echo(f"all {len(plan.rejected):,} rejected row(s) written to {rejects_out}")
    click.echo(_describe_plan(plan, name, shown_rejects=not rejects_out))
    _check_against_ledger(plan, name)
    if options.pop("dry_run"):
        click.echo("dry run: nothing was sent or recorded")
        return
    _send(plan, name, **options)


def _pick(options: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: options.pop(name) for name in names}


def _plan_file(
    file: str,
    *,
    mobile: str | None,
    template: str | None,
    content: str | None,
    sheet: str | None,
    keep: tuple[str, ...],
    price: str,
    suppress: str | None,
) -> CampaignPlan:
    from ..planning import plan_campaign
    from ..sheets import read_campaign

    if not mobile or (template is None) == (content is None):
        raise click.UsageError("FILE needs --mobile and one of --template / --content")
    chosen: str | int | None = int(sheet) if sheet is not None and sheet.isdigit() else sheet
    return plan_campaign(
        read_campaign(file, sheet=chosen),
        mobile=mobile,
        template=template,
        content=content,
        suppress=suppress,
        price=price,
        keep=keep,
    )


def _plan_to(
    to: str,
    *,
    content: str | None,
    mobile: str | None,
    template: str | None,
    sheet: str | None,
    keep: tuple[str, ...],
    price: str,
    suppress: str | None,
) -> CampaignPlan:
    """``--to`` numbers and ``--content`` text as a plan: cleaned and checked like a file's rows."""
    from ..planning import plan_campaign

    if content is None:
        raise click.UsageError("--to needs --content: the message text")
    if mobile or template or sheet or keep:
        raise click.UsageError("--mobile, --template, --sheet and --keep are for FILE; --to takes --content")
    # commas (also the full-width ，), semicolons or line breaks between numbers; spaces inside a
    # number ("138 0013 8000") are cleaned like a spreadsheet's
    numbers = [part.strip() for part in re.split(r"[,，;；\n]", to) if part.strip()]
    if not numbers:
        raise click.UsageError("--to has no numbers")
    # The text is a column of its own, never a template: braces in it stay as typed.
    frame = pd.DataFrame({"mobile": numbers, "content": content})
    return plan_campaign(frame, mobile="mobile", content="content", suppress=suppress, price=price)


def _describe_plan(plan: CampaignPlan, name: str, *, shown_rejects: bool) -> str:
    """The plan in words: totals, the first rejected rows, sample messages."""
    lines = [
        f"campaign {name!r}: {len(plan.recipients):,} recipient(s) in {len(plan.requests):,} request(s), "
        f"{plan.segments:,} segment(s), estimated cost {plan.estimated_cost:,} unit(s) ({plan.price} per segment)"
    ]
    rejected = plan.rejected
    if len(rejected):
        reasons = ", ".join(f"{reason} {count:,}" for reason, count in rejected["reason"].value_counts().items())
        lines.append(f"rejected {len(rejected):,} row(s): {reasons}")
        if shown_rejects:
            lines.append(_indent(as_text(rejected.head(SHOWN_REJECTS), numeric=["row"])))
            if len(rejected) > SHOWN_REJECTS:
                lines.append(f"  ... the first {SHOWN_REJECTS} of {len(rejected):,}; all with --rejects-out FILE")
    if len(plan.recipients):
        samples = plan.recipients.head(SHOWN_SAMPLES)
        lines.append(f"sample message(s), {min(SHOWN_SAMPLES, len(plan.recipients))} of {len(plan.recipients):,}:")
        lines += [f"  {m}: {c}" for m, c in zip(samples["mobile"], samples["content"], strict=True)]
    return "\n".join(lines)


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def _stored() -> Any:
    """The ledger, if it exists, else ``None`` (looking never creates one)."""
    from ..ledger import Ledger, default_path

    return Ledger(create=False) if default_path().is_file() else None


def _check_against_ledger(plan: CampaignPlan, name: str) -> None:
    """Offline: refuse now a plan the ledger would refuse (another plan under ``name``), and say
    what a re-run will do."""
    ledger = _stored()
    if ledger is None:
        return
    with ledger:
        stored = ledger.fingerprint(name)
        if stored is None:
            return
        if stored != plan.fingerprint or ledger.price(name) != plan.price:
            raise CampaignError(
                f"campaign {name!r} already exists in {ledger.path} with a different plan (or price); "
                "choose a new --name, or `smsdata resume` it"
            )
        left = ledger.planned(name)
    click.echo(
        f"campaign {name!r} is in the ledger: {sum(r.recipients for r in left):,} recipient(s) in "
        f"{len(left):,} request(s) still to send"
    )


def _send(plan: CampaignPlan, name: str, **options: Any) -> None:
    from ..campaign import send_campaign
    from ..gateway import Gateway

    with Gateway.from_env() as gw:
        recipients, cost = _left_to_send(plan, name, resend_unknown=False)
        _confirm(name, recipients, cost, gw, yes=options.pop("yes"), allow_partial=options["allow_partial"])
        result = send_campaign(plan, gateway=gw, name=name, **options)
    _report_outcome(result)


def _report_outcome(result: Any) -> None:
    """Say where the campaign stands; exit 1 when the gateway accepted none of what it was sent."""
    click.echo(describe(result))
    if result.sent_now and not result.recipients.get("accepted"):
        raise click.ClickException(f"the gateway accepted none of campaign {result.name!r}'s requests")


def _confirm(name: str, recipients: int, cost: Decimal, gateway: Gateway, *, yes: bool, allow_partial: bool) -> None:
    """Show the balance against the cost of what is left to send, and ask (unless ``yes``)."""
    if recipients == 0:
        return
    balance = gateway.balance().value
    click.echo(f"balance {balance:,} unit(s); this send costs about {cost:,} unit(s)")
    if cost > balance and not allow_partial:
        raise click.ClickException(
            f"the balance {balance} does not cover the estimated cost {cost}; nothing was sent. "
            "Top up, or pass --allow-partial"
        )
    if yes:
        return
    if not can_ask():
        raise click.UsageError("not run from a terminal: add --yes to send without being asked")
    click.confirm(f"Send {recipients:,} message(s) as campaign {name!r}?", abort=True)


def can_ask() -> bool:
    """Whether someone can answer a question: stdin is a terminal."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):  # replaced or closed stdin
        return False


def _left_to_send(plan: CampaignPlan | None, name: str, *, resend_unknown: bool) -> tuple[int, Decimal]:
    """Recipients and cost still to send under ``name``: the stored campaign's planned requests
    (and unknown ones, to resend), or the whole plan when it is new."""
    stored = _stored_requests(name)
    if stored is not None:
        requests, price = stored
        left = requests[requests["state"].isin(["planned", "unknown"] if resend_unknown else ["planned"])]
        return int(left["recipients"].sum()), price * int((left["recipients"] * left["segments"]).sum())
    if plan is None:
        return 0, Decimal(0)
    return len(plan.recipients), plan.estimated_cost


def _stored_requests(name: str) -> tuple[pd.DataFrame, Decimal] | None:
    """Campaign ``name``'s requests and price from the ledger, or ``None`` when it is not there."""
    ledger = _stored()
    if ledger is None:
        return None
    with ledger:
        if ledger.fingerprint(name) is None:
            return None
        return ledger.requests(name), ledger.price(name)


@cli.command()
@click.argument("name")
@click.option("--resend-unknown", is_flag=True, help="Also resend requests whose outcome is unknown.")
@_sending_options
def resume(name: str, resend_unknown: bool, yes: bool, **options: Any) -> None:
    """Resume campaign NAME from the ledger: send what is still planned.

    Only one run of a campaign sends at a time; a second one is refused, naming the first.
    """
    from ..campaign import resume_campaign
    from ..gateway import Gateway

    if _stored() is None:
        raise CampaignError(f"no campaign named {name!r}: there is no ledger yet")
    with Gateway.from_env() as gw:
        recipients, cost = _left_to_send(None, name, resend_unknown=resend_unknown)
        _confirm(name, recipients, cost, gw, yes=yes, allow_partial=options["allow_partial"])
        result = resume_campaign(name, gateway=gw, resend_unknown=resend_unknown, **options)
    _report_outcome(result)


@cli.command()
def campaigns() -> None:
    """List the campaigns in the ledger, one line each, with requests by state."""
    from ..ledger import STATES, Ledger, default_path

    path = default_path()
    if not Path(path).is_file():
        click.echo(f"no campaigns: no ledger at {path} yet")
        return
    with Ledger(path, create=False) as ledger:
        frame = ledger.campaigns()
    if frame.empty:
        click.echo(f"no campaigns in {path}")
        return
    for row in frame.itertuples(index=False):
        states = ", ".join(f"{s} {int(getattr(row, s) or 0):,}" for s in STATES if getattr(row, s))
        click.echo(f"{row.campaign}: {row.recipients:,} recipients in {row.requests:,} requests ({states or 'empty'})")
