"""`smsdata demo`: the whole flow on loopback; run twice, it sends nothing twice; it leaves no server or temp folder."""

import os
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

import smsdata as sms
import smsdata.demo
from smsdata.cli import cli
from smsdata.demo import CAMPAIGN, DemoSummary, demo_customers, run_demo, sample_campaign
from smsdata.errors import SmsdataError

pytestmark = pytest.mark.slow  # whole runs of the demo: tens of seconds each


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private system temp folder (TMPDIR), so other processes' temp files do not matter."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setenv("TMPDIR", str(root))
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() caches its answer
    assert tempfile.gettempdir() == str(root)
    return root


def test_demo_runs_the_whole_flow_then_sends_nothing_twice(tmp_path: Path) -> None:
    threads = set(threading.enumerate())
    first = run_demo(tmp_path / "demo")
    assert first.rows == 2000
    assert first.rejected == {
        "invalid_mobile": 151,
        "missing_value": 11,
        "empty_content": 0,
        "content_too_long": 0,
        "control_character": 0,
        "suppressed": 0,
        "duplicate": 14,
    }
    assert first.recipients == first.sent == first.sent_now == 1824
    assert 0.8 < first.delivery_rate < 0.95  # the simulator delivers ~88% (98% get a report, 90% of them DELIVRD)
    assert first.delivered == round(first.delivery_rate * first.sent)
    assert 5 < first.p50 < first.p90 < 300  # the simulator's latencies, in seconds
    assert first.spent == 1824  # one unit per single-segment message
    assert "0 quarantined" in first.ingest

    root = tmp_path / "demo"
    assert (root / "ledger.sqlite").is_file()
    assert list((root / "receiver").glob("reports-*.log"))
    assert list((root / "warehouse" / "reports").glob("date=*/*.parquet"))
    html = (root / "report.html").read_text()
    assert CAMPAIGN in html
    assert html.count("<img") == 5
    sends = sms.read_sends(root / "ledger.sqlite")
    assert sends["state"].eq("accepted").all()
    assert sends["mobile"].is_unique
    assert sends["city"].notna().all()  # kept from the spreadsheet, for KPIs by city

    again = run_demo(root)
    assert again.sent_now == 0
    assert (again.sent, again.delivered, again.spent) == (first.sent, first.delivered, first.spent)
    assert len(sms.read_sends(root / "ledger.sqlite")) == len(sends)
    assert not [t for t in threading.enumerate() if t not in threads and t.name != "tqdm_monitor" and t.is_alive()]


def test_sample_campaign_is_the_committed_spreadsheet() -> None:
    sample = sample_campaign()
    generated = demo_customers()
    assert len(sample) == len(generated) == 2000
    assert sample["order_id"].tolist() == generated["order_id"].tolist()
    assert demo_customers().equals(demo_customers())


def test_demo_command_keeps_its_dir(tmp_path: Path, temp_root: Path) -> None:
    result = CliRunner().invoke(cli, ["demo", "--dir", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    assert "2,000 rows -> 1,824 recipients" in result.output
    assert re.search(r"delivered: +1,\d{3} \(\d\d\.\d% of sent\)", result.output)
    assert f"files:         {tmp_path / 'demo'} (ledger.sqlite, receiver/, warehouse/)" in result.output
    assert f"report:        {tmp_path / 'demo' / 'report.html'}" in result.output
    assert (tmp_path / "demo" / "report.html").is_file()
    assert (tmp_path / "demo" / "ledger.sqlite").is_file()
    assert not list(temp_root.glob("smsdata-demo-*"))


def test_demo_command_without_dir_leaves_nothing_behind(temp_root: Path) -> None:
    result = CliRunner().invoke(cli, ["demo"])
    assert result.exit_code == 0, result.output
    assert "2,000 rows -> 1,824 recipients" in result.output
    assert "(to keep them: smsdata demo --dir DIR)" in result.output
    assert "report:" not in result.output  # no path to a file that is gone
    assert str(temp_root) not in result.output
    assert not list(temp_root.glob("smsdata-demo-*"))


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(KeyboardInterrupt(), id="ctrl-c"),
        pytest.param(SmsdataError("the gateway fell over"), id="failure"),
    ],
)
def test_demo_without_dir_removes_its_folder_when_stopped(
    temp_root: Path, monkeypatch: pytest.MonkeyPatch, fault: BaseException
) -> None:
    """Stopped while both servers run and the ledger and logs are written: servers stopped, folder gone."""
    seen: list[Path] = []

    def stop_here(sim: object) -> None:
        seen.extend(temp_root.glob("smsdata-demo-*/ledger.sqlite"))
        raise fault

    monkeypatch.setattr(smsdata.demo, "_wait_for_reports", stop_here)
    with pytest.raises(type(fault)):
        run_demo()
    assert len(seen) == 1  # the fault came mid-run
    assert not list(temp_root.iterdir())
    # conftest's hygiene fixture fails the test if a server thread is still running


@pytest.mark.skipif(sys.platform == "win32", reason="signals are POSIX")
@pytest.mark.parametrize(("signal_name", "status"), [("SIGINT", 130), ("SIGTERM", 143)])
def test_smsdata_demo_stopped_while_sending_removes_its_folder(temp_root: Path, signal_name: str, status: int) -> None:
    env = {**os.environ, "TMPDIR": str(temp_root), "SMSDATA_FAULTS": f"claimed:100={signal_name}"}
    run = subprocess.run(
        [sys.executable, "-m", "smsdata", "demo"], env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == status, run.stderr
    if signal_name == "SIGINT":
        assert run.stderr.rstrip().endswith("interrupted")
    assert "smsdata resume" not in run.stderr  # its ledger is gone: nothing to resume
    assert not list(temp_root.iterdir())


def test_summary_without_a_kept_dir_names_no_file() -> None:
    summary = DemoSummary(
        directory=None,
        rows=3,
        recipients=2,
        rejected={"duplicate": 1},
        sent=2,
        sent_now=2,
        delivered=1,
        delivery_rate=0.5,
        p50=1.0,
        p90=2.0,
        spent=2.0,
        ingest="2 lines",
        report=None,
    )
    text = summary.text()
    assert "None" not in text
    assert "report.html were temporary" in text
    assert text.endswith("(to keep them: smsdata demo --dir DIR)")
