"""`smsdata demo` plans and sends a campaign against the simulator; run twice, it sends nothing twice."""

from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner

import smsdata as sms
from smsdata.cli import cli
from smsdata.demo import CAMPAIGN, demo_customers, run_demo


def test_run_demo_then_rerun_sends_nothing(tmp_path: Path) -> None:
    first = run_demo(tmp_path / "demo")
    assert first.rows == 200
    assert first.rejected == {
        "invalid_mobile": 33,  # every sixth row is a digit short
        "missing_value": 3,  # four rows lack a name; one of them is also a short number
        "empty_content": 0,
        "content_too_long": 0,
        "suppressed": 0,
        "duplicate": 1,
    }
    assert first.recipients == 200 - 33 - 3 - 1
    assert first.accepted == first.recipients == first.sent_now
    assert first.balance_before == Decimal("10000.00")
    assert first.balance_before - first.balance_after == first.recipients  # one segment each
    sends = sms.read_sends(tmp_path / "demo" / "ledger.sqlite", campaign=CAMPAIGN)
    assert len(sends) == first.recipients
    assert sends["state"].eq("accepted").all()
    again = run_demo(tmp_path / "demo")
    assert again.sent_now == 0
    assert again.balance_before == again.balance_after  # a fresh simulator charged nothing


def test_demo_customers_are_reproducible() -> None:
    assert demo_customers().equals(demo_customers())


def test_demo_command(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["demo", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "200 rows -> 163 recipients" in result.output
    assert "(spent 163.00)" in result.output
