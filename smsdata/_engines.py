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

import functools
import os
import tempfile
import uuid
import warnings
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
    "OUT_OF_CORE_MEMORY",
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
    "spark_sql",
    "table_folder",
    "tables",
]

Source = Any
"""A KPI input: a pandas DataFrame, a path to warehouse Parquet, or a Spark DataFrame."""

_TIMES = ("sent_at", "report_time")
OUT_OF_CORE_MEMORY = "1GB"
"""DuckDB's memory limit for a KPI over warehouse paths: past it, joins and aggregations spill
to a temporary folder, so a year of reports runs in bounded memory on a laptop."""


class Tables(Protocol):
    """``sends`` and ``reports`` opened in one engine."""

    def columns(self, table: str) -> list[str]:
        """The columns ``table`` (``"sends"`` or ``"reports"``) has."""

    def query(self, sql: str, params: dict[str, Any]) -> pd.DataFrame:
        """Run one KPI query (DuckDB dialect, ``$name`` parameters); the result as pandas."""


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
    base = _unwrapped(source)
    both = where if base.where == "true" else f"({base.where}) AND ({where})"
    return Selected(base.source, both, base.computed + computed, base.uses + uses)


def _unwrapped(source: Source) -> Selected:
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
    wanted = {"sends": _Wanted(sends_columns, optional), "reports": _Wanted(reports_columns)}
    given = {"sends": sends, "reports": reports} if reports is not None else {"sends": sends}
    engine = _Spark if "spark" in {kind(source) for source in given.values()} else _DuckDB
    opened = engine(given, wanted)
    try:
        yield opened
    finally:
        opened.close()


class _Wanted:
    """The columns a KPI reads from one table: ``required`` ones, and ``optional`` ones when present."""

    def __init__(self, required: Sequence[str], optional: Sequence[str] = ()) -> None:
        self.required = list(dict.fromkeys(required))
        self.optional = [c for c in dict.fromkeys(optional) if c not in self.required]

    def of(self, have: Sequence[str], name: str) -> list[str]:
        """The columns to read from a table that has ``have``; raises KpiError naming what is missing."""
        require(self.required, have, name)
        return self.required + [c for c in self.optional if c in have]


def _view_sql(table: str, selected: Selected, columns: Sequence[str]) -> str:
    """The view ``table`` over ``{table}_all``: the selected rows, computed columns replaced."""
    computed = dict(selected.computed)
    listed = ", ".join(f"{computed[c]} AS {quote_name(c)}" if c in computed else quote_name(c) for c in columns)
    return f"CREATE TEMP VIEW {table} AS SELECT {listed} FROM {table}_all WHERE {selected.where}"  # noqa: S608


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
    if any(c in str(folder) for c in _GLOB):
        raise KpiError(
            f"cannot read the warehouse at {str(path)!r}: DuckDB and Spark read {' '.join(_GLOB)} in a path as a "
            "pattern (it could match other folders); move it to a folder without them"
        )
    inside = folder / table
    if inside.is_dir() and not any(folder.glob("*.parquet")) and not any(folder.glob("date=*")):
        folder = inside
    if not folder.is_dir() or next(folder.rglob("*.parquet"), None) is None:
        hint = " (run sync_sends(dataset) to put the ledger's sends there)" if table == "sends" else ""
        raise KpiError(f"no Parquet files of {table} under {str(path)!r}{hint}")
    return folder


_GLOB = ("*", "?", "[", "]", "{", "}", "\\")


def _parquet_sql(folder: Path) -> str:
    glob = str(folder / "**" / "*.parquet").replace("'", "''")
    return f"read_parquet('{glob}', hive_partitioning = true, union_by_name = true)"


def _with(columns: Sequence[str], uses: Sequence[str], have: Sequence[str]) -> list[str]:
    """``columns`` and the ``uses`` of a selection that the table has."""
    return list(dict.fromkeys([*columns, *(c for c in uses if c in have)]))


def _time_sql(name: str, sql_type: str) -> str:
    """A time column of Parquet as UTC microseconds, as :func:`utc_us` makes a frame's: naive is UTC
    (the session's zone), nanoseconds are cut to the microsecond (not rounded)."""
    column = quote_name(name)
    if "_NS" in sql_type.upper():
        column = f"make_timestamp(epoch_ns({column}) // 1000)"
    return f"CAST({column} AS TIMESTAMPTZ) AS {quote_name(name)}"


