"""One vocabulary: the CLI's flags are the library's keywords, one default per concept, renamed
keywords still work (with a warning) for one release, money is Decimal."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import smsdata as sms
from smsdata import _line_times, _report_inputs, _serve, config, content, numbers, report_lines, sheets
from smsdata.balance import BalanceBurn
from smsdata.campaign import resume_campaign, send_campaign
from smsdata.cli import cli
from smsdata.demo import DemoSummary, run_demo
from smsdata.ingest import ingest_reports, read_quarantine, read_reports
from smsdata.ledger import Ledger
from smsdata.planning import plan_campaign
from smsdata.receiver import serve_receiver
from smsdata.report import Headline, build_report
from smsdata.sheets import read_campaign
from smsdata.simulator import Account, SimulatorConfig
from smsdata.sync import sync_sends

# Each command and the public functions it calls: its flags must be their keywords.
CALLS: dict[str, list[Callable[..., Any]]] = {
    "balance": [sms.Gateway.balance],
    "send": [read_campaign, plan_campaign, send_campaign],
    "resume": [resume_campaign],
    "campaigns": [Ledger.campaigns],
    "ingest": [ingest_reports, sync_sends],
    "sync-sends": [sync_sends],
    "quarantine": [read_quarantine, sms.export],
    "kpi": [read_reports, build_report, sms.delivery_rate, sms.latency, sms.export],
    "report": [build_report],
    "simulate": [_serve.serve, Account, SimulatorConfig],
    "receive": [serve_receiver],
    "demo": [run_demo],
}

# Options of the command line alone, with why.
CLI_ONLY = {
    ("send", "to"): "numbers typed on the command line, planned as a one-column frame",
    ("send", "rejects_out"): "where the plan's rejected rows are written (export(plan.rejected, ...))",
    ("send", "yes"): "answers the confirmation question",
    ("resume", "yes"): "answers the confirmation question",
}

# Old flag names, hidden, that still work for one release -> the flag that replaced them.
RENAMED_FLAGS = {
    ("quarantine", "--csv"): "--out",
    ("kpi", "--csv"): "--out",
    ("simulate", "--callback"): "--callback-url",
}


def _keywords(functions: list[Callable[..., Any]]) -> set[str]:
    return {name for function in functions for name in inspect.signature(function).parameters}


def _options(command: click.Command) -> list[click.Option]:
    return [p for p in command.params if isinstance(p, click.Option) and not p.hidden]


def test_every_command_is_mapped_to_the_functions_it_calls() -> None:
    assert set(cli.commands) == set(CALLS)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_flags_are_the_keyword_names(name: str) -> None:
    command = cli.commands[name]
    keywords = _keywords(CALLS[name])
    for option in _options(command):
        if (name, option.name) in CLI_ONLY:
            continue
        assert option.name in keywords, f"smsdata {name} --{option.name}: no such keyword in {CALLS[name]}"
        flag = "--" + option.name.replace("_", "-")
        assert option.opts[0] == flag, f"smsdata {name}: the flag of {option.name}= is {option.opts[0]}, not {flag}"


def test_the_cli_only_list_holds_only_real_options() -> None:
    for name, option in CLI_ONLY:
        assert option in {p.name for p in _options(cli.commands[name])}
        assert option not in _keywords(CALLS[name])


@pytest.mark.parametrize(("name", "old"), sorted(RENAMED_FLAGS))
def test_renamed_flags_are_hidden_and_point_to_a_real_flag(name: str, old: str) -> None:
    hidden = {opt for p in cli.commands[name].params if getattr(p, "hidden", False) for opt in p.opts}
    assert old in hidden
    assert RENAMED_FLAGS[name, old] in {opt for p in _options(cli.commands[name]) for opt in p.opts}
    assert {opt for p in cli.commands[name].params if getattr(p, "hidden", False) for opt in p.opts} <= {
        o for (n, o) in RENAMED_FLAGS if n == name
    }


def test_old_flag_still_works_and_warns(tmp_path: Path) -> None:
    (tmp_path / "w" / "quarantine").mkdir(parents=True)
    args = ["quarantine", "--dataset", str(tmp_path / "w")]
    result = CliRunner().invoke(cli, [*args, "--csv", str(tmp_path / "old.csv")], catch_exceptions=False)
    assert result.exit_code == 0
    assert "warning: --csv is deprecated and goes in the next release: use --out" in result.output
    assert (tmp_path / "old.csv").is_file()
    both = [*args, "--out", str(tmp_path / "new.csv"), "--csv", str(tmp_path / "ignored.csv")]
    assert CliRunner().invoke(cli, both, catch_exceptions=False).exit_code == 0
    assert (tmp_path / "new.csv").is_file()
    assert not (tmp_path / "ignored.csv").exists()  # the new flag wins
    quiet = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "q.csv")], catch_exceptions=False)
    assert "deprecated" not in quiet.output


# ------------------------------------------------------------------ one default per concept


def _with_dataset() -> list[Callable[..., Any]]:
    public = [getattr(sms, name) for name in sms.__all__ if callable(getattr(sms, name))]
    return [f for f in [*public, _report_inputs.reports_or_none, _report_inputs.missing_dataset] if _has(f, "dataset")]


def _has(function: Callable[..., Any], name: str) -> bool:
    try:
        return name in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def test_every_dataset_defaults_to_the_warehouse() -> None:
    functions = _with_dataset()
    assert {f.__name__ for f in functions} >= {"ingest_reports", "read_reports", "read_quarantine", "sync_sends"}
    for function in functions:
        assert inspect.signature(function).parameters["dataset"].default == config.DEFAULT_DATASET == "warehouse"
    for name in ("ingest", "sync-sends", "quarantine", "kpi", "report"):
        (dataset,) = [p for p in cli.commands[name].params if p.name == "dataset"]
        assert dataset.default == config.DEFAULT_DATASET


def test_the_default_warehouse_is_read_without_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    log = tmp_path / "reports.log"
    log.write_text("Report=m1,13800138000,DELIVRD,2026-11-20 10:00:00\nnot a report\n")
    result = ingest_reports(log, progress=False)
    assert (result.ingested, result.quarantined) == (1, 1)
    assert (tmp_path / "warehouse" / "reports").is_dir()
    assert read_reports()[["msgid", "mobile", "status"]].values.tolist() == [["m1", "13800138000", "DELIVRD"]]
    assert read_quarantine()["line"].tolist() == ["not a report"]


def test_mask_defaults_to_true_wherever_mobiles_are_written() -> None:
    for function in (sms.export, build_report):
        assert inspect.signature(function).parameters["mask"].default is True
    (mask,) = [p for p in cli.commands["report"].params if p.name == "mask"]
    assert mask.default is True


def test_two_zones_two_names() -> None:
    """``source_tz``: the zone naive input times are read in; ``tz``: the zone results are cut or shown in."""
    for function in (ingest_reports, report_lines.parse_chunk, _line_times.localize):
        assert _has(function, "source_tz")
        assert not _has(function, "tz")
    for function in (sms.delivery_rate, sms.latency, sms.balance_burn, sms.plot_delivery_rate, sms.export):
        assert _has(function, "tz")
        assert not _has(function, "source_tz")


# ------------------------------------------------------------------ renamed keywords


def _call_old(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    with pytest.warns(DeprecationWarning, match=r"is deprecated: use .* goes in the next release"):
        return function(*args, **kwargs)


MOBILES = pd.Series(["+86 138-0013-8000", "1.38E+10", "14012345678"])


def test_old_keywords_still_work_and_warn(tmp_path: Path) -> None:
    pd.testing.assert_frame_equal(
        _call_old(numbers.normalise_mobiles, values=MOBILES, any_range=True),
        numbers.normalise_mobiles(mobiles=MOBILES, any_mobile_range=True),
    )
    assert _call_old(sms.mask_mobiles, values=pd.Series(["13800138000"])).tolist() == ["138****8000"]
    assert _call_old(content.count_segments, 161, single=160, multi=153) == 2
    table = pd.DataFrame({"mobile": ["13800138000"]})
    written = _call_old(sms.export, frame=table, path=tmp_path / "old.csv")
    assert written == tmp_path / "old.csv"
    assert "138****8000" in written.read_text(encoding="utf-8-sig")
    assert _call_old(sheets.source_hint, frame=table, column="x") == ""
    local = np.array([0], dtype=np.int64)
    assert _call_old(_line_times.localize, local, tz="Asia/Shanghai").tolist() == [-8 * 3600 * 1_000_000]


def test_old_and_new_keyword_together_is_an_error() -> None:
    with pytest.raises(TypeError, match=r"got both values= \(its old name\) and mobiles="):
        numbers.normalise_mobiles(values=MOBILES, mobiles=MOBILES)


def test_renamed_functions_keep_their_signature() -> None:
    assert list(inspect.signature(sms.export).parameters)[:3] == ["df", "out", "mask"]
    assert next(iter(inspect.signature(build_report).parameters)) == "out"
    assert list(inspect.signature(sms.normalise_mobiles).parameters) == ["mobiles", "any_mobile_range"]


# ------------------------------------------------------------------ money


def test_money_is_decimal_in_every_value() -> None:
    amounts = {
        sms.Balance: ["value"],
        sms.PlanSummary: ["estimated_cost", "balance"],
        sms.CampaignPlan: ["price"],
        sms.CampaignResult: ["balance_before", "balance_after"],
        BalanceBurn: ["balance"],
        Headline: ["spend"],
        DemoSummary: ["spent"],
        config.UnitPrice: ["amount"],
    }
    for cls, names in amounts.items():
        hints = {f.name: str(f.type) for f in cls.__dataclass_fields__.values()}
        for name in names:
            assert "Decimal" in hints[name], f"{cls.__name__}.{name}: {hints[name]}"
            assert "float" not in hints[name], f"{cls.__name__}.{name}: {hints[name]}"
    assert inspect.signature(sms.record_balance).return_annotation == "Decimal"


def test_a_float_spend_becomes_the_amount_it_stands_for() -> None:
    from smsdata._money import exact

    assert 0.1 + 0.2 != 0.3
    assert exact(0.1 + 0.2) == Decimal("0.3")
    assert exact(1824.0) == 1824
    assert exact(float("nan")).is_nan()
