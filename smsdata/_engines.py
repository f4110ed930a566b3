"""Where a KPI runs: DuckDB over pandas frames or warehouse Parquet, or Spark.

Every KPI is one SQL definition, written in DuckDB's dialect over two tables,
``sends`` and ``reports``. :func:`tables` looks at what it was given and
opens the engine for it:

* pandas DataFrames: registered in an in-process DuckDB as Arrow (times
  converted to UTC microseconds whatever their resolution or zone);
* a path (a warehouse table folder such as ``warehouse/reports``, or the
  warehouse itself): a DuckDB view over its Parquet files, read out of core
  (only the columns a KPI uses, streamed; DuckDB spills to disk past its
  memory limit), never materialised in pandas;
* a Spark DataFrame: the SQL is translated to Spark SQL by sqlglot and runs
  in the DataFrame's own session; only the small result comes back, as
  pandas. A pandas frame or a path given beside it is handed to Spark too.

Only the result of a KPI (one row a group) is ever a pandas DataFrame. A
:class:`Selected` input is part of one of these, cut and computed where it
lives (the report's campaign filter, its period before, masked groups).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import pyarrow as pa

from ._times import utc_us
from .errors import KpiError

__all__ = [
    "COST_COLUMNS",
    "Accepted",
    "Selected",
    "Source",
    "Tables",
    "accepted",
    "cost_sql",
    "kind",
    "narrowed",
    "quote_name",
    "require",
    "table_folder",
    "tables",
]

Source = Any
"""A KPI input: a pandas DataFrame, a path to warehouse Parquet, or a Spark DataFrame."""

TIMES = ("sent_at", "report_time")


class Tables(Protocol):
    """``sends`` and ``reports`` opened in one engine."""

    def columns(self, table: str) -> list[str]:
        """The columns ``table`` (``"sends"`` or ``"reports"``) has."""

    def query(self, sql: str, params: dict[str, Any]) -> pd.DataFrame:
        """Run one KPI query (DuckDB dialect, ``$name`` parameters); the result as pandas."""

    def query_over(
        self,
        name: str,
        stage: str,
        sql: str,
        params: dict[str, Any],
        *,
        sql_in_passes: str | None = None,
        regroup_by: str | None = None,
        summed: Sequence[str] = (),
    ) -> pd.DataFrame:
        """Run ``sql`` over the table ``name`` that the query ``stage`` makes, one row per recipient
        (a CTE in one query; out of core, ``stage`` is worked through in passes, see
        :data:`smsdata._duckdb_engine.ROWS_PER_PASS`, and then ``sql_in_passes`` runs instead of
        ``sql`` when given: the same result by steps that spill).

        With ``regroup_by`` (a column of ``stage`` that ``sql`` groups by), the passes' rows are
        split again by that column and ``sql`` runs once per share, its results stacked: their
        order is then not ``sql``'s (the caller sorts).

        With ``summed`` (the columns of ``sql``'s result that are counts, the others its groups),
        each pass runs ``sql`` over its own recipients and the passes' counts are added up by
        group, ordered by the groups as ``sql`` orders them; no recipient is written to disk."""


@dataclass(frozen=True)
class Selected:
    """Part of a KPI input, cut and computed where it lives, never copied out: the rows of
    ``source`` where ``where`` holds, with ``computed`` columns replaced by SQL expressions.

    ``where`` and the expressions are SQL (DuckDB's dialect, translated for Spark) over the
    table's own columns; they may read the other table's whole input as ``sends_all`` or
    ``reports_all``. ``uses`` names the columns they read, beyond those the KPI reads.
    """

    source: Source
    where: str = "true"
    computed: tuple[tuple[str, str], ...] = ()
    uses: tuple[str, ...] = ()


def narrowed(
    source: Source, *, where: str = "true", computed: tuple[tuple[str, str], ...] = (), uses: tuple[str, ...] = ()
) -> Selected:
    """``source`` cut by ``where`` and with ``computed`` columns, on top of any selection it already is."""
    base = unwrapped(source)
    both = where if base.where == "true" else f"({base.where}) AND ({where})"
    return Selected(base.source, both, base.computed + computed, base.uses + uses)


def unwrapped(source: Source) -> Selected:
    return source if isinstance(source, Selected) else Selected(source)


def kind(source: Source) -> str:
    """``"frame"``, ``"path"`` or ``"spark"`` (of a :class:`Selected`'s source); KpiError for anything else."""
    if isinstance(source, Selected):
        return kind(source.source)
    if isinstance(source, pd.DataFrame):
        return "frame"
    if isinstance(source, str | os.PathLike):
        return "path"
    if type(source).__module__.startswith("pyspark.") and hasattr(source, "sparkSession"):
        return "spark"
    raise KpiError(
        f"a KPI input must be a pandas DataFrame, a path to warehouse Parquet or a Spark DataFrame, "
        f"not {type(source).__name__}"
    )


@contextmanager
def tables(
    sends: Source,
    reports: Source | None,
    *,
    sends_columns: Sequence[str],
    reports_columns: Sequence[str],
    optional: Sequence[str] = (),
) -> Iterator[Tables]:
    """``sends`` and ``reports`` opened where they live, with only the columns named
    (and the ``optional`` columns of sends that it has); ``reports=None`` opens sends alone.

    Raises:
        KpiError: an input is of no known kind, a path holds no Parquet, or a column is missing.
    """
    wanted = {"sends": Wanted(sends_columns, optional), "reports": Wanted(reports_columns)}
    given = {"sends": sends, "reports": reports} if reports is not None else {"sends": sends}
    if "spark" in {kind(source) for source in given.values()}:
        from ._spark_engine import SparkTables as engine
    else:
        from ._duckdb_engine import DuckDBTables as engine
    opened = engine(given, wanted)
    try:
        yield opened
    finally:
        opened.close()


class Wanted:
    """The columns a KPI reads from one table: ``required`` ones, and ``optional`` ones when present."""

    def __init__(self, required: Sequence[str], optional: Sequence[str] = ()) -> None:
        self.required = list(dict.fromkeys(required))
        self.optional = [c for c in dict.fromkeys(optional) if c not in self.required]

    def of(self, have: Sequence[str], name: str) -> list[str]:
        """The columns to read from a table that has ``have``; raises KpiError naming what is missing."""
        require(self.required, have, name)
        return self.required + [c for c in self.optional if c in have]


def view_sql(table: str, selected: Selected, columns: Sequence[str], *, name: str | None = None) -> str:
    """The view ``name`` (default ``table``) over ``{table}_all``: the selected rows, computed columns replaced."""
    computed = dict(selected.computed)
    listed = ", ".join(f"{computed[c]} AS {quote_name(c)}" if c in computed else quote_name(c) for c in columns)
    return f"CREATE TEMP VIEW {name or table} AS SELECT {listed} FROM {table}_all WHERE {selected.where}"  # noqa: S608


def inline_sql(name: str, stage: str, sql: str) -> str:
    """``sql`` with ``stage`` as its first CTE, ``name`` (``sql`` may start with WITH)."""
    head, _, rest = sql.lstrip().partition(" ")
    if head.upper() == "WITH":
        return f"WITH {name} AS ({stage}), {rest}"
    return f"WITH {name} AS ({stage}) {sql}"


def require(columns: Sequence[str], have: Sequence[str], name: str) -> None:
    """Raise KpiError naming the ``columns`` that ``have`` lacks."""
    missing = [c for c in columns if c not in have]
    if missing:
        raise KpiError(f"{name} has no column {', '.join(map(repr, missing))} (it has {', '.join(have)})")


COST_COLUMNS = ("segments", "price")
"""The columns of sends :func:`cost_sql` reads when they are there."""


def cost_sql(have: Sequence[str]) -> tuple[str, str]:
    """SQL of a send's segments and price per segment for a table with columns ``have``: frames
    built by hand may have neither (one segment each, one unit per segment)."""
    segments = "segments" if "segments" in have else "1"
    price = "CAST(price AS DOUBLE)" if "price" in have else "1.0"
    return segments, price


@dataclass(frozen=True)
class Accepted:
    """The accepted sends by a moment: ``first`` and ``last`` sent (UTC; NaT when none) and
    their ``spend`` in gateway units (segments x price)."""

    first: pd.Timestamp
    last: pd.Timestamp
    spend: float


def accepted(sends: Source, as_of: pd.Timestamp) -> Accepted:
    """The span and spend of the sends accepted by ``as_of``, counted where ``sends`` lives."""
    with tables(sends, None, sends_columns=["state", "sent_at"], reports_columns=[], optional=COST_COLUMNS) as opened:
        segments, price = cost_sql(opened.columns("sends"))
        found = opened.query(
            f"SELECT min(sent_at) AS first, max(sent_at) AS last, sum({segments} * {price}) AS spend "  # noqa: S608
            "FROM sends WHERE state = 'accepted' AND sent_at <= $as_of",
            {"as_of": as_of.to_pydatetime()},
        )
    first, last = (utc_us(found[c], c).iloc[0] for c in ("first", "last"))
    if pd.isna(first):
        return Accepted(pd.NaT, pd.NaT, 0.0)
    return Accepted(first, last, float(found["spend"].iloc[0]))


# ------------------------------------------------------------------ paths


def table_folder(path: str | os.PathLike[str], table: str) -> Path:
    """The folder of ``table``'s Parquet files: ``path`` itself, or ``path/table`` when ``path`` is the warehouse.

    Raises:
        KpiError: neither holds a Parquet file.
    """
    folder = Path(path)
    if any(c in str(folder) for c in GLOB_CHARACTERS):
        raise KpiError(
            f"cannot read the warehouse at {str(path)!r}: DuckDB and Spark read "
            f"{' '.join(GLOB_CHARACTERS)} in a path as a pattern (it could match other folders); "
            "move it to a folder without them"
        )
    inside = folder / table
    if inside.is_dir() and not any(folder.glob("*.parquet")) and not any(folder.glob("date=*")):
        folder = inside
    if not folder.is_dir() or next(folder.rglob("*.parquet"), None) is None:
        hint = " (run sync_sends(dataset) to put the ledger's sends there)" if table == "sends" else ""
        raise KpiError(f"no Parquet files of {table} under {str(path)!r}{hint}")
    return folder


GLOB_CHARACTERS = ("*", "?", "[", "]", "{", "}", "\\")


def parquet_glob(folder: Path) -> str:
    """The pattern of every Parquet file under ``folder``, as DuckDB reads it."""
    return str(folder / "**" / "*.parquet")


def parquet_sql(folder: Path, *, hive: bool = True) -> str:
    """DuckDB's reading of every Parquet file under ``folder``; with ``hive``, ``date=...`` folders
    give a ``date`` column."""
    glob = parquet_glob(folder).replace("'", "''")
    return f"read_parquet('{glob}', hive_partitioning = {str(hive).lower()}, union_by_name = true)"


def columns_with(columns: Sequence[str], uses: Sequence[str], have: Sequence[str]) -> list[str]:
    """``columns`` and the ``uses`` of a selection that the table has."""
    return list(dict.fromkeys([*columns, *(c for c in uses if c in have)]))


def time_sql(name: str, sql_type: str) -> str:
    """A time column of Parquet as UTC microseconds, as :func:`utc_us` makes a frame's: naive is UTC
    (the session's zone), nanoseconds are cut to the microsecond (not rounded)."""
    column = quote_name(name)
    if "_NS" in sql_type.upper():
        column = f"make_timestamp(epoch_ns({column}) // 1000)"
    return f"CAST({column} AS TIMESTAMPTZ) AS {quote_name(name)}"


def quote_name(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def arrow_table(frame: pd.DataFrame, columns: Sequence[str]) -> pa.Table:
    """The columns as Arrow; times as UTC microseconds whatever their resolution or zone.

    An object column with no values (empty, or all missing: pandas 2's text) has no type
    to infer; it becomes text, as a ``str`` column (pandas 3's text) does.
    """
    picked = frame[list(columns)]
    times = [c for c in TIMES if c in picked.columns]
    table = pa.Table.from_pandas(picked.drop(columns=times), preserve_index=False)
    arrays = {name: _arrow_times(utc_us(picked[name], name)) for name in times}
    for field, values in zip(table.schema, table.columns, strict=True):
        arrays[field.name] = values.cast(pa.string()) if pa.types.is_null(field.type) else values
    return pa.Table.from_arrays([arrays[str(name)] for name in picked.columns], names=[str(n) for n in picked.columns])


def _arrow_times(stamps: pd.Series) -> pa.Array:
    """UTC-microsecond times as Arrow, built from their integers: pyarrow before 19 converts a
    tz-aware column through ``Series.values``, which pandas 3.1 deprecates (a Pandas4Warning)."""
    missing = stamps.isna().to_numpy()
    micros = pa.array(stamps.array.asi8, type=pa.int64(), mask=missing if missing.any() else None)
    return micros.cast(pa.timestamp("us", tz="UTC"))
