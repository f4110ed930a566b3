"""One exception tree: every exception smsdata raises is in errors.py, drawn in its docstring and
the README, and each raise site names its specific class."""

from __future__ import annotations

import ast
import importlib
import pickle
import pkgutil
import re
import socket
import textwrap
from pathlib import Path

import pandas as pd
import pytest

import smsdata
import smsdata as sms
from smsdata import errors

ROOT = Path(smsdata.__file__).parent
README = ROOT.parent / "README.md"


def _modules() -> list[str]:
    names = [f"smsdata.{m.name}" for m in pkgutil.iter_modules([str(ROOT)]) if m.name != "__main__"]
    names += [f"smsdata.cli.{m.name}" for m in pkgutil.iter_modules([str(ROOT / "cli")])]
    return sorted(names)


def _public_exceptions() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for name in _modules():
        module = importlib.import_module(name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and not issubclass(value, Warning)  # warned, never raised (BalanceWarning)
                and value.__module__.startswith("smsdata")
                and not value.__name__.startswith("_")
            ):
                found[value.__name__] = value
    return found


def _drawn(text: str) -> dict[str, str | None]:
    """``{class: parent}`` as the tree drawn in ``text`` says (roots have ``None``)."""
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.strip().split(" ")[0] == "SmsdataError")
    last = next(i for i, line in enumerate(lines) if "CampaignInterrupted " in line)
    block = textwrap.dedent("\n".join(lines[first : last + 1]))
    parents: dict[str, str | None] = {}
    stack: list[str] = []
    for line in block.splitlines():
        if not line.strip():
            continue
        name = re.search(r"[A-Za-z]\w*", line)
        assert name is not None
        depth = name.start() // 4  # "├── " and "│   " are four characters a level
        del stack[depth:]
        parents[name.group()] = stack[-1] if stack else None
        stack.append(name.group())
    return parents


def test_every_exception_lives_in_errors_and_the_facade() -> None:
    found = _public_exceptions()
    assert {"ExportError", "IngestError", "LedgerError", "KpiError", "CampaignStopped"} <= set(found)
    misplaced = {name: cls.__module__ for name, cls in found.items() if cls.__module__ != "smsdata.errors"}
    assert misplaced == {}
    assert set(found) == {n for n in errors.__all__ if n[0].isupper()}
    assert set(found) <= set(sms.__all__)
    for name, cls in found.items():
        assert getattr(sms, name) is cls
        assert issubclass(cls, errors.SmsdataError) or cls is errors.CampaignInterrupted
    assert issubclass(errors.CampaignInterrupted, KeyboardInterrupt)


@pytest.mark.parametrize(
    "text", [pytest.param(errors.__doc__, id="docstring"), pytest.param(README.read_text(), id="readme")]
)
def test_the_drawn_tree_is_the_real_one(text: str) -> None:
    drawn = _drawn(text)
    found = _public_exceptions()
    assert set(drawn) - {"KeyboardInterrupt"} == set(found)
    for name, parent in drawn.items():
        if name == "KeyboardInterrupt":
            continue
        cls = found[name]
        base = KeyboardInterrupt if parent == "KeyboardInterrupt" else found[parent] if parent else Exception
        assert cls.__bases__[0] is base, name  # the first base is the drawn parent
    assert drawn["TemplateError"] == "PlanError"
    assert drawn["CampaignStopped"] == "CampaignError"


def test_no_bare_root_raised() -> None:
    bare = []
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                func = node.exc.func
                if isinstance(func, ast.Name) and func.id in {"SmsdataError", "OSError"}:
                    bare.append(f"{path.relative_to(ROOT)}:{node.lineno} {func.id}")
    assert bare == []


def test_value_errors_stay_value_errors() -> None:
    """Old ``except ValueError`` catchers of options out of range keep working."""
    assert issubclass(sms.ConfigError, ValueError)
    assert issubclass(sms.KpiError, ValueError)
    with pytest.raises(ValueError, match=r"need 1 <= multi_segment <= single_segment, got single_segment=60, multi"):
        sms.count_segments(5, single_segment=60)
    with pytest.raises(ValueError, match="single_segment must be at least 1, not 0"):
        sms.count_segments(5, single_segment=0)
    with pytest.raises(ValueError, match="chunk_bytes must be at least 1, not 0"):
        sms.ingest_reports("nowhere", "nowhere", chunk_bytes=0)


