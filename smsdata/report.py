"""One self-contained HTML report of delivery and spending, to open in any browser, mail or print.

Headline first (period, sent, delivered, failed, pending, time to receipt,
spend, the change against the period before), then the charts and tables
behind it. Charts are embedded as PNG data, styles inline: the file refers
to nothing outside itself. Mobiles in the audit examples are masked unless
``mask=False``.

The headline and :func:`build_report` are here; what the report reads by default
is :mod:`smsdata._report_inputs`, the campaign selection and masking
:mod:`smsdata._report_select`, the page sections :mod:`smsdata._report_sections`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

import pandas as pd

from . import _report_html as page
from . import charts, kpi
from ._engines import Source, accepted, narrowed
from ._kpi_options import parse_by, parse_moment
from ._money import exact
from ._renamed import renamed
from ._report_inputs import reports_of, sends_of
from ._report_sections import (
    audit_section,
    balance_section,
    carriers_section,
    definitions_section,
    delivery_table,
    latency_table,
    status_table,
    top_section,
)
from ._report_select import has_column, masked_groups, select_campaigns
from .balance import LedgerLike
from .config import DEFAULT_DATASET, UnitPrice, unit_price
from .errors import ConfigError, ReportError

__all__ = ["Headline", "build_report", "headline"]


@dataclass(frozen=True)
class Headline:
    """The numbers a manager reads first, as they stood at ``as_of``.

    Attributes:
        first_sent, last_sent: the period covered (UTC; NaT when nothing was sent).
        sent, delivered, failed, pending, no_report: recipients, as :func:`smsdata.delivery_rate`.
        delivery_rate: delivered / sent (0-1; NaN when nothing was sent).
        p50, p90: seconds from sending to the delivery receipt, over delivered messages (as
            :func:`smsdata.latency`).
        spend: gateway units: segments x the campaign's price, over accepted numbers (a
            ``Decimal``, as every amount; see :mod:`smsdata._money`).
        previous: the same numbers for the period of the same length just before
            ``first_sent`` (every campaign sent then), or ``None`` when nothing was sent then.
    """

    first_sent: pd.Timestamp
    last_sent: pd.Timestamp
    sent: int
    delivered: int
    failed: int
    pending: int
    no_report: int
    delivery_rate: float
    p50: float
    p90: float
    spend: Decimal
    previous: Headline | None = None


def headline(
    sends: Source,
    reports: Source,
    *,
    as_of: str | pd.Timestamp | None = None,
    expire_after: str = kpi.EXPIRE_AFTER,
    history: tuple[Source, Source] | None = None,
) -> Headline:
    """The headline of ``sends``: totals, time to receipt and spend, and the same for the period of
    the same length before, found in ``history`` (sends and reports; default: these).

    Returns:
        A :class:`Headline` (``previous`` is the period before's, or ``None`` when nothing was sent then).

    Raises:
        KpiError: a column is missing, or ``expire_after`` is invalid.
    """
    moment = parse_moment(as_of)
    current = _totals(sends, reports, moment, expire_after)
    if pd.isna(current.first_sent):
        return current
    earlier_sends, earlier_reports = (sends, reports) if history is None else history
    length = current.last_sent - current.first_sent
    start, end = (_literal(t) for t in (current.first_sent - length, current.first_sent))
    before = narrowed(earlier_sends, where=f"sent_at >= {start} AND sent_at < {end}")
    if length > pd.Timedelta(0) and pd.notna(accepted(before, moment).first):
        return replace(current, previous=_totals(before, earlier_reports, moment, expire_after))
    return current


def _literal(moment: pd.Timestamp) -> str:
    """A UTC moment as SQL (our own formatting of a Timestamp)."""
    return f"TIMESTAMPTZ '{moment.tz_convert('UTC').isoformat()}'"


def _totals(sends: Source, reports: Source, moment: pd.Timestamp, expire_after: str) -> Headline:
    counts = kpi.delivery_rate(sends, reports, as_of=moment, expire_after=expire_after)
    times = kpi.latency(sends, reports, as_of=moment)
    sent = accepted(sends, moment)
    row = counts.iloc[0] if len(counts) else pd.Series(dtype=float)
    return Headline(
        first_sent=sent.first,
        last_sent=sent.last,
        sent=int(row.get("sent", 0)),
        delivered=int(row.get("delivered", 0)),
        failed=int(row.get("failed", 0)),
        pending=int(row.get("pending", 0)),
        no_report=int(row.get("no_report", 0)),
        delivery_rate=float(row.get("delivery_rate", float("nan"))),
        p50=float(times["p50"].iloc[0]) if len(times) else float("nan"),
        p90=float(times["p90"].iloc[0]) if len(times) else float("nan"),
        spend=exact(sent.spend),
    )


@renamed(path="out")
def build_report(
    out: str | os.PathLike[str] = "report.html",
    *,
    sends: Source | None = None,
    reports: Source | None = None,
    ledger: LedgerLike = None,
    dataset: str | os.PathLike[str] | None = DEFAULT_DATASET,
    campaigns: Sequence[str] | None = None,
    by: str | Sequence[str] = "campaign",
    expire_after: str = kpi.EXPIRE_AFTER,
    as_of: str | pd.Timestamp | None = None,
    title: str = "SMS delivery report",
    mask: bool = True,
    price_per_unit: str | Decimal | UnitPrice | None = None,
) -> Path:
    """Write the HTML report: the headline, charts and tables of delivery, time to receipt,
    carriers and failures, the receipt audit, the balance and the definitions.

    Args:
        out: the HTML file to write (``--out`` on the command line).
        sends: :func:`smsdata.read_sends`, a warehouse path or a Spark DataFrame (default: the
            warehouse's ``dataset/sends`` once :func:`smsdata.sync_sends` has put them there,
            synced with the ledger first; else the ledger's).
        reports: :func:`smsdata.read_reports`, a warehouse path or a Spark DataFrame (default:
            ``dataset``'s reports, read out of core; no dataset yet means no reports:
            everything is pending).
        ledger: the ledger (default ``$SMSDATA_HOME/ledger.sqlite``). Given, it must exist; the
            default one missing (a report built on a Spark cluster), the balance section says so.
        dataset: the warehouse folder (default ``"warehouse"``, as every ``dataset``);
            ``None``: no dataset, so no reports.
        campaigns: only these campaigns (default: all): their sends, their reports, their
            spending (the balance chart stays the account's, and says so).
        by: what the tables and charts are grouped by: ``"campaign"``, ``"carrier"``, a
            customer column kept with ``plan_campaign(keep=[...])`` such as ``"city"``.
        expire_after: no report this long after sending counts as ``no_report``.
        as_of: the moment the report describes (default: now; naive means UTC).
        title: the page title.
        mask: mask mobiles in the audit examples and in groups that are phone
            numbers (``138****8000``). ``True`` by default, as in :func:`smsdata.export`:
            phone numbers are personal data and a report gets forwarded.
        price_per_unit: money per gateway unit (``"0.045 CNY"``), to show spend as money too
            (default ``SMSDATA_UNIT_PRICE``; unset: units only).

    Returns:
        The path written.

    Raises:
        ReportError: nothing was sent (by ``as_of``), a campaign named does not exist,
            ``by`` names nothing, or the file cannot be written.
        LedgerError: the ``ledger`` given does not exist (none is created), or it cannot be read.
        KpiError, IngestError, ConfigError: from reading or judging the inputs, a ``by`` column
            the sends lack, or a ``title`` or ``campaigns`` that is not text (or a list of texts).
    """
    moment = parse_moment(as_of)
    if not parse_by(by):
        raise ReportError(f"by={by!r}: the report needs a column to group by, such as 'campaign'")
    if not isinstance(title, str):
        raise ConfigError(f"title must be a text, not {title!r}")
    if (
        campaigns is not None
        and not isinstance(campaigns, str)
        and not (pd.api.types.is_list_like(campaigns) and all(isinstance(c, str) for c in campaigns))
    ):
        raise ConfigError(f"campaigns must be a campaign's name or a list of them, not {campaigns!r}")
    money = UnitPrice.parse(price_per_unit) if price_per_unit is not None else unit_price()
    if sends is None:
        sends = sends_of(ledger, dataset)
    missing = None
    if reports is None:
        reports, missing = reports_of(dataset)
    everything = (sends, reports)
    if campaigns is not None:
        sends, reports = select_campaigns(campaigns, sends, reports)
    top = headline(sends, reports, as_of=moment, expire_after=expire_after, history=everything)
    if top.sent == 0:
        raise ReportError(_nothing_sent(campaigns, moment, as_of is not None))
    names = by if isinstance(by, str) else ", ".join(by)
    if mask:
        sends = masked_groups(sends, parse_by(by))
    options = {"by": by, "as_of": moment}
    sections = [
        top_section(title, sends, top, moment, money, missing),
        page.section(
            "Delivery rate over time",
            page.image(charts.plot_delivery_rate(sends, reports, **options), "Delivery rate over time"),
            delivery_table(sends, reports, by, expire_after, moment),
        ),
        page.section(
            f"Final status by {names}",
            page.image(charts.plot_status_breakdown(sends, reports, **options), "Final status"),
            status_table(sends, reports, by, moment),
        ),
        page.section(
            "Time to delivery receipt",
            page.image(charts.plot_latency(sends, reports, **options), "Time to delivery receipt"),
            latency_table(sends, reports, by, moment),
        ),
    ]
    if has_column(sends, "carrier"):
        sections.append(carriers_section(sends, reports, moment))
    sections += [
        audit_section(sends, reports, expire_after, moment, mask),
        balance_section(ledger, sends, reports, moment, money),
        definitions_section(expire_after),
    ]
    target = Path(out)
    try:
        target.write_text(page.page(title, sections), encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot write the report to {target}: {exc.strerror or exc}") from None
    return target


def _nothing_sent(campaigns: Sequence[str] | None, moment: pd.Timestamp, dated: bool) -> str:
    which = f" of campaign {', '.join(map(repr, campaigns))}" if campaigns else ""
    when = f" by {moment:%Y-%m-%d %H:%M} UTC" if dated else " yet"
    return f"nothing to report: no message{which} was accepted by the gateway{when}"
