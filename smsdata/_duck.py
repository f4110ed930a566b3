"""DuckDB connections set up the way smsdata needs them."""

from __future__ import annotations

from typing import Any


def connect(**settings: Any) -> Any:
    """An in-memory DuckDB connection in UTC, without a progress bar, with extra ``SET name = value``s.

    Raises:
        duckdb.Error: a setting is invalid.
    """
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    try:
        con.execute("SET enable_progress_bar = false")
    except duckdb.InvalidInputException:  # in Jupyter without ipywidgets DuckDB refuses to touch it (and draws none)
        pass
    for name, value in settings.items():
        con.execute(f"SET {name} = ?", [value])
    return con
