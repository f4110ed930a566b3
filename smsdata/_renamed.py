"""Renamed keywords: the old name keeps working for one release, with a DeprecationWarning.

>>> @renamed(values="mobiles")
... def count(mobiles: list[str]) -> int:
...     return len(mobiles)
>>> import warnings
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     count(values=["13800138000"]), str(caught[0].message)
(1, 'count(values=...) is deprecated: use count(mobiles=...); values= goes in the next release')
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def renamed(**old_to_new: str) -> Callable[[F], F]:
    """Accept each old keyword as its new name, warning once per call; both at once is a TypeError."""

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in old_to_new.items():
                if old not in kwargs:
                    continue
                if new in kwargs:
                    raise TypeError(f"{function.__name__}() got both {old}= (its old name) and {new}=")
                warnings.warn(
                    f"{function.__name__}({old}=...) is deprecated: use {function.__name__}({new}=...); "
                    f"{old}= goes in the next release",
                    DeprecationWarning,
                    stacklevel=2,
                )
                kwargs[new] = kwargs.pop(old)
            return function(*args, **kwargs)

        wrapper.__renamed__ = dict(old_to_new)  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate
