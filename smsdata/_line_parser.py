"""Ingest's general path: every line the fast path left, parsed by the full rules (the definition of a report).

:func:`general_path` reads every shape the format allows (see
:mod:`smsdata.report_lines`) with pandas on Arrow strings, and gives each line
that is not a report its quarantine reason.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ._line_scanner import escaped, gathered
from ._line_times import EARLIEST_US, LATEST_US, localize
from .numbers import normalise_mobiles

ROW_SCHEMA = pa.schema(
    [
        ("msgid", pa.string()),
        ("mobile", pa.string()),
        ("status", pa.string()),
        ("report_time", pa.timestamp("us", tz="UTC")),
        ("received_at", pa.timestamp("us", tz="UTC")),
    ]
)
"""A parsed report as an Arrow row: times in UTC, ``received_at`` missing for lines without a stamp."""
QUARANTINE_COLUMNS = ("index", "reason", "line")

_MSGID_MAX, _STATUS_MAX = 24, 16
_MSGID = rf"^[0-9A-Za-z_.:\-]{{1,{_MSGID_MAX}}}$"
_STATUS = rf"^[A-Za-z0-9:_./\-]{{1,{_STATUS_MAX}}}$"
_RECEIVED = r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z)\t"
_REPORT_PREFIX = r"^[ \t]*(?i:report)[ \t]*=[ \t]*"
_URL_ESCAPE = r"%[0-9A-Fa-f][0-9A-Fa-f]"
_NAIVE = r"^\d{4}[-/]\d\d[-/]\d\d[ T]\d\d:\d\d:\d\d(?:\.\d{1,9})?$"
_ZONED = r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d)$"
_COMPACT = r"^\d{14}$"
_UNIX_S = r"^\d{9,10}(?:\.\d{1,6})?$"
_UNIX_MS = r"^\d{13}$"


def general_path(
    chunk: bytes | memoryview, starts: np.ndarray, ends: np.ndarray, index: np.ndarray, tz: str
) -> tuple[pa.Table, pd.DataFrame, int]:
    """Rows and quarantined lines for lines the fast path left, by the full rules."""
    raw = _decode_lines(chunk, starts, ends)
    frame = pd.DataFrame({"index": index, "line": raw}).reset_index(drop=True)
    text = frame["line"]
    reason = pd.Series(pd.NA, index=frame.index, dtype="str").mask(text.isna(), "not_utf8")
    binary = text.isna().to_numpy()
    kept = [escaped(bytes(chunk[s:e])) for s, e in zip(starts[binary], ends[binary], strict=True)]
    frame.loc[binary, "line"] = kept
    frame["reason"] = reason

    prefix = text.str.lstrip("\ufeff").str.extract(_RECEIVED + "(.*)$")  # a BOM may precede the stamp
    received = pd.to_datetime(prefix[0], format="ISO8601", utc=True, errors="coerce")
    stamp_us = _us(received)
    # a stamp outside 2000-2099 is not the receiver's (it writes the time it received): not a stamp
    stamp_us = stamp_us.mask((stamp_us < EARLIEST_US) | (stamp_us >= LATEST_US))
    frame["received"] = stamp_us
    frame["body"] = prefix[1].where(stamp_us.notna(), text)
    frame = _url_decoded(frame)

    body = frame["body"].str.lstrip("\ufeff").str.strip()
    reason = frame["reason"].mask(frame["reason"].isna() & body.eq(""), "empty")
    count, (msgid, mobile, status, when) = _four_fields(body.str.replace(_REPORT_PREFIX, "", regex=True))
    reason = reason.mask(reason.isna() & (count != 4), "wrong_field_count")
    given_status, status = status, status.str.upper()  # checked as given: "ı".upper() is "I"
    mobiles = normalise_mobiles(mobile, any_mobile_range=True)  # a report is about a number the gateway took
    report_us, time_reason = _parse_times(when, tz)
    for bad, why in (
        (_flag(msgid.eq("")), "empty_msgid"),
        (~_flag(msgid.str.fullmatch(_MSGID)), "bad_msgid"),
        (_flag(mobiles["reason"].notna()), "mobile_" + mobiles["reason"]),
        (_flag(status.eq("")), "empty_status"),
        (~_flag(given_status.str.fullmatch(_STATUS)), "bad_status"),
        (_flag(time_reason.notna()), time_reason),
    ):
        reason = reason.mask(reason.isna() & bad, why)

    good = reason.isna().to_numpy()
    rows = pa.Table.from_arrays(
        [
            pa.array(msgid[good], type=pa.string()),
            pa.array(mobiles["mobile"][good], type=pa.string()),
            pa.array(status[good], type=pa.string()),
            pa.array(report_us[good], type=ROW_SCHEMA.field("report_time").type),
            pa.array(frame["received"][good], type=ROW_SCHEMA.field("received_at").type, from_pandas=True),
        ],
        schema=ROW_SCHEMA,
    )
    quarantine = frame.loc[~good, ["index", "line"]].assign(reason=reason[~good])
    return rows, quarantine[list(QUARANTINE_COLUMNS)].reset_index(drop=True), len(frame) - len(index)


def _four_fields(text: pd.Series) -> tuple[np.ndarray, list[pd.Series]]:
    """Comma-separated field counts, and the four fields (stripped) where there are four."""
    parts = pc.split_pattern(pa.array(text, type=pa.string(), from_pandas=True), ",")
    count = pc.list_value_length(parts).fill_null(0).to_numpy()
    four = np.flatnonzero(count == 4)
    flat = pc.list_flatten(parts.take(pa.array(four)))
    fields = []
    for i in range(4):
        field = pd.Series(pd.NA, index=text.index, dtype="str")
        field.iloc[four] = flat.take(pa.array(np.arange(i, 4 * len(four), 4))).to_pandas()
        fields.append(field.str.strip())
    return count, fields


def _flag(values: pd.Series) -> np.ndarray:
    """A boolean Series as a numpy mask, missing as False (object, bool or nullable boolean)."""
    return values.astype("boolean").fillna(False).to_numpy(dtype=bool)


def _decode_lines(chunk: bytes | memoryview, starts: np.ndarray, ends: np.ndarray) -> pd.Series:
    """Each line as text without its line break; missing where it is not UTF-8."""
    lengths = ends - starts
    offsets = np.zeros(len(starts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    values = np.frombuffer(gathered(np.frombuffer(chunk, dtype=np.uint8), starts, ends), np.uint8)
    ascii_only = ~_lines_with(values >= 0x80, offsets[:-1], offsets[1:])
    text = pd.Series(_strings(values, offsets).filter(pa.array(ascii_only)).to_pandas(), dtype="str")
    text.index = np.flatnonzero(ascii_only)
    others = [_utf8(bytes(chunk[s:e])) for s, e in zip(starts[~ascii_only], ends[~ascii_only], strict=True)]
    text = pd.concat([text, pd.Series(others, index=np.flatnonzero(~ascii_only), dtype="str")]).sort_index()
    return text.str.rstrip("\r\n").reset_index(drop=True)


def _utf8(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _url_decoded(frame: pd.DataFrame) -> pd.DataFrame:
    """Decode URL-encoded bodies, and split bodies that carry several reports: encoded line
    breaks, or a form's ``Report=...&Report=...``."""
    body = frame["body"]
    encoded = _flag(body.str.contains(_URL_ESCAPE, regex=True))
    several = _flag(body.str.contains(_SECOND_REPORT, regex=True))
    if not (encoded | several).any():
        return frame
    split = encoded | several
    bodies = [unquote_plus(b) if e else b for b, e in zip(body[split], encoded[split], strict=True)]
    decoded = [[r for part in _LINE_BREAK_TEXT.split(b) for r in _SECOND_REPORT_SPLIT.split(part)] for b in bodies]
    frame["body"] = frame["body"].astype(object)
    reports = [[part for part in parts if part.strip()] or [""] for parts in decoded]
    frame.loc[split, "body"] = pd.Series(reports, index=frame.index[split])
    frame = frame.explode("body", ignore_index=True)
    frame["body"] = frame["body"].astype("str")
    return frame


