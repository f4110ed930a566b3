"""The KPIs' shared options, checked and put in one form: ``by``, ``as_of``, ``within``, ``freq``, ``tz``.

The KPIs, the charts, the balance and the report take these options in the same
words and read them here, so each means the same everywhere and is refused
with the same :class:`~smsdata.errors.KpiError`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ._checks import known_zone
from ._times import utc_option
from .config import default_tz
from .errors import KpiError

By = str | Sequence[str] | None
Moment = str | pd.Timestamp | None
Duration = str | pd.Timedelta

EXPIRE_AFTER = "72h"
"""The default ``expire_after`` of every KPI, chart and the report."""
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
"""The ``freq`` values of :func:`smsdata.kpi.delivery_rate` and the words for their periods."""
SKEW_TOLERANCE = pd.Timedelta(seconds=1)
"""A report up to this long before its send is a whole-second stamp, not clock skew."""
CLOCK_MINUTES = {"minute": 1, "5 minutes": 5, "15 minutes": 15, "30 minutes": 30, "hour": 60}
"""The periods that start at a wall-clock minute (the others at a local midnight), in minutes."""


INPUTS = ("msgid", "mobile", "state", "sent_at", "status", "report_time", "campaign")
"""The input columns the KPIs read: a by= column may be one of them, but not differ from one only in case."""

# Names the KPIs' own columns and working columns use: a by= column may not take them.
RESERVED = frozenset(
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


def parse_by(by: By) -> list[str]:
    """``by`` as a list of column names.

    Raises:
        KpiError: ``by`` names no columns, a name clashes with a column the KPIs make (or starts
            with ``smsdata_``, the prefix of their working columns), or differs
            from one of theirs or of the inputs' (or from another of ``by``) only in case.
    """
    if by is None:
        return []
    if not isinstance(by, str | Sequence) or not all(isinstance(c, str) for c in ([by] if isinstance(by, str) else by)):
        raise KpiError(f"by={by!r} must name columns: a column name or a list of them")
    columns = list(dict.fromkeys([by] if isinstance(by, str) else by))
    clashing = [c for c in columns if c in RESERVED or c.casefold().startswith("smsdata_")]
    if clashing:
        raise KpiError(f"by= column(s) {clashing} clash with the KPIs' own columns; rename them first")
    # DuckDB and Spark do not tell names apart by case: "State" would read the column "state"
    known = {name.casefold(): name for name in [*RESERVED, *INPUTS]}
    for i, name in enumerate(columns):
        other = known.get(name.casefold()) or next((c for c in columns[:i] if c.casefold() == name.casefold()), None)
        if other is not None and other != name:
            raise KpiError(
                f"by= column {name!r} differs from the column {other!r} only in case, which SQL engines do not "
                "tell apart: rename it first"
            )
    return columns


def parse_moment(value: Moment) -> pd.Timestamp:
    """``as_of`` in UTC (naive means UTC); now when ``None``. Floored to the microsecond, the
    stored times' unit, so nothing is compared at a precision the data do not have.

    Raises:
        KpiError: ``value`` is not a time.
    """
    if value is None:
        return pd.Timestamp.now(tz="UTC").floor("us")
    moment = utc_option(value, "as_of", error=KpiError)
    assert moment is not None  # value is not None
    return moment.floor("us")


def parse_duration(value: Duration | None, name: str, *, required: bool = False) -> pd.Timedelta | None:
    """``value`` as a Timedelta (``None`` stays ``None``, unless ``required``).

    Raises:
        KpiError: not a duration, or negative, or ``None`` when ``required`` (``name`` says which option).
    """
    if value is None:
        if required:
            raise KpiError(f"{name}=None: give a duration, like '72h' or '3 days'")
        return None
    # pandas reads a bare number, or text of one ("3"), as nanoseconds
    if isinstance(value, int | float | np.number) or (isinstance(value, str) and _is_number(value)):
        raise KpiError(f"{name}={value!r} has no unit (write it like '24h', '3600s' or '3 days')")
    try:
        duration = pd.Timedelta(value)
    except (TypeError, ValueError) as exc:
        raise KpiError(f"{name}={value!r} is not a duration (write it like '24h' or '3 days')") from exc
    if pd.isna(duration) or duration < pd.Timedelta(0):
        raise KpiError(f"{name}={value!r} must be a duration of zero or more")
    return duration


def parse_zone(tz: str | None) -> str:
    """``tz``, or the configured zone (``SMSDATA_TZ``) when ``None``.

    Raises:
        KpiError: not a known time zone.
    """
    return known_zone(tz or default_tz(), "tz", error=KpiError)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_freq(freq: str | None, tz: str | None) -> tuple[str | None, str]:
    """The period named by ``freq`` and the zone its buckets are cut in (UTC, unused, without one).

    Raises:
        KpiError: ``freq`` or ``tz`` is not known.
    """
    if freq is None:
        if tz is not None:
            parse_zone(tz)  # checked even when unused: a typo should not pass silently
        return None, "UTC"
    if not isinstance(freq, str) or freq not in FREQ_NAMES:
        raise KpiError(f"freq must be one of {', '.join(map(repr, FREQ_NAMES))}, got {freq!r}")
    return FREQ_NAMES[freq], parse_zone(tz)


def localise_period(frame: pd.DataFrame, period: str | None, tz: str) -> pd.DataFrame:
    """``frame["period"]`` (epoch microseconds from the SQL) as tz-aware period starts in ``tz``."""
    if period is None:
        return frame
    stamps = pd.to_datetime(frame["period"].astype("int64"), unit="us")
    if period in CLOCK_MINUTES:  # already instants (UTC)
        frame["period"] = stamps.dt.tz_localize("UTC").dt.tz_convert(tz)
    else:  # local midnights; one that daylight saving skips starts at the first moment after it
        ambiguous = np.ones(len(stamps), dtype=bool)
        frame["period"] = stamps.dt.tz_localize(tz, ambiguous=ambiguous, nonexistent="shift_forward")
    return frame
