"""Options checked at the door: a wrong type or value raises the tree's error naming the option.

A count given as ``"3"`` or ``2.5``, or a timeout given as ``"x"``, would otherwise fail
later, far from the call, with a comparison's ``TypeError`` (or not at all: ``2.5`` failures).
"""

from __future__ import annotations

import math
import numbers
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from .errors import ConfigError, SmsdataError

__all__ = ["at_least", "frame_of", "known_zone", "positive", "series_of"]


def at_least(value: object, name: str, minimum: int = 1, *, error: type[SmsdataError] = ConfigError) -> int:
    """``value`` as an int: a whole number of at least ``minimum``; ``name`` is the option's.

    Raises:
        ConfigError (or ``error``): not a whole number (text, a float, a bool) or below ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise error(f"{name} must be a whole number, not {value!r}")
    if value < minimum:
        raise error(f"{name} must be at least {minimum}, not {value!r}")
    return int(value)


def positive(value: object, name: str, *, zero: bool = False, error: type[SmsdataError] = ConfigError) -> float:
    """``value`` as a float: a finite number above 0 (or 0 too, with ``zero``); ``name`` is the option's.

    Raises:
        ConfigError (or ``error``): not a number (text, a bool), not finite, or too small.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise error(f"{name} must be a number, not {value!r}")
    if value < 0 or (value == 0 and not zero):
        raise error(f"{name} must be {'0 or more' if zero else 'above 0'}, not {value!r}")
    return float(value)


def series_of(values: object, name: str) -> pd.Series:
    """``values`` as a Series: a Series as it is, a list, tuple or array as a new one.

    Raises:
        TypeError: ``values`` is one value (``None``, a string, a number), not a sequence of them.
    """
    if isinstance(values, pd.Series):
        return values
    if isinstance(values, str | bytes) or not pd.api.types.is_list_like(values):
        raise TypeError(f"{name} must be a Series or a list of values, not {type(values).__name__}")
    return pd.Series(values, dtype=object)


def frame_of(df: object, *, error: type[Exception]) -> pd.DataFrame:
    """``df``, checked to be a pandas DataFrame.

    Raises:
        ``error`` (the caller's class in the tree): it is not one.
    """
    if not isinstance(df, pd.DataFrame):
        raise error(f"df must be a pandas DataFrame, not {type(df).__name__}")
    return df


def known_zone(value: object, name: str, *, error: type[SmsdataError] = ConfigError) -> str:
    """``value``, an IANA time zone name (``"Asia/Shanghai"``); ``name`` is the option's.

    Raises:
        ConfigError (or ``error``): not text, or no zone of that name.
    """
    try:
        ZoneInfo(value)  # type: ignore[arg-type]
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise error(f"{name}={value!r} is not a known time zone") from exc
    return str(value)
