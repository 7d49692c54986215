"""``load_table``: one file into one input table, every row loaded or quarantined.

A load reads, maps and validates the file into a staging table, then writes the
quarantine and data-quality records, replaces or upserts the table and logs the load in
``gm.loads`` in one transaction.  Any error — a structural problem in the file, a bad
mapping, or a bug — leaves the workspace exactly as it was.

A replace stages straight into the table it will become (a ``main.__gm_stage`` laid
out as the loaded table plus the validation's bookkeeping columns): once the rows that
failed are copied aside and removed, the transaction drops the bookkeeping columns and
renames the stage, which costs next to nothing, so the file's rows are written once.
Staging in a temporary table and copying the valid rows into the workspace wrote them
twice (at twenty million lines, about a third of the load).  An upsert stages in a
temporary table, as it merges into rows already there.

Loaded tables carry two hidden bookkeeping columns besides the contract's: ``_load_id``
(the ``gm.loads`` row that brought the row) and ``_row`` (its source row number).  They
are how upserts replace what an earlier load of the same file brought, and how a
figure can be traced to a line of an export.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any, Literal

import duckdb

from growthmap.contract.inputs import TABLES, Table
from growthmap.errors import ConfigError, InputError
from growthmap.load._computed import add_computed
from growthmap.load._mapping import Mapping, read_mapping
from growthmap.load._plan import Plan, resolve
from growthmap.load._quarantine import STAGE, write_data_quality, write_quarantine
from growthmap.load._read import ROW, Source, open_source, quote_ident, quote_literal
from growthmap.load._report import LoadReport
from growthmap.load._validate import SQL_TYPES, Check, check_constants, stage_sql
from growthmap.workspace import Workspace

__all__ = ["HIDDEN_COLUMNS", "MAX_QUARANTINED", "load_table"]

#: Bookkeeping columns every loaded table carries (names start with ``_``).
HIDDEN_COLUMNS = {"_load_id": "INTEGER", "_row": "BIGINT"}
#: The largest share of a file's rows a replace may quarantine (the table has rows).
MAX_QUARANTINED = 0.5
Mode = Literal["replace", "upsert"]


def _as_mapping(mapping: str | Path | Mapping | dict[str, Any] | None) -> Mapping:
    if mapping is None:
        return Mapping()
    if isinstance(mapping, Mapping):
        return mapping
    if isinstance(mapping, dict):
        return Mapping.from_dict(mapping)
    return read_mapping(mapping)


def load_table(
    ws: Workspace,
    table: str,
    file: str | Path,
    mapping: str | Path | Mapping | dict[str, Any] | None = None,
    mode: Mode = "replace",
    *,
    allow_empty: bool = False,
    max_quarantined: float = MAX_QUARANTINED,
) -> LoadReport:
    """Load ``file`` into the input table ``table`` and return the reconciliation.

    ``mapping`` renames and parses the export's columns (a TOML path, a dict in the
    same layout, or a :class:`Mapping`).  ``mode="replace"`` makes the table this
    file's valid rows; ``"upsert"`` replaces rows whose key matches and adds the rest
    (rows without a key are replaced by file name: see ``docs/loading.md``).

    A replace never leaves less than it found without being told: when the table has
    rows, a file with no valid row (unless ``allow_empty``) or with more than
    ``max_quarantined`` of its rows quarantined is refused with an
    :class:`~growthmap.errors.InputError` and nothing changes.

    Raises :class:`~growthmap.errors.InputError` for structural problems (missing or
    unreadable file, unknown table, required column absent) and
    :class:`~growthmap.errors.ConfigError` for a bad mapping; the workspace is then
    unchanged.
    """
    started = time.perf_counter()
    if table not in TABLES:
        raise InputError(
            f"unknown table {table!r} (loading {file})",
            hint=f"load into one of: {', '.join(TABLES)}",
        )
    if mode not in ("replace", "upsert"):
        raise ConfigError(f"unknown load mode {mode!r}", hint="use --mode replace or upsert")
    contract = TABLES[table]
    m = _as_mapping(mapping)
    path = Path(file)
    con = ws.con
    # Reading and validating only build temporary tables, outside the transaction: a
    # stage created inside it would live in transaction-local storage, which makes
    # copying it into the table about twice as slow.  The writes are one transaction.
    with open_source(con, path, m.source) as source:
        try:
            m = add_computed(con, source, m)
            try:
                plan = resolve(contract, source, m)
            except InputError as exc:  # the data may be on another sheet: say which
                sheets = [n for n in source.notes if "the workbook also has" in n]
                if sheets:
                    exc.hint = f"{exc.hint}; {sheets[0]}" if exc.hint else sheets[0]
                raise
            check_constants(con, plan, m)
            notes = list(source.notes) + plan.notes
            refs = _references(ws, plan, notes)
            fx = _fx(ws, source, plan, m, notes)
            sql, checks, dq_columns = stage_sql(con, source, plan, m, references=refs, fx=fx,
                                                notes=notes)
            _drop_stage(con)
            next_id = _next_load_id(con)
            if mode == "replace":
                _create_final_stage(con, contract, plan, sql, dq_columns, next_id)
            else:
                con.execute(f"CREATE TEMP TABLE {STAGE} AS {sql}")
            _mark_duplicates(con, plan, checks[-1])
            report = _count(con, contract, str(file), mode, source, checks, dq_columns)
            if not report.reconciles:  # pragma: no cover - a bug, never the data's fault
                raise RuntimeError(f"load does not reconcile: {report.render()}")
            failed = STAGE
            if mode == "replace":
                _guard_replace(con, report, source, m, allow_empty, max_quarantined)
                failed = _set_aside_failed(con)
            with ws.transaction():
                report.load_id = load_id = _next_load_id(con)
                if load_id != next_id:  # pragma: no cover - one connection loads at a time
                    raise RuntimeError(f"load id {load_id} changed from {next_id} while staging")
                previous = _previous_loads(con, table, path)
                if mode == "replace":
                    _clear_records(con, table, None)
                else:
                    _clear_records(con, table, previous)
                    report.rows_replaced = _upsert(con, contract, plan, load_id, previous)
                write_quarantine(con, load_id, table, str(file), source, checks, stage=failed)
                write_data_quality(con, load_id, table, str(file), dq_columns,
                                   plan.key or contract.key)
                if mode == "replace":
                    _promote_stage(con, contract, dq_columns)
                report.seconds = time.perf_counter() - started
                con.execute(
                    "INSERT INTO gm.loads VALUES (?, ?, ?, ?, now()::TIMESTAMP, ?, ?, ?, ?)",
                    [load_id, table, str(file), mode, report.rows_read, report.rows_loaded,
                     report.rows_quarantined, report.cells_nulled],
                )
        finally:
            with contextlib.suppress(duckdb.Error):
                _drop_stage(con)
    report.columns = dict(plan.sources)
    report.extra_columns = dict(plan.extras)
    report.dropped_columns = list(plan.dropped)
    report.notes = notes
    return report


# -- the staging table -----------------------------------------------------------------
_FAILED = "__gm_failed"


def _next_load_id(con: duckdb.DuckDBPyConnection) -> int:
    return int(con.execute("SELECT coalesce(max(load_id), 0) + 1 FROM gm.loads").fetchone()[0])


def _drop_stage(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the staging tables of a load (a replace's lives in ``main`` until promoted;
    one left by a load that was killed goes with the next load)."""
    for name in (f"temp.{STAGE}", f"main.{STAGE}", f"temp.{_FAILED}"):
        con.execute(f"DROP TABLE IF EXISTS {name}")


