"""`smsdata demo` runs against the simulator and reports what it did."""

from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner

from smsdata.cli import cli
from smsdata.demo import run_demo


def test_run_demo(tmp_path: Path) -> None:
    summary = run_demo(tmp_path / "demo")
    assert summary.directory == tmp_path / "demo"
    assert summary.directory.is_dir()
    assert summary.recipients == 3
    assert summary.balance_before == Decimal("10000.00")
    assert summary.balance_after == Decimal("9997.00")
    assert summary.msgid.isdigit()


def test_demo_command(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["demo", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "sent:              3 messages" in result.output
    assert "(spent 3.00)" in result.output
