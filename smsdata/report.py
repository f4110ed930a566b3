"""One self-contained HTML report of delivery and spending, to open in any browser, mail or print.

Headline first (period, sent, delivered, failed, pending, time to receipt,
spend, the change against the period before), then the charts and tables
behind it. Charts are embedded as PNG data, styles inline: the file refers
to nothing outside itself. Mobiles in the audit examples are masked unless
``mask=False``.
"""

from __future__ import annotations

import html
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

import pandas as pd

from . import _formats as fmt
from . import _report_html as page
from . import _statuses, charts, kpi
from ._axes import duration_words, texts
from ._engines import Source, accepted, narrowed, quote_name, tables
from ._formats import delivery_for_people, latency_for_people
from ._kpi_options import parse_by, parse_moment
from ._money import exact
from ._renamed import renamed
from .balance import LedgerLike, balance_burn
from .config import DEFAULT_DATASET, UnitPrice, default_tz, unit_price
from .errors import IngestError, ReportError
from .ledger import using_ledger

__all__ = ["Headline", "build_report", "headline"]

log = logging.getLogger("smsdata.report")

_TOP_STATUSES = 7


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
        ledger: the ledger (default ``$SMSDATA_HOME/ledger.sqlite``); it must exist.
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
        ReportError: nothing was sent (by ``as_of``), a campaign named does not exist, or
            the file cannot be written.
        LedgerError: there is no ledger (none is created), or it cannot be read.
        KpiError, IngestError, ConfigError: from reading or judging the inputs.
    """
    moment = parse_moment(as_of)
    money = UnitPrice.parse(price_per_unit) if price_per_unit is not None else unit_price()
    if sends is None:
        sends = _sends_of(ledger, dataset)
    missing = None
    if reports is None:
        reports, missing = _reports_of(dataset)
    everything = (sends, reports)
    if campaigns is not None:
        sends, reports = select_campaigns(campaigns, sends, reports)
    top = headline(sends, reports, as_of=moment, expire_after=expire_after, history=everything)
    if top.sent == 0:
        raise ReportError(_nothing_sent(campaigns, moment, as_of is not None))
    names = by if isinstance(by, str) else ", ".join(by)
    if mask:
        sends = _masked_groups(sends, parse_by(by))
    options = {"by": by, "as_of": moment}
    sections = [
        _top(title, sends, top, moment, money, missing),
        page.section(
            "Delivery rate over time",
            page.image(charts.plot_delivery_rate(sends, reports, **options), "Delivery rate over time"),
            _delivery_table(sends, reports, by, expire_after, moment),
        ),
        page.section(
            f"Final status by {names}",
            page.image(charts.plot_status_breakdown(sends, reports, **options), "Final status"),
            _status_table(sends, reports, by, moment),
        ),
        page.section(
            "Time to delivery receipt",
            page.image(charts.plot_latency(sends, reports, **options), "Time to delivery receipt"),
            _latency_table(sends, reports, by, moment),
        ),
    ]
    if _has_column(sends, "carrier"):
        sections.append(_carriers(sends, reports, moment))
    sections += [
        _audit(sends, reports, expire_after, moment, mask),
        _balance(ledger, sends, reports, moment, money),
        _definitions(expire_after),
    ]
    target = Path(out)
    try:
        target.write_text(page.page(title, sections), encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot write the report to {target}: {exc.strerror or exc}") from None
    return target


def select_campaigns(campaigns: Sequence[str], sends: Source, reports: Source) -> tuple[Source, Source]:
    """The sends of ``campaigns`` and their reports: those of their msgids, and reports of msgids
    no campaign sent for those campaigns' unknown requests' numbers (the audit's evidence).

    Frames give frames; a warehouse path or a Spark DataFrame gives a :class:`Selected` of it,
    cut where it lives when a KPI reads it.

    Raises:
        ReportError: a campaign named is not in ``sends``.
    """
    campaigns = [campaigns] if isinstance(campaigns, str) else list(campaigns)
    known = set(_campaign_names(sends))
    missing = [name for name in campaigns if name not in known]
    if missing:
        listed = ", ".join(sorted(known)[:20]) or "none"
        raise ReportError(f"no campaign named {', '.join(map(repr, missing))} (campaigns in the ledger: {listed})")
    if isinstance(sends, pd.DataFrame) and isinstance(reports, pd.DataFrame):
        asked = sends[sends["campaign"].isin(list(campaigns))]
        unknown = asked.loc[asked["state"].eq("unknown"), "mobile"]
        theirs = reports["msgid"].isin(asked["msgid"].dropna())
        evidence = ~reports["msgid"].isin(sends["msgid"].dropna()) & reports["mobile"].isin(unknown)
        return asked, reports[theirs | evidence]
    names = ", ".join("'" + name.replace("'", "''") + "'" for name in campaigns)
    asked = f"SELECT {{}} FROM sends_all WHERE campaign IN ({names})"  # noqa: S608 (names quoted above)
    unsent = "msgid NOT IN (SELECT msgid FROM sends_all WHERE msgid IS NOT NULL)"
    unknown = asked.format("mobile") + " AND state = 'unknown'"
    evidence = "msgid IN (" + asked.format("msgid") + ") OR (" + unsent + " AND mobile IN (" + unknown + "))"
    return narrowed(sends, where=f"campaign IN ({names})", uses=("campaign",)), narrowed(reports, where=evidence)


def _campaign_names(sends: Source) -> list[str]:
    """The campaigns in ``sends``, sorted, read where it lives."""
    if isinstance(sends, pd.DataFrame):
        return sorted(sends["campaign"].dropna().unique().astype(str))
    with tables(sends, None, sends_columns=["campaign"], reports_columns=[]) as opened:
        found = opened.query("SELECT DISTINCT campaign FROM sends WHERE campaign IS NOT NULL", {})
    return sorted(found["campaign"].astype(str))


def _has_column(sends: Source, name: str) -> bool:
    if isinstance(sends, pd.DataFrame):
        return name in sends.columns
    with tables(sends, None, sends_columns=["state"], reports_columns=[]) as opened:
        return name in opened.columns("sends")


def _masked_groups(sends: Source, groups: Sequence[str]) -> Source:
    """``sends`` with group values that look like phone numbers masked (``138****8000``), each
    distinct number still its own group (``138****8000 #2`` when two mask alike)."""
    if not groups:
        return sends
    if not isinstance(sends, pd.DataFrame):
        # as below: a column with no phone-like value stays as it is (and keeps its type)
        with tables(sends, None, sends_columns=groups, reports_columns=[]) as opened:
            listed = ", ".join(f"bool_or({_phone_like_sql(c)}) AS {quote_name(c)}" for c in groups)
            found = opened.query(f"SELECT {listed} FROM sends", {})  # noqa: S608 (our quoting)
        phones = [c for c in groups if found[c].fillna(False).astype(bool).any()]
        return narrowed(sends, computed=tuple((c, _mask_sql(c)) for c in phones), uses=tuple(phones))
    out = sends.copy()
    for column in groups:
        values = pd.Series(out[column].dropna().unique())
        text = values.astype(str)
        numbers = text.str.fullmatch(r"\+?\d{7,15}")
        if not numbers.any():
            continue
        masked = text.where(~numbers, text.str.replace(r"^(\+?\d{3})\d*(\d{4})$", r"\1****\2", regex=True))
        repeat = masked.groupby(masked).cumcount()
        masked = masked.where(repeat == 0, masked + " #" + (repeat + 1).astype(str))
        out[column] = out[column].map(dict(zip(values, masked, strict=True)))
    return out


def _text_sql(column: str) -> str:
    return f"CAST({quote_name(column)} AS VARCHAR)"


def _phone_like_sql(column: str) -> str:
    """SQL: the value looks like a phone number (``+`` and 7 to 15 digits), as :func:`_masked_groups` tests."""
    value = _text_sql(column)
    digits = f"CASE WHEN starts_with({value}, '+') THEN substr({value}, 2) ELSE {value} END"
    return (
        f"(TRY_CAST({digits} AS BIGINT) IS NOT NULL AND {digits} NOT LIKE '%-%' AND length({digits}) BETWEEN 7 AND 15)"
    )


def _mask_sql(column: str) -> str:
    """:func:`_masked_groups` as SQL for a table where it lives; alike masks are told apart by the
    rank of the number among them."""
    value, number = _text_sql(column), _phone_like_sql(column)
    head = f"CASE WHEN starts_with({value}, '+') THEN left({value}, 4) ELSE left({value}, 3) END"
    masked = f"{head} || '****' || right({value}, 4)"
    rank = f"dense_rank() OVER (PARTITION BY CASE WHEN {number} THEN {masked} END ORDER BY {value})"
    suffix = f"CASE WHEN {rank} > 1 THEN ' #' || CAST({rank} AS VARCHAR) ELSE '' END"
    return f"CASE WHEN {number} THEN {masked} || {suffix} ELSE {value} END"


def _nothing_sent(campaigns: Sequence[str] | None, moment: pd.Timestamp, dated: bool) -> str:
    which = f" of campaign {', '.join(map(repr, campaigns))}" if campaigns else ""
    when = f" by {moment:%Y-%m-%d %H:%M} UTC" if dated else " yet"
    return f"nothing to report: no message{which} was accepted by the gateway{when}"


def _local(moment: pd.Timestamp, zone: str) -> str:
    return f"{moment.tz_convert(zone):%Y-%m-%d %H:%M}"


def _sends_of(ledger: LedgerLike, dataset: str | os.PathLike[str] | None) -> Source:
    """The warehouse's sends when ``sync_sends`` put them there (brought up to date with the
    ledger first, when there is one), else the ledger's, as a frame."""
    from .ledger import default_path
    from .sync import sync_sends

    folder = Path(dataset) / "sends" if dataset is not None else None
    if folder is None or next(folder.rglob("*.parquet"), None) is None:
        with using_ledger(ledger, create=False) as opened:
            return opened.sends()
    if ledger is not None or default_path().is_file():
        try:
            sync_sends(dataset, ledger=ledger)
        except IngestError as exc:  # another sync is writing it, or it is read-only: report what is there
            log.warning("the report reads the warehouse's sends as they are: %s", exc)
    return folder


def _reports_of(dataset: str | os.PathLike[str] | None) -> tuple[Source, str | None]:
    """The warehouse's reports as a path (the KPIs read them out of core), or none and why."""
    from .ingest import no_reports

    missing = missing_dataset(dataset)
    if missing:
        return no_reports(), missing
    folder = Path(dataset) / "reports"
    return (folder, None) if next(folder.rglob("*.parquet"), None) is not None else (no_reports(), None)


def reports_or_none(dataset: str | os.PathLike[str] | None = DEFAULT_DATASET) -> tuple[pd.DataFrame, str | None]:
    """The dataset's reports, or none and why (no dataset there: nothing received or ingested yet,
    or a mistyped path), to say so wherever the numbers are shown."""
    from .ingest import no_reports, read_reports

    missing = missing_dataset(dataset)
    return (no_reports(), missing) if missing else (read_reports(dataset), None)


def missing_dataset(dataset: str | os.PathLike[str] | None = DEFAULT_DATASET) -> str | None:
    """Why no reports can be read from ``dataset`` (none given, or no folder there), or ``None``."""
    if dataset is None:
        return "no dataset given: no delivery reports were read"
    if not Path(dataset).is_dir():
        return (
            f"no dataset at {str(dataset)!r}: no delivery reports were read, so every message counts as "
            "pending (ingest reports with `smsdata ingest`, or give the right --dataset)"
        )
    return None


def _top(
    title: str, sends: Source, top: Headline, moment: pd.Timestamp, money: UnitPrice | None, missing: str | None
) -> str:
    """The title, what the report covers, a warning when no reports were read, and the headline cards."""
    zone = default_tz()
    names = _campaign_names(sends)
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


def _delivery_table(
    sends: Source, reports: Source, by: str | Sequence[str], expire_after: str, moment: pd.Timestamp
) -> str:
    rates = kpi.delivery_rate(sends, reports, by=by, expire_after=expire_after, as_of=moment)
    shown, numeric = delivery_for_people(rates, parse_by(by))
    return page.table(shown, numeric=numeric)


def _status_table(sends: Source, reports: Source, by: str | Sequence[str], moment: pd.Timestamp) -> str:
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


def _latency_table(sends: Source, reports: Source, by: str | Sequence[str], moment: pd.Timestamp) -> str:
    shown, numeric = latency_for_people(kpi.latency(sends, reports, by=by, as_of=moment), parse_by(by))
    return page.table(
        shown, numeric=numeric, caption="Time from sending to the first DELIVRD receipt, over delivered messages."
    )


def _carriers(sends: Source, reports: Source, moment: pd.Timestamp) -> str:
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


def _audit(sends: Source, reports: Source, expire_after: str, moment: pd.Timestamp, mask: bool) -> str:
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


def _balance(ledger: LedgerLike, sends: Source, reports: Source, moment: pd.Timestamp, money: UnitPrice | None) -> str:
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


def _definitions(expire_after: str) -> str:
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
