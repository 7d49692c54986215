"""Plumbing of the data-access layer: result pages, JSON-able records, the catalog of
snapshot tables (cached: snapshots never change) and the account_id indexes."""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd

__all__ = ["INDEXED", "SEARCH_TABLE", "Catalog", "Page", "ensure_indexes", "fetch_records",
           "records"]


@dataclass
class Page:
    """One page of an account list and how many rows match in all."""

    rows: pd.DataFrame
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.page_size))

    def to_json(self) -> dict[str, Any]:
        return {"total": self.total, "page": self.page, "page_size": self.page_size,
                "pages": self.pages, "rows": records(self.rows)}


def _clean(v: Any) -> Any:
    if v is None or v is pd.NaT:
        return None
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if hasattr(v, "item"):  # numpy scalar
        return _clean(v.item())
    return v


def records(df: pd.DataFrame | None) -> list[dict[str, Any]]:
    """A frame as JSON-able dicts (NaN -> None, dates -> ISO text)."""
    if df is None:
        return []
    return [{k: _clean(v) for k, v in row.items()} for row in df.to_dict("records")]


def fetch_records(con: duckdb.DuckDBPyConnection, sql: str,
                  params: list[Any] | None = None) -> list[dict[str, Any]]:
    """A query's rows as JSON-able dicts, without a detour through pandas (which costs
    more than the query itself for the few rows of a point look-up)."""
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [{k: _clean(v) for k, v in zip(names, r, strict=True)} for r in cur.fetchall()]


class _LRU:
    """A small thread-safe cache of computed views (snapshots never change)."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        value = make()
        with self._lock:
            self._data[key] = value
            while len(self._data) > self.size:
                self._data.popitem(last=False)
        return value


@dataclass
class Catalog:
    """What tables and columns each schema holds, cached.

    A snapshot never changes, so its columns are kept for good.  The live schemas
    (``main``, ``gm``) change only when a command writes the workspace, which it can do
    only while the server does not hold it: the server calls :meth:`forget_live` each
    time it opens the workspace again, and until then their columns are cached too.
    Columns are read for a whole schema at once (one catalog query, not one per table).
    """

    cache: _LRU = field(default_factory=_LRU)
    _schemas: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def forget_live(self) -> None:
        """Forget what was read of the live schemas (the workspace was opened again)."""
        with self._lock:
            for schema in [s for s in self._schemas if not s.startswith("snap_")]:
                del self._schemas[schema]

    def forget(self, schema: str) -> None:
        """Forget one schema (a snapshot was written or deleted under this process)."""
        with self._lock:
            self._schemas.pop(schema, None)

    def tables(self, cur: duckdb.DuckDBPyConnection, schema: str) -> dict[str, tuple[str, ...]]:
        """Every table of ``schema`` and its columns in order (empty when there is none)."""
        with self._lock:
            known = self._schemas.get(schema)
        if known is not None:
            return known
        out: dict[str, list[str]] = {}
        for table, column in cur.execute(
                "SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name = ? "
                "AND database_name = current_database() ORDER BY table_name, column_index",
                [schema]).fetchall():
            out.setdefault(table, []).append(column)
        tables = {t: tuple(c) for t, c in out.items()}
        if tables:  # an absent schema is asked again (a run may be creating it)
            with self._lock:
                self._schemas[schema] = tables
        return tables

    def columns(self, cur: duckdb.DuckDBPyConnection, schema: str, table: str) -> tuple[str, ...]:
        """Columns of ``schema.table`` (empty when it does not exist)."""
        return self.tables(cur, schema).get(table, ())


#: snapshot tables looked up by account_id (an ART index makes a card or a page of a
#: million-account snapshot a handful of index probes instead of full scans).
INDEXED = ("account_value", "account_family_value", "potential", "potential_account",
           "whitespace_competitor", "segments", "criteria_scores", "propensity",
           "propensity_family", "icp", "risk")


#: the name-search table of a snapshot (``account_id``, ``name_lc``): lower-cased names
#: computed once, so a search scans one narrow column instead of lower-casing every
#: name of the snapshot on every request.  Like the indexes it is derived, changes no
#: figure, and a snapshot without it is searched the slow way.
SEARCH_TABLE = "gm_search"


def ensure_indexes(con: duckdb.DuckDBPyConnection, schema: str) -> int:
    """Create the missing account_id indexes (and the name-search table) of one
    snapshot schema; returns how many were made.

    Indexes change no data, so the snapshot stays what it was; they need a writable
    workspace (a read-only server uses whatever indexes exist).
    """
    have = {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_indexes() WHERE schema_name = ?", [schema]).fetchall()}
    tables = {r[0]: r[1] for r in con.execute(
        "SELECT table_name, list(column_name) FROM duckdb_columns() WHERE schema_name = ? "
        "AND database_name = current_database() GROUP BY 1", [schema]).fetchall()}
    made = 0
    for table in INDEXED:
        if table not in have and "account_id" in tables.get(table, []):
            con.execute(f'CREATE INDEX IF NOT EXISTS "gm_{table}_account_id" '
                        f'ON {schema}."{table}" (account_id)')
            made += 1
    if SEARCH_TABLE not in tables and "name" in tables.get("account_value", []):
        con.execute(f"CREATE TABLE IF NOT EXISTS {schema}.{SEARCH_TABLE} AS "
                    f"SELECT account_id, lower(name) AS name_lc FROM {schema}.account_value "
                    "WHERE name IS NOT NULL ORDER BY account_id")
        made += 1
    return made
