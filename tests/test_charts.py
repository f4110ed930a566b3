"""Every chart renders without warnings for 1, 3 and 30 campaigns over one day and 30 days, with
axes fitted to the data, colours that mean the same everywhere and durations people read."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import matplotlib.colors as mcolors
import matplotlib.image as mpimg
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

import smsdata as sms
from smsdata import _statuses, charts
from tests import scenarios

SHAPES = [(1, 1), (3, 1), (30, 1), (1, 30), (3, 30), (30, 30)]


def _data(count: int, days: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    sends, reports = scenarios.campaigns(count, days=days, per_campaign=300)
    return sends, reports, sends["sent_at"].max() + pd.Timedelta("2h")


CHARTS = {
    "delivery_rate": lambda s, r, t: charts.plot_delivery_rate(s, r, by="campaign", as_of=t),
    "status_breakdown": lambda s, r, t: charts.plot_status_breakdown(s, r, by="campaign", as_of=t),
    "latency": lambda s, r, t: charts.plot_latency(s, r, by="campaign", as_of=t),
    "carrier_rates": lambda s, r, t: charts.plot_carrier_rates(s, r, as_of=t),
}


@pytest.mark.parametrize(("count", "days"), SHAPES, ids=[f"{c}campaigns-{d}days" for c, d in SHAPES])
@pytest.mark.parametrize("name", list(CHARTS))
def test_renders_with_title_and_units(name: str, count: int, days: int, tmp_path: Path) -> None:
    sends, reports, as_of = _data(count, days)
    figure = CHARTS[name](sends, reports, as_of)
    assert isinstance(figure, Figure)
    ax = figure.axes[0]
    assert ax.get_title().startswith(TITLES[name])
    assert UNITS[name] in ax.get_xlabel()
    _assert_every_group_drawn(name, ax, sends)
    figure.savefig(tmp_path / f"{name}.png")  # warnings are errors in the test suite
    pixels = mpimg.imread(tmp_path / f"{name}.png")[..., :3]
    assert (pixels.min(axis=2) < 0.5).mean() > 0.01  # ink, not a blank canvas


TITLES = {
    "delivery_rate": "Delivery rate over time",
    "status_breakdown": "Final status of sent messages",
    "latency": "Time to",
    "carrier_rates": "Delivery rate by carrier",
}
UNITS = {
    "delivery_rate": "periods, Asia/Shanghai",
    "status_breakdown": "share of sent",
    "latency": "(log scale)",
    "carrier_rates": "delivered / sent",
}


def _assert_every_group_drawn(name: str, ax, sends: pd.DataFrame) -> None:
    """Each campaign (carrier) is a bar, a row, a line in the legend, or the chart says it summed them."""
    campaigns = sorted(sends["campaign"].unique())
    rows = sorted(t.get_text() for t in ax.get_yticklabels() if t.get_text())
    legend = [t.get_text() for t in ax.get_legend().get_texts()] if ax.get_legend() else []
    if name == "carrier_rates":
        assert rows == sorted(sends["carrier"].unique())
    elif name == "status_breakdown" or (name == "latency" and len(campaigns) > 10):
        assert rows == campaigns
    elif name == "delivery_rate" and len(campaigns) > 10:
        assert f"{len(campaigns)} groups: overall only (each group in the tables)" in [t.get_text() for t in ax.texts]
    elif len(campaigns) > 1:
        assert legend[-len(campaigns) :] == campaigns
    else:
        curves = [line for line in ax.lines if line.get_drawstyle() == "steps-post" or name == "delivery_rate"]
        assert len(curves) == 1
        values = curves[0].get_ydata()
        assert 0 <= min(values) < max(values) <= 1 or 0 < min(values) == max(values) <= 1  # shares, not empty


def _x_dates(ax) -> tuple[pd.Timestamp, pd.Timestamp]:
    from matplotlib.dates import num2date

    low, high = ax.get_xlim()
    return pd.Timestamp(num2date(low)), pd.Timestamp(num2date(high))


def test_one_campaign_of_one_hour_has_a_fitted_time_axis() -> None:
    sends, reports = scenarios.campaigns(1, days=1, per_campaign=600)
    sends["sent_at"] = sends["sent_at"].min() + (sends["sent_at"] - sends["sent_at"].min()) * 20  # one hour
    reports["report_time"] = (
        sends.set_index("msgid")["sent_at"].groupby(level=0).max().reindex(reports["msgid"]).to_numpy()
    )
    ax = charts.plot_delivery_rate(sends, reports, as_of="2026-11-02").axes[0]
    low, high = _x_dates(ax)
    assert pd.Timedelta(0) < high - low < pd.Timedelta("2h")  # not 2025..2029
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert any(re.fullmatch(r"\d\d:\d\d", label) for label in labels), labels  # local clock times
    assert "5 minutes" in ax.get_xlabel()


def test_rate_axis_is_fitted_so_small_differences_show() -> None:
    sends, reports, as_of = _data(3, 30)
    ax = charts.plot_delivery_rate(sends, reports, as_of=as_of).axes[0]
    low, high = ax.get_ylim()
    assert low > 0.5
    assert high <= 1.0
    assert high - low < 0.3


def test_overall_line_with_band_and_few_campaigns_as_lines() -> None:
    sends, reports, as_of = _data(30, 30)
    ax = charts.plot_delivery_rate(sends, reports, by="campaign", as_of=as_of).axes[0]
    assert any(isinstance(c, PolyCollection) for c in ax.collections), "no 95% band"
    assert ax.get_legend() is None  # 30 campaigns: the overall line only
    assert any("30 groups" in t.get_text() for t in ax.texts)
    sends, reports, as_of = _data(3, 30)
    ax = charts.plot_delivery_rate(sends, reports, by="campaign", as_of=as_of).axes[0]
    names = [t.get_text() for t in ax.get_legend().get_texts()]
    assert names[0].startswith("all")
    assert names[1:] == sorted(sends["campaign"].unique())


def test_one_period_is_a_dot_with_its_interval() -> None:
    sends, reports, as_of = _data(1, 1)
    ax = charts.plot_delivery_rate(sends, reports, freq="D", as_of=as_of).axes[0]
    (line,) = [line for line in ax.lines if len(line.get_xdata()) == 1 and line.get_marker() == "o"]
    assert 0.8 < float(line.get_ydata()[0]) < 1.0
    low, high = _x_dates(ax)
    assert high - low == pd.Timedelta("6D")  # six periods wide: ticks on days, the dot in the middle
    assert pd.Timestamp(line.get_xdata()[0], tz="UTC") - low == pd.Timedelta("3D")
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert not any(re.fullmatch(r"\d\d:\d\d", label) for label in labels), labels  # days, not hours


def _colour(name: str) -> str:
    return mcolors.to_hex(name)


def test_status_colours_mean_the_same_everywhere() -> None:
    sends, reports, as_of = _data(3, 1)
    reports = reports[reports["report_time"] < as_of - pd.Timedelta("2h") + pd.Timedelta("30s")]  # some pending
    ax = charts.plot_status_breakdown(sends, reports, by="campaign", as_of=as_of).axes[0]
    handles, labels = ax.get_legend_handles_labels()
    colours = {label: mcolors.to_hex(h.patches[0].get_facecolor()) for h, label in zip(handles, labels, strict=True)}
    assert labels[0] == "DELIVRD"
    assert labels[-1] == "(pending)"  # order of meaning: delivered, failures, pending
    assert colours["DELIVRD"] == _colour("#2e7d32")
    assert colours["(pending)"] == _colour("#9e9e9e")
    for label in labels[1:-1]:  # failures: warm (red-orange-yellow-brown or magenta), never green or grey
        hue, saturation, _ = mcolors.rgb_to_hsv(mcolors.to_rgb(colours[label]))
        assert saturation > 0.3
        assert hue < 0.17 or hue > 0.8, (label, hue)
    assert colours == _statuses.colours(labels)


def test_status_bar_labels_do_not_overlap() -> None:
    sends, reports, as_of = _data(30, 30)
    figure = charts.plot_status_breakdown(sends, reports, by="campaign", as_of=as_of)
    figure.canvas.draw()
    boxes = [t.get_window_extent() for t in figure.axes[0].get_yticklabels() if t.get_text()]
    assert len(boxes) == 30
    assert all(a.y0 >= b.y1 - 0.5 or b.y0 >= a.y1 - 0.5 for a, b in itertools.pairwise(boxes))


READABLE = re.compile(r"^(0|\d+ (s|min|h|d))$")


@pytest.mark.parametrize("count", [1, 3, 30])
def test_time_to_receipt_reads_in_seconds_minutes_hours(count: int) -> None:
    sends, reports, as_of = _data(count, 30)
    figure = charts.plot_latency(sends, reports, by="campaign", as_of=as_of)
    figure.canvas.draw()
    ax = figure.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert len(labels) >= 3
    assert all(READABLE.match(label) for label in labels), labels
    assert "1 min" in labels


def test_many_campaigns_stay_apart_as_rows() -> None:
    sends, reports, as_of = _data(30, 30)
    ax = charts.plot_latency(sends, reports, by="campaign", as_of=as_of).axes[0]
    names = [t.get_text() for t in ax.get_yticklabels()]
    assert sorted(names) == sorted(sends["campaign"].unique())  # one row each, labelled
    p50 = sms.latency(sends, reports, by="campaign", as_of=as_of).set_index("campaign")["p50"]
    assert list(names) == list(p50.sort_values(kind="stable").index)  # fastest first


def test_carrier_bars_carry_their_rate_and_labels_stay_clear() -> None:
    sends, reports, as_of = _data(3, 1)
    figure = charts.plot_carrier_rates(sends, reports, as_of=as_of)
    figure.canvas.draw()
    ax = figure.axes[0]
    rates = sms.delivery_rate(sends, reports, by="carrier", as_of=as_of).sort_values("sent", ascending=False)
    words = [t.get_text() for t in ax.texts]
    assert words == [f"{r:.1%} of {n:,}" for r, n in zip(rates["delivery_rate"], rates["sent"], strict=True)]
    assert [t.get_text() for t in ax.get_yticklabels()] == list(rates["carrier"])
    labels = [t.get_window_extent() for t in ax.get_yticklabels()]
    bars = ax.get_window_extent()
    assert all(box.x1 <= bars.x0 for box in labels)  # tick labels left of the plot, clear of error bars


def test_draws_into_a_given_axes() -> None:
    figure = Figure()
    ax = figure.add_subplot()
    sends, reports, _ = _data(3, 1)
    assert charts.plot_latency(sends, reports, ax=ax) is figure


@pytest.mark.parametrize("name", list(CHARTS))
def test_empty_inputs_say_so(name: str, tmp_path: Path) -> None:
    sends, reports, as_of = _data(1, 1)
    figure = CHARTS[name](sends.iloc[:0], reports.iloc[:0], as_of)
    assert any(t.get_text().startswith("nothing") for t in figure.axes[0].texts)
    figure.savefig(tmp_path / "empty.png")


def test_balance_chart(tmp_path: Path, gateway) -> None:
    sms.record_balance(gateway, tmp_path / "l.sqlite")
    figure = charts.plot_balance(tmp_path / "l.sqlite")
    ax = figure.axes[0]
    assert "balance" in ax.get_ylabel()
    assert ax.lines[0].get_ydata()[0] == pytest.approx(float(gateway.balance().value))
    figure.savefig(tmp_path / "balance.png")


def test_freq_follows_how_long_sending_lasted() -> None:
    assert [charts.auto_freq(pd.Timedelta(s)) for s in ["5min", "1h", "10h", "1D", "30D", "365D", "5000D"]] == [
        "min",
        "5min",
        "15min",
        "h",
        "D",
        "W",
        "M",
    ]


def test_dollar_signs_in_names_are_shown_as_typed() -> None:
    sends, reports, as_of = _data(3, 1)
    names = {"2026-11-campaign-01": "save $5 or $10", "2026-11-campaign-02": "a_b^c", "2026-11-campaign-03": "$x$"}
    sends["campaign"] = sends["campaign"].map(names)
    figure = charts.plot_status_breakdown(sends, reports, by="campaign", as_of=as_of)
    figure.canvas.draw()
    shown = [t._preprocess_math(t.get_text()) for t in figure.axes[0].get_yticklabels()]  # what is drawn
    assert sorted(shown) == sorted((name, False) for name in names.values())  # as typed, no mathtext
    sends["carrier"] = "$5 $carrier"
    figure = charts.plot_carrier_rates(sends, reports, as_of=as_of)
    figure.canvas.draw()
    assert [t._preprocess_math(t.get_text()) for t in figure.axes[0].get_yticklabels()] == [("$5 $carrier", False)]


def test_long_names_are_shortened_and_blanks_named() -> None:
    sends, reports, as_of = _data(3, 1)
    sends["campaign"] = sends["campaign"].map(
        dict(zip(sorted(sends["campaign"].unique()), ["y" * 90, "short", "z"], strict=True))
    )
    sends.loc[sends["campaign"].eq("z"), "campaign"] = None
    figure = charts.plot_status_breakdown(sends, reports, by="campaign", as_of=as_of)
    figure.canvas.draw()
    names = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert sorted(names) == sorted(["(blank)", "short", "y" * 39 + "…"])
