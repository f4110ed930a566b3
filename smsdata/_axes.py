"""Axes the charts share: figures Jupyter shows by itself, local-time date axes, durations people read.

Kept apart from :mod:`smsdata.charts` so each chart function is only about
what it draws.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ParamSpec, TypeVar
from zoneinfo import ZoneInfo

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator, PercentFormatter

log = logging.getLogger("smsdata.charts")
P = ParamSpec("P")
R = TypeVar("R")

# Groups drawn as their own lines take these: cool colours, none green, red or grey, which mean
# statuses; each with its own dash, so six curves stay apart in print and for colour-blind readers.
GROUP_COLOURS = ["#1565c0", "#7b1fa2", "#00838f", "#0d47a1", "#6a1b9a", "#006064"]
GROUP_DASHES = ["-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (8, 2))]
OVERALL_COLOUR = "#212121"

# Readable duration ticks (seconds, words, tier): the tiers thin them, round ones (tier 1) last to go.
_DURATIONS = [
    (1, "1 s", 1),
    (2, "2 s", 3),
    (5, "5 s", 2),
    (10, "10 s", 1),
    (15, "15 s", 3),
    (20, "20 s", 3),
    (30, "30 s", 2),
    (60, "1 min", 1),
    (120, "2 min", 3),
    (300, "5 min", 2),
    (600, "10 min", 1),
    (900, "15 min", 3),
    (1800, "30 min", 2),
    (3600, "1 h", 1),
    (7200, "2 h", 3),
    (3 * 3600, "3 h", 2),
    (6 * 3600, "6 h", 1),
    (12 * 3600, "12 h", 2),
    (86400, "1 d", 1),
    (3 * 86400, "3 d", 2),
    (7 * 86400, "7 d", 1),
]
_MOST_TICKS = 9


# Fonts with Chinese glyphs, tried after DejaVu Sans (matplotlib's own): Linux, Windows, macOS.
_CJK_FONTS = [
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Hiragino Sans GB",
    "Heiti SC",
    "Arial Unicode MS",
]
_LONGEST_LABEL = 40


@functools.cache
def _families() -> tuple[str, ...]:
    """DejaVu Sans, then the installed Chinese fonts: each glyph comes from the first that has it."""
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    chinese = [name for name in _CJK_FONTS if name in installed]
    if not chinese:
        log.info("no Chinese font found: Chinese text in charts shows as boxes (install fonts-noto-cjk)")
    return ("DejaVu Sans", *chinese)


@contextlib.contextmanager
def chart_style() -> Iterator[None]:
    """Chinese text drawn where a font has it (as boxes, without a warning per glyph, where none does)."""
    with matplotlib.rc_context({"font.family": list(_families())}), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from (current )?font", category=UserWarning)
        yield


def styled(draw: Callable[P, R]) -> Callable[P, R]:
    """Build a chart in :func:`chart_style` (its titles, labels and legends take the fonts)."""

    @functools.wraps(draw)
    def drawing(*args: P.args, **kwargs: P.kwargs) -> R:
        with chart_style():
            return draw(*args, **kwargs)

    return drawing


class ChartFigure(Figure):
    """A matplotlib Figure that Jupyter shows by itself (no pyplot, no ``%matplotlib`` needed), drawn
    in :func:`chart_style` (tick labels are made at drawing time)."""

    def draw(self, renderer: Any) -> None:
        with chart_style():
            super().draw(renderer)

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=96)
        return buffer.getvalue()


def new_axes(ax: Axes | None, width: float = 9.0, height: float = 4.5) -> tuple[Figure, Axes]:
    """``ax`` and its figure, or a new :class:`ChartFigure` of ``width`` x ``height`` inches."""
    if ax is not None:
        return ax.figure, ax  # type: ignore[return-value]
    figure = ChartFigure(figsize=(width, height), layout="constrained")
    return figure, figure.add_subplot()


def say_empty(ax: Axes, message: str) -> None:
    """Write ``message`` where the data would be, with no ticks."""
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="grey")
    ax.set_xticks([])
    ax.set_yticks([])


BLANK = "(blank)"
"""How a missing group value (a customer column left empty) is shown."""


def label(key: Any) -> str:
    """A group key as text to draw: ``"a / b"`` for several columns, ``$`` shown as typed, a
    missing value as ``(blank)``."""
    parts = key if isinstance(key, tuple) else (key,)
    return plain(shortened(" / ".join(BLANK if pd.isna(part) else str(part) for part in parts)))


def shortened(text: str) -> str:
    """``text`` cut to 40 characters with an ellipsis: a long campaign name must not push the plot away."""
    return text if len(text) <= _LONGEST_LABEL else text[: _LONGEST_LABEL - 1] + "…"


def plain(text: str) -> str:
    """``text`` drawn as typed: a ``$`` escaped, so "save $5 or $10" is no mathtext (italics, or
    an error at draw time for a stray ``\\frac``)."""
    return text.replace("$", r"\$")


def labels(frame: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """Each row's key in ``columns`` as text to draw (vectorised :func:`label`)."""
    if frame.empty:
        return pd.Series([], index=frame.index, dtype=object)
    joined = texts(frame[list(columns)]).agg(" / ".join, axis=1).map(shortened)
    return joined.str.replace("$", r"\$", regex=False)


