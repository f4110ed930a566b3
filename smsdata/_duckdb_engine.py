"""The DuckDB engine: KPIs over pandas frames (as Arrow) or warehouse Parquet, in process.

Frames are registered as Arrow, times in UTC microseconds. Paths are views over
their Parquet files, read out of core: DuckDB works within
:data:`OUT_OF_CORE_MEMORY` and spills to a temporary folder of
its own, and past :data:`ROWS_PER_PASS` rows the recipients are
worked out in passes (:meth:`DuckDBTables.query_over`). The passes need free
space in that folder (under ``TMPDIR``) of about the size of the columns the KPI
reads, as Parquet; a full disk is a :class:`~smsdata.errors.KpiError` saying so.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from ._engines import (
    TIMES,
    Source,
    Wanted,
    arrow_table,
    columns_with,
    inline_sql,
    kind,
    parquet_sql,
    quote_name,
    table_folder,
    time_sql,
    unwrapped,
    view_sql,
)
from .errors import KpiError

__all__ = ["OUT_OF_CORE_MEMORY", "ROWS_PER_PASS", "DuckDBTables"]

OUT_OF_CORE_MEMORY = "1GB"
"""DuckDB's memory limit for a KPI over warehouse paths: past it, joins and aggregations spill
to a temporary folder, so a year of reports runs in bounded memory on a laptop."""
ROWS_PER_PASS = 5_000_000
"""Out of core, the recipients (one row per msgid and number) are worked out in passes over
about this many rows of the larger table each, split by a hash of the msgid, and kept on disk:
DuckDB cannot spill a hash aggregation of string keys far past its memory limit (at 100M
recipients it fails under 1.5 GB). A pass of 20M fits in 1 GB but spills its join; passes of
5M do not, and take 100M + 100M rows in 105 s where passes of 20M took 135 s. A recipient's
sends and reports share its msgid, so each pass holds whole recipients."""


_REGROUPED = "smsdata_regrouped"
"""The column a pass's rows are split again by (never one of a stage's: those are ours)."""


def _kpi_error(exc: Exception) -> KpiError:
    """DuckDB's failure as a KpiError that says what went wrong (its first line)."""
    import duckdb

    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, duckdb.OutOfMemoryException):
        return KpiError(f"out of memory ({OUT_OF_CORE_MEMORY} out of core): {first}")
    if "no space left" in first.lower():  # the spill folder (TMPDIR) is full
        return KpiError(f"no space left for the out-of-core work in {tempfile.gettempdir()!r} (TMPDIR): {first}")
    if isinstance(exc, duckdb.IOException | duckdb.InvalidInputException):  # a file damaged or removed
        return KpiError(f"cannot read the warehouse: {first}")
    if isinstance(exc, duckdb.ConversionException | duckdb.BinderException):  # a column of the wrong type
        return KpiError(f"a column holds values of the wrong type: {first}")
    return KpiError(f"the KPI query failed in DuckDB: {first}")


@contextmanager
def _as_kpi_errors() -> Iterator[None]:
    """Turn DuckDB's failures into KpiErrors (:func:`_kpi_error`)."""
    import duckdb

    try:
        yield
    except duckdb.Error as exc:
        raise _kpi_error(exc) from exc


