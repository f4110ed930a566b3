"""Which sends and reports the report shows: a selection of campaigns, and group values masked.

:func:`select_campaigns` cuts sends and reports to some campaigns (frames in
pandas, a warehouse path or Spark DataFrame where it lives); :func:`masked_groups`
masks group values that are phone numbers (``138****8000``), in pandas or as SQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ._engines import Source, narrowed, quote_name, require, tables
from .errors import ReportError


def select_campaigns(campaigns: Sequence[str], sends: Source, reports: Source) -> tuple[Source, Source]:
    """The sends of ``campaigns`` and their reports: those of their msgids, and reports of msgids
    no campaign sent for those campaigns' unknown requests' numbers (the audit's evidence).

    Frames give frames; a warehouse path or a Spark DataFrame gives a :class:`Selected` of it,
    cut where it lives when a KPI reads it.

    Raises:
        ReportError: a campaign named is not in ``sends``.
    """
    campaigns = [campaigns] if isinstance(campaigns, str) else list(campaigns)
    known = set(campaign_names(sends))
    missing = [name for name in campaigns if name not in known]
    if missing:
        listed = ", ".join(sorted(known)[:20]) or "none"
        raise ReportError(f"no campaign named {', '.join(map(repr, missing))} (campaigns in the ledger: {listed})")
    if isinstance(sends, pd.DataFrame) and isinstance(reports, pd.DataFrame):
        asked = sends[sends["campaign"].isin(list(campaigns))]
        unknown = asked.loc[asked["state"].eq("unknown"), "mobile"]
        theirs = reports["msgid"].isin(asked["msgid"].dropna())
        evidence = ~reports["msgid"].isin(sends["msgid"].dropna()) & reports["mobile"].isin(unknown)
        return asked, reports[theirs | evidence]
    names = ", ".join("'" + name.replace("'", "''") + "'" for name in campaigns)
    asked = f"SELECT {{}} FROM sends_all WHERE campaign IN ({names})"  # noqa: S608 (names quoted above)
    unsent = "msgid NOT IN (SELECT msgid FROM sends_all WHERE msgid IS NOT NULL)"
    unknown = asked.format("mobile") + " AND state = 'unknown'"
    evidence = "msgid IN (" + asked.format("msgid") + ") OR (" + unsent + " AND mobile IN (" + unknown + "))"
    return narrowed(sends, where=f"campaign IN ({names})", uses=("campaign",)), narrowed(reports, where=evidence)


def campaign_names(sends: Source) -> list[str]:
    """The campaigns in ``sends``, sorted, read where it lives."""
    if isinstance(sends, pd.DataFrame):
        return sorted(sends["campaign"].dropna().unique().astype(str))
    with tables(sends, None, sends_columns=["campaign"], reports_columns=[]) as opened:
        found = opened.query("SELECT DISTINCT campaign FROM sends WHERE campaign IS NOT NULL", {})
    return sorted(found["campaign"].astype(str))


def has_column(sends: Source, name: str) -> bool:
    if isinstance(sends, pd.DataFrame):
        return name in sends.columns
    with tables(sends, None, sends_columns=["state"], reports_columns=[]) as opened:
        return name in opened.columns("sends")


def masked_groups(sends: Source, groups: Sequence[str]) -> Source:
    """``sends`` with group values that look like phone numbers masked (``138****8000``), each
    distinct number still its own group (``138****8000 #2`` when two mask alike)."""
    if not groups:
        return sends
    if not isinstance(sends, pd.DataFrame):
        # as below: a column with no phone-like value stays as it is (and keeps its type)
        with tables(sends, None, sends_columns=groups, reports_columns=[]) as opened:
            listed = ", ".join(f"bool_or({_phone_like_sql(c)}) AS {quote_name(c)}" for c in groups)
            found = opened.query(f"SELECT {listed} FROM sends", {})  # noqa: S608 (our quoting)
        phones = [c for c in groups if found[c].fillna(False).astype(bool).any()]
        return narrowed(sends, computed=tuple((c, _mask_sql(c)) for c in phones), uses=tuple(phones))
    require(groups, [str(c) for c in sends.columns], "sends")
    out = sends.copy()
    for column in groups:
        values = pd.Series(out[column].dropna().unique())
        text = values.astype(str)
        numbers = text.str.fullmatch(r"\+?\d{7,15}")
        if not numbers.any():
            continue
        masked = text.where(~numbers, text.str.replace(r"^(\+?\d{3})\d*(\d{4})$", r"\1****\2", regex=True))
        repeat = masked.groupby(masked).cumcount()
        masked = masked.where(repeat == 0, masked + " #" + (repeat + 1).astype(str))
        out[column] = out[column].map(dict(zip(values, masked, strict=True)))
    return out


def _text_sql(column: str) -> str:
    return f"CAST({quote_name(column)} AS VARCHAR)"


def _phone_like_sql(column: str) -> str:
    """SQL: the value looks like a phone number (``+`` and 7 to 15 digits), as :func:`masked_groups` tests."""
    value = _text_sql(column)
    digits = f"CASE WHEN starts_with({value}, '+') THEN substr({value}, 2) ELSE {value} END"
    return (
        f"(TRY_CAST({digits} AS BIGINT) IS NOT NULL AND {digits} NOT LIKE '%-%' AND length({digits}) BETWEEN 7 AND 15)"
    )


def _mask_sql(column: str) -> str:
    """:func:`masked_groups` as SQL for a table where it lives; alike masks are told apart by the
    rank of the number among them."""
    value, number = _text_sql(column), _phone_like_sql(column)
    head = f"CASE WHEN starts_with({value}, '+') THEN left({value}, 4) ELSE left({value}, 3) END"
    masked = f"{head} || '****' || right({value}, 4)"
    rank = f"dense_rank() OVER (PARTITION BY CASE WHEN {number} THEN {masked} END ORDER BY {value})"
    suffix = f"CASE WHEN {rank} > 1 THEN ' #' || CAST({rank} AS VARCHAR) ELSE '' END"
    return f"CASE WHEN {number} THEN {masked} || {suffix} ELSE {value} END"
