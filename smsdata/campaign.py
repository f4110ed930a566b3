"""Sending a campaign: one run at a time, every request in the ledger, safe to stop and re-run.

:func:`send_campaign` stores a plan (:mod:`smsdata.planning`) under a name in
the :class:`~smsdata.ledger.Ledger` and sends it; a later call with the same
name resumes it. A run first takes the campaign's lease, so two runs of one
campaign (a notebook cell run twice, two kernels, cron beside a person) never
both send: the second gets :class:`CampaignBusy`. The sending engine is
:mod:`smsdata._sender`; a run's state and Ctrl-C are :mod:`smsdata._campaign_run`,
the checks before sending :mod:`smsdata._campaign_checks`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pandas as pd

from ._campaign_checks import check_cost, check_name, check_plan, plan_of
from ._campaign_run import Run, run_sync
from ._checks import at_least, positive
from ._leases import Lease
from ._sender import Sender
from .errors import CampaignError, CampaignInterrupted, CampaignStopped, SmsdataError
from .gateway import AsyncGateway, Balance, Gateway
from .ledger import Ledger, using_ledger
from .planning import CampaignPlan

__all__ = ["CampaignResult", "resume_campaign", "send_campaign"]

log = logging.getLogger("smsdata.campaign")


@dataclass(frozen=True)
class CampaignResult:
    """Where a campaign stands after :func:`send_campaign`: counts of requests and recipients by state.

    Attributes:
        name: the campaign.
        requests, recipients: ``{state: count}`` over the whole campaign.
        sent_now: requests sent by this call.
        unknown: the ``unknown`` requests (id, recipients, message): they may or may not
            have been delivered; resend with ``resend_unknown=True``.
        balance_before, balance_after: balance snapshots around this call, if taken.
        dry_run: nothing was sent or recorded.
        rejections: ``{"code 7: send failed": requests}``: why the gateway refused the
            ``rejected`` requests.
    """

    name: str
    requests: dict[str, int]
    recipients: dict[str, int]
    sent_now: int
    unknown: pd.DataFrame
    balance_before: Decimal | None = None
    balance_after: Decimal | None = None
    dry_run: bool = False
    rejections: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def done(self) -> bool:
        """No request is still planned or in flight."""
        return not (self.requests.get("planned") or self.requests.get("in_flight"))

    def describe(self) -> list[str]:
        """Where the campaign stands, in lines, without advice on what to do next."""
        parts = ", ".join(f"{state} {n}" for state, n in self.recipients.items() if n)
        head = f"campaign {self.name!r}{' (dry run)' if self.dry_run else ''}: recipients {parts or 'none'}"
        lines = [head, f"requests sent now: {self.sent_now}"]
        if self.balance_before is not None and self.balance_after is not None:
            lines.append(f"balance: {self.balance_before} -> {self.balance_after}")
        if self.rejections:
            reasons = "; ".join(f"{why} ({n} request{'s' * (n != 1)})" for why, n in self.rejections.items())
            lines.append(f"rejected by the gateway: {reasons}")
        if len(self.unknown):
            lines.append(f"{len(self.unknown)} request(s) unknown: they may or may not have been delivered")
        return lines

    def __str__(self) -> str:
        lines = self.describe()
        if len(self.unknown):
            lines.append(f"resend them with resume_campaign({self.name!r}, gateway=..., resend_unknown=True)")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return "<pre>" + str(self).replace("&", "&amp;").replace("<", "&lt;") + "</pre>"


def send_campaign(
    plan_or_df: CampaignPlan | pd.DataFrame | None = None,
    *,
    gateway: Gateway | AsyncGateway,
    name: str,
    ledger: Ledger | str | Path | None = None,
    concurrency: int = 4,
    rate_limit: float | None = None,
    progress: bool = True,
    dry_run: bool = False,
    resend_unknown: bool = False,
    allow_partial: bool = False,
    mobile: str | None = None,
    content: str | None = None,
    template: str | None = None,
    suppress: Iterable[str] | pd.Series | str | Path | None = None,
    price: Decimal | float | int | str = 1,
    keep: Sequence[str] = (),
) -> CampaignResult:
    """Send a planned campaign, recording every request in the ledger; safe to stop, crash and re-run.

    The first call with a ``name`` stores the plan; a later call with the same
    ``name`` resumes it: only ``planned`` requests are sent. A request whose
    outcome is unknown (timeout after it went out, a crash mid-request) is
    ``unknown`` and is resent, byte-identical, only with ``resend_unknown=True``
    (the gateway de-duplicates the same content to the same number). A finished
    campaign sends nothing. One run at a time: a call while another run (thread,
    kernel, process) sends the same campaign raises :class:`CampaignBusy`.

    Ctrl-C (or a notebook interrupt) stops claiming requests, lets the requests
    already on the wire be answered and recorded, puts the rest back to
    ``planned`` and raises :class:`CampaignInterrupted`; a second Ctrl-C stops at
    once (what was on the wire is then ``unknown``).

    Args:
        plan_or_df: a :class:`~smsdata.planning.CampaignPlan`; or a DataFrame, planned here
            with ``mobile``, ``content`` or ``template``, ``suppress``, ``price`` and ``keep`` (see
            :func:`~smsdata.planning.plan_campaign`); or ``None`` to resume a stored campaign.
        gateway: a :class:`Gateway` or :class:`AsyncGateway`.
        name: the campaign's name, its key in the ledger.
        ledger: a :class:`Ledger`, a path, or ``None`` for ``$SMSDATA_HOME/ledger.sqlite``.
        concurrency: requests in flight at once.
        rate_limit: at most this many requests per second (``None``: no limit).
        progress: show a progress bar of recipients (tqdm; notebook-aware).
        dry_run: check the plan, the name and the balance; send and record nothing.
        resend_unknown: resend the ``unknown`` requests.
        allow_partial: send even if the balance does not cover the remaining cost.

    Returns:
        A :class:`CampaignResult`.

    Raises:
        CampaignError: a different plan (or price) is already stored under ``name``; no plan and no
            such campaign; a name that is not one line of text; a plan without recipients; options
            for a DataFrame given with a plan (nothing was sent or recorded).
        PlanError, TemplateError: a DataFrame given cannot be planned (see :func:`plan_campaign`).
        ConfigError: ``concurrency`` below 1.
        CampaignBusy: another run is sending this campaign now (nothing was done).
        InsufficientBalance: the balance does not cover the remaining cost (nothing sent).
        CampaignStopped: an account-level code (1, 5, 8), an unreachable gateway or a lost
            lease stopped it midway; what was not sent stays planned; re-run to resume.
        CampaignInterrupted: Ctrl-C or cancellation; what was done is recorded.
        LedgerError: the ledger could not be written.
    """
    plan = plan_of(
        plan_or_df, mobile=mobile, content=content, template=template, suppress=suppress, price=price, keep=keep
    )
    at_least(concurrency, "concurrency")
    if rate_limit is not None:
        positive(rate_limit, "rate_limit")
    check_name(name)
    if plan is not None and plan.recipients.empty:
        raise CampaignError(
            f"campaign {name!r} has no recipients ({len(plan.rejected)} row(s) rejected: see plan.rejected); "
            "nothing was sent or recorded"
        )
    run = Run()
    with using_ledger(ledger) as opened:
        try:
            return run_sync(
                run.press,
                lambda: _send(
                    plan,
                    gateway=gateway,
                    name=name,
                    ledger=opened,
                    run=run,
                    concurrency=concurrency,
                    rate_limit=rate_limit,
                    progress=progress,
                    dry_run=dry_run,
                    resend_unknown=resend_unknown,
                    allow_partial=allow_partial,
                ),
            )
        except (KeyboardInterrupt, asyncio.CancelledError):
            result = _result(opened, name, run.sent, run.balance_before, None)
            planned = result.requests.get("planned", 0)
            unknown = f" and resend_unknown=True for the {len(result.unknown)} unknown" if len(result.unknown) else ""
            raise CampaignInterrupted(
                f"campaign {name!r} interrupted after {run.sent} request(s) sent now; {planned} request(s) still "
                f"planned. Resume with resume_campaign({name!r}, gateway=...){unknown}",
                result,
            ) from None


def resume_campaign(
    name: str,
    *,
    gateway: Gateway | AsyncGateway,
    ledger: Ledger | str | Path | None = None,
    concurrency: int = 4,
    rate_limit: float | None = None,
    progress: bool = True,
    dry_run: bool = False,
    resend_unknown: bool = False,
    allow_partial: bool = False,
) -> CampaignResult:
    """Resume a stored campaign from the ledger alone: :func:`send_campaign` without a plan.

    Takes, returns and raises what :func:`send_campaign` does; the cost check uses the
    price per segment stored with the campaign.

    Returns:
        A :class:`CampaignResult`, as :func:`send_campaign`.

    Raises:
        SmsdataError: as :func:`send_campaign`; also when the ledger holds no campaign ``name``.
    """
    return send_campaign(
        None,
        gateway=gateway,
        name=name,
        ledger=ledger,
        concurrency=concurrency,
        rate_limit=rate_limit,
        progress=progress,
        dry_run=dry_run,
        resend_unknown=resend_unknown,
        allow_partial=allow_partial,
    )


def _async_gateway(gateway: Gateway | AsyncGateway) -> tuple[AsyncGateway, bool]:
    if isinstance(gateway, AsyncGateway):
        return gateway, False
    return gateway.to_async(), True


async def _send(
    plan: CampaignPlan | None,
    *,
    gateway: Gateway | AsyncGateway,
    name: str,
    ledger: Ledger,
    run: Run,
    concurrency: int,
    rate_limit: float | None,
    progress: bool,
    dry_run: bool,
    resend_unknown: bool,
    allow_partial: bool,
) -> CampaignResult:
    run.task = asyncio.current_task()
    agw, owned = _async_gateway(gateway)
    try:
        if dry_run:
            check_plan(plan, name, ledger)
            return _dry_run(plan, name, ledger, await agw.balance())
        lease = ledger.acquire_lease(name)
        try:
            with run.catching_ctrl_c():
                return await _send_leased(
                    plan,
                    gateway=agw,
                    ledger=ledger,
                    lease=lease,
                    run=run,
                    concurrency=concurrency,
                    rate_limit=rate_limit,
                    progress=progress,
                    resend_unknown=resend_unknown,
                    allow_partial=allow_partial,
                )
        finally:
            ledger.release_lease(lease)
    finally:
        if owned:
            await agw.aclose()


async def _send_leased(
    plan: CampaignPlan | None,
    *,
    gateway: AsyncGateway,
    ledger: Ledger,
    lease: Lease,
    run: Run,
    concurrency: int,
    rate_limit: float | None,
    progress: bool,
    resend_unknown: bool,
    allow_partial: bool,
) -> CampaignResult:
    name = lease.campaign
    stored = check_plan(plan, name, ledger)  # under the lease: no other run is creating it now
    balance = await gateway.balance()
    if not stored and plan is not None:
        ledger.create_campaign(name, plan)
    ledger.settle_in_flight(lease)
    if resend_unknown:
        ledger.requeue_unknown(lease)
    todo = ledger.planned(name)
    check_cost(name, todo, balance, allow_partial, ledger.price(name))
    ledger.record_balance(balance.value, name, "before")
    run.balance_before = balance.value
    sender = run.sender = Sender(gateway, ledger, lease, concurrency=concurrency, rate_limit=rate_limit)
    try:
        await sender.run(todo, progress=progress, name=name)
    finally:
        run.sent = sender.sent
    if run.presses:
        raise asyncio.CancelledError  # recorded; send_campaign turns it into CampaignInterrupted
    after = await _balance_or_none(gateway)
    if after is not None:
        ledger.record_balance(after.value, name, "after")
    result = _result(ledger, name, sender.sent, balance.value, after.value if after else None)
    if sender.stopped is not None:
        raise CampaignStopped(
            f"campaign {name!r} stopped: {type(sender.stopped).__name__}: {sender.stopped}. "
            f"{result.requests.get('planned', 0)} request(s) still planned; fix the cause, then resume with "
            f"resume_campaign({name!r}, gateway=...)",
            sender.stopped,
            result,
        )
    return result


def _dry_run(plan: CampaignPlan | None, name: str, ledger: Ledger, balance: Balance) -> CampaignResult:
    if ledger.fingerprint(name) is not None:
        return dataclasses.replace(_result(ledger, name, 0, balance.value, None), dry_run=True)
    assert plan is not None
    return CampaignResult(
        name,
        requests={"planned": len(plan.requests)},
        recipients={"planned": len(plan.recipients)},
        sent_now=0,
        unknown=pd.DataFrame(columns=["request_id", "recipients", "message"]),
        balance_before=balance.value,
        dry_run=True,
    )


async def _balance_or_none(gateway: AsyncGateway) -> Balance | None:
    try:
        return await gateway.balance()
    except SmsdataError as exc:
        log.warning("balance after the campaign could not be read: %s", exc)
        return None


def _result(ledger: Ledger, name: str, sent: int, before: Decimal | None, after: Decimal | None) -> CampaignResult:
    requests = ledger.requests(name)
    by_state = requests.groupby("state")
    unknown = requests.loc[requests["state"].eq("unknown"), ["request_id", "recipients", "message"]]
    rejected = requests[requests["state"].eq("rejected")]
    why = ("code " + rejected["code"].astype(str) + ": " + rejected["message"].fillna("").astype(str)).str.rstrip(": ")
    return CampaignResult(
        name,
        requests={k: int(v) for k, v in by_state.size().items()},
        recipients={k: int(v) for k, v in by_state["recipients"].sum().items()},
        sent_now=sent,
        unknown=unknown.reset_index(drop=True),
        balance_before=before,
        balance_after=after,
        rejections={str(k): int(v) for k, v in why.value_counts().items()},
    )
