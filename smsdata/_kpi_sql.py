"""The SQL every KPI starts from: each accepted recipient once, judged at a point in time.

Written in DuckDB's dialect; :mod:`smsdata._engines` runs it on DuckDB or
translates it for Spark. Parameters are named: ``$as_of``, and ``$within``
with a window.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pandas as pd

from ._engines import Source, Tables, quote_name, tables
from ._kpi_options import CLOCK_MINUTES

_SENDS_NEED = ("msgid", "mobile", "state", "sent_at")
_REPORTS_NEED = ("msgid", "mobile", "status", "report_time")


@contextmanager
def kpi_tables(
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
        SELECT {by_select} s.sent_at, s.judged_at, r.first_delivered,
               {open} AS open, {delivered} AS delivered{reported}
        FROM {sent} AS s
        LEFT JOIN ({first_reports}) AS r ON s.msgid = r.msgid AND s.mobile = r.mobile
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


def recipients_sql(
    by: Sequence[str], period: str | None = None, tz: str = "UTC", window: bool = False, *, failures: bool = True
) -> str:
    """The query of the ``recipients`` table (:meth:`Tables.query_over`); ``failures=False`` leaves
    out ``reported`` (whether any report came).

    Without a window every recipient is judged at ``$as_of``, which the reports read are
    already cut at: nothing is open, and a first report found is in time (plain constants and
    NULL tests for DuckDB, 10% faster than the comparisons a window needs).
    """
    select = "".join(f"s.{quote_name(c)}, " for c in by)
    if period is not None:
        select += period_key_sql(period, tz) + " AS period, "
    if window:
        judged = {"open": "s.judged_at > $as_of", "delivered": "r.first_delivered <= s.judged_at"}
        reported = "coalesce(r.first_report <= s.judged_at, false)"
    else:
        judged = {"open": "false", "delivered": "r.first_delivered IS NOT NULL"}
        reported = "r.first_report IS NOT NULL"
    return _RECIPIENTS.format(
        by_select=select,
        sent=sent_sql(by, window),
        reported=f",\n {reported} AS reported" if failures else "",
        first_reports=_FIRST_REPORTS if failures else _FIRST_DELIVERIES,
        **judged,
    )


def sent_sql(by: Sequence[str], window: bool) -> str:
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


def period_key_sql(period: str, tz: str) -> str:
    """SQL for the start of ``sent_at``'s local period, in microseconds since the epoch.

    An hour (or a part of one) starts at its local wall-clock time *in the offset
    of that moment*: a UTC instant, so the repeated autumn hour gives two
    instants (two rows) and zones half an hour off UTC get their own quarter
    hours. Days, weeks (from Monday) and months start at a local midnight, given
    as wall-clock microseconds and localised in pandas (:func:`~smsdata._kpi_options.localise_period`).
    Plain arithmetic on microseconds, so the same SQL runs on DuckDB and Spark.
    """
    local = f"epoch_us(timezone('{tz}', s.sent_at))"  # the local wall clock, counted as if it were UTC
    if period in CLOCK_MINUTES:
        # the instant minus how far the local clock is into its bucket
        return f"(epoch_us(s.sent_at) - {local} % {CLOCK_MINUTES[period] * 60_000_000})"
    return f"epoch_us(date_trunc('{period}', timezone('{tz}', s.sent_at)))"


def query_params(as_of: pd.Timestamp, within: pd.Timedelta | None, **more: Any) -> dict[str, Any]:
    """The named parameters of a KPI's SQL: ``as_of``, ``within`` (with a window) and ``more``."""
    window = {"within": within.to_pytimedelta()} if within is not None else {}
    return {"as_of": as_of.to_pydatetime(), **window, **more}


def group_keys(by: Sequence[str], period: bool = False) -> list[str]:
    """The grouping columns as SQL names: ``by``'s, quoted, and ``period``."""
    return [quote_name(c) for c in by] + (["period"] if period else [])


def group_sql(by: Sequence[str], period: bool = False) -> tuple[str, str]:
    """SELECT list prefix and GROUP/ORDER BY clause for the grouping columns."""
    names = group_keys(by, period)
    if not names:
        return "", ""
    listed = ", ".join(names)
    return listed + ", ", f"GROUP BY {listed} ORDER BY {listed}"


QUANTILES = (0.5, 0.9, 0.99)
"""The quantiles the KPIs give, as ``p50``, ``p90``, ``p99``."""


