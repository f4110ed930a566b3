"""The audit of the receipt stream: one query per check, counts and examples (:func:`smsdata.kpi.audit`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from ._checks import at_least
from ._engines import Source
from ._kpi_options import EXPIRE_AFTER, SKEW_TOLERANCE, Duration, Moment, parse_duration, parse_moment
from ._kpi_sql import kpi_tables, query_params
from ._times import utc_us
from .errors import KpiError

__all__ = ["AUDIT_CHECKS", "audit"]

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
        KpiError: a column is missing, or ``examples`` is not a whole number of 0 or more.

    >>> audit(sends, reports).query("count > 0")  # doctest: +SKIP
    """
    examples = at_least(examples, "examples", 0, error=KpiError)
    moment = parse_moment(as_of)
    cutoff = moment - parse_duration(expire_after, "expire_after", required=True)
    params = query_params(moment, None, tolerance=SKEW_TOLERANCE.to_pytimedelta(), cutoff=cutoff.to_pydatetime())
    rows = []
    with kpi_tables(sends, reports, [], extra=["request_id"]) as opened:
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