def _create_final_stage(con: duckdb.DuckDBPyConnection, table: Table, plan: Plan, sql: str,
                        dq_columns: list[str], load_id: int) -> None:
    """Stage a replace in ``main``, laid out as the table it becomes: the contract's
    columns, the extras and the hidden ones first (typed as :func:`_ddl` says), the
    validation's bookkeeping after them (dropped by :func:`_promote_stage`)."""
    ddl = _ddl(table, plan)[:-len(HIDDEN_COLUMNS)]
    cols = [f"CAST({quote_ident(n)} AS {t}) AS {quote_ident(n)}" for n, t in ddl]
    cols += [f"CAST({load_id} AS INTEGER) AS _load_id", f"CAST({ROW} AS BIGINT) AS {ROW}",
             "__gm_code", "__gm_rval"]
    cols += [quote_ident(f"{k}${c}") for c in dq_columns for k in ("v", "i")]
    con.execute(f"CREATE TABLE main.{STAGE} AS SELECT {', '.join(cols)} FROM ({sql})")


def _set_aside_failed(con: duckdb.DuckDBPyConnection) -> str:
    """Move a replace's failed rows out of its stage into a temporary table (for the
    quarantine records); returns that table's name.

    Done before the load's transaction: DuckDB refuses to commit a transaction that both
    deletes rows of a table and alters it, and the stage is the load's own table.
    """
    con.execute(f"CREATE TEMP TABLE {_FAILED} AS SELECT {ROW}, __gm_code, __gm_rval "
                f"FROM main.{STAGE} WHERE __gm_code IS NOT NULL")
    con.execute(f"DELETE FROM main.{STAGE} WHERE __gm_code IS NOT NULL")
    return f"temp.{_FAILED}"


