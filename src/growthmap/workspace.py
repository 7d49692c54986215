"""The workspace: one embedded DuckDB file holding inputs, quarantine and snapshots.

Layout inside the file (``SCHEMA_VERSION`` guards it):

* ``main.<table>`` — the loaded input tables, named as in :mod:`growthmap.contract.inputs`;
* ``gm.*`` — growthmap's own tables: ``meta``, ``loads``, ``quarantine``,
  ``data_quality``, ``snapshots``, ``users``, ``feedback``, ``revoked_sessions`` (the
  dashboard's signed-out sessions, made by the first `serve`);
* ``snap_<n>.*`` — the outputs of run ``n``, written once and never changed;
* ``truth.*`` — only in demo workspaces: the demo world's true wallets and the
  following year's purchases, kept apart so no model can read them by accident.

Queries go through Ibis (``ws.ibis``) so the same expressions run on Spark; the raw
DuckDB connection (``ws.con``) is for DDL, bulk loading and transactions.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from growthmap.contract.inputs import TABLES
from growthmap.errors import NotFoundError, WorkspaceBusy, WorkspaceError

if TYPE_CHECKING:  # Ibis (and pandas under it) load when a query needs them
    import ibis

__all__ = ["CATALOG", "DEFAULT_WORKSPACE", "SCHEMA_VERSION", "Workspace", "connect", "cursor",
           "duckdb_memory_limit", "resolve_snapshot"]

SCHEMA_VERSION = 1
DEFAULT_WORKSPACE = Path("growthmap.duckdb")

_SYSTEM_DDL = """
CREATE SCHEMA IF NOT EXISTS gm;
CREATE TABLE IF NOT EXISTS gm.meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS gm.loads (
    load_id INTEGER PRIMARY KEY, table_name VARCHAR, file VARCHAR, mode VARCHAR,
    loaded_at TIMESTAMP, rows_read BIGINT, rows_loaded BIGINT, rows_quarantined BIGINT,
    cells_nulled BIGINT);
CREATE TABLE IF NOT EXISTS gm.quarantine (
    load_id INTEGER, table_name VARCHAR, file VARCHAR, row_number BIGINT,
    reason VARCHAR, column_name VARCHAR, value VARCHAR, raw VARCHAR);
CREATE TABLE IF NOT EXISTS gm.data_quality (
    load_id INTEGER, table_name VARCHAR, file VARCHAR, row_number BIGINT, key VARCHAR,
    column_name VARCHAR, value VARCHAR, issue VARCHAR);
CREATE TABLE IF NOT EXISTS gm.snapshots (
    snapshot_id INTEGER PRIMARY KEY, as_of DATE, created_at TIMESTAMP, label VARCHAR,
    engine VARCHAR, code_version VARCHAR, config_json VARCHAR, input_fingerprint VARCHAR,
    tables VARCHAR, evaluations VARCHAR, notes VARCHAR);
