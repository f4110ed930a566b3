"""The Kaplan-Meier estimate behind :func:`smsdata.kpi.time_to_receipt`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def kaplan_meier(steps: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """Kaplan-Meier estimate from ``[*by, seconds, events, censored]`` sorted by ``seconds``.

    Censoring at a time counts after the events at that time (the usual
    convention). Returns the rows with events, with ``at_risk`` and
    ``delivered_share`` = 1 - S(t).
    """
    steps = steps.copy()
    keys = list(by)
    leaving = steps["events"] + steps["censored"]
    if keys:
        total = leaving.groupby([steps[k] for k in keys], sort=False, dropna=False).transform("sum")
        before = leaving.groupby([steps[k] for k in keys], sort=False, dropna=False).cumsum() - leaving
    else:
        total, before = leaving.sum(), leaving.cumsum() - leaving
    steps["at_risk"] = (total - before).astype("int64")
    factor = 1 - steps["events"] / steps["at_risk"]
    log_factor = np.log(factor.clip(lower=1e-300))
    survival = np.exp(
        log_factor.groupby([steps[k] for k in keys], sort=False, dropna=False).cumsum() if keys else log_factor.cumsum()
    )
    survival[factor <= 0] = 0.0
    # once S reaches 0 it stays there
    survival = (
        survival.groupby([steps[k] for k in keys], sort=False, dropna=False).cummin() if keys else survival.cummin()
    )
    steps["delivered_share"] = 1 - survival
    out = steps[steps["events"] > 0]
    return out[[*keys, "seconds", "at_risk", "events", "censored", "delivered_share"]].reset_index(drop=True)
