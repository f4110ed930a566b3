"""Message content: length as the gateway counts it, and segments.

The gateway counts every character as 1 (a Chinese character, a letter, an
emoji alike) and takes at most 268. Carriers bill per segment: a message of
up to 70 characters is one segment; a longer one is split into segments of
67 characters (the rest of each carries the concatenation header).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["MULTI_SEGMENT", "SINGLE_SEGMENT", "count_segments"]

SINGLE_SEGMENT = 70
MULTI_SEGMENT = 67


def count_segments(
    length: int | pd.Series,
    *,
    single: int = SINGLE_SEGMENT,
    multi: int = MULTI_SEGMENT,
) -> int | pd.Series:
    """Segments billed for messages of ``length`` characters (an int or a Series of ints).

    0 characters is 0 segments; up to ``single`` is 1; beyond, ``ceil(length / multi)``.

    >>> count_segments(70), count_segments(71), count_segments(134), count_segments(135)
    (1, 2, 2, 3)
    """
    if single < 1 or multi < 1 or multi > single:
        raise ValueError(f"need 1 <= multi <= single, got single={single}, multi={multi}")
    if isinstance(length, pd.Series):
        values = length.to_numpy(dtype=np.int64)
        segments = np.where(values <= single, (values > 0).astype(np.int64), -(-values // multi))
        return pd.Series(segments, index=length.index, name="segments")
    if length <= 0:
        return 0
    return 1 if length <= single else -(-length // multi)
