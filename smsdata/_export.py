"""Export tables to CSV or XLSX safely: no spreadsheet formula injection, mobiles masked on request.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return is run as a formula by Excel, LibreOffice and Google Sheets when a
CSV is opened (``=HYPERLINK("http://evil", "click")`` in a customer's name
field). :func:`export` prefixes such CSV cells with ``'`` (shown as text,
per OWASP's advice) and writes XLSX text cells as strings, never as
formulas. Mobiles stay exact text, never numbers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .config import default_tz
from .errors import SmsdataError

__all__ = ["ExportError", "export", "mask_mobiles"]

_DANGEROUS = r"^[=+\-@\t\r]"
XLSX_MAX_ROWS = 1_048_575  # and one header row


class ExportError(SmsdataError):
    """The table cannot be exported to that path (unknown format, too many rows, not writable)."""


def mask_mobiles(values: pd.Series) -> pd.Series:
    """``13800138000`` -> ``138****8000``; other values unchanged.

    Returns:
        A Series of text on the same index (missing values stay missing). Never raises.

    >>> mask_mobiles(pd.Series(["13800138000", "n/a"])).tolist()
    ['138****8000', 'n/a']
    """
    text = values.astype("str")
    eleven = text.str.fullmatch(r"\d{11}").fillna(False).astype(bool)
    masked = text.str.slice(0, 3) + "****" + text.str.slice(7)
    return text.where(~eleven, masked).where(values.notna(), values)


def export(
    frame: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    mask: bool = False,
    mobile_columns: Sequence[str] | None = None,
    tz: str | None = None,
    index: bool = False,
) -> Path:
    """Write ``frame`` to ``path`` (``.csv`` or ``.xlsx``), safe to open in a spreadsheet.

    Args:
        frame: any table (a KPI result, sends, reports...).
        path: where to write; the suffix picks the format. CSV is UTF-8 with
            a BOM, so Excel shows Chinese text correctly.
        mask: mask mobiles as ``138****8000`` for sharing.
        mobile_columns: the columns holding mobiles (default: every column
            whose name contains ``mobile``).
        tz: zone for tz-aware times (XLSX has no zones; CSV keeps the offset);
            default ``SMSDATA_TZ``.
        index: write the index too.

    Returns:
        The path written.

    Raises:
        ExportError: unknown suffix, over Excel's row limit, or the file
            cannot be written.

    >>> export(sms.delivery_rate(sends, reports, by="campaign"), "rates.xlsx")  # doctest: +SKIP
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise ExportError(f"cannot export to {target.name}: use a .csv or .xlsx name")
    table = frame.reset_index() if index else frame.copy()
    table.columns = [str(c) for c in table.columns]
    if mask:
        for name in mobile_columns if mobile_columns is not None else [c for c in table.columns if "mobile" in c]:
            table[name] = mask_mobiles(table[name])
    zone = tz or default_tz()
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


def _text_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if pd.api.types.is_string_dtype(table[c]) or table[c].dtype == object]


def _write_csv(table: pd.DataFrame, target: Path) -> None:
    for name in _text_columns(table):
        text = table[name].astype("str")
        dangerous = text.str.match(_DANGEROUS).fillna(False).astype(bool)
        table[name] = text.where(~dangerous, "'" + text).where(table[name].notna(), None)
    table.columns = ["'" + c if c[:1] in "=+-@\t\r" and c else c for c in table.columns]
    # CRLF line ends (RFC 4180): a cell holding a lone CR or LF is then quoted, never a row break.
    table.to_csv(target, index=False, encoding="utf-8-sig", lineterminator="\r\n")


def _write_xlsx(table: pd.DataFrame, target: Path) -> None:
    from openpyxl import Workbook

    if len(table) > XLSX_MAX_ROWS:
        raise ExportError(f"{len(table):,} rows do not fit in one sheet (at most {XLSX_MAX_ROWS:,}): use .csv")
    book = Workbook(write_only=True)
    sheet = book.create_sheet("data")
    sheet.append([_string_cell(sheet, name) for name in table.columns])
    text = set(_text_columns(table))
    columns = list(table.columns)
    for row in table.itertuples(index=False, name=None):
        cells = []
        for name, value in zip(columns, row, strict=True):
            if value is None or (not isinstance(value, str) and pd.isna(value)):
                cells.append(None)
            elif name in text or isinstance(value, str):
                cells.append(_string_cell(sheet, str(value)))
            else:
                cells.append(value.to_pydatetime() if isinstance(value, pd.Timestamp) else value)
        sheet.append(cells)
    book.save(target)


def _string_cell(sheet: object, value: str) -> object:
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, value=value)
    cell.data_type = "s"  # a string, even when it starts with "=": never a formula
    return cell
