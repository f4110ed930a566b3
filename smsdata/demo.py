"""``smsdata demo``: a whole run against the built-in simulator, needing no account.

It starts the simulated gateway on a free loopback port, checks the balance,
sends a short message to a few sample numbers and checks the balance again.
Every server it starts is stopped when it returns or is interrupted.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

__all__ = ["DemoSummary", "run_demo"]

_SAMPLE_NUMBERS = ["13800138000", "13912345678", "18600001111"]
_SAMPLE_CONTENT = "【smsdata】Hello from the smsdata demo."


@dataclass(frozen=True)
class DemoSummary:
    """What the demo did: where it wrote, what it sent, what it cost (balance units)."""

    directory: Path
    gateway_url: str
    msgid: str
    recipients: int
    balance_before: Decimal
    balance_after: Decimal

    def text(self) -> str:
        """A short human-readable summary."""
        return "\n".join(
            [
                f"simulated gateway: {self.gateway_url}",
                f"sent:              {self.recipients} messages (msgid {self.msgid})",
                f"balance:           {self.balance_before} -> {self.balance_after} "
                f"(spent {self.balance_before - self.balance_after})",
                f"files in:          {self.directory}",
            ]
        )


def run_demo(directory: str | Path | None = None) -> DemoSummary:
    """Run the demo against a simulator on 127.0.0.1 and return what it did.

    Args:
        directory: where to write; a new temporary folder by default.

    Raises:
        SmsdataError: something failed; the message says what.
    """
    from ._serve import serving
    from .gateway import Gateway
    from .simulator import Account, GatewaySimulator

    root = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="smsdata-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    sim = GatewaySimulator([Account("demo", "demo", balance=Decimal(10000))], seed=7)
    with serving(sim.app) as url, Gateway(f"{url}/Admin/index.php", "demo", "demo") as gw:
        before = gw.balance().value
        result = gw.send(_SAMPLE_NUMBERS, _SAMPLE_CONTENT)
        after = gw.balance().value
    return DemoSummary(root, f"{url}/Admin/index.php", result.msgid, len(_SAMPLE_NUMBERS), before, after)
