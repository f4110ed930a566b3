"""Charts of delivery and spending, one function each; each returns a matplotlib Figure.

Every function takes an optional ``ax`` to draw into (then returns its
figure); without one it makes a new Figure (not registered with pyplot, so
nothing leaks between notebook cells) that Jupyter shows inline.

Colours mean the same in every chart: delivered green, failures warm,
pending grey; groups drawn as lines take cool colours. Axes are fitted to the
data, times are local (``SMSDATA_TZ``), durations read as ``10 s``, ``5 min``,
``1 h``.

>>> sms.charts.plot_delivery_rate(sends, reports)  # doctest: +SKIP
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from . import _statuses, kpi
from ._axes import (
    GROUP_COLOURS,
    GROUP_DASHES,
    OVERALL_COLOUR,
    duration_axis,
    fitted_percent,
    label,
    labels,
    legend,
    local_dates,
    naive_utc,
    new_axes,
    say_empty,
    styled,
)
from ._checks import at_least
from ._engines import Source, accepted
from ._forecast import forecast_balance
from ._kpi_options import parse_by, parse_moment, parse_zone
from .balance import LedgerLike, balance_history
from .config import default_tz
from .errors import KpiError

__all__ = ["plot_balance", "plot_carrier_rates", "plot_delivery_rate", "plot_latency", "plot_status_breakdown"]

_FEW_GROUPS = 5
"""Up to this many groups get their own line in the over-time and latency charts."""
_MANY_CURVES = 6
_PERIOD_LENGTH = {
    "min": "1min",
    "5min": "5min",
    "15min": "15min",
    "30min": "30min",
    "h": "1h",
    "D": "1D",
    "W": "7D",
    "M": "30D",
}


def auto_freq(span: pd.Timedelta) -> str:
    """The ``freq`` that cuts ``span`` of sending into about 10-50 periods (``"5min"`` .. ``"M"``).

    >>> auto_freq(pd.Timedelta("1h")), auto_freq(pd.Timedelta("1D")), auto_freq(pd.Timedelta("30D"))
    ('5min', 'h', 'D')
    """
    for freq, longest in (("min", "30min"), ("5min", "3h"), ("15min", "12h"), ("h", "3D"), ("D", "90D"), ("W", "730D")):
        if span <= pd.Timedelta(longest):
            return freq
    return "M"


@styled
def plot_delivery_rate(
    sends: Source,
    reports: Source,
    *,
    by: str | Sequence[str] | None = None,
    freq: str | None = None,
    within: str | pd.Timedelta | None = None,
    as_of: str | pd.Timestamp | None = None,
    tz: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """The overall delivery rate per send period as a line with its Wilson 95% band; with ``by``,
    each group's line too when there are at most five groups.

    Args:
        freq: the period (see :func:`smsdata.delivery_rate`); default: fitted to how long
            sending lasted (5 minutes for an hour of sending, hours for a day, days for a month).

    Returns:
        The Figure (``ax``'s own when ``ax`` is given).

    Raises:
        KpiError: a column is missing, or ``freq``/``within``/``tz`` is invalid.
    """
    zone = parse_zone(tz)
    if freq is None:
        span = accepted(sends, parse_moment(as_of))
        freq = auto_freq(span.last - span.first if pd.notna(span.first) else pd.Timedelta(0))
    options = {"freq": freq, "within": within, "as_of": as_of, "tz": zone}
    overall = kpi.delivery_rate(sends, reports, **options)
    groups = parse_by(by)
    per_group = kpi.delivery_rate(sends, reports, by=by, **options) if groups else overall.iloc[:0]
    keys = per_group[groups].drop_duplicates() if groups else []
    figure, ax = new_axes(ax)
    if overall.empty:
        say_empty(ax, "nothing sent")
        return figure
    step = pd.Timedelta(_PERIOD_LENGTH[freq])
    few = 1 < len(keys) <= _FEW_GROUPS
    _rate_line(ax, overall, step, OVERALL_COLOUR, "all (band: 95% interval)" if few else None, wide=True)
    drawn = [overall]
    if few:
        for (key, frame), colour in zip(per_group.groupby(groups, sort=True), GROUP_COLOURS, strict=False):
            _rate_line(ax, frame, step, colour, label(key[0] if len(groups) == 1 else key), wide=False)
            drawn.append(frame)
    first, last = (naive_utc(overall["period"].iloc[[i]])[0] for i in (0, -1))
    # at least six periods wide, so the ticks fall on periods (not on the seconds of a lone minute)
    margin = max(step / 2, (step * 6 - pd.Timedelta(last - first)) / 2)
    ax.set_xlim(first - margin, last + margin)
    local_dates(ax.xaxis, zone)
    fitted_percent(ax.yaxis, [f["ci_low"].min() for f in drawn], [f["ci_high"].max() for f in drawn])
    ax.set_ylabel("delivered / sent")
    ax.set_xlabel(f"sent in ({kpi.FREQ_NAMES[freq]} periods, {zone})")
    ax.set_title("Delivery rate over time (band: 95% interval)")
    ax.grid(alpha=0.3)
    if len(keys) > _FEW_GROUPS:
        ax.annotate(
            f"{len(keys)} groups: overall only (each group in the tables)",
            (0.01, 0.03),
            xycoords="axes fraction",
            fontsize="small",
            color="0.4",
        )
    if few:  # "all" first, then the groups in order (errorbars would otherwise list after lines)
        handles, names = ax.get_legend_handles_labels()
        ordered = sorted(zip(names, handles, strict=True), key=lambda pair: (not pair[0].startswith("all "), pair[0]))
        ax.legend([h for _, h in ordered], [n for n, _ in ordered], fontsize="small")
    return figure


def _rate_line(ax: Axes, rates: pd.DataFrame, step: pd.Timedelta, colour: str, name: str | None, wide: bool) -> None:
    """A rate as a line with its band over each run of consecutive periods; a period alone (a
    burst of sending) as a dot with its interval. Never a line across periods with no sending."""
    gaps = rates["period"].diff() > step * 1.5
    for _, run in rates.groupby(gaps.cumsum().to_numpy()):
        x = naive_utc(run["period"])
        if len(run) == 1:
            error = np.vstack([run["delivery_rate"] - run["ci_low"], run["ci_high"] - run["delivery_rate"]])
            bar = ax.errorbar(x, run["delivery_rate"], yerr=error, fmt="o", ms=5, color=colour, capsize=3, label=name)
            for artist in bar.get_children():  # a dot at 100% sits on the frame, not half under it
                artist.set_clip_on(False)
        else:
            if wide:
                ax.fill_between(x, run["ci_low"], run["ci_high"], color=colour, alpha=0.15, linewidth=0)
            width = 2 if wide else 1.2
            ax.plot(x, run["delivery_rate"], marker="o", ms=3.5, lw=width, color=colour, label=name, clip_on=False)
        name = None  # one legend entry per line


@styled
def plot_status_breakdown(
    sends: Source,
    reports: Source,
    *,
    by: str | Sequence[str] | None = None,
    within: str | pd.Timedelta | None = None,
    as_of: str | pd.Timestamp | None = None,
    top: int = 7,
    ax: Axes | None = None,
) -> Figure:
    """Final status of the sent messages as stacked horizontal bars, one bar per group.

    Statuses go in order of meaning (delivered, failures most frequent first,
    pending) in their colours (green, warm, grey). The ``top`` most frequent
    statuses keep their own segment (carrier codes as they came); the rest are
    summed as ``other``.

    Returns:
        The Figure (``ax``'s own when ``ax`` is given).

    Raises:
        KpiError: a column is missing, or ``top`` is not a whole number of at least 1.
    """
    at_least(top, "top", error=KpiError)
    breakdown = kpi.status_breakdown(sends, reports, by=by, within=within, as_of=as_of)
    groups = parse_by(by)
    if not groups:
        breakdown = breakdown.assign(group="all")
        groups = ["group"]
    keys = labels(breakdown, groups)
    status, totals = _statuses.keep_top(breakdown, top)
    table = breakdown.assign(key=keys, status=status).pivot_table(
        index="key", columns="status", values="share", aggfunc="sum", fill_value=0.0, sort=True
    )
    order = _statuses.ordered(table.columns, totals)
    table = table[order]
    figure, ax = new_axes(ax, height=max(1.9, 0.32 * len(table) + 1.6))
    if table.empty:
        say_empty(ax, "nothing sent")
        return figure
    left = np.zeros(len(table))
    for name, colour in _statuses.colours(order).items():
        shares = table[name].to_numpy()
        ax.barh(table.index, shares, left=left, color=colour, label=name, height=0.7)
        if name == _statuses.DELIVERED:  # the number people look for, on the bar
            for y, share in enumerate(shares):
                if share >= 0.12:
                    ax.text(share - 0.01, y, f"{share:.1%}", ha="right", va="center", color="white", fontsize=8)
        left += shares
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("share of sent messages")
    ax.set_title("Final status of sent messages")
    ax.tick_params(axis="y", labelsize="small" if len(table) > 15 else "medium")
    ax.legend(title="status", fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return figure


@styled
def plot_latency(
    sends: Source,
    reports: Source,
    *,
    by: str | Sequence[str] | None = None,
    as_of: str | pd.Timestamp | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Time to delivery receipt, on a log scale in readable units (``10 s``, ``1 min``, ``1 h``).

    Up to six groups: the Kaplan-Meier share delivered against time after
    sending, per group, pending messages censored at ``as_of`` (default now),
    so a campaign still in progress is not drawn too fast; dots mark each
    group's p50 and p90 among delivered messages. More groups: one row per
    group, its p50 to p90 range, fastest first, so 30 campaigns stay apart.

    Returns:
        The Figure (``ax``'s own when ``ax`` is given).

    Raises:
        KpiError: a column is missing.
    """
    groups = parse_by(by)
    marks = kpi.latency(sends, reports, by=by, as_of=as_of)
    if groups and len(marks) > _MANY_CURVES:
        return _latency_ranges(marks, groups, ax)
    curves = kpi.time_to_receipt(sends, reports, by=by, as_of=as_of)
    figure, ax = new_axes(ax)
    if curves.empty:
        say_empty(ax, "nothing delivered yet")
        return figure
    series = list(curves.groupby(groups, sort=True)) if groups else [(None, curves)]
    colours = GROUP_COLOURS if len(series) > 1 else [OVERALL_COLOUR]
    dashes = GROUP_DASHES if len(series) > 1 else ["-"]
    quantiles = {
        tuple(row[: len(groups)]): row[len(groups) :]
        for row in marks[[*groups, "p50", "p90"]].itertuples(index=False, name=None)
    }
    for (key, frame), colour, dash in zip(series, colours, dashes, strict=False):
        seconds = np.concatenate([[0.0], frame["seconds"].to_numpy()])
        share = np.concatenate([[0.0], frame["delivered_share"].to_numpy()])
        name = label(key[0] if isinstance(key, tuple) and len(key) == 1 else key) if groups else None
        ax.step(seconds, share, where="post", color=colour, lw=1.8, linestyle=dash, label=name)
        key = key if isinstance(key, tuple) else (key,)
        for value, marker in zip(quantiles.get(key if groups else (), (np.nan, np.nan)), ("o", "s"), strict=True):
            if np.isfinite(value):
                at = np.searchsorted(seconds, value, side="right") - 1
                point = [share[max(at, 0)]]
                ax.plot([value], point, marker=marker, color=colour, mec="white", ms=7, linestyle="none", zorder=3)
    duration_axis(ax.xaxis, float(curves["seconds"].max()))
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("time after sending (log scale)")
    ax.set_ylabel("delivered so far")
    ax.set_title("Time to delivery receipt (● p50, ■ p90 of delivered)")
    ax.grid(alpha=0.3)
    legend(ax, len(series) if len(series) > 1 else 0)
    return figure


def _latency_ranges(marks: pd.DataFrame, groups: list[str], ax: Axes | None) -> Figure:
    """One row per group: a line from its p50 to its p90, fastest p50 on top."""
    marks = marks.assign(key=labels(marks, groups)).sort_values(["p50", "key"])
    figure, ax = new_axes(ax, height=max(3.0, 0.3 * len(marks) + 1.6))
    y = np.arange(len(marks))
    ax.hlines(y, marks["p50"], marks["p90"], color=GROUP_COLOURS[0], lw=2.5, alpha=0.6)
    ax.plot(marks["p50"], y, "o", color=GROUP_COLOURS[0], label="p50")
    ax.plot(marks["p90"], y, "s", color=GROUP_COLOURS[1], label="p90")
    ax.set_yticks(y, marks["key"], fontsize="small" if len(marks) > 15 else "medium")
    ax.invert_yaxis()
    duration_axis(
        ax.xaxis,
        float(np.nanmax(marks["p90"].to_numpy(dtype=float), initial=10.0)),
        float(np.nanmin(marks["p50"].to_numpy(dtype=float), initial=np.inf)),
    )
    ax.set_xlabel("time from sending to delivery receipt (log scale)")
    ax.set_title("Time to receipt: p50 to p90 of delivered")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize="small", loc="lower right")
    return figure


@styled
def plot_balance(
    ledger: LedgerLike = None, *, as_of: str | pd.Timestamp | None = None, tz: str | None = None, ax: Axes | None = None
) -> Figure:
    """Balance snapshots over time (local dates), and the straight line to zero at the recent
    burn, when the snapshots are enough for a forecast (see :class:`smsdata._forecast.Forecast`).

    Returns:
        The Figure (``ax``'s own when ``ax`` is given).

    Raises:
        LedgerError: there is no ledger there, or it cannot be read.
        ConfigError: ``tz`` is not given and ``SMSDATA_TZ`` names no known time zone.
    """
    now = parse_moment(as_of)
    zone = tz or default_tz()
    history = balance_history(ledger)
    history = history[history["at"] <= now]
    forecast = forecast_balance(history, now, zone)
    balance, burn, runs_out = forecast.balance, forecast.burn_per_day, forecast.runs_out
    figure, ax = new_axes(ax, height=3.5)
    if history.empty:
        say_empty(ax, "no balance snapshots yet")
        return figure
    ax.step(naive_utc(history["at"]), history["value"], where="post", marker=".", color=GROUP_COLOURS[0])
    if pd.notna(runs_out):
        ends = naive_utc(pd.Series([now, runs_out]).dt.tz_convert("UTC"))
        ax.plot(ends, [balance, 0], linestyle="--", color="#c62828")
        ax.annotate(
            f"runs out ~{runs_out:%Y-%m-%d}\n({burn:,.0f}/day, recent average)",
            (ends[1], 0),
            xytext=(-10, 20),
            textcoords="offset points",
            ha="right",
            fontsize="small",
            color="#c62828",
        )
    else:  # inside the plot and wrapped: a long note must not squeeze the plot
        note = textwrap.fill("no forecast: " + forecast.note, 70)
        ax.text(0.01, 0.04, note, transform=ax.transAxes, fontsize="small", color="0.4", va="bottom")
    local_dates(ax.xaxis, zone)
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(lambda value, _: f"{value:,.0f}")
    ax.set_ylabel("balance (gateway units)")
    # no x label: the date axis writes its own (the day or year) where a label would go
    ax.set_title(f"Balance and burn forecast (times in {zone})")
    ax.grid(alpha=0.3)
    return figure


@styled
def plot_carrier_rates(
    sends: Source,
    reports: Source,
    *,
    within: str | pd.Timedelta | None = None,
    as_of: str | pd.Timestamp | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Delivery rate by carrier as horizontal bars, most sent first, each with its Wilson 95%
    interval and its rate and number sent written beside it.

    Returns:
        The Figure (``ax``'s own when ``ax`` is given).

    Raises:
        KpiError: ``sends`` has no ``carrier`` column, or another is missing.
    """
    rates = kpi.delivery_rate(sends, reports, by="carrier", within=within, as_of=as_of)
    rates = rates.sort_values(["sent", "carrier"], ascending=[False, True], ignore_index=True)
    figure, ax = new_axes(ax, height=max(2.2, 0.45 * len(rates) + 1.4))
    if rates.empty:
        say_empty(ax, "nothing sent")
        return figure
    y = np.arange(len(rates))
    rate = rates["delivery_rate"].fillna(0.0)
    ax.barh(y, rate, color=_statuses.colours([_statuses.DELIVERED])[_statuses.DELIVERED], height=0.6)
    error = np.vstack([rate - rates["ci_low"].fillna(0.0), rates["ci_high"].fillna(0.0) - rate])
    ax.errorbar(rate, y, xerr=error, fmt="none", ecolor="0.25", elinewidth=1, capsize=3)
    for yi, (value, high, sent) in enumerate(zip(rate, rates["ci_high"].fillna(0.0), rates["sent"], strict=True)):
        ax.text(high + 0.015, yi, f"{value:.1%} of {sent:,}", va="center", fontsize=9)
    ax.set_yticks(y, labels(rates, ["carrier"]))
    ax.invert_yaxis()
    ax.set_xlim(0, 1.3)  # room for the words beside a bar near 100%
    ax.set_xticks(np.linspace(0, 1, 6))
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("delivered / sent (line: 95% interval)")
    ax.set_title("Delivery rate by carrier")
    ax.grid(axis="x", alpha=0.3)
    return figure
