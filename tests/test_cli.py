"""The smsdata command: each command works, fails with one clear line, is documented."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from smsdata._serve import serving
from smsdata.cli import cli
from smsdata.simulator import GatewaySimulator

from .conftest import CANARY

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def live(sim: GatewaySimulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[GatewaySimulator]:
    """The simulator on a loopback port, with SMSDATA_* pointing at it."""
    with serving(sim.app) as url:
        monkeypatch.setenv("SMSDATA_URL", f"{url}/Admin/index.php")
        monkeypatch.setenv("SMSDATA_UID", "demo")
        monkeypatch.setenv("SMSDATA_PWD", CANARY)
        yield sim


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_balance(live: GatewaySimulator) -> None:
    result = invoke("balance")
    assert (result.exit_code, result.output) == (0, "balance: 1000.00\n")


def test_send(live: GatewaySimulator) -> None:
    result = invoke("send", "--to", "13800138000, 13912345678", "--content", "Hello")
    assert result.exit_code == 0
    assert result.output == "accepted: msgid 800000 (2 numbers)\n"
    assert [r[1] for r in live.accepted_rows()] == ["13800138000", "13912345678"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["send", "--to", "12", "--content", "Hi"], "InvalidMobile: gateway code 2", id="invalid-mobile"),
        pytest.param(["send", "--to", "13800138000", "--content", ""], "EmptyContent", id="empty"),
    ],
)
def test_gateway_errors_one_line_exit_1(live: GatewaySimulator, args: list[str], message: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert result.output.startswith("Error: ")
    assert message in result.output
    assert "Traceback" not in result.output


def test_wrong_password_exit_1_without_showing_it(live: GatewaySimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSDATA_PWD", "Wrong-" + CANARY)
    result = invoke("balance")
    assert result.exit_code == 1
    assert "AuthError: gateway code 1" in result.output
    assert CANARY not in result.output


def test_missing_config_exit_1() -> None:
    result = invoke("balance")
    assert result.exit_code == 1
    assert result.output == (
        "Error: ConfigError: SMSDATA_URL, SMSDATA_UID, SMSDATA_PWD not set: put them in the environment "
        "or in a .env file (see README, 'Using the real gateway'), or run `smsdata simulate`\n"
    )


def test_unreachable_gateway_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        monkeypatch.setenv("SMSDATA_URL", f"http://127.0.0.1:{s.getsockname()[1]}")
        monkeypatch.setenv("SMSDATA_UID", "demo")
        monkeypatch.setenv("SMSDATA_PWD", CANARY)
        result = invoke("send", "--to", "13800138000", "--content", "Hi")
    assert result.exit_code == 1
    assert "GatewayUnreachable" in result.output


def test_usage_error_exit_2() -> None:
    assert invoke("send", "--to", "13800138000").exit_code == 2


def commands() -> list[str]:
    return sorted(cli.commands)


@pytest.mark.parametrize("name", commands())
def test_every_command_has_help_and_is_in_readme(name: str) -> None:
    result = invoke(name, "--help")
    assert result.exit_code == 0
    assert len(cli.commands[name].help or "") > 20
    assert re.search(rf"smsdata {name}\b", (ROOT / "README.md").read_text()), f"README lacks `smsdata {name}`"


def test_simulate_subprocess_serves_and_stops(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        [sys.executable, "-m", "smsdata", "simulate", "--port", "0", "--pwd", CANARY, "--balance", "50"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        try:
            line = proc.stdout.readline()
            match = re.match(r"simulated gateway at (http://127\.0\.0\.1:\d+/Admin/index\.php) \(uid demo\)", line)
            assert match, line
            env.update(SMSDATA_URL=match.group(1), SMSDATA_UID="demo", SMSDATA_PWD=CANARY)
            run = [sys.executable, "-m", "smsdata", "balance"]
            out = subprocess.run(run, capture_output=True, text=True, env=env, timeout=60)
            assert (out.returncode, out.stdout) == (0, "balance: 50.00\n")
            env["SMSDATA_PWD"] = "nope"
            bad = subprocess.run(run, capture_output=True, text=True, env=env, timeout=60)
            assert bad.returncode == 1
            assert bad.stderr.startswith("Error: AuthError")
            assert "Traceback" not in bad.stderr
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        stderr = proc.stderr.read()
    assert CANARY not in stderr


def test_simulate_port_in_use_is_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        result = invoke("simulate", "--port", str(s.getsockname()[1]))
    assert result.exit_code == 1
    assert result.output.startswith("Error: SmsdataError: cannot listen on 127.0.0.1:")


@pytest.fixture
def customers_csv(tmp_path: Path) -> Path:
    path = tmp_path / "customers.csv"
    path.write_text("phone,name\n138 0013 8000,Li\n+86 139 1234 5678,Wang\n1.38E+10,Bad\n18600001111,Zhao\n")
    return path


def test_send_campaign_file_then_campaigns_and_resume(
    live: GatewaySimulator, customers_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMSDATA_HOME", str(tmp_path / "home"))
    args = ["send", str(customers_csv), "--mobile-column", "phone", "--template", "Hi {name}", "--name", "n1"]
    dry = invoke(*args, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "campaign 'n1' (dry run): recipients planned 3" in dry.output
    assert live.accepted == []
    sent = invoke(*args)
    assert sent.exit_code == 0, sent.output
    assert "rejected: invalid_mobile 1" in sent.output
    assert "campaign 'n1': recipients accepted 3" in sent.output
    assert sorted(m for _, m, _ in live.accepted_rows()) == ["13800138000", "13912345678", "18600001111"]
    listing = invoke("campaigns")
    assert listing.output == "n1: 3 recipients in 3 requests (accepted 3)\n"
    resumed = invoke("resume", "n1")
    assert resumed.exit_code == 0
    assert "requests sent now: 0" in resumed.output
    assert len(live.accepted) == 3


def test_send_file_usage_errors(customers_csv: Path) -> None:
    assert invoke("send", str(customers_csv), "--mobile-column", "phone", "--name", "x").exit_code == 2
    assert invoke("send", str(customers_csv), "--to", "13800138000", "--content", "Hi").exit_code == 2
    assert invoke("send", "--to", "13800138000").exit_code == 2


def test_resume_unknown_campaign_is_one_line(live: GatewaySimulator, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SMSDATA_HOME", str(tmp_path / "home"))
    result = invoke("resume", "nope")
    assert result.exit_code == 1
    assert "no campaign named 'nope'" in result.output


def test_campaigns_when_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSDATA_HOME", str(tmp_path / "home"))
    result = invoke("campaigns")
    assert result.exit_code == 0
    assert result.output.startswith("no campaigns in ")


def test_an_empty_campaign_file_is_refused_and_campaigns_never_crashes(
    live: GatewaySimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMSDATA_HOME", str(tmp_path / "home"))
    empty = tmp_path / "empty.csv"
    empty.write_text("phone,name\n")
    result = invoke("send", str(empty), "--mobile-column", "phone", "--template", "Hi {name}", "--name", "e")
    assert result.exit_code == 1
    assert "has no recipients" in result.output
    from smsdata.ledger import Ledger

    with Ledger(tmp_path / "home" / "ledger.sqlite") as ledger:  # a campaign with no requests, as older versions left
        ledger.transaction(
            [("INSERT INTO campaigns VALUES ('old', 'x', '2026-11-01T00:00:00+00:00', 0, 0, 0, '1')", ())]
        )
    listing = invoke("campaigns")
    assert listing.exit_code == 0, listing.output
    assert listing.output == "old: 0 recipients in 0 requests (empty)\n"
