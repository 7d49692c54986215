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

__all__ = ["INDEXED", "Catalog", "Page", "ensure_indexes", "records"]


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
    """What tables and columns each snapshot holds, cached (snapshots are immutable)."""

    cache: _LRU = field(default_factory=_LRU)
    _columns: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def columns(self, cur: duckdb.DuckDBPyConnection, schema: str, table: str) -> tuple[str, ...]:
        """Columns of ``schema.table`` (empty when it does not exist)."""
        key = (schema, table)
        cacheable = schema.startswith("snap_")
        with self._lock:
            if cacheable and key in self._columns:
                return self._columns[key]
        cols = tuple(r[0] for r in cur.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
            "AND table_name = ? ORDER BY ordinal_position", [schema, table]).fetchall())
        if cacheable and cols:
            with self._lock:
                self._columns[key] = cols
        return cols


#: snapshot tables looked up by account_id (an ART index makes a card or a page of a
#: million-account snapshot a handful of index probes instead of full scans).
INDEXED = ("account_value", "account_family_value", "potential", "potential_account",
           "whitespace_competitor", "segments", "criteria_scores", "propensity",
           "propensity_family", "icp", "risk")


def ensure_indexes(con: duckdb.DuckDBPyConnection, schema: str) -> int:
    """Create the missing account_id indexes of one snapshot schema; returns how many.

    Indexes change no data, so the snapshot stays what it was; they need a writable
    workspace (a read-only server uses whatever indexes exist).
    """
    have = {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_indexes() WHERE schema_name = ?", [schema]).fetchall()}
    made = 0
    for table in INDEXED:
        if table in have:
            continue
        cols = con.execute("SELECT column_name FROM information_schema.columns WHERE "
                           "table_schema = ? AND table_name = ?", [schema, table]).fetchall()
        if ("account_id",) in cols:
            con.execute(f'CREATE INDEX IF NOT EXISTS "gm_{table}_account_id" '
                        f'ON {schema}."{table}" (account_id)')
            made += 1
    return made