def _bound(sql: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """The named parameters ``sql`` uses: DuckDB refuses the ones a statement does not name."""
    return {k: v for k, v in params.items() if f"${k}" in sql} or None


def _literal(path: Path) -> str:
    """``path`` as an SQL string literal (a TMPDIR may hold a quote)."""
    return "'" + str(path).replace("'", "''") + "'"


def _free_name(name: str, taken: Sequence[str]) -> str:
    """``name``, or ``name`` with underscores after it, so it is none of ``taken``."""
    while name in taken:
        name += "_"
    return name


def _scans_as_is(frame: pd.DataFrame) -> bool:
    """Whether DuckDB reads ``frame`` as it is: text held by Arrow, numbers, and times already
    UTC microseconds. Then it is registered without a copy to Arrow (0.2 s of a 10M-row KPI);
    anything else (object columns, other time units or zones) goes through :func:`arrow_table`."""
    for name, dtype in frame.dtypes.items():
        if name in TIMES:
            if not (isinstance(dtype, pd.DatetimeTZDtype) and dtype.unit == "us" and str(dtype.tz) == "UTC"):
                return False
        elif not (
            (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow")
            or (pd.api.types.is_numeric_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype))
        ):
            return False
    return True


class DuckDBTables:
    """Both tables in an in-process DuckDB: frames as Arrow, paths as views over their Parquet."""

    def __init__(self, given: dict[str, Source], wanted: dict[str, Wanted]) -> None:
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

    def _open(self, table: str, source: Source, wanted: Wanted) -> None:
        selected = unwrapped(source)
        columns = self._open_all(table, selected.source, wanted, selected.uses)
        self._execute(view_sql(table, selected, columns, name=f"{table}_whole"))
        self._point(table, f"{table}_whole")

    def _open_all(self, table: str, source: Source, wanted: Wanted, uses: Sequence[str]) -> list[str]:
        """Register ``{table}_all``; return the columns the KPI reads."""
        if isinstance(source, pd.DataFrame):
            self._columns[table] = [str(c) for c in source.columns]
            columns = wanted.of(self._columns[table], table)
            picked = source[columns_with(columns, uses, self._columns[table])]
            self._con.register(f"{table}_all", picked if _scans_as_is(picked) else arrow_table(picked, picked.columns))
            return columns
        import duckdb

        folder = table_folder(source, table)
        try:
            # a date column of the files' own (Date too) is theirs: the date= folders would hide it
            # (DuckDB 2) or clash with it (DuckDB 1.1); else the folders give one
            own = self._con.execute(f"DESCRIBE SELECT * FROM {parquet_sql(folder, hive=False)}").fetchall()  # noqa: S608
            hive = not any(row[0].casefold() == "date" for row in own)
            parquet = parquet_sql(folder, hive=hive)
            described = self._con.execute(f"DESCRIBE SELECT * FROM {parquet}").fetchall() if hive else own  # noqa: S608
        except duckdb.Error as exc:
            raise KpiError(f"cannot read the Parquet files of {table} under {str(source)!r}: {exc}") from exc
        self._columns[table] = [row[0] for row in described]
        types = {row[0]: row[1] for row in described}
        columns = wanted.of(self._columns[table], f"{table} at {str(source)!r}")
        read = columns_with(columns, uses, self._columns[table])
        listed = ", ".join(time_sql(c, types[c]) if c in TIMES else quote_name(c) for c in read)
        self._execute(f"CREATE VIEW {table}_all AS SELECT {listed} FROM {parquet}")  # noqa: S608
        return columns

    def columns(self, table: str) -> list[str]:
        return self._columns[table]

    def query(self, sql: str, params: dict[str, Any]) -> pd.DataFrame:
        with _as_kpi_errors():
            return self._con.sql(sql, params=_bound(sql, params)).to_arrow_table().to_pandas()  # text comes back as str

    def _execute(self, sql: str, params: dict[str, Any] | None = None) -> None:
        """Execute a statement that returns nothing (a view, a pass written to disk)."""
        with _as_kpi_errors():
            self._con.execute(sql, _bound(sql, params or {})).fetchall()  # DuckDB wants every result read

    def _point(self, table: str, source_sql: str) -> None:
        """Point the view ``table``, which the KPIs read, at ``source_sql`` (its whole input or a pass's share)."""
        self._execute(f"CREATE OR REPLACE TEMP VIEW {table} AS SELECT * FROM {source_sql}")  # noqa: S608 (our SQL)

    @contextmanager
    def _pointing(self, sources: dict[str, str]) -> Iterator[None]:
        """The tables pointed at ``sources`` (a pass's share...) for the block, at their whole input after."""
        try:
            for table, source in sources.items():
                self._point(table, source)
            yield
        finally:
            for table in sources:
                self._point(table, f"{table}_whole")

    def query_over(
        self,
        name: str,
        stage: str,
        sql: str,
        params: dict[str, Any],
        *,
        sql_in_passes: str | None = None,
        regroup_by: str | None = None,
    ) -> pd.DataFrame:
        rows = self._row_counts()
        passes = 1 if rows is None else max(1, -(-max(rows.values()) // ROWS_PER_PASS))
        if passes == 1:
            return self.query(inline_sql(name, stage, sql), params)
        assert self._spill is not None  # passes only out of core
        folder = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self._spill.name))
        keys = self._share_keys(rows)
        shares = {table: self._split(table, passes, folder, keys[table]) for table in ("sends", "reports")}
        for part in range(passes):
            with self._pointing({table: shares[table][part] for table in ("sends", "reports")}):
                self._execute(self._copy_sql(stage, folder / f"{name}-{part}", passes, regroup_by), params)
        if regroup_by is None:
            self._point(name, f"read_parquet({_literal(folder / f'{name}-*.parquet')})")
            return self.query(sql_in_passes or sql, params)
        return self._regrouped(name, stage, sql_in_passes or sql, params, folder, passes)

    @staticmethod
    def _copy_sql(stage: str, out: Path, passes: int, regroup_by: str | None) -> str:
        """The COPY writing one pass of ``stage`` to ``out``.parquet, or with ``regroup_by`` to the
        folder ``out``, split again by a hash of that column."""
        if regroup_by is None:
            return f"COPY ({stage}) TO {_literal(out.with_suffix('.parquet'))} (FORMAT parquet)"
        key = f"hash(CAST({quote_name(regroup_by)} AS VARCHAR)) % {passes}"
        split = f"SELECT *, {key} AS {_REGROUPED} FROM ({stage})"  # noqa: S608 (our SQL)
        return f"COPY ({split}) TO {_literal(out)} (FORMAT parquet, PARTITION_BY ({_REGROUPED}))"

    def _regrouped(
        self, name: str, stage: str, sql: str, params: dict[str, Any], folder: Path, passes: int
    ) -> pd.DataFrame:
        """``sql`` once per share of the passes' rows (split by the regrouping column), stacked."""
        found = []
        for part in range(passes):
            files = sorted(folder.glob(f"{name}-*/{_REGROUPED}={part}/*.parquet"))
            if files:
                listed = ", ".join(_literal(file) for file in files)
                self._point(name, f"read_parquet([{listed}], hive_partitioning = false)")
                found.append(self.query(sql, params))
        if found:
            return pd.concat(found, ignore_index=True) if len(found) > 1 else found[0]
        # no rows at all: the query over empty tables gives the columns
        with self._pointing({table: f"(SELECT * FROM {table}_whole LIMIT 0)" for table in ("sends", "reports")}):  # noqa: S608
            return self.query(inline_sql(name, stage, sql), params)

    def _share_keys(self, rows: dict[str, int]) -> dict[str, str]:
        """The msgid of each table as the passes hash it: as the join compares it, so rows the join
        matches fall in the same share (a collision of others is harmless).

        Stored alike, as it is. Text against a number is cast to the number's type, as DuckDB's
        join casts it ('0101' and '101.4' meet 101; text that is no number fails, as the join
        does). Two number types meet in the type a UNION of them takes."""
        types = {
            table: self._con.execute(f"DESCRIBE SELECT msgid FROM {table}_whole").fetchall()[0][1]  # noqa: S608
            for table in ("sends", "reports")
        }
        if types["sends"] == types["reports"] or 0 in rows.values():  # an empty table meets nothing
            return dict.fromkeys(types, "msgid")
        if "VARCHAR" in types.values():
            common = next(kind for kind in types.values() if kind != "VARCHAR")
        else:
            union = " UNION ALL ".join(f"SELECT NULL::{kind} AS msgid" for kind in types.values())
            common = self._con.execute(f"SELECT typeof(msgid) FROM ({union}) LIMIT 1").fetchall()[0][0]  # noqa: S608
        return dict.fromkeys(types, f"CAST(msgid AS {common})")

    def _split(self, table: str, passes: int, folder: Path, key: str) -> list[str]:
        """Write ``table`` (its rows and columns the KPI reads) once to ``folder``, split into
        ``passes`` shares by a hash of the msgid; return the SQL that reads each share.

        One scan and one write (``PARTITION_BY``, streaming), where every pass filtering the whole
        input rescanned all its files: at 100M + 100M rows in five passes, 135 s instead of 369 s.
        The msgid is hashed as ``key`` (:meth:`_share_keys`), so values the join matches share a pass."""
        split = folder / f"{table}-split"
        share_name = _free_name("smsdata_share", self._columns[table])
        column = quote_name(share_name)
        self._execute(
            f"COPY (SELECT *, hash({key}) % {passes} AS {column} FROM {table}_whole) "  # noqa: S608
            f"TO {_literal(split)} (FORMAT parquet, PARTITION_BY ({column}))"
        )
        empty = f"(SELECT * FROM {table}_whole LIMIT 0)"  # noqa: S608 (our names); a share no msgid hashed to has no folder
        return [
            f"read_parquet({_literal(share / '*.parquet')}, hive_partitioning = false)" if share.is_dir() else empty
            for share in (split / f"{share_name}={part}" for part in range(passes))
        ]

    def _row_counts(self) -> dict[str, int] | None:
        """The rows of each table, out of core (the only place of passes); else ``None``: one pass.
        The larger count over ROWS_PER_PASS is the number of passes."""
        if self._spill is None or "reports" not in self._columns:
            return None
        return {t: self._con.sql(f"SELECT count(*) FROM {t}_all").fetchall()[0][0] for t in ("sends", "reports")}  # noqa: S608

    def close(self) -> None:
        self._con.close()
        if self._spill is not None:
            self._spill.cleanup()