def _promote_stage(con: duckdb.DuckDBPyConnection, table: Table, dq_columns: list[str]) -> None:
    """Turn a replace's stage (only valid rows left) into the table: the existing table
    goes, the bookkeeping columns are dropped and the stage takes the table's name."""
    _drop_existing(con, table.name)
    stage = f"main.{STAGE}"
    for col in ["__gm_code", "__gm_rval",
                *(f"{k}${c}" for c in dq_columns for k in ("v", "i"))]:
        con.execute(f"ALTER TABLE {stage} DROP COLUMN {quote_ident(col)}")
    con.execute(f"ALTER TABLE {stage} RENAME COLUMN {ROW} TO _row")
    con.execute(f"ALTER TABLE {stage} RENAME TO {quote_ident(table.name)}")


# -- context: references and exchange rates -----------------------------------------
def _table_columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    return dict(con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position", [table],
    ).fetchall())


def _references(ws: Workspace, plan: Plan, notes: list[str]) -> dict[str, str]:
    """Subqueries listing the allowed values of each reference column whose table is loaded."""
    refs: dict[str, str] = {}
    for c in plan.table.columns:
        if not c.references or (c.name not in plan.sources and c.name not in plan.constants):
            continue
        ref_table, ref_col = c.references.split(".")
        if ref_col in _table_columns(ws.con, ref_table):
            col = quote_ident(ref_col)
            refs[c.name] = (f"SELECT CAST({col} AS VARCHAR) FROM main.{quote_ident(ref_table)} "
                            f"WHERE {col} IS NOT NULL")
        elif c.required:
            notes.append(f"{c.name} not checked against {ref_table}: load {ref_table} first "
                         "to catch unknown references")
    return refs