def test_templates() -> None:
    frame = pd.DataFrame({"phone": ["13800138000"], "name": ["Li"]})
    with pytest.raises(sms.TemplateError, match=r"malformed template 'Hi \{name'"):
        sms.plan_campaign(frame, mobile="phone", template="Hi {name")
    with pytest.raises(sms.TemplateError, match=r"template uses column\(s\) \['city'\]") as caught:
        sms.plan_campaign(frame, mobile="phone", template="Hi {city}")
    assert isinstance(caught.value, sms.PlanError | sms.CampaignError)
    with pytest.raises(sms.TemplateError, match=r"\{name:>10\} is not a plain column name"):
        sms.plan_campaign(frame, mobile="phone", template="Hi {name:>10}")


def test_plans() -> None:
    frame = pd.DataFrame({"phone": ["13800138000"], "text": ["Hello"]})
    with pytest.raises(sms.PlanError, match="give exactly one of content="):
        sms.plan_campaign(frame, mobile="phone", content="text", template="Hi")
    with pytest.raises(sms.PlanError, match=r"column 'mobile' not found; columns are \['phone', 'text'\]"):
        sms.plan_campaign(frame, mobile="mobile", content="text")
    with pytest.raises(sms.PlanError, match=r"price must be a non-negative number .* got -1"):
        sms.plan_campaign(frame, mobile="phone", content="text", price=-1)


def test_campaign_files(tmp_path: Path) -> None:
    with pytest.raises(sms.SheetError, match=r"campaign file .*nope\.csv does not exist") as caught:
        sms.read_campaign(tmp_path / "nope.csv")
    assert isinstance(caught.value, sms.CampaignError)
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(sms.SheetError, match=r"unsupported file type '\.xls'"):
        sms.read_campaign(tmp_path / "old.xls")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        pytest.param("", "a campaign needs a name", id="empty"),
        pytest.param("a\nb", "holds a line break or a control character", id="line-break"),
        pytest.param("x" * 201, "campaign name is 201 characters long; at most 200", id="long"),
    ],
)
def test_campaign_names(name: str, message: str, tmp_path: Path) -> None:
    plan = sms.plan_campaign(pd.DataFrame({"p": ["13800138000"], "t": ["Hi"]}), mobile="p", content="t")
    with pytest.raises(sms.CampaignError, match=message):
        sms.send_campaign(plan, gateway=None, name=name, ledger=tmp_path / "l.sqlite")  # type: ignore[arg-type]
    assert not (tmp_path / "l.sqlite").exists()


def test_campaign_options(tmp_path: Path) -> None:
    plan = sms.plan_campaign(pd.DataFrame({"p": ["13800138000"], "t": ["Hi"]}), mobile="p", content="t")
    with pytest.raises(sms.ConfigError, match="concurrency must be at least 1, not 0"):
        sms.send_campaign(plan, gateway=None, name="n", ledger=tmp_path / "l.sqlite", concurrency=0)  # type: ignore[arg-type]
    with pytest.raises(sms.CampaignError, match="mobile= only apply when a DataFrame is given"):
        sms.send_campaign(plan, gateway=None, name="n", mobile="p")  # type: ignore[arg-type]
    with pytest.raises(sms.PlanError, match="a DataFrame needs mobile="):
        sms.send_campaign(pd.DataFrame({"p": ["1"]}), gateway=None, name="n")  # type: ignore[arg-type]
    with pytest.raises(sms.CampaignError, match="takes a CampaignPlan or a DataFrame, got int"):
        sms.send_campaign(3, gateway=None, name="n")  # type: ignore[arg-type]


def test_a_taken_port_is_a_server_error() -> None:
    from smsdata._serve import bind

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(sms.ServerError, match=f"cannot listen on 127.0.0.1:{port}: Address already in use"):
            bind("127.0.0.1", port)


def test_errors_with_data_pickle() -> None:
    exc = pickle.loads(pickle.dumps(sms.ExportError("cannot", column="name", row=7)))  # noqa: S301 (our own)
    assert (type(exc), str(exc), exc.column, exc.row) == (sms.ExportError, "cannot", "name", 7)


