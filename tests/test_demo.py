"""`smsdata demo`: the whole flow on loopback; run twice, it sends nothing twice; its servers stop."""

import re
import threading
from pathlib import Path

from click.testing import CliRunner

import smsdata as sms
from smsdata.cli import cli
from smsdata.demo import CAMPAIGN, demo_customers, run_demo, sample_campaign


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


def test_demo_command(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["demo", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "2,000 rows -> 1,824 recipients" in result.output
    assert re.search(r"delivered: +1,\d{3} \(\d\d\.\d% of sent\)", result.output)
    assert f"report:        {tmp_path / 'report.html'}" in result.output