def _fx(ws: Workspace, source: Source, plan: Plan, m: Mapping, notes: list[str]
        ) -> dict[str, float] | None:
    """Rates into the base currency, or ``None`` when amounts need no conversion."""
    if plan.table.name != "transactions" or not (
            "currency" in plan.sources or "currency" in plan.constants):
        return None
    base = m.fx.base if m.fx else None
    rates = dict(m.fx.rates) if m.fx else {}
    origin = "the mapping's [fx] rates"
    if not rates and {"currency", "rate"} <= set(_table_columns(ws.con, "fx_rates")):
        rates = {str(c): float(r) for c, r in ws.con.execute(
            "SELECT upper(trim(CAST(currency AS VARCHAR))), rate FROM main.fx_rates "
            "WHERE currency IS NOT NULL AND rate > 0").fetchall()}
        origin = "the workspace's fx_rates table"
    if base:
        rates[base] = 1.0
    if len(rates) > (1 if base else 0):
        notes.append(f"amount and cost converted into {base or 'the base currency'} "
                     f"with {origin}")
        return rates
    if "currency" in plan.constants:
        found = [str(plan.constants["currency"]).strip().upper()]
    else:
        h = quote_ident(plan.sources["currency"])
        found = [r[0] for r in ws.con.execute(
            f"SELECT DISTINCT upper(NULLIF(trim(CAST({h} AS VARCHAR)), '')) AS c "
            f"FROM {source.relation} WHERE c IS NOT NULL ORDER BY c LIMIT 6").fetchall()]
    others = [c for c in found if c != base]
    if others and (base or len(found) > 1):
        raise InputError(
            f"{source.path} has amounts in {', '.join(found[:5])} but no exchange rates "
            f"{'into ' + base + ' ' if base else ''}are available",
            hint="add [fx] base and rates to the mapping file, or load the fx_rates table "
            "first (growthmap load fx_rates FILE)",
        )
    if others:
        notes.append(f"all amounts are in {found[0]}; they were loaded as they are "
                     "(no exchange rates given)")
    return None


# -- a replace that would lose rows ---------------------------------------------------
def _guard_replace(con: duckdb.DuckDBPyConnection, report: LoadReport, source: Source,
                   m: Mapping, allow_empty: bool, max_quarantined: float) -> None:
    """Refuse a replace that would empty the table or quarantine most of the file."""
    (exists,) = con.execute("SELECT count(*) FROM information_schema.tables WHERE "
                            "table_schema = 'main' AND table_name = ?",
                            [report.table]).fetchone()
    if not exists:
        return
    (have,) = con.execute(f"SELECT count(*) FROM main.{quote_ident(report.table)}").fetchone()
    if not have:
        return
    share = report.rows_quarantined / report.rows_read if report.rows_read else 0.0
    top = sorted(report.by_reason.items(), key=lambda kv: -kv[1])[:3]
    why = "; ".join(f"{reason}: {n:,}" for reason, n in top)
    keep = f"nothing was changed: {report.table} keeps its {have:,} rows"
    if report.rows_loaded == 0 and not allow_empty:
        what = (f"{source.path} has no data row" if report.rows_read == 0 else
                f"none of the {report.rows_read:,} rows of {source.path} is valid ({why})")
        raise InputError(
            f"{what}; replacing {report.table} would empty it",
            hint=f"{keep}. {_decimal_hint(con, source, m) or 'Check the file and the mapping'}"
            "; pass --allow-empty to empty the table on purpose")
    if share > max_quarantined and report.rows_loaded > 0:
        raise InputError(
            f"{report.rows_quarantined:,} of {report.rows_read:,} rows of {source.path} "
            f"({share:.0%}) would be quarantined ({why}), more than the {max_quarantined:.0%} "
            f"a replace of {report.table} accepts",
            hint=f"{keep}. {_decimal_hint(con, source, m) or 'See the reasons above'}; pass "
            "--max-quarantined 1 to load the valid rows anyway")


def _decimal_hint(con: duckdb.DuckDBPyConnection, source: Source, m: Mapping) -> str | None:
    """A fix for the commonest cause of a file-wide failure: decimal commas."""
    if m.decimal != "." or source.format != "csv":
        return None
    for header, _ in source.columns[:200]:
        h = quote_ident(header)
        (n, commas) = con.execute(
            f"SELECT count(v), count(*) FILTER (WHERE regexp_full_match(v, "
            f"'\\s*-?[0-9.]*[0-9],[0-9]+\\s*')) FROM (SELECT CAST({h} AS VARCHAR) AS v "
            f"FROM {source.relation} LIMIT 1000)").fetchone()
        if n and commas / n >= 0.5:
            return (f"Column {header!r} has numbers with a decimal comma (e.g. 12,50): add "
                    '[defaults] decimal = "," (and thousands = "." if used) to a mapping '
                    "file and pass it with --mapping")
    return None


