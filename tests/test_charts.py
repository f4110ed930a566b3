"""Every chart renders without warnings, with titles and units, and stays readable with 30 campaigns."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from smsdata import charts
from tests import pandas_kpi


@pytest.fixture
def thirty() -> tuple[pd.DataFrame, pd.DataFrame]:
    sends, reports = pandas_kpi.random_frames(3, n=6000)
    rng = np.random.default_rng(0)
    names = [f"november-campaign-{i:02d}" for i in range(30)]
    sends["campaign"] = pd.Series(rng.choice(names, len(sends)), index=sends.index).astype("str")
    return sends, reports


CHARTS = {
    "delivery_rate": lambda s, r: charts.plot_delivery_rate(s, r, by="campaign"),
    "status_breakdown": lambda s, r: charts.plot_status_breakdown(s, r, by="campaign"),
    "latency": lambda s, r: charts.plot_latency(s, r, by="campaign", as_of="2026-11-12"),
    "carrier_rates": lambda s, r: charts.plot_carrier_rates(s, r),
}


@pytest.mark.parametrize("name", list(CHARTS))
def test_renders_with_title_and_units(name: str, thirty, tmp_path: Path) -> None:
    figure = CHARTS[name](*thirty)
    assert isinstance(figure, Figure)
    ax = figure.axes[0]
    assert ax.get_title()
    assert "%" in ax.get_ylabel() + ax.get_xlabel()
    figure.savefig(tmp_path / f"{name}.png")  # warnings are errors in the test suite


def test_status_bars_labels_do_not_overlap(thirty) -> None:
    figure = charts.plot_status_breakdown(*thirty, by="campaign")
    figure.canvas.draw()
    boxes = [t.get_window_extent() for t in figure.axes[0].get_yticklabels() if t.get_text()]
    assert len(boxes) == 30
    assert all(a.y0 >= b.y1 - 0.5 or b.y0 >= a.y1 - 0.5 for a, b in itertools.pairwise(boxes))


def test_draws_into_a_given_axes(thirty) -> None:
    figure = Figure()
    ax = figure.add_subplot()
    assert charts.plot_latency(*thirty, by=None, ax=ax) is figure


def test_empty_inputs_still_render(thirty, tmp_path: Path) -> None:
    sends, reports = thirty
    figure = charts.plot_delivery_rate(sends.iloc[:0], reports.iloc[:0])
    figure.savefig(tmp_path / "empty.png")


def test_balance_chart(tmp_path: Path, gateway) -> None:
    import smsdata as sms

    sms.record_balance(gateway, tmp_path / "l.sqlite")
    figure = charts.plot_balance(tmp_path / "l.sqlite")
    assert "balance" in figure.axes[0].get_ylabel()
    figure.savefig(tmp_path / "balance.png")
