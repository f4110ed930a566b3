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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from ._engines import Source, Tables, quote_name, tables
from ._times import utc, utc_us
from .config import default_tz
from .errors import KpiError

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
EXPIRE_AFTER = "72h"
"""The default ``expire_after`` of every KPI, chart and the report."""
SKEW_TOLERANCE = pd.Timedelta(seconds=1)
"""A report up to this long before its send is a whole-second stamp, not clock skew."""
FREQ_NAMES = {
    "min": "minute",
    "5min": "5 minutes",
    "15min": "15 minutes",
    "30min": "30 minutes",
    "h": "hour",
    "D": "day",
    "W": "week",
    "M": "month",
}
"""The ``freq`` values of :func:`delivery_rate` and the words for their periods."""
_CLOCK_MINUTES = {"minute": 1, "5 minutes": 5, "15 minutes": 15, "30 minutes": 30, "hour": 60}
_SENDS_NEED = ("msgid", "mobile", "state", "sent_at")
_REPORTS_NEED = ("msgid", "mobile", "status", "report_time")

By = str | Sequence[str] | None
Moment = str | pd.Timestamp | None
Duration = str | pd.Timedelta


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


# Names the KPIs' own columns and working columns use: a by= column may not take them.
_RESERVED = frozenset(
    [
        "sent",
        "delivered",
        "failed",
        "pending",
        "no_report",
        "open",
        "delivery_rate",
        "ci_low",
        "ci_high",
        "period",
        "status",
        "count",
        "share",
        "seconds",
        "at_risk",
        "events",
        "censored",
        "delivered_share",
        "p50",
        "p90",
        "p99",
        "mean",
        "skewed",
        "judged_at",
        "first_report",
        "first_delivered",
        "reported",
        "recipient",
        "q",
        "diff",
        "diff_low",
        "diff_high",
        "p_value",
    ]
)


def _columns(by: By) -> list[str]:
    if by is None:
        return []
    columns = [by] if isinstance(by, str) else list(by)
    clashing = [c for c in columns if c in _RESERVED]
    if clashing:
        raise KpiError(f"by= column(s) {clashing} clash with the KPIs' own columns; rename them first")
    return columns


def _moment(value: Moment) -> pd.Timestamp:
    """``as_of`` in UTC (naive means UTC); now when ``None``. Floored to the microsecond, the
    stored times' unit, so nothing is compared at a precision the data do not have."""
    if value is None:
        return pd.Timestamp.now(tz="UTC").floor("us")
    try:
        moment = utc(value)
    except (TypeError, ValueError) as exc:
        raise KpiError(f"as_of={value!r} is not a time (write it like '2026-11-23 09:00', UTC)") from exc
    if moment is None or pd.isna(moment):
        raise KpiError(f"as_of={value!r} is not a time")
    return moment.floor("us")


@contextmanager
def _tables(
    sends: Source, reports: Source, by: Sequence[str], extra: Sequence[str] = (), optional: Sequence[str] = ()
) -> Iterator[Tables]:
    """``sends`` and ``reports`` opened where they live (see :mod:`smsdata._engines`), only the columns used."""
    with tables(
        sends,
        reports,
        sends_columns=[*_SENDS_NEED, *by, *extra],
        reports_columns=_REPORTS_NEED,
        optional=optional,
    ) as opened:
        yield opened


# Every KPI starts from this: the accepted recipients sent by $as_of, each with the time it
# is judged at ($as_of, or sent_at + $within), its first DELIVRD time and first report time
# among the reports by $as_of. Parameters are named: $as_of, and $within with a window.
_RECIPIENTS = """
    recipients AS (
        SELECT {by_select} s.sent_at, s.judged_at, r.first_delivered,
               {open} AS open, {delivered} AS delivered{reported}
        FROM {sent} AS s
        LEFT JOIN ({first_reports}) AS r ON s.msgid = r.msgid AND s.mobile = r.mobile
    )
"""
# The first report and first DELIVRD of each recipient; the KPIs that only need the
# deliveries (latency, time to receipt) read only the DELIVRD reports, and aggregate once.
_FIRST_REPORTS = """
    SELECT msgid, mobile, min(report_time) AS first_report,
           min(report_time) FILTER (WHERE status = 'DELIVRD') AS first_delivered
    FROM reports WHERE report_time <= $as_of GROUP BY msgid, mobile
"""
_FIRST_DELIVERIES = """
    SELECT msgid, mobile, min(report_time) AS first_delivered
    FROM reports WHERE status = 'DELIVRD' AND report_time <= $as_of GROUP BY msgid, mobile
"""