def texts(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell as text, a missing one as ``(blank)``."""
    return frame.astype(object).where(frame.notna(), BLANK).astype(str)


def legend(ax: Axes, n: int, title: str | None = None) -> None:
    """A legend inside for a few entries, outside on the right for many."""
    if n == 0:
        return
    if n <= 8:
        ax.legend(title=title, fontsize="small")
    else:
        ax.legend(title=title, fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0), ncol=math.ceil(n / 25))


def naive_utc(stamps: pd.Series) -> np.ndarray:
    """tz-aware stamps as naive UTC datetime64, what matplotlib's date axis takes without guessing."""
    return stamps.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()


def local_dates(axis: Axis, zone: str) -> None:
    """Date ticks in ``zone``'s local time, as concise as the span allows (``09:00``, ``Nov 23``)."""
    tz = ZoneInfo(zone)
    locator = mdates.AutoDateLocator(tz=tz, minticks=3, maxticks=8)
    axis.set_major_locator(locator)
    axis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=tz))


def fitted_percent(axis: Axis, lows: Sequence[float], highs: Sequence[float], *, least: float = 0.05) -> None:
    """A 0-100% axis cut to the data (with a margin), at least ``least`` wide, so 82-92% differences show."""
    values = [v for v in [*lows, *highs] if np.isfinite(v)]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    margin = max(0.01, 0.08 * (high - low))
    low, high = max(0.0, low - margin), min(1.0, high + margin)
    if high - low < least:
        middle = min(max((low + high) / 2, least / 2), 1 - least / 2)
        low, high = middle - least / 2, middle + least / 2
    getattr(axis.axes, f"set_{axis.axis_name}lim")(low, high)
    axis.set_major_formatter(PercentFormatter(1.0, decimals=None))


def duration_axis(axis: Axis, longest: float, shortest: float = 0.0) -> None:
    """A seconds axis on a log scale with ticks such as ``10 s``, ``1 min``, ``1 h``, fitted to
    ``shortest``..``longest`` seconds; from 0 (linear below 1 s, so 0 has a place) when
    ``shortest`` is under 2 s."""
    top = max(longest, 10.0) * 1.3
    scale, limit = getattr(axis.axes, f"set_{axis.axis_name}scale"), getattr(axis.axes, f"set_{axis.axis_name}lim")
    if np.isfinite(shortest) and shortest >= 2.0:
        bottom = shortest / 1.5
        scale("log")
    else:
        bottom = 0.0
        scale("symlog", linthresh=1.0, linscale=0.3)
    limit(bottom, top)
    shown = [(s, word, tier) for s, word, tier in _DURATIONS if bottom <= s <= top]
    for most in (3, 2, 1):
        ticks = [(s, word) for s, word, tier in shown if tier <= most]
        if len(ticks) <= _MOST_TICKS:
            break
    if bottom == 0.0:
        ticks.insert(0, (0.0, "0"))
    axis.set_major_locator(FixedLocator([s for s, _ in ticks]))
    words = dict(ticks)
    axis.set_major_formatter(FuncFormatter(lambda value, _: words.get(value, "")))
    axis.set_minor_locator(NullLocator())


def duration_words(seconds: float) -> str:
    """``seconds`` as people say it: ``"45 s"``, ``"3 min 20 s"``, ``"2 h 5 min"``, ``"1 d 3 h"``; "" for NaN."""
    if not np.isfinite(seconds):
        return ""
    total = round(seconds)
    if total < 60:
        return f"{seconds:.0f} s" if seconds >= 10 or seconds == total else f"{seconds:.1f} s"
    for unit, word, small, small_word in ((86400, "d", 3600, "h"), (3600, "h", 60, "min"), (60, "min", 1, "s")):
        if total >= unit:
            whole, rest = divmod(total, unit)
            part = rest // small
            return f"{whole} {word} {part} {small_word}" if part else f"{whole} {word}"
    raise AssertionError("unreachable")
