"""Message content: length as the gateway counts it, and segments.

The gateway counts every character as 1 (a Chinese character, a letter, an
emoji alike) and takes at most 268. Carriers bill per segment: a message of
up to 70 characters is one segment; a longer one is split into segments of
67 characters (the rest of each carries the concatenation header).
"""

from __future__ import annotations

import numbers
import string

import numpy as np
import pandas as pd

from ._checks import at_least
from ._limits import MULTI_SEGMENT, SINGLE_SEGMENT
from ._renamed import renamed
from ._text import column_text
from .errors import ConfigError, TemplateError

__all__ = ["MULTI_SEGMENT", "SINGLE_SEGMENT", "count_segments", "render_template", "template_fields"]


@renamed(single="single_segment", multi="multi_segment")
def count_segments(
    length: int | pd.Series,
    *,
    single_segment: int = SINGLE_SEGMENT,
    multi_segment: int = MULTI_SEGMENT,
) -> int | pd.Series:
    """Segments billed for messages of ``length`` characters (an int or a Series of ints).

    0 characters is 0 segments; up to ``single_segment`` is 1; beyond,
    ``ceil(length / multi_segment)`` (the names :func:`smsdata.plan_campaign` takes too).

    Returns:
        An int for an int; a Series named ``segments`` on the same index for a Series.

    Raises:
        ConfigError: ``single_segment`` or ``multi_segment`` is not a whole number of at least 1,
            or ``multi_segment`` is over ``single_segment`` (also a ``ValueError``).
        TypeError: ``length`` is not an int, or a Series of them (with none missing).

    >>> count_segments(70), count_segments(71), count_segments(134), count_segments(135)
    (1, 2, 2, 3)
    """
    single, multi = at_least(single_segment, "single_segment"), at_least(multi_segment, "multi_segment")
    if multi > single:
        raise ConfigError(
            f"need 1 <= multi_segment <= single_segment, got single_segment={single}, multi_segment={multi}"
        )
    if isinstance(length, pd.Series):
        if not pd.api.types.is_numeric_dtype(length.dtype) or length.isna().any():
            raise TypeError(f"length must be whole numbers of characters, none missing; the Series is {length.dtype}")
        values = length.to_numpy(dtype=np.int64)
        segments = np.where(values <= single, (values > 0).astype(np.int64), -(-values // multi))
        return pd.Series(segments, index=length.index, name="segments")
    if isinstance(length, bool) or not isinstance(length, numbers.Integral):
        raise TypeError(f"length must be an int (characters) or a Series of them, not {type(length).__name__}")
    if length <= 0:
        return 0
    return 1 if length <= single else -(-length // multi)


def template_fields(template: str) -> list[str]:
    """The column names a template uses, in order, each once.

    Returns:
        The names, as a list (empty for a template without fields).

    Raises:
        TemplateError: the template is malformed, or uses a format spec,
            conversion, index or attribute (format the column first).
        TypeError: ``template`` is not text.

    >>> template_fields("Hi {name}, order {order_id} ({name})")
    ['name', 'order_id']
    """
    fields: list[str] = []
    for _, name, spec, conversion in _parse(template):
        if name is None:
            continue
        if not name or name.isdigit() or spec or conversion or any(c in name for c in ".["):
            raise TemplateError(
                f"template field {{{name}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}} "
                "is not a plain column name: use {column} and format the column in pandas first"
            )
        if name not in fields:
            fields.append(name)
    return fields


def _parse(template: str) -> list[tuple[str, str | None, str | None, str | None]]:
    if not isinstance(template, str):
        raise TypeError(f"template must be text, not {type(template).__name__}")
    try:
        return list(string.Formatter().parse(template))
    except ValueError as exc:
        raise TemplateError(f"malformed template {template!r}: {exc} (write a literal brace as {{{{ or }}}})") from exc


def render_template(df: pd.DataFrame, template: str) -> tuple[pd.Series, pd.Series]:
    """Fill ``template`` from the columns of ``df``, vectorised.

    Returns:
        ``(content, complete)``: the rendered text per row, and whether every
        field the row needs had a value (missing or empty values make it
        ``False``; such rows' content is missing).

    Raises:
        TemplateError: the template is malformed, or a field names no column (before anything is rendered).

    >>> df = pd.DataFrame({"name": ["Li", None]})
    >>> content, complete = render_template(df, "Hi {name}")
    >>> content.fillna("(missing)").tolist(), complete.tolist()
    (['Hi Li', '(missing)'], [True, False])
    """
    fields = template_fields(template)
    missing = [f for f in fields if f not in df.columns]
    if missing:
        raise TemplateError(
            f"template uses column(s) {missing} that the data does not have; columns are {list(df.columns)}"
        )
    complete = pd.Series(True, index=df.index)
    texts = {}
    for name in fields:
        text = column_text(df[name])
        complete &= text.notna() & text.str.strip().ne("")
        texts[name] = text.fillna("")
    content = pd.Series("", index=df.index, dtype="str")
    for literal, name, _, _ in _parse(template):
        if literal:
            content = content + literal
        if name is not None:
            content = content + texts[name]
    return content.where(complete, pd.NA), complete
