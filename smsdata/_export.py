"""Export tables to CSV or XLSX safely: no spreadsheet formula injection, mobiles masked by default.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return is run as a formula by Excel, LibreOffice and Google Sheets when a
CSV is opened (``=HYPERLINK("http://evil", "click")`` in a customer's name
field), and so is one where control characters or spaces come first
(LibreOffice evaluated ``"\x00=HYPERLINK(...)"``). :func:`export` prefixes
such CSV cells with ``'`` (shown as text, per OWASP's advice), keeping the
rest exactly, and writes XLSX text cells as strings, never as formulas.
Mobiles stay exact text, never numbers.

An XLSX cell cannot hold most control characters (openpyxl refuses them) nor
more than 32,767 characters (Excel's limit; a longer one makes a file Excel
calls damaged): such a cell is an :class:`ExportError` naming its column and
row, never truncated or cleaned, as an export is a copy of the data.

Mobiles are personal data, so :func:`export` masks them (``138****8000``)
unless told ``mask=False``, as :func:`smsdata.build_report` does: a file
shared by mistake then leaks no number. A file meant to act on the numbers
(a resend list, corrections to send back) asks for them with ``mask=False``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from ._checks import frame_of, known_zone, series_of
from ._renamed import renamed
from .config import default_tz
from .errors import ConfigError, ExportError

__all__ = ["ExportError", "export", "mask_mobiles"]

# A formula trigger, after any run of control characters (0x00-0x1F, 0x7F), spaces (Unicode's
# too: no-break, ideographic, zero-width, BOM) and invisible or direction marks that a
# spreadsheet may skip; a tab or a CR first is itself a trigger.
_SKIPPED = (
    r"\x00-\x20\x7f-\xa0\xad\u034f\u061c\u115f\u1160\u1680\u17b4\u17b5\u180b-\u180f\u2000-\u200f\u2028-\u202f"
    r"\u205f-\u206f\u2800\u3000\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb\U000e0000-\U000e007f"
)
_DANGEROUS = rf"^(?:[{_SKIPPED}]*[=+\-@\uff1d\uff0b\uff0d\uff20]|[\t\r])"  # full-width signs too
XLSX_MAX_ROWS = 1_048_575  # and one header row
_EXACT_IN_EXCEL = 2**53 - 1  # larger whole numbers are written as text, every digit kept
XLSX_MAX_CHARS = 32_767  # characters in one cell (UTF-16 units, as Excel counts)


@renamed(values="mobiles")
def mask_mobiles(mobiles: pd.Series | Sequence[object]) -> pd.Series:
    """``13800138000`` -> ``138****8000``; other values unchanged.

    Returns:
        A Series of text on the same index (missing values stay missing).

    Raises:
        TypeError: ``mobiles`` is one value, not a Series or list of them.

    >>> mask_mobiles(pd.Series(["13800138000", "n/a"])).tolist()
    ['138****8000', 'n/a']
    """
    mobiles = series_of(mobiles, "mobiles")
    text = _as_text(mobiles)
    # a mobile written with +86, spaces or dashes is still one: masked, in its plain 11 digits
    plain = text.str.replace(r"[\s\-()]", "", regex=True).str.replace(r"^(?:\+|00)?86(?=1\d{10}$)", "", regex=True)
    text = text.mask(plain.str.fullmatch(r"1\d{10}").fillna(False).astype(bool), plain)
    eleven = text.str.fullmatch(r"\d{11}").fillna(False).astype(bool)
    masked = text.str.slice(0, 3) + "****" + text.str.slice(7)
    return text.where(~eleven, masked).where(mobiles.notna(), mobiles)


@renamed(frame="df", path="out")
def export(
    df: pd.DataFrame,
    out: str | os.PathLike[str],
    *,
    mask: bool = True,
    mobile_columns: str | Sequence[str] | None = None,
    tz: str | None = None,
    index: bool = False,
) -> Path:
    """Write ``df`` to the file ``out`` (``.csv`` or ``.xlsx``), safe to open in a spreadsheet.

    Args:
        df: any table (a KPI result, sends, reports...).
        out: the file to write; the suffix picks the format. CSV is UTF-8 with
            a BOM, so Excel shows Chinese text correctly.
        mask: mask mobiles as ``138****8000`` (default ``True``, as in
            :func:`smsdata.build_report`: phone numbers are personal data, and a
            file shared by mistake should not leak them). Pass ``mask=False``
            for a file meant to act on the numbers, such as a resend list.
        mobile_columns: the columns holding mobiles (default: every column
            whose name contains ``mobile``).
        tz: zone the tz-aware times are written in (XLSX has no zones; CSV keeps
            the offset); default ``SMSDATA_TZ``.
        index: write the index too.

    Returns:
        The path written.

    Raises:
        ExportError: ``df`` is not a DataFrame, unknown suffix, over Excel's row limit, an XLSX cell
            holding a control character XLSX cannot store (0x00-0x08, 0x0B,
            0x0C, 0x0E-0x1F) or over 32,767 characters (``column`` and
            ``row``, the index label, say which; nothing is written), or the
            file cannot be written.

    >>> export(sms.delivery_rate(sends, reports, by="campaign"), "rates.xlsx")  # doctest: +SKIP
    >>> export(sends[sends["state"] == "unknown"], "resend.csv", mask=False)  # doctest: +SKIP
    """
    frame_of(df, error=ExportError)
    if not isinstance(mask, bool):
        raise ConfigError(f"mask must be True or False, not {mask!r}")
    target = Path(out)
    suffix = target.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise ExportError(f"cannot export to {target.name}: use a .csv or .xlsx name")
    try:
        table = df.reset_index() if index else df.copy()
    except ValueError as exc:  # an index name that is also a column's
        raise ExportError(f"cannot export the index: {exc}") from None
    table.columns = [str(c) for c in table.columns]
    repeated = sorted(set(table.columns[table.columns.duplicated()]))
    if repeated:
        raise ExportError(f"cannot export: the column names {repeated} repeat (as text)")
    if mask:
        for name in _mobile_columns(table, mobile_columns):
            table[name] = mask_mobiles(table[name])
    zone = known_zone(tz or default_tz(), "tz")
    for name in table.columns:
        if isinstance(table[name].dtype, pd.DatetimeTZDtype):
            table[name] = table[name].dt.tz_convert(zone)
            if suffix == ".xlsx":
                table[name] = table[name].dt.tz_localize(None)
    try:
        if suffix == ".csv":
            _write_csv(table, target)
        else:
            _write_xlsx(table, target)
    except OSError as exc:
        raise ExportError(f"cannot write {target}: {exc.strerror or exc}") from exc
    return target


def _as_text(values: pd.Series) -> pd.Series:
    """``values`` as text; whole numbers held as floats or Decimals (a number column with a blank,
    a mixed column) without ``.0``."""
    if pd.api.types.is_float_dtype(values.dtype):
        whole = values.notna() & values.abs().lt(1e15) & values.eq(values.round())
        digits = values.where(whole).astype("Int64").astype("str")
        return digits.where(whole, values.astype("str"))
    if values.dtype == object:
        return values.map(_number_text, na_action="ignore").astype("str")
    return values.astype("str")


def _number_text(value: object) -> str:
    """One value as text; a whole float or Decimal without its fraction."""
    if isinstance(value, float | Decimal) and math.isfinite(value) and value == int(value):
        return str(int(value))
    return str(value)


def _mobile_columns(table: pd.DataFrame, named: str | Sequence[str] | None) -> list[str]:
    """The columns to mask: those ``named``, or every column whose name holds ``mobile`` (any case).

    Raises:
        ExportError: a named column is not in the table.
    """
    if named is None:
        return [c for c in table.columns if "mobile" in c.casefold()]
    if not isinstance(named, str) and not pd.api.types.is_list_like(named):
        raise ExportError(f"mobile_columns must name columns (a name or a list of them), not {named!r}")
    names = [named] if isinstance(named, str) else [str(c) for c in named]
    missing = [c for c in names if c not in table.columns]
    if missing:
        raise ExportError(f"mobile_columns names {missing}, not columns of the table ({', '.join(table.columns)})")
    return names


def _text_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if pd.api.types.is_string_dtype(table[c]) or table[c].dtype == object]


def _may_hold_text(values: pd.Series) -> bool:
    """Whether a column may hold text a spreadsheet reads as a formula: any but numbers, booleans
    and times (Arrow dictionaries and sparse columns of text included)."""
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        dtype = dtype.categories.dtype
    if isinstance(dtype, pd.SparseDtype):
        dtype = dtype.subtype
    api = pd.api.types
    return not (
        api.is_numeric_dtype(dtype)
        or api.is_bool_dtype(dtype)
        or api.is_datetime64_any_dtype(dtype)
        or api.is_timedelta64_dtype(dtype)
    )


def _write_csv(table: pd.DataFrame, target: Path) -> None:
    for name in [c for c in table.columns if _may_hold_text(table[c])]:
        text = table[name].astype("str")
        dangerous = text.str.match(_DANGEROUS).fillna(False).astype(bool)
        table[name] = text.where(~dangerous, "'" + text).where(table[name].notna(), None)
    table.columns = ["'" + c if re.match(_DANGEROUS, c) else c for c in table.columns]
    # CRLF line ends (RFC 4180): a cell holding a lone CR or LF is then quoted, never a row break.
    table.to_csv(target, index=False, encoding="utf-8-sig", lineterminator="\r\n")


def _write_xlsx(table: pd.DataFrame, target: Path) -> None:
    from openpyxl import Workbook

    if len(table) > XLSX_MAX_ROWS:
        raise ExportError(f"{len(table):,} rows do not fit in one sheet (at most {XLSX_MAX_ROWS:,}): use .csv")
    book = Workbook(write_only=True)
    sheet = book.create_sheet("data")
    columns = list(table.columns)
    sheet.append([_string_cell(sheet, name, name, None) for name in columns])
    text = set(_text_columns(table))
    try:
        for label, row in zip(table.index, table.itertuples(index=False, name=None), strict=True):
            cells = []
            for name, value in zip(columns, row, strict=True):
                if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
                    cells.append(None)
                elif name in text or isinstance(value, str):
                    cells.append(_string_cell(sheet, str(value), name, (label,)))
                else:
                    cells.append(_cell(sheet, value, name, label))
            sheet.append(cells)
    except BaseException:
        sheet.close()  # finish the sheet's temporary file now, not when the collector finds it
        raise
    book.save(target)


def _string_cell(sheet: object, value: str, column: str, row: tuple[object] | None) -> object:
    """A text cell, never a formula; ExportError for text an XLSX cell cannot hold.

    ``row`` is ``(index label,)``, or ``None`` for the header.
    """
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.utils.exceptions import IllegalCharacterError

    if len(value) > XLSX_MAX_CHARS // 2 and len(value.encode("utf-16-le")) // 2 > XLSX_MAX_CHARS:
        raise _refused(
            column,
            row,
            f"{len(value):,} characters, over the {XLSX_MAX_CHARS:,} an XLSX cell holds "
            "(Excel would call the file damaged): shorten it, or export to .csv",
        )
    try:
        cell = WriteOnlyCell(sheet, value=value)
    except IllegalCharacterError:
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        bad = ILLEGAL_CHARACTERS_RE.search(value)
        char = bad.group() if bad else "?"
        raise _refused(
            column,
            row,
            f"holds the control character {char!r}, which XLSX cannot store: remove it "
            f"(df[{column!r}].str.replace(r'[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f]', '', regex=True)) or export to .csv",
        ) from None
    cell.data_type = "s"  # a string, even when it starts with "=": never a formula
    return cell


def _cell(sheet: object, value: object, column: str, label: object) -> object:
    """A cell of a value that is not text; ExportError for one openpyxl cannot store."""
    from openpyxl.cell import WriteOnlyCell

    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, int | np.integer | Decimal) and abs(value) > _EXACT_IN_EXCEL:  # Excel keeps 15 digits
        return _string_cell(sheet, str(value), column, (label,))
    if isinstance(value, float | np.floating) and math.isinf(value):  # XLSX has no infinity: it became blank
        return _string_cell(sheet, str(float(value)), column, (label,))
    try:
        return WriteOnlyCell(sheet, value=value)
    except (ValueError, TypeError):
        kind = type(value).__name__
        raise _refused(
            column, (label,), f"an XLSX cell cannot hold {kind} values: convert the column to text first"
        ) from None


def _refused(column: str, row: tuple[object] | None, why: str) -> ExportError:
    where = "the header" if row is None else f"row {row[0]!r}"
    return ExportError(f"cannot export column {column!r}, {where}, to XLSX: {why}", column=column, row=row and row[0])
