"""The loader's records of what it refused or repaired: ``gm.quarantine`` and
``gm.data_quality``.

A quarantined row keeps its raw content (as JSON, under the file's own headers) and
its 1-based source row number, so a user can find it in the export, fix it and load
again.  A data-quality record names the cell (row, key, column), the text that was
there and the issue that made it empty.
"""

from __future__ import annotations

from typing import Any

import duckdb

from growthmap.load._read import ROW, Source, quote_ident, quote_literal
from growthmap.load._validate import Check
from growthmap.workspace import Workspace

__all__ = [
    "STAGE",
    "data_quality",
    "quarantine_summary",
    "quarantined",
    "write_data_quality",
    "write_quarantine",
]

#: The staging table holding one load's validated rows (see ``growthmap.load._load``).
STAGE = "__gm_stage"


def _codes(checks: list[Check]) -> str:
    rows = ", ".join(
        f"({c.code}, {quote_literal(c.reason)}, "
        f"{quote_literal(c.column) if c.column else 'NULL'})" for c in checks
    )
    return f"(VALUES {rows}) AS c(code, reason, column_name)"


def write_quarantine(
    con: duckdb.DuckDBPyConnection, load_id: int, table: str, file: str, source: Source,
    checks: list[Check], *, stage: str = STAGE,
) -> None:
    """Copy every failed row with its reason and raw content into ``gm.quarantine``.

    ``stage`` is the table holding the failed rows' row number, code and value (the
    staging table, or the failed rows a replace set aside from it).
    """
    raw = "to_json(struct_pack(" + ", ".join(
        f"{quote_ident(h)} := r.{quote_ident(h)}" for h in source.headers) + "))"
    con.execute(
        "INSERT INTO gm.quarantine (load_id, table_name, file, row_number, reason, "
        "column_name, value, raw) "
        f"SELECT ?, ?, ?, s.{ROW}, c.reason, c.column_name, s.__gm_rval, {raw} "
        f"FROM (SELECT {ROW}, __gm_code, __gm_rval FROM {stage} WHERE __gm_code IS NOT NULL) s "
        f"JOIN {_codes(checks)} ON s.__gm_code = c.code "
        f"JOIN {source.relation} r ON r.{ROW} = s.{ROW} ORDER BY s.{ROW}",
        [load_id, table, file],
    )
    if source.rejects:
        con.execute(
            "INSERT INTO gm.quarantine (load_id, table_name, file, row_number, reason, "
            "column_name, value, raw) SELECT ?, ?, ?, row_number, 'malformed line', NULL, "
            f"message, to_json(line) FROM {source.rejects} ORDER BY row_number",
            [load_id, table, file],
        )


def write_data_quality(
    con: duckdb.DuckDBPyConnection, load_id: int, table: str, file: str,
    columns: list[str], key: tuple[str, ...],
) -> None:
    """One ``gm.data_quality`` row per nulled cell of a loaded row."""
    if not columns:
        return
    key_sql = ("concat_ws('|', " + ", ".join(f"CAST({quote_ident(k)} AS VARCHAR)" for k in key)
               + ")") if key else "CAST(NULL AS VARCHAR)"
    parts = [
        f"SELECT {ROW} AS row_number, {key_sql} AS key, {quote_literal(c)} AS column_name, "
        f"{quote_ident('v$' + c)} AS value, {quote_ident('i$' + c)} AS issue FROM {STAGE} "
        f"WHERE __gm_code IS NULL AND {quote_ident('i$' + c)} IS NOT NULL"
        for c in columns
    ]
    con.execute(
        "INSERT INTO gm.data_quality (load_id, table_name, file, row_number, key, column_name, "
        "value, issue) SELECT ?, ?, ?, row_number, key, column_name, value, issue FROM ("
        + " UNION ALL ".join(parts) + ") ORDER BY row_number, column_name",
        [load_id, table, file],
    )


def _rows(ws: Workspace, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cur = ws.con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def quarantined(
    ws: Workspace, table: str | None = None, limit: int | None = 50
) -> list[dict[str, Any]]:
    """Quarantined rows (newest load first, then source order), optionally of one table."""
    where, params = ("WHERE table_name = ?", [table]) if table else ("", [])
    lim = f" LIMIT {int(limit)}" if limit is not None else ""
    return _rows(
        ws,
        "SELECT load_id, table_name, file, row_number, reason, column_name, value, raw "
        f"FROM gm.quarantine {where} ORDER BY load_id DESC, row_number{lim}",
        params,
    )


def data_quality(
    ws: Workspace, table: str | None = None, limit: int | None = 50
) -> list[dict[str, Any]]:
    """Cells nulled on load (newest load first), optionally of one table."""
    where, params = ("WHERE table_name = ?", [table]) if table else ("", [])
    lim = f" LIMIT {int(limit)}" if limit is not None else ""
    return _rows(
        ws,
        "SELECT load_id, table_name, file, row_number, key, column_name, value, issue "
        f"FROM gm.data_quality {where} ORDER BY load_id DESC, row_number, column_name{lim}",
        params,
    )


def quarantine_summary(ws: Workspace, table: str | None = None) -> list[dict[str, Any]]:
    """Counts of quarantined rows and nulled cells per table and reason/issue."""
    where, params = ("WHERE table_name = ?", [table]) if table else ("", [])
    return _rows(
        ws,
        f"SELECT 'quarantined row' AS kind, table_name, reason, count(*) AS n "
        f"FROM gm.quarantine {where} GROUP BY ALL UNION ALL "
        f"SELECT 'nulled cell', table_name, issue, count(*) FROM gm.data_quality {where} "
        "GROUP BY ALL ORDER BY kind DESC, table_name, n DESC",
        params * 2,
    )