def _sends_and_reports() -> tuple[pd.DataFrame, pd.DataFrame]:
    at = pd.to_datetime(["2026-11-20 10:00"], utc=True)
    sends = pd.DataFrame({"msgid": ["a"], "mobile": ["13800138000"], "state": ["accepted"], "sent_at": at})
    reports = pd.DataFrame({"msgid": ["a"], "mobile": ["13800138000"], "status": ["UNDELIV"], "report_time": at})
    return sends.assign(campaign="c"), reports


def _options_of_the_wrong_type(tmp_path: Path) -> list[tuple[object, type[Exception], str]]:
    sends, reports = _sends_and_reports()
    plan = sms.plan_campaign(pd.DataFrame({"p": ["13800138000"], "t": ["Hi"]}), mobile="p", content="t")
    (tmp_path / "warehouse").mkdir()
    gateway = {"base_url": "http://127.0.0.1:9", "uid": "u", "pwd": "p"}
    one = pd.DataFrame({"m": ["1"]})
    html = tmp_path / "r.html"
    return [
        (lambda: sms.read_reports(tmp_path / "warehouse", start="garbage"), sms.ConfigError, "start='garbage' is not"),
        (lambda: sms.read_reports(tmp_path / "warehouse", end=pd.NaT), sms.ConfigError, "end=NaT is not a time"),
        (lambda: sms.dead_numbers(sends, reports, min_failures="3"), sms.KpiError, "min_failures must be a whole"),
        (lambda: sms.dead_numbers(sends, reports, min_failures=2.5), sms.KpiError, "min_failures must be a whole"),
        (lambda: sms.dead_numbers(sends, reports, min_campaigns=0), sms.KpiError, "min_campaigns must be at least 1"),
        (lambda: sms.plot_status_breakdown(sends, reports, top="3"), sms.KpiError, "top must be a whole number"),
        (lambda: sms.ingest_reports(tmp_path, tmp_path / "w", workers="2"), sms.ConfigError, "workers must be a"),
        (lambda: sms.ingest_reports(tmp_path, tmp_path / "w", chunk_bytes=0), sms.ConfigError, "chunk_bytes must"),
        (lambda: sms.Gateway(**gateway, timeout="x"), sms.ConfigError, "timeout must be a number, not 'x'"),
        (lambda: sms.Gateway(**gateway, retries=-1), sms.ConfigError, "retries must be at least 0, not -1"),
        (lambda: sms.Gateway(**gateway, backoff=-0.5), sms.ConfigError, "backoff must be 0 or more, not -0.5"),
        (lambda: sms.AsyncGateway(**gateway, timeout=float("nan")), sms.ConfigError, "timeout must be a number"),
        (lambda: sms.count_segments(5, single_segment="70"), sms.ConfigError, "single_segment must be a whole"),
        (
            lambda: sms.send_campaign(plan, gateway=None, name="n", ledger=tmp_path / "l.sqlite", rate_limit="5"),
            sms.ConfigError,
            "rate_limit must be a number, not '5'",
        ),
        (
            lambda: sms.send_campaign(plan, gateway=None, name="n", ledger=tmp_path / "l.sqlite", concurrency=2.0),
            sms.ConfigError,
            "concurrency must be a whole number, not 2.0",
        ),
        (lambda: sms.delivery_rate(sends, reports, within="3"), sms.KpiError, "within='3' has no unit"),
        (lambda: sms.delivery_rate(sends, reports, expire_after="30"), sms.KpiError, "expire_after='30' has no"),
        (lambda: sms.delivery_rate(sends, reports, as_of=0), sms.KpiError, "as_of=0 is not a time"),
        (lambda: sms.latency(sends, reports, as_of=2.5), sms.KpiError, "as_of=2.5 is not a time"),
        (lambda: sms.latency(sends, reports, as_of="3h"), sms.KpiError, "as_of='3h' reads as 0001-01-01T03:00:00"),
        (lambda: sms.delivery_rate(sends, reports, expire_after=None), sms.KpiError, "expire_after=None: give a"),
        (lambda: sms.audit(sends, reports, expire_after=None), sms.KpiError, "expire_after=None: give a"),
        (lambda: sms.delivery_rate(sends, reports, freq=[1]), sms.KpiError, "freq must be one of"),
        (lambda: sms.delivery_rate(sends, reports, tz="Nowhere/Zone"), sms.KpiError, "not a known time zone"),
        (lambda: sms.audit(sends, reports, examples="3"), sms.KpiError, "examples must be a whole number"),
        (lambda: sms.compare(sends, reports, by="campaign", baseline="z"), sms.KpiError, "baseline='z' names no group"),
        (
            lambda: sms.delivery_rate(sends.assign(State="g"), reports, by="State"),
            sms.KpiError,
            "by= column 'State' differs from the column 'state' only in case",
        ),
        (lambda: sms.status_breakdown(sends, reports, by="Status"), sms.KpiError, "'Status' differs from the col"),
        (lambda: sms.delivery_rate(sends, reports, by=["c", "C"]), sms.KpiError, "'C' differs from the column 'c'"),
        (
            lambda: sms.Gateway("http://127.0.0.1:9/x?pwd=S3cr3t", "u", "p"),
            sms.ConfigError,
            r"the gateway URL http://127.0.0.1:9/\.\.\. must end in a plain path",
        ),
        (lambda: sms.export(pd.DataFrame([[1, 2]], columns=["a", "a"]), tmp_path / "x.csv"), sms.ExportError, "repeat"),
        (lambda: sms.export(one, tmp_path / "x.csv", mobile_columns=["n"]), sms.ExportError, "mobile_columns names"),
        (lambda: sms.export(one, tmp_path / "x.csv", tz="Nowhere/Zone"), sms.ConfigError, "tz='Nowhere/Zone'"),
        (lambda: sms.build_report(html, sends=sends, reports=reports, by=[]), sms.ReportError, "needs a column"),
        (lambda: sms.build_report(html, sends=sends, reports=reports, title=5), sms.ConfigError, "title must"),
        (lambda: sms.build_report(html, sends=sends, reports=reports, campaigns=5), sms.ConfigError, "campaigns"),
        (lambda: sms.build_report(html, sends=sends, reports=reports, by="nope"), sms.KpiError, "no column 'nope'"),
        (lambda: sms.plan_campaign(one, mobile="m", content=""), sms.PlanError, "content= must name a column"),
        (lambda: sms.plan_campaign(one, mobile=["m"], content="m"), sms.PlanError, "mobile= must name a column"),
        (lambda: sms.read_sends(tmp_path / "l.sqlite", campaign=["a"]), sms.ConfigError, "campaign must be"),
        (lambda: sms.ingest_reports(tmp_path, tmp_path / "w", source_tz=5), sms.IngestError, "source_tz=5 is not"),
        (lambda: sms.balance_burn(sends, tz=2.5), sms.KpiError, "tz=2.5 is not a known time zone"),
        # data of the wrong kind given to a step: that step's error
        (lambda: sms.plan_campaign(None, mobile="p", content="t"), sms.PlanError, "df must be a pandas DataFrame"),
        (lambda: sms.export(None, tmp_path / "x.csv"), sms.ExportError, "df must be a pandas DataFrame, not None"),
        # a helper given one value where it takes many: Python's TypeError, saying so
        (lambda: sms.count_segments("abc"), TypeError, "length must be an int .characters. or a Series"),
        (lambda: sms.count_segments(pd.Series(["a"])), TypeError, "length must be whole numbers"),
        (lambda: sms.count_segments(pd.Series([70, None])), TypeError, "none missing"),
        (lambda: sms.normalise_mobiles(None), TypeError, "mobiles must be a Series or a list of values, not NoneType"),
        (lambda: sms.normalise_mobiles("13800138000"), TypeError, "mobiles must be a Series or a list"),
        (lambda: sms.mask_mobiles(None), TypeError, "mobiles must be a Series or a list"),
        (lambda: sms.carrier_of(13800138000), TypeError, "mobiles must be a Series or a list of values, not int"),
        (lambda: sms.plan_campaign(pd.DataFrame({"p": ["1"]}), mobile="p", template=5), TypeError, "template must"),
    ]


