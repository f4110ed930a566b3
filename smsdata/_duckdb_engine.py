"""The DuckDB engine: KPIs over pandas frames (as Arrow) or warehouse Parquet, in process.

Frames are registered as Arrow, times in UTC microseconds. Paths are views over
their Parquet files, read out of core: DuckDB works within
:data:`OUT_OF_CORE_MEMORY` and spills to a temporary folder of
its own, and past :data:`ROWS_PER_PASS` rows the recipients are
worked out in passes (:meth:`DuckDBTables.query_over`), each a share of the
msgids: a range read straight from the files where their statistics show it
cheap, else a share of the tables split by hash into that folder. The split
needs free space there (under ``TMPDIR``) of about the size of the columns the
KPI reads, as Parquet; a full disk is a :class:`~smsdata.errors.KpiError` saying so.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from ._engines import (
    GLOB_CHARACTERS,
    TIMES,
    Source,
    Wanted,
    arrow_table,
    columns_with,
    inline_sql,
    kind,
    parquet_glob,
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
about this many rows of the larger table each, each pass a share of the msgids: DuckDB cannot
spill a hash aggregation of string keys far past its memory limit (at 100M recipients it fails
under 1.5 GB). A pass of 20M fits in 1 GB but spills its join; passes of 5M do not. A
recipient's sends and reports share its msgid, so each pass holds whole recipients."""
RANGE_READS = 4
"""The passes take ranges of msgids when the files' statistics show no pass would read row groups
of more than this many times its share of rows (:meth:`DuckDBTables._range_shares`); else the
tables are split on disk by a hash of the msgid (:meth:`DuckDBTables._split`). Reading a row
again costs about a sixth of writing and reading it split (``delivery_rate`` over 100M + 100M
rows: passes reading 1.94x the rows took 81 s, 1.28x 76 s, the split 106 s), so 4x is still
the faster of the two."""
_WHOLE_NUMBERS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT")
_RANGED_TYPES = frozenset({"VARCHAR", *_WHOLE_NUMBERS, *(f"U{kind}" for kind in _WHOLE_NUMBERS)})
"""The msgid types whose ranges the passes cut (a bound is written back into SQL as it is)."""


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


def _literal(text: str | Path) -> str:
    """``text`` (a path, a msgid) as an SQL string literal (a TMPDIR may hold a quote)."""
    return "'" + str(text).replace("'", "''") + "'"


_RANGES_SQL = """
    WITH bounds AS (
        SELECT DISTINCT min(lo) AS v FROM (
            SELECT lo, sum(n) OVER (ORDER BY lo, hi ROWS UNBOUNDED PRECEDING) - n AS before
            FROM smsdata_groups WHERE lo IS NOT NULL
        ) WHERE before >= $share GROUP BY before // $share
    )
    SELECT 0 AS k, NULL AS lo, (SELECT min(v) FROM bounds) AS hi
    UNION ALL
    SELECT row_number() OVER (ORDER BY v), v, lead(v) OVER (ORDER BY v) FROM bounds
    ORDER BY k
"""
"""The passes' ranges of msgids ``[lo, hi)`` (NULL: unbounded), cut where the row groups, in
the order of their least msgid, add up to ``$share`` rows."""
_BUSIEST_SQL = """
    SELECT max(rows_read) FROM (
        SELECT r.k, sum(g.n) AS rows_read FROM smsdata_ranges r JOIN smsdata_groups g ON
            g.lo IS NULL OR (r.k = 0 AND g.nulls)
            OR ((r.hi IS NULL OR g.lo < r.hi) AND (r.lo IS NULL OR g.hi >= r.lo))
        GROUP BY r.k
    )
"""
"""The most rows one pass reads: of the row groups its range overlaps (and, for the first pass,
those that may hold a row without a msgid)."""


def _bound_sql(value: Any, kind: str) -> str:
    """A bound of a range of msgids as an SQL value of ``kind`` (NULL: none)."""
    if value is None:
        return f"NULL::{kind}"
    if kind == "VARCHAR":
        return _literal(value)
    return f"CAST({int(value)} AS {kind})"  # (-128::TINYINT would be -(128::TINYINT): out of range)


