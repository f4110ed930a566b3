"""One self-contained HTML report of delivery and spending, to open in any browser or mail on.

The charts are embedded as PNG data, the styles inline: the file refers to
nothing outside itself. Mobiles in the audit examples are masked unless
``mask=False``.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from . import charts, kpi
from .balance import LedgerLike, balance_burn
from .config import default_tz
from .errors import SmsdataError
from .ledger import using_ledger

__all__ = ["build_report"]

_STYLE = """
body { font-family: -apple-system, "Segoe UI", Roboto, "Noto Sans SC", sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; padding: 0 1em; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
.meta { color: #666; } table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; } th { background: #f4f4f4; }
td:first-child, th:first-child { text-align: left; } img { max-width: 100%; }
.note { color: #555; font-size: 0.85em; }
"""


def build_report(
    path: str | os.PathLike[str] = "report.html",
    *,
    sends: pd.DataFrame | None = None,
    reports: pd.DataFrame | None = None,
    ledger: LedgerLike = None,
    dataset: str | os.PathLike[str] | None = "warehouse",
    campaigns: Sequence[str] | None = None,
    by: str | Sequence[str] = "campaign",
    expire_after: str = kpi.EXPIRE_AFTER,
    as_of: str | pd.Timestamp | None = None,
    title: str = "SMS delivery report",
    mask: bool = True,
) -> Path:
    """Write the HTML report: KPI tables, the audit, the balance and five charts.

    Args:
        path: the HTML file to write.
        sends: :func:`smsdata.read_sends` (default: read from ``ledger``).
        reports: :func:`smsdata.read_reports` (default: read from ``dataset``;
            no dataset yet means no reports: everything is pending).
        ledger: the ledger (default ``$SMSDATA_HOME/ledger.sqlite``).
        dataset: the reports dataset folder.
        campaigns: only these campaigns (default: all): their sends, their reports, their
            spending (the balance chart stays the account's, and says so).
        expire_after: no report this long after sending counts as ``no_report``.
        as_of: the moment the report describes (default: now).
        by: what the tables and charts are grouped by: ``"campaign"``, ``"carrier"``, a
            customer column kept with ``plan_campaign(keep=[...])`` such as ``"city"``.
        title: the page title.
        mask: mask mobiles in the audit examples (``138****8000``).

    Returns:
        The path written.

    Raises:
        SmsdataError: the report cannot be written (or a KpiError, IngestError
            or LedgerError from reading its inputs).
    """
    from .ingest import no_reports, read_reports

    moment = kpi._moment(as_of)
    if sends is None:
        with using_ledger(ledger) as opened:
            sends = opened.sends()
    if reports is None:
        has_data = dataset is not None and Path(dataset).is_dir()
        reports = read_reports(dataset) if has_data else no_reports()
    if campaigns is not None:
        sends, reports = _only(campaigns, sends, reports)
    sections = [
        _header(title, sends, reports, moment),
        _summary(sends, reports, by, expire_after, moment),
        _chart("Delivery rate over time", charts.plot_delivery_rate(sends, reports, by=by, as_of=moment)),
        _chart("Final status", charts.plot_status_breakdown(sends, reports, by=by, as_of=moment)),
        _table(
            f"Final status by {by if isinstance(by, str) else ', '.join(by)}",
            _percent(kpi.status_breakdown(sends, reports, by=by, as_of=moment), ["share"]),
        ),
        _chart("Time to delivery receipt", charts.plot_latency(sends, reports, by=by, as_of=moment)),
        _table("Latency of delivered messages (seconds)", kpi.latency(sends, reports, by=by, as_of=moment).round(1)),
    ]
    if "carrier" in sends.columns:
        sections.append(_chart("Delivery rate by carrier", charts.plot_carrier_rates(sends, reports, as_of=moment)))
    sections += [
        _audit(sends, reports, expire_after, moment, mask),
        _balance(ledger, sends, reports, moment),
        _definitions(),
    ]
    document = (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>\n"
        + "\n".join(sections)
        + "\n</body></html>\n"
    )
    target = Path(path)
    try:
        target.write_text(document, encoding="utf-8")
    except OSError as exc:
        raise SmsdataError(f"cannot write the report to {target}: {exc.strerror or exc}") from exc
    return target


def _only(campaigns: Sequence[str], sends: pd.DataFrame, reports: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sends of ``campaigns`` and their reports: those of their msgids, and reports of msgids
    no campaign sent for those campaigns' unknown requests' numbers (the audit's evidence)."""
    asked = sends[sends["campaign"].isin(list(campaigns))]
    unknown = asked.loc[asked["state"].eq("unknown"), "mobile"]
    theirs = reports["msgid"].isin(asked["msgid"].dropna())
    evidence = ~reports["msgid"].isin(sends["msgid"].dropna()) & reports["mobile"].isin(unknown)
    return asked, reports[theirs | evidence]


def _header(title: str, sends: pd.DataFrame, reports: pd.DataFrame, moment: pd.Timestamp) -> str:
    zone = default_tz()
    names = ", ".join(sorted(sends["campaign"].dropna().unique().astype(str)))
    return (
        f"<h1>{html.escape(title)}</h1><p class='meta'>As of {moment.tz_convert(zone):%Y-%m-%d %H:%M} ({zone}); "
        f"{len(sends):,} recipients planned or sent, {len(reports):,} delivery reports. "
        f"Campaigns: {html.escape(names) or 'none'}.</p>"
    )


def _summary(
    sends: pd.DataFrame, reports: pd.DataFrame, by: str | Sequence[str], expire_after: str, moment: pd.Timestamp
) -> str:
    rates = kpi.delivery_rate(sends, reports, by=by, expire_after=expire_after, as_of=moment)
    return _table(
        f"Delivery by {by if isinstance(by, str) else ', '.join(by)} "
        f"(no report {expire_after} after sending counted as no_report)",
        _percent(rates, ["delivery_rate", "ci_low", "ci_high"]),
    )


def _audit(sends: pd.DataFrame, reports: pd.DataFrame, expire_after: str, moment: pd.Timestamp, mask: bool) -> str:
    table = kpi.audit(sends, reports, expire_after=expire_after, as_of=moment)
    if mask:
        table["examples"] = table["examples"].str.replace(
            r"(mobile=\d{3})\d{4}(\d{4})", lambda m: f"{m.group(1)}****{m.group(2)}", regex=True
        )
    return _table("Receipt audit", table)


def _balance(ledger: LedgerLike, sends: pd.DataFrame, reports: pd.DataFrame, moment: pd.Timestamp) -> str:
    burn = balance_burn(ledger, sends, reports, as_of=moment)
    if burn.balance == burn.balance:  # not NaN
        forecast = f"Account balance {burn.balance:,.0f} (all campaigns); {burn.forecast_note}."
    else:
        forecast = "No balance snapshots yet."
    return (
        _chart("Balance", charts.plot_balance(ledger, as_of=moment))
        + f"<p>{html.escape(forecast)}</p>"
        + _table("Spending by campaign (gateway units)", burn.campaigns.round(3))
    )


def _definitions() -> str:
    return (
        "<h2>Definitions</h2><p class='note'>Sent: recipients of accepted requests. Delivered: a DELIVRD report; "
        "failed: any other report; pending: no report yet (no_report: none for longer than the limit). Delivery rate "
        "= delivered / sent, with a Wilson 95% interval. Latency: first DELIVRD report time minus send time, over "
        "delivered messages; negative latencies (clock skew) are counted, not used. Time to receipt: Kaplan-Meier, "
        "messages not delivered (yet) censored at the time the report describes. Reports for msgids never sent "
        "are orphans: in the audit, never in a rate.</p>"
    )


def _percent(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    out = frame.copy()
    for name in columns:
        out[name] = (out[name] * 100).round(1).astype(str) + "%"
    return out


def _table(heading: str, frame: pd.DataFrame) -> str:
    body = frame.to_html(index=False, border=0, na_rep="", escape=True) if len(frame) else "<p>None.</p>"
    return f"<h2>{html.escape(heading)}</h2>\n{body}"


def _chart(heading: str, figure: object) -> str:
    buffer = io.BytesIO()
    # No metadata: matplotlib would otherwise stamp its own URL into the file.
    figure.savefig(buffer, format="png", dpi=96, metadata={"Software": None})  # type: ignore[attr-defined]
    data = base64.b64encode(buffer.getvalue()).decode()
    return f"<h2>{html.escape(heading)}</h2>\n<img alt='{html.escape(heading)}' src='data:image/png;base64,{data}'>"
