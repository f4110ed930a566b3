"""Checking a campaign's arguments before anything is sent: the plan, the name, the stored plan, the cost.

:func:`plan_of` turns :func:`smsdata.send_campaign`'s first argument into a plan
(or ``None`` to resume); :func:`check_name`, :func:`check_plan` and
:func:`check_cost` refuse what must not be sent, with :class:`CampaignError`
or :class:`InsufficientBalance`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path

import pandas as pd

from ._leases import PlannedRequest
from .errors import CampaignError, InsufficientBalance, PlanError
from .gateway import Balance
from .ledger import Ledger
from .planning import CampaignPlan, plan_campaign


def plan_of(
    plan_or_df: CampaignPlan | pd.DataFrame | None,
    *,
    mobile: str | None,
    content: str | None,
    template: str | None,
    suppress: Iterable[str] | pd.Series | str | Path | None,
    price: Decimal | float | int | str,
    keep: Sequence[str],
) -> CampaignPlan | None:
    if isinstance(plan_or_df, pd.DataFrame):
        if mobile is None:
            raise PlanError("a DataFrame needs mobile= (its column of numbers) and content= or template=")
        return plan_campaign(
            plan_or_df, mobile=mobile, content=content, template=template, suppress=suppress, price=price, keep=keep
        )
    options = {"mobile": mobile, "content": content, "template": template, "suppress": suppress}
    given = [k for k, v in options.items() if v is not None] + ["price"] * (price != 1) + ["keep"] * bool(len(keep))
    if given:
        raise CampaignError(f"{', '.join(given)}= only apply when a DataFrame is given; plan it yourself")
    if plan_or_df is not None and not isinstance(plan_or_df, CampaignPlan):
        raise CampaignError(f"send_campaign takes a CampaignPlan or a DataFrame, got {type(plan_or_df).__name__}")
    return plan_or_df


_MAX_NAME = 200


def check_name(name: str) -> None:
    """A campaign name is a key people type and read: one line of printable text."""
    if not isinstance(name, str) or not name.strip():
        raise CampaignError(f"a campaign needs a name (text), got {name!r}")
    if len(name) > _MAX_NAME:
        raise CampaignError(f"campaign name is {len(name)} characters long; at most {_MAX_NAME}")
    if any(not c.isprintable() for c in name):
        raise CampaignError(f"campaign name {name!r} holds a line break or a control character")


def check_plan(plan: CampaignPlan | None, name: str, ledger: Ledger) -> bool:
    """Whether ``name`` is stored; refuse a different plan under it, or no plan for a new name."""
    stored = ledger.fingerprint(name)
    if plan is None and stored is None:
        raise CampaignError(f"no campaign named {name!r} in {ledger.path}; give a plan to start it")
    if plan is not None and stored is not None and stored != plan.fingerprint:
        raise CampaignError(
            f"campaign {name!r} already exists in {ledger.path} with a different plan; "
            "choose a new name, or resume it without a plan"
        )
    if plan is not None and stored is not None and ledger.price(name) != plan.price:
        raise CampaignError(
            f"campaign {name!r} is stored at price {ledger.price(name)} per segment, this plan says {plan.price}; "
            "plan it with the stored price, or resume it without a plan"
        )
    return stored is not None


def check_cost(name: str, todo: list[PlannedRequest], balance: Balance, allow_partial: bool, price: Decimal) -> None:
    cost = price * sum(r.billed_segments for r in todo)
    if cost > balance.value and not allow_partial:
        raise InsufficientBalance(
            5,
            f"balance {balance.value} does not cover the estimated cost {cost} of the {len(todo)} request(s) "
            f"left in campaign {name!r}; nothing was sent. Top up, or pass allow_partial=True",
        )
