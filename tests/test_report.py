"""The HTML report: self-contained, headline first with the KPI functions' numbers, every chart for
1 and 30 campaigns and one day, tables for people, and one clear error when there is nothing to report."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import smsdata as sms
from smsdata.cli import cli
from tests import scenarios
from tests.test_balance import snapshot


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    """An existing ledger with two balance snapshots (the report never creates one)."""
    path = tmp_path / "l.sqlite"
    with sms.Ledger(path) as opened:
        snapshot(opened, "2026-10-01", 50000)
        snapshot(opened, "2026-10-20", 48000)
    return path


def _report(tmp_path: Path, ledger: Path, count: int, days: int, **options) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    sends, reports = scenarios.campaigns(count, days=days, per_campaign=300)
    options.setdefault("as_of", sends["sent_at"].max() + pd.Timedelta("2h"))
    path = sms.build_report(tmp_path / "r.html", sends=sends, reports=reports, ledger=ledger, **options)
    return path.read_text(encoding="utf-8"), sends, reports


def _cards(text: str) -> dict[str, str]:
    return dict(re.findall(r"data-kpi='([a-z0-9_]+)' data-value='([^']*)'", text))


SHAPES = [(1, 1), (30, 1), (3, 30), (30, 30)]


@pytest.mark.parametrize(("count", "days"), SHAPES, ids=[f"{c}campaigns-{d}days" for c, d in SHAPES])
def test_self_contained_with_every_chart(tmp_path: Path, ledger: Path, count: int, days: int) -> None:
    text, _, _ = _report(tmp_path, ledger, count, days)
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.IGNORECASE), "external reference"
    assert not re.search(r"(src|href)=['\"](?!data:)", text), "a resource outside the file"
    alts = re.findall(r"<img alt='([^']+)' src='data:image/png;base64,", text)
    assert alts == [
        "Delivery rate over time",
        "Final status",
        "Time to delivery receipt",
        "Delivery rate by carrier",
        "Balance",
    ]
    assert "name='viewport'" in text
    assert "@media print" in text
    assert "@media (max-width: 600px)" in text


def test_headline_numbers_equal_the_kpi_functions(tmp_path: Path, ledger: Path) -> None:
    text, sends, reports = _report(tmp_path, ledger, 3, 30)
    as_of = sends["sent_at"].max() + pd.Timedelta("2h")
    totals = sms.delivery_rate(sends, reports, as_of=as_of).iloc[0]
    times = sms.latency(sends, reports, as_of=as_of).iloc[0]
    cards = _cards(text)
    assert int(cards["sent"]) == totals["sent"]
    assert float(cards["delivery_rate"]) == pytest.approx(totals["delivery_rate"], abs=1e-12)
    assert int(cards["failed"]) == totals["failed"]
    assert int(cards["pending"]) == totals["pending"] + totals["no_report"]
    assert float(cards["p50"]) == pytest.approx(times["p50"], abs=1e-9)
    assert float(cards["spend"]) == len(sends)  # one segment at one unit each
    assert f"{totals['sent']:,}" in text
    assert f"{totals['delivery_rate']:.1%}" in text
    local = sends["sent_at"].dt.tz_convert("Asia/Shanghai")
    assert f"Sent {local.min():%Y-%m-%d %H:%M} to {local.max():%Y-%m-%d %H:%M} (Asia/Shanghai)" in text


def test_headline_compares_with_the_period_before(tmp_path: Path, ledger: Path) -> None:
    sends, reports = scenarios.campaigns(30, days=30, per_campaign=300)
    later = sorted(sends["campaign"].unique())[15:]
    as_of = sends["sent_at"].max() + pd.Timedelta("2h")
    text = sms.build_report(
        tmp_path / "r.html", sends=sends, reports=reports, ledger=ledger, campaigns=later, as_of=as_of
    ).read_text()
    mine = sends[sends["campaign"].isin(later)]
    first, last = mine["sent_at"].min(), mine["sent_at"].max()
    before = sends[(sends["sent_at"] >= first - (last - first)) & (sends["sent_at"] < first)]
    then = sms.delivery_rate(before, reports, as_of=as_of).iloc[0]
    now = sms.delivery_rate(mine, reports, as_of=as_of).iloc[0]
    assert f"{int(then['sent']):,} sent, {then['delivery_rate']:.1%} delivered" in text
    points = (now["delivery_rate"] - then["delivery_rate"]) * 100
    assert f"{points:+.1f} pts</span> vs before" in text
    headline = sms.report.headline(mine, reports, as_of=as_of, history=(sends, reports))
    assert headline.previous is not None
    assert headline.previous.sent == then["sent"]
    # the whole history has nothing before it: no comparison
    assert sms.report.headline(sends, reports, as_of=as_of).previous is None


def test_spend_in_money_when_a_unit_price_is_set(tmp_path: Path, ledger: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSDATA_UNIT_PRICE", "0.045 CNY")
    text, sends, _ = _report(tmp_path, ledger, 1, 1)
    assert f"CNY {len(sends) * 0.045:,.2f}" in text
    text, _, _ = _report(tmp_path, ledger, 1, 1, price_per_unit="0.1 USD")
    assert "USD 30.00" in text
    monkeypatch.setenv("SMSDATA_UNIT_PRICE", "cheap")
    with pytest.raises(sms.ConfigError, match="cheap"):
        _report(tmp_path, ledger, 1, 1)


def test_tables_are_written_for_people(tmp_path: Path, ledger: Path) -> None:
    text, _, _ = _report(tmp_path, ledger, 30, 30)
    for raw in ("ci_low", "ci_high", "cost_per_delivered", "delivery_rate</th>", "no_report</th>", "p50</td>"):
        assert raw not in text
    for header in ("Delivery rate", "95% interval", "No report", "Units per delivered", "What it means"):
        assert f">{header}</th>" in text
    assert "9,000" in text  # thousands separators
    assert re.search(r"<td class='num'>\d{1,3}\.\d%</td>", text)  # percentages
    assert re.search(r"<td class='num'>(\d+ min )?\d+ s</td>", text)  # durations in words
    # status by campaign is pivoted: one row per campaign, statuses across
    status = text[text.index("Share of sent messages by final status") :]
    status = status[: status.index("</table>")]
    assert status.count("<tr>") == 1 + 30
    assert re.search(r"<th class='num'>DELIVRD</th><th class='num'>UNDELIV</th>", status)
    assert status.index(">(pending)</th>") > status.index(">REJECTD</th>")  # pending last
    assert "td:first-child { white-space: nowrap;" in text


def test_failures_by_reason_and_carrier_with_a_glossary(tmp_path: Path, ledger: Path) -> None:
    text, sends, reports = _report(tmp_path, ledger, 3, 1)
    table = text[text.index("Messages not delivered, by final status and carrier") :]
    table = table[: table.index("</table>")]
    assert "<th class='num'>China Mobile</th>" in table
    assert "All carriers" in table
    as_of = sends["sent_at"].max() + pd.Timedelta("2h")
    undeliv = sms.status_breakdown(sends, reports, by="carrier", as_of=as_of).query("status == 'UNDELIV'")
    assert f"{int(undeliv['count'].sum()):,} (" in table
    glossary = text[text.index("What the statuses seen mean") :]
    for code in ("DELIVRD", "UNDELIV", "EXPIRED", "REJECTD", "UNKNOWN", "MK:xxxx"):
        assert f"<td>{html.escape(code)}</td>" in glossary


def test_audit_examples_masked_unless_asked(tmp_path: Path, ledger: Path, small) -> None:
    sends, reports = small
    options = {"sends": sends, "reports": reports, "ledger": ledger, "as_of": "2026-11-22"}
    text = sms.build_report(tmp_path / "r.html", **options).read_text()
    assert "mobile=138****0005" in text
    assert "13800000005" not in text
    text = sms.build_report(tmp_path / "r.html", mask=False, **options).read_text()
    assert "13800000005" in text


def test_campaign_filter_applies_to_reports_and_spending(tmp_path: Path, ledger: Path, small) -> None:
    from smsdata._report_select import select_campaigns

    sends, reports = small
    only_a, reports_a = select_campaigns(["a"], sends, reports)
    assert set(only_a["campaign"]) == {"a"}
    assert set(reports_a["msgid"]) == {"m1", "m2"}  # b's m3 report is not a's orphan
    _, reports_b = select_campaigns(["b"], sends, reports)
    # b's unknown request: the m9 report for its number (a msgid nobody sent) is kept as evidence
    assert set(reports_b["msgid"]) == {"m3", "m9"}
    text = sms.build_report(
        tmp_path / "a.html", sends=sends, reports=reports, ledger=ledger, campaigns=["a"], as_of="2026-11-22"
    ).read_text()
    orphans = re.search(r"<td>orphan_reports</td><td class='num'>(\d+)</td>", text)
    assert orphans is not None
    assert orphans.group(1) == "0"  # b's reports are no orphans of a


def test_grouped_by_a_customer_column(tmp_path: Path, ledger: Path) -> None:
    text, _, _ = _report(tmp_path, ledger, 3, 1, by="city")
    assert "Final status by city" in text
    assert "<td>Beijing</td>" in text
    assert "<td>Wuhan</td>" in text


def test_unknown_campaign_is_one_clear_error(tmp_path: Path, ledger: Path, small) -> None:
    sends, reports = small
    with pytest.raises(sms.ReportError, match=r"no campaign named 'nosuch' \(campaigns in the ledger: a, b\)"):
        sms.build_report(tmp_path / "r.html", sends=sends, reports=reports, ledger=ledger, campaigns=["nosuch"])
    assert not (tmp_path / "r.html").exists()


def test_nothing_sent_is_one_clear_error(tmp_path: Path, ledger: Path, small) -> None:
    sends, reports = small
    with pytest.raises(sms.ReportError, match="nothing to report: no message was accepted by the gateway yet"):
        sms.build_report(tmp_path / "r.html", sends=sends.iloc[:0], reports=reports, ledger=ledger)
    with pytest.raises(sms.ReportError, match="by 2026-11-19 00:00 UTC"):
        sms.build_report(tmp_path / "r.html", sends=sends, reports=reports, ledger=ledger, as_of="2026-11-19")


def test_cli_report_from_the_ledger(tmp_path: Path, async_gateway_for, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSDATA_HOME", str(tmp_path / "home"))
    frame = pd.DataFrame({"m": ["13800138000", "13900139000"]})
    sms.send_campaign(frame, mobile="m", template="hello", gateway=async_gateway_for(), name="c1", progress=False)
    result = CliRunner().invoke(cli, ["report", "--out", str(tmp_path / "r.html"), "--dataset", str(tmp_path / "none")])
    assert result.exit_code == 0, result.output
    assert "report written to" in result.output
    text = (tmp_path / "r.html").read_text()
    assert "c1" in text
    assert _cards(text)["delivery_rate"] == "0.0"  # no reports yet: nothing delivered


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--campaign", "nosuch"], "ReportError: no campaign named 'nosuch'"),
        ([], "LedgerError: no ledger at"),
    ],
    ids=["unknown-campaign", "empty-folder"],
)
def test_cli_report_refuses_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, async_gateway_for, args: list[str], message: str
) -> None:
    monkeypatch.setenv("SMSDATA_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    if args:
        frame = pd.DataFrame({"m": ["13800138000"]})
        sms.send_campaign(frame, mobile="m", template="hi", gateway=async_gateway_for(), name="c1", progress=False)
    result = CliRunner().invoke(cli, ["report", *args])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [result.output.strip()]  # one line
    assert message in result.output
    assert not (tmp_path / "report.html").exists()
    assert not (tmp_path / "home" / "ledger.sqlite").exists() or args  # reading created no ledger


def test_a_blank_group_is_a_row_of_its_own(tmp_path: Path, ledger: Path) -> None:
    sends, reports = scenarios.campaigns(3, days=1, per_campaign=100)
    sends.loc[sends.index[:40], "city"] = None  # a --to send, or a row with the column empty
    text = sms.build_report(tmp_path / "r.html", sends=sends, reports=reports, ledger=ledger, by="city").read_text()
    assert "<td>(blank)</td>" in text
    table = text[text.index("Share of sent messages by final status") :]
    assert table[: table.index("</table>")].count("<tr>") == 1 + 4  # Beijing, Shanghai, Wuhan, (blank)


def test_no_dataset_is_said_on_the_page_not_hidden_in_a_0_percent(tmp_path: Path, ledger: Path, small) -> None:
    sends, _ = small
    text = sms.build_report(
        tmp_path / "r.html", sends=sends, ledger=ledger, dataset=tmp_path / "warehous", as_of="2026-11-22"
    ).read_text()
    assert "<p class='warning'>No dataset at" in text
    assert "warehous" in text


@pytest.mark.slow
def test_phone_numbers_as_groups_are_masked(tmp_path: Path, ledger: Path) -> None:
    sends, reports = scenarios.campaigns(1, days=1, per_campaign=20)
    sends["who"] = sends["mobile"]
    sends.loc[sends.index[1], "who"] = "13800000000"  # masks like 13800000000's twin below
    sends.loc[sends.index[2], "who"] = "13899990000"
    options = {"sends": sends, "reports": reports, "ledger": ledger, "by": "who", "as_of": "2026-12-01"}
    text = sms.build_report(tmp_path / "r.html", **options).read_text()
    assert not re.search(r"138\d{8}", text)
    assert "138****0000 #2" in text  # two numbers that mask alike stay two groups
    assert re.search(r"138\d{8}", sms.build_report(tmp_path / "r.html", mask=False, **options).read_text())


def test_one_campaign_name_as_a_string(tmp_path: Path, ledger: Path, small) -> None:
    sends, reports = small
    text = sms.build_report(
        tmp_path / "r.html", sends=sends, reports=reports, ledger=ledger, campaigns="a", as_of="2026-11-22"
    ).read_text()
    assert "1 campaign: a." in text


def test_chinese_long_and_odd_names_draw_without_warnings(tmp_path: Path, ledger: Path) -> None:
    sends, reports = scenarios.campaigns(3, days=1, per_campaign=50)
    names = dict(zip(sorted(sends["campaign"].unique()), ["双十一 促销 $5", "x" * 200, "emoji 🎉"], strict=True))
    sends["campaign"] = sends["campaign"].map(names)
    text = sms.build_report(tmp_path / "r.html", sends=sends, reports=reports, ledger=ledger).read_text()
    # warnings are errors in the test suite: a missing glyph (no Chinese font) must not raise one
    assert f"title='{'x' * 200}'" in text  # the whole name on hover where the cell cuts it
    assert text.count("<picture><source media='(max-width: 600px)' srcset='data:image/png;base64,") == 5


def test_a_report_from_frames_needs_no_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Built where no campaign is sent (a Spark cluster, a colleague's laptop), the report has
    every section but the balance, which says why."""
    monkeypatch.setenv("SMSDATA_HOME", str(tmp_path / "no-home"))
    sends, reports = scenarios.campaigns(2, days=1, per_campaign=50)
    path = sms.build_report(tmp_path / "r.html", sends=sends, reports=reports, as_of="2026-11-03")
    page = html.unescape(path.read_text())
    assert "No ledger here" in page
    assert "Delivery by campaign" in page or "delivery" in page.lower()
    assert not (tmp_path / "no-home").exists()  # nothing created