# -- checks across rows -------------------------------------------------------------
def _mark_duplicates(con: duckdb.DuckDBPyConnection, plan: Plan, check: Check) -> None:
    """Quarantine every valid row whose key an earlier valid row already has."""
    key = plan.key
    if not key:
        return
    k = [quote_ident(c) for c in key]
    aliases = [f"__k{i}" for i in range(len(key))]
    # Find the duplicated keys first (usually none): group 64-bit hashes of the keys, not
    # the key strings — with tens of millions of distinct keys that is several times
    # cheaper — then group the few rows whose hash repeats on their real keys.
    valid = "__gm_code IS NULL AND " + " AND ".join(f"{c} IS NOT NULL" for c in k)
    hashed = f"hash({', '.join(k)})"
    con.execute("DROP TABLE IF EXISTS __gm_dups")
    con.execute(
        f"CREATE TEMP TABLE __gm_dups AS SELECT "
        f"{', '.join(f'{c} AS {a}' for c, a in zip(k, aliases, strict=True))}, "
        f"min({ROW}) AS __first FROM {STAGE} WHERE {valid} AND {hashed} IN ("
        f"SELECT {hashed} AS h FROM {STAGE} WHERE {valid} GROUP BY h HAVING count(*) > 1) "
        "GROUP BY ALL HAVING count(*) > 1"
    )
    if con.execute("SELECT count(*) FROM __gm_dups").fetchone()[0]:
        con.execute(
            f"UPDATE {STAGE} SET __gm_code = {check.code}, __gm_rval = concat_ws('|', "
            + ", ".join(f"CAST({STAGE}.{c} AS VARCHAR)" for c in k) + ") FROM __gm_dups d "
            "WHERE " + " AND ".join(f"{STAGE}.{c} = d.{a}"
                                    for c, a in zip(k, aliases, strict=True))
            + f" AND {STAGE}.{ROW} <> d.__first AND {STAGE}.__gm_code IS NULL"
        )
    con.execute("DROP TABLE __gm_dups")


def _count(con: duckdb.DuckDBPyConnection, table: Table, file: str, mode: str,
           source: Source, checks: list[Check], dq_columns: list[str]) -> LoadReport:
    """The reconciliation from the stage (``load_id`` is set once the load is written)."""
    by_code = dict(con.execute(
        f"SELECT coalesce(__gm_code, 0), count(*) FROM {STAGE} GROUP BY 1").fetchall())
    rejected = con.execute(f"SELECT count(*) FROM {source.rejects}").fetchone()[0] \
        if source.rejects else 0
    report = LoadReport(0, table.name, file, mode, rows_read=sum(by_code.values())
                        + rejected, rows_loaded=by_code.get(0, 0), rows_quarantined=0)
    if rejected:
        report.by_reason["malformed line"] = rejected
        report.by_reason_column[("malformed line", None)] = rejected
    for c in checks:
        if n := by_code.get(c.code, 0):
            report.by_reason[c.reason] = report.by_reason.get(c.reason, 0) + n
            report.by_reason_column[(c.reason, c.column)] = n
    report.rows_quarantined = sum(report.by_reason.values())
    if dq_columns:
        parts = " UNION ALL ".join(
            f"SELECT {quote_literal(c)} AS col, {quote_ident('i$' + c)} AS issue, count(*) AS n "
            f"FROM {STAGE} WHERE __gm_code IS NULL AND {quote_ident('i$' + c)} IS NOT NULL "
            "GROUP BY 2" for c in dq_columns)
        for col, issue, n in con.execute(f"SELECT * FROM ({parts}) ORDER BY col").fetchall():
            report.dq_by_column[(issue, col)] = n
            report.dq_by_issue[issue] = report.dq_by_issue.get(issue, 0) + n
        report.cells_nulled = sum(report.dq_by_issue.values())
    return report


# -- writing the table ---------------------------------------------------------------
def _select_list(table: Table, plan: Plan, load_id: int) -> str:
    cols = [quote_ident(c.name) for c in table.columns]
    cols += [quote_ident(n) for n in plan.extras]
    return ", ".join([*cols, f"CAST({load_id} AS INTEGER) AS _load_id", f"{ROW} AS _row"])


