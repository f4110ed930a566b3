"""Charts of delivery and spending, one function each; each returns a matplotlib Figure.

Every function takes an optional ``ax`` to draw into (then returns its
figure); without one it makes a new Figure (not registered with pyplot, so
nothing leaks between notebook cells) that Jupyter shows inline. Titles
and axes carry units; legends move outside the plot when there are many
groups, so 30 campaigns stay readable.

>>> sms.charts.plot_delivery_rate(sends, reports)  # doctest: +SKIP
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from . import kpi
from .balance import LedgerLike, _forecast, balance_history
from .config import default_tz

__all__ = ["plot_balance", "plot_carrier_rates", "plot_delivery_rate", "plot_latency", "plot_status_breakdown"]

_LEGEND_INSIDE = 8


class ChartFigure(Figure):
    """A matplotlib Figure that Jupyter shows by itself (no pyplot, no ``%matplotlib`` needed)."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=96)
        return buffer.getvalue()


def _axes(ax: Axes | None, width: float = 9.0, height: float = 4.5) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax  # type: ignore[return-value]
    figure = ChartFigure(figsize=(width, height), layout="constrained")
    return figure, figure.add_subplot()


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _legend(ax: Axes, n: int, title: str | None = None) -> None:
    if n == 0:
        return
    if n <= _LEGEND_INSIDE:
        ax.legend(title=title, fontsize="small")
    else:
        ax.legend(
            title=title,
            fontsize="x-small",
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            ncol=math.ceil(n / 25),
            frameon=False,
        )


def _label(key: Any) -> str:
    return " / ".join(map(str, key)) if isinstance(key, tuple) else str(key)


