"""Realistic sends and reports for report and chart tests: campaigns sent in bursts over a span of days.

Each campaign goes out in a few minutes at a working hour; carriers differ in
delivery rate; latencies are log-normal (median ~20 s) with a long tail; a
few recipients have no report yet.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CARRIERS = {"China Mobile": 0.93, "China Unicom": 0.88, "China Telecom": 0.84}
FAILURES = ["UNDELIV", "EXPIRED", "REJECTD", "MK:0005", "UNKNOWN"]


def campaigns(
    count: int, *, days: int, per_campaign: int = 400, start: str = "2026-11-01 01:00", seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``count`` campaigns sent over ``days`` days (1: all on one day), their sends and reports.

    Sends have ``msgid, mobile, state, sent_at, campaign, carrier, segments, price, city``.
    """
    rng = np.random.default_rng(seed)
    n = count * per_campaign
    campaign = np.repeat(np.arange(count), per_campaign)
    # campaign k starts at a spread-out moment in the span, then takes ~3 minutes
    offsets = np.sort(rng.uniform(0, max(days, 1) * 86400 - 4 * 3600, count)) if count > 1 else np.zeros(1)
    sent_at = pd.Timestamp(start, tz="UTC") + pd.to_timedelta(offsets[campaign] + rng.uniform(0, 180, n), unit="s")
    carrier = rng.choice(list(CARRIERS), n, p=[0.6, 0.25, 0.15])
    request = campaign * 1000 + np.arange(n) % per_campaign // 100
    sends = pd.DataFrame(
        {
            "msgid": [f"m{r}" for r in request],
            "mobile": [f"138{i:08d}" for i in range(n)],
            "state": "accepted",
            "sent_at": sent_at,
            "campaign": [f"2026-11-campaign-{k + 1:02d}" for k in campaign],
            "carrier": carrier,
            "segments": 1,
            "price": 1.0,
            "city": rng.choice(["Beijing", "Shanghai", "Wuhan"], n),
            "request_id": request,
        }
    )
    delivered = rng.uniform(size=n) < np.vectorize(CARRIERS.get)(carrier)
    reported = delivered | (rng.uniform(size=n) < 0.9)
    latency = np.exp(rng.normal(np.log(20), 1.1, n))
    status = np.where(delivered, "DELIVRD", rng.choice(FAILURES, n, p=[0.4, 0.2, 0.15, 0.15, 0.1]))
    reports = pd.DataFrame(
        {
            "msgid": sends["msgid"],
            "mobile": sends["mobile"],
            "status": status,
            "report_time": sends["sent_at"] + pd.to_timedelta(latency, unit="s"),
        }
    )[reported].reset_index(drop=True)
    return sends, reports
