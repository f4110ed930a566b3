"""Balance snapshots, spending per day and campaign, and the run-out forecast."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

import smsdata as sms
from smsdata.ledger import Ledger


def snapshot(ledger: Ledger, at: str, value: int, campaign: str | None = None, note: str = "snapshot") -> None:
    ledger.transaction(
        [
            (
                "INSERT INTO balances VALUES (?, ?, ?, ?)",
                (pd.Timestamp(at, tz="UTC").isoformat(), str(value), campaign, note),
            )
        ]
    )


def test_record_balance_stores_a_snapshot(tmp_path: Path, gateway) -> None:
    before = pd.Timestamp.now(tz="UTC")
    value = sms.record_balance(gateway, tmp_path / "l.sqlite", note="daily")
    after = pd.Timestamp.now(tz="UTC")
    assert value == Decimal(1000)
    history = sms.balance_history(tmp_path / "l.sqlite")
    assert history[["value", "note"]].values.tolist() == [[1000.0, "daily"]]
    assert str(history["at"].dt.tz) == "UTC"
    assert before <= history["at"].iloc[0] <= after  # the moment it was taken, not a shifted clock


def test_burn_by_day_and_campaign_and_forecast(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite") as ledger:
        snapshot(ledger, "2026-11-20 01:00", 1000, "c1", "before")
        snapshot(ledger, "2026-11-20 02:00", 900, "c1", "after")  # 100 spent on c1
        snapshot(ledger, "2026-11-21 03:00", 2000)  # topped up 1,100
        snapshot(ledger, "2026-11-22 01:00", 2000, "c2", "before")
        snapshot(ledger, "2026-11-22 02:00", 1650, "c2", "after")  # 350 spent on c2
        burn = sms.balance_burn(ledger, sends=_sends(), as_of="2026-11-24", tz="UTC")
    assert burn.daily[["spent", "topped_up"]].values.tolist() == [[100.0, 0.0], [0.0, 1100.0], [350.0, 0.0]]
    assert burn.daily["messages"].tolist() == [2, 0, 1]
    campaigns = burn.campaigns.set_index("campaign")
    assert campaigns.loc["c1", ["messages", "segments", "expected_cost", "spent", "gap"]].tolist() == [
        2,
        3,
        3.0,
        100.0,
        97.0,
    ]
    assert campaigns.loc["c2", "spent"] == 350.0
    assert burn.balance == 1650.0
    # 4 days of snapshots, spending on 2: no honest forecast yet
    assert pd.isna(burn.burn_per_day)
    assert pd.isna(burn.runs_out)
    assert burn.forecast_note.startswith("not enough history for a forecast: spending on 2 day(s) over 4.0 day(s)")


def test_forecast_from_the_days_covered_once_there_are_enough(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite") as ledger:
        snapshot(ledger, "2026-11-10 00:00", 10000)
        for day, value in [("11-12", 9900), ("11-14", 9700), ("11-16", 9400)]:  # spending on 3 days
            snapshot(ledger, f"2026-{day} 12:00", value)
        one_day = sms.balance_burn(ledger, sends=_sends().iloc[:0], as_of="2026-11-16 13:00", tz="UTC")
        assert pd.isna(one_day.runs_out)  # 6.5 days covered: not yet
        burn = sms.balance_burn(ledger, sends=_sends().iloc[:0], as_of="2026-11-17 00:00", tz="UTC")
    assert burn.burn_per_day == pytest.approx(600 / 7)  # 600 spent over the 7 days covered
    assert burn.days_left == pytest.approx(9400 / (600 / 7))
    assert burn.runs_out == (pd.Timestamp("2026-11-17", tz="UTC") + pd.Timedelta(days=9400 / (600 / 7))).normalize()
    assert "a day over the last 7 days" in burn.forecast_note


def test_cost_per_delivered_needs_reports(tmp_path: Path) -> None:
    reports = pd.DataFrame(
        {
            "msgid": ["m1"],
            "mobile": ["13800000001"],
            "status": ["DELIVRD"],
            "report_time": [pd.Timestamp("2026-11-20 01:30", tz="UTC")],
        }
    )
    with Ledger(tmp_path / "l.sqlite") as ledger:
        snapshot(ledger, "2026-11-20 01:00", 1000, "c1", "before")
        snapshot(ledger, "2026-11-20 02:00", 990, "c1", "after")
        burn = sms.balance_burn(ledger, sends=_sends(), reports=reports, as_of="2026-11-21")
    assert burn.campaigns.set_index("campaign").loc["c1", "cost_per_delivered"] == 10.0


def test_no_snapshots_no_forecast(tmp_path: Path) -> None:
    Ledger(tmp_path / "empty.sqlite").close()
    burn = sms.balance_burn(tmp_path / "empty.sqlite", sends=_sends())
    assert pd.isna(burn.runs_out)
    assert pd.isna(burn.days_left)
    assert burn.forecast_note == "no balance snapshots yet"
    # nothing measured what the campaigns cost: unknown, not free
    assert burn.campaigns["spent"].isna().all()
    assert burn.campaigns["gap"].isna().all()


@pytest.mark.parametrize("read", [sms.balance_history, sms.balance_burn, sms.read_sends])
def test_reading_a_missing_ledger_creates_nothing(read, tmp_path: Path) -> None:
    with pytest.raises(sms.LedgerError, match=r"no ledger at .*nope\.sqlite"):
        read(tmp_path / "nope.sqlite")
    assert list(tmp_path.iterdir()) == []


def _sends() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "campaign": ["c1", "c1", "c2"],
            "request_id": [1, 1, 2],
            "msgid": ["m1", "m1", "m2"],
            "mobile": ["13800000001", "13800000002", "13800000003"],
            "segments": [1, 2, 1],
            "state": ["accepted"] * 3,
            "sent_at": [pd.Timestamp("2026-11-20 01:10", tz="UTC")] * 2 + [pd.Timestamp("2026-11-22 01:10", tz="UTC")],
        }
    )


def test_burn_is_as_it_stood_at_as_of_and_takes_naive_times(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite") as ledger:
        snapshot(ledger, "2026-11-20 01:00", 1000, "c1", "before")
        naive = _sends().assign(sent_at=_sends()["sent_at"].dt.tz_localize(None))
        burn = sms.balance_burn(ledger, sends=naive, as_of="2026-11-21", tz="UTC")
    assert burn.campaigns["campaign"].tolist() == ["c1"]  # c2 was sent on the 22nd: not yet
    assert burn.daily["messages"].sum() == 2
    assert (burn.daily["spent"].map(str) != "-0.0").all()