def test_wrong_types_raise_errors_that_name_the_option(tmp_path: Path) -> None:
    """Each wrong option fails at the call with a message naming it, not later with a comparison's
    TypeError (``'<' not supported between str and int``) or a pandas parse error."""
    cases = _options_of_the_wrong_type(tmp_path)
    for call, error, message in cases:
        with pytest.raises(error, match=message) as caught:
            call()
        assert type(caught.value) is error or error is not TypeError, caught.value
    assert not (tmp_path / "l.sqlite").exists()  # refused before the ledger was opened


def test_helpers_take_lists_as_well_as_series() -> None:
    cleaned = sms.normalise_mobiles(["+86 138 0013 8000", None])
    assert cleaned["mobile"].tolist()[0] == "13800138000"
    assert cleaned["reason"].isna().tolist() == [True, False]
    assert sms.mask_mobiles(("13800138000",)).tolist() == ["138****8000"]
    assert sms.carrier_of(["13800138000"]).tolist() == ["China Mobile"]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_cells_holding_lists_export_as_their_text(tmp_path: Path, suffix: str) -> None:
    """A list in a cell (pd.isna of it is an array) is written as its text, in CSV and XLSX alike."""
    out = sms.export(pd.DataFrame({"tags": [["a", "b"], None]}), tmp_path / f"t{suffix}")
    if suffix == ".csv":
        assert out.read_text(encoding="utf-8-sig").splitlines() == ["tags", "\"['a', 'b']\"", '""'] or out.read_text(
            encoding="utf-8-sig"
        ).splitlines() == ["tags", "\"['a', 'b']\"", ""]
    else:
        from openpyxl import load_workbook

        rows = list(load_workbook(out).active.iter_rows(values_only=True))
        assert rows == [("tags",), ("['a', 'b']",)]  # openpyxl reads no row after the last value