def _ddl(table: Table, plan: Plan) -> list[tuple[str, str]]:
    cols = [(c.name, SQL_TYPES[c.dtype]) for c in table.columns]
    cols += [(n, "VARCHAR") for n in plan.extras]
    return cols + list(HIDDEN_COLUMNS.items())


def _drop_existing(con: duckdb.DuckDBPyConnection, name: str) -> None:
    row = con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_schema = 'main' "
        "AND table_name = ?", [name]).fetchone()
    if row:
        kind = "VIEW" if "VIEW" in str(row[0]).upper() else "TABLE"
        con.execute(f"DROP {kind} main.{quote_ident(name)}")


def _replace(con: duckdb.DuckDBPyConnection, table: Table, plan: Plan, load_id: int) -> None:
    name = quote_ident(table.name)
    _drop_existing(con, table.name)
    cols = ", ".join(f"{quote_ident(n)} {t}" for n, t in _ddl(table, plan))
    con.execute(f"CREATE TABLE main.{name} ({cols})")
    con.execute(f"INSERT INTO main.{name} SELECT {_select_list(table, plan, load_id)} "
                f"FROM {STAGE} WHERE __gm_code IS NULL")


def _previous_loads(con: duckdb.DuckDBPyConnection, table: str, path: Path) -> list[int]:
    """Earlier loads of this table from a file with the same name (any folder)."""
    rows = con.execute("SELECT load_id, file FROM gm.loads WHERE table_name = ?",
                       [table]).fetchall()
    return [int(lid) for lid, f in rows if Path(str(f)).name == path.name]


def _clear_records(con: duckdb.DuckDBPyConnection, table: str, loads: list[int] | None) -> None:
    """Forget quarantine/DQ records of loads whose rows this load replaces wholesale."""
    if loads is not None and not loads:
        return
    where = "table_name = ?" + (
        f" AND load_id IN ({', '.join(map(str, loads))})" if loads is not None else "")
    for t in ("gm.quarantine", "gm.data_quality"):
        con.execute(f"DELETE FROM {t} WHERE {where}", [table])


def _upsert(con: duckdb.DuckDBPyConnection, table: Table, plan: Plan, load_id: int,
            previous: list[int]) -> int:
    """Replace rows by key (or by file name without a key) and add the rest."""
    name = f"main.{quote_ident(table.name)}"
    existing = _table_columns(con, table.name)
    if not existing:
        _replace(con, table, plan, load_id)
        return 0
    for col, sql_type in _ddl(table, plan):
        if col not in existing:
            con.execute(f"ALTER TABLE {name} ADD COLUMN {quote_ident(col)} {sql_type}")
    replaced = 0
    key = plan.key
    if key:
        k = [quote_ident(c) for c in key]
        replaced += con.execute(
            f"DELETE FROM {name} AS t USING (SELECT DISTINCT {', '.join(k)} FROM {STAGE} "
            "WHERE __gm_code IS NULL) AS s WHERE "
            + " AND ".join(f"t.{c} = s.{c}" for c in k)).fetchone()[0]
    if previous:
        ids = ", ".join(map(str, previous))
        null_key = (" AND (" + " OR ".join(f"{quote_ident(c)} IS NULL" for c in key) + ")"
                    if key else "")
        replaced += con.execute(
            f"DELETE FROM {name} WHERE _load_id IN ({ids}){null_key}").fetchone()[0]
    con.execute(f"INSERT INTO {name} BY NAME SELECT {_select_list(table, plan, load_id)} "
                f"FROM {STAGE} WHERE __gm_code IS NULL")
    if replaced:  # data-quality records of rows that no longer exist are stale
        con.execute(
            "DELETE FROM gm.data_quality AS d WHERE table_name = ? AND NOT EXISTS ("
            f"SELECT 1 FROM {name} AS t WHERE t._load_id = d.load_id AND t._row = d.row_number)",
            [table.name])
    return int(replaced)
