"""Writing a run's outputs as an immutable snapshot (``snap_<n>`` schema).

A snapshot exists once its ``gm.snapshots`` row is committed, and that is the last
thing written: a snapshot is either complete or absent, and an existing snapshot is
never modified.

Two ways to write one:

* :func:`write_snapshot` writes every output in one transaction at the end of a run
  (for small outputs: tests, examples);
* :class:`SnapshotWriter` writes each output as soon as a stage publishes it, in a
  thread of its own with its own connection, and records the snapshot when the run has
  succeeded.  At a million accounts the outputs are a few GB of Arrow and writing them
  (compressing 17M rows) takes tens of seconds; most of the run is single-threaded
  Python or model training on one core, so the writes overlap with it instead of adding
  to it.  The tables go into the new ``snap_<n>`` schema in several transactions (one
  transaction holding them all kept gigabytes in memory until its commit), which no
  reader looks at before the ``gm.snapshots`` row exists; a failed run drops the
  schema, and the schema left by a crashed run is dropped by the next writer.

Neither builds the account_id indexes the dashboard uses: they change no data, the
server builds missing ones in the background when it starts (see
:func:`growthmap.read.access.ensure_indexes`), and lookups work without them (scanning,
helped by the tables being in account order).  Building them took a fifth of the
write at a million accounts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import queue
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from growthmap import __version__
from growthmap.config import Config
from growthmap.runner.memory import release_engine_cache
from growthmap.workspace import Workspace

if TYPE_CHECKING:
    from growthmap.runner.pipeline import RunContext

__all__ = ["OutputSpill", "SnapshotWriter", "input_fingerprint", "write_snapshot"]

#: Rows per record batch of a spilled output: DuckDB's row-group size, so slices of a
#: whole number of batches append whole row groups.
BATCH_ROWS = 122_880
#: Rows the snapshot writer reads from a spilled output at a time.
SLICE_ROWS = 8 * BATCH_ROWS


def input_fingerprint(con: Workspace | duckdb.DuckDBPyConnection) -> str:
    """A short hash of what was loaded (load ids and row counts), for provenance."""
    con = con.con if isinstance(con, Workspace) else con
    rows = con.execute(
        "SELECT table_name, max(load_id), sum(rows_loaded) FROM gm.loads "
        "GROUP BY table_name ORDER BY table_name").fetchall()
    return hashlib.sha256(json.dumps(rows, default=str).encode()).hexdigest()[:16]


def _json(obj: Any) -> str:
    return json.dumps(obj, default=str, sort_keys=True)


def _next_schema(con: duckdb.DuckDBPyConnection) -> tuple[int, str]:
    (last,) = con.execute("SELECT coalesce(max(snapshot_id), 0) FROM gm.snapshots").fetchone()
    sid = int(last) + 1
    schema = f"snap_{sid}"
    con.execute(f"CREATE SCHEMA {schema}")
    return sid, schema


def _write_table(con: duckdb.DuckDBPyConnection, schema: str, name: str,
                 table: pa.Table, *, append: bool = False) -> None:
    con.register("__gm_out", table)
    try:
        if append:
            con.execute(f'INSERT INTO {schema}."{name}" SELECT * FROM __gm_out')
        else:
            con.execute(f'CREATE TABLE {schema}."{name}" AS SELECT * FROM __gm_out')
    finally:
        con.unregister("__gm_out")


def _record(con: duckdb.DuckDBPyConnection, sid: int, *, as_of: dt.date, config: Config,
            outputs: dict[str, pa.Table], evaluations: dict[str, Any] | None,
            notes: list[str] | None, label: str | None, engine: str) -> None:
    con.execute(
        "INSERT INTO gm.snapshots VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [sid, as_of, dt.datetime.now(dt.UTC).replace(tzinfo=None), label, engine,
         __version__, config.model_dump_json(), input_fingerprint(con),
         _json(sorted(outputs)), _json(evaluations or {}), _json(notes or [])],
    )


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
        sid, schema = _next_schema(con)
        for name, table in sorted(outputs.items()):
            _write_table(con, schema, name, table)
        _record(con, sid, as_of=as_of, config=config, outputs=outputs,
                evaluations=evaluations, notes=notes, label=label, engine=engine)
    return sid


class OutputSpill:
    """Keeps a run's large outputs in memory-mapped Arrow files rather than on the heap.

    At a million accounts the outputs of a run are about 4 GB of Arrow (six million
    potential rows with their driver texts, the segments' reasons...), held until the
    snapshot is written: alone they would break a 4 GB memory budget.  Each output of at
    least ``min_bytes`` is written once to an uncompressed Arrow IPC file (a sequential
    write into the page cache, by the snapshot writer's thread once the stage that made
    it has finished) and replaced by a zero-copy memory-mapped view: the same table to
    every reader, but only the pages a stage actually reads stay resident
    (segments reads four of the potential table's fourteen columns).  The snapshot
    writer reads each file a slice at a time through mappings of its own that it drops
    as it goes, so writing never holds a whole table either.  The files are removed by
    :meth:`close` (open mappings stay valid until dropped).
    """

    def __init__(self, directory: str | Path | None = None, min_bytes: int = 16 << 20) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="growthmap-run-", dir=directory))
        self.min_bytes = min_bytes
        self._files: dict[str, tuple[pa.Table, Path]] = {}

    def __call__(self, name: str, table: pa.Table) -> pa.Table:
        """The table to keep for output ``name``: a mapped copy when it is large."""
        if table.nbytes < self.min_bytes:
            return table
        path = self.dir / f"{name}.{len(self._files)}.arrow"
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
            w.write_table(table, max_chunksize=BATCH_ROWS)
        mapped = pa.ipc.open_file(pa.memory_map(str(path))).read_all()
        self._files[name] = (mapped, path)
        return mapped

    def slices(self, name: str, table: pa.Table, rows: int = SLICE_ROWS
               ) -> Iterator[pa.Table]:
        """``table`` in consecutive slices of about ``rows`` rows.  A spilled output is
        read through a new mapping per slice, dropped before the next one, so writing
        it never holds more than a slice in memory; any other table is just sliced."""
        kept = self._files.get(name)
        if kept is None or kept[0] is not table:
            yield table
            return
        path = str(kept[1])
        with pa.ipc.open_file(pa.memory_map(path)) as reader:
            batches, schema = reader.num_record_batches, reader.schema
        step = max(1, rows // BATCH_ROWS)
        for start in range(0, max(batches, 1), step):
            with pa.memory_map(path) as mm:
                reader = pa.ipc.open_file(mm)
                part = pa.Table.from_batches(
                    [reader.get_batch(i) for i in range(start, min(batches, start + step))],
                    schema)
                yield part
                del part, reader

    def close(self) -> None:
        """Remove the files (mapped tables stay readable until dropped, on POSIX)."""
        shutil.rmtree(self.dir, ignore_errors=True)


class SnapshotWriter:
    """Writes outputs into the next snapshot as they come, published by :meth:`commit`.

    ``add(name, table)`` queues an output (a later ``add`` of the same name replaces
    it); :meth:`commit` waits for the queue, writes whatever the final outputs hold that
    was not written yet, records the snapshot and commits; :meth:`abort` discards all.
    Use it as a context manager to abort on any exception.
    """

    def __init__(self, ws: Workspace, spill: OutputSpill | None = None) -> None:
        self.spill = spill
        self._con = ws.cursor()  # its own connection, used by the writer thread only
        try:
            (last,) = self._con.execute(
                "SELECT coalesce(max(snapshot_id), 0) FROM gm.snapshots").fetchone()
            # schemas past the last snapshot are what crashed runs left: never published
            for (schema,) in self._con.execute(
                    "SELECT schema_name FROM duckdb_schemas() WHERE database_name = "
                    "current_database() AND regexp_matches(schema_name, '^snap_[0-9]+$') "
                    "AND CAST(substr(schema_name, 6) AS BIGINT) > ?", [last]).fetchall():
                self._con.execute(f"DROP SCHEMA {schema} CASCADE")
            self.snapshot_id = int(last) + 1
            self._schema = f"snap_{self.snapshot_id}"
            self._con.execute(f"CREATE SCHEMA {self._schema}")
        except BaseException:
            self._con.close()
            if self.spill is not None:
                self.spill.close()
            raise
        self._written: dict[str, pa.Table] = {}
        self._ctx: RunContext | None = None
        self._held: list[tuple[str, pa.Table]] = []
        self._lock = threading.Lock()
        self._busy = threading.Lock()  # held by the writer thread while it writes
        self._queue: queue.Queue[tuple[str, pa.Table] | None] = queue.Queue()
        self._error: BaseException | None = None
        self._done = False
        self._thread = threading.Thread(target=self._work, name="snapshot-writer",
                                        daemon=True)
        self._thread.start()

    def attach(self, ctx: RunContext) -> SnapshotWriter:
        """Write ``ctx``'s outputs, each stage's once the stage has finished: a stage's
        own work is not slowed by writing (or spilling) what it made, the writes overlap
        with the next stage instead.  A spilled output replaces the in-memory one in
        ``ctx.outputs`` (the same table, memory-mapped)."""
        ctx.sink = self.hold
        ctx.on_stage_done = self._stage_done
        self._ctx = ctx
        return self

    def _stage_done(self, _name: str) -> None:
        """A stage has finished: release DuckDB's cache if this writer is idle (the
        limit it lowers for a moment is shared with the writer's connection), then queue
        the stage's outputs."""
        if self._ctx is not None and self._queue.empty() and self._busy.acquire(
                blocking=False):
            try:
                release_engine_cache(self._ctx.source)
            finally:
                self._busy.release()
        self.release()

    def add(self, name: str, table: pa.Table) -> None:
        """Queue ``table`` to be written as output ``name`` now."""
        self._queue.put((name, table))

    def hold(self, name: str, table: pa.Table) -> None:
        """Keep ``table`` to be written as output ``name`` at the next :meth:`release`."""
        with self._lock:
            self._held.append((name, table))

    def release(self) -> None:
        """Queue every held output for writing."""
        with self._lock:
            held, self._held = self._held, []
        for item in held:
            self._queue.put(item)

    def _write(self, name: str, table: pa.Table, *, spill: bool = True) -> None:
        if self._written.get(name) is table:
            return
        if spill and self.spill is not None:
            kept = self.spill(name, table)
            outputs = self._ctx.outputs if self._ctx is not None else {}
            if kept is not table and outputs.get(name) is table:
                outputs[name] = kept  # one dict assignment: readers see either version
            table = kept
        if name in self._written:
            self._con.execute(f'DROP TABLE {self._schema}."{name}"')
        parts = self.spill.slices(name, table) if self.spill is not None else iter([table])
        for i, part in enumerate(parts):
            _write_table(self._con, self._schema, name, part, append=i > 0)
            del part  # let the slice's mapping go before the next is made
        self._written[name] = table

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is None:
                try:
                    with self._busy:
                        self._write(*item)
                except BaseException as exc:  # reported by commit
                    self._error = exc
            # not kept while waiting for the next output: the table written may be the
            # in-memory original of a spilled output (1.3 GB for potential at 1M)
            del item

    def _stop(self) -> None:
        self.release()
        self._queue.put(None)
        self._thread.join()

    def commit(self, *, as_of: dt.date, config: Config, outputs: dict[str, pa.Table],
               evaluations: dict[str, Any] | None = None, notes: list[str] | None = None,
               label: str | None = None, engine: str = "duckdb") -> int:
        """Finish writing ``outputs`` (the run's final ones), record and commit."""
        self._stop()
        try:
            if self._error is not None:
                raise self._error
            for name in sorted(set(self._written) - set(outputs)):
                self._con.execute(f'DROP TABLE {self._schema}."{name}"')
            for name, table in sorted(outputs.items()):
                self._write(name, table, spill=False)  # at the end: nothing left to free
            self._con.execute("BEGIN TRANSACTION")  # publishing is one statement
            _record(self._con, self.snapshot_id, as_of=as_of, config=config, outputs=outputs,
                    evaluations=evaluations, notes=notes, label=label, engine=engine)
            self._con.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        self._close()
        return self.snapshot_id

    def abort(self) -> None:
        """Discard everything written (idempotent)."""
        if not self._done:
            with self._lock:
                self._held.clear()
            self._error = self._error or RuntimeError("snapshot aborted")  # skip the queue
            self._stop()
            self._rollback()

    def _rollback(self) -> None:
        with contextlib.suppress(duckdb.Error):  # no transaction open, or already over
            self._con.execute("ROLLBACK")
        with contextlib.suppress(duckdb.Error):  # else the next writer drops it
            self._con.execute(f"DROP SCHEMA IF EXISTS {self._schema} CASCADE")
        self._close()

    def _close(self) -> None:
        self._done = True
        self._con.close()
        if self.spill is not None:
            self.spill.close()

    def __enter__(self) -> SnapshotWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is not None:
            self.abort()
