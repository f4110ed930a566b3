"""``smsdata demo``: the whole flow against the built-in simulator, needing no account.

Simulator and receiver on loopback; the sample campaign (``data/campaign.xlsx``,
2,000 messy rows) planned and sent through the crash-safe ledger; delivery
reports pushed back, received durably, ingested into Parquet; KPIs and the
HTML report. Without ``--dir`` it works in a temporary folder that is removed
at the end (also when it fails or is interrupted); with ``--dir`` the files
stay there, and a second run with the same ``--dir`` sends nothing twice.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from ._money import exact

__all__ = ["DemoSummary", "demo_customers", "run_demo", "sample_campaign"]

CAMPAIGN = "demo-shipping"
TEMPLATE = "【smsdata】{name}您好，您的订单{order_id}已从{city}发货，金额{amount}元。"
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀英",
    "霞",
    "平",
]
_CITIES = ["北京", "上海", "广州", "深圳", "杭州", "成都", "武汉", "南京", "西安", "重庆"]
_PREFIXES = ["138", "139", "135", "150", "186", "185", "133", "189", "177", "199", "170", "166", "198", "147", "181"]


def demo_customers(rows: int = 2000) -> pd.DataFrame:
    """The sample campaign list (``data/campaign.xlsx``): reproducible, messy as real exports are.

    Numbers are written every way people and spreadsheets write them (spaces,
    dashes, ``+86``, ``0086``, a float's ``.0``, full-width digits, scientific
    notation), about 7% are broken (a digit short, a landline, letters,
    empty), a few rows are duplicates and a few names are missing.

    Returns:
        ``rows`` rows of ``phone, name, order_id, city, amount``, all text; the
        same rows on every call. Never raises.
    """
    rng = np.random.default_rng(20261125)
    numbers = [
        f"{_PREFIXES[k]}{v:08d}"
        for k, v in zip(rng.integers(0, len(_PREFIXES), rows), rng.integers(0, 10**8, rows), strict=True)
    ]
    styles = rng.choice(12, rows, p=[0.42, 0.1, 0.1, 0.08, 0.06, 0.08, 0.03, 0.06, 0.02, 0.02, 0.02, 0.01])
    phones = [_style(n, int(s)) for n, s in zip(numbers, styles, strict=True)]
    for i in rng.choice(rows, 15, replace=False):  # the same customer twice
        phones[i] = phones[(i + 1) % rows]
    names = [f"{rng.choice(list(_SURNAMES))}{rng.choice(_GIVEN)}" for _ in range(rows)]
    for i in rng.choice(rows, 12, replace=False):
        names[i] = None
    return pd.DataFrame(
        {
            "phone": phones,
            "name": names,
            "order_id": [f"SO{2026110000 + i}" for i in range(rows)],
            "city": rng.choice(_CITIES, rows),
            "amount": [f"{v:.2f}" for v in rng.gamma(2.0, 80.0, rows)],
        },
        index=pd.RangeIndex(2, rows + 2, name="row"),
    )


def _style(n: str, style: int) -> str | None:
    """One way of writing mobile ``n`` (styles 9-11 break it)."""
    written = {
        0: n,
        1: f"{n[:3]} {n[3:7]} {n[7:]}",
        2: f"{n[:3]}-{n[3:7]}-{n[7:]}",
        3: f"+86 {n}",
        4: f"0086{n}",
        5: f"{n}.0",
        6: n.translate(str.maketrans("0123456789", "０１２３４５６７８９")),
        7: f" {n} ",
        8: f"{float(n):.5E}".replace("E+", "E+"),  # 1.38001E+10: the digits are gone
        9: n[:-1],
        10: f"0{n[1:3]}-{n[3:]}",  # a landline
        11: "",
    }
    return written[style] or None


@dataclass(frozen=True)
class DemoSummary:
    """What the demo did: where it wrote, what it sent, what came back, what it cost.

    Counts are of the whole campaign (so a second run shows the same
    numbers); ``sent_now`` is what this run sent (0 on a second run).
    Latencies are seconds; balances in gateway units. ``directory`` and
    ``report`` are ``None`` when the demo ran in a temporary folder, which
    is gone by the time the summary is returned.
    """

    directory: Path | None
    rows: int
    recipients: int
    rejected: dict[str, int]
    sent: int
    sent_now: int
    delivered: int
    delivery_rate: float
    p50: float
    p90: float
    spent: Decimal
    ingest: str
    report: Path | None

    def text(self) -> str:
        """A short human-readable summary."""
        rejects = ", ".join(f"{reason} {n}" for reason, n in self.rejected.items() if n) or "none"
        if self.directory is None:
            files = [
                "files:         none kept: the ledger, logs, Parquet dataset and report.html were temporary",
                "               (to keep them: smsdata demo --dir DIR)",
            ]
        else:
            files = [
                f"files:         {self.directory} (ledger.sqlite, receiver/, warehouse/)",
                f"report:        {self.report}",
            ]
        return "\n".join(
            [
                f"customers:     {self.rows:,} rows -> {self.recipients:,} recipients (rejected: {rejects})",
                f"sent:          {self.sent:,} messages in campaign {CAMPAIGN!r} ({self.sent_now:,} requests sent now)",
                f"delivered:     {self.delivered:,} ({self.delivery_rate:.1%} of sent)",
                f"latency:       p50 {self.p50:.0f} s, p90 {self.p90:.0f} s (send to delivery receipt)",
                f"balance spent: {self.spent:,.0f} units",
                f"reports:       {self.ingest}",
                *files,
            ]
        )


def sample_campaign() -> pd.DataFrame:
    """The sample customers: ``data/campaign.xlsx`` from a checkout, else the same rows generated.

    Returns:
        2,000 rows of ``phone, name, order_id, city, amount`` (see :func:`demo_customers`).

    Raises:
        SmsdataError: the checkout's ``data/campaign.xlsx`` cannot be read (as :func:`smsdata.read_campaign`).
    """
    from .sheets import read_campaign

    path = Path(__file__).resolve().parents[1] / "data" / "campaign.xlsx"
    return read_campaign(path) if path.is_file() else demo_customers()


def run_demo(directory: str | Path | None = None, *, progress: bool = False) -> DemoSummary:
    """Run the whole flow on loopback and return what it did.

    Starts the simulated gateway and the report receiver on free 127.0.0.1
    ports, plans and sends the sample campaign through the ledger (keeping the
    customers' ``city``), waits for the simulator's delivery reports (latencies
    compressed about 250x), ingests them into a Parquet dataset and writes the
    HTML report. Every server is stopped when it returns or is interrupted.
    Run again with the same ``directory``, it sends nothing twice.

    Args:
        directory: where to write, kept afterwards. ``None``: a temporary folder
            (``smsdata-demo-*`` in :func:`tempfile.gettempdir`), removed before
            this returns or raises, also on Ctrl-C; the summary's ``directory``
            and ``report`` are then ``None``.
        progress: show progress bars.

    Returns:
        A :class:`DemoSummary` (``.text()`` is what ``smsdata demo`` prints).

    Raises:
        SmsdataError: something failed; the subclass and the message say what.
        CampaignInterrupted: Ctrl-C while sending, with a ``directory`` (run again to resume).
        KeyboardInterrupt: Ctrl-C otherwise (the temporary folder is removed first).

    >>> print(run_demo().text())  # doctest: +SKIP
    """
    from .errors import CampaignInterrupted

    if directory:
        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        return _run(root, progress=progress)
    with tempfile.TemporaryDirectory(prefix="smsdata-demo-") as scratch:
        try:
            summary = _run(Path(scratch), progress=progress)
        except CampaignInterrupted:
            # Its result and "resume it" advice are about a ledger that is about to be removed.
            raise KeyboardInterrupt from None
    return replace(summary, directory=None, report=None)


def _run(root: Path, *, progress: bool) -> DemoSummary:
    """The demo in folder ``root``; every server it starts is stopped before it returns or raises."""
    from ._serve import serve_in_background
    from .balance import balance_burn
    from .campaign import send_campaign
    from .gateway import Gateway
    from .ingest import ingest_reports, read_reports
    from .kpi import delivery_rate, latency
    from .ledger import read_sends
    from .planning import plan_campaign
    from .receiver import ReportReceiver
    from .report import build_report
    from .simulator import Account, GatewaySimulator

    ledger = root / "ledger.sqlite"
    customers = sample_campaign()
    plan = plan_campaign(customers, mobile="phone", template=TEMPLATE, keep=["city"])
    token = secrets.token_urlsafe(16)
    receiver = ReportReceiver(root / "receiver", token=token)
    with serve_in_background(receiver.app) as inbox:
        sim = GatewaySimulator(
            [Account("demo", "demo", balance=_last_balance(ledger))],
            seed=7,
            callback_url=f"{inbox.url}/reports/{token}",
            latency_median=20.0,
            time_scale=0.004,
            reports_per_post=20,
        )
        with (
            serve_in_background(sim.app) as gateway_server,
            Gateway(f"{gateway_server.url}/Admin/index.php", "demo", "demo") as gw,
        ):
            summary = plan.summary(gw)
            result = send_campaign(plan, gateway=gw, name=CAMPAIGN, ledger=ledger, progress=progress)
            _wait_for_reports(sim)
    ingested = ingest_reports(root / "receiver", root / "warehouse", progress=progress)
    sends = read_sends(ledger, campaign=CAMPAIGN)
    reports = read_reports(root / "warehouse")
    # The simulator stamps reports with uncompressed latencies (up to minutes ahead of the clock).
    as_of = max(pd.Timestamp.now(tz="UTC"), reports["report_time"].max() if len(reports) else pd.Timestamp(0, tz="UTC"))
    rates = delivery_rate(sends, reports, as_of=as_of)
    delays = latency(sends, reports, as_of=as_of)
    spent = balance_burn(ledger, sends, as_of=as_of).campaigns.set_index("campaign")["spent"]
    report = build_report(
        root / "report.html", sends=sends, reports=reports, ledger=ledger, as_of=as_of, title="smsdata demo"
    )
    return DemoSummary(
        directory=root,
        rows=len(customers),
        recipients=summary.recipients,
        rejected=summary.rejected,
        sent=int(rates["sent"].iloc[0]),
        sent_now=result.sent_now,
        delivered=int(rates["delivered"].iloc[0]),
        delivery_rate=float(rates["delivery_rate"].iloc[0]),
        p50=float(delays["p50"].iloc[0]),
        p90=float(delays["p90"].iloc[0]),
        spent=exact(spent.get(CAMPAIGN, 0)),
        ingest=str(ingested),
        report=report,
    )


def _last_balance(ledger: Path, opening: Decimal = Decimal(10000)) -> Decimal:
    """The account balance the ledger last saw, so a rerun's fresh simulator starts where the last one ended."""
    from .balance import balance_history

    if not ledger.exists():
        return opening
    history = balance_history(ledger)
    return Decimal(str(history["value"].iloc[-1])) if len(history) else opening


def _wait_for_reports(sim: object, timeout: float = 45.0) -> None:
    """Until the simulator has posted every report it planned (or ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while sim.reports_pending and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.1)
