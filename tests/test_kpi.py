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
    assert ((out["ci_low"] <= out["delivery_rate"]) & (out["delivery_rate"] <= out["ci_high"])).all()
