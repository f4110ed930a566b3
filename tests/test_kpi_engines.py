"""Every KPI gives the same table from pandas frames, warehouse Parquet paths and Spark DataFrames.

The frame results are the reference: test_kpi.py checks them against
hand-computed cases and a plain pandas computation. Here the same data (the
hand-computed cases, realistic campaigns and random data) goes through each
engine and every KPI, with its options, must come back equal: counts exactly,
floats to 1e-9.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsdata import KpiError, kpi
from tests import pandas_kpi
from tests.scenarios import campaigns

AS_OF = "2026-11-22 12:00"

Call = Callable[[object, object], pd.DataFrame]

CALLS: dict[str, Call] = {
    "rate": lambda s, r: kpi.delivery_rate(s, r, as_of=AS_OF),
    "rate by campaign": lambda s, r: kpi.delivery_rate(s, r, by="campaign", as_of=AS_OF),
    "rate hourly, Shanghai": lambda s, r: kpi.delivery_rate(s, r, freq="h", tz="Asia/Shanghai", as_of=AS_OF),
    "rate 15 min, Kolkata": lambda s, r: kpi.delivery_rate(s, r, freq="15min", tz="Asia/Kolkata", as_of=AS_OF),
    "rate weekly within 1h": lambda s, r: kpi.delivery_rate(
        s, r, by="campaign", freq="W", within="1h", tz="Europe/Berlin", as_of=AS_OF
    ),
    "rate monthly, expiring": lambda s, r: kpi.delivery_rate(s, r, freq="M", expire_after="30min", as_of=AS_OF),
    "latency by campaign": lambda s, r: kpi.latency(s, r, by="campaign", as_of=AS_OF),
    "latency daily within 2min": lambda s, r: kpi.latency(s, r, freq="D", within="2min", as_of=AS_OF),
    "time to receipt": lambda s, r: kpi.time_to_receipt(s, r, by="campaign", as_of=AS_OF),
    "status": lambda s, r: kpi.status_breakdown(s, r, by="campaign", as_of=AS_OF),
    "status within 30s": lambda s, r: kpi.status_breakdown(s, r, within="30s", as_of=AS_OF),
    "compare": lambda s, r: kpi.compare(s, r, by="campaign", as_of=AS_OF),
    "dead numbers": lambda s, r: kpi.dead_numbers(s, r, min_failures=1, min_campaigns=1, as_of=AS_OF),
    "audit": lambda s, r: kpi.audit(s, r, as_of=AS_OF, examples=2),
}


def _scenario() -> tuple[pd.DataFrame, pd.DataFrame]:
    sends, reports = campaigns(6, days=4, per_campaign=300, start="2026-11-18 01:00", seed=3)
    # a repeated report, a report before its send, an orphan and an unknown request: every audit check finds some
    unknown = sends.iloc[[0]].assign(msgid=None, state="unknown", request_id=-1, mobile="13999999999")
    orphan = reports.iloc[[0]].assign(msgid="m-never", mobile="13999999999")
    skewed = reports.iloc[[1]].assign(report_time=sends["sent_at"].iloc[1] - pd.Timedelta(minutes=5))
    return pd.concat([sends, unknown], ignore_index=True), pd.concat(
        [reports, reports.iloc[:20], orphan, skewed], ignore_index=True
    )


def _random() -> tuple[pd.DataFrame, pd.DataFrame]:
    return pandas_kpi.random_frames(11, 800)


def _write(frame: pd.DataFrame, folder: Path, unit: str | None = None, row_group_size: int | None = None) -> Path:
    """A frame as a warehouse table: one Parquet file a UTC date, hive-partitioned, times in ``unit``
    (default: as the frame holds them, nanoseconds: smsdata writes microseconds, Spark reads no other),
    in row groups of ``row_group_size`` rows (default: one a file)."""
    time = "sent_at" if "sent_at" in frame.columns else "report_time"
    dates = pd.to_datetime(frame[time], utc=True).dt.strftime("%Y-%m-%d").fillna("none")
    for day, part in frame.groupby(dates):
        (folder / f"date={day}").mkdir(parents=True)
        table = pa.Table.from_pandas(part, preserve_index=False)
        pq.write_table(
            table,
            folder / f"date={day}" / "part-0.parquet",
            coerce_timestamps=unit,
            allow_truncated_timestamps=True,
            row_group_size=row_group_size,
        )
    return folder


def _in_msgid_order(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` in msgid order, rows without one first: as a gateway numbers them."""
    return frame.sort_values("msgid", kind="stable", na_position="first")


