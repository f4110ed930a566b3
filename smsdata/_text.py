"""Spreadsheet and DataFrame columns as text, the way a person reads them."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["column_text"]


def column_text(column: pd.Series) -> pd.Series:
    """Text of a column; integral floats print without ``.0`` (Excel stores 42 as 42.0)."""
    if pd.api.types.is_float_dtype(column):
        values = column.to_numpy(dtype=float, na_value=np.nan)
        integral = np.isfinite(values) & (values == np.round(values)) & (np.abs(values) < 2**53)
        text = column.astype("str").where(
            ~integral, pd.Series(values, index=column.index).round().astype("Int64").astype("str")
        )
        return text.where(column.notna(), pd.NA)
    return column.astype("str").where(column.notna(), pd.NA)