def test_export_keeps_every_digit_and_masks_numbers_held_as_floats(tmp_path: Path) -> None:
    """XLSX holds 15 digits and no infinity: a larger whole number and an infinity are written as
    text. Mobiles in a number column with a blank (floats) are masked like text ones."""
    from openpyxl import load_workbook

    big = 3122306864379792082
    out = sms.export(pd.DataFrame({"id": [big, 1], "x": [float("inf"), 2.5]}), tmp_path / "n.xlsx")
    rows = list(load_workbook(out).active.iter_rows(values_only=True))
    assert rows == [("id", "x"), (str(big), "inf"), (1, 2.5)]
    masked = sms.export(pd.DataFrame({"mobile": [13800138000.0, None]}), tmp_path / "m.csv")
    assert masked.read_text(encoding="utf-8-sig").splitlines() == ["mobile", "138****8000", '""']
    assert sms.export(pd.DataFrame({"phone": ["13800138000"]}), tmp_path / "p.csv", mobile_columns="phone").read_text(
        encoding="utf-8-sig"
    ).splitlines() == ["phone", "138****8000"]


def test_export_masks_and_defends_every_way_a_value_is_held(tmp_path: Path) -> None:
    """Mobiles written with +86 or spaces, in a Mobile column, or held as float/Decimal in a mixed
    column are masked; text in an Arrow dictionary column and after C1 controls, direction
    isolates or full-width signs gets the formula prefix; options of the wrong kind are refused."""
    from decimal import Decimal

    import pyarrow as pa

    table = pd.DataFrame(
        {
            "a": pd.Series(["=1+1", "x"], dtype=pd.ArrowDtype(pa.dictionary(pa.int32(), pa.string()))),
            "b": ["\u0085=cmd", "\u2066=cmd"],
            "Mobile": ["+86 138 0013 8000", "138-0013-8000"],
            "mobile2": [13800138000.0, "x"],
            "m3": [Decimal("13800138000.0"), None],
            "f": ["\uff1d1+1", "ok"],
        }
    )
    out = sms.export(table, tmp_path / "t.csv", mobile_columns=["Mobile", "mobile2", "m3"])
    assert out.read_bytes().decode("utf-8-sig").split("\r\n") == [  # not splitlines: \x85 is a line end to it
        "a,b,Mobile,mobile2,m3,f",
        "'=1+1,'\u0085=cmd,138****8000,138****8000,138****8000,'\uff1d1+1",
        "x,'\u2066=cmd,138****8000,x,,ok",
        "",
    ]
    with pytest.raises(sms.ConfigError, match="mask must be True or False, not None"):
        sms.export(table, tmp_path / "t.csv", mask=None)
    with pytest.raises(sms.ExportError, match="mobile_columns must name columns"):
        sms.export(table, tmp_path / "t.csv", mobile_columns=5)
    with pytest.raises(sms.ExportError, match=r"the column names \['1'\] repeat"):
        sms.export(pd.DataFrame({1: [1], "1": [2]}), tmp_path / "t.csv")
    with pytest.raises(sms.ExportError, match="cannot export the index"):
        sms.export(pd.DataFrame({"a": [1]}, index=pd.Index([0], name="a")), tmp_path / "t.csv", index=True)
