"""Progress bars that show where someone watches and stay out of logs.

A bar is drawn in a terminal (tqdm) and in Jupyter (tqdm's notebook
widget); when stderr is a file or a pipe (cron, CI, ``2> log``) it is off:
a log gets the run's summary, not a hundred carriage-return redraws.
"""

from __future__ import annotations

import sys
from typing import Any


def progress_bar(*, total: float, desc: str, unit: str, enabled: bool = True, **options: Any) -> Any:
    """A tqdm bar of ``total`` ``unit``s, off unless ``enabled`` and someone can see it."""
    from tqdm.auto import tqdm

    shown = enabled and (in_notebook() or _stderr_is_terminal())
    return tqdm(total=total, desc=desc, unit=unit, disable=not shown, **options)


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (the test tqdm.autonotebook makes)."""
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return bool(shell) and "IPKernelApp" in getattr(shell, "config", {})


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False