CREATE TABLE IF NOT EXISTS gm.users (
    username VARCHAR PRIMARY KEY, role VARCHAR, territory_id VARCHAR, rep_id VARCHAR,
    password_hash VARCHAR, token_hash VARCHAR, created_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS gm.feedback (
    feedback_id INTEGER PRIMARY KEY, account_id VARCHAR, family VARCHAR, verdict VARCHAR,
    figure DOUBLE, reason VARCHAR, username VARCHAR, created_at TIMESTAMP);
"""


#: The catalog name a workspace file is attached under when its own name would clash.
#: DuckDB names the catalog after the file's stem, so ``gm.duckdb`` or ``main.duckdb``
#: would make ``gm.meta`` ambiguous ("Ambiguous reference to catalog or schema").
CATALOG = "workspace"
_RESERVED = {"gm", "main", "truth", "memory", "system", "temp", "information_schema",
             "pg_catalog", CATALOG}


def _clashes(path: Path) -> bool:
    """Whether DuckDB's catalog name for ``path`` would clash with a schema we use."""
    stem = path.stem.lower()
    return stem in _RESERVED or stem.startswith("snap_")


def _connect(path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection whose default catalog is the workspace file, whatever its name.

    Most files are opened directly.  A file whose name clashes with a schema is
    attached to an in-memory database under :data:`CATALOG` instead (spilled blocks
    still go beside the file); a cursor on such a connection needs :func:`cursor`.
    """
    if not _clashes(path):
        return duckdb.connect(str(path), read_only=read_only)
    con = duckdb.connect()
    try:
        con.execute(f"SET temp_directory = {_literal(f'{path}.tmp')}")
        mode = " (READ_ONLY)" if read_only else ""
        con.execute(f"ATTACH {_literal(str(path))} AS {CATALOG}{mode}")  # takes no parameters
        con.execute(f"USE {CATALOG}")
    except BaseException:
        con.close()
        raise
    return con


def cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A new connection to the same workspace (for another thread), on its catalog."""
    cur = con.cursor()  # nothing runs on ``con`` itself: another thread may be using it
    attached = cur.execute("SELECT 1 FROM duckdb_databases() "
                           f"WHERE database_name = {_literal(CATALOG)}").fetchone()
    if attached:
        cur.execute(f"USE {CATALOG}")
    return cur


def _literal(text: str) -> str:
    """A SQL string literal (for statements that take no parameters)."""
    return "'" + str(text).replace("'", "''") + "'"


def quote(name: str) -> str:
    """A DuckDB identifier."""
    return '"' + str(name).replace('"', '""') + '"'


def duckdb_memory_limit() -> str | None:
    """How much memory DuckDB may use before it spills to disk.

    DuckDB's default, 80% of RAM, assumes it is alone in the process; a run also holds
    pandas frames, numpy arrays and models, and at a million accounts DuckDB kept
    gigabytes of cached blocks and load-staging tables that it could have spilled
    (loading 20M invoice lines peaked at 4.5 GB; with this limit 2.4 GB, a little
    slower).  The limit is a tenth of RAM but at least 2 GB; the environment variable
    ``GROWTHMAP_DUCKDB_MEMORY`` (e.g. ``8GB``) overrides it.
    """
    if env := os.environ.get("GROWTHMAP_DUCKDB_MEMORY"):
        return env
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: DuckDB's own default
        return None
    return f"{max(2 << 30, total // 10) >> 20}MB"


def _locked(exc: duckdb.Error) -> bool:
    return "lock" in str(exc).lower()


def connect(path: str | Path, *, read_only: bool = False, wait: float = 0.0,
            on_wait: Callable[[str], None] | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection to a workspace file, waiting up to ``wait`` seconds for a
    lock another process holds (see :meth:`Workspace.open`)."""
    deadline = time.monotonic() + max(wait, 0.0)
    delay, told = 0.05, False
    while True:
        try:
            return _connect(Path(path), read_only=read_only)
        except duckdb.Error as exc:
            if not _locked(exc):
                raise WorkspaceError(
                    f"cannot open workspace {path}: {exc}",
                    hint="if the file is not a growthmap workspace, choose another --workspace",
                ) from None
            if time.monotonic() >= deadline:
                raise WorkspaceBusy(
                    f"workspace {path} is in use by another process"
                    + (f" (waited {wait:g} s)" if wait > 0 else ""),
                    hint="another growthmap command (a run or load) or the dashboard is "
                    "using it; try again, or wait longer with --wait SECONDS",
                ) from None
            if on_wait is not None and not told:
                on_wait(f"workspace {path} is in use by another process; waiting up to "
                        f"{wait:g} s")
                told = True
            time.sleep(min(delay, max(deadline - time.monotonic(), 0.0)))
            delay = min(delay * 2, 0.5)


def resolve_snapshot(con: duckdb.DuckDBPyConnection, ref: int | str | None = "latest",
                     where: str = "the workspace") -> int:
    """Turn ``latest`` / ``previous`` / ``3`` / ``snap_3`` into a snapshot id: the one
    rule every reader follows (the workspace, the scoped read layer)."""
    ids = [r[0] for r in con.execute(
        "SELECT snapshot_id FROM gm.snapshots ORDER BY snapshot_id").fetchall()]
    if not ids:
        raise WorkspaceError(f"{where} has no snapshot yet", hint="run `growthmap run` first")
    if ref in (None, "", "latest"):
        return ids[-1]
    if ref == "previous":
        if len(ids) < 2:
            raise NotFoundError("there is only one snapshot, so no previous one",
                                hint="run `growthmap run` again to create another")
        return ids[-2]
    text = str(ref).removeprefix("snap_")
    if text.isdigit() and int(text) in ids:
        return int(text)
    raise NotFoundError(f"no snapshot {ref!r}",
                        hint=f"use latest, previous or one of: {', '.join(map(str, ids))}")


class Workspace:
    """An open growthmap workspace (a DuckDB file).

    Use :meth:`create` for a new one and :meth:`open` for an existing one; both check
    the schema version so an old file never gets half-read.
    """

    def __init__(self, path: str | Path, con: duckdb.DuckDBPyConnection) -> None:
        self.path = Path(path)
        self.con = con
        if limit := duckdb_memory_limit():
            con.execute(f"SET memory_limit = {_literal(limit)}")

    @cached_property
    def ibis(self) -> ibis.BaseBackend:
        """The Ibis backend over this connection, built on first use.

        Importing Ibis costs about a second; ``init``, ``load`` and small commands
        never need it.
        """
        import ibis

        return ibis.duckdb.from_connection(self.con)

    # -- opening -----------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path = DEFAULT_WORKSPACE, *, overwrite: bool = False) -> Workspace:
        """Create a new workspace file (``overwrite`` replaces an existing one)."""
        path = Path(path)
        if path.exists():
            if not overwrite:
                raise WorkspaceError(
                    f"workspace {path} already exists",
                    hint="open it, choose another --workspace, or pass --force to replace it",
                )
            path.unlink()
            Path(f"{path}.wal").unlink(missing_ok=True)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            con = _connect(path)
            try:
                con.execute(_SYSTEM_DDL)
                con.execute(  # literals: a parameter makes DuckDB import pandas (~1 s)
                    "INSERT INTO gm.meta VALUES ('schema_version', "
                    f"{_literal(str(SCHEMA_VERSION))}), "
                    f"('created_at', {_literal(datetime.now(UTC).isoformat())})")
            except BaseException:
                con.close()
                raise
        except (duckdb.Error, OSError) as exc:  # a failed init leaves nothing behind
            for leftover in (path, Path(f"{path}.wal")):
                if leftover.is_file():
                    leftover.unlink()
            raise WorkspaceError(f"cannot create workspace {path}: {exc}",
                                 hint="choose another --workspace path") from None
        return cls(path, con)

    @classmethod
    def open(
        cls, path: str | Path = DEFAULT_WORKSPACE, *, create: bool = False,
        read_only: bool = False, wait: float = 0.0,
        on_wait: Callable[[str], None] | None = None,
    ) -> Workspace:
        """Open an existing workspace, checking its schema version.

        DuckDB lets one process write a file (or several read it); while another
        process holds it - a run, a load, or the dashboard answering a request - this
        waits up to ``wait`` seconds (telling ``on_wait`` once), then raises
        :class:`~growthmap.errors.WorkspaceBusy`.
        """
        path = Path(path)
        if not path.exists():
            if create:
                return cls.create(path)
            raise WorkspaceError(
                f"no workspace at {path}",
                hint="run `growthmap init` (or `growthmap demo`) first, or pass --workspace PATH",
            )
        con = connect(path, read_only=read_only, wait=wait, on_wait=on_wait)
        try:
            row = con.execute("SELECT value FROM gm.meta WHERE key = 'schema_version'").fetchone()
        except duckdb.Error:
            con.close()
            raise WorkspaceError(
                f"{path} is a DuckDB file but not a growthmap workspace",
                hint="run `growthmap init --workspace NEW_PATH` to create one",
            ) from None
        version = int(row[0]) if row else -1
        if version != SCHEMA_VERSION:
            con.close()
            raise WorkspaceError(
                f"workspace {path} has schema version {version}; this growthmap uses "
                f"version {SCHEMA_VERSION}",
                hint="create a new workspace with `growthmap init` and load the data again",
            )
        return cls(path, con)

    @property
    def backend(self) -> ibis.BaseBackend:
        """The Ibis backend over this workspace (the run's ``Source`` protocol)."""
        return self.ibis

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new connection to this workspace, for another thread (see :func:`cursor`)."""
        return cursor(self.con)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- tables ------------------------------------------------------------------
    def has_table(self, name: str, schema: str = "main") -> bool:
        row = self.con.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = ? AND table_name = ?",
            [schema, name],
        ).fetchone()
        return bool(row and row[0])

    def table(self, name: str, schema: str = "main") -> ibis.Table:
        """An input (or any) table as an Ibis expression; a clear error when absent."""
        if not self.has_table(name, schema):
            what = "input table " if schema == "main" else f"table {schema}."
            hint = (
                f"load it with `growthmap load {name} FILE`"
                if name in TABLES and schema == "main"
                else "run the step that creates it first"
            )
            raise WorkspaceError(f"the workspace has no {what}{name}", hint=hint)
        return self.ibis.table(name, database=schema)

    def maybe_table(self, name: str, schema: str = "main") -> ibis.Table | None:
        """The table when it exists, else ``None`` (optional inputs)."""
        return self.table(name, schema) if self.has_table(name, schema) else None

    def loaded_tables(self) -> list[str]:
        """Contract tables present in the workspace."""
        return [t for t in TABLES if self.has_table(t)]

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """All-or-nothing: a failure rolls back every statement inside."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        else:
            self.con.execute("COMMIT")

    # -- snapshots ---------------------------------------------------------------
    def snapshot_ids(self) -> list[int]:
        return [r[0] for r in self.con.execute(
            "SELECT snapshot_id FROM gm.snapshots ORDER BY snapshot_id").fetchall()]

    def resolve_snapshot(self, ref: int | str | None = "latest") -> int:
        """Turn ``latest`` / ``previous`` / ``3`` / ``snap_3`` into a snapshot id."""
        return resolve_snapshot(self.con, ref, f"workspace {self.path}")

    def snapshot_info(self, ref: int | str | None = "latest") -> dict:
        """The row of ``gm.snapshots`` for a snapshot, as a dict."""
        sid = self.resolve_snapshot(ref)
        cur = self.con.execute("SELECT * FROM gm.snapshots WHERE snapshot_id = ?", [sid])
        cols = [d[0] for d in cur.description]
        return dict(zip(cols, cur.fetchone(), strict=True))

    def output(self, name: str, snapshot: int | str | None = "latest") -> ibis.Table:
        """An output table of a snapshot, e.g. ``ws.output("account_value")``."""
        sid = self.resolve_snapshot(snapshot)
        schema = f"snap_{sid}"
        if not self.has_table(name, schema):
            raise WorkspaceError(
                f"snapshot {sid} has no output {name!r}",
                hint="the step that produces it did not run in that snapshot; "
                "run `growthmap run` with the data it needs",
            )
        return self.ibis.table(name, database=schema)

    def has_output(self, name: str, snapshot: int | str | None = "latest") -> bool:
        try:
            sid = self.resolve_snapshot(snapshot)
        except (WorkspaceError, NotFoundError):
            return False
        return self.has_table(name, f"snap_{sid}")