def _same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want)
    got, want = got.reset_index(drop=True), want.reset_index(drop=True)
    for name in want.columns:
        if pd.api.types.is_float_dtype(want[name]):
            np.testing.assert_allclose(got[name].astype(float), want[name], rtol=1e-9, atol=1e-9, err_msg=name)
        elif pd.api.types.is_datetime64_any_dtype(want[name]):
            assert pd.to_datetime(got[name], utc=True).tolist() == pd.to_datetime(want[name], utc=True).tolist(), name
        else:
            assert got[name].astype(object).tolist() == want[name].astype(object).tolist(), name


DATA = {"small": None, "scenario": _scenario, "random": _random}


@pytest.fixture(params=list(DATA))
def data(request: pytest.FixtureRequest, small) -> tuple[pd.DataFrame, pd.DataFrame]:
    make = DATA[request.param]
    sends, reports = small if make is None else make()
    if "campaign" not in sends.columns:
        sends = sends.assign(campaign=sends["msgid"].fillna("none").str[:2])
    return sends, reports


def test_warehouse_paths_give_the_frames_tables(data, tmp_path: Path) -> None:
    sends, reports = data
    sends_path, reports_path = _write(sends, tmp_path / "sends"), _write(reports, tmp_path / "reports")
    for name, call in CALLS.items():
        want = call(sends, reports)
        _same(call(sends_path, reports_path), want)
        _same(call(str(tmp_path), str(tmp_path)), want)  # the warehouse itself: each KPI finds its tables
        assert len(want), name


class Plan:
    """How a test's out-of-core passes are to share the msgids out (``name``), and how they did."""

    def __init__(self, name: str, statements: list[str]) -> None:
        self.name = name
        self.statements = statements

    def used(self) -> set[str]:
        """The plans the passes took so far: ``"ranges"`` of msgids, a hash ``"split"``, or both."""
        found = {"ranges": _ranged(self.statements), "split": _splits(self.statements)}
        return {name for name, statements in found.items() if statements}