def quote_name(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _arrow(frame: pd.DataFrame, columns: Sequence[str]) -> pa.Table:
    """The columns as Arrow; times as UTC microseconds whatever their resolution or zone.

    An object column with no values (empty, or all missing: pandas 2's text) has no type
    to infer; it becomes text, as a ``str`` column (pandas 3's text) does.
    """
    picked = frame[list(columns)]
    times = [c for c in _TIMES if c in picked.columns]
    if times:
        picked = picked.assign(**{c: utc_us(picked[c], c) for c in times})
    table = pa.Table.from_pandas(picked, preserve_index=False).replace_schema_metadata(None)
    untyped = [i for i, field in enumerate(table.schema) if pa.types.is_null(field.type)]
    for i in untyped:
        table = table.set_column(i, table.field(i).name, table.column(i).cast(pa.string()))
    return table


# ------------------------------------------------------------------ DuckDB


class _DuckDB:
    """Both tables in an in-process DuckDB: frames as Arrow, paths as views over their Parquet."""

    def __init__(self, given: dict[str, Source], wanted: dict[str, _Wanted]) -> None:
        from ._duck import connect

        self._spill: tempfile.TemporaryDirectory[str] | None = None
        if any(kind(source) == "path" for source in given.values()):
            # out of core: a bounded working set, the rest spilled to a folder of our own
            self._spill = tempfile.TemporaryDirectory(prefix="smsdata-duckdb-")
            self._con = connect(
                memory_limit=OUT_OF_CORE_MEMORY, temp_directory=self._spill.name, preserve_insertion_order=False
            )
        else:
            self._con = connect()
        self._columns: dict[str, list[str]] = {}
        try:
            for table, source in given.items():
                self._open(table, source, wanted[table])
        except BaseException:
            self.close()
            raise

    def _open(self, table: str, source: Source, wanted: _Wanted) -> None:
        selected = _unwrapped(source)
        columns = self._open_all(table, selected.source, wanted, selected.uses)
        self._con.execute(_view_sql(table, selected, columns))

    def _open_all(self, table: str, source: Source, wanted: _Wanted, uses: Sequence[str]) -> list[str]:
        """Register ``{table}_all``; return the columns the KPI reads."""
        if isinstance(source, pd.DataFrame):
            self._columns[table] = [str(c) for c in source.columns]
            columns = wanted.of(self._columns[table], table)
            self._con.register(f"{table}_all", _arrow(source, _with(columns, uses, self._columns[table])))
            return columns
        import duckdb

        parquet = _parquet_sql(table_folder(source, table))
        try:
            described = self._con.execute(f"DESCRIBE SELECT * FROM {parquet}").fetchall()  # noqa: S608 (our quoting)
        except duckdb.Error as exc:
            raise KpiError(f"cannot read the Parquet files of {table} under {str(source)!r}: {exc}") from exc
        self._columns[table] = [row[0] for row in described]
        types = {row[0]: row[1] for row in described}
        columns = wanted.of(self._columns[table], f"{table} at {str(source)!r}")
        read = _with(columns, uses, self._columns[table])
        listed = ", ".join(_time_sql(c, types[c]) if c in _TIMES else quote_name(c) for c in read)
        self._con.execute(f"CREATE VIEW {table}_all AS SELECT {listed} FROM {parquet}")  # noqa: S608
        return columns

    def columns(self, table: str) -> list[str]:
        return self._columns[table]

    def query(self, sql: str, params: dict[str, Any]) -> pd.DataFrame:
        # DuckDB refuses named parameters a query does not use: bind only the ones it names.
        import duckdb

        bound = {k: v for k, v in params.items() if f"${k}" in sql}
        try:
            return self._con.sql(sql, params=bound or None).to_arrow_table().to_pandas()  # text comes back as str
        except (duckdb.IOException, duckdb.InvalidInputException) as exc:  # a Parquet file damaged or removed
            raise KpiError(f"cannot read the warehouse: {exc}") from exc

    def close(self) -> None:
        self._con.close()
        if self._spill is not None:
            self._spill.cleanup()


# ------------------------------------------------------------------ Spark


class _Spark:
    """Both tables as temporary views of one Spark session; queries translated to Spark SQL.

    The session's time zone is UTC while a KPI runs (local days and hours are
    computed from UTC instants explicitly) and is put back afterwards.
    """

    def __init__(self, given: dict[str, Source], wanted: dict[str, _Wanted]) -> None:
        session = next(_unwrapped(s).source.sparkSession for s in given.values() if kind(s) == "spark")
        self._session = session
        self._views: dict[str, str] = {}
        self._columns: dict[str, list[str]] = {}
        self._zone = session.conf.get("spark.sql.session.timeZone")
        session.conf.set("spark.sql.session.timeZone", "UTC")
        try:
            selections = {table: _unwrapped(source) for table, source in given.items()}
            read: dict[str, list[str]] = {}
            for table, selected in selections.items():
                frame = self._frame(table, selected.source)
                self._columns[table] = list(frame.columns)
                read[table] = wanted[table].of(self._columns[table], table)
                base = f"smsdata_{table}_all_{uuid.uuid4().hex}"
                frame.select(*_with(read[table], selected.uses, self._columns[table])).createOrReplaceTempView(base)
                self._views[f"{table}_all"] = base
            for table, selected in selections.items():  # the views may read either base
                self._views[table] = f"smsdata_{table}_{uuid.uuid4().hex}"
                self._session.sql(spark_sql(_view_sql(table, selected, read[table]), self._renames()))
        except BaseException:
            self.close()
            raise

    def _frame(self, table: str, source: Source) -> Any:
        if kind(source) == "spark":
            return source
        if isinstance(source, pd.DataFrame):
            with _quiet_pyspark():
                return self._session.createDataFrame(_arrow(source, list(source.columns)))
        folder = table_folder(source, table)
        with _spark_errors():
            return self._session.read.option("mergeSchema", "true").parquet(str(folder))

    def _renames(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(self._views.items()))

    def columns(self, table: str) -> list[str]:
        return self._columns[table]

    def query(self, sql: str, params: dict[str, Any]) -> pd.DataFrame:
        text = spark_sql(sql, self._renames())
        used = {k: v for k, v in params.items() if f":{k}" in text}
        with _quiet_pyspark(), _spark_errors():
            return self._session.sql(text, args=used or None).toPandas()

    def close(self) -> None:
        catalog = self._session.catalog
        for view in self._views.values():
            catalog.dropTempView(view)
        self._session.conf.set("spark.sql.session.timeZone", self._zone)


@contextmanager
def _spark_errors() -> Iterator[None]:
    """Spark's failures to read the inputs as a KpiError that says what (the first line of Spark's)."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    try:
        yield
    except (PySparkException, Py4JJavaError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = " (Spark reads no nanosecond timestamps: write microseconds)" if "NANOS" in str(exc) else ""
        raise KpiError(f"Spark could not compute the KPI: {first}{hint}") from exc


@contextmanager
def _quiet_pyspark() -> Iterator[None]:
    # pyspark 4 warns on every conversion that it "does not yet fully support pandas >= 3", and
    # its Arrow conversion calls pandas in ways pandas 3 deprecates: nothing a user can act on.
    # A KPI's result is a few plain columns, checked equal to DuckDB's by the tests.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"pyspark\.")
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"pyspark\.")
        yield


@functools.lru_cache(maxsize=256)
def spark_sql(sql: str, views: tuple[tuple[str, str], ...] = ()) -> str:
    """A KPI query in DuckDB's dialect as Spark SQL, ``sends``/``reports`` renamed to ``views``.

    sqlglot does the translation (``DISTINCT ON`` becomes a window, ``$x`` a
    ``:x`` marker...); the few DuckDB functions it passes through unchanged are
    mapped to their Spark equivalents here: ``epoch_us`` is ``unix_micros``,
    ``timezone(zone, t)`` is ``from_utc_timestamp(t, zone)``, ``quantile_cont``
    with a list is the exact ``percentile`` with an array, and a tuple ordering
    ``arg_max`` is a struct.
    """
    import sqlglot
    from sqlglot import exp

    renames = dict(views)

    def translate(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and node.name in renames and not node.args.get("db"):
            return exp.Table(this=exp.to_identifier(renames[node.name]), alias=node.args.get("alias"))
        if isinstance(node, exp.Anonymous):
            name = node.name.lower()
            if name == "epoch_us":
                return exp.Anonymous(this="unix_micros", expressions=node.expressions)
            if name == "timezone":
                zone, moment = node.expressions
                return exp.Anonymous(this="from_utc_timestamp", expressions=[moment, zone])
        if isinstance(node, exp.PercentileCont) and isinstance(node.expression, exp.Array):
            return exp.Anonymous(this="percentile", expressions=[node.this, node.expression])
        if isinstance(node, exp.Tuple) and isinstance(node.parent, exp.ArgMax | exp.ArgMin):
            return exp.Struct(expressions=node.expressions)
        return node

    tree = sqlglot.parse_one(sql, read="duckdb")
    for node in list(tree.walk()):  # every node, nested calls too (a transform stops at a replaced node)
        new = translate(node)
        if new is not node:
            node.replace(new)
    return tree.sql(dialect="spark")
