"""The Spark engine: KPIs in the session of the Spark DataFrames given, translated by sqlglot.

The KPIs' SQL is written in DuckDB's dialect; :func:`spark_sql` translates it
and rewrites the few functions sqlglot passes through unchanged. Only the small
result comes back, as pandas.
"""

from __future__ import annotations

import functools
import uuid
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pandas as pd

from ._engines import Source, Wanted, arrow_table, columns_with, inline_sql, kind, table_folder, unwrapped, view_sql
from .errors import KpiError

__all__ = ["SparkTables", "spark_sql"]


class SparkTables:
    """Both tables as temporary views of one Spark session; queries translated to Spark SQL.

    The session's time zone is UTC while a KPI runs (local days and hours are
    computed from UTC instants explicitly) and is put back afterwards.
    """

    def __init__(self, given: dict[str, Source], wanted: dict[str, Wanted]) -> None:
        session = next(unwrapped(s).source.sparkSession for s in given.values() if kind(s) == "spark")
        self._session = session
        self._views: dict[str, str] = {}
        self._columns: dict[str, list[str]] = {}
        self._zone = session.conf.get("spark.sql.session.timeZone")
        session.conf.set("spark.sql.session.timeZone", "UTC")
        try:
            selections = {table: unwrapped(source) for table, source in given.items()}
            read: dict[str, list[str]] = {}
            for table, selected in selections.items():
                frame = self._frame(table, selected.source)
                self._columns[table] = list(frame.columns)
                read[table] = wanted[table].of(self._columns[table], table)
                base = f"smsdata_{table}_all_{uuid.uuid4().hex}"
                frame.select(*columns_with(read[table], selected.uses, self._columns[table])).createOrReplaceTempView(
                    base
                )
                self._views[f"{table}_all"] = base
            for table, selected in selections.items():  # the views may read either base
                self._views[table] = f"smsdata_{table}_{uuid.uuid4().hex}"
                self._session.sql(spark_sql(view_sql(table, selected, read[table]), self._renames()))
        except BaseException:
            self.close()
            raise

    def _frame(self, table: str, source: Source) -> Any:
        if kind(source) == "spark":
            return source
        if isinstance(source, pd.DataFrame):
            with _quiet_pyspark():
                return self._session.createDataFrame(arrow_table(source, list(source.columns)))
        folder = table_folder(source, table)
        with _spark_errors():
            return self._session.read.option("mergeSchema", "true").parquet(str(folder))

    def _renames(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(self._views.items()))

    def columns(self, table: str) -> list[str]:
        return self._columns[table]

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
        return self.query(inline_sql(name, stage, sql), params)  # Spark spills by itself: never in passes

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
