"""The smsdata command: each command works, fails with one clear line, is documented."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import smsdata as sms
from smsdata._serve import serving
from smsdata.cli import cli
from smsdata.simulator import Account, GatewaySimulator

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


def test_send_to_is_cleaned_and_recorded_like_a_campaign(
    live: GatewaySimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMSDATA_HOME", str(tmp_path / "home"))
    result = invoke("send", "--to", "+8613800138000, 139-1234-5678", "--content", "Hello {name}", "--yes")
    assert result.exit_code == 0, result.output
    assert "2 recipient(s) in 1 request(s)" in result.output
    assert [(r[1], r[2]) for r in live.accepted_rows()] == [
        ("13800138000", "Hello {name}"),  # cleaned; the text is sent as typed, never a template
        ("13912345678", "Hello {name}"),
    ]
    sends = sms.read_sends(tmp_path / "home" / "ledger.sqlite")
    assert sends["mobile"].tolist() == ["13800138000", "13912345678"]
    assert sends["state"].tolist() == ["accepted", "accepted"]
    (name,) = sends["campaign"].unique()
    assert re.fullmatch(r"to-\d{8}-\d{6}-[0-9a-f]{6}", name)  # when, and a hash of what
    assert invoke("campaigns").output == f"{name}: 2 recipients in 1 requests (accepted 1)\n"
    again = invoke("send", "--to", "13800138000", "--content", "Hi", "--name", "ping", "--yes")
    assert again.exit_code == 0
    twice = invoke("send", "--to", "13800138000", "--content", "Hi", "--name", "ping", "--yes")
    assert "still to send" in twice.output
    assert len(live.accepted) == 2  # the named --to campaign ran twice, sent once


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["send", "--to", "12", "--content", "Hi"], "has no recipients", id="invalid-mobile"),
        pytest.param(["send", "--to", "13800138000", "--content", ""], "has no recipients", id="empty"),
    ],
)
def test_bad_to_sends_are_refused_in_one_line(
    live: GatewaySimulator, args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMSDATA_HOME", str(tmp_path / "home"))
    result = invoke(*args, "--yes")
    assert result.exit_code == 1
    assert result.output.splitlines()[-1].startswith("Error: ")
    assert message in result.output
    assert "Traceback" not in result.output
    assert live.accepted == []


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


def test_unreachable_gateway_exit_1(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        monkeypatch.setenv("SMSDATA_URL", f"http://127.0.0.1:{s.getsockname()[1]}")
        monkeypatch.setenv("SMSDATA_UID", "demo")
        monkeypatch.setenv("SMSDATA_PWD", CANARY)
        monkeypatch.setenv("SMSDATA_HOME", str(tmp_path / "home"))
        result = invoke("send", "--to", "13800138000", "--content", "Hi", "--yes")
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
    assert result.output.startswith("Error: ServerError: cannot listen on 127.0.0.1:")


@pytest.fixture
def customers_csv(tmp_path: Path) -> Path:
    path = tmp_path / "customers.csv"
    path.write_text("phone,name\n138 0013 8000,Li\n+86 139 1234 5678,Wang\n1.38E+10,Bad\n18600001111,Zhao\n")
    return path


def test_send_campaign_file_then_campaigns_and_resume(
    live: GatewaySimulator, customers_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMSDATA_HOME", str(tmp_path / "home"))
    args = ["send", str(customers_csv), "--mobile", "phone", "--template", "Hi {name}", "--name", "n1"]
    sent = invoke(*args, "--yes", "--no-progress")
    assert sent.exit_code == 0, sent.output
    assert "rejected 1 row(s): invalid_mobile 1" in sent.output
    assert "balance 1,000.00 unit(s); this send costs about 3 unit(s)" in sent.output
    assert "campaign 'n1': recipients accepted 3" in sent.output
    assert sorted(m for _, m, _ in live.accepted_rows()) == ["13800138000", "13912345678", "18600001111"]
    listing = invoke("campaigns")
    assert listing.output == "n1: 3 recipients in 3 requests (accepted 3)\n"
    again = invoke(*args)  # the same command again: nothing left, nothing asked, nothing sent
    assert again.exit_code == 0, again.output
    assert "0 recipient(s) in 0 request(s) still to send" in again.output
    resumed = invoke("resume", "n1")
    assert resumed.exit_code == 0
    assert "requests sent now: 0" in resumed.output
    assert len(live.accepted) == 3


@pytest.fixture
def many_bad_rows(tmp_path: Path) -> Path:
    path = tmp_path / "bad.csv"
    rows = [f"1380013{i:04d},Good{i}" for i in range(4)] + [f"12{i},Bad{i}" for i in range(25)]
    path.write_text("phone,name\n" + "\n".join(rows) + "\n")
    return path


def test_dry_run_is_offline_and_shows_the_plan(
    many_bad_rows: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMSDATA_HOME", str(tmp_path / "home"))  # no gateway settings at all
    out = tmp_path / "rejects.csv"
    args = ["send", str(many_bad_rows), "--mobile", "phone", "--template", "Hi {name}", "--name", "d"]
    result = invoke(*args, "--dry-run")
    assert result.exit_code == 0, result.output
    text = result.output
    assert "campaign 'd': 4 recipient(s) in 4 request(s), 4 segment(s), estimated cost 4 unit(s)" in text
    assert "rejected 25 row(s): invalid_mobile 25" in text
    shown = re.findall(r"^\s+(\d+)\s+(12\d+)\s+invalid_mobile\s+(\S+)$", text, re.MULTILINE)
    assert len(shown) == 20
    assert shown[0] == ("6", "120", "wrong_length")  # row numbers as in the spreadsheet (header is row 1)
    assert "the first 20 of 25; all with --rejects-out FILE" in text
    assert "sample message(s), 3 of 4:\n  13800130000: Hi Good0\n  13800130001: Hi Good1\n" in text
    assert text.rstrip().endswith("dry run: nothing was sent or recorded")
    assert not (tmp_path / "home").exists()
    written = invoke(*args, "--dry-run", "--rejects-out", str(out))
    assert f"all 25 rejected row(s) written to {out}" in written.output
    rejects = pd.read_csv(out, dtype=str, encoding="utf-8-sig")
    assert list(rejects.columns) == ["row", "value", "reason", "detail"]
    assert len(rejects) == 25


def test_real_send_asks_first_and_needs_yes_without_a_terminal(
    live: GatewaySimulator, customers_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smsdata.cli import sending

    monkeypatch.setenv("SMSDATA_HOME", str(tmp_path / "home"))
    args = ["send", str(customers_csv), "--mobile", "phone", "--template", "Hi {name}", "--name", "q"]
    piped = invoke(*args)  # CliRunner's stdin is no terminal
    assert piped.exit_code == 2
    assert "not run from a terminal: add --yes" in piped.output
    assert live.accepted == []
    monkeypatch.setattr(sending, "can_ask", lambda: True)
    declined = CliRunner().invoke(cli, args, input="n\n")
    assert "Send 3 message(s) as campaign 'q'? [y/N]" in declined.output
    assert declined.exit_code == 1
    assert live.accepted == []
    assert not (tmp_path / "home" / "ledger.sqlite").exists()
    accepted = CliRunner().invoke(cli, args, input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert len(live.accepted) == 3


def test_a_send_the_balance_does_not_cover_is_refused_before_asking(
    live: GatewaySimulator, customers_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMSDATA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SMSDATA_UID", "poor")  # balance 1, the plan costs 3
    result = invoke("send", str(customers_csv), "--mobile", "phone", "--template", "Hi {name}", "--name", "p")
    assert result.exit_code == 1
    assert "does not cover the estimated cost 3; nothing was sent" in result.output
    assert live.accepted == []


def test_progress_stays_out_of_output_that_is_no_terminal(
    live: GatewaySimulator, customers_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMSDATA_HOME", str(tmp_path / "home"))
    args = ["send", str(customers_csv), "--mobile", "phone", "--template", "Hi {name}", "--name", "g", "--yes"]
    result = CliRunner().invoke(cli, args)  # progress on by default, but stderr is no terminal
    assert result.exit_code == 0
    assert "\r" not in result.output
    assert "msg/s" not in result.output
    assert "it/s" not in result.output


def test_send_file_usage_errors(customers_csv: Path) -> None:
    assert invoke("send", str(customers_csv), "--mobile", "phone", "--name", "x").exit_code == 2
    assert invoke("send", str(customers_csv), "--to", "13800138000", "--content", "Hi").exit_code == 2
    assert invoke("send", "--to", "13800138000").exit_code == 2
    no_name = invoke("send", str(customers_csv), "--mobile", "phone", "--template", "Hi")
    assert no_name.exit_code == 2
    assert "FILE needs --name" in no_name.output


def test_the_old_column_flags_still_work(customers_csv: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SMSDATA_HOME", str(tmp_path / "home"))
    args = ["send", str(customers_csv), "--mobile-column", "phone", "--template", "Hi", "--name", "o", "--dry-run"]
    assert "3 recipient(s)" in invoke(*args).output


def test_a_workbook_without_the_column_names_its_sheets(tmp_path: Path, monkeypatch) -> None:
    from openpyxl import Workbook

    monkeypatch.setenv("SMSDATA_HOME", str(tmp_path / "home"))
    book = Workbook()
    book.active.title = "Summary"
    book.active.append(["total"])
    book.create_sheet("Customers").append(["phone", "name"])
    book.save(tmp_path / "c.xlsx")
    result = invoke("send", str(tmp_path / "c.xlsx"), "--mobile", "phone", "--template", "Hi", "--name", "x")
    assert result.exit_code == 1
    assert "sheet 'Customers' has a column 'phone'" in result.output
    assert "--sheet Customers" in result.output or "--sheet 'Customers'" in result.output


def test_resume_unknown_campaign_is_one_line(live: GatewaySimulator, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SMSDATA_HOME", str(tmp_path / "home"))
    result = invoke("resume", "nope")
    assert result.exit_code == 1
    assert "no campaign named 'nope'" in result.output


def test_campaigns_when_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSDATA_HOME", str(tmp_path / "home"))
    result = invoke("campaigns")
    assert result.exit_code == 0
    assert result.output.startswith("no campaigns: no ledger at ")
    assert not (tmp_path / "home").exists()  # looking created nothing


def test_an_empty_campaign_file_is_refused_and_campaigns_never_crashes(
    live: GatewaySimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMSDATA_HOME", str(tmp_path / "home"))
    empty = tmp_path / "empty.csv"
    empty.write_text("phone,name\n")
    result = invoke("send", str(empty), "--mobile", "phone", "--template", "Hi {name}", "--name", "e")
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


@pytest.fixture
def sent_and_received(live: GatewaySimulator, customers_csv: Path, tmp_path: Path, monkeypatch) -> Path:
    """Campaign k sent through the CLI, two of its three reports (one DELIVRD 30 s after sending, one
    UNDELIV) in a log with one broken line, ingested into tmp_path/warehouse."""
    monkeypatch.setenv("SMSDATA_HOME", str(tmp_path / "home"))
    args = ["send", str(customers_csv), "--mobile", "phone", "--template", "Hi {name}", "--name", "k", "--yes"]
    assert invoke(*args).exit_code == 0
    sends = sms.read_sends().sort_values("mobile")
    local = sends["sent_at"].dt.tz_convert("Asia/Shanghai").dt.floor("s")
    msgid, mobile = sends["msgid"].tolist(), sends["mobile"].tolist()
    lines = [
        f"Report={msgid[0]},{mobile[0]},DELIVRD,{local.iloc[0] + pd.Timedelta('30s'):%Y-%m-%d %H:%M:%S}",
        f"Report={msgid[1]},{mobile[1]},UNDELIV,{local.iloc[1] + pd.Timedelta('5s'):%Y-%m-%d %H:%M:%S}",
        "Report=this,is,broken",
    ]
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "reports.log").write_text("\n".join(lines) + "\n")
    result = invoke("ingest", str(tmp_path / "logs"), "--dataset", str(tmp_path / "warehouse"), "--no-progress")
    assert result.exit_code == 0, result.output
    assert f"smsdata quarantine --dataset {tmp_path / 'warehouse'}" in result.output
    return tmp_path / "warehouse"


LATER = ["--as-of", str(pd.Timestamp.now(tz="UTC") + pd.Timedelta("1h"))]  # the reports' times have come


def test_kpi_tables_in_the_terminal(sent_and_received: Path) -> None:
    result = invoke("kpi", "--by", "campaign", "--dataset", str(sent_and_received), "--campaign", "k", *LATER)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Delivery"
    assert lines[1].split() == [
        "Campaign", "Sent", "Delivered", "Failed", "Pending", "No", "report", "Delivery", "rate", "95%", "interval"
    ]  # fmt: skip
    assert lines[3].split()[:7] == ["k", "3", "1", "1", "1", "0", "33.3%"]
    latency = lines[lines.index("Time to delivery receipt (delivered messages)") + 3].split()
    assert latency[:2] == ["k", "1"]
    assert latency[2:4] in (["29", "s"], ["30", "s"])


def test_kpi_to_csv_has_rates_and_latency(sent_and_received: Path, tmp_path: Path) -> None:
    out = tmp_path / "k.csv"
    args = ["--by", "carrier", "--freq", "D", "--dataset", str(sent_and_received), "--out", str(out), *LATER]
    result = invoke("kpi", *args)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, encoding="utf-8-sig")
    assert {"carrier", "period", "sent", "delivered", "delivery_rate", "p50_seconds", "p90_seconds"} <= set(table)
    assert table["sent"].sum() == 3
    assert table["delivered"].sum() == 1
    (p50,) = table["p50_seconds"].dropna().tolist()
    assert 29.0 < p50 <= 30.0  # 30 s after the send, stamped to the whole second


def test_kpi_refuses_an_unknown_campaign_in_one_line(sent_and_received: Path) -> None:
    result = invoke("kpi", "--dataset", str(sent_and_received), "--campaign", "nope")
    assert result.exit_code == 1
    assert result.output == "Error: ReportError: no campaign named 'nope' (campaigns in the ledger: k)\n"


def test_quarantine_lists_and_writes_the_set_aside_lines(sent_and_received: Path, tmp_path: Path) -> None:
    result = invoke("quarantine", "--dataset", str(sent_and_received))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "1 quarantined line(s): wrong_field_count 1"
    assert "reports.log:3  wrong_field_count  'Report=this,is,broken'" in result.output
    out = tmp_path / "q.csv"
    written = invoke("quarantine", "--dataset", str(sent_and_received), "--out", str(out))
    assert f"all written to {out}" in written.output
    assert pd.read_csv(out, encoding="utf-8-sig")["line_number"].tolist() == [3]
    missing = invoke("quarantine", "--dataset", str(tmp_path / "nope"))
    assert missing.exit_code == 1
    assert not (tmp_path / "nope").exists()


def test_to_takes_numbers_as_people_paste_them(live: GatewaySimulator, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SMSDATA_HOME", str(tmp_path / "home"))
    result = invoke("send", "--to", "138 0013 8000，139-1234-5678; 186 0000 1111\n", "--content", "Hi", "--yes")
    assert result.exit_code == 0, result.output
    assert sorted(m for _, m, _ in live.accepted_rows()) == ["13800138000", "13912345678", "18600001111"]


def test_a_send_the_gateway_refused_entirely_exits_1_with_its_reason(tmp_path: Path, monkeypatch) -> None:
    refusing = GatewaySimulator([Account("demo", CANARY, balance=Decimal(1000))], fail_share=1.0, seed=1)
    monkeypatch.setenv("SMSDATA_HOME", str(tmp_path / "home"))
    with serving(refusing.app) as url:
        monkeypatch.setenv("SMSDATA_URL", f"{url}/Admin/index.php")
        monkeypatch.setenv("SMSDATA_UID", "demo")
        monkeypatch.setenv("SMSDATA_PWD", CANARY)
        result = invoke("send", "--to", "13800138000", "--content", "hi", "--name", "refused", "--yes")
    assert result.exit_code == 1
    assert "rejected by the gateway: code 7" in result.output
    assert result.output.rstrip().endswith("Error: the gateway accepted none of campaign 'refused''s requests")


@pytest.mark.parametrize("name", ["two\nlines", "bell\a", ""])
def test_a_campaign_name_is_one_printable_line(customers_csv: Path, live, tmp_path: Path, monkeypatch, name) -> None:
    monkeypatch.setenv("SMSDATA_HOME", str(tmp_path / "home"))
    result = invoke("send", str(customers_csv), "--mobile", "phone", "--template", "Hi", "--name", name, "--yes")
    assert result.exit_code in (1, 2)
    assert live.accepted == []


def test_a_bad_as_of_is_one_line(sent_and_received: Path) -> None:
    result = invoke("kpi", "--dataset", str(sent_and_received), "--as-of", "garbage")
    assert result.exit_code == 1
    assert result.output == "Error: KpiError: as_of='garbage' is not a time (write it like '2026-11-23 09:00', UTC)\n"


def test_kpi_without_a_dataset_says_so(sent_and_received: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["kpi", "--dataset", str(tmp_path / "warehous")])
    assert result.exit_code == 0
    assert "warning: no dataset at" in result.output  # stdout and stderr as one sees them (click 8.1 and 8.2+)
    assert "every message counts as pending" in result.output


def test_quarantine_to_csv_when_nothing_was_quarantined(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "r.log").write_text("Report=1,13800138000,DELIVRD,2026-11-20 10:00:00\n")
    assert invoke("ingest", str(tmp_path / "logs"), "--dataset", str(tmp_path / "w"), "--no-progress").exit_code == 0
    result = invoke("quarantine", "--dataset", str(tmp_path / "w"), "--out", str(tmp_path / "q.csv"))
    assert result.output.startswith("no quarantined lines")
    assert list(pd.read_csv(tmp_path / "q.csv", encoding="utf-8-sig").columns)[:2] == ["line", "reason"]


def test_terminal_tables_line_up_with_chinese_text() -> None:
    from smsdata._formats import as_text

    text = as_text(pd.DataFrame({"city": ["北京", "Wuhan"], "sent": ["1,000", "7"]}), numeric=["sent"])
    lines = text.splitlines()
    assert lines[2] == "北京   1,000"
    assert lines[3] == "Wuhan      7"
