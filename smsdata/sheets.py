"""Reading campaign spreadsheets (CSV, XLSX) with every cell kept as exact text.

Phone numbers must never pass through a float on their way in: a CSV is read
as text throughout, and an XLSX numeric cell (Excel stores 13800138000 as the
float ``1.3800138e10``) is turned back into the exact integer text it holds.
A float that does not hold an exact integer keeps its shortest text form
(``12.5``), which the mobile-number cleaning then rejects with a reason.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from .errors import SmsdataError

__all__ = ["read_campaign"]

_FIRST_DATA_ROW = 2  # row 1 holds the header, as a spreadsheet numbers it


def read_campaign(path: str | Path, sheet: str | int | None = None) -> pd.DataFrame:
    """Read a CSV or XLSX campaign file; every column comes back as text (``str`` dtype).

    The index, named ``row``, is the spreadsheet's own row number (the header is
    row 1), so a rejected recipient can be found in the file. Empty cells are missing.

    Args:
        path: a ``.csv``, ``.txt`` (CSV) or ``.xlsx`` file. CSV may be UTF-8 (with or
            without BOM) or GB18030, as Excel in China saves it.
        sheet: XLSX sheet name or 0-based position; by default the sheet the file opens
            on in Excel (its active sheet), or the first visible one if that is hidden.
            A hidden sheet is read only when named.

    Raises:
        SmsdataError: the file is missing, of another kind, or unreadable (the message says which).

    >>> read_campaign("data/campaign.xlsx")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise SmsdataError(f"campaign file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        frame = _read_csv(path)
    elif suffix in (".xlsx", ".xlsm"):
        frame = _read_xlsx(path, sheet)
    else:
        raise SmsdataError(f"{path}: unsupported file type {suffix!r}; use .csv or .xlsx")
    frame.columns = [str(c).strip() for c in frame.columns]
    frame.index = pd.RangeIndex(_FIRST_DATA_ROW, _FIRST_DATA_ROW + len(frame), name="row")
    return frame


def _read_csv(path: Path) -> pd.DataFrame:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding=encoding)
        except UnicodeDecodeError:
            continue
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise SmsdataError(f"{path}: not a readable CSV: {exc}") from exc
    raise SmsdataError(f"{path}: neither UTF-8 nor GB18030 text")


def _read_xlsx(path: Path, sheet: str | int | None) -> pd.DataFrame:
    # openpyxl directly: pandas' reader turns any integral float into an int,
    # which invents digits past 2**53 (1.2345678901234567e19 -> 12345678901234569216).
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises a zoo of errors on damaged files
        raise SmsdataError(f"{path}: not a readable XLSX file: {type(exc).__name__}: {exc}") from exc
    try:
        names = book.sheetnames
        if sheet is None:
            sheet = _default_sheet(book, path)
        elif isinstance(sheet, int):
            if not 0 <= sheet < len(names):
                raise SmsdataError(f"{path}: no sheet number {sheet}; sheets are {names}")
            sheet = names[sheet]
        elif sheet not in names:
            raise SmsdataError(f"{path}: no sheet {sheet!r}; sheets are {names}")
        rows = list(book[sheet].iter_rows(values_only=True))
    finally:
        book.close()
    if not rows:
        raise SmsdataError(f"{path}: sheet {sheet!r} is empty")
    header = [f"column{i + 1}" if h is None else _cell_text(h) for i, h in enumerate(rows[0])]
    body = [[None if v is None or v == "" else _cell_text(v) for v in row] for row in rows[1:]]
    while body and all(v is None for v in body[-1]):
        body.pop()  # trailing formatted-but-empty rows
    return pd.DataFrame(body, columns=header, dtype="str")


def _default_sheet(book: object, path: Path) -> str:
    """The active sheet (where Excel opens the file) if visible, else the first visible one."""
    active = book.active  # type: ignore[attr-defined]
    if active is not None and active.sheet_state == "visible":
        return active.title
    visible = [ws.title for ws in book.worksheets if ws.sheet_state == "visible"]  # type: ignore[attr-defined]
    if not visible:
        raise SmsdataError(f"{path}: every sheet is hidden; name one with sheet=")
    return visible[0]


def _cell_text(value: object) -> str:
    """Exact text of one cell: integral floats without ``.0``, dates as ISO."""
    if isinstance(value, bool):
        return str(value).upper()
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 2**53:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ") if value.time() != dt.time() else value.date().isoformat()
    return str(value).strip()