def _recipients_cte(
    by: Sequence[str], period: str | None = None, tz: str = "UTC", window: bool = False, *, failures: bool = True
) -> str:
    """The ``recipients`` CTE; ``failures=False`` leaves out ``reported`` (whether any report came).

    Without a window every recipient is judged at ``$as_of``, which the reports read are
    already cut at: nothing is open, and a first report found is in time (plain constants and
    NULL tests for DuckDB, 10% faster than the comparisons a window needs).
    """
    select = "".join(f"s.{quote_name(c)}, " for c in by)
    if period is not None:
        select += _period_key(period, tz) + " AS period, "
    if window:
        judged = {"open": "s.judged_at > $as_of", "delivered": "r.first_delivered <= s.judged_at"}
        reported = "coalesce(r.first_report <= s.judged_at, false)"
    else:
        judged = {"open": "false", "delivered": "r.first_delivered IS NOT NULL"}
        reported = "r.first_report IS NOT NULL"
    sql = _RECIPIENTS.format(
        by_select=select,
        sent=_sent(by, window),
        reported=f",\n {reported} AS reported" if failures else "",
        first_reports=_FIRST_REPORTS if failures else _FIRST_DELIVERIES,
        **judged,
    )
    return "WITH " + sql


def _sent(by: Sequence[str], window: bool) -> str:
    """SQL of the accepted recipients sent by ``$as_of``, one row per (msgid, mobile): its first
    send, that send's ``by`` columns, and when it is judged (``judged_at``).

    A GROUP BY with ``arg_min``, not ``DISTINCT ON ... ORDER BY``: 3x faster on DuckDB. With
    several ``by`` columns each is taken at the least (sent_at, *by), so all come from one row of
    the sends; one column is taken at the least sent_at alone (a tuple key costs DuckDB 25% more:
    two sends of one recipient at the same microsecond in different groups is the only tie).
    """
    key = ", ".join(["sent_at", *(quote_name(c) for c in by)]) if len(by) > 1 else "sent_at"
    picked = "".join(f", arg_min({quote_name(c)}, ({key})) AS {quote_name(c)}" for c in by)
    return f"""(
        SELECT *, {_judged(window)} AS judged_at FROM (
            SELECT msgid, mobile, min(sent_at) AS sent_at{picked}
            FROM sends WHERE state = 'accepted' AND sent_at <= $as_of GROUP BY msgid, mobile
        ) AS first_sends
    )"""


def _judged(window: bool) -> str:
    """When a recipient is judged: at ``$as_of``, or at the end of its window."""
    return "sent_at + $within" if window else "$as_of"


def _period_key(period: str, tz: str) -> str:
    """SQL for the start of ``sent_at``'s local period, in microseconds since the epoch.

    An hour (or a part of one) starts at its local wall-clock time *in the offset
    of that moment*: a UTC instant, so the repeated autumn hour gives two
    instants (two rows) and zones half an hour off UTC get their own quarter
    hours. Days, weeks (from Monday) and months start at a local midnight, given
    as wall-clock microseconds and localised in pandas (:func:`_localise_period`).
    Plain arithmetic on microseconds, so the same SQL runs on DuckDB and Spark.
    """
    local = f"epoch_us(timezone('{tz}', s.sent_at))"  # the local wall clock, counted as if it were UTC
    if period in _CLOCK_MINUTES:
        # the instant minus how far the local clock is into its bucket
        return f"(epoch_us(s.sent_at) - {local} % {_CLOCK_MINUTES[period] * 60_000_000})"
    return f"epoch_us(date_trunc('{period}', timezone('{tz}', s.sent_at)))"


def _params(as_of: pd.Timestamp, within: pd.Timedelta | None, **more: Any) -> dict[str, Any]:
    window = {"within": within.to_pytimedelta()} if within is not None else {}
    return {"as_of": as_of.to_pydatetime(), **window, **more}


def _group(by: Sequence[str], period: bool = False) -> tuple[str, str]:
    """SELECT list prefix and GROUP/ORDER BY clause for the grouping columns."""
    names = [quote_name(c) for c in by] + (["period"] if period else [])
    if not names:
        return "", ""
    listed = ", ".join(names)
    return listed + ", ", f"GROUP BY {listed} ORDER BY {listed}"


