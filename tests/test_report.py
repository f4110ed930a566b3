"""The HTML report: self-contained (no external URL), with the KPI tables, audit and charts."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import smsdata as sms
from smsdata.cli import cli


def test_report_is_self_contained_with_tables_and_charts(tmp_path: Path, small) -> None:
    sends, reports = small
    sends = sends.assign(carrier="China Mobile", segments=1)
    path = sms.build_report(
        tmp_path / "r.html", sends=sends, reports=reports, ledger=tmp_path / "l.sqlite", title="Nov <report>"
    )
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.IGNORECASE), "external reference"
    assert not re.search(r"(src|href)=['\"](?!data:)", text), "a resource outside the file"
    assert text.count("<img") == 5
    assert "Nov &lt;report&gt;" in text
    assert "33.3%" in text  # campaign a: 1 of 3 delivered
    assert "orphan_reports" in text
    assert "mobile=138****0005" in text  # audit examples masked
    assert "13800000005" not in text


def test_unmasked_when_asked(tmp_path: Path, small) -> None:
    sends, reports = small
    text = sms.build_report(tmp_path / "r.html", sends=sends, reports=reports, ledger=tmp_path / "l.sqlite", mask=False)
    assert "13800000005" in text.read_text()


def test_cli_report_from_the_ledger(tmp_path: Path, async_gateway_for, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSDATA_HOME", str(tmp_path / "home"))
    frame = pd.DataFrame({"m": ["13800138000", "13900139000"]})
    sms.send_campaign(frame, mobile="m", template="hello", gateway=async_gateway_for(), name="c1", progress=False)
    result = CliRunner().invoke(cli, ["report", "--out", str(tmp_path / "r.html"), "--dataset", str(tmp_path / "none")])
    assert result.exit_code == 0, result.output
    assert "report written to" in result.output
    text = (tmp_path / "r.html").read_text()
    assert "c1" in text
    assert "0.0%" in text  # no reports yet: nothing delivered


def test_campaign_filter_applies_to_reports_and_spending(tmp_path: Path, small) -> None:
    from smsdata.report import _only

    sends, reports = small
    only_a, reports_a = _only(["a"], sends, reports)
    assert set(only_a["campaign"]) == {"a"}
    assert set(reports_a["msgid"]) == {"m1", "m2"}  # b's m3 report is not a's orphan
    _, reports_b = _only(["b"], sends, reports)
    # b's unknown request: the m9 report for its number (a msgid nobody sent) is kept as evidence
    assert set(reports_b["msgid"]) == {"m3", "m9"}
    text = sms.build_report(
        tmp_path / "a.html", sends=sends, reports=reports, ledger=tmp_path / "l.sqlite", campaigns=["a"]
    ).read_text()
    orphans = re.search(r"<td>orphan_reports</td>\s*<td>(\d+)</td>", text)
    assert orphans is not None
    assert orphans.group(1) == "0"  # b's reports are no orphans of a


def test_report_grouped_by_a_customer_column(tmp_path: Path, small) -> None:
    sends, reports = small
    sends = sends.assign(city=["Beijing", "Beijing", "Wuhan", "Wuhan", "Wuhan", "Beijing"])
    text = sms.build_report(
        tmp_path / "c.html", sends=sends, reports=reports, ledger=tmp_path / "l.sqlite", by="city", as_of="2026-11-22"
    ).read_text()
    assert "Delivery by city" in text
    assert "<td>Beijing</td>" in text
    assert "<td>Wuhan</td>" in text
