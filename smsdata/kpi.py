"""Delivery KPIs from what was sent (the ledger) and what came back (the reports).

Every function takes ``sends`` and ``reports`` as the DataFrames of
:func:`smsdata.read_sends` and :func:`smsdata.read_reports`, as warehouse
paths (``"warehouse"``, or ``"warehouse/sends"`` and ``"warehouse/reports"``:
computed out of core in DuckDB; :func:`smsdata.sync_sends` puts the sends
there) or as Spark DataFrames (computed in Spark), and returns a tidy pandas
DataFrame, the same table whatever the engine (:mod:`smsdata._engines`).
The definitions, exactly (DESIGN.md, "KPI definitions"):

* **sent**: recipients of ``accepted`` requests. A recipient is keyed by
  (msgid, mobile): one msgid covers every number of its request.
* **point in time**: every KPI describes the data as it stood at ``as_of``
  (default: now): sends after it and reports after it do not exist for it.
* **outcome** of a recipient, judged at ``as_of``: ``delivered`` if any of its
  reports is ``DELIVRD``; else ``failed`` if it has any report; else
  ``pending``, or ``no_report`` once it was sent ``expire_after`` (default
  72 h) or longer before.
* **windows**: with ``within`` (``"24h"``), each recipient is judged at
  ``sent_at + within`` instead, so campaigns of different ages compare
  ("delivered within 24 h"); a recipient whose window is still open at
  ``as_of`` is not judged: it is counted in ``open`` and left out of ``sent``.
* **delivery rate** = delivered / sent, with a Wilson 95% interval.
* **latency** of a delivered recipient: its first ``DELIVRD`` report_time
  minus sent_at, in seconds. Gateways stamp reports to the whole second, so a
  report up to 1 s before sent_at is not clock skew: its latency is 0. Earlier
  ones are left out of the statistics and counted as ``skewed``. Quantiles
  interpolate linearly.
* Reports that match no sent recipient are orphans: they never enter a rate
  (see :func:`audit`).

Grouping: ``by`` names columns of the sends (``"campaign"``, ``"carrier"``,
``["campaign", "segments"]``, any column you add...); ``freq`` (``"h"``,
``"D"``, ``"W"``, ``"M"``) buckets ``sent_at`` into hours, days, weeks (Monday
first) or months of the local time zone ``tz`` (default ``SMSDATA_TZ``), in a
tz-aware ``period`` column: one row per real local period, across daylight
saving changes too (the repeated autumn hour is two rows).

Timestamps may be of any resolution (s, ms, us, ns), tz-aware in any zone or
naive (read as UTC).

The joins and aggregations run in DuckDB (about 5 s for 10 million sends
and 10 million reports on 2 cores) or in Spark. The tests check
``delivery_rate``, ``latency`` and the Kaplan-Meier curve against a plain
pandas computation of the same definitions on random data, and every KPI
against hand-computed cases.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ._audit import AUDIT_CHECKS, audit
from ._checks import at_least
from ._engines import Source, quote_name
from ._kpi_options import (
    EXPIRE_AFTER,
    FREQ_NAMES,
    SKEW_TOLERANCE,
    By,
    Duration,
    Moment,
    localise_period,
    parse_by,
    parse_duration,
    parse_freq,
    parse_moment,
)
from ._kpi_sql import (
    dead_numbers_sql,
    group_keys,
    group_sql,
    kpi_tables,
    latency_sql,
    query_params,
    recipients_sql,
    sent_sql,
)
from ._stats import wilson_interval
from ._survival import kaplan_meier
from ._times import utc_us
from .errors import KpiError

__all__ = [
    "AUDIT_CHECKS",
    "EXPIRE_AFTER",
    "FREQ_NAMES",
    "audit",
    "compare",
    "dead_numbers",
    "delivery_rate",
    "latency",
    "status_breakdown",
    "time_to_receipt",
]

_RATE_COUNTS = ("sent", "delivered", "failed", "pending", "no_report", "open")
"""The counts of :func:`delivery_rate`'s query (out of core, added up over the passes)."""

PENDING = "(pending)"
"""The status of a recipient with no report yet (:func:`status_breakdown`)."""


# ------------------------------------------------------------------ KPIs


