"""When the balance runs out: the burn forecast from the ledger's balance snapshots."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

FORECAST_MIN_SPENDING_DAYS = 3
FORECAST_MIN_COVERED_DAYS = 7
FORECAST_WINDOW_DAYS = 28


@dataclass(frozen=True)
class Forecast:
    """When the balance runs out at the recent burn, or why there is no honest answer.

    ``burn_per_day``: balance spent in the days covered (up to the last 28 before
    ``as_of``) divided by those days; NaN, and ``runs_out`` NaT, unless the
    snapshots cover at least 7 days with spending on at least 3 local days.
    ``note`` says which, in words.
    """

    balance: float
    burn_per_day: float
    runs_out: pd.Timestamp
    note: str


def forecast_balance(history: pd.DataFrame, now: pd.Timestamp, tz: str) -> Forecast:
    """The forecast from the snapshots up to ``now`` (see :class:`Forecast`)."""
    if history.empty:
        return Forecast(float("nan"), float("nan"), pd.NaT, "no balance snapshots yet")
    balance = float(history["value"].iloc[-1])
    start = max(history["at"].iloc[0], now - pd.Timedelta(days=FORECAST_WINDOW_DAYS))
    covered = (now - start) / pd.Timedelta(days=1)
    steps = balance_steps(history)
    recent = steps[steps["at"] > start]
    spending_days = recent.loc[recent["spent"] > 0, "at"].dt.tz_convert(tz).dt.normalize().nunique()
    if covered < FORECAST_MIN_COVERED_DAYS or spending_days < FORECAST_MIN_SPENDING_DAYS:
        note = (
            f"not enough history for a forecast: spending on {spending_days} day(s) over {covered:.1f} day(s) of "
            f"snapshots; a forecast needs spending on {FORECAST_MIN_SPENDING_DAYS} days over "
            f"{FORECAST_MIN_COVERED_DAYS} (record_balance daily helps)"
        )
        return Forecast(balance, float("nan"), pd.NaT, note)
    burn = float(recent["spent"].sum()) / covered
    runs_out = (now + pd.Timedelta(days=balance / burn)).tz_convert(tz).normalize()
    note = f"spent {burn:,.1f} a day over the last {covered:.0f} days: it runs out around {runs_out:%Y-%m-%d}"
    return Forecast(balance, burn, runs_out, note)


def balance_steps(history: pd.DataFrame) -> pd.DataFrame:
    """Consecutive snapshots as spending (drops) and top-ups (rises), at the later snapshot."""
    change = history["value"].diff().fillna(0.0)
    spent = (-change).clip(lower=0) + 0.0  # + 0.0: a day with no change shows 0, not -0
    return pd.DataFrame({"at": history["at"], "spent": spent, "topped_up": change.clip(lower=0)})
