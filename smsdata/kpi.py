"""Delivery KPIs from what was sent (the ledger) and what came back (the reports).

Every function takes the DataFrames of :func:`smsdata.read_sends` and
:func:`smsdata.read_reports` and returns a tidy DataFrame. The definitions,
exactly (DESIGN.md, "KPI definitions"):

* **sent**: recipients of ``accepted`` requests. A recipient is keyed by
  (msgid, mobile): one msgid covers every number of its request.
* **outcome** of a recipient: ``delivered`` if any of its reports is
  ``DELIVRD``; else ``failed`` if it has any report; else ``pending``. With
  ``expire_after``, a pending recipient sent longer than that before
  ``as_of`` is ``expired`` instead.
* **delivery rate** = delivered / sent, with a Wilson 95% interval.
* **latency** of a delivered recipient: its first ``DELIVRD`` report_time
  minus sent_at, in seconds. Negative latencies (clock skew) are left out of
  the statistics and counted as ``skewed``. Quantiles interpolate linearly.
* Reports that match no sent recipient are orphans: they never enter a rate
  (see :func:`audit`).

Grouping: ``by`` names columns of the sends (``"campaign"``, ``"carrier"``,
``["campaign", "segments"]``...); ``freq`` (``"h"``, ``"D"``, ``"W"``) buckets
``sent_at`` into hours, days or weeks (Monday first) of the local time zone
``tz`` (default ``SMSDATA_TZ``), in a ``period`` column.

The joins and aggregations run in DuckDB over Arrow (about 5 s for 10
million sends and 10 million reports on 2 cores). The tests check
``delivery_rate``, ``latency`` and the Kaplan-Meier curve against a plain
pandas computation of the same definitions on random data, and every KPI
against hand-computed cases.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import pyarrow as pa

from .config import load_settings
from .errors import SmsdataError
from .ingest import _utc

__all__ = [
    "KpiError",
    "audit",
    "compare",
    "dead_numbers",
    "delivery_rate",
    "latency",
    "status_breakdown",
    "time_to_receipt",
    "wilson_interval",
]

Z95 = 1.959963984540054
PENDING = "(pending)"
FREQ_NAMES = {"h": "hour", "D": "day", "W": "week"}
_SENDS_NEED = ("msgid", "mobile", "state", "sent_at")
_REPORTS_NEED = ("msgid", "mobile", "status", "report_time")

By = str | Sequence[str] | None
Moment = str | pd.Timestamp | None


class KpiError(SmsdataError, ValueError):
    """The inputs cannot give the KPI asked for (missing columns, unknown ``freq``)."""


# ------------------------------------------------------------------ helpers


def wilson_interval(successes: Any, trials: Any, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion (arrays welcome); NaN where ``trials`` is 0.

    >>> wilson_interval(8, 10)
    (array(0.49015...), array(0.94330...))
    """
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        denominator = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denominator
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denominator
    # exact at the ends (0 and 1 are inside), where rounding would leave them out by 1e-16
    low = np.where(k == 0, 0.0, np.clip(centre - half, 0.0, 1.0))
    high = np.where(k == n, 1.0, np.clip(centre + half, 0.0, 1.0))
    nan = n == 0
    return np.where(nan, np.nan, low), np.where(nan, np.nan, high)


def _columns(by: By) -> list[str]:
    if by is None:
        return []
    return [by] if isinstance(by, str) else list(by)