def _empty(ax: Axes, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="grey")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_delivery_rate(
    sends: pd.DataFrame,
    reports: pd.DataFrame,
    *,
    by: str | Sequence[str] | None = None,
    freq: str = "D",
    within: str | pd.Timedelta | None = None,
    as_of: str | pd.Timestamp | None = None,
    tz: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Delivery rate per send period, one line per group, with Wilson 95% bands.

    Raises:
        KpiError: a column is missing or ``freq`` is unknown.
    """
    rates = kpi.delivery_rate(sends, reports, by=by, freq=freq, within=within, as_of=as_of, tz=tz)
    figure, ax = _axes(ax)
    groups = kpi._columns(by)
    series = list(rates.groupby(groups, sort=True)) if groups else [("all", rates)] * (not rates.empty)
    for (key, frame), color in zip(series, _colors(len(series)), strict=True):
        ax.plot(frame["period"], frame["delivery_rate"], marker="o", ms=3, color=color, label=_label(key))
        ax.fill_between(frame["period"], frame["ci_low"], frame["ci_high"], color=color, alpha=0.15, linewidth=0)
    if rates.empty:
        _empty(ax, "nothing sent")
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("delivered / sent (%)")
    ax.set_xlabel(f"send {kpi.FREQ_NAMES[freq]} ({kpi._zone(tz)})")
    ax.set_title("Delivery rate over time (bands: 95% interval)")
    ax.grid(alpha=0.3)
    ax.tick_params(axis="x", labelrotation=30)
    _legend(ax, len(series) if groups else 0)
    return figure


def plot_status_breakdown(
    sends: pd.DataFrame,
    reports: pd.DataFrame,
    *,
    by: str | Sequence[str] | None = None,
    within: str | pd.Timedelta | None = None,
    as_of: str | pd.Timestamp | None = None,
    top: int = 7,
    ax: Axes | None = None,
) -> Figure:
    """Final status of the sent messages as stacked horizontal bars, one bar per group.

    The ``top`` most frequent statuses keep their own colour (carrier codes as
    they came); the rest are summed as ``other``.

    Raises:
        KpiError: a column is missing.
    """
    breakdown = kpi.status_breakdown(sends, reports, by=by, within=within, as_of=as_of)
    groups = kpi._columns(by)
    if not groups:
        breakdown = breakdown.assign(group="all")
        groups = ["group"]
    keys = breakdown[groups].astype(str).agg(" / ".join, axis=1)
    totals = breakdown.groupby("status")["count"].sum().sort_values(ascending=False)
    keep = [s for s in dict.fromkeys(["DELIVRD", *totals.index]) if s in totals.index][:top]
    status = breakdown["status"].where(breakdown["status"].isin(keep), "other")
    table = breakdown.assign(key=keys, status=status).pivot_table(
        index="key", columns="status", values="share", aggfunc="sum", fill_value=0.0, sort=True
    )
    table = table[[s for s in [*keep, "other"] if s in table.columns]]
    figure, ax = _axes(ax, height=max(3.0, 0.32 * len(table) + 1.8))
    left = np.zeros(len(table))
    for name, color in zip(table.columns, _colors(len(table.columns)), strict=True):
        ax.barh(table.index, table[name], left=left, color=color, label=name, height=0.7)
        left += table[name].to_numpy()
    if table.empty:
        _empty(ax, "nothing sent")
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("share of sent messages (%)")
    ax.set_title("Final status of sent messages")
    ax.tick_params(axis="y", labelsize="small" if len(table) > 15 else "medium")
    ax.legend(title="status", fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return figure


def plot_latency(
    sends: pd.DataFrame,
    reports: pd.DataFrame,
    *,
    by: str | Sequence[str] | None = None,
    as_of: str | pd.Timestamp | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Time to receipt: the Kaplan-Meier share delivered against minutes after sending, per group.

    Pending messages are censored at ``as_of`` (default now), so a campaign
    still in progress is not drawn too fast. Dots mark each group's median
    (p50) and p90 latency among delivered messages.

    Raises:
        KpiError: a column is missing.
    """
    curves = kpi.time_to_receipt(sends, reports, by=by, as_of=as_of)
    marks = kpi.latency(sends, reports, by=by, as_of=as_of)
    groups = kpi._columns(by)
    figure, ax = _axes(ax)
    series = list(curves.groupby(groups, sort=True)) if groups else [("all", curves)]
    quantiles = {
        tuple(row[: len(groups)]): row[len(groups) :]
        for row in marks[[*groups, "p50", "p90"]].itertuples(index=False, name=None)
    }
    for (key, frame), color in zip(series, _colors(len(series)), strict=True):
        minutes = np.concatenate([[0.0], frame["seconds"].to_numpy() / 60])
        share = np.concatenate([[0.0], frame["delivered_share"].to_numpy()])
        ax.step(minutes, share, where="post", color=color, label=_label(key))
        marked = quantiles.get(key if isinstance(key, tuple) else (key,), (np.nan, np.nan)) if groups else quantiles[()]
        for value, marker in zip(marked, ("o", "s"), strict=True):
            if np.isfinite(value):
                at = np.searchsorted(minutes, value / 60, side="right") - 1
                ax.plot([value / 60], [share[max(at, 0)]], marker=marker, color=color, ms=4, linestyle="none")
    if curves.empty:
        _empty(ax, "nothing delivered yet")
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("minutes after sending (log scale beyond 1)")
    ax.set_ylabel("delivered (%)")
    ax.set_title("Time to delivery receipt (Kaplan-Meier; ● p50, ■ p90 of delivered)")
    ax.grid(alpha=0.3)
    _legend(ax, len(series) if groups else 0)
    return figure


def plot_balance(
    ledger: LedgerLike = None, *, as_of: str | pd.Timestamp | None = None, tz: str | None = None, ax: Axes | None = None
) -> Figure:
    """Balance snapshots over time, and the straight line to zero at the recent burn, when the
    snapshots are enough for a forecast (see :class:`smsdata.balance.Forecast`)."""
    now = kpi._moment(as_of)
    zone = tz or default_tz()
    history = balance_history(ledger)
    history = history[history["at"] <= now]
    forecast = _forecast(history, now, zone)
    balance, burn, runs_out = forecast.balance, forecast.burn_per_day, forecast.runs_out
    figure, ax = _axes(ax)
    local = history["at"].dt.tz_convert(zone)
    ax.step(local, history["value"], where="post", marker=".", label="balance")
    if pd.notna(runs_out) and len(history):
        ax.plot([now.tz_convert(zone), runs_out], [balance, 0], linestyle="--", color="tab:red")
        ax.annotate(
            f"runs out ~{runs_out:%Y-%m-%d}\n({burn:,.0f}/day, recent average)",
            (runs_out, 0),
            xytext=(-10, 20),
            textcoords="offset points",
            ha="right",
            fontsize="small",
            color="tab:red",
        )
    if history.empty:
        _empty(ax, "no balance snapshots yet")
    elif pd.isna(runs_out):
        ax.annotate(
            "no forecast: not enough history yet", (0.02, 0.04), xycoords="axes fraction", fontsize="small", color="0.4"
        )
    ax.set_ylim(bottom=0)
    ax.set_ylabel("balance (gateway units)")
    ax.set_xlabel(f"time ({zone})")
    ax.set_title("Balance and burn forecast")
    ax.grid(alpha=0.3)
    ax.tick_params(axis="x", labelrotation=30)
    return figure


def plot_carrier_rates(
    sends: pd.DataFrame,
    reports: pd.DataFrame,
    *,
    within: str | pd.Timedelta | None = None,
    as_of: str | pd.Timestamp | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Delivery rate by carrier, with Wilson 95% intervals and the number sent on each bar.

    Raises:
        KpiError: ``sends`` has no ``carrier`` column, or another is missing.
    """
    rates = kpi.delivery_rate(sends, reports, by="carrier", within=within, as_of=as_of)
    rates = rates.sort_values("sent", ascending=False)
    figure, ax = _axes(ax, width=max(6.0, 0.9 * len(rates) + 3))
    x = np.arange(len(rates))
    error = np.vstack([rates["delivery_rate"] - rates["ci_low"], rates["ci_high"] - rates["delivery_rate"]])
    ax.bar(x, rates["delivery_rate"], yerr=error, capsize=4, color=_colors(len(rates)))
    for xi, (rate, sent) in enumerate(zip(rates["delivery_rate"], rates["sent"], strict=True)):
        ax.annotate(f"{sent:,} sent", (xi, rate), xytext=(0, 3), textcoords="offset points", ha="center", fontsize=7)
    if rates.empty:
        _empty(ax, "nothing sent")
    crowded = len(rates) > 4
    ax.set_xticks(x, rates["carrier"].astype(str), rotation=30 if crowded else 0, ha="right" if crowded else "center")
    ax.set_ylim(0, 1.1)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("delivered / sent (%)")
    ax.set_title("Delivery rate by carrier (bars: 95% interval)")
    ax.grid(axis="y", alpha=0.3)
    return figure
