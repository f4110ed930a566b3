"""sync_sends: the ledger's sends mirrored into the warehouse, incremental, idempotent, crash-safe."""

from __future__ import annotations

import fcntl
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.dataset as pads
import pytest
from click.testing import CliRunner

import smsdata as sms
from smsdata import kpi
from smsdata.cli import cli
from smsdata.planning import plan_campaign
from smsdata.sync import sync_sends
from tests.test_campaign import agw, personal


@pytest.fixture
def ledger(sim, tmp_path: Path) -> Path:
    """Two campaigns sent: 30 recipients (templated: a request each) and 12 (one request), customer columns kept."""
    path = tmp_path / "ledger.sqlite"
    customers = personal(30).assign(city=["Wuhan", "Beijing", "Shanghai"] * 10)
    plan = plan_campaign(customers, mobile="m", content="c", keep=["city"])
    sms.send_campaign(plan, gateway=agw(sim), name="c1", ledger=path, progress=False)
    same = plan_campaign(personal(12, start=100), mobile="m", template="Hello")
    sms.send_campaign(same, gateway=agw(sim), name="c2", ledger=path, progress=False)
    return path


def stored(dataset: Path) -> pd.DataFrame:
    table = pads.dataset(dataset / "sends", format="parquet", partitioning="hive").to_table()
    return table.to_pandas().drop(columns="date").sort_values(["request_id", "mobile"], ignore_index=True)


def expected(ledger: Path) -> pd.DataFrame:
    sends = sms.read_sends(ledger).drop(columns="content")
    sends = sends[sends["state"].isin(["accepted", "rejected", "unknown"])]
    return sends.sort_values(["request_id", "mobile"], ignore_index=True)


def same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want)
    for name in want.columns:
        assert (
            got[name].astype(object).where(got[name].notna(), None).tolist()
            == want[name].astype(object).where(want[name].notna(), None).tolist()
        ), name


def move(ledger: Path, request_id: int, **values: object) -> None:
    """Change a request in the ledger as a later run would (a new outcome time with it)."""
    sets = ", ".join(f"{k} = ?" for k in values)
    with sqlite3.connect(ledger) as db:
        db.execute(f"UPDATE requests SET {sets}, finished_at = ? WHERE id = ?", [*values.values(), "2099", request_id])  # noqa: S608


def test_sync_mirrors_the_ledger_and_a_second_run_writes_nothing(ledger: Path, tmp_path: Path) -> None:
    dataset = tmp_path / "warehouse"
    assert sync_sends(dataset, ledger=ledger) == 42
    same(stored(dataset), expected(ledger))
    assert stored(dataset)["city"].tolist()[:3] == ["Wuhan", "Beijing", "Shanghai"]
    assert str(stored(dataset)["sent_at"].dt.tz) == "UTC"
    assert sync_sends(dataset, ledger=ledger) == 0
    # the KPIs read it where it lies, with the same numbers as from the ledger's frame
    reports = pd.DataFrame(
        {"msgid": expected(ledger)["msgid"], "mobile": expected(ledger)["mobile"], "status": "DELIVRD"}
    ).assign(report_time=expected(ledger)["sent_at"] + pd.Timedelta(seconds=5))
    frames = kpi.delivery_rate(sms.read_sends(ledger), reports, by="city", as_of="2099-01-01")
    paths = kpi.delivery_rate(dataset, reports, by="city", as_of="2099-01-01")
    pd.testing.assert_frame_equal(paths, frames)


def test_a_changed_request_rewrites_its_days_only_and_leaves_no_stale_row(ledger: Path, tmp_path: Path) -> None:
    dataset = tmp_path / "warehouse"
    sync_sends(dataset, ledger=ledger)
    with sqlite3.connect(ledger) as db:
        first, last = db.execute("SELECT min(id), max(id) FROM requests").fetchone()
    move(ledger, first, state="unknown", msgid=None)
    move(ledger, last, sent_at="2026-01-02T03:04:05.000000+00:00")  # sent again another day
    rows = sync_sends(dataset, ledger=ledger)
    assert rows == 42  # the day both were sent (30 rows left on it) and the new day (c2, 12 rows)
    same(stored(dataset), expected(ledger))
    assert sorted(p.name for p in (dataset / "sends").iterdir())[0] == "date=2026-01-02"
    move(ledger, last, state="planned", sent_at=None)  # requeued: out of the warehouse until sent
    sync_sends(dataset, ledger=ledger)
    same(stored(dataset), expected(ledger))
    assert not (dataset / "sends" / "date=2026-01-02").exists()


