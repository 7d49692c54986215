"""Writing a run's outputs as an immutable snapshot (``snap_<n>`` schema).

All tables and the ``gm.snapshots`` row go in one transaction, so a snapshot is
either complete or absent; an existing snapshot is never modified.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import pyarrow as pa

from growthmap import __version__
from growthmap.config import Config
from growthmap.workspace import Workspace

__all__ = ["input_fingerprint", "write_snapshot"]


def input_fingerprint(ws: Workspace) -> str:
    """A short hash of what was loaded (load ids and row counts), for provenance."""
    rows = ws.con.execute(
        "SELECT table_name, max(load_id), sum(rows_loaded) FROM gm.loads "
        "GROUP BY table_name ORDER BY table_name").fetchall()
    return hashlib.sha256(json.dumps(rows, default=str).encode()).hexdigest()[:16]


def _json(obj: Any) -> str:
    return json.dumps(obj, default=str, sort_keys=True)


def write_snapshot(
    ws: Workspace,
    *,
    as_of: dt.date,
    config: Config,
    outputs: dict[str, pa.Table],
    evaluations: dict[str, Any] | None = None,
    notes: list[str] | None = None,
    label: str | None = None,
    engine: str = "duckdb",
) -> int:
    """Write ``outputs`` as the next snapshot and return its id."""
    with ws.transaction() as con:
        (last,) = con.execute("SELECT coalesce(max(snapshot_id), 0) FROM gm.snapshots").fetchone()
        sid = int(last) + 1
        schema = f"snap_{sid}"
        con.execute(f"CREATE SCHEMA {schema}")
        for name, table in sorted(outputs.items()):
            con.register("__gm_out", table)
            try:
                con.execute(f'CREATE TABLE {schema}."{name}" AS SELECT * FROM __gm_out')
            finally:
                con.unregister("__gm_out")
        # account_id indexes: a card or a page of a million-account snapshot is then a
        # few index probes, also for a read-only server that cannot add them later
        from growthmap.web._store import ensure_indexes

        ensure_indexes(con, schema)
        con.execute(
            "INSERT INTO gm.snapshots VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [sid, as_of, dt.datetime.now(dt.UTC).replace(tzinfo=None), label, engine,
             __version__, config.model_dump_json(), input_fingerprint(ws),
             _json(sorted(outputs)), _json(evaluations or {}), _json(notes or [])],
        )
    return sid
