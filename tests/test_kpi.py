"""KPIs: hand-computed cases, the definitions' invariants, and equality with a plain pandas computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smsdata import kpi
from tests import pandas_kpi


def T(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def test_delivery_rate_by_hand(small) -> None:
    sends, reports = small
    out = kpi.delivery_rate(sends, reports, by="campaign", as_of="2026-11-21 12:00")
    assert out[["campaign", "sent", "delivered", "failed", "pending", "no_report"]].values.tolist() == [
        ["a", 3, 1, 1, 1, 0],
        ["b", 2, 1, 0, 1, 0],
    ]
    assert out["delivery_rate"].tolist() == pytest.approx([1 / 3, 1 / 2])
    low, high = kpi.wilson_interval(1, 3)
    assert out["ci_low"][0] == pytest.approx(float(low))
    assert float(low) == pytest.approx(0.0615, abs=1e-4)  # published Wilson interval for 1/3
    assert float(high) == pytest.approx(0.7923, abs=1e-4)


def test_no_report_and_as_of(small) -> None:
    sends, reports = small
    early = kpi.delivery_rate(sends, reports, by="campaign", expire_after="72h", as_of="2026-11-23 12:00")
    assert early[["pending", "no_report"]].values.tolist() == [[0, 1], [1, 0]]  # a's pending is 84 h old, b's 60 h
    late = kpi.delivery_rate(sends, reports, as_of=T("2026-12-01"))  # expire_after defaults to 72 h
    assert late[["sent", "delivered", "failed", "pending", "no_report"]].values.tolist() == [[5, 2, 1, 0, 2]]


def test_periods_are_local_days(small) -> None:
    sends, reports = small
    out = kpi.delivery_rate(sends, reports, freq="D", tz="Asia/Shanghai")
    assert out["period"].tolist() == [
        pd.Timestamp("2026-11-20", tz="Asia/Shanghai"),
        pd.Timestamp("2026-11-21", tz="Asia/Shanghai"),
    ]
    assert out["sent"].tolist() == [3, 2]
    with pytest.raises(kpi.KpiError, match="freq"):
        kpi.delivery_rate(sends, reports, freq="Y")


def test_latency_by_hand(small) -> None:
    sends, reports = small
    out = kpi.latency(sends, reports, by="campaign")
    assert out[["campaign", "count", "p50", "mean", "skewed"]].iloc[0].tolist() == ["a", 1, 60.0, 60.0, 0]
    assert out[["count", "skewed"]].iloc[1].tolist() == [0, 1]
    assert np.isnan(out["p50"].iloc[1])


def test_time_to_receipt_by_hand(small) -> None:
    sends, reports = small
    curve = kpi.time_to_receipt(sends, reports, as_of="2026-11-22")
    # 5 recipients: skewed delivery at 0 s, one at 60 s; three censored at as_of
    assert curve[["seconds", "at_risk", "events"]].values.tolist() == [[0.0, 5, 1], [60.0, 4, 1]]
    assert curve["delivered_share"].tolist() == pytest.approx([0.2, 1 - 0.8 * 0.75])


def test_kaplan_meier_with_censoring_by_hand() -> None:
    # durations 1, 2+, 3, 3, 4+ (+ censored): S(1) = 4/5, S(3) = 4/5 * (1 - 2/3)
    steps = pd.DataFrame({"seconds": [1.0, 2.0, 3.0, 4.0], "events": [1, 0, 2, 0], "censored": [0, 1, 0, 1]})
    curve = kpi.kaplan_meier(steps)
    assert curve["seconds"].tolist() == [1.0, 3.0]
    assert curve["at_risk"].tolist() == [5, 3]
    assert curve["delivered_share"].tolist() == pytest.approx([0.2, 1 - 0.8 / 3])


def test_status_breakdown_keeps_carrier_codes(small) -> None:
    sends, reports = small
    out = kpi.status_breakdown(sends, reports, by="campaign")
    assert out[["campaign", "status", "count"]].values.tolist() == [
        ["a", "(pending)", 1],
        ["a", "DELIVRD", 1],
        ["a", "EXPIRED", 1],
        ["b", "(pending)", 1],
        ["b", "DELIVRD", 1],
    ]
    assert out.groupby("campaign")["share"].sum().tolist() == pytest.approx([1.0, 1.0])


def test_compare_against_a_baseline(small) -> None:
    sends, reports = small
    out = kpi.compare(sends, reports, by="campaign", baseline="a")
    assert out["diff"].tolist() == pytest.approx([0.0, 0.5 - 1 / 3])
    assert out["p_value"][0] == 1.0
    # pooled z-test by hand: p = 2/5, se = sqrt(.4*.6*(1/2+1/3)), z = (1/6)/se
    z = (1 / 6) / np.sqrt(0.4 * 0.6 * (1 / 2 + 1 / 3))
    from math import erfc, sqrt

    assert out["p_value"][1] == pytest.approx(erfc(z / sqrt(2)))
    assert out["diff_low"][1] < out["diff"][1] < out["diff_high"][1]
    with pytest.raises(kpi.KpiError, match="no group"):
        kpi.compare(sends, reports, by="campaign", baseline="zzz")


def test_dead_numbers(small) -> None:
    sends, reports = small
    dead = kpi.dead_numbers(sends, reports, min_failures=1, min_campaigns=1)
    assert dead[["mobile", "failures", "last_status"]].values.tolist() == [["13800000002", 1, "EXPIRED"]]
    assert kpi.dead_numbers(sends, reports).empty


def test_audit_by_hand(small) -> None:
    sends, reports = small
    out = kpi.audit(sends, reports, as_of="2026-11-30").set_index("check")["count"].to_dict()
    assert out == {
        "orphan_reports": 1,
        "wrong_number": 1,
        "repeated_reports": 1,
        "clock_skew": 1,
        "delivered_after_failure": 1,
        "no_report_after_expiry": 2,
        "unknown_requests_with_reports": 1,
    }
    examples = kpi.audit(sends, reports).set_index("check")["examples"]
    assert "msgid=m9" in examples["orphan_reports"]


def test_missing_columns_are_named(small) -> None:
    sends, reports = small
    with pytest.raises(kpi.KpiError, match="'carrier'"):
        kpi.delivery_rate(sends, reports, by="carrier")
    with pytest.raises(kpi.KpiError, match="'status'"):
        kpi.latency(sends, reports.drop(columns="status"))


# ------------------------------------------------------------------ random data vs pandas


@pytest.mark.parametrize(
    "by",
    [
        pytest.param([], id="all"),
        pytest.param(["campaign"], id="campaign"),
        pytest.param(["campaign", "carrier"], id="two"),
    ],
)
@pytest.mark.parametrize("seed", [1, 2])
def test_equal_to_a_plain_pandas_computation(by: list[str], seed: int) -> None:
    sends, reports = pandas_kpi.random_frames(seed)
    as_of = T("2026-11-08")
    ours = kpi.delivery_rate(sends, reports, by=by, expire_after="72h", as_of=as_of)
    theirs = pandas_kpi.delivery_rate(sends, reports, by=by, expire_after="72h", as_of=as_of)
    columns = [*by, "sent", "delivered", "failed", "pending", "no_report"]
    assert ours[columns].astype(str).values.tolist() == theirs[columns].astype(str).values.tolist()
    for name in ("delivery_rate", "ci_low", "ci_high"):
        assert ours[name].to_numpy() == pytest.approx(theirs[name].astype(float).to_numpy())
    ours_lat = kpi.latency(sends, reports, by=by, as_of=as_of)
    theirs_lat = pandas_kpi.latency(sends, reports, by=by, as_of=as_of)
    assert ours_lat["count"].tolist() == theirs_lat["count"].astype(int).tolist()
    assert ours_lat["skewed"].tolist() == theirs_lat["skewed"].astype(int).tolist()
    for name in ("p50", "p90", "p99", "mean"):
        assert ours_lat[name].to_numpy() == pytest.approx(theirs_lat[name].astype(float).to_numpy())


def test_kaplan_meier_equal_to_the_textbook_loop() -> None:
    sends, reports = pandas_kpi.random_frames(5, n=400)
    as_of = T("2026-11-12")
    ours = kpi.time_to_receipt(sends, reports, as_of=as_of)
    rec = pandas_kpi.recipients(sends, reports, as_of)
    delivered = rec["delivered_at"].notna().to_numpy()
    end = rec["delivered_at"].where(rec["delivered_at"].notna(), as_of)
    durations = (end - rec["sent_at"]).dt.total_seconds().clip(lower=0).to_numpy()
    theirs = pandas_kpi.kaplan_meier(durations, delivered)
    assert ours["seconds"].tolist() == pytest.approx(theirs["seconds"].tolist())
    assert ours["at_risk"].tolist() == theirs["at_risk"].tolist()
    assert ours["delivered_share"].tolist() == pytest.approx(theirs["delivered_share"].tolist())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 200),
    st.sampled_from(["0s", "1h", "72h"]),
    st.sampled_from([None, "30min", "24h"]),
)
def test_outcomes_always_add_up_to_sent(seed: int, n: int, expire_after: str, within: str | None) -> None:
    sends, reports = pandas_kpi.random_frames(seed, n)
    out = kpi.delivery_rate(sends, reports, by="campaign", expire_after=expire_after, within=within, as_of="2026-11-05")
    parts = out["delivered"] + out["failed"] + out["pending"] + out["no_report"]
    assert (parts == out["sent"]).all()
    if within is not None:  # every recipient sent by as_of is judged or open
        accepted = sends[sends["state"].eq("accepted") & (sends["sent_at"] <= T("2026-11-05"))]
        assert int((out["sent"] + out["open"]).sum()) == len(accepted)
    judged = out[out["sent"] > 0]  # a group whose windows are all open has no rate
    assert ((judged["ci_low"] <= judged["delivery_rate"]) & (judged["delivery_rate"] <= judged["ci_high"])).all()
    assert out.loc[out["sent"] == 0, "delivery_rate"].isna().all()


# ------------------------------------------------------------------ point in time, windows, time


def test_reports_after_as_of_do_not_exist(small) -> None:
    sends, reports = small
    # at 00:00:30 on the 20th: a's 001 has only its UNKNOWN (failed), 002 its EXPIRED, 003 nothing for it yet
    out = kpi.delivery_rate(sends, reports, by="campaign", as_of="2026-11-20 00:00:30")
    assert out[["campaign", "sent", "delivered", "failed", "pending"]].values.tolist() == [["a", 3, 0, 2, 1]]
    curve = kpi.time_to_receipt(sends, reports, as_of="2026-11-20 00:00:30")
    assert curve.empty  # the DELIVRD at 00:01:00 is no event yet
    status = kpi.status_breakdown(sends, reports, as_of="2026-11-20 00:00:30")
    assert dict(zip(status["status"], status["count"], strict=True)) == {"(pending)": 1, "EXPIRED": 1, "UNKNOWN": 1}


def test_within_judges_each_recipient_at_its_window_and_leaves_open_ones_out(small) -> None:
    sends, reports = small
    # 001's first DELIVRD came 60 s after sending: delivered within 2 min, not within 30 s
    slow = kpi.delivery_rate(sends, reports, by="campaign", within="30s", as_of="2026-11-25")
    fast = kpi.delivery_rate(sends, reports, by="campaign", within="2min", as_of="2026-11-25")
    assert slow.set_index("campaign").loc["a", ["sent", "delivered", "failed", "open"]].tolist() == [3, 0, 2, 0]
    assert fast.set_index("campaign").loc["a", ["sent", "delivered", "failed", "open"]].tolist() == [3, 1, 1, 0]
    # on the 21st at 00:00:30 b's window of 24 h is open: b is not judged, only counted
    young = kpi.delivery_rate(sends, reports, by="campaign", within="24h", as_of="2026-11-21 00:00:30")
    assert young[["campaign", "sent", "open"]].values.tolist() == [["a", 3, 0], ["b", 0, 2]]
    assert np.isnan(young["delivery_rate"].iloc[1])


def test_a_report_in_the_same_second_is_not_skew() -> None:
    sent = pd.Timestamp("2026-11-20 10:00:00.700", tz="UTC")
    sends = pd.DataFrame(
        {
            "request_id": [1, 1],
            "msgid": ["m"] * 2,
            "mobile": ["13800000001", "13800000002"],
            "state": ["accepted"] * 2,
            "sent_at": [sent] * 2,
        }
    )
    reports = pd.DataFrame(
        {
            "msgid": ["m", "m"],
            "mobile": ["13800000001", "13800000002"],
            "status": ["DELIVRD", "DELIVRD"],
            "report_time": [
                pd.Timestamp("2026-11-20 10:00:00", tz="UTC"),
                pd.Timestamp("2026-11-20 09:59:58", tz="UTC"),
            ],
        }
    )
    out = kpi.latency(sends, reports)
    assert out[["count", "p50", "skewed"]].values.tolist() == [[1, 0.0, 1]]  # stamped to the second: 0 s
    checks = kpi.audit(sends, reports).set_index("check")["count"]
    assert checks["clock_skew"] == 1


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("zone", [None, "UTC", "Asia/Shanghai", "America/New_York"])
def test_any_timestamp_resolution_and_zone_gives_the_same_numbers(small, unit: str, zone: str | None) -> None:
    sends, reports = small
    expected = kpi.latency(sends, reports, by="campaign")
    expected_rate = kpi.delivery_rate(sends, reports, by="campaign", as_of="2026-11-22")

    def recast(column: pd.Series) -> pd.Series:
        column = column.dt.as_unit(unit)
        return column.dt.tz_convert(None) if zone is None else column.dt.tz_convert(zone)

    sends = sends.assign(sent_at=recast(sends["sent_at"]))
    reports = reports.assign(report_time=recast(reports["report_time"]))
    pd.testing.assert_frame_equal(kpi.latency(sends, reports, by="campaign"), expected)
    pd.testing.assert_frame_equal(kpi.delivery_rate(sends, reports, by="campaign", as_of="2026-11-22"), expected_rate)
    assert len(kpi.time_to_receipt(sends, reports, as_of="2026-11-22")) == 2


@pytest.mark.parametrize(
    ("freq", "periods"),
    [
        pytest.param(
            "h",
            ["2026-11-01 00:00-04:00", "2026-11-01 01:00-04:00", "2026-11-01 01:00-05:00", "2026-11-01 02:00-05:00"],
            id="autumn-hour-twice",
        ),
        pytest.param(
            "30min",
            ["2026-11-01 00:30-04:00", "2026-11-01 01:30-04:00", "2026-11-01 01:30-05:00", "2026-11-01 02:30-05:00"],
            id="half-hours-of-the-autumn-hour",
        ),
        pytest.param("D", ["2026-11-01 00:00-04:00"], id="one-day-of-25-hours"),
        pytest.param("W", ["2026-10-26 00:00-04:00"], id="week-from-monday"),
        pytest.param("M", ["2026-11-01 00:00-04:00"], id="month"),
    ],
)
def test_local_periods_across_the_autumn_change(freq: str, periods: list[str]) -> None:
    # New York falls back at 2026-11-01 06:00 UTC (02:00 EDT -> 01:00 EST): 04:30 .. 07:30 UTC
    # are 00:30 EDT, 01:30 EDT, 01:30 EST, 02:30 EST
    sent = pd.to_datetime(["2026-11-01 04:30", "2026-11-01 05:30", "2026-11-01 06:30", "2026-11-01 07:30"], utc=True)
    sends = pd.DataFrame(
        {"msgid": list("abcd"), "mobile": ["13800000001"] * 4, "state": ["accepted"] * 4, "sent_at": sent}
    )
    reports = sends[["msgid", "mobile"]].assign(status="DELIVRD", report_time=sent + pd.Timedelta(seconds=5))
    out = kpi.delivery_rate(sends, reports, freq=freq, tz="America/New_York", as_of="2026-11-02")
    assert [str(p) for p in out["period"]] == [str(pd.Timestamp(p)) for p in periods]
    assert int(out["sent"].sum()) == 4
    assert all(str(p.tzinfo) == "America/New_York" for p in out["period"])


def test_spring_forward_and_a_half_hour_zone() -> None:
    # London springs forward 2026-03-29 01:00 UTC; India is UTC+05:30 all year
    sent = pd.to_datetime(["2026-03-29 00:30", "2026-03-29 01:30"], utc=True)
    sends = pd.DataFrame(
        {"msgid": ["a", "b"], "mobile": ["13800000001"] * 2, "state": ["accepted"] * 2, "sent_at": sent}
    )
    reports = sends[["msgid", "mobile"]].assign(status="DELIVRD", report_time=sent)
    london = kpi.delivery_rate(sends, reports, freq="h", tz="Europe/London", as_of="2026-04-01")
    assert [str(p) for p in london["period"]] == ["2026-03-29 00:00:00+00:00", "2026-03-29 02:00:00+01:00"]
    india = kpi.delivery_rate(sends, reports, freq="h", tz="Asia/Kolkata", as_of="2026-04-01")
    assert [str(p) for p in india["period"]] == ["2026-03-29 06:00:00+05:30", "2026-03-29 07:00:00+05:30"]
    quarters = kpi.delivery_rate(sends, reports, freq="15min", tz="Asia/Kolkata", as_of="2026-04-01")
    assert [str(p) for p in quarters["period"]] == ["2026-03-29 06:00:00+05:30", "2026-03-29 07:00:00+05:30"]
    nepal = kpi.delivery_rate(sends, reports, freq="5min", tz="Asia/Kathmandu", as_of="2026-04-01")
    assert [str(p) for p in nepal["period"]] == ["2026-03-29 06:15:00+05:45", "2026-03-29 07:15:00+05:45"]


def test_kpis_do_not_read_gateway_settings(small, monkeypatch: pytest.MonkeyPatch) -> None:
    sends, reports = small
    monkeypatch.setenv("SMSDATA_URL", "not a url")
    monkeypatch.setenv("SMSDATA_TZ", "Asia/Shanghai")
    out = kpi.delivery_rate(sends, reports, freq="D")  # today: ConfigError from the unrelated SMSDATA_URL
    assert str(out["period"].iloc[0].tzinfo) == "Asia/Shanghai"


def test_options_are_keyword_only(small) -> None:
    sends, reports = small
    with pytest.raises(TypeError):
        kpi.delivery_rate(sends, reports, "campaign")  # type: ignore[misc]
    with pytest.raises(TypeError):
        kpi.latency(sends, reports, "campaign")  # type: ignore[misc]


def test_dead_numbers_needs_failures_in_two_campaigns() -> None:
    at = pd.Timestamp("2026-11-20", tz="UTC")
    sends = pd.DataFrame(
        {
            "campaign": ["c1", "c1", "c1", "c2"],
            "msgid": ["m1", "m2", "m3", "m4"],
            "mobile": ["13800000001"] * 4,
            "state": ["accepted"] * 4,
            "sent_at": [at + pd.Timedelta(days=i) for i in range(4)],
        }
    )
    reports = sends[["msgid", "mobile"]].assign(
        status="UNKNOWN", report_time=sends["sent_at"] + pd.Timedelta(minutes=1)
    )
    three_in_one = kpi.dead_numbers(sends.iloc[:3], reports.iloc[:3], as_of="2026-12-01")
    assert three_in_one.empty  # one bad campaign is not enough
    dead = kpi.dead_numbers(sends, reports, as_of="2026-12-01")
    assert dead[["mobile", "failures", "campaigns"]].values.tolist() == [["13800000001", 4, 2]]
    assert kpi.dead_numbers(sends, reports, as_of="2026-11-22").empty  # as it stood then: 2 failures


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.integers(0, 86400 * 12))
def test_every_kpi_at_as_of_equals_the_kpi_of_the_data_filtered_to_as_of(seed: int, offset: int) -> None:
    sends, reports = pandas_kpi.random_frames(seed, 300)
    as_of = pd.Timestamp("2026-11-01", tz="UTC") + pd.Timedelta(seconds=offset)
    then_sends, then_reports = sends[sends["sent_at"] <= as_of], reports[reports["report_time"] <= as_of]
    for name, call in {
        "delivery_rate": lambda s, r: kpi.delivery_rate(s, r, by="campaign", as_of=as_of),
        "latency": lambda s, r: kpi.latency(s, r, by="campaign", as_of=as_of),
        "status_breakdown": lambda s, r: kpi.status_breakdown(s, r, by="campaign", as_of=as_of),
        "time_to_receipt": lambda s, r: kpi.time_to_receipt(s, r, by="campaign", as_of=as_of),
        "dead_numbers": lambda s, r: kpi.dead_numbers(s, r, min_failures=1, min_campaigns=1, as_of=as_of),
        "audit": lambda s, r: kpi.audit(s, r, as_of=as_of),
    }.items():
        pd.testing.assert_frame_equal(call(sends, reports), call(then_sends, then_reports), obj=name)


def test_found_by_review_duplicates_null_groups_empty_compare_and_reserved_names() -> None:
    at = pd.Timestamp("2025-01-01", tz="UTC")
    sends = pd.DataFrame(
        {
            "campaign": ["a", "a", None],
            "request_id": [1, 1, 2],
            "msgid": ["m1", "m1", "m2"],
            "mobile": ["13800000001", "13800000001", "13800000002"],  # the first recipient twice
            "state": ["accepted"] * 3,
            "sent_at": [at] * 3,
        }
    )
    reports = pd.DataFrame(
        {
            "msgid": ["m1", "m2"],
            "mobile": ["13800000001", "13800000002"],
            "status": ["DELIVRD"] * 2,
            "report_time": [at + pd.Timedelta(minutes=1)] * 2,
        }
    )
    rates = kpi.delivery_rate(sends, reports, by="campaign", as_of="2025-02-01")
    assert rates["sent"].tolist() == [1, 1]  # one recipient, however often it is listed
    shares = kpi.status_breakdown(sends, reports, by="campaign", as_of="2025-02-01")["share"]
    assert shares.tolist() == [1.0, 1.0]  # the group without a campaign too
    curve = kpi.time_to_receipt(sends, reports, by="campaign", as_of="2025-02-01")
    assert curve["delivered_share"].tolist() == [1.0, 1.0]
    assert kpi.compare(sends, reports, by="campaign", as_of="2024-01-01").empty  # nothing sent yet
    with pytest.raises(kpi.KpiError, match="clash"):
        kpi.delivery_rate(sends.assign(open="x"), reports, by="open")


def test_latency_by_period_equals_latency_of_each_periods_sends() -> None:
    from tests import scenarios

    sends, reports = scenarios.campaigns(4, days=4, per_campaign=200)
    as_of = "2026-12-01"
    by_day = kpi.latency(sends, reports, by="carrier", freq="D", tz="Asia/Shanghai", as_of=as_of)
    assert str(by_day["period"].dt.tz) == "Asia/Shanghai"
    day = sends["sent_at"].dt.tz_convert("Asia/Shanghai").dt.floor("D")
    for (carrier, period), row in by_day.set_index(["carrier", "period"]).iterrows():
        alone = kpi.latency(sends[(day == period) & sends["carrier"].eq(carrier)], reports, as_of=as_of).iloc[0]
        assert row["count"] == alone["count"]
        assert row["p50"] == pytest.approx(alone["p50"], abs=1e-9)
        assert row["p90"] == pytest.approx(alone["p90"], abs=1e-9)
    assert by_day["count"].sum() == kpi.latency(sends, reports, as_of=as_of)["count"].iloc[0]


def test_a_bad_as_of_is_a_kpi_error(small) -> None:
    sends, reports = small
    with pytest.raises(kpi.KpiError, match="as_of='garbage' is not a time"):
        kpi.delivery_rate(sends, reports, as_of="garbage")
