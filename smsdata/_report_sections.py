"""The report's page sections: the headline cards, the tables beside each chart, carriers, audit, balance, definitions.

Each function returns HTML (built with :mod:`smsdata._report_html`) for
:func:`smsdata.report.build_report` to lay out in order.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from . import _formats as fmt
from . import _report_html as page
from . import _statuses, charts, kpi
from ._axes import duration_words, texts
from ._engines import Source
from ._formats import delivery_for_people, latency_for_people
from ._kpi_options import parse_by
from ._report_select import campaign_names
from .balance import LedgerLike, balance_burn
from .config import UnitPrice, default_tz
from .ledger import default_path

if TYPE_CHECKING:
    from .report import Headline

_TOP_STATUSES = 7


def _local(moment: pd.Timestamp, zone: str) -> str:
    return f"{moment.tz_convert(zone):%Y-%m-%d %H:%M}"


def top_section(
    title: str, sends: Source, top: Headline, moment: pd.Timestamp, money: UnitPrice | None, missing: str | None
) -> str:
    """The title, what the report covers, a warning when no reports were read, and the headline cards."""
    zone = default_tz()
    names = campaign_names(sends)
    shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
    meta = (
        f"Sent {_local(top.first_sent, zone)} to {_local(top.last_sent, zone)} ({zone}); as of "
        f"{_local(moment, zone)}. {len(names)} campaign{'s' * (len(names) != 1)}: {shown}."
    )
    before = top.previous
    spend = f"{top.spend:,.0f} units" if top.spend == top.spend.to_integral_value() else f"{top.spend:,.2f} units"
    cards = [
        ("", "sent", "Sent", f"{top.sent:,}", _change_count(top.sent, before and before.sent), top.sent),
        (
            "delivered",
            "delivery_rate",
            "Delivered",
            f"{top.delivery_rate:.1%}",
            f"{top.delivered:,} messages" + _change_points(top.delivery_rate, before and before.delivery_rate),
            top.delivery_rate,
        ),
        ("failed", "failed", "Failed", f"{top.failed:,}", _share(top.failed, top.sent), top.failed),
        (
            "pending",
            "pending",
            "Pending",
            f"{top.pending + top.no_report:,}",
            f"{top.no_report:,} without a report past the limit" if top.no_report else "no report yet",
            top.pending + top.no_report,
        ),
        (
            "",
            "p50",
            "Time to receipt, p50",
            duration_words(top.p50) or "–",
            f"p90 {duration_words(top.p90) or '–'}" + _change_seconds(top.p50, before and before.p50),
            top.p50,
        ),
        (
            "",
            "spend",
            "Spend",
            money.money(top.spend) if money else spend,
            spend if money else "gateway units",
            top.spend,
        ),
    ]
    compared = ""
    if before is not None:
        length = duration_words((top.last_sent - top.first_sent).total_seconds())
        compared = (
            f"<p class='note'>Changes compare with the previous {length} "
            f"({_local(before.first_sent, zone)} to {_local(before.last_sent, zone)}, every campaign sent then: "
            f"{before.sent:,} sent, {before.delivery_rate:.1%} delivered).</p>"
        )
    warning = f"<p class='warning'>{html.escape(missing[0].upper() + missing[1:])}.</p>" if missing else ""
    head = f"<h1>{html.escape(title)}</h1><p class='meta'>{html.escape(meta)}</p>"
    return head + warning + page.cards(cards) + compared


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%} of sent" if whole else ""


def _change_count(now: int, before: int | None) -> str:
    if not before:
        return "recipients of accepted requests"
    return f"{now / before - 1:+.0%} vs before"


def _change_points(now: float, before: float | None) -> str:
    if before is None or pd.isna(before) or pd.isna(now):
        return ""
    points = (now - before) * 100
    return f"; <span class='{'up' if points >= 0 else 'down'}'>{points:+.1f} pts</span> vs before"


def _change_seconds(now: float, before: float | None) -> str:
    if before is None or pd.isna(before) or pd.isna(now):
        return ""
    faster = now <= before
    words = duration_words(abs(now - before))
    return f"; p50 <span class='{'up' if faster else 'down'}'>{'−' if faster else '+'}{words}</span> vs before"


def delivery_table(
    sends: Source, reports: Source, by: str | Sequence[str], expire_after: str, moment: pd.Timestamp
) -> str:
    rates = kpi.delivery_rate(sends, reports, by=by, expire_after=expire_after, as_of=moment)
    shown, numeric = delivery_for_people(rates, parse_by(by))
    return page.table(shown, numeric=numeric)


def status_table(sends: Source, reports: Source, by: str | Sequence[str], moment: pd.Timestamp) -> str:
    """Groups down, statuses across (in order of meaning), shares of sent in the cells."""
    breakdown = kpi.status_breakdown(sends, reports, by=by, as_of=moment)
    groups = parse_by(by)
    status, totals = _statuses.keep_top(breakdown, _TOP_STATUSES)
    breakdown[groups] = texts(breakdown[groups])  # a blank group keeps its row
    wide = breakdown.assign(status=status).pivot_table(
        index=groups, columns="status", values="count", aggfunc="sum", fill_value=0, sort=True
    )
    order = _statuses.ordered(wide.columns, totals)
    sent = wide.sum(axis=1)
    shown = pd.DataFrame({"sent": fmt.counts(sent)}, index=wide.index)
    for name in order:
        shown[name] = fmt.percents(wide[name] / sent)
    shown = shown.reset_index()
    return page.table(shown, numeric=["sent", *order], caption="Share of sent messages by final status.")


def latency_table(sends: Source, reports: Source, by: str | Sequence[str], moment: pd.Timestamp) -> str:
    shown, numeric = latency_for_people(kpi.latency(sends, reports, by=by, as_of=moment), parse_by(by))
    return page.table(
        shown, numeric=numeric, caption="Time from sending to the first DELIVRD receipt, over delivered messages."
    )


def carriers_section(sends: Source, reports: Source, moment: pd.Timestamp) -> str:
    """The carrier chart, then failures by reason (down) and carrier (across), and what the codes mean."""
    breakdown = kpi.status_breakdown(sends, reports, by="carrier", as_of=moment)
    breakdown["carrier"] = texts(breakdown[["carrier"]])["carrier"]
    sent = breakdown.groupby("carrier")["count"].sum()
    failures = breakdown[breakdown["status"].ne(_statuses.DELIVERED)]
    wide = failures.pivot_table(index="status", columns="carrier", values="count", aggfunc="sum", fill_value=0)
    order = _statuses.ordered(wide.index, wide.sum(axis=1).to_dict())
    wide = wide.reindex(order)
    wide["All carriers"] = wide.sum(axis=1)
    sent = pd.concat([sent, pd.Series({"All carriers": sent.sum()})])
    shown = pd.DataFrame({"status": wide.index})
    for carrier in wide.columns:
        column = wide[carrier].to_numpy()
        shown[carrier] = [f"{n:,} ({n / sent[carrier]:.1%})" if n else "" for n in column]
    seen = _statuses.ordered(breakdown["status"], breakdown.groupby("status")["count"].sum().to_dict())
    return page.section(
        "Delivery and failures by carrier",
        page.image(charts.plot_carrier_rates(sends, reports, as_of=moment), "Delivery rate by carrier"),
        page.table(
            shown.rename(columns={"status": "Status"}),
            numeric=list(wide.columns),
            caption="Messages not delivered, by final status and carrier (share of that carrier's sent).",
        ),
        page.table(
            pd.DataFrame(_statuses.glossary(seen).items(), columns=["Status", "What it means"]),
            caption="What the statuses seen mean.",
        ),
    )


def audit_section(sends: Source, reports: Source, expire_after: str, moment: pd.Timestamp, mask: bool) -> str:
    found = kpi.audit(sends, reports, expire_after=expire_after, as_of=moment)
    if mask:
        found["examples"] = found["examples"].str.replace(
            r"(mobile=\d{3})\d{4}(\d{4})", lambda m: f"{m.group(1)}****{m.group(2)}", regex=True
        )
    shown = found.assign(count=fmt.counts(found["count"]))[["check", "count", "what", "examples"]]
    return page.section(
        "Receipt audit",
        page.table(shown, numeric=["count"], caption="Problems in the delivery reports; 0 everywhere is clean."),
    )


def balance_section(
    ledger: LedgerLike, sends: Source, reports: Source, moment: pd.Timestamp, money: UnitPrice | None
) -> str:
    if ledger is None and not default_path().is_file():  # a report built where no campaign is sent (Spark)
        note = "No ledger here (the balance lives in the ledger of the machine that sends; give ledger=)."
        return page.section("Balance and spending", f"<p>{html.escape(note)}</p>")
    burn = balance_burn(ledger, sends, reports, as_of=moment)
    if burn.balance == burn.balance:  # not NaN
        worth = f" ({money.money(burn.balance)})" if money else ""
        forecast = f"Account balance {burn.balance:,.0f} units{worth} (all campaigns); {burn.forecast_note}."
    else:
        forecast = "No balance snapshots yet."
    spending = burn.campaigns
    shown = spending[["campaign"]].astype(str)
    for name in ("messages", "segments", "delivered"):
        shown[name] = fmt.counts(spending[name])
    for name in ("expected_cost", "spent", "gap", "cost_per_delivered"):
        shown[name] = fmt.units(spending[name])
    numeric = ["messages", "segments", "delivered", "expected_cost", "spent", "gap", "cost_per_delivered"]
    if money:
        shown[f"Expected cost ({money.currency or 'money'})"] = spending["expected_cost"].map(money.money)
        numeric.append(f"Expected cost ({money.currency or 'money'})")
    chart = page.image(charts.plot_balance(ledger, as_of=moment), "Balance") if burn.balance == burn.balance else ""
    return page.section(
        "Balance and spending",
        chart,
        f"<p>{html.escape(forecast)}</p>",
        page.table(shown, numeric=numeric, caption="Spending by campaign, in gateway units."),
    )


def definitions_section(expire_after: str) -> str:
    return page.section(
        "Definitions",
        "<p class='note'>Sent: recipients of accepted requests. Delivered: a DELIVRD report; failed: any other "
        "report; pending: no report yet (counted as no report once "
        f"{html.escape(expire_after)} have passed). Delivery rate = delivered / sent, with a Wilson 95% interval. "
        "Time to receipt: first DELIVRD report time minus send time, over delivered messages; reports timed "
        "before their send (clock skew) are counted, not used. The time-to-receipt curve is Kaplan-Meier: "
        "messages not delivered (yet) are censored at the time the report describes. Reports for msgids never "
        "sent are orphans: in the audit, never in a rate. Spend: segments x the campaign's price per segment, "
        "in the gateway's balance units.</p>",
    )