@pytest.fixture(params=["ranges", "split"])
def plan(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Plan:
    """Out of core, the passes share the msgids out by ranges the files' statistics vouch for, or
    by a hash split written to disk: each test of passes runs with the one and with the other
    (ranges wherever both tables store the msgid alike) and checks which it got."""
    from smsdata import _duckdb_engine

    monkeypatch.setattr(_duckdb_engine, "RANGE_READS", 10**9 if request.param == "ranges" else 0)
    return Plan(request.param, _statements(monkeypatch))


def _statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The statements the DuckDB engine executes from now on (views, COPYs of passes and splits)."""
    from smsdata import _duckdb_engine

    statements: list[str] = []
    execute = _duckdb_engine.DuckDBTables._execute
    monkeypatch.setattr(
        _duckdb_engine.DuckDBTables,
        "_execute",
        lambda self, sql, params=None: statements.append(sql) or execute(self, sql, params),
    )
    return statements


def _splits(statements: list[str]) -> list[str]:
    """The COPYs writing a table split by a hash of the msgid."""
    return [sql for sql in statements if sql.startswith("COPY") and '"smsdata_share"' in sql]


def _ranged(statements: list[str]) -> list[str]:
    """The views pointing a table at a range of msgids."""
    return [sql for sql in statements if "_whole WHERE msgid" in sql]


@pytest.mark.parametrize("plan", ["ranges", "split"])
def test_paths_past_one_pass_give_the_frames_tables(
    data, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plan: str
) -> None:
    """Out of core, recipients are worked out in passes (each a share of the msgids) once the data
    is big; with passes of a fifth of the rows the data takes about five, and every KPI must come
    out the same. The files keep their msgids in order, in small row groups, as a gateway numbers
    them: the passes take ranges by the files' statistics, or (a bound of 0) split the tables by hash."""
    from smsdata import _duckdb_engine

    sends, reports = data
    sends_path = _write(_in_msgid_order(sends), tmp_path / "sends", row_group_size=8)
    reports_path = _write(_in_msgid_order(reports), tmp_path / "reports", row_group_size=8)
    wants = {name: call(sends, reports) for name, call in CALLS.items()}
    rows = max(len(sends), len(reports))
    per_pass = -(-rows // 5)
    monkeypatch.setattr(_duckdb_engine, "ROWS_PER_PASS", per_pass)
    if plan == "split":
        monkeypatch.setattr(_duckdb_engine, "RANGE_READS", 0)
    statements = _statements(monkeypatch)
    for name, call in CALLS.items():
        _same(call(sends_path, reports_path), wants[name])
    staged = [name for name in CALLS if name.startswith(("rate", "latency", "time", "compare", "status", "dead"))]
    passes = [sql for sql in statements if sql.startswith("COPY") and '"smsdata_share"' not in sql]
    regrouped = [sql for sql in passes if "smsdata_regrouped" in sql]
    if plan == "split":
        assert len(_splits(statements)) == len(staged) * 2  # each table written once, split by msgid
        assert not _ranged(statements)
        assert len(passes) == len(staged) * -(-rows // per_pass)  # then each of them in passes
        assert len(regrouped) == -(-rows // per_pass)  # dead numbers: each pass split again by number
    else:
        assert not _splits(statements)  # nothing written but the passes' results
        each = len(passes) // len(staged)
        assert len(passes) == len(staged) * each
        assert 3 <= each <= 7  # about five ranges of a fifth of the rows
        assert len(_ranged(statements)) == len(passes) * 2  # each pass: sends and reports in its range
        assert len(regrouped) == each


def test_passes_with_shares_no_msgid_falls_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plan: Plan) -> None:
    """Two msgids in eight passes: at least six shares are empty, and have no files to read."""
    from smsdata import _duckdb_engine

    sent_at = pd.to_datetime(["2026-11-20 10:00"] * 8, utc=True)
    sends = pd.DataFrame(
        {"msgid": ["a"] * 4 + ["b"] * 4, "mobile": [f"1380013800{i}" for i in range(8)], "state": "accepted"}
    ).assign(sent_at=sent_at, campaign=["c"] * 4 + ["d"] * 4)
    reports = sends[["msgid", "mobile"]].assign(status="DELIVRD", report_time=sent_at + pd.Timedelta(seconds=5))
    sends_path, reports_path = _write(sends, tmp_path / "sends"), _write(reports.iloc[:5], tmp_path / "reports")
    monkeypatch.setattr(_duckdb_engine, "ROWS_PER_PASS", 1)  # eight passes
    got = kpi.delivery_rate(sends_path, reports_path, by="campaign", as_of=AS_OF)
    assert got["sent"].tolist() == [4, 4]
    assert got["delivered"].tolist() == [4, 1]
    _same(got, kpi.delivery_rate(sends, reports.iloc[:5], by="campaign", as_of=AS_OF))
    assert plan.used() == {plan.name}


@pytest.mark.parametrize(
    ("layout", "plan"),
    [("ordered", "ranges"), ("shuffled", "split"), ("no statistics", "split"), ("mostly no msgid", "split")],
)
def test_passes_take_ranges_only_where_the_statistics_show_them_cheap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: str, plan: str
) -> None:
    """Files holding their msgids in order (as a gateway numbers them), in row groups of few
    rows, are read range by range. The same rows shuffled, every row group spanning all msgids,
    would make every pass read everything, and so would files the statistics say nothing of
    (reports written without them, or most sends in a file without a msgid column): those are
    split by hash. All come out as the frames do."""
    from smsdata import _duckdb_engine

    sends, reports = _random()
    if layout == "shuffled":
        sends, reports = sends.sample(frac=1, random_state=1), reports.sample(frac=1, random_state=2)
    else:
        sends, reports = _in_msgid_order(sends), _in_msgid_order(reports)
    monkeypatch.setattr(_duckdb_engine, "ROWS_PER_PASS", len(sends) // 8)
    statements = _statements(monkeypatch)
    sends_path, reports_path = _write(sends, tmp_path / "sends", row_group_size=20), tmp_path / "reports"
    _write(reports, reports_path, row_group_size=20)
    if layout == "no statistics":
        for file in reports_path.rglob("*.parquet"):  # every pass reads them all: 5x its share
            pq.write_table(pq.read_table(file), file, write_statistics=False, row_group_size=20)
    if layout == "mostly no msgid":
        more = pd.concat([sends] * 3, ignore_index=True).drop(columns="msgid").assign(state="accepted")
        pq.write_table(
            pa.Table.from_pandas(more, preserve_index=False), next(sends_path.glob("date=*")) / "more.parquet"
        )
        sends = pd.concat([sends, more.assign(msgid=None)], ignore_index=True)
    _same(CALLS["rate by campaign"](sends_path, reports_path), CALLS["rate by campaign"](sends, reports))
    assert bool(_ranged(statements)) == (plan == "ranges")
    assert bool(_splits(statements)) == (plan == "split")


def test_ranges_cover_files_without_statistics_or_msgid(tmp_path: Path, plan: Plan) -> None:
    """A file written without statistics, or without a msgid column at all (its rows have none,
    yet count as sent), is read by every pass it may hold rows of; nothing is lost or counted twice."""
    from smsdata import _duckdb_engine

    sends, reports = _random()
    sends_path = _write(_in_msgid_order(sends), tmp_path / "sends", row_group_size=20)
    reports_path = _write(_in_msgid_order(reports), tmp_path / "reports", row_group_size=20)
    day = next(reports_path.glob("date=*"))
    part = pq.read_table(day / "part-0.parquet")
    pq.write_table(part, day / "part-0.parquet", write_statistics=False, row_group_size=20)
    no_msgid = sends.iloc[:7].drop(columns="msgid").assign(state="accepted")  # counted sent, never reported
    pq.write_table(
        pa.Table.from_pandas(no_msgid, preserve_index=False), next(sends_path.glob("date=*")) / "part-1.parquet"
    )
    want = CALLS["rate by campaign"](pd.concat([sends, no_msgid.assign(msgid=None)], ignore_index=True), reports)
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(_duckdb_engine, "ROWS_PER_PASS", len(sends) // 4)
        _same(CALLS["rate by campaign"](sends_path, reports_path), want)
    assert plan.used() == {plan.name}


def test_passes_over_a_frame_beside_a_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plan: Plan) -> None:
    """Sends as a frame and reports as a path run out of core, in passes; the frame has no
    statistics to cut ranges by, so its msgids are split by hash whatever the plan."""
    from smsdata import _duckdb_engine

    sends, reports = _random()
    reports_path = _write(_in_msgid_order(reports), tmp_path / "reports", row_group_size=20)
    monkeypatch.setattr(_duckdb_engine, "ROWS_PER_PASS", len(sends) // 4)
    _same(CALLS["rate by campaign"](sends, reports_path), CALLS["rate by campaign"](sends, reports))
    assert plan.used() == {"split"}


@pytest.mark.parametrize("dtype", ["int8", "int64"])
def test_ranges_bound_at_the_least_value_of_its_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dtype: str
) -> None:
    """A bound at a type's least value is written so DuckDB reads it as that value (``-128::TINYINT``
    would be ``-(128::TINYINT)``, out of range)."""
    from smsdata import _duckdb_engine

    least = np.iinfo(dtype).min
    sent_at = pd.to_datetime(["2026-11-20 10:00"] * 4, utc=True)
    ids = pd.Series([least, least + 1, 0, 5], dtype=dtype)
    sends = pd.DataFrame({"msgid": ids, "mobile": [f"1380013800{i}" for i in range(4)], "state": "accepted"})
    sends = sends.assign(sent_at=sent_at, campaign="c")
    reports = sends[["msgid", "mobile"]].assign(
        status=["UNDELIV", "DELIVRD", "DELIVRD", "DELIVRD"], report_time=sent_at + pd.Timedelta(seconds=5)
    )
    sends_path = _write(sends, tmp_path / "sends")
    reports_path = _write(reports, tmp_path / "reports")  # one row group each, both from the least: a bound
    monkeypatch.setattr(_duckdb_engine, "ROWS_PER_PASS", 2)
    statements = _statements(monkeypatch)
    _same(kpi.delivery_rate(sends_path, reports_path, as_of=AS_OF), kpi.delivery_rate(sends, reports, as_of=AS_OF))
    assert _ranged(statements)


@pytest.mark.parametrize("name", ["x[1]", "x\\y"])
def test_a_tmpdir_read_as_a_pattern_is_refused(
    small, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """The passes read their files back by a pattern: a TMPDIR DuckDB would read as one is a
    KpiError naming it, before any work."""
    import tempfile

    sends, reports = small
    sends_path, reports_path = _write(sends, tmp_path / "sends"), _write(reports, tmp_path / "reports")
    odd = tmp_path / name
    odd.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(odd))
    with pytest.raises(KpiError, match=r"temporary folder without .* TMPDIR is"):
        kpi.delivery_rate(sends_path, reports_path, as_of=AS_OF)


@pytest.mark.spark
def test_spark_gives_the_frames_tables(data, spark, tmp_path: Path) -> None:
    sends, reports = data
    spark_sends = spark.createDataFrame(pa.Table.from_pandas(sends, preserve_index=False))
    spark_reports = spark.createDataFrame(pa.Table.from_pandas(reports, preserve_index=False))
    for name, call in CALLS.items():
        want = call(sends, reports)
        try:
            _same(call(spark_sends, spark_reports), want)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from exc
    # mixed: a Spark DataFrame beside a frame or a warehouse path runs on Spark
    reports_path = _write(reports, tmp_path / "reports", unit="us")
    _same(
        kpi.delivery_rate(spark_sends, reports, by="campaign", as_of=AS_OF), CALLS["rate by campaign"](sends, reports)
    )
    _same(kpi.latency(sends, spark_reports, as_of=AS_OF), kpi.latency(sends, reports, as_of=AS_OF))
    _same(kpi.audit(spark_sends, reports_path, as_of=AS_OF, examples=2), CALLS["audit"](sends, reports))


@pytest.mark.spark
def test_spark_leaves_the_session_as_it_found_it(small, spark) -> None:
    sends, reports = small
    spark.conf.set("spark.sql.session.timeZone", "Asia/Shanghai")
    try:
        before = {t.name for t in spark.catalog.listTables()}
        kpi.delivery_rate(spark.createDataFrame(pa.Table.from_pandas(sends)), reports, as_of=AS_OF)
        assert spark.conf.get("spark.sql.session.timeZone") == "Asia/Shanghai"
        assert {t.name for t in spark.catalog.listTables()} == before
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")


def test_a_path_without_parquet_is_a_kpi_error(small, tmp_path: Path) -> None:
    sends, reports = small
    (tmp_path / "empty").mkdir()
    with pytest.raises(KpiError, match=r"no Parquet files of sends under .*sync_sends"):
        kpi.delivery_rate(tmp_path / "empty", reports)
    with pytest.raises(KpiError, match="no Parquet files of reports"):
        kpi.delivery_rate(sends, tmp_path / "missing")


def test_a_path_missing_a_column_names_it(small, tmp_path: Path) -> None:
    sends, reports = small
    _write(sends.drop(columns="state"), tmp_path / "sends")
    with pytest.raises(KpiError, match=r"sends at .* has no column 'state'"):
        kpi.delivery_rate(tmp_path / "sends", reports)
    with pytest.raises(KpiError, match="has no column 'city'"):
        kpi.delivery_rate(sends, reports, by="city")


def test_an_input_of_another_kind_is_a_kpi_error(small) -> None:
    sends, reports = small
    with pytest.raises(KpiError, match="not list"):
        kpi.delivery_rate([1, 2], reports)
    with pytest.raises(KpiError, match="not int"):
        kpi.audit(sends, 3)


def test_charts_draw_the_same_from_paths(data, tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    from smsdata import charts

    sends, reports = data
    paths = _write(sends, tmp_path / "sends"), _write(reports, tmp_path / "reports")
    for plot in (charts.plot_delivery_rate, charts.plot_latency, charts.plot_status_breakdown):
        want, got = plot(sends, reports, by="campaign", as_of=AS_OF), plot(*paths, by="campaign", as_of=AS_OF)
        (want_ax, *_), (got_ax, *_) = want.axes, got.axes
        assert got_ax.get_xlabel() == want_ax.get_xlabel()  # the same period fitted to the span
        for got_line, want_line in zip(got_ax.get_lines(), want_ax.get_lines(), strict=True):
            np.testing.assert_allclose(_floats(got_line.get_ydata()), _floats(want_line.get_ydata()))
        sizes = [(p.get_width(), p.get_height()) for p in want_ax.patches]
        np.testing.assert_allclose([(p.get_width(), p.get_height()) for p in got_ax.patches], sizes)
        plt.close(want)
        plt.close(got)


def _floats(values: object) -> np.ndarray:
    return np.asarray(pd.to_numeric(pd.Series(np.asarray(values, dtype=object)), errors="coerce"), dtype=float)


def test_a_path_a_glob_would_misread_is_refused(small, tmp_path: Path) -> None:
    sends, reports = small
    for name in ("wh[1]", "wh*", "wh{a,b}"):
        _write(sends, tmp_path / name / "sends")
        with pytest.raises(KpiError, match="as a pattern"):
            kpi.delivery_rate(tmp_path / name, reports)


def test_a_damaged_parquet_file_is_a_kpi_error(small, tmp_path: Path) -> None:
    sends, reports = small
    folder = _write(reports, tmp_path / "reports")
    part = next(folder.rglob("*.parquet"))
    data = bytearray(part.read_bytes())
    data[4 : len(data) // 2] = b"\xff" * (len(data) // 2 - 4)  # the pages, not the footer
    part.write_bytes(bytes(data))
    with pytest.raises(KpiError, match="cannot read"):
        kpi.delivery_rate(sends, folder, as_of=AS_OF)


@pytest.mark.spark
def test_spark_failing_to_read_is_a_kpi_error(small, spark, tmp_path: Path) -> None:
    sends, reports = small
    in_ns = reports.assign(report_time=reports["report_time"].dt.as_unit("ns"))
    nanoseconds = _write(in_ns, tmp_path / "reports")  # Spark reads no nanosecond timestamps
    spark_sends = spark.createDataFrame(pa.Table.from_pandas(sends, preserve_index=False))
    zone = spark.conf.get("spark.sql.session.timeZone")
    with pytest.raises(KpiError, match="nanosecond"):
        kpi.delivery_rate(spark_sends, nanoseconds, as_of=AS_OF)
    assert spark.conf.get("spark.sql.session.timeZone") == zone  # put back after a failure too


@pytest.mark.parametrize(
    ("sent", "reported"),
    [
        (lambda ids: ids, lambda ids: ids.astype(str)),  # 101 and '101'
        (lambda ids: ids.astype("float64"), lambda ids: ids.astype(str)),  # 101.0 (an int column with a blank)
        (lambda ids: ids, lambda ids: ids.astype(str).str.zfill(5)),  # 101 and '00101'
        (lambda ids: ids.astype(str), lambda ids: ids),  # the other way round
        (lambda ids: ids, lambda ids: ids.astype(str) + ".4"),  # the join casts '101.4' to 101
        (lambda ids: ids.astype("int32"), lambda ids: ids.astype("int64")),
        (lambda ids: ids, lambda ids: ids),  # alike: the passes may take ranges of numbers
    ],
    ids=["int-text", "float-text", "int-padded-text", "text-int", "int-decimal-text", "int32-int64", "int-int"],
)
def test_passes_meet_msgids_stored_as_numbers_and_as_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sent: Callable, reported: Callable, plan: Plan
) -> None:
    """A msgid kept as a number in one table and as text in the other is one recipient: one
    query matches them (as numbers), and so must the passes (they hash it as the join compares it)."""
    from smsdata import _duckdb_engine

    sent_at = pd.to_datetime(["2026-11-20 10:00"] * 6, utc=True)
    ids = pd.Series(range(101, 107))
    sends = pd.DataFrame(
        {"msgid": sent(ids), "mobile": [f"1380013800{i}" for i in range(6)], "state": "accepted"}
    ).assign(sent_at=sent_at, campaign="c")
    reports = pd.DataFrame({"msgid": reported(ids), "mobile": sends["mobile"], "status": "DELIVRD"})
    reports = reports.assign(report_time=sent_at + pd.Timedelta(seconds=5))
    sends_path, reports_path = _write(sends, tmp_path / "sends"), _write(reports, tmp_path / "reports")
    want = kpi.delivery_rate(sends, reports, as_of=AS_OF)
    assert want["delivered"].tolist() == [6]
    monkeypatch.setattr(_duckdb_engine, "ROWS_PER_PASS", 1)  # six passes
    _same(kpi.delivery_rate(sends_path, reports_path, as_of=AS_OF), want)
    _same(kpi.latency(sends_path, reports_path, as_of=AS_OF), kpi.latency(sends, reports, as_of=AS_OF))
    alike = sends["msgid"].dtype == reports["msgid"].dtype
    assert plan.used() == {plan.name if alike else "split"}  # ranges compare as stored: only alike


def test_duckdb_failures_are_kpi_errors(small, tmp_path: Path) -> None:
    sends, reports = small
    bad = reports.assign(report_time="garbage")
    _write(sends, tmp_path / "sends")
    (tmp_path / "reports" / "date=2026-11-20").mkdir(parents=True)
    bad.to_parquet(tmp_path / "reports" / "date=2026-11-20" / "part-0.parquet")
    with pytest.raises(KpiError, match=r"wrong type|not times|cannot read"):
        kpi.delivery_rate(tmp_path, tmp_path, as_of=AS_OF)
    with pytest.raises(KpiError, match="wrong type"):
        kpi.delivery_rate(sends, reports.assign(status=1), as_of=AS_OF)


@pytest.mark.parametrize("within", [3600, 3600.0])
def test_a_duration_without_a_unit_is_refused(small, within: float) -> None:
    sends, reports = small
    with pytest.raises(KpiError, match="has no unit"):
        kpi.delivery_rate(sends, reports, within=within, as_of=AS_OF)
    with pytest.raises(KpiError, match="has no unit"):
        kpi.delivery_rate(sends, reports, expire_after=within, as_of=AS_OF)


@pytest.mark.parametrize("by", [123, [1, "campaign"]])
def test_by_must_name_columns(small, by: object) -> None:
    sends, reports = small
    with pytest.raises(KpiError, match="must name columns"):
        kpi.delivery_rate(sends, reports, by=by, as_of=AS_OF)


def test_a_zone_that_is_not_text_is_refused(small) -> None:
    sends, reports = small
    with pytest.raises(KpiError, match="not a known time zone"):
        kpi.delivery_rate(sends, reports, freq="D", tz=5, as_of=AS_OF)


def test_a_full_spill_folder_says_so() -> None:
    """Out-of-core passes write to TMPDIR; DuckDB's IO error for a full disk becomes a KpiError
    naming the folder, not 'cannot read the warehouse'."""
    import tempfile

    import duckdb

    from smsdata._duckdb_engine import _kpi_error

    full = _kpi_error(duckdb.IOException('Could not write file "/tmp/x/part-0.parquet": No space left on device'))
    assert isinstance(full, KpiError)
    assert str(full).startswith(f"no space left for the out-of-core work in {tempfile.gettempdir()!r} (TMPDIR)")
    unreadable = _kpi_error(duckdb.IOException("No files found that match the pattern"))
    assert str(unreadable).startswith("cannot read the warehouse")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", None]), st.one_of(st.none(), st.floats(0, 1e5, allow_nan=False))),
        max_size=40,
    ),
    st.booleans(),
)
def test_counted_quantiles_equal_quantile_cont(rows: list[tuple[str | None, float | None]], grouped: bool) -> None:
    """The quantiles of passes, counted from each distinct value, are quantile_cont's: ties, one
    value, a NULL group, and groups with no value (no row) included."""
    import duckdb

    from smsdata._kpi_sql import QUANTILES, counted_quantiles_sql

    values = pd.DataFrame(rows, columns=["g", "v"]).astype({"g": object, "v": "float64"})
    con = duckdb.connect()
    con.register("vals", values)
    counted_sql = counted_quantiles_sql(["g"] if grouped else [], "vals", "v")
    got = con.execute(f"WITH {counted_sql} SELECT * FROM quantiles")  # noqa: S608 (our SQL)
    counted = {row[0] if grouped else None: row[-3:] for row in got.fetchall() if row[-3] is not None}
    present = values.dropna(subset=["v"])
    groups = present.groupby("g", dropna=False)["v"] if grouped else [(None, present["v"])]
    expected = {g: np.quantile(v, QUANTILES) for g, v in groups if len(v)}  # linear, as quantile_cont
    expected = {None if pd.isna(g) else g: q for g, q in expected.items()}
    assert counted.keys() == expected.keys()
    for key, quantiles in expected.items():
        assert list(counted[key]) == pytest.approx(list(quantiles), rel=1e-12, abs=1e-9), key


def test_dead_numbers_in_passes_with_and_without_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plan: Plan
) -> None:
    """Out of core, dead numbers are regrouped by number after the passes: a number failing in
    two msgids (two passes) is one row, and no reported recipient at all is an empty table."""
    from smsdata import _duckdb_engine

    sent_at = pd.to_datetime(["2026-11-20 10:00", "2026-11-21 10:00", "2026-11-21 10:00"], utc=True)
    sends = pd.DataFrame(
        {"msgid": ["m1", "m2", "m2"], "mobile": ["13800138000", "13800138000", "13900139000"], "state": "accepted"}
    ).assign(sent_at=sent_at, campaign=["c1", "c2", "c2"])
    reports = sends[["msgid", "mobile"]].assign(status="UNDELIV", report_time=sent_at + pd.Timedelta(seconds=5))
    monkeypatch.setattr(_duckdb_engine, "ROWS_PER_PASS", 1)  # three passes
    for got_reports, numbers in ((reports, ["13800138000"]), (reports.iloc[:0], [])):
        sends_path = _write(sends, tmp_path / f"s{len(numbers)}" / "sends")
        reports_path = _write(got_reports, tmp_path / f"r{len(numbers)}" / "reports") if numbers else None
        if reports_path is None:  # no report file at all: an empty Parquet file with the columns
            reports_path = tmp_path / "r0" / "reports" / "date=2026-11-20"
            reports_path.mkdir(parents=True)
            pq.write_table(pa.Table.from_pandas(got_reports, preserve_index=False), reports_path / "part-0.parquet")
            reports_path = reports_path.parent
        got = kpi.dead_numbers(sends_path, reports_path, min_failures=2, min_campaigns=2, as_of=AS_OF)
        assert got["mobile"].tolist() == numbers
        want = kpi.dead_numbers(sends, got_reports, min_failures=2, min_campaigns=2, as_of=AS_OF)
        _same(got, want)
        if numbers:  # (no report at all: nothing to range over, the split it is)
            assert plan.used() == {plan.name}


@pytest.mark.parametrize("name", ["date", "Date", "DATE"])
def test_a_column_named_date_in_the_files_is_theirs_not_the_folders(small, tmp_path: Path, name: str) -> None:
    """The warehouse's date= folders would shadow a column ``date`` the files hold themselves (a
    hand-written table; any case, as SQL ignores it): over paths, grouping by it must give the
    frames' groups."""
    sends, reports = small
    days = pd.Series(["a", "b", "c", None] * len(sends), dtype=object)[: len(sends)].to_numpy()
    dated = sends.assign(**{name: days})
    sends_path, reports_path = _write(dated, tmp_path / "sends"), _write(reports, tmp_path / "reports")
    want = kpi.delivery_rate(dated, reports, by=name, as_of=AS_OF)
    assert len(want) == 4
    _same(kpi.delivery_rate(sends_path, reports_path, by=name, as_of=AS_OF), want)


def test_passes_refuse_text_msgids_no_number_as_the_join_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Numbers in sends, text in reports with one that is no number: one query fails on it, and
    so must the passes (not count without it, whichever pass it falls in)."""
    from smsdata import _duckdb_engine

    sent_at = pd.to_datetime(["2026-11-20 10:00"] * 4, utc=True)
    sends = pd.DataFrame({"msgid": range(101, 105), "mobile": [f"1380013800{i}" for i in range(4)]})
    sends = sends.assign(state="accepted", sent_at=sent_at, campaign="c")
    reports = pd.DataFrame({"msgid": ["101", "102", "103", "junk"], "mobile": sends["mobile"], "status": "DELIVRD"})
    reports = reports.assign(report_time=sent_at + pd.Timedelta(seconds=5))
    sends_path, reports_path = _write(sends, tmp_path / "sends"), _write(reports, tmp_path / "reports")
    with pytest.raises(KpiError, match="Could not convert string 'junk'"):
        kpi.delivery_rate(sends, reports, as_of=AS_OF)
    monkeypatch.setattr(_duckdb_engine, "ROWS_PER_PASS", 1)
    with pytest.raises(KpiError, match="Could not convert string 'junk'"):
        kpi.delivery_rate(sends_path, reports_path, as_of=AS_OF)


@pytest.mark.parametrize("name", ["n", "c", "v", "hi", "frac", "upto"])
def test_latency_in_passes_by_columns_named_like_working_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, plan: Plan
) -> None:
    """The counted quantiles of passes work in columns of their own (``smsdata_*``): a by= column
    called ``n`` or ``hi`` groups, and is not read as one of them."""
    from smsdata import _duckdb_engine

    sends, reports = _random()
    grouped = sends.assign(**{name: np.arange(len(sends)) % 2 + 1})
    sends_path, reports_path = _write(grouped, tmp_path / "sends"), _write(reports, tmp_path / "reports")
    want = kpi.latency(grouped, reports, by=name, as_of=AS_OF)
    monkeypatch.setattr(_duckdb_engine, "ROWS_PER_PASS", max(1, len(sends) // 3))
    _same(kpi.latency(sends_path, reports_path, by=name, as_of=AS_OF), want)
    assert plan.used() == {plan.name}
    with pytest.raises(KpiError, match="clash"):
        kpi.latency(grouped.rename(columns={name: "smsdata_x"}), reports, by="smsdata_x", as_of=AS_OF)