def delivery_rate(
    sends: Source,
    reports: Source,
    *,
    by: By = None,
    freq: str | None = None,
    within: Duration | None = None,
    as_of: Moment = None,
    expire_after: Duration = EXPIRE_AFTER,
    tz: str | None = None,
) -> pd.DataFrame:
    """Sent, delivered, failed, pending and no-report recipients and the delivery rate, per group.

    Args:
        sends, reports: DataFrames from :func:`smsdata.read_sends` / :func:`smsdata.read_reports`,
            warehouse paths, or Spark DataFrames (see the module docstring).
        by: columns of ``sends`` to group by.
        freq: ``"min"``, ``"5min"``, ``"15min"``, ``"30min"``, ``"h"``, ``"D"``, ``"W"`` or
            ``"M"``: also group by that local period of ``sent_at`` in zone ``tz``
            (column ``period``, tz-aware: the period's start).
        within: a duration (``"24h"``): judge each recipient at ``sent_at + within``
            (delivered only if its first ``DELIVRD`` came by then); recipients whose
            window is still open at ``as_of`` are counted in ``open``, not in ``sent``.
        as_of: the moment of the count (default: now; naive means UTC): sends and
            reports after it are ignored.
        expire_after: a recipient with no report this long after it was sent counts
            in ``no_report`` instead of ``pending``.
        tz: zone of the ``period`` buckets (default ``SMSDATA_TZ``).

    Returns:
        ``[*by, period?, sent, delivered, failed, pending, no_report, open?,
        delivery_rate, ci_low, ci_high]`` (``open`` with ``within``);
        ``delivered + failed + pending + no_report == sent`` on every row. Rates
        are fractions (0-1).

    Raises:
        KpiError: a column is missing, or ``freq``, ``within``, ``expire_after`` or ``tz`` is invalid.

    >>> delivery_rate(sends, reports, by="campaign", within="24h")  # doctest: +SKIP
    """
    group = parse_by(by)
    period, zone = parse_freq(freq, tz)
    window = parse_duration(within, "within")
    expiry = parse_duration(expire_after, "expire_after", required=True)
    prefix, clause = group_sql(group, period is not None)
    # still waiting for a report (pending) rather than given up on (no_report): sent less than
    # expire_after before it is judged; with a window, judged exactly `within` after its send
    waiting = "sent_at > $cutoff" if window is None else str(window < expiry).lower()
    moment = parse_moment(as_of)
    stage = recipients_sql(group, period, zone, window is not None)
    sql = f"""
        SELECT {prefix} count(*) FILTER (WHERE NOT open) AS sent,
               count(*) FILTER (WHERE NOT open AND delivered) AS delivered,
               count(*) FILTER (WHERE NOT open AND NOT coalesce(delivered, false) AND reported) AS failed,
               count(*) FILTER (WHERE NOT open AND NOT reported AND {waiting}) AS pending,
               count(*) FILTER (WHERE NOT open AND NOT reported AND NOT {waiting}) AS no_report,
               count(*) FILTER (WHERE open) AS open
        FROM recipients {clause}
    """
    params = query_params(moment, window, cutoff=(moment - expiry).to_pydatetime())
    with kpi_tables(sends, reports, group) as opened:
        frame = opened.query_over("recipients", stage, sql, params, summed=_RATE_COUNTS)
    frame = localise_period(frame, period, zone)
    counts = list(_RATE_COUNTS)
    frame[counts] = frame[counts].astype("int64")
    if window is None:
        frame = frame.drop(columns="open")
    frame["delivery_rate"] = frame["delivered"] / frame["sent"].where(frame["sent"] > 0)
    frame["ci_low"], frame["ci_high"] = wilson_interval(frame["delivered"], frame["sent"])
    return frame


def latency(
    sends: Source,
    reports: Source,
    *,
    by: By = None,
    freq: str | None = None,
    within: Duration | None = None,
    as_of: Moment = None,
    tz: str | None = None,
) -> pd.DataFrame:
    """Time from sending to the first ``DELIVRD`` report, per group, in seconds.

    Over recipients delivered by ``as_of`` (with ``within``: delivered within that
    time of their send, windows closed by ``as_of``). A report up to 1 s before
    its send is a whole-second stamp: latency 0. Earlier ones (clock skew) are
    left out and counted in ``skewed``. Quantiles interpolate linearly (as
    pandas' default). ``freq`` and ``tz`` group by send period as in
    :func:`delivery_rate`.

    Returns:
        ``[*by, period?, count, p50, p90, p99, mean, skewed]``; statistics are NaN
        for a group with nothing delivered.

    Raises:
        KpiError: a column is missing, or ``freq``, ``within`` or ``tz`` is invalid.

    >>> latency(sends, reports, by="carrier")  # doctest: +SKIP
    """
    group = parse_by(by)
    period, zone = parse_freq(freq, tz)
    window = parse_duration(within, "within")
    prefix, clause = group_sql(group, period is not None)
    stage = recipients_sql(group, period, zone, window is not None, failures=False)
    sql, counted = latency_sql(prefix, clause, group_keys(group, period is not None))
    params = query_params(parse_moment(as_of), window, tolerance=SKEW_TOLERANCE.to_pytimedelta())
    with kpi_tables(sends, reports, group) as opened:
        found = opened.query_over("recipients", stage, sql, params, sql_in_passes=counted)
        frame = localise_period(found, period, zone)
    if "q" in frame:  # quantile_cont's list per group (the counted quantiles of passes come as columns)
        quantiles = frame.pop("q")
        for i, name in enumerate(("p50", "p90", "p99")):
            frame[name] = [q[i] if isinstance(q, list | np.ndarray) else np.nan for q in quantiles]
    frame[["count", "skewed"]] = frame[["count", "skewed"]].fillna(0).astype("int64")
    periods = ["period"] if period is not None else []
    return frame[[*group, *periods, "count", "p50", "p90", "p99", "mean", "skewed"]]