def _localise_period(frame: pd.DataFrame, period: str | None, tz: str) -> pd.DataFrame:
    if period is None:
        return frame
    stamps = pd.to_datetime(frame["period"].astype("int64"), unit="us")
    if period in _CLOCK_MINUTES:  # already instants (UTC)
        frame["period"] = stamps.dt.tz_localize("UTC").dt.tz_convert(tz)
    else:  # local midnights; one that daylight saving skips starts at the first moment after it
        ambiguous = np.ones(len(stamps), dtype=bool)
        frame["period"] = stamps.dt.tz_localize(tz, ambiguous=ambiguous, nonexistent="shift_forward")
    return frame


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
    group = _columns(by)
    period, zone = _period(freq, tz)
    window = _duration(within, "within")
    expiry = _duration(expire_after, "expire_after")
    prefix, clause = _group(group, period is not None)
    # still waiting for a report (pending) rather than given up on (no_report): sent less than
    # expire_after before it is judged; with a window, judged exactly `within` after its send
    waiting = "sent_at > $cutoff" if window is None else str(window < expiry).lower()
    moment = _moment(as_of)
    sql = (
        _recipients_cte(group, period, zone, window is not None)
        + f"""
        SELECT {prefix} count(*) FILTER (WHERE NOT open) AS sent,
               count(*) FILTER (WHERE NOT open AND delivered) AS delivered,
               count(*) FILTER (WHERE NOT open AND NOT coalesce(delivered, false) AND reported) AS failed,
               count(*) FILTER (WHERE NOT open AND NOT reported AND {waiting}) AS pending,
               count(*) FILTER (WHERE NOT open AND NOT reported AND NOT {waiting}) AS no_report,
               count(*) FILTER (WHERE open) AS open
        FROM recipients {clause}
        """
    )
    with _tables(sends, reports, group) as opened:
        frame = opened.query(sql, _params(moment, window, cutoff=(moment - expiry).to_pydatetime()))
    frame = _localise_period(frame, period, zone)
    counts = ["sent", "delivered", "failed", "pending", "no_report", "open"]
    frame[counts] = frame[counts].astype("int64")
    if window is None:
        frame = frame.drop(columns="open")
    frame["delivery_rate"] = frame["delivered"] / frame["sent"].where(frame["sent"] > 0)
    frame["ci_low"], frame["ci_high"] = wilson_interval(frame["delivered"], frame["sent"])
    return frame


def _duration(value: Duration | None, name: str) -> pd.Timedelta | None:
    if value is None:
        return None
    try:
        duration = pd.Timedelta(value)
    except (TypeError, ValueError) as exc:
        raise KpiError(f"{name}={value!r} is not a duration (write it like '24h' or '3 days')") from exc
    if pd.isna(duration) or duration < pd.Timedelta(0):
        raise KpiError(f"{name}={value!r} must be a duration of zero or more")
    return duration


def _zone(tz: str | None) -> str:
    name = tz or default_tz()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise KpiError(f"tz={name!r} is not a known time zone") from exc
    return name