def counted_quantiles_sql(keys: Sequence[str], source: str, value: str) -> str:
    """SQL of the exact quantiles of ``value`` per ``keys`` (SQL names) over ``source`` (a query's
    name), as ``[*keys, p50, p90, p99]``, interpolated linearly as ``quantile_cont``; groups with no
    value have no row.

    Worked out from the count of each distinct value, its running total and a range join to the
    ranks each quantile falls between: every step spills to disk, where ``quantile_cont`` holds all
    of a group's values in memory (100M latencies in one group: out of memory at 1 GB). It is 10x
    slower in memory, so the KPIs use it only over data worked out in passes. Its working columns
    start with ``smsdata_``, a prefix no ``by=`` column may take.
    """
    listed = "".join(f"{k}, " for k in keys)
    within = f"PARTITION BY {', '.join(keys)} " if keys else ""
    same = " AND ".join(f"b.{k} IS NOT DISTINCT FROM r.{k}" for k in keys) or "true"
    grouped = f"GROUP BY {', '.join(keys)}" if keys else ""
    wanted = ", ".join(f"({q})" for q in QUANTILES)
    lerp = "smsdata_lo + smsdata_frac * (smsdata_hi - smsdata_lo)"
    picked = ", ".join(f"max({lerp}) FILTER (WHERE smsdata_q = {q}) AS p{round(q * 100)}" for q in QUANTILES)
    return f"""
        counts AS (SELECT {listed}{value} AS smsdata_v, count(*) AS smsdata_c FROM {source}
                   WHERE {value} IS NOT NULL GROUP BY {listed}{value}),
        ranked AS (SELECT *, sum(smsdata_c) OVER ({within}ORDER BY smsdata_v ROWS UNBOUNDED PRECEDING) AS smsdata_upto
                   FROM counts),
        sizes AS (SELECT {listed}sum(smsdata_c) AS smsdata_n FROM counts {grouped}),
        positions AS (SELECT {listed}smsdata_q, (smsdata_n - 1) * smsdata_q AS smsdata_pos
                      FROM sizes CROSS JOIN (VALUES {wanted}) AS wanted(smsdata_q)),
        ranks AS (SELECT {listed}smsdata_q, smsdata_pos - floor(smsdata_pos) AS smsdata_frac,
                         floor(smsdata_pos) AS smsdata_low, ceil(smsdata_pos) AS smsdata_high FROM positions),
        bounds AS (SELECT {listed}smsdata_q, smsdata_frac, smsdata_low AS smsdata_k, true AS smsdata_is_low
                   FROM ranks UNION ALL SELECT {listed}smsdata_q, smsdata_frac, smsdata_high, false FROM ranks),
        found AS (SELECT {"".join(f"b.{k}, " for k in keys)}b.smsdata_q, b.smsdata_frac, b.smsdata_is_low, r.smsdata_v
                  FROM bounds AS b JOIN ranked AS r
                  ON {same} AND r.smsdata_upto - r.smsdata_c <= b.smsdata_k AND b.smsdata_k < r.smsdata_upto),
        interpolated AS (SELECT {listed}smsdata_q, any_value(smsdata_frac) AS smsdata_frac,
                                min(smsdata_v) FILTER (WHERE smsdata_is_low) AS smsdata_lo,
                                min(smsdata_v) FILTER (WHERE NOT smsdata_is_low) AS smsdata_hi
                         FROM found GROUP BY {listed}smsdata_q),
        quantiles AS (SELECT {listed}{picked} FROM interpolated {grouped})
    """


def latency_sql(prefix: str, clause: str, keys: Sequence[str]) -> tuple[str, str]:
    """:func:`smsdata.latency`'s query over ``recipients``, and its form for data worked out in
    passes, whose quantiles are counted (:func:`counted_quantiles_sql`): ``quantile_cont`` holds a
    whole group in memory. ``prefix`` and ``clause`` are :func:`group_sql`'s, ``keys`` :func:`group_keys`'.
    """
    latencies = f"""
        WITH latencies AS (  -- every judged recipient, so a group with nothing delivered keeps its row
            SELECT {prefix} coalesce(delivered AND first_delivered < sent_at - $tolerance, false) AS skewed,
                   CASE WHEN delivered THEN greatest(epoch_us(first_delivered) - epoch_us(sent_at), 0) / 1e6
                   END AS seconds
            FROM recipients WHERE NOT open
        )"""
    counts = """count(seconds) FILTER (WHERE NOT skewed) AS count, avg(seconds) FILTER (WHERE NOT skewed) AS mean,
               count(*) FILTER (WHERE skewed) AS skewed"""
    sql = f"""{latencies}
        SELECT {prefix} {counts}, quantile_cont(seconds, {list(QUANTILES)}) FILTER (WHERE NOT skewed) AS q
        FROM latencies {clause}
    """
    joined = " AND ".join(f"s.{k} IS NOT DISTINCT FROM q.{k}" for k in keys) or "true"
    order = f"ORDER BY {', '.join(f's.{k}' for k in keys)}" if keys else ""
    counted = f"""{latencies},
        kept AS (SELECT {prefix} seconds FROM latencies WHERE NOT skewed),
        {counted_quantiles_sql(keys, "kept", "seconds")},
        stats AS (SELECT {prefix} {counts} FROM latencies {clause})
        SELECT s.*, q.p50, q.p90, q.p99 FROM stats AS s LEFT JOIN quantiles AS q ON {joined}
        {order}
    """
    return sql, counted


def dead_numbers_sql(campaigns: bool) -> tuple[str, str]:
    """The stage (one row per reported recipient, worked out in passes out of core) and the query over it."""
    campaign = "s.campaign" if campaigns else "s.msgid"  # hand-built frames: a msgid each
    per_recipient = f"""
        SELECT s.mobile, {campaign} AS campaign, bool_or(r.status = 'DELIVRD') AS delivered,
               arg_max(r.status, (r.report_time, r.status)) AS status, max(r.report_time) AS last_at
        FROM sends AS s JOIN reports AS r ON s.msgid = r.msgid AND s.mobile = r.mobile
        WHERE s.state = 'accepted' AND s.sent_at <= $as_of AND r.report_time <= $as_of
        GROUP BY s.msgid, s.mobile, {campaign}
    """
    return (
        per_recipient,
        """
        SELECT mobile, count(*) AS failures, count(DISTINCT campaign) AS campaigns,
               arg_max(status, (last_at, status)) AS last_status, max(last_at) AS last_report_time
        FROM per_recipient GROUP BY mobile
        HAVING NOT bool_or(delivered) AND count(*) >= $failures AND count(DISTINCT campaign) >= $campaigns
        ORDER BY failures DESC, mobile
    """,
    )