def time_to_receipt(sends: Source, reports: Source, *, by: By = None, as_of: Moment = None) -> pd.DataFrame:
    """Kaplan-Meier curve of the time to a ``DELIVRD`` report, per group, as it stood at ``as_of``.

    A recipient delivered by ``as_of`` is an event at its latency (a report
    before its send counts as 0 s). Every other recipient sent by ``as_of``
    (pending, or failed: it may still be delivered, as carriers retry) is
    censored at ``as_of - sent_at``, so a campaign still in progress is not
    biased fast; deliveries after ``as_of`` do not exist for it.

    Returns:
        ``[*by, seconds, at_risk, events, censored, delivered_share]``, one
        row per distinct event time; ``delivered_share`` (0-1) is
        1 - S(t), the share delivered by ``seconds``.

    Raises:
        KpiError: a column is missing.

    >>> time_to_receipt(sends, reports, by="campaign", as_of="2026-11-26")  # doctest: +SKIP
    """
    group = parse_by(by)
    prefix, _ = group_sql(group)
    keys = ", ".join([*(quote_name(c) for c in group), "seconds"])
    stage = recipients_sql(group, failures=False)
    sql = f"""
        WITH durations AS (
            SELECT {prefix}
                   greatest(epoch_us(CASE WHEN delivered THEN first_delivered ELSE $as_of END)
                            - epoch_us(sent_at), 0) / 1e6 AS seconds,
                   coalesce(delivered, false) AS delivered
            FROM recipients
        )
        SELECT {prefix} seconds,
               count(*) FILTER (WHERE delivered) AS events,
               count(*) FILTER (WHERE NOT delivered) AS censored
        FROM durations GROUP BY {keys} ORDER BY {keys}
    """
    with kpi_tables(sends, reports, group) as opened:
        steps = opened.query_over("recipients", stage, sql, query_params(parse_moment(as_of), None))
    return kaplan_meier(steps, group)


def status_breakdown(
    sends: Source,
    reports: Source,
    *,
    by: By = None,
    within: Duration | None = None,
    as_of: Moment = None,
) -> pd.DataFrame:
    """Final status of every sent recipient, per group, carriers' codes kept, as it stood at ``as_of``.

    A recipient's final status is ``DELIVRD`` if any report by the time it is
    judged (``as_of``, or ``sent_at + within``) says so, else the status of its
    latest report by then (ties: the greatest code), else ``(pending)``.
    With ``within``, recipients whose window is still open are left out.

    Returns:
        ``[*by, status, count, share]``, share of the group's judged recipients
        (0-1), most frequent first.

    Raises:
        KpiError: a column is missing, or ``within`` is invalid.

    >>> status_breakdown(sends, reports, by="carrier")  # doctest: +SKIP
    """
    group = parse_by(by)
    window = parse_duration(within, "within")
    prefix, _ = group_sql(group)
    keys = ", ".join([*(quote_name(c) for c in group), "status"])
    outer = "".join(f"s.{quote_name(c)}, " for c in group)
    # each recipient's final status: a stage of one row per recipient, worked out in passes out of core
    statuses = f"""
        WITH judged AS {sent_sql(group, window is not None)}
        SELECT {outer}
               CASE WHEN bool_or(r.status = 'DELIVRD') THEN 'DELIVRD'
                    ELSE coalesce(arg_max(r.status, (r.report_time, r.status)), '{PENDING}') END AS status
        FROM judged AS s
        LEFT JOIN reports AS r ON s.msgid = r.msgid AND s.mobile = r.mobile AND r.report_time <= s.judged_at
        WHERE s.judged_at <= $as_of
        GROUP BY {outer} s.msgid, s.mobile
    """
    sql = f"SELECT {prefix} status, count(*) AS count FROM statuses GROUP BY {keys}"
    with kpi_tables(sends, reports, group) as opened:
        frame = opened.query_over(
            "statuses", statuses, sql, query_params(parse_moment(as_of), window), summed=["count"]
        )
    frame["count"] = frame["count"].astype("int64")
    totals = frame.groupby(group, dropna=False)["count"].transform("sum") if group else frame["count"].sum()
    frame["share"] = frame["count"] / totals
    order = [*group, "count", "status"]
    ascending = [True] * len(group) + [False, True]
    return frame.sort_values(order, ascending=ascending, ignore_index=True)[[*group, "status", "count", "share"]]