def _require(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise KpiError(f"{name} has no column {', '.join(map(repr, missing))} (it has {', '.join(frame.columns)})")


def _moment(value: Moment) -> pd.Timestamp:
    """``as_of`` in UTC (naive means UTC); now when ``None``."""
    return pd.Timestamp.now(tz="UTC") if value is None else _utc(value)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _arrow(frame: pd.DataFrame, columns: Sequence[str]) -> pa.Table:
    table = pa.Table.from_pandas(frame[list(dict.fromkeys(columns))], preserve_index=False)
    return table.replace_schema_metadata(None)


@contextmanager
def _duckdb(sends: pd.DataFrame, reports: pd.DataFrame, by: Sequence[str], extra: Sequence[str] = ()) -> Iterator[Any]:
    """A DuckDB connection with ``sends`` and ``reports`` registered (only the columns used)."""
    from ._duck import connect

    _require(sends, [*_SENDS_NEED, *by, *extra], "sends")
    _require(reports, _REPORTS_NEED, "reports")
    con = connect()
    try:
        con.register("sends", _arrow(sends, [*_SENDS_NEED, *by, *extra]))
        con.register("reports", _arrow(reports, _REPORTS_NEED))
        yield con
    finally:
        con.close()


def _result(con: Any, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
    return con.sql(sql, params=list(params) or None).to_arrow_table().to_pandas()  # text comes back as str


_RECIPIENTS = """
    recipients AS (
        SELECT {by_select} s.sent_at, r.delivered_at, coalesce(r.reports, 0) AS reports
        FROM sends AS s
        LEFT JOIN (
            SELECT msgid, mobile, count(*) AS reports,
                   min(report_time) FILTER (WHERE status = 'DELIVRD') AS delivered_at
            FROM reports GROUP BY msgid, mobile
        ) AS r ON s.msgid = r.msgid AND s.mobile = r.mobile
        WHERE s.state = 'accepted'
    )
"""


def _recipients_cte(by: Sequence[str], period: str | None = None, tz: str = "UTC") -> str:
    select = "".join(f"s.{_quote(c)}, " for c in by)
    if period is not None:
        select += f"date_trunc('{period}', timezone('{tz}', s.sent_at)) AS period, "
    return "WITH " + _RECIPIENTS.format(by_select=select)


def _group(by: Sequence[str], period: bool = False) -> tuple[str, str]:
    """SELECT list prefix and GROUP/ORDER BY clause for the grouping columns."""
    names = [_quote(c) for c in by] + (["period"] if period else [])
    if not names:
        return "", ""
    listed = ", ".join(names)
    return listed + ", ", f"GROUP BY {listed} ORDER BY {listed}"


def _localise_period(frame: pd.DataFrame, tz: str) -> pd.DataFrame:
    if "period" in frame.columns:
        frame["period"] = pd.to_datetime(frame["period"]).dt.tz_localize(tz)
    return frame


# ------------------------------------------------------------------ KPIs


def delivery_rate(
    sends: pd.DataFrame,
    reports: pd.DataFrame,
    by: By = None,
    freq: str | None = None,
    expire_after: str | pd.Timedelta | None = None,
    as_of: Moment = None,
    tz: str | None = None,
) -> pd.DataFrame:
    """Sent, delivered, failed and pending recipients and the delivery rate, per group.

    Args:
        sends, reports: from :func:`smsdata.read_sends` / :func:`smsdata.read_reports`.
        by: columns of ``sends`` to group by.
        freq: ``"h"``, ``"D"`` or ``"W"``: also group by that bucket of
            ``sent_at`` in zone ``tz`` (column ``period``, tz-aware).
        expire_after: a duration (``"72h"``): pending recipients sent longer
            than that before ``as_of`` are counted in ``expired`` instead.
        as_of: the moment of the count (default: now); naive means UTC.
        tz: zone of the ``period`` buckets (default ``SMSDATA_TZ``).

    Returns:
        ``[*by, period?, sent, delivered, failed, pending, expired?,
        delivery_rate, ci_low, ci_high]``; ``delivered + failed + pending
        (+ expired) == sent`` on every row. Rates are fractions (0-1).

    Raises:
        KpiError: a column is missing or ``freq`` is unknown.

    >>> delivery_rate(sends, reports, by="campaign", expire_after="72h")  # doctest: +SKIP
    """
    group = _columns(by)
    tz = _zone(tz)
    period = _period(freq)
    expiry = ""
    params: list[Any] = []
    if expire_after is not None:
        cutoff = _moment(as_of) - pd.Timedelta(expire_after)
        expiry = ", count(*) FILTER (WHERE delivered_at IS NULL AND reports = 0 AND sent_at < ?) AS expired"
        params = [cutoff, cutoff]
    pending_filter = "delivered_at IS NULL AND reports = 0" + (" AND NOT sent_at < ?" if expiry else "")
    prefix, clause = _group(group, period is not None)
    sql = (
        _recipients_cte(group, period, tz)
        + f"""
        SELECT {prefix} count(*) AS sent,
               count(delivered_at) AS delivered,
               count(*) FILTER (WHERE delivered_at IS NULL AND reports > 0) AS failed,
               count(*) FILTER (WHERE {pending_filter}) AS pending
               {expiry}
        FROM recipients {clause}
        """
    )
    with _duckdb(sends, reports, group) as con:
        frame = _result(con, sql, params)
    frame = _localise_period(frame, tz)
    counts = ["sent", "delivered", "failed", "pending", *(["expired"] if expiry else [])]
    frame[counts] = frame[counts].astype("int64")
    frame["delivery_rate"] = frame["delivered"] / frame["sent"].where(frame["sent"] > 0)
    frame["ci_low"], frame["ci_high"] = wilson_interval(frame["delivered"], frame["sent"])
    return frame


def _zone(tz: str | None) -> str:
    name = tz or load_settings().tz
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise KpiError(f"tz={name!r} is not a known time zone") from exc
    return name


def _period(freq: str | None) -> str | None:
    if freq is None:
        return None
    if freq not in FREQ_NAMES:
        raise KpiError(f"freq must be one of 'h', 'D', 'W', got {freq!r}")
    return FREQ_NAMES[freq]


def latency(sends: pd.DataFrame, reports: pd.DataFrame, by: By = None) -> pd.DataFrame:
    """Time from sending to the first ``DELIVRD`` report, per group, in seconds.

    Over delivered recipients only; negative latencies (report_time before
    sent_at: clock skew) are left out and counted in ``skewed``.
    Quantiles interpolate linearly (as pandas' default).

    Returns:
        ``[*by, count, p50, p90, p99, mean, skewed]``; statistics are NaN
        for a group with nothing delivered.

    Raises:
        KpiError: a column is missing.

    >>> latency(sends, reports, by="carrier")  # doctest: +SKIP
    """
    group = _columns(by)
    prefix, clause = _group(group)
    sql = (
        _recipients_cte(group)
        + f""",
        latencies AS (
            SELECT {prefix} (epoch_us(delivered_at) - epoch_us(sent_at)) / 1e6 AS seconds FROM recipients
        )
        SELECT {prefix}
               count(seconds) FILTER (WHERE seconds >= 0) AS count,
               quantile_cont(seconds, [0.5, 0.9, 0.99]) FILTER (WHERE seconds >= 0) AS q,
               avg(seconds) FILTER (WHERE seconds >= 0) AS mean,
               count(seconds) FILTER (WHERE seconds < 0) AS skewed
        FROM latencies {clause}
        """
    )
    with _duckdb(sends, reports, group) as con:
        frame = _result(con, sql)
    quantiles = frame.pop("q")
    for i, name in enumerate(("p50", "p90", "p99")):
        frame[name] = [q[i] if q is not None else np.nan for q in quantiles]
    frame[["count", "skewed"]] = frame[["count", "skewed"]].astype("int64")
    return frame[[*group, "count", "p50", "p90", "p99", "mean", "skewed"]]


def time_to_receipt(sends: pd.DataFrame, reports: pd.DataFrame, by: By = None, as_of: Moment = None) -> pd.DataFrame:
    """Kaplan-Meier curve of the time to a ``DELIVRD`` report, per group.

    A delivered recipient is an event at its latency (clock skew counts as
    0 s). Every other recipient (pending, or failed: it may still be
    delivered, as carriers retry) is censored at ``as_of - sent_at``, so a
    campaign still in progress is not biased fast.

    Returns:
        ``[*by, seconds, at_risk, events, censored, delivered_share]``, one
        row per distinct event time; ``delivered_share`` (0-1) is
        1 - S(t), the share delivered by ``seconds``.

    Raises:
        KpiError: a column is missing.

    >>> time_to_receipt(sends, reports, by="campaign", as_of="2026-11-26")  # doctest: +SKIP
    """
    group = _columns(by)
    prefix, _ = _group(group)
    keys = ", ".join([*(_quote(c) for c in group), "seconds"])
    sql = (
        _recipients_cte(group)
        + f""",
        durations AS (
            SELECT {prefix}
                   CASE WHEN delivered_at IS NOT NULL
                        THEN greatest(epoch_us(delivered_at) - epoch_us(sent_at), 0)
                        ELSE greatest(epoch_us(?::TIMESTAMPTZ) - epoch_us(sent_at), 0) END / 1e6 AS seconds,
                   delivered_at IS NOT NULL AS delivered
            FROM recipients
        )
        SELECT {prefix} seconds,
               count(*) FILTER (WHERE delivered) AS events,
               count(*) FILTER (WHERE NOT delivered) AS censored
        FROM durations GROUP BY {keys} ORDER BY {keys}
        """
    )
    with _duckdb(sends, reports, group) as con:
        steps = _result(con, sql, [_moment(as_of)])
    return kaplan_meier(steps, group)


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
        log_factor.groupby([steps[k] for k in keys], sort=False).cumsum() if keys else log_factor.cumsum()
    )
    survival[factor <= 0] = 0.0
    # once S reaches 0 it stays there
    survival = survival.groupby([steps[k] for k in keys], sort=False).cummin() if keys else survival.cummin()
    steps["delivered_share"] = 1 - survival
    out = steps[steps["events"] > 0]
    return out[[*keys, "seconds", "at_risk", "events", "censored", "delivered_share"]].reset_index(drop=True)


def status_breakdown(sends: pd.DataFrame, reports: pd.DataFrame, by: By = None) -> pd.DataFrame:
    """Final status of every sent recipient, per group, carriers' codes kept.

    A recipient's final status is ``DELIVRD`` if any report says so, else the
    status of its latest report (ties: the greatest code), else
    ``(pending)``.

    Returns:
        ``[*by, status, count, share]``, share of the group's sent (0-1),
        most frequent first.

    Raises:
        KpiError: a column is missing.

    >>> status_breakdown(sends, reports, by="carrier")  # doctest: +SKIP
    """
    group = _columns(by)
    prefix, _ = _group(group)
    keys = ", ".join([*(_quote(c) for c in group), "status"])
    sql = f"""
        WITH latest AS (
            SELECT msgid, mobile,
                   bool_or(status = 'DELIVRD') AS delivered,
                   last(status ORDER BY report_time, status) AS status
            FROM reports GROUP BY msgid, mobile
        ),
        final AS (
            SELECT {"".join(f"s.{_quote(c)}, " for c in group)}
                   CASE WHEN l.delivered THEN 'DELIVRD' ELSE coalesce(l.status, '{PENDING}') END AS status
            FROM sends AS s LEFT JOIN latest AS l ON s.msgid = l.msgid AND s.mobile = l.mobile
            WHERE s.state = 'accepted'
        )
        SELECT {prefix} status, count(*) AS count FROM final GROUP BY {keys}
    """
    with _duckdb(sends, reports, group) as con:
        frame = _result(con, sql)
    frame["count"] = frame["count"].astype("int64")
    totals = frame.groupby(group)["count"].transform("sum") if group else frame["count"].sum()
    frame["share"] = frame["count"] / totals
    order = [*group, "count", "status"]
    ascending = [True] * len(group) + [False, True]
    return frame.sort_values(order, ascending=ascending, ignore_index=True)[[*group, "status", "count", "share"]]


def compare(sends: pd.DataFrame, reports: pd.DataFrame, by: By, baseline: Any = None) -> pd.DataFrame:
    """Delivery rate of each group against a baseline group.

    Args:
        by: the grouping column(s).
        baseline: the baseline group's value (a tuple for several columns);
            default the group with the most sent.

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
    group = _columns(by)
    if not group:
        raise KpiError("compare needs by= (the groups to compare)")
    rates = delivery_rate(sends, reports, by=group)
    keys = list(rates[group].itertuples(index=False, name=None))
    if baseline is None:
        base = int(rates["sent"].idxmax())
    else:
        wanted = baseline if isinstance(baseline, tuple) else (baseline,)
        matches = [i for i, key in enumerate(keys) if key == wanted]
        if not matches:
            raise KpiError(f"no group {baseline!r} in {', '.join(map(str, keys))}")
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
    return out


def dead_numbers(sends: pd.DataFrame, reports: pd.DataFrame, min_failures: int = 3) -> pd.DataFrame:
    """Numbers that failed every time, at least ``min_failures`` times.

    A number qualifies when none of its sent messages was delivered and at
    least ``min_failures`` of them failed (got a report that is not
    ``DELIVRD``); pending ones do not count either way.

    Returns:
        ``[mobile, failures, last_status, last_report_time]``, most failures
        first; pass ``dead["mobile"]`` to ``plan_campaign(suppress=...)``.

    Raises:
        KpiError: a column is missing.

    >>> dead = dead_numbers(sends, reports)  # doctest: +SKIP
    >>> plan_campaign(customers, mobile="phone", content="...", suppress=dead["mobile"])  # doctest: +SKIP
    """
    sql = """
        WITH per_recipient AS (
            SELECT s.mobile, bool_or(r.status = 'DELIVRD') AS delivered, count(r.status) AS reports,
                   last(r.status ORDER BY r.report_time, r.status) AS status, max(r.report_time) AS last_at
            FROM sends AS s JOIN reports AS r ON s.msgid = r.msgid AND s.mobile = r.mobile
            WHERE s.state = 'accepted'
            GROUP BY s.msgid, s.mobile
        )
        SELECT mobile, count(*) AS failures, last(status ORDER BY last_at, status) AS last_status,
               max(last_at) AS last_report_time
        FROM per_recipient GROUP BY mobile
        HAVING NOT bool_or(delivered) AND count(*) >= ?
        ORDER BY failures DESC, mobile
    """
    with _duckdb(sends, reports, []) as con:
        frame = _result(con, sql, [min_failures])
    frame["failures"] = frame["failures"].astype("int64")
    return frame


AUDIT_CHECKS = {
    "orphan_reports": "reports whose msgid was never sent",
    "wrong_number": "reports for a number that was not in that msgid's request",
    "repeated_reports": "recipients with more than one report (different status or time)",
    "clock_skew": "reports timed before their message was sent",
    "delivered_after_failure": "recipients with DELIVRD after a failure report",
    "no_report_after_expiry": "recipients sent longer than expire_after ago with no report",
    "unknown_requests_with_reports": "requests in state unknown with reports for their numbers after they went out"
    " (evidence they were sent)",
}


def audit(
    sends: pd.DataFrame,
    reports: pd.DataFrame,
    expire_after: str | pd.Timedelta = "72h",
    as_of: Moment = None,
    examples: int = 3,
) -> pd.DataFrame:
    """Problems in the receipt stream, one row per check, with counts and examples.

    Checks (``check`` column): ``orphan_reports``, ``wrong_number``,
    ``repeated_reports``, ``clock_skew``, ``delivered_after_failure``,
    ``no_report_after_expiry``, ``unknown_requests_with_reports`` (an
    ``unknown`` request's numbers got reports with msgids never recorded,
    after it went out: it was sent; do not resend it).

    Returns:
        ``[check, count, what, examples]``; ``examples`` is a short text of
        up to ``examples`` cases.

    Raises:
        KpiError: a column is missing.

    >>> audit(sends, reports).query("count > 0")  # doctest: +SKIP
    """
    cutoff = _moment(as_of) - pd.Timedelta(expire_after)
    queries = {
        "orphan_reports": (
            "SELECT r.msgid, r.mobile, r.status FROM reports r "
            "WHERE NOT EXISTS (SELECT 1 FROM sends s WHERE s.msgid = r.msgid)"
        ),
        "wrong_number": (
            "SELECT r.msgid, r.mobile, r.status FROM reports r "
            "WHERE EXISTS (SELECT 1 FROM sends s WHERE s.msgid = r.msgid) "
            "AND NOT EXISTS (SELECT 1 FROM sends s WHERE s.msgid = r.msgid AND s.mobile = r.mobile)"
        ),
        "repeated_reports": (
            "SELECT msgid, mobile, count(*) AS reports FROM reports GROUP BY msgid, mobile HAVING count(*) > 1"
        ),
        "clock_skew": (
            "SELECT r.msgid, r.mobile, r.report_time, s.sent_at FROM reports r "
            "JOIN sends s ON s.msgid = r.msgid AND s.mobile = r.mobile WHERE r.report_time < s.sent_at"
        ),
        "delivered_after_failure": (
            "SELECT msgid, mobile FROM reports GROUP BY msgid, mobile "
            "HAVING max(report_time) FILTER (WHERE status = 'DELIVRD') "
            "> min(report_time) FILTER (WHERE status <> 'DELIVRD')"
        ),
        "no_report_after_expiry": (
            "SELECT s.msgid, s.mobile, s.sent_at FROM sends s WHERE s.state = 'accepted' AND s.sent_at < ? "
            "AND NOT EXISTS (SELECT 1 FROM reports r WHERE r.msgid = s.msgid AND r.mobile = s.mobile)"
        ),
        "unknown_requests_with_reports": (
            "SELECT s.request_id, count(DISTINCT r.mobile) AS numbers_with_reports FROM sends s "
            "JOIN reports r ON r.mobile = s.mobile AND r.report_time >= s.sent_at "
            "WHERE s.state = 'unknown' "
            "AND NOT EXISTS (SELECT 1 FROM sends k WHERE k.msgid = r.msgid) GROUP BY s.request_id"
        ),
    }
    rows = []
    with _duckdb(sends, reports, [], extra=["request_id"]) as con:
        for check, sql in queries.items():
            params = [cutoff] if "?" in sql else []
            count = con.execute(f"SELECT count(*) FROM ({sql})", params).fetchone()[0]
            sample = con.execute(f"SELECT * FROM ({sql}) ORDER BY ALL LIMIT {int(examples)}", params)
            names = [d[0] for d in sample.description]
            cases = (", ".join(f"{n}={v}" for n, v in zip(names, row, strict=True)) for row in sample.fetchall())
            text = "; ".join(cases)
            rows.append({"check": check, "count": int(count), "what": AUDIT_CHECKS[check], "examples": text})
    frame = pd.DataFrame(rows)
    for name in ("check", "what", "examples"):
        frame[name] = frame[name].astype("str")
    return frame
