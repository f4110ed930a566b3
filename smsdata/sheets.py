"""Reading campaign spreadsheets (CSV, XLSX) with every cell kept as exact text.

Phone numbers must never pass through a float on their way in: a CSV is read
as text throughout, and an XLSX numeric cell (Excel stores 13800138000 as the
float ``1.3800138e10``) is turned back into the exact integer text it holds.
A float that does not hold an exact integer keeps its shortest text form
(``12.5``), which the mobile-number cleaning then rejects with a reason.

A CSV's text encoding and separator are found, never guessed into mojibake:
a byte-order mark decides the encoding (UTF-8, UTF-16 as Excel's "Unicode
Text" saves it, UTF-32); without one the whole file must decode as UTF-8, else
as GB18030, else reading fails naming the first byte that does not decode.
The separator is the one of ``, ; tab |`` that splits the first rows evenly.

Every frame records where it came from in ``frame.attrs["source"]``, so that a
missing column can be explained later (read from which sheet, which others exist).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import shlex
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from ._renamed import renamed
from .errors import SheetError

__all__ = ["read_campaign"]

_FIRST_DATA_ROW = 2  # row 1 holds the header, as a spreadsheet numbers it
_CHUNK = 1 << 20  # bytes decoded at a time when checking a CSV's encoding: memory stays flat
_SNIFF_CHARS = 64 << 10  # the first characters looked at to find the separator
_SEPARATORS = (",", ";", "\t", "|")
_SAVE_AS = "open it in Excel and save it as 'CSV UTF-8 (Comma delimited)'"
_BOMS = (  # UTF-32 first: its little-endian mark starts with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_LABELS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "utf-16": "UTF-16", "utf-32": "UTF-32", "gb18030": "GB18030"}
_XLS = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the OLE2 signature of an Excel 97-2003 workbook
_SEP_LINE = re.compile(r"sep=(.)\r?$")  # Excel's own separator line, "sep=;", above the header


def read_campaign(path: str | Path, sheet: str | int | None = None) -> pd.DataFrame:
    """Read a CSV or XLSX campaign file; every column comes back as text (``str`` dtype).

    The index, named ``row``, is the spreadsheet's own row number (the header is
    row 1), so a rejected recipient can be found in the file. Empty cells are missing.

    Args:
        path: a ``.csv``, ``.tsv``, ``.txt`` (CSV) or ``.xlsx`` file.

            * Encoding: a byte-order mark is followed (UTF-8, UTF-16 as Excel's
              "Unicode Text" saves it, UTF-32); without one the file must be
              UTF-8, else GB18030 (GBK), as Excel in China saves it.
            * Separator: ``,``, ``;``, tab or ``|``, whichever splits the header
              and the first rows (64K characters) into the same number of
              fields, respecting quotes; or the one an Excel ``sep=;`` first line names.
        sheet: XLSX sheet name or 0-based position; by default the sheet the file opens
            on in Excel (its active sheet), or the first visible one if that is hidden.
            A hidden sheet is read only when named.

    Returns:
        The data, with ``frame.attrs["source"]`` saying where it came from, which
        :func:`~smsdata.plan_campaign` quotes when a column is missing: ``path``;
        for a CSV its ``encoding`` (Python's codec name) and ``separator``; for an
        XLSX the ``sheet`` read, the visible ``sheets`` and ``hidden_sheets`` in
        workbook order, and ``columns_by_sheet``, the header of every other sheet.

    Raises:
        SheetError: the file is missing, of another kind, or unreadable; the message
            names the file and says why: the sheet that does not exist, the byte
            offset (and line) that is neither UTF-8 nor GB18030, the line whose
            fields do not match the header, separators that cannot be told apart.

    >>> read_campaign("data/campaign.xlsx")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise SheetError(f"campaign file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        if sheet is not None:
            raise SheetError(f"{path} is a CSV file, which has no sheets; sheet= is for .xlsx files")
        frame, source = _read_csv(path)
    elif suffix in (".xlsx", ".xlsm"):
        frame, source = _read_xlsx(path, sheet)
    else:
        raise SheetError(f"{path}: unsupported file type {suffix!r}; use .csv or .xlsx")
    frame.columns = [str(c).strip() for c in frame.columns]
    frame.index = pd.RangeIndex(_FIRST_DATA_ROW, _FIRST_DATA_ROW + len(frame), name="row")
    frame.attrs["source"] = source
    return frame


def _read_csv(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    encoding, sample, whole = _encoding(path)
    if not sample.strip():
        raise SheetError(f"{path}: the file is empty")
    separator, skip = _separator(path, sample, whole)
    try:
        frame = pd.read_csv(
            path, sep=separator, skiprows=skip, dtype=str, keep_default_na=False, na_values=[""], encoding=encoding
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise SheetError(f"{path}: not a readable CSV (separator {separator!r}): {exc}") from exc
    return frame, {"path": str(path), "encoding": encoding, "separator": separator}


class _BadByte(NamedTuple):
    """Where a file stops decoding: byte offset from the start of the file, the byte, its line if known."""

    offset: int
    byte: int
    line: int | None

    def __str__(self) -> str:
        line = f", line {self.line}" if self.line is not None else ""
        return f"byte 0x{self.byte:02X} at byte offset {self.offset}{line}"


def _encoding(path: Path) -> tuple[str, str, bool]:
    """The encoding the whole file decodes in, its first characters, and whether they are all of it.

    Raises:
        SheetError: the file is another kind of file, holds NUL bytes, or does not decode.
    """
    with path.open("rb") as file:
        head = file.read(8)
    if head.startswith(b"PK\x03\x04"):
        raise SheetError(f"{path} is a zip file, not a CSV: an .xlsx workbook? Rename it to .xlsx")
    if head.startswith(_XLS):
        raise SheetError(f"{path} is an Excel 97-2003 (.xls) workbook, not a CSV; {_SAVE_AS}")
    marked = next((encoding for bom, encoding in _BOMS if head.startswith(bom)), None)
    if marked is not None:
        sample, whole, bad = _decode(path, marked)
        if bad is not None:
            label = _LABELS[marked]
            raise SheetError(f"{path}: starts with a {label} byte-order mark, but {bad} is not {label}; {_SAVE_AS}")
        return marked, sample, whole
    sample, whole, bad_utf8 = _decode(path, "utf-8")
    if bad_utf8 is None:
        return "utf-8", sample, whole
    # Not UTF-8 anywhere: GB18030 (a superset of GBK and GB2312) is what Excel in China saves.
    sample, whole, bad_gb = _decode(path, "gb18030")
    if bad_gb is None:
        return "gb18030", sample, whole
    raise SheetError(f"{path}: the text is neither UTF-8 ({bad_utf8}) nor GB18030 ({bad_gb}); {_SAVE_AS}")


def _decode(path: Path, encoding: str) -> tuple[str, bool, _BadByte | None]:
    """Decode all of ``path`` a chunk at a time: its first characters, whether they are all of it, the first bad byte.

    Raises:
        SheetError: a NUL byte in an 8-bit encoding (never text: UTF-16 without a mark, or a binary file).
    """
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    ascii_lines = not encoding.startswith(("utf-16", "utf-32"))  # where 0x0A is always a line break
    sample: str | None = None
    whole = True
    offset = lines = 0
    with path.open("rb") as file:
        while True:
            chunk = file.read(_CHUNK)
            if ascii_lines and (nul := chunk.find(b"\x00")) >= 0:
                line = lines + chunk.count(b"\n", 0, nul) + 1
                raise SheetError(
                    f"{path}: NUL byte at byte offset {offset + nul}, line {line}: "
                    f"not a text file (UTF-16 without a byte-order mark?); {_SAVE_AS}"
                )
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                # exc.object is the bytes the decoder held back from the last chunk, then this chunk
                bad = offset + len(chunk) - len(exc.object) + exc.start
                # held-back bytes are parts of a multibyte character, never a line break
                line = lines + chunk.count(b"\n", 0, max(0, bad - offset)) + 1 if ascii_lines else None
                return sample or "", whole, _BadByte(bad, exc.object[exc.start], line)
            if sample is None:
                sample, whole = text[:_SNIFF_CHARS], len(text) <= _SNIFF_CHARS and len(chunk) < _CHUNK
            if not chunk:
                return sample, whole, None
            offset += len(chunk)
            lines += chunk.count(b"\n")


def _separator(path: Path, sample: str, whole: bool) -> tuple[str, int]:
    """The separator of a CSV whose first characters are ``sample``, and the lines to skip above the header.

    A candidate splits the header into two or more fields; the one whose rows all have
    exactly that many fields wins, else the one whose rows have at most that many
    (short rows are filled with missing values). A file no candidate splits has one column.

    Raises:
        SheetError: two separators fit equally well, or rows have more fields than the header.
    """
    first_line = sample.split("\n", 1)[0]
    if match := _SEP_LINE.fullmatch(first_line):
        return match.group(1), 1
    counts = {sep: _field_counts(sample, sep, whole) for sep in _SEPARATORS}
    splits = {sep: c for sep, c in counts.items() if c and c[0][1] >= 2}
    if not splits:
        return ",", 0
    width = {sep: c[0][1] for sep, c in splits.items()}
    exact = [sep for sep, c in splits.items() if all(n == width[sep] for _, n in c[1:])]
    short = [sep for sep, c in splits.items() if all(n <= width[sep] for _, n in c[1:])]
    for fitting in (exact, short):
        widest = [sep for sep in fitting if width[sep] == max(width[s] for s in fitting)]
        if len(widest) == 1:
            return widest[0], 0
        if widest:
            names = " or ".join(_show_sep(sep) for sep in widest)
            raise SheetError(
                f"{path}: cannot tell the separator: the header splits into {width[widest[0]]} columns "
                f"on {names} alike; {_SAVE_AS}"
            )
    sep = max(splits, key=width.__getitem__)
    line, fields = next((line, n) for line, n in splits[sep][1:] if n > width[sep])
    raise SheetError(
        f"{path} seems to be separated by {_show_sep(sep)} (the header has {width[sep]} columns), but line {line} "
        f"has {fields} fields: put quotes around values that hold {_show_sep(sep)}, or {_SAVE_AS}"
    )


def _field_counts(sample: str, sep: str, whole: bool) -> list[tuple[int, int]]:
    """(line number, number of fields) of each non-blank row of ``sample`` split on ``sep``, quotes respected."""
    # newline=None: a file with bare "\r" line ends (old Mac Excel) splits into rows too.
    reader = csv.reader(io.StringIO(sample, newline=None), delimiter=sep)
    try:  # a bounded sample (64K characters), so a Python loop over its rows stays cheap
        counts = [(reader.line_num, len(fields)) for fields in reader if fields]
    except csv.Error:  # not parseable with this separator: not a candidate
        return []
    return counts if whole else counts[:-1]  # the last row may be cut short by the sample's end


def _show_sep(sep: str) -> str:
    return "tab" if sep == "\t" else repr(sep)


def _read_xlsx(path: Path, sheet: str | int | None) -> tuple[pd.DataFrame, dict[str, Any]]:
    # openpyxl directly: pandas' reader turns any integral float into an int,
    # which invents digits past 2**53 (1.2345678901234567e19 -> 12345678901234569216).
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises a zoo of errors on damaged files
        with path.open("rb") as file:
            if file.read(8).startswith(_XLS):
                raise SheetError(
                    f"{path} is an Excel 97-2003 (.xls) workbook: open it in Excel and save it as .xlsx"
                ) from exc
        raise SheetError(f"{path}: not a readable XLSX file: {type(exc).__name__}: {exc}") from exc
    try:
        names = book.sheetnames
        if sheet is None:
            sheet = _default_sheet(book, path)
        elif isinstance(sheet, int):
            if not 0 <= sheet < len(names):
                raise SheetError(f"{path}: no sheet number {sheet}; sheets are {names}")
            sheet = names[sheet]
        elif sheet not in names:
            raise SheetError(f"{path}: no sheet {sheet!r}; sheets are {names}")
        rows = list(book[sheet].iter_rows(values_only=True))
        source = {
            "path": str(path),
            "sheet": sheet,
            "sheets": [ws.title for ws in book.worksheets if ws.sheet_state == "visible"],
            "hidden_sheets": [ws.title for ws in book.worksheets if ws.sheet_state != "visible"],
            # Only the first row of each other sheet (read-only mode stops there), to say where a column is.
            "columns_by_sheet": {ws.title: _header(ws) for ws in book.worksheets if ws.title != sheet},
        }
    finally:
        book.close()
    if not rows:
        raise SheetError(f"{path}: sheet {sheet!r} is empty")
    header = [f"column{i + 1}" if h is None else _cell_text(h) for i, h in enumerate(rows[0])]
    body = [[None if v is None or v == "" else _cell_text(v) for v in row] for row in rows[1:]]
    while body and all(v is None for v in body[-1]):
        body.pop()  # trailing formatted-but-empty rows
    return pd.DataFrame(body, columns=header, dtype="str"), source


def _header(worksheet: Any) -> list[str]:
    """The non-empty first-row cells of a sheet, as column names."""
    # Run to the end: older openpyxl (3.1.0) closes the sheet's file only when the rows run out.
    rows = list(worksheet.iter_rows(max_row=1, values_only=True))
    return [_cell_text(v).strip() for v in (rows[0] if rows else ()) if v is not None and v != ""]


def _default_sheet(book: object, path: Path) -> str:
    """The active sheet (where Excel opens the file) if visible, else the first visible one."""
    active = book.active  # type: ignore[attr-defined]
    if active is not None and active.sheet_state == "visible":
        return active.title
    visible = [ws.title for ws in book.worksheets if ws.sheet_state == "visible"]  # type: ignore[attr-defined]
    if not visible:
        raise SheetError(f"{path}: every sheet is hidden; name one with sheet=")
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


@renamed(frame="df")
def source_hint(df: pd.DataFrame, column: str) -> str:
    """Where ``df`` was read from, to follow a "column not found" message ("" if not known).

    For a workbook: the sheet read, the other sheets and which of them has ``column``,
    and how to choose one. For a CSV: its encoding and separator, and a warning when
    it came out as a single column (another separator?).
    """
    source = df.attrs.get("source")
    if not isinstance(source, dict):
        return ""  # not from read_campaign
    try:
        return _describe_source(source, column, len(df.columns))
    except (KeyError, TypeError, AttributeError):  # attrs edited since: the hint must not hide the error
        return ""


def _describe_source(source: dict[str, Any], column: str, width: int) -> str:
    path = source["path"]
    if "sheet" not in source:
        encoding = _LABELS.get(source["encoding"], source["encoding"])
        hint = f"; read from {path} ({encoding}, separated by {_show_sep(source['separator'])})"
        if width == 1:
            hint += (
                "; that gave a single column: the file seems to use a separator other than "
                f"',', ';', tab or '|'; {_SAVE_AS}"
            )
        return hint
    read = source["sheet"]
    others = [name for name in source["sheets"] if name != read]
    hidden = [name for name in source["hidden_sheets"] if name != read]
    hint = f"; read from sheet {read!r} of {path}"
    if others:
        hint += f"; the workbook also has {_sheets(others)}"
    if hidden:
        hint += f"{',' if others else '; the workbook has'} hidden {_sheets(hidden)}"
    having = [name for name, columns in source["columns_by_sheet"].items() if column in columns]
    having.sort(key=hidden.__contains__)  # a visible sheet first: hidden ones are usually lookups
    if having:
        return hint + (
            f"; sheet {having[0]!r} has a column {column!r}: choose it with sheet={having[0]!r} "
            f"(--sheet {shlex.quote(having[0])} on the command line)"
        )
    if others or hidden:
        hint += ": choose one with sheet= (--sheet on the command line)"
    return hint


def _sheets(names: list[str]) -> str:
    return ("sheets " if len(names) > 1 else "sheet ") + ", ".join(repr(name) for name in names)