_LINE_BREAK_TEXT = re.compile(r"\r\n|\r|\n")
_SECOND_REPORT = r"(?i)&[ \t]*report[ \t]*(?:=|%3D)"
_SECOND_REPORT_SPLIT = re.compile(r"&(?=[ \t]*[Rr][Ee][Pp][Oo][Rr][Tt][ \t]*=)")


def _us(times: pd.Series) -> pd.Series:
    """Microseconds since 1970 of tz-aware or naive datetimes, as nullable Int64."""
    values = times.astype("datetime64[us, UTC]" if getattr(times.dtype, "tz", None) else "datetime64[us]")
    return pd.Series(values.array.asi8, index=times.index, dtype="Int64").mask(times.isna())


def _parse_times(text: pd.Series, tz: str) -> tuple[np.ndarray, pd.Series]:
    """UTC microseconds (0 where not parsed) and a reason where a time is not usable."""
    text = text.fillna("")
    us = pd.Series(pd.NA, index=text.index, dtype="Int64")
    naive = text.str.fullmatch(_NAIVE).astype(bool)
    compact = text.str.fullmatch(_COMPACT).astype(bool)
    zoned = text.str.fullmatch(_ZONED).astype(bool)
    unix_s = text.str.fullmatch(_UNIX_S).astype(bool)
    unix_ms = text.str.fullmatch(_UNIX_MS).astype(bool)
    local = pd.concat(
        [
            _us(pd.to_datetime(text[naive].str.replace("/", "-"), format="ISO8601", errors="coerce")),
            _us(pd.to_datetime(text[compact], format="%Y%m%d%H%M%S", errors="coerce")),
        ]
    ).dropna()
    if len(local):
        us[local.index] = localize(local.to_numpy(dtype=np.int64), tz)
    us[zoned] = _us(pd.to_datetime(text[zoned], format="ISO8601", utc=True, errors="coerce"))
    us[unix_s] = (text[unix_s].astype(float) * 1_000_000).round().astype("Int64")
    us[unix_ms] = text[unix_ms].astype("Int64") * 1_000
    recognised = naive | compact | zoned | unix_s | unix_ms
    reason = pd.Series(pd.NA, index=text.index, dtype="str")
    reason = reason.mask(~recognised, "time_format")
    usable = us.notna() & (us >= EARLIEST_US) & (us < LATEST_US)
    reason = reason.mask(recognised & ~_flag(usable), "impossible_time")
    return us.fillna(0).to_numpy(dtype=np.int64), reason


def _lines_with(flags: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Which lines [starts, ends) contain a flagged byte."""
    hits = np.flatnonzero(flags)
    return np.searchsorted(hits, ends) > np.searchsorted(hits, starts)


def _strings(values: np.ndarray, offsets: np.ndarray) -> pa.StringArray:
    """An Arrow string array over ASCII ``values`` cut at ``offsets`` (no copy)."""
    return pa.StringArray.from_buffers(
        len(offsets) - 1, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(np.ascontiguousarray(values))
    )