def compare(
    sends: Source,
    reports: Source,
    *,
    by: By,
    baseline: Any = None,
    within: Duration | None = None,
    as_of: Moment = None,
) -> pd.DataFrame:
    """Delivery rate of each group against a baseline group.

    Args:
        by: the grouping column(s).
        baseline: the baseline group's value (a tuple for several columns);
            default the group with the most sent.
        within, as_of: as in :func:`delivery_rate` (``within="24h"`` compares
            campaigns of different ages fairly).

    Returns:
        ``[*by, sent, delivered, delivery_rate, diff, diff_low, diff_high,
        p_value]``: ``diff`` = rate - baseline rate, its 95% interval
        (Newcombe's method from the two Wilson intervals) and the two-sided
        p-value of the pooled two-proportion z-test. The baseline's own row
        has diff 0 and p-value 1.

    Raises:
        KpiError: ``by`` is missing, or no group equals ``baseline``.

    >>> compare(sends, reports, by="campaign", baseline="oct-promo")  # doctest: +SKIP
    """
    group = parse_by(by)
    if not group:
        raise KpiError("compare needs by= (the groups to compare)")
    rates = delivery_rate(sends, reports, by=group, within=within, as_of=as_of)
    if rates.empty:
        columns = [*group, "sent", "delivered", "delivery_rate", "diff", "diff_low", "diff_high", "p_value"]
        return rates.reindex(columns=columns)
    keys = list(rates[group].itertuples(index=False, name=None))
    if baseline is None:
        base = int(rates["sent"].idxmax())
    else:
        wanted = baseline if isinstance(baseline, tuple) else (baseline,)
        matches = [i for i, key in enumerate(keys) if key == wanted]
        if not matches:
            raise KpiError(f"baseline={baseline!r} names no group: the groups are {', '.join(map(str, keys))}")
        base = matches[0]
    p1, n1, k1 = rates["delivery_rate"], rates["sent"], rates["delivered"]
    p2, n2, k2 = p1.iloc[base], n1.iloc[base], k1.iloc[base]
    l1, u1 = rates["ci_low"], rates["ci_high"]
    l2, u2 = l1.iloc[base], u1.iloc[base]
    out = rates[[*group, "sent", "delivered", "delivery_rate"]].copy()
    out["diff"] = p1 - p2
    out["diff_low"] = out["diff"] - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    out["diff_high"] = out["diff"] + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    pooled = (k1 + k2) / (n1 + n2)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.abs(out["diff"]) / se
    out["p_value"] = [math.erfc(v / math.sqrt(2)) if np.isfinite(v) else 1.0 for v in z]
    out.loc[out["diff"].isna(), "p_value"] = np.nan  # a group with nothing judged has no difference
    return out


def dead_numbers(
    sends: Source,
    reports: Source,
    *,
    min_failures: int = 3,
    min_campaigns: int = 2,
    as_of: Moment = None,
) -> pd.DataFrame:
    """Numbers that failed every time: at least ``min_failures`` times over at least ``min_campaigns`` campaigns.

    A number qualifies when none of its sent messages was delivered (by
    ``as_of``) and at least ``min_failures`` of them failed (got a report that
    is not ``DELIVRD``), in at least ``min_campaigns`` different campaigns;
    pending ones do not count either way. The defaults keep one bad day (a
    phone switched off: ``UNKNOWN``, ``EXPIRED``) from costing a customer.

    Returns:
        ``[mobile, failures, campaigns, last_status, last_report_time]``, most
        failures first; pass ``dead["mobile"]`` to ``plan_campaign(suppress=...)``.

    Raises:
        KpiError: a column is missing.

    >>> dead = dead_numbers(sends, reports)  # doctest: +SKIP
    >>> plan_campaign(customers, mobile="phone", content="...", suppress=dead["mobile"])  # doctest: +SKIP
    """
    at_least(min_failures, "min_failures", error=KpiError)
    at_least(min_campaigns, "min_campaigns", error=KpiError)
    params = query_params(parse_moment(as_of), None, failures=min_failures, campaigns=min_campaigns)
    with kpi_tables(sends, reports, [], optional=["campaign"]) as opened:
        stage, sql = dead_numbers_sql("campaign" in opened.columns("sends"))
        # out of core the numbers are regrouped: a GROUP BY of 100M numbers as text does not spill
        frame = opened.query_over("per_recipient", stage, sql, params, regroup_by="mobile")
    frame[["failures", "campaigns"]] = frame[["failures", "campaigns"]].astype("int64")
    frame["last_report_time"] = utc_us(frame["last_report_time"], "last_report_time")
    # most failures first, as the SQL orders it (regrouped shares come back one after another)
    return frame.sort_values(["failures", "mobile"], ascending=[False, True], ignore_index=True)
