"""KPI tables written for people, in the same words in the HTML report and the terminal.

Readable headers (``Delivery rate``, not ``delivery_rate``), thousands
separators, percentages, durations in words (``1 min 5 s``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import pandas as pd

from ._axes import duration_words, texts

HEADERS = {
    "campaign": "Campaign",
    "carrier": "Carrier",
    "sent": "Sent",
    "delivered": "Delivered",
    "failed": "Failed",
    "pending": "Pending",
    "no_report": "No report",
    "open": "Window open",
    "delivery_rate": "Delivery rate",
    "interval": "95% interval",
    "count": "Count",
    "p50": "p50",
    "p90": "p90",
    "p99": "p99",
    "mean": "Mean",
    "skewed": "Clock skew",
    "period": "Sent in period (local start)",
    "messages": "Numbers",
    "segments": "Segments",
    "expected_cost": "Expected cost (units)",
    "spent": "Balance spent (units)",
    "gap": "Gap (units)",
    "cost_per_delivered": "Units per delivered",
    "check": "Check",
    "what": "What it means",
    "examples": "Examples",
}


def header(name: object) -> str:
    """A column name as a table header: ours in words, a customer's column as it is."""
    text = str(name)
    return HEADERS.get(text, text)


def counts(values: pd.Series) -> pd.Series:
    """Whole numbers with thousands separators (``12,345``)."""
    return values.map(lambda v: f"{int(v):,}" if pd.notna(v) else "")


def percents(values: pd.Series) -> pd.Series:
    """Fractions as percentages with one decimal (``91.2%``)."""
    return values.map(lambda v: f"{v:.1%}" if pd.notna(v) else "")


def durations(values: pd.Series) -> pd.Series:
    """Seconds in words (``1 min 5 s``)."""
    return values.map(lambda v: duration_words(float(v)) if pd.notna(v) else "")


def units(values: pd.Series) -> pd.Series:
    """Gateway units, to two decimals where they have any (``1,250`` or ``1.25``)."""
    return values.map(lambda v: "" if pd.isna(v) else f"{v:,.0f}" if float(v).is_integer() else f"{v:,.2f}")


def interval(low: pd.Series, high: pd.Series) -> pd.Series:
    """A 95% interval as ``89.1-93.0%``."""
    return pd.Series(
        [f"{lo:.1%} – {hi:.1%}" if pd.notna(lo) else "" for lo, hi in zip(low, high, strict=True)], index=low.index
    )


def delivery_for_people(rates: pd.DataFrame, groups: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """:func:`smsdata.delivery_rate`'s table as text, and its numeric columns."""
    shown = _keys(rates, groups)
    numeric = ["sent", "delivered", "failed", "pending", "no_report", *(["open"] if "open" in rates else [])]
    for name in numeric:
        shown[name] = counts(rates[name])
    shown["delivery_rate"] = percents(rates["delivery_rate"])
    shown["interval"] = interval(rates["ci_low"], rates["ci_high"])
    return shown, [*numeric, "delivery_rate", "interval"]


def latency_for_people(times: pd.DataFrame, groups: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """:func:`smsdata.latency`'s table as text, and its numeric columns."""
    shown = _keys(times, groups)
    shown["delivered"] = counts(times["count"])
    for name in ("p50", "p90", "p99", "mean"):
        shown[name] = durations(times[name])
    shown["skewed"] = counts(times["skewed"])
    return shown, ["delivered", "p50", "p90", "p99", "mean", "skewed"]


def _width(text: str) -> int:
    """Columns ``text`` takes in a terminal: Chinese characters (wide) take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int, *, right: bool) -> str:
    space = " " * (width - _width(text))
    return space + text if right else text + space


def _keys(frame: pd.DataFrame, groups: Sequence[str]) -> pd.DataFrame:
    """The group columns as text, and the period (if any) as its local start (``2026-11-23 09:00``)."""
    keys = texts(frame[list(groups)])
    if "period" in frame:
        keys["period"] = frame["period"].map(lambda p: f"{p:%Y-%m-%d %H:%M}")
    return keys


def as_text(frame: pd.DataFrame, numeric: Sequence[str]) -> str:
    """A text table for a terminal: headers in words, numbers right-aligned, text left-aligned."""
    if frame.empty:
        return "(none)"
    right = set(numeric)
    columns = [[header(name), *frame[name].map(lambda v: "" if pd.isna(v) else str(v))] for name in frame.columns]
    widths = [max(map(_width, column)) for column in columns]
    lines = []
    for row in zip(*columns, strict=True):
        cells = [
            _pad(cell, width, right=name in right) for cell, width, name in zip(row, widths, frame.columns, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