def test_a_sync_killed_between_days_is_finished_by_the_next(ledger: Path, tmp_path: Path) -> None:
    dataset = tmp_path / "warehouse"
    move(ledger, 1, sent_at="2026-01-02T03:04:05.000000+00:00")
    code = "import sys; from smsdata import sync_sends; sync_sends(sys.argv[1], ledger=sys.argv[2])"
    env = {**os.environ, "SMSDATA_FAULTS": "synced_day:1=SIGKILL"}
    killed = subprocess.run([sys.executable, "-c", code, str(dataset), str(ledger)], env=env, check=False)
    assert killed.returncode == -signal.SIGKILL
    assert len(stored(dataset)) == 1  # the first day, whole; nothing of the second
    assert not (dataset / "_sends" / "state.json").exists()
    assert sync_sends(dataset, ledger=ledger) == 42  # both days (the first again: its mark was not saved)
    same(stored(dataset), expected(ledger))
    assert not list(dataset.rglob("*.tmp"))


def test_a_second_sync_at_once_is_refused(ledger: Path, tmp_path: Path) -> None:
    dataset = tmp_path / "warehouse"
    (dataset / "_sends").mkdir(parents=True)
    with (dataset / "_sends" / "lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(sms.IngestError, match="another sync_sends is writing"):
            sync_sends(dataset, ledger=ledger)
    assert not (dataset / "sends").exists()


def test_no_ledger_is_a_ledger_error_and_creates_none(tmp_path: Path) -> None:
    with pytest.raises(sms.LedgerError, match="no ledger at"):
        sync_sends(tmp_path / "warehouse", ledger=tmp_path / "none.sqlite")
    assert not (tmp_path / "none.sqlite").exists()


def test_the_cli_syncs_alone_and_after_an_ingest(ledger: Path, tmp_path: Path) -> None:
    dataset = tmp_path / "warehouse"
    runner = CliRunner()
    done = runner.invoke(cli, ["sync-sends", "--dataset", str(dataset), "--ledger", str(ledger)])
    assert done.exit_code == 0, done.output
    assert f"42 sends written to {dataset}/sends" in done.output
    log = tmp_path / "reports.log"
    log.write_text("Report=m1,13900000000,DELIVRD,2026-11-20 10:00:00\n")
    again = runner.invoke(
        cli, ["ingest", str(log), "--dataset", str(dataset), "--ledger", str(ledger), "--no-progress"]
    )
    assert again.exit_code == 0, again.output
    assert f"the sends in {dataset} are up to date" in again.output


def _same_burn(got: sms.BalanceBurn, want: sms.BalanceBurn) -> None:
    pd.testing.assert_frame_equal(got.daily, want.daily)
    pd.testing.assert_frame_equal(got.campaigns, want.campaigns)
    assert (got.balance, got.runs_out) == (want.balance, want.runs_out)


def test_balance_burn_counts_the_spending_where_the_sends_live(ledger: Path, tmp_path: Path) -> None:
    dataset = tmp_path / "warehouse"
    sync_sends(dataset, ledger=ledger)
    sends = sms.read_sends(ledger)
    reports = sends[["msgid", "mobile"]].assign(status="DELIVRD", report_time=sends["sent_at"])
    want = sms.balance_burn(ledger, sends, reports, as_of="2099-01-01")
    assert want.campaigns["messages"].tolist() == [30, 12]
    assert want.campaigns["delivered"].tolist() == [30, 12]
    _same_burn(sms.balance_burn(ledger, dataset, reports, as_of="2099-01-01"), want)


@pytest.mark.spark
def test_balance_burn_on_spark(ledger: Path, spark) -> None:
    import pyarrow as pa

    sends = sms.read_sends(ledger)
    reports = sends[["msgid", "mobile"]].assign(status="DELIVRD", report_time=sends["sent_at"])
    on_spark = spark.createDataFrame(pa.Table.from_pandas(sends.drop(columns="content"), preserve_index=False))
    want = sms.balance_burn(ledger, sends, reports, as_of="2099-01-01", tz="Asia/Shanghai")
    _same_burn(sms.balance_burn(ledger, on_spark, reports, as_of="2099-01-01", tz="Asia/Shanghai"), want)


def test_a_day_left_after_its_state_was_lost_is_removed(ledger: Path, tmp_path: Path) -> None:
    dataset = tmp_path / "warehouse"
    move(ledger, 1, sent_at="2026-01-02T03:04:05.000000+00:00")
    sync_sends(dataset, ledger=ledger)
    (dataset / "_sends" / "state.json").unlink()
    move(ledger, 1, state="planned", sent_at=None)  # requeued: that day has nothing now
    sync_sends(dataset, ledger=ledger)
    assert not (dataset / "sends" / "date=2026-01-02").exists()
    same(stored(dataset), expected(ledger))


@pytest.mark.parametrize("name", ["date", "Date", "Campaign", "MOBILE"])
def test_a_kept_column_the_warehouse_would_confuse_is_refused(name: str) -> None:
    with pytest.raises(sms.SmsdataError, match="would clash"):
        plan_campaign(personal(3).assign(**{name: "x"}), mobile="m", content="c", keep=[name])
