"""Interval estimates of proportions, for delivery rates and their differences."""

from __future__ import annotations

from typing import Any

import numpy as np

Z95 = 1.959963984540054
"""The two-sided 95% quantile of the standard normal distribution."""


def wilson_interval(successes: Any, trials: Any, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion (arrays welcome); NaN where ``trials`` is 0.

    >>> wilson_interval(8, 10)
    (array(0.49015...), array(0.94330...))
    """
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        denominator = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denominator
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denominator
    # exact at the ends (0 and 1 are inside), where rounding would leave them out by 1e-16
    low = np.where(k == 0, 0.0, np.clip(centre - half, 0.0, 1.0))
    high = np.where(k == n, 1.0, np.clip(centre + half, 0.0, 1.0))
    nan = n == 0
    return np.where(nan, np.nan, low), np.where(nan, np.nan, high)
