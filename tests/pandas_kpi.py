"""The KPI definitions written again in plain pandas, independently of smsdata.kpi.

Used by the tests (results must be equal) and by bench/kpi.py (the baseline
DuckDB must beat).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

Z = 1.959963984540054


def recipients(sends: pd.DataFrame, reports: pd.DataFrame, as_of=None, within=None) -> pd.DataFrame:
    """Accepted recipients sent by ``as_of``, each with the time it is judged at and, among the
    reports by ``as_of``, its first DELIVRD time and first report time (NaT for none)."""
    as_of = pd.Timestamp("2262-01-01", tz="UTC") if as_of is None else pd.Timestamp(as_of)
    as_of = as_of.tz_localize("UTC") if as_of.tzinfo is None else as_of
    sent = sends[(sends["state"] == "accepted") & (sends["sent_at"] <= as_of)].copy()
    reports = reports[reports["report_time"] <= as_of]
    delivered = reports[reports["status"] == "DELIVRD"].groupby(["msgid", "mobile"])["report_time"].min()
    first = reports.groupby(["msgid", "mobile"])["report_time"].min()
    out = sent.merge(delivered.rename("delivered_at").reset_index(), on=["msgid", "mobile"], how="left")
    out = out.merge(first.rename("first_report").reset_index(), on=["msgid", "mobile"], how="left")
    out["judged_at"] = as_of if within is None else out["sent_at"] + pd.Timedelta(within)
    out["open"] = out["judged_at"] > as_of
    return out


def delivery_rate(sends, reports, by=(), expire_after="72h", as_of=None, within=None) -> pd.DataFrame:
    rec = recipients(sends, reports, as_of, within)
    opened = rec["open"]
    rec = rec[~opened].copy()
    rec["delivered"] = rec["delivered_at"] <= rec["judged_at"]
    rec["reported"] = rec["first_report"] <= rec["judged_at"]
    rec["failed"] = ~rec["delivered"] & rec["reported"]
    waited = rec["judged_at"] - rec["sent_at"]
    rec["pending"] = ~rec["reported"] & (waited < pd.Timedelta(expire_after))
    rec["no_report"] = ~rec["reported"] & (waited >= pd.Timedelta(expire_after))
    columns = ["delivered", "failed", "pending", "no_report"]
    rec["sent"] = 1
    if by:
        out = rec.groupby(list(by), sort=True)[["sent", *columns]].sum().reset_index()
    else:
        out = rec[["sent", *columns]].sum().to_frame().T
    n, k = out["sent"].astype(float), out["delivered"].astype(float)
    p = k / n
    out["delivery_rate"] = p
    denominator = 1 + Z**2 / n
    centre = (p + Z**2 / (2 * n)) / denominator
    half = Z * np.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2)) / denominator
    out["ci_low"], out["ci_high"] = centre - half, centre + half
    return out


def latency(sends, reports, by=(), as_of=None) -> pd.DataFrame:
    rec = recipients(sends, reports, as_of)
    rec = rec[rec["delivered_at"].notna()].copy()
    rec["seconds"] = (rec["delivered_at"] - rec["sent_at"]).dt.total_seconds()
    skewed = rec["seconds"] < -1  # a whole-second stamp up to 1 s early is not skew ...
    rec["seconds"] = rec["seconds"].clip(lower=0)  # ... its latency is 0
    good = rec[~skewed]

    def stats(frame: pd.DataFrame) -> pd.Series:
        s = frame["seconds"]
        return pd.Series(
            {"count": len(s), "p50": s.quantile(0.5), "p90": s.quantile(0.9), "p99": s.quantile(0.99), "mean": s.mean()}
        )

    if by:
        out = good.groupby(list(by), sort=True).apply(stats, include_groups=False).reset_index()
        counted = skewed.groupby([rec[c] for c in by]).sum().rename("skewed").reset_index()
        out = out.merge(counted, on=list(by), how="outer").fillna({"count": 0, "skewed": 0})
    else:
        out = stats(good).to_frame().T
        out["skewed"] = int(skewed.sum())
    return out


def kaplan_meier(durations: np.ndarray, delivered: np.ndarray) -> pd.DataFrame:
    """Textbook product-limit estimate, a loop over distinct event times (small inputs only)."""
    rows = []
    survival = 1.0
    for t in np.unique(durations[delivered]):
        at_risk = int((durations >= t).sum())
        events = int(((durations == t) & delivered).sum())
        survival *= 1 - events / at_risk
        rows.append({"seconds": float(t), "at_risk": at_risk, "events": events, "delivered_share": 1 - survival})
    return pd.DataFrame(rows)


def random_frames(seed: int, n: int = 3000) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    requests = rng.integers(0, n // 5 + 1, n)
    sends = pd.DataFrame(
        {
            "campaign": pd.Series(rng.choice(["x", "y", "z"], n)).astype("str"),
            "carrier": pd.Series(rng.choice(["China Mobile", "China Unicom"], n)).astype("str"),
            "request_id": requests,
            "msgid": pd.Series([f"m{r}" for r in requests]).astype("str"),
            "mobile": pd.Series([f"138{i:08d}" for i in rng.integers(0, n, n)]).astype("str"),
            "state": pd.Series(rng.choice(["accepted"] * 8 + ["rejected", "unknown"], n)).astype("str"),
            "sent_at": pd.Timestamp("2026-11-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 86400 * 10, n), unit="s"),
        }
    ).drop_duplicates(["msgid", "mobile"])
    picked = sends.sample(frac=1.3, replace=True, random_state=seed)
    reports = pd.DataFrame(
        {
            "msgid": picked["msgid"].to_numpy(),
            "mobile": picked["mobile"].to_numpy(),
            "status": rng.choice(["DELIVRD", "DELIVRD", "UNDELIV", "EXPIRED"], len(picked)),
            "report_time": picked["sent_at"].reset_index(drop=True)
            + pd.to_timedelta(rng.integers(-60, 3600, len(picked)), unit="s"),
        }
    )
    reports["msgid"] = reports["msgid"].astype("str")
    reports["mobile"] = reports["mobile"].astype("str")
    return sends, reports
