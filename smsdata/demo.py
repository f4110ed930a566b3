"""``smsdata demo``: a whole run against the built-in simulator, needing no account.

It starts the simulated gateway on a free loopback port, builds a small
customer list with realistically messy phone numbers, plans a personalised
campaign (cleaning, rejects, cost against the balance), sends it through the
crash-safe ledger in ``DIR/ledger.sqlite`` and reports what it cost. Run again
with the same ``--dir``, it resumes the same campaign and sends nothing twice.
Every server it starts is stopped when it returns or is interrupted.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pandas as pd

__all__ = ["DemoSummary", "demo_customers", "run_demo"]

CAMPAIGN = "demo-shipping"
TEMPLATE = "【smsdata】Hi {name}, your order {order_id} has shipped."
_NAMES = ["Li Lei", "Han Meimei", "Wang Fang", "Zhang Wei", "Liu Yang", "Chen Jing", "Zhao Min", "Sun Li"]


def demo_customers(rows: int = 200) -> pd.DataFrame:
    """A reproducible customer list: numbers written every way people write them, some broken."""
    styles = [
        lambda n: n,
        lambda n: f"+86 {n[:3]} {n[3:7]} {n[7:]}",
        lambda n: f"{n[:3]}-{n[3:7]}-{n[7:]}",
        lambda n: f"0086{n}",
        lambda n: f"{n}.0",
        lambda n: n[:-1],  # a digit short: rejected
    ]
    prefixes = ["138", "139", "186", "133", "170", "199", "150", "181"]
    phones = [styles[i % len(styles)](f"{prefixes[i % len(prefixes)]}{i * 7919 % 10**8:08d}") for i in range(rows)]
    phones[7] = phones[3]  # a duplicate row
    return pd.DataFrame(
        {
            "phone": phones,
            "name": [_NAMES[i % len(_NAMES)] if i % 50 != 9 else None for i in range(rows)],
            "order_id": [f"SO{100000 + i}" for i in range(rows)],
        },
        index=pd.RangeIndex(2, rows + 2, name="row"),
    )


@dataclass(frozen=True)
class DemoSummary:
    """What the demo did: where it wrote, what it planned and sent, what it cost (balance units)."""

    directory: Path
    gateway_url: str
    rows: int
    recipients: int
    rejected: dict[str, int]
    accepted: int
    sent_now: int
    balance_before: Decimal
    balance_after: Decimal

    def text(self) -> str:
        """A short human-readable summary."""
        rejects = ", ".join(f"{reason} {n}" for reason, n in self.rejected.items() if n) or "none"
        return "\n".join(
            [
                f"simulated gateway: {self.gateway_url}",
                f"customers:         {self.rows} rows -> {self.recipients} recipients (rejected: {rejects})",
                f"campaign:          {CAMPAIGN!r}: {self.accepted} accepted, {self.sent_now} requests sent now",
                f"balance:           {self.balance_before} -> {self.balance_after} "
                f"(spent {self.balance_before - self.balance_after})",
                f"ledger:            {self.directory / 'ledger.sqlite'}",
            ]
        )


def run_demo(directory: str | Path | None = None) -> DemoSummary:
    """Run the demo against a simulator on 127.0.0.1 and return what it did.

    Args:
        directory: where to write the ledger; a new temporary folder by default.

    Raises:
        SmsdataError: something failed; the message says what.
    """
    from ._serve import serving
    from .campaign import plan_campaign, send_campaign
    from .gateway import Gateway
    from .simulator import Account, GatewaySimulator

    root = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="smsdata-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    customers = demo_customers()
    plan = plan_campaign(customers, mobile="phone", template=TEMPLATE)
    sim = GatewaySimulator([Account("demo", "demo", balance=Decimal(10000))], seed=7)
    with serving(sim.app) as url, Gateway(f"{url}/Admin/index.php", "demo", "demo") as gw:
        summary = plan.summary(gw)
        result = send_campaign(plan, gateway=gw, name=CAMPAIGN, ledger=root / "ledger.sqlite", progress=False)
    return DemoSummary(
        directory=root,
        gateway_url=f"{url}/Admin/index.php",
        rows=len(customers),
        recipients=summary.recipients,
        rejected=summary.rejected,
        accepted=result.recipients.get("accepted", 0),
        sent_now=result.sent_now,
        balance_before=result.balance_before or summary.balance or Decimal(0),
        balance_after=result.balance_after or Decimal(0),
    )