def _period(freq: str | None, tz: str | None) -> tuple[str | None, str]:
    """The period named by ``freq`` and the zone its buckets are cut in (UTC, unused, without one)."""
    if freq is None:
        return None, "UTC"
    if freq not in FREQ_NAMES:
        raise KpiError(f"freq must be one of {', '.join(map(repr, FREQ_NAMES))}, got {freq!r}")
    return FREQ_NAMES[freq], _zone(tz)


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
    group = _columns(by)
    period, zone = _period(freq, tz)
    window = _duration(within, "within")
    prefix, clause = _group(group, period is not None)
    sql = (
        _recipients_cte(group, period, zone, window is not None, failures=False)
        + f""",
        latencies AS (  -- every judged recipient, so a group with nothing delivered keeps its row
            SELECT {prefix} coalesce(delivered AND first_delivered < sent_at - $tolerance, false) AS skewed,
                   CASE WHEN delivered THEN greatest(epoch_us(first_delivered) - epoch_us(sent_at), 0) / 1e6
                   END AS seconds
            FROM recipients WHERE NOT open
        )
        SELECT {prefix}
               count(seconds) FILTER (WHERE NOT skewed) AS count,
               quantile_cont(seconds, [0.5, 0.9, 0.99]) FILTER (WHERE NOT skewed) AS q,
               avg(seconds) FILTER (WHERE NOT skewed) AS mean,
               count(*) FILTER (WHERE skewed) AS skewed
        FROM latencies {clause}
        """
    )
    params = _params(_moment(as_of), window, tolerance=SKEW_TOLERANCE.to_pytimedelta())
    with _tables(sends, reports, group) as opened:
        frame = _localise_period(opened.query(sql, params), period, zone)
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
    group = _columns(by)
    prefix, _ = _group(group)
    keys = ", ".join([*(quote_name(c) for c in group), "seconds"])
    sql = (
        _recipients_cte(group, failures=False)
        + f""",
        durations AS (
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
    )
    with _tables(sends, reports, group) as opened:
        steps = opened.query(sql, _params(_moment(as_of), None))
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
    group = _columns(by)
    window = _duration(within, "within")
    prefix, _ = _group(group)
    keys = ", ".join([*(quote_name(c) for c in group), "status"])
    outer = "".join(f"s.{quote_name(c)}, " for c in group)
    sql = f"""
        WITH judged AS {_sent(group, window is not None)},
        final AS (
            SELECT {outer}
                   CASE WHEN bool_or(r.status = 'DELIVRD') THEN 'DELIVRD'
                        ELSE coalesce(arg_max(r.status, (r.report_time, r.status)), '{PENDING}') END AS status
            FROM judged AS s
            LEFT JOIN reports AS r ON s.msgid = r.msgid AND s.mobile = r.mobile AND r.report_time <= s.judged_at
            WHERE s.judged_at <= $as_of
            GROUP BY {outer} s.msgid, s.mobile
        )
        SELECT {prefix} status, count(*) AS count FROM final GROUP BY {keys}
    """
    with _tables(sends, reports, group) as opened:
        frame = opened.query(sql, _params(_moment(as_of), window))
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
    group = _columns(by)
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
    if min_failures < 1 or min_campaigns < 1:
        raise KpiError(f"min_failures and min_campaigns must be at least 1, got {min_failures}, {min_campaigns}")
    params = _params(_moment(as_of), None, failures=min_failures, campaigns=min_campaigns)
    with _tables(sends, reports, [], optional=["campaign"]) as opened:
        frame = opened.query(_dead_numbers_sql("campaign" in opened.columns("sends")), params)
    frame[["failures", "campaigns"]] = frame[["failures", "campaigns"]].astype("int64")
    frame["last_report_time"] = utc_us(frame["last_report_time"], "last_report_time")
    return frame


def _dead_numbers_sql(campaigns: bool) -> str:
    campaign = "s.campaign" if campaigns else "s.msgid"  # hand-built frames: a msgid each
    return f"""
        WITH per_recipient AS (
            SELECT s.mobile, {campaign} AS campaign, bool_or(r.status = 'DELIVRD') AS delivered,
                   arg_max(r.status, (r.report_time, r.status)) AS status, max(r.report_time) AS last_at
            FROM sends AS s JOIN reports AS r ON s.msgid = r.msgid AND s.mobile = r.mobile
            WHERE s.state = 'accepted' AND s.sent_at <= $as_of AND r.report_time <= $as_of
            GROUP BY s.msgid, s.mobile, {campaign}
        )
        SELECT mobile, count(*) AS failures, count(DISTINCT campaign) AS campaigns,
               arg_max(status, (last_at, status)) AS last_status, max(last_at) AS last_report_time
        FROM per_recipient GROUP BY mobile
        HAVING NOT bool_or(delivered) AND count(*) >= $failures AND count(DISTINCT campaign) >= $campaigns
        ORDER BY failures DESC, mobile
    """


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


# Each check: the rows it finds (over sends_then and reports_then, the data as it stood at
# $as_of) and their columns, by which its examples are ordered.
_AUDIT_QUERIES = {
    "orphan_reports": (
        "SELECT r.msgid, r.mobile, r.status FROM reports_then r "
        "WHERE NOT EXISTS (SELECT 1 FROM sends_then s WHERE s.msgid = r.msgid)",
        ["msgid", "mobile", "status"],
    ),
    "wrong_number": (
        "SELECT r.msgid, r.mobile, r.status FROM reports_then r "
        "WHERE EXISTS (SELECT 1 FROM sends_then s WHERE s.msgid = r.msgid) "
        "AND NOT EXISTS (SELECT 1 FROM sends_then s WHERE s.msgid = r.msgid AND s.mobile = r.mobile)",
        ["msgid", "mobile", "status"],
    ),
    "repeated_reports": (
        "SELECT msgid, mobile, count(*) AS reports FROM reports_then GROUP BY msgid, mobile HAVING count(*) > 1",
        ["msgid", "mobile", "reports"],
    ),
    "clock_skew": (
        "SELECT r.msgid, r.mobile, r.report_time, s.sent_at FROM reports_then r "
        "JOIN sends_then s ON s.msgid = r.msgid AND s.mobile = r.mobile "
        "WHERE r.report_time < s.sent_at - $tolerance",
        ["msgid", "mobile", "report_time", "sent_at"],
    ),
    "delivered_after_failure": (
        "SELECT msgid, mobile FROM reports_then GROUP BY msgid, mobile "
        "HAVING max(report_time) FILTER (WHERE status = 'DELIVRD') "
        "> min(report_time) FILTER (WHERE status <> 'DELIVRD')",
        ["msgid", "mobile"],
    ),
    "no_report_after_expiry": (
        "SELECT s.msgid, s.mobile, s.sent_at FROM sends_then s WHERE s.state = 'accepted' AND s.sent_at < $cutoff "
        "AND NOT EXISTS (SELECT 1 FROM reports_then r WHERE r.msgid = s.msgid AND r.mobile = s.mobile)",
        ["msgid", "mobile", "sent_at"],
    ),
    "unknown_requests_with_reports": (
        "SELECT s.request_id, count(DISTINCT r.mobile) AS numbers_with_reports FROM sends_then s "
        "JOIN reports_then r ON r.mobile = s.mobile AND r.report_time >= s.sent_at "
        "WHERE s.state = 'unknown' "
        "AND NOT EXISTS (SELECT 1 FROM sends_then k WHERE k.msgid = r.msgid) GROUP BY s.request_id",
        ["request_id", "numbers_with_reports"],
    ),
}


def _audit_sql(check: str, columns: Sequence[str], examples: int) -> str:
    """One check as a query: its first ``examples`` rows, each with ``found``, the count of all."""
    order = ", ".join(columns)
    return f"""
        WITH sends_then AS (SELECT * FROM sends WHERE sent_at <= $as_of),
             reports_then AS (SELECT * FROM reports WHERE report_time <= $as_of),
             checked AS ({check})
        SELECT *, count(*) OVER () AS found FROM checked ORDER BY {order} LIMIT {max(int(examples), 1)}
    """


def _shown(found: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as they read in an example: times in UTC whatever the engine gave."""
    for name in found.columns:
        if pd.api.types.is_datetime64_any_dtype(found[name]):
            found = found.assign(**{name: utc_us(found[name], name)})
    return found.to_dict("records")


def audit(
    sends: Source,
    reports: Source,
    *,
    as_of: Moment = None,
    expire_after: Duration = EXPIRE_AFTER,
    examples: int = 3,
) -> pd.DataFrame:
    """Problems in the receipt stream as it stood at ``as_of``, one row per check, with counts and examples.

    Sends and reports after ``as_of`` are ignored; ``clock_skew`` counts reports
    more than 1 s before their send (a whole-second stamp is not skew).

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
    moment = _moment(as_of)
    cutoff = moment - _duration(expire_after, "expire_after")
    params = _params(moment, None, tolerance=SKEW_TOLERANCE.to_pytimedelta(), cutoff=cutoff.to_pydatetime())
    rows = []
    with _tables(sends, reports, [], extra=["request_id"]) as opened:
        for check, (sql, columns) in _AUDIT_QUERIES.items():
            found = opened.query(_audit_sql(sql, columns, examples), params)
            count = int(found["found"].iloc[0]) if len(found) else 0
            shown = _shown(found[columns].head(examples))
            cases = "; ".join(", ".join(f"{c}={v}" for c, v in row.items()) for row in shown)
            rows.append({"check": check, "count": count, "what": AUDIT_CHECKS[check], "examples": cases})
    frame = pd.DataFrame(rows)
    for name in ("check", "what", "examples"):
        frame[name] = frame[name].astype("str")
    return frame
