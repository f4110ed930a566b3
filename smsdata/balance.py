"""The account balance over time: snapshots in the ledger, what was spent, when it runs out.

``send_campaign`` records a snapshot before and after each run;
:func:`record_balance` adds one whenever you like (a daily cron job makes the
burn forecast sharper). Balances are in the gateway's units (usually
messages: one unit per segment per number).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from ._engines import COST_COLUMNS, Source, cost_sql, tables
from ._forecast import balance_steps, forecast_balance
from ._kpi_options import localise_period, parse_moment, parse_zone
from ._money import exact
from .gateway import Gateway
from .kpi import delivery_rate
from .ledger import Ledger, using_ledger

__all__ = ["BalanceBurn", "balance_burn", "balance_history", "record_balance"]

LedgerLike = Ledger | str | Path | None


def record_balance(
    gateway: Gateway, ledger: LedgerLike = None, *, campaign: str | None = None, note: str | None = None
) -> Decimal:
    """Ask the gateway for the balance and store a snapshot in the ledger; returns the balance.

    Returns:
        The balance, in the gateway's units.

    Raises:
        GatewayError, GatewayUnreachable, OutcomeUnknown, ProtocolError: as :meth:`Gateway.balance`.
    """
    value = gateway.balance().value
    with using_ledger(ledger) as opened:
        opened.record_balance(value, campaign, note or "snapshot")
    return value


def balance_history(ledger: LedgerLike = None) -> pd.DataFrame:
    """Every snapshot of the balance in the ledger, oldest first.

    Returns:
        A DataFrame: ``at`` (UTC), ``value``, ``campaign`` and ``note`` (before / after / snapshot).

    Raises:
        LedgerError: there is no ledger there (none is created), or it cannot be read.
    """
    with using_ledger(ledger, create=False) as opened:
        return opened.balances()


@dataclass(frozen=True)
class BalanceBurn:
    """What :func:`balance_burn` found.

    Attributes:
        daily: per local day: ``day, spent, topped_up, messages, segments``.
        campaigns: per campaign: ``campaign, messages, segments, expected_cost,
            spent, gap, delivered, cost_per_delivered``. ``expected_cost`` is
            the campaign's price per segment (one unit unless planned with ``price=``)
            times the segments of every accepted number; ``spent`` the balance
            drop measured around the campaign's runs (NaN when no snapshot pair
            measured it); ``gap = spent -
            expected_cost`` (non-zero: price per segment differs, another
            sender used the account meanwhile, or de-duplicated numbers were
            not charged).
        balance: the latest snapshot's value, a ``Decimal`` as every amount
            (``Decimal('NaN')`` without snapshots).
        burn_per_day: balance spent per day over the days the snapshots cover
            (up to 28 before ``as_of``); NaN without enough history (snapshots
            covering at least 7 days, spending on at least 3 of them).
        runs_out: the local day the balance reaches 0 at that burn (NaT without
            a forecast or when nothing was spent).
        as_of: the moment of the forecast (UTC).
        forecast_note: the forecast, or why there is none, in words.
    """

    daily: pd.DataFrame
    campaigns: pd.DataFrame
    balance: Decimal
    burn_per_day: float
    runs_out: pd.Timestamp
    as_of: pd.Timestamp
    forecast_note: str = ""

    @property
    def days_left(self) -> float:
        """Days until the balance runs out at the recent burn (NaN without a forecast)."""
        return float(self.balance) / self.burn_per_day if self.burn_per_day > 0 else float("nan")


def balance_burn(
    ledger: LedgerLike = None,
    sends: Source | None = None,
    reports: Source | None = None,
    *,
    as_of: str | pd.Timestamp | None = None,
    tz: str | None = None,
) -> BalanceBurn:
    """Spending per day and per campaign from the balance snapshots, and when the balance runs out.

    Args:
        ledger: the ledger (default ``$SMSDATA_HOME/ledger.sqlite``).
        sends: :func:`smsdata.read_sends` (default: read from ``ledger``), or the warehouse's
            sends (a path) or a Spark DataFrame: the spending side is counted there.
        reports: :func:`smsdata.read_reports` (or a path, or Spark), for the cost per
            delivered message (omitted: that column is NaN).
        as_of: the moment of the forecast (default: now; naive means UTC).
        tz: zone of the days (default ``SMSDATA_TZ``).

    Returns:
        A :class:`BalanceBurn`.

    Raises:
        LedgerError: there is no ledger at ``ledger`` (none is created), or it cannot be read.
    """
    tz = parse_zone(tz)
    now = parse_moment(as_of)
    with using_ledger(ledger, create=False) as opened:
        history = opened.balances()
        if sends is None:
            sends = opened.sends()
    history = history[history["at"] <= now]
    volume = _volume(sends, now, tz)
    daily = _daily(balance_steps(history), volume["daily"], tz)
    campaigns = _campaigns(history, volume["campaigns"], sends, reports, now)
    forecast = forecast_balance(history, now, tz)
    balance = exact(forecast.balance)
    return BalanceBurn(daily, campaigns, balance, forecast.burn_per_day, forecast.runs_out, now, forecast.note)


def _volume(sends: Source, now: pd.Timestamp, tz: str) -> dict[str, pd.DataFrame]:
    """Accepted messages and segments by ``as_of``, per local day and per campaign (with their
    expected cost), counted where ``sends`` lives (a frame, a warehouse path or Spark)."""
    needed = ["state", "sent_at", "campaign"]
    with tables(sends, None, sends_columns=needed, reports_columns=[], optional=COST_COLUMNS) as t:
        segments, price = cost_sql(t.columns("sends"))
        accepted = "FROM sends WHERE state = 'accepted' AND sent_at <= $as_of"
        day = f"epoch_us(date_trunc('day', timezone('{tz}', sent_at)))"
        params = {"as_of": now.to_pydatetime()}
        daily = t.query(
            f"SELECT {day} AS period, count(*) AS messages, CAST(sum({segments}) AS BIGINT) AS segments "
            f"{accepted} GROUP BY 1",
            params,
        )
        campaigns = t.query(
            f"SELECT campaign, count(*) AS messages, CAST(sum({segments}) AS BIGINT) AS segments, "
            f"sum({segments} * {price}) AS expected_cost {accepted} GROUP BY campaign ORDER BY campaign",
            params,
        )
    daily = localise_period(daily, "day", tz).rename(columns={"period": "day"})
    return {"daily": daily, "campaigns": campaigns}


def _daily(steps: pd.DataFrame, volume: pd.DataFrame, tz: str) -> pd.DataFrame:
    money = steps.assign(day=steps["at"].dt.tz_convert(tz).dt.normalize()).groupby("day")[["spent", "topped_up"]].sum()
    daily = money.join(volume.set_index("day")[["messages", "segments"]], how="outer").fillna(0).sort_index()
    daily[["messages", "segments"]] = daily[["messages", "segments"]].astype("int64")
    return daily.reset_index()


def _campaigns(
    history: pd.DataFrame, volume: pd.DataFrame, sends: Source, reports: Source | None, now: pd.Timestamp
) -> pd.DataFrame:
    volume = volume.set_index("campaign")
    volume[["messages", "segments"]] = volume[["messages", "segments"]].astype("int64")
    volume["expected_cost"] = volume["expected_cost"].astype(float)
    # NaN where no before/after pair measured it: unmeasured is not "free"
    volume["spent"] = _spent_by_campaign(history).reindex(volume.index)
    volume["gap"] = volume["spent"] - volume["expected_cost"]
    if reports is not None:
        rates = delivery_rate(sends, reports, by="campaign", as_of=now).set_index("campaign")
        volume["delivered"] = rates["delivered"].reindex(volume.index).fillna(0).astype("int64")
    else:
        volume["delivered"] = pd.NA
    with np.errstate(divide="ignore", invalid="ignore"):
        delivered = pd.to_numeric(volume["delivered"], errors="coerce").astype(float)
        volume["cost_per_delivered"] = volume["spent"] / delivered.where(delivered > 0)
    return volume.reset_index()


def _spent_by_campaign(history: pd.DataFrame) -> pd.Series:
    """Balance drop over each campaign run: its "before" snapshot minus the next "after"."""
    spent: dict[str, float] = {}
    runs = history[history["campaign"].notna() & history["note"].isin(["before", "after"])]
    for campaign, snaps in runs.groupby("campaign", sort=False):
        before = None
        for note, value in zip(snaps["note"], snaps["value"], strict=True):
            if note == "before":
                before = value
            elif before is not None:
                spent[campaign] = spent.get(campaign, 0.0) + (before - value)
                before = None
    return pd.Series(spent, dtype=float)