def _range_sql(table: str, lo: Any, hi: Any, kind: str) -> str:
    """The rows of ``table`` whose msgid is in ``[lo, hi)``; the first range (``lo`` None) also
    takes the rows without a msgid."""
    if lo is None:
        return f"(SELECT * FROM {table}_whole WHERE msgid < {_bound_sql(hi, kind)} OR msgid IS NULL)"  # noqa: S608
    upper = "" if hi is None else f" AND msgid < {_bound_sql(hi, kind)}"
    return f"(SELECT * FROM {table}_whole WHERE msgid >= {_bound_sql(lo, kind)}{upper})"  # noqa: S608


def _check_spill_folder(folder: str) -> None:
    """Raise KpiError when DuckDB would read the spill folder's path as a pattern: the passes'
    files are read back by one (a TMPDIR of ``/tmp/x[1]`` matched none, a backslash is a slash)."""
    if any(c in folder for c in GLOB_CHARACTERS):
        raise KpiError(
            f"the out-of-core work needs a temporary folder without {' '.join(GLOB_CHARACTERS)} in its path "
            f"(DuckDB reads them as a pattern); TMPDIR is {folder!r}: set TMPDIR to another folder"
        )


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
            _check_spill_folder(tempfile.gettempdir())
            self._spill = tempfile.TemporaryDirectory(prefix="smsdata-duckdb-")
            self._con = connect(
                memory_limit=OUT_OF_CORE_MEMORY, temp_directory=self._spill.name, preserve_insertion_order=False
            )
        else:
            self._con = connect()
        self._columns: dict[str, list[str]] = {}
        self._globs: dict[str, str] = {}
        """The Parquet files of each table given as a path, as a glob (their statistics plan the passes)."""
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
        self._globs[table] = parquet_glob(folder)
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
        summed: Sequence[str] = (),
    ) -> pd.DataFrame:
        rows = self._row_counts()
        passes = 1 if rows is None else max(1, -(-max(rows.values()) // ROWS_PER_PASS))
        if passes == 1:
            return self.query(inline_sql(name, stage, sql), params)
        assert self._spill is not None  # passes only out of core
        folder = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self._spill.name))
        types = self._msgid_types()
        shares = self._range_shares(rows, passes, types)
        if shares is None:
            keys = self._share_keys(rows, types)
            shares = {table: self._split(table, passes, folder, keys[table]) for table in ("sends", "reports")}
        passes = len(shares["sends"])
        # counts are added up after the passes: each pass writes its counts, not its recipients
        # (writing 100M recipients took 25 s of delivery_rate's 70 s)
        written = inline_sql(name, stage, sql) if summed else stage
        for part in range(passes):
            with self._pointing({table: shares[table][part] for table in ("sends", "reports")}):
                self._execute(self._copy_sql(written, folder / f"{name}-{part}", passes, regroup_by), params)
        if summed:
            return self.query(self._added_up_sql(folder / f"{name}-*.parquet", summed), {})
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

    def _added_up_sql(self, files: Path, summed: Sequence[str]) -> str:
        """The passes' results in ``files`` added up: each ``summed`` column's sum per group (the
        other columns), in their order, the groups ordered as a KPI's query orders them."""
        parquet = f"read_parquet({_literal(files)})"
        with _as_kpi_errors():
            described = self._con.execute(f"DESCRIBE SELECT * FROM {parquet}").fetchall()  # noqa: S608
        columns = [row[0] for row in described]
        keys = ", ".join(quote_name(c) for c in columns if c not in summed)
        listed = ", ".join(
            f"CAST(sum({quote_name(c)}) AS BIGINT) AS {quote_name(c)}" if c in summed else quote_name(c)
            for c in columns
        )
        grouped = f" GROUP BY {keys} ORDER BY {keys}" if keys else ""
        return f"SELECT {listed} FROM {parquet}{grouped}"  # noqa: S608 (our names)

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

    def _msgid_types(self) -> dict[str, str]:
        """The SQL type of each table's msgid."""
        return {
            table: self._con.execute(f"DESCRIBE SELECT msgid FROM {table}_whole").fetchall()[0][1]  # noqa: S608
            for table in ("sends", "reports")
        }

    def _range_shares(self, rows: dict[str, int], passes: int, types: dict[str, str]) -> dict[str, list[str]] | None:
        """Each table's share of every pass as a range of msgids, read straight from its files; or
        ``None`` when the files' statistics do not show ranges to be cheap (then :meth:`_split`).

        Gateways number their msgids in the order they take messages, and the warehouse writes
        both tables by day, so a Parquet row group holds a narrow range of msgids and a pass
        reading one range skips the other row groups by their statistics: ``delivery_rate`` over
        100M + 100M rows in 58-60 s, where writing the split first takes 88-89 s. Bounds are cut
        where the row groups, in the order of their least msgid, add up to a pass's share of
        rows. Rows without a msgid are all in the first pass, as the split hashes them all
        alike. The ranges are taken only when both tables store the msgid alike (a join casting
        one would compare in another order), and no pass reads row groups of more than
        :data:`RANGE_READS` times its share."""
        kind = types["sends"]
        if kind != types["reports"] or kind not in _RANGED_TYPES or 0 in rows.values() or len(self._globs) < 2:
            return None  # (a frame beside a path has no statistics)
        self._row_groups(kind, rows)
        share = -(-sum(rows.values()) // passes)
        self._execute(f"CREATE OR REPLACE TEMP TABLE smsdata_ranges AS {_RANGES_SQL}", {"share": share})
        ranges = self._con.execute("SELECT k, lo, hi FROM smsdata_ranges ORDER BY k").fetchall()
        if len(ranges) < 2:  # one least msgid in every row group: nothing to cut between
            return None
        if any("\x00" in str(bound) for _, bound, _ in ranges):  # DuckDB 1.1 ends the SQL at a NUL
            return None
        busiest = self._con.execute(_BUSIEST_SQL).fetchall()[0][0]
        if busiest > RANGE_READS * share:
            return None
        return {table: [_range_sql(table, lo, hi, kind) for _, lo, hi in ranges] for table in ("sends", "reports")}

    def _row_groups(self, kind: str, rows: dict[str, int]) -> None:
        """The table ``smsdata_groups``: the least and greatest msgid (NULL when the statistics
        do not tell), the rows, and whether a msgid may be missing, of every row group of both
        tables; rows the statistics do not cover (a file without msgid) count as one group
        spanning every msgid."""
        listed = " UNION ALL ".join(
            f"SELECT '{table}' AS t, TRY_CAST(stats_min_value AS {kind}) AS lo, "  # noqa: S608 (ours; a quoted path)
            f"TRY_CAST(stats_max_value AS {kind}) AS hi, row_group_num_rows AS n, "
            f"coalesce(stats_null_count, 1) > 0 AS nulls "
            f"FROM parquet_metadata({_literal(self._globs[table])}) WHERE path_in_schema = 'msgid'"
            for table in ("sends", "reports")
        )
        self._execute(
            "CREATE OR REPLACE TEMP TABLE smsdata_groups AS SELECT t, CASE WHEN lo <= hi THEN lo END AS lo, "  # noqa: S608
            f"CASE WHEN lo <= hi THEN hi END AS hi, n, nulls FROM ({listed})"
        )
        covered = dict(self._con.execute("SELECT t, sum(n) FROM smsdata_groups GROUP BY t").fetchall())
        for table, count in rows.items():
            if count > covered.get(table, 0):
                missing = {"t": table, "n": count - covered.get(table, 0)}
                self._execute("INSERT INTO smsdata_groups VALUES ($t, NULL, NULL, $n, true)", missing)

    def _share_keys(self, rows: dict[str, int], types: dict[str, str]) -> dict[str, str]:
        """The msgid of each table as the passes hash it: as the join compares it, so rows the join
        matches fall in the same share (a collision of others is harmless).

        Stored alike, as it is. Text against a number is cast to the number's type, as DuckDB's
        join casts it ('0101' and '101.4' meet 101; text that is no number fails, as the join
        does). Two number types meet in the type a UNION of them takes."""
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
