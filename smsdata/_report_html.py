"""The report's HTML: a page that reads on a laptop, a phone and paper.

Tables (formatted by :mod:`smsdata._formats`) put text left and numbers
right; wide tables scroll sideways on a phone instead of squeezing the page.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from ._formats import header

STYLE = """
body { font-family: -apple-system, "Segoe UI", Roboto, "Noto Sans SC", sans-serif; margin: 1.5em auto;
       max-width: 1100px; color: #222; padding: 0 1em; line-height: 1.4; }
h1 { margin-bottom: 0.1em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.8em; }
.meta { color: #555; margin-top: 0; }
.warning { border-left: 4px solid #c62828; background: #fdecea; padding: 0.4em 0.8em; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 0.6em; margin: 1em 0; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 0.5em 0.7em; background: #fafafa; }
.card .label { color: #555; font-size: 0.8em; } .card .value { font-size: 1.45em; font-weight: 600; }
.card .more { color: #555; font-size: 0.8em; }
.delivered .value { color: #2e7d32; } .failed .value { color: #c62828; } .pending .value { color: #757575; }
.up { color: #2e7d32; } .down { color: #c62828; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td:first-child { white-space: nowrap; max-width: 22em; overflow: hidden; text-overflow: ellipsis; }
.meta, .warning, .note { overflow-wrap: anywhere; } caption { text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
img { max-width: 100%; height: auto; display: block; }
.note { color: #555; font-size: 0.85em; }
@media (max-width: 600px) {
  body { margin: 0.5em auto; padding: 0 0.5em; } .card .value { font-size: 1.2em; }
  .cards { grid-template-columns: repeat(2, 1fr); } table { font-size: 0.75em; }
}
@media print {
  body { max-width: none; margin: 0; font-size: 10pt; } .scroll { overflow: visible; }
  h2 { break-after: avoid; } img, table, .cards, figure { break-inside: avoid; }
  section { break-inside: avoid-page; }
}
"""


def table(frame: pd.DataFrame, *, numeric: Iterable[str] = (), caption: str | None = None) -> str:
    """``frame`` (already formatted as text) as an HTML table: headers in words, the ``numeric``
    columns right-aligned, everything escaped; a wrapper scrolls it sideways on a small screen."""
    if frame.empty:
        return "<p class='note'>None.</p>"
    right = set(numeric)
    heads = "".join(f"<th{_num(c, right)}>{html.escape(header(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>"
        + "".join(_cell(c, v, right, first=i == 0) for i, (c, v) in enumerate(zip(frame.columns, row, strict=True)))
        + "</tr>"
        for row in frame.itertuples(index=False, name=None)
    )
    cap = f"<caption class='note'>{html.escape(caption)}</caption>" if caption else ""
    return f"<div class='scroll'><table>{cap}<thead><tr>{heads}</tr></thead><tbody>{body}</tbody></table></div>"


def _cell(column: object, value: object, right: set[str], *, first: bool) -> str:
    text = html.escape(_text(value))
    title = f" title='{text}'" if first and len(text) > 30 else ""  # the whole of a name cut short on screen
    return f"<td{_num(column, right)}{title}>{text}</td>"


def _num(column: object, right: set[str]) -> str:
    return " class='num'" if column in right else ""


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value)


def section(heading: str, *parts: str) -> str:
    """A titled section of the page."""
    return f"<section><h2>{html.escape(heading)}</h2>\n" + "\n".join(parts) + "</section>"


PHONE_INCHES = 5.0
"""The width charts are drawn again at for phones: shrunk from 9 inches their text would be 4 px."""


def image(figure: Any, alt: str) -> str:
    """A chart as embedded PNGs (no file, no URL): drawn for a wide screen and, laid out again
    5 inches wide, for a phone; the browser picks by the width of the screen."""
    wide = _png(figure)
    width, height = figure.get_size_inches()
    figure.set_size_inches(PHONE_INCHES, height)
    narrow = _png(figure)
    figure.set_size_inches(width, height)
    return (
        f"<picture><source media='(max-width: 600px)' srcset='data:image/png;base64,{narrow}'>"
        f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{wide}'></picture>"
    )


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    # No metadata: matplotlib would otherwise stamp its own URL into the file.
    figure.savefig(buffer, format="png", dpi=96, metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode()


def cards(items: Iterable[tuple[str, str, str, str, str, object]]) -> str:
    """Headline cards: ``(kind, key, label, value, more, raw)``; ``data-kpi``/``data-value``
    carry the key and the raw number, for tests and scrapers."""
    out = []
    for kind, key, label, value, more, raw in items:
        out.append(
            f"<div class='card {kind}' data-kpi='{html.escape(key)}' data-value='{html.escape(_text(raw))}'>"
            f"<div class='label'>{html.escape(label)}</div><div class='value'>{html.escape(value)}</div>"
            f"<div class='more'>{more}</div></div>"
        )
    return "<div class='cards'>" + "".join(out) + "</div>"


def page(title: str, sections: Iterable[str]) -> str:
    """The whole self-contained document."""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>\n"
        + "\n".join(sections)
        + "\n</body></html>\n"
    )
